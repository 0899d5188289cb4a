# gcp-env.sh - source me (POSIX sh): starts the loopback Google Cloud KMS test server on free
# ports with a temp state dir, exports what Google clients and p11kms tests need, and stops it
# on EXIT (also when the test fails). Contract: tests/servers/README.md. Needs $top_srcdir.

p11kms_gcp_py=${PYTHON3:-/usr/bin/python3}
if [ -z "${top_srcdir:-}" ] || [ ! -f "$top_srcdir/tests/servers/gcp_kms_server.py" ]; then
    echo "gcp-env.sh: set top_srcdir to the p11kms source tree" >&2
    exit 99
fi
if ! "$p11kms_gcp_py" -c 'import cryptography.hazmat' 2>/dev/null; then
    echo "# SKIP: $p11kms_gcp_py cannot import cryptography (Debian: python3-cryptography)"
    exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "# SKIP: curl is missing"
    exit 77
fi

p11kms_gcp_stop() {
    p11kms_gcp_rc=$?
    if [ -n "${P11KMS_GCP_SERVER_PID:-}" ]; then
        kill -TERM "$P11KMS_GCP_SERVER_PID" 2>/dev/null
        wait "$P11KMS_GCP_SERVER_PID" 2>/dev/null
        P11KMS_GCP_SERVER_PID=
    fi
    if [ -n "${P11KMS_GCP_STATE_DIR:-}" ] && [ -d "$P11KMS_GCP_STATE_DIR" ]; then
        # A failing test's log gets the server's view of what happened.
        if [ "$p11kms_gcp_rc" -ne 0 ] && [ "$p11kms_gcp_rc" -ne 77 ] && \
                [ -f "$P11KMS_GCP_STATE_DIR/server.log" ]; then
            echo "# ---- GCP test server log (last 60 lines) ----" >&2
            tail -n 60 "$P11KMS_GCP_STATE_DIR/server.log" | sed 's/^/# /' >&2
        fi
        [ -n "${P11KMS_KEEP_STATE:-}" ] || rm -rf "$P11KMS_GCP_STATE_DIR"
    fi
    return "$p11kms_gcp_rc"
}

# p11kms_gcp_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_gcp_ctl() {
    if [ $# -ge 3 ]; then
        curl -sS --noproxy '*' --fail-with-body -X "$1" -H 'Content-Type: application/json' \
            --data "$3" "$P11KMS_GCP_CONTROL$2"
    else
        curl -sS --noproxy '*' --fail-with-body -X "$1" "$P11KMS_GCP_CONTROL$2"
    fi
}

# p11kms_gcp_counter OP: how many requests OP (Encrypt, Decrypt, token, metadata-token ...) saw.
p11kms_gcp_counter() {
    p11kms_gcp_ctl GET /counters | "$p11kms_gcp_py" -c \
        'import json, sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$1"
}

