#!/bin/sh
# test-s3-server-cli.sh - the AWS CLI and curl (independent S3 clients and SigV4 signers) against
# the loopback S3 server: what `aws s3 cp/ls/rm` and `aws s3api` expect of S3 (single and
# multipart uploads, ranged downloads, metadata, listings, errors, retries, server-side
# encryption headers), and virtual-hosted addressing. Exit 77 without the AWS CLI v2.

AWS_CLI=${AWS_CLI:-/usr/bin/aws}
if [ ! -x "$AWS_CLI" ] || ! "$AWS_CLI" --version 2>&1 | grep -q '^aws-cli/2\.'; then
    echo "# SKIP: AWS CLI v2 not found at $AWS_CLI (Debian: awscli)"
    exit 77
fi
. "$top_srcdir/tests/tool/s3-env.sh"

work=$P11KMS_S3_STATE_DIR/cli
mkdir -p "$work" || exit 99
B=$P11KMS_S3_BUCKET
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
aws() {             # aws ARGS...: the CLI on the server, stdout to $work/out, stderr to $work/err
    "$AWS_CLI" --endpoint-url "$P11KMS_S3_ENDPOINT" "$@" >"$work/out" 2>"$work/err"
}
s3api() {
    aws --output text s3api "$@"
}
fails_with() {      # fails_with CODE ARGS...: the CLI fails and names CODE
    code=$1
    shift
    ! aws "$@" && grep -q "($code)" "$work/err"
}
counter() {
    p11kms_s3_counter "$1"
}
ctl() {
    p11kms_s3_ctl "$@" >/dev/null
}
obj() {             # obj KEY EXPR: EXPR over the server's own record of object KEY (o)
    p11kms_s3_ctl GET "/objects?bucket=$B" |
        p11kms_s3_json "[$2 for o in j['objects'] if o['key'] == '$1'][0]"
}

printf 'p11kms object \000\001\002 with binary bytes\n' >"$work/small.bin"
: >"$work/empty.bin"
head -c 20000001 /dev/urandom >"$work/big.bin" || exit 99

# --- single-part objects -------------------------------------------------------------------
check "s3 cp uploads a small file with metadata" \
    aws s3 cp "$work/small.bin" "s3://$B/dir/small.bin" --metadata format=p11kms,ref=k1
check "s3api head-object reports the length and the metadata" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output json s3api head-object \
        --bucket '$B' --key dir/small.bin | '${PYTHON3:-/usr/bin/python3}' -c '
