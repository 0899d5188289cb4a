#!/bin/sh
# test-server-cli.sh - the AWS CLI (an independent client) against the loopback AWS KMS server:
# round trips, context binding, error codes, retry counts and signature checking.
# Exit 77 when Debian's AWS CLI v2 or the server's Python modules are missing.

AWS_CLI=${AWS_CLI:-/usr/bin/aws}
if [ ! -x "$AWS_CLI" ] || ! "$AWS_CLI" --version 2>&1 | grep -q '^aws-cli/2\.'; then
    echo "# SKIP: AWS CLI v2 not found at $AWS_CLI (Debian: awscli)"
    exit 77
fi
. "$top_srcdir/tests/backends/aws/aws-env.sh"

work=$P11KMS_AWS_STATE_DIR/cli
mkdir -p "$work" || exit 99
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
    [ -f "$work/err" ] && sed 's/^/#   /' "$work/err"
}
check() {           # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
kms() {             # kms ARGS...: run the CLI, stdout to $work/out, stderr to $work/err
    "$AWS_CLI" --endpoint-url "$P11KMS_AWS_ENDPOINT" --output text kms "$@" \
        >"$work/out" 2>"$work/err"
}
fails_with() {      # fails_with CODE ARGS...: the CLI fails and names CODE
    code=$1
    shift
    ! kms "$@" && grep -q "($code)" "$work/err"
}
counter() {
    p11kms_aws_counter "$1"
}

printf 'p11kms data key \000\001\002 with binary bytes' >"$work/pt.bin"
head -c 4097 /dev/zero >"$work/big.bin"
head -c 4096 /dev/zero >"$work/max.bin"
ctx=purpose=test,app=p11

# --- encrypt / decrypt with an encryption context ----------------------------------------
check "encrypt with alias and context" \
    kms encrypt --key-id "$P11KMS_AWS_ALIAS" --plaintext "fileb://$work/pt.bin" \
    --encryption-context "$ctx" --query CiphertextBlob
base64 -d <"$work/out" >"$work/ct.bin"
check "decrypt with the same context (given in another order) returns the plaintext" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' --output text kms decrypt \
        --ciphertext-blob 'fileb://$work/ct.bin' --encryption-context app=p11,purpose=test \
        --query Plaintext | base64 -d | cmp -s - '$work/pt.bin'"
check "decrypt reports the key ARN" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' --output text kms \
        decrypt --ciphertext-blob 'fileb://$work/ct.bin' --encryption-context '$ctx' \
        --query KeyId | grep -qx '$P11KMS_AWS_KEY_ARN'"
check "decrypt without the context: InvalidCiphertextException" \
    fails_with InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/ct.bin"
check "decrypt with a changed context value: InvalidCiphertextException" \
    fails_with InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/ct.bin" \
    --encryption-context purpose=TEST,app=p11
check "decrypt with an extra context pair: InvalidCiphertextException" \
    fails_with InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/ct.bin" \
    --encryption-context "$ctx,extra=1"
check "decrypt naming another key: IncorrectKeyException" \
    fails_with IncorrectKeyException decrypt --ciphertext-blob "fileb://$work/ct.bin" \
    --encryption-context "$ctx" --key-id "$P11KMS_AWS_OTHER_KEY_ID"
check "decrypt naming the right key by ARN works" \
    kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context "$ctx" \
    --key-id "$P11KMS_AWS_KEY_ARN"

# A flipped byte anywhere in the blob must be caught.
"${PYTHON3:-/usr/bin/python3}" -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 1
open(sys.argv[2], "wb").write(b)' "$work/ct.bin" "$work/tampered.bin"
check "tampered blob: InvalidCiphertextException" \
    fails_with InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/tampered.bin" \
    --encryption-context "$ctx"

# --- limits, key states, other operations ------------------------------------------------
check "4096-byte plaintext accepted" \
    kms encrypt --key-id "$P11KMS_AWS_KEY_ID" --plaintext "fileb://$work/max.bin"
check "4097-byte plaintext: ValidationException" \
    fails_with ValidationException encrypt --key-id "$P11KMS_AWS_KEY_ID" \
    --plaintext "fileb://$work/big.bin"
check "encrypt under a disabled key: DisabledException" \
    fails_with DisabledException encrypt --key-id alias/p11kms-disabled \
    --plaintext "fileb://$work/pt.bin"
check "unknown alias: NotFoundException" \
    fails_with NotFoundException encrypt --key-id alias/no-such-key \
    --plaintext "fileb://$work/pt.bin"
check "describe-key shows the disabled state" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' --output text kms describe-key \
        --key-id '$P11KMS_AWS_DISABLED_KEY_ID' --query KeyMetadata.KeyState | grep -qx Disabled"
p11kms_aws_ctl POST /disable "{\"key_id\": \"$P11KMS_AWS_ALIAS\"}" >/dev/null
check "decrypt after the key was disabled: DisabledException" \
    fails_with DisabledException decrypt --ciphertext-blob "fileb://$work/ct.bin" \
    --encryption-context "$ctx"
p11kms_aws_ctl POST /enable "{\"key_id\": \"$P11KMS_AWS_ALIAS\"}" >/dev/null
check "decrypt after re-enabling works" \
    kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context "$ctx"
check "generate-data-key AES_256 gives 32 bytes" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' --output text kms \
        generate-data-key --key-id '$P11KMS_AWS_ALIAS' --key-spec AES_256 \
        --encryption-context '$ctx' --query Plaintext | base64 -d | wc -c | grep -qx 32"
check "re-encrypt moves the blob to the other key and context" \
    kms re-encrypt --ciphertext-blob "fileb://$work/ct.bin" --source-encryption-context "$ctx" \
    --destination-key-id alias/p11kms-other --destination-encryption-context app=other \
    --query CiphertextBlob
base64 -d <"$work/out" >"$work/ct2.bin"
check "the re-encrypted blob decrypts under the new context only" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' --output text kms decrypt \
        --ciphertext-blob 'fileb://$work/ct2.bin' --encryption-context app=other \
        --query Plaintext | base64 -d | cmp -s - '$work/pt.bin' &&
        ! '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms decrypt \
        --ciphertext-blob 'fileb://$work/ct2.bin' --encryption-context '$ctx' 2>/dev/null"

# --- retries: the CLI's standard mode makes 3 attempts ----------------------------------
before=$(counter Encrypt)
p11kms_aws_ctl POST /faults '{"op": "Encrypt", "kind": "throttle", "count": 10}' >/dev/null
check "persistent throttling fails after max retries" \
    sh -c "! '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms encrypt \
        --key-id '$P11KMS_AWS_ALIAS' --plaintext 'fileb://$work/pt.bin' 2>'$work/err' &&
        grep -q 'ThrottlingException.*reached max retries: 2' '$work/err'"
after=$(counter Encrypt)
check "throttled encrypt was attempted 3 times ($before -> $after)" \
    test $((after - before)) -eq 3
p11kms_aws_ctl DELETE /faults >/dev/null

before=$(counter Encrypt)
p11kms_aws_ctl POST /faults '{"op": "Encrypt", "kind": "throttle", "count": 2}' >/dev/null
check "two throttles then success" \
    kms encrypt --key-id "$P11KMS_AWS_ALIAS" --plaintext "fileb://$work/pt.bin"
after=$(counter Encrypt)
check "... after exactly 3 attempts ($before -> $after)" test $((after - before)) -eq 3
conns=$(p11kms_aws_ctl GET /requests | "${PYTHON3:-/usr/bin/python3}" -c '
import json, sys
conns = [str(r["conn"]) for r in json.load(sys.stdin)["requests"] if r["op"] == "Encrypt"]
print(" ".join(conns[-3:]))')
check "... all on one keep-alive connection ($conns)" \
    test "$(echo "$conns" | tr ' ' '\n' | sort -u | wc -l)" -eq 1

before=$(counter Decrypt)
p11kms_aws_ctl POST /faults '{"op": "Decrypt", "kind": "http500", "count": 1}' >/dev/null
check "one 500 then success" \
    kms decrypt --ciphertext-blob "fileb://$work/ct.bin" --encryption-context "$ctx"
after=$(counter Decrypt)
check "... after 2 attempts ($before -> $after)" test $((after - before)) -eq 2

before=$(counter Decrypt)
check "InvalidCiphertextException is not retried" \
    fails_with InvalidCiphertextException decrypt --ciphertext-blob "fileb://$work/ct.bin"
after=$(counter Decrypt)
check "... 1 attempt ($before -> $after)" test $((after - before)) -eq 1

# --- signatures ----------------------------------------------------------------------------
sigfail=$(p11kms_aws_stat signature_failures)
check "a wrong secret key: InvalidSignatureException" \
    sh -c "! AWS_SECRET_ACCESS_KEY=wrong-secret '$AWS_CLI' --endpoint-url \
        '$P11KMS_AWS_ENDPOINT' kms encrypt --key-id '$P11KMS_AWS_ALIAS' \
        --plaintext 'fileb://$work/pt.bin' 2>'$work/err' &&
        grep -q '(InvalidSignatureException)' '$work/err'"
check "... counted as a signature failure" \
    test "$(p11kms_aws_stat signature_failures)" -eq $((sigfail + 1))
check "... and the server logged botocore's canonical request" \
    grep -q -- '--- canonical request (botocore)' "$P11KMS_AWS_LOG"
check "an unknown access key: UnrecognizedClientException" \
    sh -c "! AWS_ACCESS_KEY_ID=AKIDUNKNOWN0000000 '$AWS_CLI' --endpoint-url \
        '$P11KMS_AWS_ENDPOINT' kms encrypt --key-id '$P11KMS_AWS_ALIAS' \
        --plaintext 'fileb://$work/pt.bin' 2>'$work/err' &&
        grep -q '(UnrecognizedClientException)' '$work/err'"
check "a session token with long-term keys: UnrecognizedClientException" \
    sh -c "! AWS_SESSION_TOKEN=bogus '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms \
        encrypt --key-id '$P11KMS_AWS_ALIAS' --plaintext 'fileb://$work/pt.bin' \
        2>'$work/err' && grep -q '(UnrecognizedClientException)' '$work/err'"

# Temporary credentials from the control API: the CLI signs the token and it is checked.
creds=$(p11kms_aws_ctl POST /credentials '{"temporary": true}')
field() {
    echo "$creds" | "${PYTHON3:-/usr/bin/python3}" -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
tmp_akid=$(field AccessKeyId)
tmp_secret=$(field SecretAccessKey)
tmp_token=$(field SessionToken)
check "temporary credentials with their session token work" \
    sh -c "AWS_ACCESS_KEY_ID='$tmp_akid' AWS_SECRET_ACCESS_KEY='$tmp_secret' \
        AWS_SESSION_TOKEN='$tmp_token' '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms \
        describe-key --key-id '$P11KMS_AWS_ALIAS' >/dev/null 2>'$work/err'"
signed=$(p11kms_aws_ctl GET /requests | "${PYTHON3:-/usr/bin/python3}" -c '
import json, sys
mine = [r for r in json.load(sys.stdin)["requests"] if r.get("access_key_id") == sys.argv[1]]
print(bool(mine) and all("x-amz-security-token" in r["signed_headers"] for r in mine))' "$tmp_akid")
check "... and the token was signed" test "$signed" = True
check "temporary credentials without the token: UnrecognizedClientException" \
    sh -c "! AWS_ACCESS_KEY_ID='$tmp_akid' AWS_SECRET_ACCESS_KEY='$tmp_secret' \
        '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms describe-key \
        --key-id '$P11KMS_AWS_ALIAS' 2>'$work/err' &&
        grep -q '(UnrecognizedClientException)' '$work/err'"
p11kms_aws_ctl POST /expire-credentials "{\"access_key_id\": \"$tmp_akid\"}" >/dev/null
check "expired temporary credentials: ExpiredTokenException" \
    sh -c "! AWS_ACCESS_KEY_ID='$tmp_akid' AWS_SECRET_ACCESS_KEY='$tmp_secret' \
        AWS_SESSION_TOKEN='$tmp_token' '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms \
        describe-key --key-id '$P11KMS_AWS_ALIAS' 2>'$work/err' &&
        grep -q '(ExpiredTokenException)' '$work/err'"

# libcurl's own SigV4 signer (the HTTP stack the module uses) is a third independent client.
curl_kms() {        # curl_kms AKID SECRET [TOKEN]: Encrypt through curl --aws-sigv4
    curl -sS --noproxy '*' --aws-sigv4 "aws:amz:us-east-1:kms" --user "$1:$2" \
        ${3:+-H "X-Amz-Security-Token: $3"} -H 'X-Amz-Target: TrentService.Encrypt' \
        -H 'Content-Type: application/x-amz-json-1.1' -o "$work/out" -w '%{http_code}' \
        -d "{\"KeyId\": \"$P11KMS_AWS_ALIAS\", \"Plaintext\": \"aGVsbG8=\"}" \
        "$P11KMS_AWS_ENDPOINT/"
}
check "curl --aws-sigv4 with long-term keys" \
    test "$(curl_kms "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY")" = 200
check "curl --aws-sigv4 with a wrong secret: 400 InvalidSignatureException" \
    sh -c "test \"\$(curl -sS --noproxy '*' --aws-sigv4 aws:amz:us-east-1:kms \
        --user '$AWS_ACCESS_KEY_ID:wrong' -H 'X-Amz-Target: TrentService.Encrypt' \
        -H 'Content-Type: application/x-amz-json-1.1' -d '{}' -o '$work/out' \
        -w '%{http_code}' '$P11KMS_AWS_ENDPOINT/')\" = 400 &&
        grep -q InvalidSignatureException '$work/out'"
creds=$(p11kms_aws_ctl POST /credentials '{"temporary": true}')
check "curl --aws-sigv4 with temporary credentials and a signed token" \
    test "$(curl_kms "$(field AccessKeyId)" "$(field SecretAccessKey)" \
        "$(field SessionToken)")" = 200

# Clock skew: move the server clock 20 minutes; the CLI's signature is then too old.
p11kms_aws_ctl POST /config '{"clock_offset_seconds": 1200}' >/dev/null
check "X-Amz-Date 20 minutes behind the server: InvalidSignatureException (expired)" \
    sh -c "! '$AWS_CLI' --endpoint-url '$P11KMS_AWS_ENDPOINT' kms describe-key \
        --key-id '$P11KMS_AWS_ALIAS' 2>'$work/err' &&
        grep -q '(InvalidSignatureException).*Signature expired' '$work/err'"
p11kms_aws_ctl POST /config '{"clock_offset_seconds": 600}' >/dev/null
check "10 minutes of skew is tolerated" \
    kms describe-key --key-id "$P11KMS_AWS_ALIAS"
p11kms_aws_ctl POST /config '{"clock_offset_seconds": 0}' >/dev/null

echo "1..$n"
[ "$failures" -eq 0 ] || exit 1
exit 0
