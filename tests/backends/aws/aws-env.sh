# aws-env.sh - source me (POSIX sh): starts the loopback AWS KMS test server on a free port with
# a temp state dir, exports what AWS clients and p11kms tests need, and stops it on EXIT.
# Contract: tests/servers/README.md. Needs $top_srcdir (make check exports it).

p11kms_aws_py=${PYTHON3:-/usr/bin/python3}
if [ -z "${top_srcdir:-}" ] || [ ! -f "$top_srcdir/tests/servers/aws_kms_server.py" ]; then
    echo "aws-env.sh: set top_srcdir to the p11kms source tree" >&2
    exit 99
fi
if ! "$p11kms_aws_py" -c 'import botocore.auth, cryptography.hazmat' 2>/dev/null; then
    echo "# SKIP: $p11kms_aws_py cannot import botocore and cryptography" \
        "(Debian: python3-botocore python3-cryptography)"
    exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "# SKIP: curl is missing"
    exit 77
fi

. "$top_srcdir/tests/servers/loopback-env.sh"

# p11kms_aws_stop: stop the loopback servers this test started (the EXIT trap does it too).
p11kms_aws_stop() {
    p11kms_lb_stop_all
}

# p11kms_aws_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_aws_ctl() {
    p11kms_lb_ctl "$P11KMS_AWS_CONTROL" "$@"
}

# p11kms_aws_counter OP: how many requests OP (Encrypt, imds-token, ...) has seen.
p11kms_aws_counter() {
    p11kms_lb_counter "$P11KMS_AWS_CONTROL" "$1"
}

# p11kms_aws_stat NAME: a top-level counter (connections, signature_failures, faults_served ...).
p11kms_aws_stat() {
    p11kms_lb_stat "$P11KMS_AWS_CONTROL" "$1"
}

p11kms_lb_start AWS aws_kms_server.py p11kms-aws 600
P11KMS_AWS_STATE_DIR=$p11kms_lb_dir
P11KMS_AWS_LOG=$p11kms_lb_dir/server.log
P11KMS_AWS_SERVER_PID=$p11kms_lb_pid

P11KMS_AWS_PORT=$(cat "$P11KMS_AWS_STATE_DIR/port")
P11KMS_AWS_ENDPOINT=http://127.0.0.1:$P11KMS_AWS_PORT
P11KMS_AWS_CONTROL=$P11KMS_AWS_ENDPOINT/_control
P11KMS_AWS_KEY_ID=11111111-1111-4111-8111-111111111111
P11KMS_AWS_KEY_ARN=arn:aws:kms:us-east-1:111122223333:key/$P11KMS_AWS_KEY_ID
P11KMS_AWS_ALIAS=alias/p11kms-test
P11KMS_AWS_OTHER_KEY_ID=22222222-2222-4222-8222-222222222222
P11KMS_AWS_DISABLED_KEY_ID=33333333-3333-4333-8333-333333333333
export P11KMS_AWS_PORT P11KMS_AWS_ENDPOINT P11KMS_AWS_CONTROL P11KMS_AWS_STATE_DIR \
    P11KMS_AWS_LOG P11KMS_AWS_SERVER_PID P11KMS_AWS_KEY_ID P11KMS_AWS_KEY_ARN P11KMS_AWS_ALIAS \
    P11KMS_AWS_OTHER_KEY_ID P11KMS_AWS_DISABLED_KEY_ID

unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL \
    AWS_ENDPOINT_URL_KMS AWS_ENDPOINT_URL_STS AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_AUTHORIZATION_TOKEN \
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN \
    AWS_ROLE_SESSION_NAME AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_CA_BUNDLE
AWS_ACCESS_KEY_ID=AKIDP11KMSTEST000001
AWS_SECRET_ACCESS_KEY='p11kms/Test+Secret/Key0000000000EXAMPLEKEY'
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_CONFIG_FILE=$P11KMS_AWS_STATE_DIR/aws-config
AWS_SHARED_CREDENTIALS_FILE=$P11KMS_AWS_STATE_DIR/aws-credentials
AWS_EC2_METADATA_DISABLED=true
AWS_PAGER=
NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
no_proxy=$NO_PROXY
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION AWS_CONFIG_FILE \
    AWS_SHARED_CREDENTIALS_FILE AWS_EC2_METADATA_DISABLED AWS_PAGER NO_PROXY no_proxy
