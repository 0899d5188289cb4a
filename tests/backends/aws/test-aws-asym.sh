#!/bin/sh
# test-aws-asym.sh - asymmetric AWS KMS keys through the module, against the loopback AWS KMS
# test server: keys made with the AWS CLI (ECC_NIST_P256 and RSA_2048 for SIGN_VERIFY, RSA_2048
# for ENCRYPT_DECRYPT), their public keys fetched with the AWS CLI (the reference, independent of
# the module); pkcs11-tool lists the objects and signs (ECDSA, PKCS#1 v1.5, PSS) through the
# module's Sign calls, OpenSSL verifies every signature with the CLI's public key, pkcs11-tool
# verifies and decrypts RSA-OAEP; GetPublicKey is asked once per key and never at C_Initialize.
# TLS with the KMS key: "openssl req -x509" and "openssl s_server" through OpenSSL's PKCS#11
# engine with the AWS key complete a TLS 1.3 handshake with curl, the server's signature made by
# the test server's Sign (counted).
AWS_CLI=${AWS_CLI:-/usr/bin/aws}
for prog in pkcs11-tool openssl curl python3; do
    command -v $prog >/dev/null 2>&1 || { echo "# SKIP: $prog is missing"; exit 77; }
done
if [ ! -x "$AWS_CLI" ]; then
    echo "# SKIP: AWS CLI not found at $AWS_CLI (Debian: awscli)"
    exit 77
fi
MODULE=${P11KMS_TEST_MODULE:?P11KMS_TEST_MODULE must name the built p11kms.so}
. "$top_srcdir/tests/clients/asym-common.sh"
. "$top_srcdir/tests/backends/aws/aws-env.sh"
T=$P11KMS_AWS_STATE_DIR/asym
mkdir -p "$T" || exit 99
if ! asym_engine; then
    echo "# SKIP: the PKCS#11 engine ($ENGINE, Debian libengine-pkcs11-openssl) is not installed"
    exit 77
fi
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
}
. "$top_srcdir/tests/backends/tap.sh"
kms() {
    "$AWS_CLI" --endpoint-url "$P11KMS_AWS_ENDPOINT" kms "$@"
}

# new_key SPEC USAGE NAME: create the key, keep its ARN in $T/NAME.arn and the public key
# (PEM) the CLI fetched in $T/NAME.pub
new_key() {
    kms create-key --key-spec "$1" --key-usage "$2" --query KeyMetadata.Arn --output text \
        >"$T/$3.arn" 2>"$T/out" || return 1
    kms get-public-key --key-id "$(cat "$T/$3.arn")" --query PublicKey --output text \
        2>>"$T/out" | base64 -d >"$T/$3.der" || return 1
    openssl pkey -pubin -inform DER -in "$T/$3.der" -out "$T/$3.pub" 2>>"$T/out"
}
check "create-key ECC_NIST_P256 SIGN_VERIFY" new_key ECC_NIST_P256 SIGN_VERIFY ec
check "create-key RSA_2048 SIGN_VERIFY" new_key RSA_2048 SIGN_VERIFY rsa
check "create-key RSA_2048 ENCRYPT_DECRYPT" new_key RSA_2048 ENCRYPT_DECRYPT oaep

cat >"$T/p11kms.conf" <<EOF
{"backends": {"aws": {"endpoint": "$P11KMS_AWS_ENDPOINT"}},
 "tokens": [{"label": "aws", "keys": [
  {"label": "ec", "backend": "aws", "type": "ec-p256", "key_id": "$(cat "$T/ec.arn")", "id": "01"},
  {"label": "rsa", "backend": "aws", "type": "rsa-2048", "key_id": "$(cat "$T/rsa.arn")",
   "id": "02"},
  {"label": "oaep", "backend": "aws", "type": "rsa-2048", "key_id": "$(cat "$T/oaep.arn")",
   "permissions": ["decrypt"], "id": "03"}]}]}
