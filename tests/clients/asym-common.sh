# asym-common.sh - sourced by the client tests of asymmetric keys (after common.sh): key files
# made by "p11kms keygen --type", their public keys taken from the files with openssl (the
# reference the tests check the module against), a self-signed certificate for the EC key, and a
# configuration with token "tls" (ec id 01 and rsa id 02, signing and decrypting, each with a
# self-signed certificate) and token "ec-only" (one EC key).

P11KMS_TOOL=${P11KMS_TOOL:-$top_builddir/p11kms}

asym_config() {
    "$P11KMS_TOOL" keygen --type ec-p256 "$T/ec.pem" >/dev/null || {
        echo "FAIL: p11kms keygen --type ec-p256"
        exit 1
    }
    "$P11KMS_TOOL" keygen --type rsa-2048 "$T/rsa.pem" >/dev/null || {
        echo "FAIL: p11kms keygen --type rsa-2048"
        exit 1
    }
    "$P11KMS_TOOL" keygen --type ec-p256 "$T/ec2.pem" >/dev/null || exit 1
    openssl pkey -in "$T/ec.pem" -pubout -out "$T/ec.pub" || exit 99
    openssl pkey -in "$T/rsa.pem" -pubout -out "$T/rsa.pub" || exit 99
    # the certificate the configuration names (made with the key file, not through the module)
    openssl req -new -x509 -key "$T/ec.pem" -subj "/CN=localhost" -days 2 -sha256 \
        -addext "subjectAltName=DNS:localhost" -out "$T/ec.crt" 2>/dev/null || exit 99
    openssl req -new -x509 -key "$T/rsa.pem" -subj "/CN=rsa" -days 2 -sha256 -out "$T/rsa.crt" \
        2>/dev/null || exit 99
    cat >"$T/asym.conf" <<EOF
{"tokens": [
  {"label": "tls", "keys": [
    {"label": "ec", "backend": "local", "type": "ec-p256", "key_file": "$T/ec.pem",
     "certificate": "$T/ec.crt", "id": "01"},
    {"label": "rsa", "backend": "local", "type": "rsa-2048", "key_file": "$T/rsa.pem",
     "certificate": "$T/rsa.crt", "permissions": ["sign", "decrypt"], "id": "02"}]},
  {"label": "ec-only", "keys": [
    {"label": "ec2", "backend": "local", "type": "ec-p256", "key_file": "$T/ec2.pem", "id": "03"}]}
]}
EOF
    chmod 600 "$T/asym.conf"
    P11KMS_CONFIG=$T/asym.conf
    export P11KMS_CONFIG
}

# asym_port: a free TCP port on 127.0.0.1 (bound and released; the caller binds it next).
asym_port() {
    env -u LD_PRELOAD python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# asym_engine: $T/openssl.cnf, an OpenSSL configuration loading OpenSSL's PKCS#11 engine (libp11,
# Debian libengine-pkcs11-openssl) with $MODULE; its path in ENGINE_CONF (callers point
# OPENSSL_CONF at it). Returns 1 when the engine is not installed.
asym_engine() {
    ENGINE=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
    [ -f "$ENGINE" ] || return 1
    cat >"$T/openssl.cnf" <<END
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MODULE
init = 0
END
    ENGINE_CONF=$T/openssl.cnf
}

# asym_wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
asym_wait_port() {
    env -u LD_PRELOAD python3 - "$1" <<'END'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
END
}
