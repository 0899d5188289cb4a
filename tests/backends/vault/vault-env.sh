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

p11kms_vault_stop() {
    p11kms_vault_rc=$?
    if [ -n "${P11KMS_VAULT_SERVER_PID:-}" ]; then
        kill -TERM "$P11KMS_VAULT_SERVER_PID" 2>/dev/null
        wait "$P11KMS_VAULT_SERVER_PID" 2>/dev/null
        P11KMS_VAULT_SERVER_PID=
    fi
    if [ -n "${P11KMS_VAULT_STATE_DIR:-}" ] && [ -d "$P11KMS_VAULT_STATE_DIR" ]; then
        # A failing test's log gets the server's view of what happened.
        if [ "$p11kms_vault_rc" -ne 0 ] && [ "$p11kms_vault_rc" -ne 77 ] && \
                [ -f "$P11KMS_VAULT_STATE_DIR/server.log" ]; then
            echo "# ---- Vault test server log (last 60 lines) ----" >&2
            tail -n 60 "$P11KMS_VAULT_STATE_DIR/server.log" | sed 's/^/# /' >&2
        fi
        [ -n "${P11KMS_KEEP_STATE:-}" ] || rm -rf "$P11KMS_VAULT_STATE_DIR"
    fi
    return "$p11kms_vault_rc"
}

# p11kms_vault_ctl METHOD PATH [JSON]: PATH relative to /_control (e.g. /faults); prints the
# answer; fails on a 4xx/5xx answer.
p11kms_vault_ctl() {
    if [ $# -ge 3 ]; then
        curl -sS --noproxy '*' --fail-with-body -X "$1" -H 'Content-Type: application/json' \
            --data "$3" "$P11KMS_VAULT_CONTROL$2"
    else
        curl -sS --noproxy '*' --fail-with-body -X "$1" "$P11KMS_VAULT_CONTROL$2"
    fi
}

# p11kms_vault_counter OP: how many requests OP (encrypt, approle-login, ...) has seen.
p11kms_vault_counter() {
    p11kms_vault_ctl GET /counters | "$p11kms_vault_py" -c \
        'import json, sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$1"
}

# p11kms_vault_stat NAME: a top-level counter (connections, tls_connections, faults_served ...).
p11kms_vault_stat() {
    p11kms_vault_ctl GET /counters | "$p11kms_vault_py" -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

P11KMS_VAULT_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-vault.XXXXXX") || exit 99
P11KMS_VAULT_LOG=$P11KMS_VAULT_STATE_DIR/server.log
trap p11kms_vault_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$p11kms_vault_py" "$top_srcdir/tests/servers/vault_server.py" \
    --state-dir "$P11KMS_VAULT_STATE_DIR" </dev/null >>"$P11KMS_VAULT_LOG" 2>&1 &
P11KMS_VAULT_SERVER_PID=$!

# Startup wait, not a timed assertion: give up only when the server died or never came up.
p11kms_vault_i=0
while [ ! -s "$P11KMS_VAULT_STATE_DIR/port" ]; do
    if ! kill -0 "$P11KMS_VAULT_SERVER_PID" 2>/dev/null; then
        echo "vault-env.sh: the Vault test server exited during startup" >&2
        exit 99
    fi
    p11kms_vault_i=$((p11kms_vault_i + 1))
    if [ "$p11kms_vault_i" -gt 600 ]; then
        echo "vault-env.sh: the Vault test server did not write its port" >&2
        exit 99
    fi
    sleep 0.1
done

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