import json, sys
h = json.load(sys.stdin)
sys.exit(not (h[\"ContentLength\"] == 36 and h[\"Metadata\"] == {\"format\": \"p11kms\", \"ref\": \"k1\"}))'"
check "s3 cp downloads the same bytes" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 cp 's3://$B/dir/small.bin' - |
        cmp -s - '$work/small.bin'"
check "s3api get-object --range returns exactly the range" \
    s3api get-object --bucket "$B" --key dir/small.bin --range bytes=7-12 "$work/range.bin"
check "  ... bytes 7-12" sh -c "[ \"\$(cat '$work/range.bin')\" = 'object' ]"
check "  ... with its Content-Range" grep -q "bytes 7-12/36" "$work/out"
check "s3 cp of an empty file up and down" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --only-show-errors s3 cp \
        '$work/empty.bin' 's3://$B/empty' && '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' \
        --only-show-errors s3 cp 's3://$B/empty' '$work/empty.out' && [ -f '$work/empty.out' ] &&
        [ ! -s '$work/empty.out' ]"

# --- multipart -----------------------------------------------------------------------------
put_before=$(counter PutObject)
check "s3 cp of 20 MB goes up in parts" aws s3 cp "$work/big.bin" "s3://$B/big.bin"
check "  ... one CreateMultipartUpload, three parts, one Complete, no PutObject" \
    [ "$(counter CreateMultipartUpload)" = 1 ] && [ "$(counter UploadPart)" = 3 ] &&
    [ "$(counter CompleteMultipartUpload)" = 1 ] && [ "$(counter PutObject)" = "$put_before" ]
check "  ... the stored object has three parts and S3's multipart ETag" \
    [ "$(obj big.bin "(o['parts'], o['size'], o['etag'].endswith('-3\"'))")" = "(3, 20000001, True)" ]
check "s3 cp downloads it back (ranged GETs) byte for byte" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --only-show-errors s3 cp \
        's3://$B/big.bin' '$work/big.out' && cmp -s '$work/big.out' '$work/big.bin'"
p11kms_s3_ctl GET /requests >"$work/requests"
check "  ... with ranged GETs" grep -q '"range": "bytes=0-8388607"' "$work/requests"

head -c 5242880 /dev/zero >"$work/part1.bin"
check "s3api create-multipart-upload" \
    s3api create-multipart-upload --bucket "$B" --key mp --metadata a=1 --query UploadId
uid=$(cat "$work/out")
check "s3api upload-part 1 (5 MiB) and 2 (36 bytes)" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output text s3api upload-part \
        --bucket '$B' --key mp --upload-id '$uid' --part-number 1 --body '$work/part1.bin' \
        --query ETag >'$work/e1' && '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output \
        text s3api upload-part --bucket '$B' --key mp --upload-id '$uid' --part-number 2 \
        --body '$work/small.bin' --query ETag >'$work/e2'"
check "s3api list-parts shows both" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output text s3api list-parts \
        --bucket '$B' --key mp --upload-id '$uid' --query 'Parts[].Size' | grep -q '5242880.36'"
printf '{"Parts":[{"PartNumber":1,"ETag":%s},{"PartNumber":2,"ETag":%s}]}' \
    "$(sed 's/"/\\"/g; s/.*/"&"/' "$work/e1")" "$(sed 's/"/\\"/g; s/.*/"&"/' "$work/e2")" \
    >"$work/parts.json"
check "s3api complete-multipart-upload" \
    s3api complete-multipart-upload --bucket "$B" --key mp --upload-id "$uid" \
    --multipart-upload "file://$work/parts.json"
check "  ... the object is both parts, metadata from the create" \
    [ "$(obj mp "(o['size'], o['metadata'])")" = "(5242916, {'a': '1'})" ]
check "complete again: NoSuchUpload" \
    fails_with NoSuchUpload s3api complete-multipart-upload --bucket "$B" --key mp \
    --upload-id "$uid" --multipart-upload "file://$work/parts.json"

check "a second upload, then abort" \
    s3api create-multipart-upload --bucket "$B" --key aborted --query UploadId
uid=$(cat "$work/out")
check "  ... upload-part" s3api upload-part --bucket "$B" --key aborted --upload-id "$uid" \
    --part-number 1 --body "$work/small.bin"
check "  ... abort-multipart-upload" \
    s3api abort-multipart-upload --bucket "$B" --key aborted --upload-id "$uid"
check "  ... no upload left, no object" \
    [ "$(p11kms_s3_ctl GET /uploads)" = '{"uploads": []}' ] && [ "$(obj aborted 1 2>&1)" != 1 ]
check "  ... upload-part after the abort: NoSuchUpload" \
    fails_with NoSuchUpload s3api upload-part --bucket "$B" --key aborted --upload-id "$uid" \
    --part-number 2 --body "$work/small.bin"

check "a small first part: EntityTooSmall on complete" \
    s3api create-multipart-upload --bucket "$B" --key small-parts --query UploadId
uid=$(cat "$work/out")
for p in 1 2; do
    "$AWS_CLI" --endpoint-url "$P11KMS_S3_ENDPOINT" --output text s3api upload-part \
        --bucket "$B" --key small-parts --upload-id "$uid" --part-number $p \
        --body "$work/small.bin" --query ETag >"$work/e$p" 2>"$work/err"
done
printf '{"Parts":[{"PartNumber":1,"ETag":%s},{"PartNumber":2,"ETag":%s}]}' \
    "$(sed 's/"/\\"/g; s/.*/"&"/' "$work/e1")" "$(sed 's/"/\\"/g; s/.*/"&"/' "$work/e2")" \
    >"$work/parts.json"
check "  ... refused" fails_with EntityTooSmall s3api complete-multipart-upload --bucket "$B" \
    --key small-parts --upload-id "$uid" --multipart-upload "file://$work/parts.json"
check "  ... the upload stays until aborted" \
    s3api abort-multipart-upload --bucket "$B" --key small-parts --upload-id "$uid"

# --- listings ------------------------------------------------------------------------------
for k in list/a list/b list/c/1 list/c/2 list/d; do
    "$AWS_CLI" --endpoint-url "$P11KMS_S3_ENDPOINT" --only-show-errors s3 cp \
        "$work/small.bin" "s3://$B/$k" 2>"$work/err" || not_ok "put $k"
done
check "s3 ls with a prefix: objects and the common prefix" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls 's3://$B/list/' >'$work/out' &&
        grep -q ' PRE c/\$' '$work/out' && [ \$(grep -c ' 36 ' '$work/out') = 3 ]"
before=$(counter ListObjectsV2)
check "s3api list-objects-v2 pages of 2 (continuation tokens) list all five keys" \
    s3api list-objects-v2 --bucket "$B" --prefix list/ --page-size 2 --query 'Contents[].Key'
check "  ... in order" \
    [ "$(tr -s '\t\n' '  ' <"$work/out" | sed 's/ *$//')" = "list/a list/b list/c/1 list/c/2 list/d" ]
check "  ... in three requests" [ $(($(counter ListObjectsV2) - before)) = 3 ]
check "s3 ls --recursive" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls --recursive 's3://$B/list/c' |
        grep -c 'list/c/' | grep -qx 2"

# --- delete --------------------------------------------------------------------------------
check "s3 rm" aws s3 rm "s3://$B/dir/small.bin"
check "  ... head-object: 404" fails_with 404 s3api head-object --bucket "$B" --key dir/small.bin
check "  ... get-object: NoSuchKey" \
    fails_with NoSuchKey s3api get-object --bucket "$B" --key dir/small.bin "$work/x"
check "s3 rm --recursive (DeleteObjects or DeleteObject for each)" \
    aws s3 rm --recursive "s3://$B/list/"
p11kms_s3_ctl GET "/objects?bucket=$B" >"$work/objects"
check "  ... nothing left under list/" sh -c "! grep -q '\"list/' '$work/objects'"
check "a missing bucket: NoSuchBucket" fails_with NoSuchBucket s3 ls "s3://no-such-bucket/"

# --- authentication ------------------------------------------------------------------------
check "a wrong secret: SignatureDoesNotMatch" \
    sh -c "! AWS_SECRET_ACCESS_KEY=wrong '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls \
        's3://$B' 2>'$work/err' && grep -q SignatureDoesNotMatch '$work/err'"
check "  ... counted as a signature failure" \
    [ "$(p11kms_s3_ctl GET /counters | p11kms_s3_json "j['signature_failures']")" -ge 1 ]
check "an unknown access key: InvalidAccessKeyId" \
    sh -c "! AWS_ACCESS_KEY_ID=AKIDUNKNOWN '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls \
        's3://$B' 2>'$work/err' && grep -q InvalidAccessKeyId '$work/err'"
check "another region: the CLI follows AuthorizationHeaderMalformed's Region to this one" \
    s3api list-objects-v2 --region eu-west-1 --bucket "$B" --query 'KeyCount'
p11kms_s3_ctl GET /counters >"$work/counters"
check "  ... after one refusal" grep -q '"ListObjectsV2 400": 1' "$work/counters"
ctl POST /credentials '{"access_key": "ASIATEMP", "secret": "tempsecret", "token": "tok-1"}'
check "temporary credentials with their session token" \
    sh -c "AWS_ACCESS_KEY_ID=ASIATEMP AWS_SECRET_ACCESS_KEY=tempsecret AWS_SESSION_TOKEN=tok-1 \
        '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls 's3://$B' >/dev/null 2>'$work/err'"
check "  ... without the token: InvalidToken" \
    sh -c "! AWS_ACCESS_KEY_ID=ASIATEMP AWS_SECRET_ACCESS_KEY=tempsecret \
        '$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls 's3://$B' 2>'$work/err' &&
        grep -q InvalidToken '$work/err'"
ctl POST /denials '{"prefix": "secret/", "ops": ["write"]}'
check "a denied write: AccessDenied" \
    fails_with AccessDenied s3api put-object --bucket "$B" --key secret/x --body "$work/small.bin"
ctl DELETE /denials

# --- server-side encryption, retries, tampering --------------------------------------------
check "s3 cp --sse aws:kms" aws s3 cp "$work/small.bin" "s3://$B/sse" --sse aws:kms \
    --sse-kms-key-id alias/p11kms-test
check "  ... head-object reports the encryption and the key" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output text s3api head-object \
        --bucket '$B' --key sse --query '[ServerSideEncryption,SSEKMSKeyId]' |
        grep -q 'aws:kms.alias/p11kms-test'"
ctl POST /faults '{"op": "PutObject", "kind": "slowdown", "count": 2}'
before=$(counter PutObject)
check "two SlowDown answers are retried" aws s3 cp "$work/small.bin" "s3://$B/retried"
check "  ... three PutObject requests" [ $(($(counter PutObject) - before)) = 3 ]
ctl POST /faults '{"op": "UploadPart", "kind": "drop", "count": 1, "skip": 1}'
check "a part whose connection drops is sent again" \
    aws s3 cp "$work/big.bin" "s3://$B/big2.bin"
check "  ... and the object is whole" [ "$(obj big2.bin "o['size']")" = 20000001 ]
ctl POST /faults '{"op": "GetObject", "kind": "internal", "count": 1}'
check "an InternalError on a GET is retried" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 cp 's3://$B/retried' - |
        cmp -s - '$work/small.bin'"
ctl POST /tamper "{\"bucket\": \"$B\", \"key\": \"retried\", \"offset\": 0}"
check "a tampered object comes back with the flipped byte (S3 does not know)" \
    sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' s3 cp 's3://$B/retried' - |
        cmp -s - '$work/small.bin'; [ \$? = 1 ]"

# --- curl: another signer, virtual-hosted addressing ---------------------------------------
if curl --help all 2>/dev/null | grep -q -- --aws-sigv4; then
    check "curl --aws-sigv4 PUT, virtual-hosted (Host: $B.localhost)" \
        sh -c "$(command -v curl) -sS -f --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3 \
            --user '$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY' \
            -H 'x-amz-content-sha256: $(sha256sum "$work/small.bin" | cut -d' ' -f1)' \
            -H 'x-amz-meta-via: curl' -T '$work/small.bin' \
            'http://$B.localhost:$P11KMS_S3_PORT/virtual/key%20with%20space' >'$work/out' \
            2>'$work/err'"
    check "  ... the AWS CLI reads it path-style, metadata included" \
        sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --output text s3api head-object \
            --bucket '$B' --key 'virtual/key with space' --query Metadata.via | grep -qx curl"
    check "curl --aws-sigv4 with a payload hash that is not the body's: XAmzContentSHA256Mismatch" \
        sh -c "$(command -v curl) -sS --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3 \
            --user '$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY' \
            -H 'x-amz-content-sha256: $(sha256sum "$work/empty.bin" | cut -d' ' -f1)' \
            -T '$work/small.bin' '$P11KMS_S3_ENDPOINT/$B/mismatch' >'$work/out' 2>'$work/err' &&
            grep -q XAmzContentSHA256Mismatch '$work/out'"
    check "  ... and nothing was stored" [ "$(obj mismatch 1 2>&1)" != 1 ]
else
    echo "# curl without --aws-sigv4: virtual-hosted checks skipped"
fi

echo "1..$n"
[ "$failures" -eq 0 ]