EOF
chmod 600 "$T/p11kms.conf"
P11KMS_CONFIG=$T/p11kms.conf
export P11KMS_CONFIG
P11KMS_LOG=${P11KMS_LOG:-warning}
export P11KMS_LOG
# A module built with --enable-asan needs the sanitizer runtimes preloaded in pkcs11-tool (as
# tests/clients/common.sh does), and only there: the AWS CLI runs without them.
SAN_LIBS=$(ldd "$MODULE" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
san() {
    if [ -n "$SAN_LIBS" ]; then
        LD_PRELOAD="$SAN_LIBS${LD_PRELOAD:-}" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
            "$@"
    else
        "$@"
    fi
}
p11() {
    san pkcs11-tool --module "$MODULE" --token-label aws "$@"
}

before=$(p11kms_aws_counter GetPublicKey)
check "pkcs11-tool lists the slots (C_Initialize)" p11 -L
if [ "$(p11kms_aws_counter GetPublicKey)" -eq "$before" ]; then
    ok "no GetPublicKey at C_Initialize"
else
    not_ok "GetPublicKey at C_Initialize"
fi
check "pkcs11-tool lists the objects" p11 -O
if grep -q "Public Key Object; RSA 2048 bits" "$T/out" && grep -q "Private Key Object; EC" "$T/out"; then
    ok "  ...the private and public keys"
else
    not_ok "  ...the private and public keys"
fi
# the listing reads the EC point (a KMS call) and RSA sizes (from the key type: none); each
# public key is asked for once in a process however often it is read
got=$(($(p11kms_aws_counter GetPublicKey) - before))
if [ "$got" -ge 1 ] && [ "$got" -le 3 ]; then
    ok "  ...GetPublicKey on first use, at most once per key ($got)"
else
    not_ok "  ...GetPublicKey $got times for 3 keys"
fi

printf 'signed by AWS KMS %s\n' "$(date)" >"$T/data"
before=$(p11kms_aws_counter Sign)
check "pkcs11-tool --sign ECDSA-SHA256 (KMS Sign)" p11 --sign --id 01 -m ECDSA-SHA256 \
    -i "$T/data" -o "$T/ec.sig" --signature-format openssl
check "  ...OpenSSL verifies it with GetPublicKey's key" openssl dgst -sha256 -verify "$T/ec.pub" \
    -signature "$T/ec.sig" "$T/data"
check "  ...pkcs11-tool --verify" p11 --verify --id 01 -m ECDSA-SHA256 -i "$T/data" \
    --signature-file "$T/ec.sig" --signature-format openssl
check "pkcs11-tool --sign SHA256-RSA-PKCS" p11 --sign --id 02 -m SHA256-RSA-PKCS -i "$T/data" \
    -o "$T/rsa.sig"
check "  ...OpenSSL verifies it" openssl dgst -sha256 -verify "$T/rsa.pub" \
    -signature "$T/rsa.sig" "$T/data"
check "pkcs11-tool --sign SHA384-RSA-PKCS-PSS" p11 --sign --id 02 -m SHA384-RSA-PKCS-PSS \
    -i "$T/data" -o "$T/pss.sig"
check "  ...OpenSSL verifies it (salt = 48)" openssl dgst -sha384 -verify "$T/rsa.pub" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -signature "$T/pss.sig" "$T/data"
if [ "$(p11kms_aws_counter Sign)" -eq $((before + 3)) ]; then
    ok "three signatures, three KMS Sign calls"
else
    not_ok "$(($(p11kms_aws_counter Sign) - before)) Sign calls for three signatures"
fi

head -c 40 /dev/urandom >"$T/secret"
check "OpenSSL encrypts to the ENCRYPT_DECRYPT key (OAEP SHA-256)" openssl pkeyutl -encrypt \
    -pubin -inkey "$T/oaep.pub" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/secret.enc"
check "pkcs11-tool --decrypt RSA-PKCS-OAEP (KMS Decrypt)" p11 --decrypt --id 03 -m RSA-PKCS-OAEP \
    --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/secret.enc" -o "$T/secret.dec"
check "  ...the plaintext" cmp "$T/secret" "$T/secret.dec"
# a key the KMS keeps for signing refuses to decrypt: the KMS's answer, mapped
if p11 --decrypt --id 02 -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 \
    -i "$T/secret.enc" -o "$T/x" >"$T/out" 2>&1; then
    not_ok "a sign-only key decrypted"
else
    ok "a sign-only key does not decrypt"
fi
# TLS 1.3 with the AWS key through OpenSSL's PKCS#11 engine: a certificate made with it, then
# s_server, whose CertificateVerify signature is the KMS's Sign.
trap 'rc=$?; stop_server; (exit $rc); p11kms_aws_stop' EXIT
EC_URI="pkcs11:token=aws;object=ec;type=private"
ossl() {
    OPENSSL_CONF=$ENGINE_CONF san openssl "$@"
}
check "openssl req -x509 -engine pkcs11 with the AWS EC key" ossl req -new -x509 -engine pkcs11 \
    -keyform engine -key "$EC_URI" -subj "/CN=localhost" -days 2 -sha256 \
    -addext "subjectAltName=DNS:localhost" -out "$T/srv.crt"
openssl x509 -in "$T/srv.crt" -noout -pubkey >"$T/srv.pub" 2>/dev/null
openssl pkey -pubin -in "$T/ec.pub" >"$T/ec-ref.pub" 2>/dev/null
check "  ...the certificate holds the KMS key's public key" cmp "$T/srv.pub" "$T/ec-ref.pub"
port=$(asym_port)
ossl s_server -engine pkcs11 -keyform engine -key "$EC_URI" -cert "$T/srv.crt" \
    -accept "127.0.0.1:$port" -www -quiet >"$T/s_server.log" 2>&1 &
SERVER_PID=$!
if asym_wait_port "$port"; then
    ok "openssl s_server -engine pkcs11 -keyform engine starts with the AWS key"
    before=$(p11kms_aws_counter Sign)
    # curl never loads the module (and so never the sanitizer runtimes)
    check "curl --tlsv1.3 completes a handshake with s_server" env -u LD_PRELOAD curl -sS \
        --max-time 30 --tlsv1.3 --cacert "$T/srv.crt" --resolve "localhost:$port:127.0.0.1" \
        -o "$T/page" "https://localhost:$port/"
    if grep -q "TLSv1.3" "$T/page" 2>/dev/null; then
        ok "  ...negotiated TLSv1.3"
    else
        not_ok "  ...not TLS 1.3"
    fi
    signs=$(($(p11kms_aws_counter Sign) - before))
    if [ "$signs" -gt 0 ]; then
        ok "  ...the handshake's signature came from the AWS test server's Sign ($signs)"
    else
        not_ok "  ...no Sign call on the AWS test server during the handshake"
    fi
else
    not_ok "openssl s_server -engine pkcs11 did not start"
    sed 's/^/#   /' "$T/s_server.log" | head -20
fi
stop_server

echo "1..$n"
[ "$failures" -eq 0 ]
