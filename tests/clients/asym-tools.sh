#!/bin/sh
# asym-tools.sh - asymmetric local keys (p11kms keygen --type) through OpenSC pkcs11-tool and
# GnuTLS p11tool: the objects they list, --sign then --verify (and OpenSSL verifying the same
# signature with the public key taken from the key file, independently of the module),
# pkcs11-tool --test and p11tool --test-sign.
. "$top_srcdir/tests/clients/common.sh"
clients_init asym-tools
clients_need pkcs11-tool openssl
. "$top_srcdir/tests/clients/asym-common.sh"
asym_config

p11() {
    pkcs11-tool --module "$MODULE" --token-label tls "$@"
}

check "pkcs11-tool lists the objects" p11 -O
for what in "Private Key Object; EC" "Public Key Object; EC" "Private Key Object; RSA" \
    "Public Key Object; RSA 2048 bits" "Certificate Object; type = X.509 cert" \
    "never extractable" "Allowed mechanisms: ECDSA,ECDSA-SHA256"; do
    expect_out "  ...\"$what\"" "$what"
done

printf 'a message to sign, %s\n' "$(date)" >"$T/data"
openssl dgst -sha256 -binary "$T/data" >"$T/data.sha256"

# ECDSA-SHA256 (pkcs11-tool writes r||s; --signature-format openssl gives DER for OpenSSL)
check "pkcs11-tool --sign ECDSA-SHA256" p11 --sign --id 01 -m ECDSA-SHA256 -i "$T/data" \
    -o "$T/ec.sig" --signature-format openssl
check "openssl verifies it with the key file's public key" \
    openssl dgst -sha256 -verify "$T/ec.pub" -signature "$T/ec.sig" "$T/data"
check "pkcs11-tool --verify ECDSA-SHA256" p11 --verify --id 01 -m ECDSA-SHA256 -i "$T/data" \
    --signature-file "$T/ec.sig" --signature-format openssl
expect_out "  ...Signature is valid" "Signature is valid"
printf 'another message\n' >"$T/other"
if p11 --verify --id 01 -m ECDSA-SHA256 -i "$T/other" --signature-file "$T/ec.sig" \
    --signature-format openssl >"$T/out" 2>&1 && grep -q "Signature is valid" "$T/out"; then
    fail "pkcs11-tool --verify accepted the signature of another message"
else
    pass "pkcs11-tool --verify refuses the signature of another message"
fi

# RSA: PKCS#1 v1.5 and PSS with SHA-256
check "pkcs11-tool --sign SHA256-RSA-PKCS" p11 --sign --id 02 -m SHA256-RSA-PKCS -i "$T/data" \
    -o "$T/rsa.sig"
check "openssl verifies the PKCS#1 v1.5 signature" \
    openssl dgst -sha256 -verify "$T/rsa.pub" -signature "$T/rsa.sig" "$T/data"
check "pkcs11-tool --sign SHA256-RSA-PKCS-PSS" p11 --sign --id 02 -m SHA256-RSA-PKCS-PSS \
    -i "$T/data" -o "$T/pss.sig"
check "openssl verifies the PSS signature (salt = digest length)" \
    openssl dgst -sha256 -verify "$T/rsa.pub" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:digest -signature "$T/pss.sig" "$T/data"
check "pkcs11-tool --verify SHA256-RSA-PKCS-PSS" p11 --verify --id 02 -m SHA256-RSA-PKCS-PSS \
    -i "$T/data" --signature-file "$T/pss.sig"
expect_out "  ...Signature is valid" "Signature is valid"

# RSA-OAEP: OpenSSL encrypts to the public key, the module decrypts
head -c 32 /dev/urandom >"$T/secret"
check "openssl encrypts with RSA-OAEP SHA-256" openssl pkeyutl -encrypt -pubin -inkey "$T/rsa.pub" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
    -in "$T/secret" -out "$T/secret.enc"
check "pkcs11-tool --decrypt RSA-PKCS-OAEP SHA-256" p11 --decrypt --id 02 -m RSA-PKCS-OAEP \
    --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$T/secret.enc" -o "$T/secret.dec"
same_file "  ...the plaintext" "$T/secret" "$T/secret.dec"

# --test on a token with EC keys only: pkcs11-tool's RSA sign test signs a SHA-1 DigestInfo,
# which a KMS does not sign (refused, see README); its EC tests run here.
check "pkcs11-tool --test (EC token)" pkcs11-tool --module "$MODULE" --token-label ec-only --test
expect_out "  ...no errors" "No errors"

case "${LD_PRELOAD:-}" in
*libasan*) p11tool_ok=0 ;; # hangs with the ASan runtime preloaded: see p11tool.sh
*) p11tool_ok=1 ;;
esac
if [ $p11tool_ok -eq 0 ]; then
    echo "# p11tool checks skipped: p11tool cannot run with the ASan runtime (see p11tool.sh)"
elif command -v p11tool >/dev/null 2>&1; then
    # p11tool needs the module registered; --provider names it directly
    check "p11tool --list-all" p11tool --provider "$MODULE" --list-all "pkcs11:token=tls"
    expect_out "  ...the EC private key" "Type: Private key (EC/ECDSA"
    expect_out "  ...the certificate" "Type: X.509 Certificate"
    check "p11tool --test-sign (EC)" p11tool --provider "$MODULE" --test-sign \
        "pkcs11:token=tls;object=ec;type=private"
    expect_out "  ...verified" "Verifying against public key in the token"
    check "p11tool --test-sign (RSA)" p11tool --provider "$MODULE" --test-sign \
        "pkcs11:token=tls;object=rsa;type=private"
else
    echo "# p11tool not installed: its checks skipped"
fi
clients_done
