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

p11kms_aws_stop() {
    p11kms_aws_rc=$?
    if [ -n "${P11KMS_AWS_SERVER_PID:-}" ]; then
        kill -TERM "$P11KMS_AWS_SERVER_PID" 2>/dev/null
        wait "$P11KMS_AWS_SERVER_PID" 2>/dev/null
        P11KMS_AWS_SERVER_PID=
    fi
    if [ -n "${P11KMS_AWS_STATE_DIR:-}" ] && [ -d "$P11KMS_AWS_STATE_DIR" ]; then
        # A failing test's log gets the server's view of what happened.
        if [ "$p11kms_aws_rc" -ne 0 ] && [ "$p11kms_aws_rc" -ne 77 ] && \
                [ -f "$P11KMS_AWS_STATE_DIR/server.log" ]; then
            echo "# ---- AWS test server log (last 60 lines) ----" >&2
            tail -n 60 "$P11KMS_AWS_STATE_DIR/server.log" | sed 's/^/# /' >&2
        fi
        [ -n "${P11KMS_KEEP_STATE:-}" ] || rm -rf "$P11KMS_AWS_STATE_DIR"
    fi
    return "$p11kms_aws_rc"
}

# p11kms_aws_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_aws_ctl() {
    if [ $# -ge 3 ]; then
        curl -sS --noproxy '*' --fail-with-body -X "$1" -H 'Content-Type: application/json' \
            --data "$3" "$P11KMS_AWS_CONTROL$2"
    else
        curl -sS --noproxy '*' --fail-with-body -X "$1" "$P11KMS_AWS_CONTROL$2"
    fi
}

# p11kms_aws_counter OP: how many requests OP (Encrypt, imds-token, ...) has seen.
p11kms_aws_counter() {
    p11kms_aws_ctl GET /counters | "$p11kms_aws_py" -c \
        'import json, sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$1"
}

# p11kms_aws_stat NAME: a top-level counter (connections, signature_failures, faults_served ...).
p11kms_aws_stat() {
    p11kms_aws_ctl GET /counters | "$p11kms_aws_py" -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

P11KMS_AWS_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-aws.XXXXXX") || exit 99
P11KMS_AWS_LOG=$P11KMS_AWS_STATE_DIR/server.log
trap p11kms_aws_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$p11kms_aws_py" "$top_srcdir/tests/servers/aws_kms_server.py" \
    --state-dir "$P11KMS_AWS_STATE_DIR" </dev/null >>"$P11KMS_AWS_LOG" 2>&1 &
P11KMS_AWS_SERVER_PID=$!

# Startup wait, not a timed assertion: give up only when the server died or never came up.
p11kms_aws_i=0
while [ ! -s "$P11KMS_AWS_STATE_DIR/port" ]; do
    if ! kill -0 "$P11KMS_AWS_SERVER_PID" 2>/dev/null; then
        echo "aws-env.sh: the AWS test server exited during startup" >&2
        exit 99
    fi
    p11kms_aws_i=$((p11kms_aws_i + 1))
    if [ "$p11kms_aws_i" -gt 600 ]; then
        echo "aws-env.sh: the AWS test server did not write its port" >&2
        exit 99
    fi
    sleep 0.1
done

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
