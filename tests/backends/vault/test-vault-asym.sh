#!/bin/sh
# test-vault-asym.sh - asymmetric Vault transit keys through the module against the loopback
# Vault test server: the public keys fetched first with curl from transit/keys/NAME (the
# reference, independent of the module); test-vault-asym checks the module against them through
# the function list; then pkcs11-tool signs (ECDSA, PKCS#1 v1.5, PSS) and verifies through the
# module, OpenSSL verifies every signature with the fetched key, and pkcs11-tool decrypts
# RSA-OAEP SHA-256. The module's log must hold no token.
for prog in openssl curl; do
    command -v $prog >/dev/null 2>&1 || { echo "# SKIP: $prog is missing"; exit 77; }
done
. "$top_srcdir/tests/backends/vault/vault-env.sh"
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
T=$P11KMS_VAULT_STATE_DIR/asym
P11KMS_TEST_PUBDIR=$T
export P11KMS_TEST_PUBDIR
mkdir -p "$T" || exit 99
. "$top_srcdir/tests/backends/tap.sh"

# fetch NAME [VERSION]: the public key PEM of the latest (or the given) version into $T/NAME.pem
fetch() {
    curl -sS --noproxy '*' --fail -H "X-Vault-Token: $P11KMS_VAULT_ROOT_TOKEN" \
        "$P11KMS_VAULT_ADDR/v1/transit/keys/$1" | "$p11kms_vault_py" -c '
import json, sys
d = json.load(sys.stdin)["data"]
v = sys.argv[1] or str(d["latest_version"])
sys.stdout.write(d["keys"][v]["public_key"])' "${2:-}" >"$T/$1.pem" &&
        openssl pkey -pubin -in "$T/$1.pem" -noout
}
for k in p11kms-ec256 p11kms-ec384 p11kms-ec521 p11kms-rsa2048 p11kms-rsa3072; do
    check "curl fetches the public key of $k" fetch $k
done

P11KMS_LOG=${P11KMS_LOG:-info}
VAULT_TOKEN=$P11KMS_VAULT_APP_TOKEN
export P11KMS_LOG VAULT_TOKEN
log=$P11KMS_VAULT_STATE_DIR/module.log
if ${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/vault/test-vault-asym" 2>"$log"; then
    ok "test-vault-asym (the function list)"
else
    not_ok "test-vault-asym (the function list)"
fi
sed 's/^/# /' "$log"
if grep -qF -- "$P11KMS_VAULT_APP_TOKEN" "$log"; then
    not_ok "the module's log holds no token"
else
    ok "the module's log holds no token"
fi

# ---- pkcs11-tool ----------------------------------------------------------------------------
if ! command -v pkcs11-tool >/dev/null 2>&1; then
    echo "# pkcs11-tool is missing: its part is skipped"
    echo "1..$n"
    [ "$failures" -eq 0 ]
    exit
fi
cat >"$T/p11kms.conf" <<CONF
{"backends": {"vault": {"endpoint": "$P11KMS_VAULT_ADDR"}},
 "tokens": [{"label": "vault", "keys": [
  {"label": "ec", "backend": "vault", "type": "ec-p256", "key_id": "p11kms-ec256", "id": "01"},
  {"label": "rsa", "backend": "vault", "type": "rsa-2048", "key_id": "p11kms-rsa2048",
   "permissions": ["sign", "decrypt"], "id": "02"}]}]}
CONF
chmod 600 "$T/p11kms.conf"
P11KMS_CONFIG=$T/p11kms.conf
P11KMS_LOG=warning
export P11KMS_CONFIG P11KMS_LOG
SAN_LIBS=$(ldd "$MODULE" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
p11() {
    if [ -n "$SAN_LIBS" ]; then
        LD_PRELOAD="$SAN_LIBS${LD_PRELOAD:-}" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
            pkcs11-tool --module "$MODULE" --token-label vault "$@"
    else
        pkcs11-tool --module "$MODULE" --token-label vault "$@"
    fi
}
before=$(p11kms_vault_counter keys-read)
check "pkcs11-tool lists the slots (C_Initialize)" p11 -L
if [ "$(p11kms_vault_counter keys-read)" -eq "$before" ]; then
    ok "  ...no Vault key read at C_Initialize"
else
    not_ok "  ...a Vault key read at C_Initialize"
fi
check "pkcs11-tool lists the objects" p11 -O
if grep -q "Public Key Object; RSA 2048 bits" "$T/out" && grep -q "Private Key Object; EC" "$T/out"; then
    ok "  ...the private and public keys"
else
    not_ok "  ...the private and public keys"
fi

printf 'signed by Vault transit %s\n' "$(date)" >"$T/data"
before=$(p11kms_vault_counter sign)
check "pkcs11-tool --sign ECDSA-SHA256 (transit/sign)" p11 --sign --id 01 -m ECDSA-SHA256 \
    -i "$T/data" -o "$T/ec.sig" --signature-format openssl
check "  ...OpenSSL verifies it with Vault's public key" openssl dgst -sha256 \
    -verify "$T/p11kms-ec256.pem" -signature "$T/ec.sig" "$T/data"
check "  ...pkcs11-tool --verify" p11 --verify --id 01 -m ECDSA-SHA256 -i "$T/data" \
    --signature-file "$T/ec.sig" --signature-format openssl
check "pkcs11-tool --sign SHA256-RSA-PKCS" p11 --sign --id 02 -m SHA256-RSA-PKCS -i "$T/data" \
    -o "$T/rsa.sig"
check "  ...OpenSSL verifies it" openssl dgst -sha256 -verify "$T/p11kms-rsa2048.pem" \
    -signature "$T/rsa.sig" "$T/data"
check "  ...pkcs11-tool --verify" p11 --verify --id 02 -m SHA256-RSA-PKCS -i "$T/data" \
    --signature-file "$T/rsa.sig"
check "pkcs11-tool --sign SHA384-RSA-PKCS-PSS" p11 --sign --id 02 -m SHA384-RSA-PKCS-PSS \
    -i "$T/data" -o "$T/pss.sig"
check "  ...OpenSSL verifies it (salt = 48)" openssl dgst -sha384 -verify "$T/p11kms-rsa2048.pem" \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48 -signature "$T/pss.sig" "$T/data"
if [ "$(p11kms_vault_counter sign)" -eq $((before + 3)) ]; then
    ok "three signatures, three transit/sign calls"
else
    not_ok "$(($(p11kms_vault_counter sign) - before)) transit/sign calls for three signatures"
fi

head -c 40 /dev/urandom >"$T/secret"
check "OpenSSL encrypts to the Vault key (OAEP SHA-256)" openssl pkeyutl -encrypt -pubin \
    -inkey "$T/p11kms-rsa2048.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 \
    -pkeyopt rsa_mgf1_md:sha256 -in "$T/secret" -out "$T/secret.enc"
check "pkcs11-tool --decrypt RSA-PKCS-OAEP (transit/decrypt)" p11 --decrypt --id 02 \
    -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/secret.enc" \
    -o "$T/secret.dec"
check "  ...the plaintext" cmp "$T/secret" "$T/secret.dec"
if p11 --decrypt --id 02 -m RSA-PKCS-OAEP --hash-algorithm SHA-1 --mgf MGF1-SHA1 \
    -i "$T/secret.enc" -o "$T/x" >"$T/out" 2>&1; then
    not_ok "OAEP with SHA-1 refused (Vault decrypts with SHA-256 only)"
else
    ok "OAEP with SHA-1 refused (Vault decrypts with SHA-256 only)"
fi
echo "1..$n"
[ "$failures" -eq 0 ]