# p11kms_gcp_stat NAME: a top-level counter (connections, auth_failures, crc_failures ...).
p11kms_gcp_stat() {
    p11kms_gcp_ctl GET /counters | "$p11kms_gcp_py" -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

P11KMS_GCP_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-gcp.XXXXXX") || exit 99
P11KMS_GCP_LOG=$P11KMS_GCP_STATE_DIR/server.log
trap p11kms_gcp_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# P11KMS_GCP_TOKEN_TTL (seconds), when set, shortens every access token the server issues.
"$p11kms_gcp_py" "$top_srcdir/tests/servers/gcp_kms_server.py" \
    --state-dir "$P11KMS_GCP_STATE_DIR" \
    ${P11KMS_GCP_TOKEN_TTL:+--token-ttl "$P11KMS_GCP_TOKEN_TTL"} \
    </dev/null >>"$P11KMS_GCP_LOG" 2>&1 &
P11KMS_GCP_SERVER_PID=$!

# Startup wait, not a timed assertion: give up only when the server died or never came up.
p11kms_gcp_i=0
while [ ! -s "$P11KMS_GCP_STATE_DIR/port" ]; do
    if ! kill -0 "$P11KMS_GCP_SERVER_PID" 2>/dev/null; then
        echo "gcp-env.sh: the GCP test server exited during startup" >&2
        exit 99
    fi
    p11kms_gcp_i=$((p11kms_gcp_i + 1))
    if [ "$p11kms_gcp_i" -gt 1200 ]; then
        echo "gcp-env.sh: the GCP test server did not write its port" >&2
        exit 99
    fi
    sleep 0.1
done

P11KMS_GCP_PORT=$(cat "$P11KMS_GCP_STATE_DIR/port")
P11KMS_GCP_TLS_PORT=$(cat "$P11KMS_GCP_STATE_DIR/tls-port")
P11KMS_GCP_METADATA_PORT=$(cat "$P11KMS_GCP_STATE_DIR/metadata-port")
P11KMS_GCP_ENDPOINT=http://127.0.0.1:$P11KMS_GCP_PORT
P11KMS_GCP_TLS_ENDPOINT=https://127.0.0.1:$P11KMS_GCP_TLS_PORT
P11KMS_GCP_CONTROL=$P11KMS_GCP_ENDPOINT/_control
P11KMS_GCP_TOKEN_URI=$P11KMS_GCP_ENDPOINT/token
P11KMS_GCP_CA=$P11KMS_GCP_STATE_DIR/ca.pem
P11KMS_GCP_OTHER_CA=$P11KMS_GCP_STATE_DIR/other-ca.pem
P11KMS_GCP_KEY_RING=projects/p11kms-test/locations/global/keyRings/p11kms-ring
P11KMS_GCP_KEY=$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-key
P11KMS_GCP_OTHER_KEY=$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-other
P11KMS_GCP_ROTATED_KEY=$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-rotated
P11KMS_GCP_DISABLED_KEY=$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-disabled
P11KMS_GCP_HSM_KEY=$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-hsm
P11KMS_GCP_SA_KEY_FILE=$P11KMS_GCP_STATE_DIR/sa-key.json
P11KMS_GCP_AUTHORIZED_USER_FILE=$P11KMS_GCP_STATE_DIR/authorized-user.json
P11KMS_GCP_EXTERNAL_ACCOUNT_FILE=$P11KMS_GCP_STATE_DIR/external-account.json
export P11KMS_GCP_PORT P11KMS_GCP_TLS_PORT P11KMS_GCP_METADATA_PORT P11KMS_GCP_ENDPOINT \
    P11KMS_GCP_TLS_ENDPOINT P11KMS_GCP_CONTROL P11KMS_GCP_TOKEN_URI P11KMS_GCP_CA \
    P11KMS_GCP_OTHER_CA P11KMS_GCP_STATE_DIR P11KMS_GCP_LOG P11KMS_GCP_SERVER_PID \
    P11KMS_GCP_KEY_RING P11KMS_GCP_KEY P11KMS_GCP_OTHER_KEY P11KMS_GCP_ROTATED_KEY \
    P11KMS_GCP_DISABLED_KEY P11KMS_GCP_HSM_KEY P11KMS_GCP_SA_KEY_FILE \
    P11KMS_GCP_AUTHORIZED_USER_FILE P11KMS_GCP_EXTERNAL_ACCOUNT_FILE

unset GOOGLE_CLOUD_PROJECT GCLOUD_PROJECT GOOGLE_CLOUD_QUOTA_PROJECT \
    GOOGLE_API_USE_CLIENT_CERTIFICATE GOOGLE_CLOUD_UNIVERSE_DOMAIN METADATA_SERVER_DETECTION \
    NO_GCE_CHECK
GOOGLE_APPLICATION_CREDENTIALS=$P11KMS_GCP_SA_KEY_FILE
# The gcloud well-known file is looked up under CLOUDSDK_CONFIG: an empty dir, so it is absent
# unless a test puts one there.
CLOUDSDK_CONFIG=$P11KMS_GCP_STATE_DIR/gcloud
GCE_METADATA_HOST=127.0.0.1:$P11KMS_GCP_METADATA_PORT
GCE_METADATA_ROOT=$GCE_METADATA_HOST
GCE_METADATA_IP=$GCE_METADATA_HOST
NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
no_proxy=$NO_PROXY
mkdir -p "$CLOUDSDK_CONFIG"
export GOOGLE_APPLICATION_CREDENTIALS CLOUDSDK_CONFIG GCE_METADATA_HOST GCE_METADATA_ROOT \
    GCE_METADATA_IP NO_PROXY no_proxy
