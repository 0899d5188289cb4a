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
