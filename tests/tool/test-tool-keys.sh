#!/bin/bash
# test-tool-keys.sh - "p11kms encrypt" with several --key (one envelope, many KMSs) and
# "decrypt" finding whichever key it can use, against the loopback AWS KMS test server and the
# local backend: two AWS keys and a local key; then the AWS endpoints dead (local decrypts),
# only the second AWS key configured (it decrypts). Refusals: mixed tokens or contexts, more
# than 8 keys, several --key to decrypt.
. "$top_srcdir/tests/backends/aws/aws-env.sh"
. "$top_srcdir/tests/tool/common.sh"
# both stop on exit: the work directory, then the server (with the script's status)
trap 'rc=$?; cleanup; (exit $rc); p11kms_aws_stop' EXIT
D="$WORK/d"
mkdir "$D"
head -c $((2 * 1024 * 1024 + 5)) /dev/urandom >"$D/data"
other_arn=arn:aws:kms:us-east-1:111122223333:key/$P11KMS_AWS_OTHER_KEY_ID

config() { # config EU_ENDPOINT US_ENDPOINT: keys eu, us (aws), loc (local), ctx (other context)
    cat >"$WORK/p11kms.conf" <<JSON
{"tokens": [{"label": "t", "keys": [
  {"label": "eu", "backend": "aws", "key_id": "$P11KMS_AWS_KEY_ARN", "endpoint": "$1",
   "max_attempts": 1},
  {"label": "us", "backend": "aws", "key_id": "$other_arn", "endpoint": "$2",
   "max_attempts": 1},
  {"label": "loc", "backend": "local", "key_id": "insecure-test-key"},
  {"label": "ctx", "backend": "local", "key_id": "insecure-test-key",
   "context": {"tenant": "a"}}]}]}
JSON
    export P11KMS_CONFIG="$WORK/p11kms.conf"
}
dead=http://127.0.0.1:1
config "$P11KMS_AWS_ENDPOINT" "$P11KMS_AWS_ENDPOINT"

check "encrypt under three keys of two KMSs" "$TOOL" encrypt --key eu --key us --key loc \
    --context app=multi "$D/data" "$D/data.enc"
"$TOOL" inspect "$D/data.enc" >"$WORK/inspect" 2>&1
check "  ...one envelope with three KMS blobs" test "$(grep -c '^kms key:' "$WORK/inspect")" = 3
check "decrypt with everything reachable" sh -c "'$TOOL' decrypt '$D/data.enc' - | cmp - '$D/data'"

config "$dead" "$dead"
check "both AWS endpoints dead: decrypt finds the local key" \
    sh -c "'$TOOL' decrypt '$D/data.enc' - 2>/dev/null | cmp - '$D/data'"
config "$dead" "$P11KMS_AWS_ENDPOINT"
check "first AWS key dead: the second decrypts" \
    sh -c "'$TOOL' decrypt --key us '$D/data.enc' - | cmp - '$D/data'"
check "  ...and without --key too" sh -c "'$TOOL' decrypt '$D/data.enc' - 2>/dev/null | cmp - '$D/data'"

config "$P11KMS_AWS_ENDPOINT" "$P11KMS_AWS_ENDPOINT"
refuse "keys binding different default contexts" "$TOOL" encrypt --key loc --key ctx \
    "$D/data" "$D/ctx.enc"
said "different default contexts"
usage() { # usage COMMAND...: a usage error (status 2)
    "$@" 2>/dev/null
    test $? -eq 2
}
check "several --key to decrypt: a usage error" usage "$TOOL" decrypt --key eu --key us \
    "$D/data.enc" "$D/x"
check "more than 8 --key: a usage error" usage "$TOOL" encrypt -k eu -k us -k loc -k eu -k us \
    -k loc -k eu -k us -k loc "$D/data" "$D/nine.enc"
check "no OUT left behind by refusals" sh -c "! ls '$D' | grep -q -e ctx.enc -e nine.enc -e '^x$'"

# Rotation with "p11kms rewrap": wrapped under the old AWS key; the key becomes a set with the
# other AWS key current and the old one previous; rewrap moves the blobs (inside the module)
# to the current key; with the old key removed from the configuration they still unwrap.
rot() { # rot KMS-JSON: key "rot"
    cat >"$WORK/p11kms.conf" <<JSON
{"backends": {"aws": {"endpoint": "$P11KMS_AWS_ENDPOINT"}},
 "tokens": [{"label": "t", "keys": [{"label": "rot", $1}]}]}
JSON
}
names() { # names B64 ARN: whether the envelope names the KMS key
    printf '%s' "$1" | base64 -d | grep -qa "$2"
}
rot "\"backend\": \"aws\", \"key_id\": \"$P11KMS_AWS_KEY_ARN\""
"$TOOL" wrap --key rot >"$WORK/wrapped" 2>/dev/null
check "a data key wrapped under the old key" test -s "$WORK/wrapped"
old=$(sed -n 's/^wrapped_key=//p' "$WORK/wrapped")
plain=$(sed -n 's/^data_key=//p' "$WORK/wrapped")
check "  ...unwraps" test -n "$plain" -a "$("$TOOL" unwrap --key rot "$old")" = "$plain"
rot "\"kms\": [{\"backend\": \"aws\", \"key_id\": \"$other_arn\"}],
      \"previous\": [{\"backend\": \"aws\", \"key_id\": \"$P11KMS_AWS_KEY_ARN\"}]"
"$TOOL" doctor >"$WORK/doctor" 2>&1
check "doctor checks each KMS of the set" grep -q 'key "rot" on token "t", KMS 1 (aws' "$WORK/doctor"
check "  ...and the previous one" grep -q 'key "rot" on token "t", previous KMS 1 (aws' "$WORK/doctor"
check "the old blob unwraps through the previous key" test "$("$TOOL" unwrap --key rot "$old")" = "$plain"
new=$("$TOOL" rewrap --key rot "$old")
check "p11kms rewrap moves it" test -n "$new"
check "  ...to the current key" names "$new" "$other_arn"
check "  ...and no longer names the old one" sh -c "! printf '%s' '$new' | base64 -d | grep -qa '$P11KMS_AWS_KEY_ARN'"
rot "\"kms\": [{\"backend\": \"aws\", \"key_id\": \"$other_arn\"}]"
check "old key removed: the rewrapped blob unwraps to the same key" \
    test "$("$TOOL" unwrap --key rot "$new")" = "$plain"
refuse "  ...the old blob does not" "$TOOL" unwrap --key rot "$old"
finish
