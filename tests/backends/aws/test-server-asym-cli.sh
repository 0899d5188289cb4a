#!/bin/sh
# test-server-asym-cli.sh - the AWS CLI against the loopback AWS KMS server's asymmetric keys:
# create keys of every spec and usage, sign RAW and DIGEST with every algorithm, RSA-OAEP both
# ways; every signature and ciphertext checked by the openssl CLI; error codes; and every answer
# the CLI got checked against the model the CLI itself loads.
# Exit 77 when Debian's AWS CLI v2, openssl or the server's Python modules are missing.

AWS_CLI=${AWS_CLI:-/usr/bin/aws}
if [ ! -x "$AWS_CLI" ] || ! "$AWS_CLI" --version 2>&1 | grep -q '^aws-cli/2\.'; then
    echo "# SKIP: AWS CLI v2 not found at $AWS_CLI (Debian: awscli)"
    exit 77
fi
if ! command -v openssl >/dev/null 2>&1; then
    echo "# SKIP: the openssl CLI is missing (Debian: openssl)"
    exit 77
fi
. "$top_srcdir/tests/backends/aws/aws-env.sh"
py=${PYTHON3:-/usr/bin/python3}

work=$P11KMS_AWS_STATE_DIR/asym-cli
mkdir -p "$work" || exit 99
: >"$work/debug.log"
failures=0
n=0

ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failures=$((failures + 1))
    echo "not ok $n - $1"
    [ -f "$work/err" ] && grep -v ' - DEBUG - \|^b'"'"'\|^$' "$work/err" | tail -n 5 |
        sed 's/^/#   /'
}
check() {           # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
kms() {             # kms ARGS...: the CLI with --debug; stdout to $work/out, the log kept
    "$AWS_CLI" --debug --endpoint-url "$P11KMS_AWS_ENDPOINT" --output text kms "$@" \
        >"$work/out" 2>"$work/err"
    rc=$?
    cat "$work/err" >>"$work/debug.log"
    return $rc
}
out_is() {          # out_is TEXT: the last CLI output is exactly TEXT
    [ "$(cat "$work/out")" = "$1" ]
}
fails_with() {      # fails_with CODE ARGS...: the CLI fails and names CODE
    code=$1
    shift
    ! kms "$@" && grep -q "An error occurred ($code)" "$work/err"
}
b64_out_to() {      # b64_out_to FILE: the last CLI output, base64-decoded, into FILE
    base64 -d <"$work/out" >"$1"
}
hash_of() {         # hash_of ALGORITHM: sha1, sha256, sha384 or sha512
    echo "sha${1##*_}"
}
pss_opts() {        # pss_opts FLAG ALGORITHM: OpenSSL options of AWS's PSS (salt = hash length)
    case $2 in
    *_PSS_*)
        h=$(hash_of "$2")
        echo "$1 rsa_padding_mode:pss $1 rsa_pss_saltlen:$((${h#sha} / 8)) $1 rsa_mgf1_md:$h" ;;
    esac
}
oaep_opts() {
    h=$(hash_of "$1")
    echo "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:$h -pkeyopt rsa_mgf1_md:$h"
}
private_pem() {     # private_pem KEYID FILE: the server's private key (keys.json) as PEM
    "$py" -c '
import base64, json, sys
keys = {k["key_id"]: k for k in json.load(open(sys.argv[1]))["keys"]}
sys.stdout.buffer.write(base64.b64decode(keys[sys.argv[2]]["private_key"]))' \
        "$P11KMS_AWS_STATE_DIR/keys.json" "$1" >"$work/priv.der" &&
        openssl pkey -inform DER -in "$work/priv.der" -out "$2"
}

head -c 3000 /dev/urandom >"$work/msg.bin"
RSA_SIGNING="RSASSA_PKCS1_V1_5_SHA_256	RSASSA_PKCS1_V1_5_SHA_384	RSASSA_PKCS1_V1_5_SHA_512	\
RSASSA_PSS_SHA_256	RSASSA_PSS_SHA_384	RSASSA_PSS_SHA_512"
RSA_ENCRYPTION="RSAES_OAEP_SHA_1	RSAES_OAEP_SHA_256"

