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

. "$top_srcdir/tests/servers/loopback-env.sh"

# p11kms_gcp_stop: stop the loopback servers this test started (the EXIT trap does it too).
p11kms_gcp_stop() {
    p11kms_lb_stop_all
}

# p11kms_gcp_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the answer.
p11kms_gcp_ctl() {
    p11kms_lb_ctl "$P11KMS_GCP_CONTROL" "$@"
}

# p11kms_gcp_counter OP: how many requests OP (Encrypt, Decrypt, token, metadata-token ...) saw.
p11kms_gcp_counter() {
    p11kms_lb_counter "$P11KMS_GCP_CONTROL" "$1"
}

# p11kms_gcp_stat NAME: a top-level counter (connections, auth_failures, crc_failures ...).
p11kms_gcp_stat() {
    p11kms_lb_stat "$P11KMS_GCP_CONTROL" "$1"
}

# P11KMS_GCP_TOKEN_TTL (seconds), when set, shortens every access token the server issues.
p11kms_lb_start GCP gcp_kms_server.py p11kms-gcp 1200 \
    ${P11KMS_GCP_TOKEN_TTL:+--token-ttl "$P11KMS_GCP_TOKEN_TTL"}
P11KMS_GCP_STATE_DIR=$p11kms_lb_dir
P11KMS_GCP_LOG=$p11kms_lb_dir/server.log
P11KMS_GCP_SERVER_PID=$p11kms_lb_pid

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
