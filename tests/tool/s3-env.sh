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

p11kms_s3_stop() {
    p11kms_s3_rc=$?
    if [ -n "${P11KMS_S3_SERVER_PID:-}" ]; then
        kill -TERM "$P11KMS_S3_SERVER_PID" 2>/dev/null
        wait "$P11KMS_S3_SERVER_PID" 2>/dev/null
        P11KMS_S3_SERVER_PID=
    fi
    if [ -n "${P11KMS_S3_STATE_DIR:-}" ] && [ -d "$P11KMS_S3_STATE_DIR" ]; then
        if [ "$p11kms_s3_rc" -ne 0 ] && [ "$p11kms_s3_rc" -ne 77 ] && \
                [ -f "$P11KMS_S3_STATE_DIR/server.log" ]; then
            echo "# ---- S3 test server log (last 60 lines) ----" >&2
            tail -n 60 "$P11KMS_S3_STATE_DIR/server.log" | sed 's/^/# /' >&2
        fi
        [ -n "${P11KMS_KEEP_STATE:-}" ] || rm -rf "$P11KMS_S3_STATE_DIR"
    fi
    return "$p11kms_s3_rc"
}

# p11kms_s3_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_s3_ctl() {
    if [ $# -ge 3 ]; then
        curl -sS --noproxy '*' --fail-with-body -X "$1" -H 'Content-Type: application/json' \
            --data "$3" "$P11KMS_S3_CONTROL$2"
    else
        curl -sS --noproxy '*' --fail-with-body -X "$1" "$P11KMS_S3_CONTROL$2"
    fi
}

# p11kms_s3_json EXPR: evaluate a Python expression over the JSON on stdin (bound to j).
p11kms_s3_json() {
    "$p11kms_s3_py" -c 'import json, sys; j = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# p11kms_s3_counter OP: how many requests OP (PutObject, UploadPart, ...) has seen.
p11kms_s3_counter() {
    p11kms_s3_ctl GET /counters | p11kms_s3_json "j['requests'].get('$1', 0)"
}

P11KMS_S3_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-s3.XXXXXX") || exit 99
P11KMS_S3_LOG=$P11KMS_S3_STATE_DIR/server.log
trap p11kms_s3_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$p11kms_s3_py" "$top_srcdir/tests/servers/s3_server.py" \
    --state-dir "$P11KMS_S3_STATE_DIR" </dev/null >>"$P11KMS_S3_LOG" 2>&1 &
P11KMS_S3_SERVER_PID=$!

# Startup wait, not a timed assertion: give up only when the server died or never came up.
p11kms_s3_i=0
while [ ! -s "$P11KMS_S3_STATE_DIR/port" ]; do
    if ! kill -0 "$P11KMS_S3_SERVER_PID" 2>/dev/null; then
        echo "s3-env.sh: the S3 test server exited during startup" >&2
        exit 99
    fi
    p11kms_s3_i=$((p11kms_s3_i + 1))
    if [ "$p11kms_s3_i" -gt 600 ]; then
        echo "s3-env.sh: the S3 test server did not write its port" >&2
        exit 99
    fi
    sleep 0.1
done

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