# --- keys of every spec and usage ---------------------------------------------------------
expected_algs() {   # expected_algs SPEC USAGE: AWS's list, tab-separated as the CLI prints it
    case "$1 $2" in
    "RSA_"*" SIGN_VERIFY") echo "$RSA_SIGNING" ;;
    "RSA_"*" ENCRYPT_DECRYPT") echo "$RSA_ENCRYPTION" ;;
    "ECC_NIST_P256 "* | "ECC_SECG_P256K1 "*) echo ECDSA_SHA_256 ;;
    "ECC_NIST_P384 "*) echo ECDSA_SHA_384 ;;
    "ECC_NIST_P521 "*) echo ECDSA_SHA_512 ;;
    esac
}
openssl_text() {    # openssl_text SPEC: what `openssl pkey -text` shows for the key
    case $1 in
    RSA_*) echo "Public-Key: (${1#RSA_} bit)" ;;
    ECC_NIST_P256) echo "ASN1 OID: prime256v1" ;;
    ECC_NIST_P384) echo "ASN1 OID: secp384r1" ;;
    ECC_NIST_P521) echo "ASN1 OID: secp521r1" ;;
    ECC_SECG_P256K1) echo "ASN1 OID: secp256k1" ;;
    esac
}
for pair in RSA_2048:SIGN_VERIFY RSA_3072:SIGN_VERIFY RSA_4096:SIGN_VERIFY \
    RSA_2048:ENCRYPT_DECRYPT RSA_3072:ENCRYPT_DECRYPT RSA_4096:ENCRYPT_DECRYPT \
    ECC_NIST_P256:SIGN_VERIFY ECC_NIST_P384:SIGN_VERIFY ECC_NIST_P521:SIGN_VERIFY \
    ECC_SECG_P256K1:SIGN_VERIFY; do
    spec=${pair%:*}
    usage=${pair#*:}
    tag=$spec-$usage
    if [ "$usage" = SIGN_VERIFY ]; then
        list=SigningAlgorithms
        other=EncryptionAlgorithms
    else
        list=EncryptionAlgorithms
        other=SigningAlgorithms
    fi
    check "create-key $spec $usage" \
        kms create-key --key-spec "$spec" --key-usage "$usage" --description "cli $tag" \
        --query KeyMetadata.KeyId
    key_id=$(cat "$work/out")
    echo "$key_id" >"$work/$tag.id"
    kms describe-key --key-id "$key_id" --query "KeyMetadata.[KeySpec,KeyUsage,KeyState]"
    check "describe-key $tag: spec, usage, enabled" out_is "$spec	$usage	Enabled"
    kms describe-key --key-id "$key_id" --query "KeyMetadata.$list"
    check "describe-key $tag: $list as AWS lists them" out_is "$(expected_algs "$spec" "$usage")"
    kms describe-key --key-id "$key_id" --query "KeyMetadata.$other"
    check "describe-key $tag: no $other" out_is None
    kms get-public-key --key-id "$key_id" --query "[KeySpec,KeyUsage]"
    check "get-public-key $tag: spec and usage" out_is "$spec	$usage"
    kms get-public-key --key-id "$key_id" --query "$list"
    check "get-public-key $tag: $list" out_is "$(expected_algs "$spec" "$usage")"
    kms get-public-key --key-id "$key_id" --query PublicKey
    b64_out_to "$work/$tag.der"
    check "OpenSSL reads the $tag public key (DER SubjectPublicKeyInfo)" \
        sh -c "openssl pkey -pubin -inform DER -in '$work/$tag.der' -out '$work/$tag.pem' &&
            openssl pkey -pubin -in '$work/$tag.pem' -text -noout |
            grep -qF '$(openssl_text "$spec")'"
done

# --- signatures ---------------------------------------------------------------------------
# sign_and_check KEYREF PEM ALGORITHM: sign RAW and DIGEST; kms verify and OpenSSL verify each.
sign_and_check() {
    key=$1
    pem=$2
    alg=$3
    h=$(hash_of "$alg")
    openssl dgst "-$h" -binary -out "$work/digest.bin" "$work/msg.bin"
    for mtype in RAW DIGEST; do
        input=$work/msg.bin
        [ "$mtype" = DIGEST ] && input=$work/digest.bin
        what="$key $alg $mtype"
        if kms sign --key-id "$key" --message "fileb://$input" --message-type "$mtype" \
            --signing-algorithm "$alg" --query Signature; then
            b64_out_to "$work/sig.bin"
            ok "sign $what"
        else
            not_ok "sign $what"
            continue
        fi
        kms verify --key-id "$key" --message "fileb://$input" --message-type "$mtype" \
            --signature "fileb://$work/sig.bin" --signing-algorithm "$alg" \
            --query SignatureValid
        check "verify $what: True" out_is True
        # shellcheck disable=SC2046
        check "OpenSSL dgst verifies $what over the message" \
            sh -c "openssl dgst -$h -verify '$pem' -signature '$work/sig.bin' \
                $(pss_opts -sigopt "$alg") '$work/msg.bin' | grep -q 'Verified OK'"
        check "OpenSSL pkeyutl verifies $what over the digest" \
            sh -c "openssl pkeyutl -verify -pubin -inkey '$pem' -in '$work/digest.bin' \
                -sigfile '$work/sig.bin' -pkeyopt digest:$h $(pss_opts -pkeyopt "$alg") |
                grep -q 'Signature Verified Successfully'"
    done
    { cat "$work/msg.bin" && printf 'x'; } >"$work/changed.bin"
    check "OpenSSL refuses the $key $alg signature for a changed message" \
        sh -c "! openssl dgst -$h -verify '$pem' -signature '$work/sig.bin' \
            $(pss_opts -sigopt "$alg") '$work/changed.bin' >/dev/null 2>&1"
}

rsa2048=$(cat "$work/RSA_2048-SIGN_VERIFY.id")
for alg in $RSA_SIGNING; do
    sign_and_check "$rsa2048" "$work/RSA_2048-SIGN_VERIFY.pem" "$alg"
done
sign_and_check "$(cat "$work/RSA_3072-SIGN_VERIFY.id")" "$work/RSA_3072-SIGN_VERIFY.pem" \
    RSASSA_PKCS1_V1_5_SHA_384
sign_and_check "$(cat "$work/RSA_4096-SIGN_VERIFY.id")" "$work/RSA_4096-SIGN_VERIFY.pem" \
    RSASSA_PSS_SHA_512
for spec in ECC_NIST_P256 ECC_NIST_P384 ECC_NIST_P521 ECC_SECG_P256K1; do
    sign_and_check "$(cat "$work/$spec-SIGN_VERIFY.id")" "$work/$spec-SIGN_VERIFY.pem" \
        "$(expected_algs "$spec" SIGN_VERIFY)"
done
for pre in ec-p256:ECDSA_SHA_256 ec-p384:ECDSA_SHA_384 rsa-3072:RSASSA_PSS_SHA_256; do
    alias=alias/p11kms-${pre%:*}
    kms get-public-key --key-id "$alias" --query PublicKey
    b64_out_to "$work/pre.der"
    openssl pkey -pubin -inform DER -in "$work/pre.der" -out "$work/pre.pem"
    sign_and_check "$alias" "$work/pre.pem" "${pre#*:}"
done

# --- RSA-OAEP both ways -------------------------------------------------------------------
oaep_both_ways() {  # oaep_both_ways KEYID PEM BITS
    private_pem "$1" "$work/priv.pem"
    for alg in $RSA_ENCRYPTION; do
        h=$(hash_of "$alg")
        hlen=$((${h#sha} / 8))
        [ "$h" = sha1 ] && hlen=20
        limit=$(($3 / 8 - 2 * hlen - 2))
        head -c "$limit" /dev/urandom >"$work/pt.bin"
        # shellcheck disable=SC2046
        openssl pkeyutl -encrypt -pubin -inkey "$2" $(oaep_opts "$alg") \
            -in "$work/pt.bin" -out "$work/ct.bin"
        kms decrypt --key-id "$1" --ciphertext-blob "fileb://$work/ct.bin" \
            --encryption-algorithm "$alg" --query Plaintext
        check "$1 $alg: OpenSSL encrypts $limit bytes, aws kms decrypt returns them" \
            sh -c "base64 -d <'$work/out' | cmp -s - '$work/pt.bin'"
        kms encrypt --key-id "$1" --plaintext "fileb://$work/pt.bin" \
            --encryption-algorithm "$alg" --query CiphertextBlob
        b64_out_to "$work/ct2.bin"
        # shellcheck disable=SC2046
        check "$1 $alg: aws kms encrypt, OpenSSL decrypts with the private key" \
            sh -c "test \$(wc -c <'$work/ct2.bin') -eq $(($3 / 8)) &&
                openssl pkeyutl -decrypt -inkey '$work/priv.pem' $(oaep_opts "$alg") \
                -in '$work/ct2.bin' | cmp -s - '$work/pt.bin'"
        head -c $((limit + 1)) /dev/urandom >"$work/big.bin"
        check "$1 $alg: $((limit + 1)) bytes are too many (ValidationException)" \
            fails_with ValidationException encrypt --key-id "$1" \
            --plaintext "fileb://$work/big.bin" --encryption-algorithm "$alg"
    done
}
kms get-public-key --key-id alias/p11kms-rsa-2048-enc --query PublicKey
b64_out_to "$work/enc.der"
openssl pkey -pubin -inform DER -in "$work/enc.der" -out "$work/enc.pem"
oaep_both_ways 77777777-7777-4777-8777-777777772048 "$work/enc.pem" 2048
oaep_both_ways "$(cat "$work/RSA_3072-ENCRYPT_DECRYPT.id")" \
    "$work/RSA_3072-ENCRYPT_DECRYPT.pem" 3072

# --- error codes --------------------------------------------------------------------------
enc=alias/p11kms-rsa-2048-enc
p256=alias/p11kms-ec-p256
printf 'short message' >"$work/m.bin"
head -c 31 /dev/zero >"$work/d31.bin"
check "sign with an ENCRYPT_DECRYPT key: InvalidKeyUsageException" \
    fails_with InvalidKeyUsageException sign --key-id "$enc" --message "fileb://$work/m.bin" \
    --signing-algorithm RSASSA_PSS_SHA_256
check "ECDSA_SHA_384 with a P-256 key: InvalidKeyUsageException" \
    fails_with InvalidKeyUsageException sign --key-id "$p256" --message "fileb://$work/m.bin" \
    --signing-algorithm ECDSA_SHA_384
check "a 31-byte DIGEST for ECDSA_SHA_256: ValidationException" \
    fails_with ValidationException sign --key-id "$p256" --message "fileb://$work/d31.bin" \
    --message-type DIGEST --signing-algorithm ECDSA_SHA_256
kms sign --key-id "$p256" --message "fileb://$work/m.bin" --signing-algorithm ECDSA_SHA_256 \
    --query Signature
b64_out_to "$work/p256.sig"
check "verify a signature for another message: KMSInvalidSignatureException" \
    fails_with KMSInvalidSignatureException verify --key-id "$p256" \
    --message "fileb://$work/msg.bin" --signature "fileb://$work/p256.sig" \
    --signing-algorithm ECDSA_SHA_256
printf 'x' >"$work/x.bin"
check "encrypt with an EncryptionContext on an RSA key: ValidationException" \
    fails_with ValidationException encrypt --key-id "$enc" --plaintext "fileb://$work/x.bin" \
    --encryption-algorithm RSAES_OAEP_SHA_256 --encryption-context purpose=test
check "encrypt with an RSA key and no algorithm: InvalidKeyUsageException" \
    fails_with InvalidKeyUsageException encrypt --key-id "$enc" --plaintext "fileb://$work/x.bin"
check "decrypt with an RSA algorithm and no key id: ValidationException" \
    fails_with ValidationException decrypt --ciphertext-blob "fileb://$work/ct.bin" \
    --encryption-algorithm RSAES_OAEP_SHA_256
check "encrypt with a SIGN_VERIFY key: InvalidKeyUsageException" \
    fails_with InvalidKeyUsageException encrypt --key-id "$rsa2048" \
    --plaintext "fileb://$work/x.bin" --encryption-algorithm RSAES_OAEP_SHA_256
check "get-public-key of a symmetric key: UnsupportedOperationException" \
    fails_with UnsupportedOperationException get-public-key --key-id "$P11KMS_AWS_ALIAS"
check "create-key ECC_NIST_P256 for ENCRYPT_DECRYPT: ValidationException" \
    fails_with ValidationException create-key --key-spec ECC_NIST_P256 \
    --key-usage ENCRYPT_DECRYPT
check "create-key RSA_2048 without a key usage: ValidationException" \
    fails_with ValidationException create-key --key-spec RSA_2048
check "create-key SYMMETRIC_DEFAULT for SIGN_VERIFY: ValidationException" \
    fails_with ValidationException create-key --key-usage SIGN_VERIFY

# --- retries on the new operations --------------------------------------------------------
before=$(p11kms_aws_counter Sign)
p11kms_aws_ctl POST /faults '{"op": "Sign", "kind": "throttle", "count": 10}' >/dev/null
check "a throttled sign fails after max retries" \
    sh -c "! '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms sign --key-id '$p256' \
        --message 'fileb://$work/m.bin' --signing-algorithm ECDSA_SHA_256 2>'$work/err' &&
        grep -q 'ThrottlingException.*reached max retries: 2' '$work/err'"
after=$(p11kms_aws_counter Sign)
check "... after 3 attempts ($before -> $after)" test $((after - before)) -eq 3
p11kms_aws_ctl DELETE /faults >/dev/null

# --- every answer the CLI got, against the model the CLI loads ---------------------------
"$py" "$top_srcdir/tests/servers/aws_kms_shapes.py" "$work/debug.log" >"$work/shapes" 2>&1
rc=$?
check "every answer fits the AWS CLI's KMS model ($(head -n 1 "$work/shapes"))" test $rc -eq 0
grep MISMATCH "$work/shapes" | head -n 10 | sed 's/^/# /'
for op in CreateKey DescribeKey GetPublicKey Sign Verify Encrypt Decrypt; do
    check "... $op answers among them ($(grep -c "^checked $op\$" "$work/shapes"))" \
        grep -q "^checked $op\$" "$work/shapes"
done

echo "1..$n"
[ "$failures" -eq 0 ] || exit 1
exit 0
