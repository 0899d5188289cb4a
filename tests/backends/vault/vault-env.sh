# vault-env.sh - source me (POSIX sh): starts the loopback Vault test server (HTTP and HTTPS) on
# free ports with a temp state dir, exports what Vault clients and p11kms tests need, and stops
# it on EXIT (also when the test fails). Contract: tests/servers/README.md. Needs $top_srcdir.

p11kms_vault_py=${PYTHON3:-/usr/bin/python3}
if [ -z "${top_srcdir:-}" ] || [ ! -f "$top_srcdir/tests/servers/vault_server.py" ]; then
    echo "vault-env.sh: set top_srcdir to the p11kms source tree" >&2
    exit 99
fi
if ! "$p11kms_vault_py" -c 'import cryptography.hazmat' 2>/dev/null; then
    echo "# SKIP: $p11kms_vault_py cannot import cryptography (Debian: python3-cryptography)"
    exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "# SKIP: curl is missing"
    exit 77
fi

. "$top_srcdir/tests/servers/loopback-env.sh"

# p11kms_vault_stop: stop the loopback servers this test started (the EXIT trap does it too).
p11kms_vault_stop() {
    p11kms_lb_stop_all
}

# p11kms_vault_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the
# answer; fails on a 4xx/5xx answer.
p11kms_vault_ctl() {
    p11kms_lb_ctl "$P11KMS_VAULT_CONTROL" "$@"
}

# p11kms_vault_counter OP: how many requests OP (encrypt, approle-login, ...) has seen.
p11kms_vault_counter() {
    p11kms_lb_counter "$P11KMS_VAULT_CONTROL" "$1"
}

# p11kms_vault_stat NAME: a top-level counter (connections, tls_connections, faults_served ...).
p11kms_vault_stat() {
    p11kms_lb_stat "$P11KMS_VAULT_CONTROL" "$1"
}

p11kms_lb_start Vault vault_server.py p11kms-vault 600
P11KMS_VAULT_STATE_DIR=$p11kms_lb_dir
P11KMS_VAULT_LOG=$p11kms_lb_dir/server.log
P11KMS_VAULT_SERVER_PID=$p11kms_lb_pid

P11KMS_VAULT_PORT=$(cat "$P11KMS_VAULT_STATE_DIR/port")
P11KMS_VAULT_TLS_PORT=$(cat "$P11KMS_VAULT_STATE_DIR/tls-port")
P11KMS_VAULT_ADDR=http://127.0.0.1:$P11KMS_VAULT_PORT
P11KMS_VAULT_TLS_ADDR=https://127.0.0.1:$P11KMS_VAULT_TLS_PORT
P11KMS_VAULT_CONTROL=$P11KMS_VAULT_ADDR/_control
P11KMS_VAULT_TLS_DIR=$P11KMS_VAULT_STATE_DIR/tls
P11KMS_VAULT_CACERT=$P11KMS_VAULT_TLS_DIR/ca.pem
P11KMS_VAULT_CAPATH=$P11KMS_VAULT_TLS_DIR/capath
P11KMS_VAULT_CLIENT_CERT=$P11KMS_VAULT_TLS_DIR/client.pem
P11KMS_VAULT_CLIENT_KEY=$P11KMS_VAULT_TLS_DIR/client-key.pem
P11KMS_VAULT_OTHER_CA=$P11KMS_VAULT_TLS_DIR/other-ca.pem
P11KMS_VAULT_SERVER_NAME=vault.p11kms.test
P11KMS_VAULT_ROOT_TOKEN=p11kms-test-root-token
P11KMS_VAULT_APP_TOKEN=p11kms-test-app-token
P11KMS_VAULT_ENCRYPT_TOKEN=p11kms-test-encrypt-token
P11KMS_VAULT_DECRYPT_TOKEN=p11kms-test-decrypt-token
P11KMS_VAULT_NS_TOKEN=p11kms-test-ns-token
P11KMS_VAULT_NAMESPACE=p11kms-ns
P11KMS_VAULT_CHILD_NAMESPACE=p11kms-ns/team
P11KMS_VAULT_CUSTOM_MOUNT=p11kms-transit
P11KMS_VAULT_ROLE_ID=p11kms-test-role-id
P11KMS_VAULT_SECRET_ID=p11kms-test-secret-id
P11KMS_VAULT_SECRET_ID_FILE=$P11KMS_VAULT_STATE_DIR/approle-secret-id
P11KMS_VAULT_K8S_ROLE=p11kms-k8s
P11KMS_VAULT_K8S_JWT_FILE=$P11KMS_VAULT_STATE_DIR/k8s-token
P11KMS_VAULT_K8S_OTHER_JWT_FILE=$P11KMS_VAULT_STATE_DIR/k8s-token-other-sa
P11KMS_VAULT_CERT_ROLE=p11kms-cert
export P11KMS_VAULT_STATE_DIR P11KMS_VAULT_LOG P11KMS_VAULT_SERVER_PID P11KMS_VAULT_PORT \
    P11KMS_VAULT_TLS_PORT P11KMS_VAULT_ADDR P11KMS_VAULT_TLS_ADDR P11KMS_VAULT_CONTROL \
    P11KMS_VAULT_TLS_DIR P11KMS_VAULT_CACERT P11KMS_VAULT_CAPATH P11KMS_VAULT_CLIENT_CERT \
    P11KMS_VAULT_CLIENT_KEY P11KMS_VAULT_OTHER_CA P11KMS_VAULT_SERVER_NAME \
    P11KMS_VAULT_ROOT_TOKEN P11KMS_VAULT_APP_TOKEN P11KMS_VAULT_ENCRYPT_TOKEN \
    P11KMS_VAULT_DECRYPT_TOKEN P11KMS_VAULT_NS_TOKEN P11KMS_VAULT_NAMESPACE \
    P11KMS_VAULT_CHILD_NAMESPACE P11KMS_VAULT_CUSTOM_MOUNT P11KMS_VAULT_ROLE_ID \
    P11KMS_VAULT_SECRET_ID P11KMS_VAULT_SECRET_ID_FILE P11KMS_VAULT_K8S_ROLE \
    P11KMS_VAULT_K8S_JWT_FILE P11KMS_VAULT_K8S_OTHER_JWT_FILE P11KMS_VAULT_CERT_ROLE

# What a Vault client reads from the environment: this server over plain HTTP (loopback) with
# the root test token, and nothing else that could send it elsewhere.
unset VAULT_NAMESPACE VAULT_CACERT VAULT_CAPATH VAULT_CLIENT_CERT VAULT_CLIENT_KEY \
    VAULT_TLS_SERVER_NAME VAULT_SKIP_VERIFY VAULT_AGENT_ADDR VAULT_PREFIX VAULT_PROXY_ADDR \
    VAULT_HTTP_PROXY VAULT_MAX_RETRIES VAULT_CLIENT_TIMEOUT
VAULT_ADDR=$P11KMS_VAULT_ADDR
VAULT_TOKEN=$P11KMS_VAULT_ROOT_TOKEN
NO_PROXY=127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}
no_proxy=$NO_PROXY
export VAULT_ADDR VAULT_TOKEN NO_PROXY no_proxy
