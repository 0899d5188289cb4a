# s3-env.sh - source me (POSIX sh): starts the loopback S3 test server on a free port with a temp
# state dir, exports what S3 clients and p11kms tests need, and stops it on EXIT.
# Contract: tests/servers/README.md. Needs $top_srcdir (make check exports it).

p11kms_s3_py=${PYTHON3:-/usr/bin/python3}
if [ -z "${top_srcdir:-}" ] || [ ! -f "$top_srcdir/tests/servers/s3_server.py" ]; then
    echo "s3-env.sh: set top_srcdir to the p11kms source tree" >&2
    exit 99
fi
if ! "$p11kms_s3_py" -c 'import botocore.auth' 2>/dev/null; then
    echo "# SKIP: $p11kms_s3_py cannot import botocore (Debian: python3-botocore)"
    exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "# SKIP: curl is missing"
    exit 77
fi

. "$top_srcdir/tests/servers/loopback-env.sh"

# p11kms_s3_stop: stop the loopback servers this test started (the EXIT trap does it too).
p11kms_s3_stop() {
    p11kms_lb_stop_all
}

# p11kms_s3_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_s3_ctl() {
    p11kms_lb_ctl "$P11KMS_S3_CONTROL" "$@"
}

# p11kms_s3_json EXPR: evaluate a Python expression over the JSON on stdin (bound to j).
p11kms_s3_json() {
    "$p11kms_s3_py" -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# p11kms_s3_counter OP: how many requests OP (PutObject, UploadPart, ...) has seen.
p11kms_s3_counter() {
    p11kms_s3_ctl GET /counters | p11kms_s3_json "j['requests'].get('$1', 0)"
}

p11kms_lb_start S3 s3_server.py p11kms-s3 600
P11KMS_S3_STATE_DIR=$p11kms_lb_dir
P11KMS_S3_LOG=$p11kms_lb_dir/server.log
P11KMS_S3_SERVER_PID=$p11kms_lb_pid

P11KMS_S3_PORT=$(cat "$P11KMS_S3_STATE_DIR/port")
P11KMS_S3_ENDPOINT=http://127.0.0.1:$P11KMS_S3_PORT
P11KMS_S3_CONTROL=$P11KMS_S3_ENDPOINT/_control
P11KMS_S3_BUCKET=p11kms-test
export P11KMS_S3_PORT P11KMS_S3_ENDPOINT P11KMS_S3_CONTROL P11KMS_S3_STATE_DIR P11KMS_S3_LOG \
    P11KMS_S3_SERVER_PID P11KMS_S3_BUCKET

unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_S3 AWS_S3_FORCE_PATH_STYLE AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN \
    AWS_ROLE_SESSION_NAME AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_CA_BUNDLE AWS_RETRY_MODE \
    AWS_MAX_ATTEMPTS
AWS_ACCESS_KEY_ID=AKIDP11KMSTEST000001
AWS_SECRET_ACCESS_KEY='p11kms/Test+Secret/Key0000000000EXAMPLEKEY'
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_CONFIG_FILE=$P11KMS_S3_STATE_DIR/aws-config
AWS_SHARED_CREDENTIALS_FILE=$P11KMS_S3_STATE_DIR/aws-credentials
AWS_EC2_METADATA_DISABLED=true
AWS_PAGER=
NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
no_proxy=$NO_PROXY
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE AWS_EC2_METADATA_DISABLED AWS_PAGER NO_PROXY no_proxy
