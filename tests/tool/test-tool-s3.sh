#!/bin/sh
# test-tool-s3.sh - "p11kms s3 ls" and "p11kms s3 rm" against the loopback S3 server: listings
# (prefixes, paging, keys that need encoding), removal, addressing styles, the AWS credential
# chain and region rules reused from the AWS backend, retries, and one line per failure.
# Objects are put there with the AWS CLI when it is installed, else with curl --aws-sigv4.
. "$top_srcdir/tests/tool/s3-env.sh"

TOOL="$top_builddir/p11kms"
unset P11KMS_CONFIG P11KMS_LOG
work=$P11KMS_S3_STATE_DIR/tool
mkdir -p "$work" || exit 99
B=$P11KMS_S3_BUCKET
export AWS_ENDPOINT_URL_S3="$P11KMS_S3_ENDPOINT"
n=0
failures=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failures=$((failures + 1))
    echo "not ok $n - $1"
    sed 's/^/#   /' "$work/err" 2>/dev/null
}
check() {           # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
t() {               # t ARGS...: the tool, stdout to $work/out, stderr to $work/err
    "$TOOL" "$@" >"$work/out" 2>"$work/err"
}
refuse() {          # refuse STATUS PATTERN ARGS...: exit STATUS, one stderr line matching PATTERN
    want=$1
    pat=$2
    shift 2
    t "$@"
    rc=$?
    [ "$rc" = "$want" ] && [ "$(wc -l <"$work/err")" = 1 ] && grep -q -- "$pat" "$work/err" &&
        [ ! -s "$work/out" ]
}
put() {             # put KEY FILE: store FILE as KEY, independently of the tool
    curl -sS -f --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3 \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: $(sha256sum "$2" | cut -d' ' -f1)" -T "$2" \
        "$P11KMS_S3_ENDPOINT/$B/$(printf '%s' "$1" | "$p11kms_s3_py" -c \
            'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe="/"))')" \
        >/dev/null 2>"$work/err"
}
has() {             # has KEY: the server holds KEY
    p11kms_s3_ctl GET "/objects?bucket=$B" |
        "$p11kms_s3_py" -c 'import json, sys; sys.exit(not any(o["key"] == sys.argv[1] for o in json.load(sys.stdin)["objects"]))' "$1"
}
last() {            # last FIELD: FIELD of the server's last logged request
    p11kms_s3_ctl GET /requests | p11kms_s3_json "j['requests'][-1]['$1']"
}
if ! curl --help all 2>/dev/null | grep -q -- --aws-sigv4; then
    echo "# SKIP: curl without --aws-sigv4"
    exit 77
fi

check "s3 ls of an empty bucket: nothing, status 0" \
    sh -c "'$TOOL' s3 ls 's3://$B' >'$work/out' 2>'$work/err' && [ ! -s '$work/out' ] && [ ! -s '$work/err' ]"
printf 'twelve bytes' >"$work/f12"
for k in a.txt docs/one docs/two "docs/sub dir/ü+%&<x>.bin" z; do
    put "$k" "$work/f12" || not_ok "put $k"
done
check "s3 ls: objects and common prefixes of the top level" t s3 ls "s3://$B"
check "  ... PRE docs/, a.txt and z with size and time" \
    sh -c "grep -Eq '^ +PRE docs/\$' '$work/out' &&
        grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +12 a.txt\$' '$work/out' &&
        grep -Eq ' 12 z\$' '$work/out' && [ \$(wc -l <'$work/out') = 3 ]"
check "s3 ls with a prefix" t s3 ls "s3://$B/docs/"
check "  ... two objects, one prefix" \
    sh -c "grep -q ' 12 docs/one\$' '$work/out' && grep -q 'PRE docs/sub dir/\$' '$work/out' &&
        [ \$(wc -l <'$work/out') = 3 ]"
check "s3 ls --recursive: every key, the awkward one decoded" t s3 ls --recursive "s3://$B/docs"
check "  ... docs/sub dir/ü+%&<x>.bin" grep -q ' 12 docs/sub dir/ü+%&<x>.bin$' "$work/out"
p11kms_s3_ctl POST /config '{"list_page_max": 2}' >/dev/null
before=$(p11kms_s3_counter ListObjectsV2)
check "s3 ls --recursive across pages of 2" t s3 ls --recursive "s3://$B"
after=$(p11kms_s3_counter ListObjectsV2)
check "  ... all five keys, in order" \
    [ "$(awk '{print $4}' "$work/out" | tr '\n' ' ')" = "a.txt docs/one docs/sub docs/two z " ]
check "  ... in three requests" [ $((after - before)) = 3 ]
p11kms_s3_ctl POST /config '{"list_page_max": 1000}' >/dev/null
if [ -x /usr/bin/aws ] && /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2\.'; then
    TZ=UTC t s3 ls --recursive "s3://$B"
    check "s3 ls --recursive prints what 'aws s3 ls --recursive' prints" \
        sh -c "TZ=UTC /usr/bin/aws --endpoint-url '$P11KMS_S3_ENDPOINT' s3 ls --recursive \
            's3://$B' | cmp -s - '$work/out'"
fi

check "s3 rm removes the object" t s3 rm "s3://$B/docs/one"
check "  ... it is gone" sh -c "! has docs/one"
check "s3 rm of the awkward key" t s3 rm "s3://$B/docs/sub dir/ü+%&<x>.bin"
check "  ... it is gone" sh -c "! has 'docs/sub dir/ü+%&<x>.bin'"
check "s3 rm of a missing object: status 1, one line" \
    refuse 1 "s3://$B/docs/one: no such object" s3 rm "s3://$B/docs/one"
check "s3 ls of a missing bucket: status 1, one line" \
    refuse 1 "s3://no-such-bucket: no such bucket" s3 ls s3://no-such-bucket
check "s3 rm without a key: usage" refuse 2 "give the key" s3 rm "s3://$B"
check "a bucket name S3 does not allow: usage" refuse 2 "not an S3 bucket name" s3 ls s3://Bad_Name/x
check "not an s3:// name: usage" refuse 2 "not an s3://bucket/key name" s3 ls /tmp/x
check "a key with a .. segment (HTTP would resolve it to another key): usage" \
    refuse 2 'path segments are not supported' s3 rm "s3://$B/docs/../z"
check "  ... z is still there" has z

# --- what S3 refuses, and transport failures ------------------------------------------------
check "a wrong secret: access denied, one line" \
    env AWS_SECRET_ACCESS_KEY=wrong sh -c "$(command -v "$TOOL" || echo "$TOOL") s3 ls 's3://$B' \
        >'$work/out' 2>'$work/err'; [ \$? = 1 ] && [ \$(wc -l <'$work/err') = 1 ] &&
        grep -q 'access denied (SignatureDoesNotMatch' '$work/err'"
p11kms_s3_ctl POST /denials '{"prefix": "z", "ops": ["DeleteObject"]}' >/dev/null
check "a denied delete: access denied, the object stays" \
    sh -c "'$TOOL' s3 rm 's3://$B/z' >'$work/out' 2>'$work/err'; [ \$? = 1 ] &&
        grep -q 's3://$B/z: access denied (AccessDenied' '$work/err'"
check "  ... still there" has z
p11kms_s3_ctl DELETE /denials >/dev/null
check "no server: status 1, one line naming the endpoint" \
    sh -c "AWS_ENDPOINT_URL_S3=http://127.0.0.1:9 '$TOOL' s3 ls 's3://$B' >'$work/out' 2>'$work/err';
        [ \$? = 1 ] && [ \$(wc -l <'$work/err') = 1 ] && grep -q 'cannot reach http://127.0.0.1:9/' '$work/err'"
p11kms_s3_ctl POST /faults '{"op": "ListObjectsV2", "kind": "slowdown", "count": 2}' >/dev/null
before=$(p11kms_s3_counter ListObjectsV2)
check "two SlowDown answers are retried" t s3 ls "s3://$B"
check "  ... three requests" [ $(($(p11kms_s3_counter ListObjectsV2) - before)) = 3 ]
p11kms_s3_ctl POST /faults '{"op": "HeadObject", "kind": "internal", "count": 20}' >/dev/null
check "an InternalError that persists: one line with S3's code, after the attempts" \
    refuse 1 "HeadObject failed: HTTP 500 after 5 attempts (request id " \
    s3 rm "s3://$B/z"
p11kms_s3_ctl DELETE /faults >/dev/null
check "  ... and nothing was removed" has z

# --- addressing -----------------------------------------------------------------------------
t s3 ls "s3://$B" && [ "$(last host)" = "127.0.0.1:$P11KMS_S3_PORT" ] && [ "$(last bucket)" = "$B" ] &&
    ok "path-style: Host 127.0.0.1, the bucket in the path" || not_ok "path-style"
AWS_ENDPOINT_URL_S3=http://localhost:$P11KMS_S3_PORT t s3 ls "s3://$B" &&
    [ "$(last host)" = "$B.localhost:$P11KMS_S3_PORT" ] && [ "$(last op)" = ListObjectsV2 ] &&
    ok "virtual-hosted for a named endpoint: Host $B.localhost" || not_ok "virtual-hosted"
AWS_ENDPOINT_URL_S3=http://localhost:$P11KMS_S3_PORT AWS_S3_FORCE_PATH_STYLE=true t s3 ls "s3://$B" &&
    [ "$(last host)" = "localhost:$P11KMS_S3_PORT" ] && [ "$(last bucket)" = "$B" ] &&
    ok "AWS_S3_FORCE_PATH_STYLE=true: path-style" || not_ok "AWS_S3_FORCE_PATH_STYLE"
AWS_ENDPOINT_URL_S3= AWS_ENDPOINT_URL=$P11KMS_S3_ENDPOINT t s3 ls "s3://$B" &&
    ok "AWS_ENDPOINT_URL when AWS_ENDPOINT_URL_S3 is not set" || not_ok "AWS_ENDPOINT_URL"

# --- the AWS credential chain and region rules (the backend's, not a copy) -------------------
cat >"$work/credentials" <<EOC
[p11]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
EOC
printf '[profile p11]\nregion = us-east-1\n' >"$work/config"
check "credentials and region from a profile (AWS_PROFILE, shared files)" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION -u AWS_DEFAULT_REGION \
    AWS_PROFILE=p11 AWS_SHARED_CREDENTIALS_FILE="$work/credentials" AWS_CONFIG_FILE="$work/config" \
    "$TOOL" s3 ls "s3://$B" >/dev/null
check "  ... signed by the profile's key" [ "$(last access_key)" = "$AWS_ACCESS_KEY_ID" ]
p11kms_s3_ctl POST /credentials '{"access_key": "ASIAP11TEMP", "secret": "temp-secret", "token": "tok-9"}' >/dev/null
check "temporary credentials: the session token is sent and signed" \
    env AWS_ACCESS_KEY_ID=ASIAP11TEMP AWS_SECRET_ACCESS_KEY=temp-secret AWS_SESSION_TOKEN=tok-9 \
    "$TOOL" s3 ls "s3://$B" >/dev/null
check "no region anywhere: status 1, one line" \
    sh -c "env -u AWS_REGION -u AWS_DEFAULT_REGION '$TOOL' s3 ls 's3://$B' >'$work/out' 2>'$work/err';
        [ \$? = 1 ] && [ \$(wc -l <'$work/err') = 1 ] && grep -q 'set AWS_REGION' '$work/err'"
check "no credentials anywhere: status 1, one line" \
    sh -c "env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY '$TOOL' s3 ls 's3://$B' \
        >'$work/out' 2>'$work/err'; [ \$? = 1 ] && [ \$(wc -l <'$work/err') = 1 ] &&
        grep -q 'no usable AWS credentials' '$work/err'"
check "every request carried the body's SHA-256 as its payload hash (plain http)" \
    sh -c "! p11kms_s3_ctl GET /requests | grep -q 'UNSIGNED-PAYLOAD'"

echo "1..$n"
[ "$failures" -eq 0 ]
