#!/bin/sh
# test-gcp-asym.sh - asymmetric Cloud KMS keys through the module against the loopback Cloud KMS
# test server: the public keys fetched first with curl (getPublicKey with a token from the
# server's control API: the reference, independent of the module); test-gcp-asym checks the
# module against them through the function list; then pkcs11-tool signs (ECDSA, PKCS#1 v1.5,
# PSS) and verifies through the module, OpenSSL verifies every signature with the fetched key,
# and pkcs11-tool decrypts RSA-OAEP. The module's log must hold no token.
for prog in openssl curl; do
    command -v $prog >/dev/null 2>&1 || { echo "# SKIP: $prog is missing"; exit 77; }
done
. "$top_srcdir/tests/backends/gcp/gcp-env.sh"
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
T=$P11KMS_GCP_STATE_DIR/asym
P11KMS_TEST_PUBDIR=$T
export P11KMS_TEST_PUBDIR
mkdir -p "$T" || exit 99
. "$top_srcdir/tests/backends/tap.sh"
py=${PYTHON3:-/usr/bin/python3}
token=$(curl -sS --noproxy '*' --fail -X POST -H 'Content-Type: application/json' -d '{}' \
    "$P11KMS_GCP_CONTROL/tokens" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# fetch KEY: version 1's public key (PEM) into $T/KEY.pem
fetch() {
    curl -sS --noproxy '*' --fail -H "Authorization: Bearer $token" \
        "$P11KMS_GCP_ENDPOINT/v1/$P11KMS_GCP_KEY_RING/cryptoKeys/$1/cryptoKeyVersions/1/publicKey" |
        "$py" -c 'import json, sys; sys.stdout.write(json.load(sys.stdin)["pem"])' >"$T/$1.pem" &&
        openssl pkey -pubin -in "$T/$1.pem" -noout
}
for k in p11kms-sign-p256 p11kms-sign-p384 p11kms-sign-k256 p11kms-sign-rsa2048 \
    p11kms-sign-pss2048 p11kms-decrypt-rsa2048 p11kms-decrypt-rsa2048-sha1; do
    check "curl fetches the public key of $k" fetch $k
done

P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
log=$P11KMS_GCP_STATE_DIR/module.log
if ${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/gcp/test-gcp-asym" 2>"$log"; then
    ok "test-gcp-asym (the function list)"
else
    not_ok "test-gcp-asym (the function list)"
fi
sed 's/^/# /' "$log"
if grep -q "ya29\." "$log"; then
    not_ok "the module's log holds no access token"
else
    ok "the module's log holds no access token"
fi

# ---- pkcs11-tool ----------------------------------------------------------------------------
if ! command -v pkcs11-tool >/dev/null 2>&1; then
    echo "# pkcs11-tool is missing: its part is skipped"
    echo "1..$n"
    [ "$failures" -eq 0 ]
    exit
fi
cat >"$T/p11kms.conf" <<CONF
{"backends": {"gcp": {"endpoint": "$P11KMS_GCP_ENDPOINT"}},
 "tokens": [{"label": "gcp", "keys": [
  {"label": "ec", "backend": "gcp", "type": "ec-p256", "id": "01",
   "key_id": "$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-sign-p256/cryptoKeyVersions/1"},
  {"label": "pss", "backend": "gcp", "type": "rsa-2048", "id": "02",
   "key_id": "$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-sign-pss2048/cryptoKeyVersions/1"},
  {"label": "oaep", "backend": "gcp", "type": "rsa-2048", "id": "03", "permissions": ["decrypt"],
   "key_id": "$P11KMS_GCP_KEY_RING/cryptoKeys/p11kms-decrypt-rsa2048", "key_version": "1"}]}]}
CONF
chmod 600 "$T/p11kms.conf"
P11KMS_CONFIG=$T/p11kms.conf
P11KMS_LOG=warning
export P11KMS_CONFIG P11KMS_LOG
SAN_LIBS=$(ldd "$MODULE" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
p11() {
    if [ -n "$SAN_LIBS" ]; then
        LD_PRELOAD="$SAN_LIBS${LD_PRELOAD:-}" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
            pkcs11-tool --module "$MODULE" --token-label gcp "$@"
    else
        pkcs11-tool --module "$MODULE" --token-label gcp "$@"
    fi
}
counter() {
    curl -sS --noproxy '*' --fail "$P11KMS_GCP_CONTROL/counters" |
        "$py" -c 'import json, sys; print(json.load(sys.stdin)["requests"].get(sys.argv[1], 0))' "$1"
}
before=$(counter GetPublicKey)
check "pkcs11-tool lists the slots (C_Initialize)" p11 -L
if [ "$(counter GetPublicKey)" -eq "$before" ]; then
    ok "  ...no getPublicKey at C_Initialize"
else
    not_ok "  ...getPublicKey at C_Initialize"
fi
check "pkcs11-tool lists the objects" p11 -O
if grep -q "Public Key Object; RSA 2048 bits" "$T/out" && grep -q "Private Key Object; EC" "$T/out"; then
    ok "  ...the private and public keys"
else
    not_ok "  ...the private and public keys"
fi

printf 'signed by Cloud KMS %s\n' "$(date)" >"$T/data"
before=$(counter AsymmetricSign)
check "pkcs11-tool --sign ECDSA-SHA256 (asymmetricSign)" p11 --sign --id 01 -m ECDSA-SHA256 \
    -i "$T/data" -o "$T/ec.sig" --signature-format openssl
check "  ...OpenSSL verifies it with Cloud KMS's public key" openssl dgst -sha256 \
    -verify "$T/p11kms-sign-p256.pem" -signature "$T/ec.sig" "$T/data"
check "  ...pkcs11-tool --verify" p11 --verify --id 01 -m ECDSA-SHA256 -i "$T/data" \
    --signature-file "$T/ec.sig" --signature-format openssl
check "pkcs11-tool --sign SHA256-RSA-PKCS-PSS" p11 --sign --id 02 -m SHA256-RSA-PKCS-PSS \
    -i "$T/data" -o "$T/pss.sig"
check "  ...OpenSSL verifies it (salt = 32)" openssl dgst -sha256 \
    -verify "$T/p11kms-sign-pss2048.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -signature "$T/pss.sig" "$T/data"
check "  ...pkcs11-tool --verify" p11 --verify --id 02 -m SHA256-RSA-PKCS-PSS -i "$T/data" \
    --signature-file "$T/pss.sig"
if p11 --sign --id 02 -m SHA256-RSA-PKCS -i "$T/data" -o "$T/x.sig" >"$T/out" 2>&1; then
    not_ok "PKCS#1 v1.5 with an RSA_SIGN_PSS version refused"
else
    ok "PKCS#1 v1.5 with an RSA_SIGN_PSS version refused"
fi
if [ "$(counter AsymmetricSign)" -eq $((before + 2)) ]; then
    ok "two signatures, two asymmetricSign calls (the refused one made none)"
else
    not_ok "$(($(counter AsymmetricSign) - before)) asymmetricSign calls for two signatures"
fi

head -c 40 /dev/urandom >"$T/secret"
check "OpenSSL encrypts to the decrypt key (OAEP SHA-256)" openssl pkeyutl -encrypt -pubin \
    -inkey "$T/p11kms-decrypt-rsa2048.pem" -pkeyopt rsa_padding_mode:oaep \
    -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/secret.enc"
check "pkcs11-tool --decrypt RSA-PKCS-OAEP (asymmetricDecrypt)" p11 --decrypt --id 03 \
    -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/secret.enc" \
    -o "$T/secret.dec"
check "  ...the plaintext" cmp "$T/secret" "$T/secret.dec"
echo "1..$n"
[ "$failures" -eq 0 ]
