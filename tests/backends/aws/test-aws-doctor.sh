#!/bin/sh
# test-aws-doctor.sh - "p11kms doctor" on AWS keys, through the backend's own doctor hook, against
# the loopback AWS KMS test server: the endpoint and region the module resolves, the credential
# source the module's chain would use - honouring the key's profile (regression: the tool had
# its own copy of the chain, which ignored it) - and the failures it names.
. "$top_srcdir/tests/backends/aws/aws-env.sh"

TOOL="$top_builddir/p11kms"
P11KMS_MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
export P11KMS_MODULE
unset P11KMS_CONFIG KMS_KEY_ID P11KMS_LOG
work=$P11KMS_AWS_STATE_DIR/doctor
mkdir -p "$work" || exit 99
n=0
failures=0
check() { # check DESCRIPTION COMMAND...
    desc=$1
    shift
    n=$((n + 1))
    if "$@" >/dev/null 2>&1; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        failures=$((failures + 1))
    fi
}
config() { # config NAME EXTRA-KEY-FIELDS
    cat >"$work/$1.conf" <<JSON
{"tokens": [{"label": "aws", "keys": [
  {"label": "k", "backend": "aws", "key_id": "$P11KMS_AWS_KEY_ARN",
   "endpoint": "$P11KMS_AWS_ENDPOINT"$2}]}]}
JSON
    chmod 600 "$work/$1.conf"
}
doctor() { # doctor NAME: output in work/NAME.out and .err, exit status in work/NAME.rc
    ${P11KMS_TEST_WRAPPER:-} "$TOOL" doctor --config "$work/$1.conf" >"$work/$1.out" \
        2>"$work/$1.err"
    echo $? >"$work/$1.rc"
}

config env ""
doctor env
check "doctor passes with credentials in the environment" grep -qx 0 "$work/env.rc"
check "  ...names the endpoint and region" \
    grep -q "^ok .*\"k\" on token \"aws\": AWS KMS endpoint $P11KMS_AWS_ENDPOINT/, region us-east-1\$" \
    "$work/env.out"
check "  ...finds the environment's credentials" \
    grep -q '^ok .*AWS credentials from the environment (AWS_ACCESS_KEY_ID)$' "$work/env.out"
check "  ...wraps and unwraps through the module" \
    grep -q '^ok .*unwrap gives the same key back' "$work/env.out"
check "  ...and shows no secret" sh -c "! grep -q 'Test+Secret' '$work/env.out' '$work/env.err'"

# The key's profile wins over the environment, as in the SDKs and in the module.
cat >"$AWS_SHARED_CREDENTIALS_FILE" <<INI
[p11]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
INI
config profile ', "profile": "p11"'
doctor profile
check "doctor passes with the key's profile" grep -qx 0 "$work/profile.rc"
check "  ...names the profile" grep -q '^ok .*AWS KMS endpoint .*, profile p11$' "$work/profile.out"
check "  ...and takes the credentials from it, not from the environment" \
    grep -q '^ok .*AWS keys of profile "p11" in the shared credentials file$' "$work/profile.out"
check "  ...(no line about the environment)" \
    sh -c "! grep -q 'from the environment' '$work/profile.out'"

config noprofile ', "profile": "nowhere"'
doctor noprofile
check "a profile that exists nowhere fails" grep -qx 1 "$work/noprofile.rc"
check "  ...with a FAIL line naming it" \
    grep -q '^FAIL .*AWS profile "nowhere" is unusable' "$work/noprofile.out"
check "  ...and the module's reason on stderr" \
    grep -q 'profile "nowhere" is in neither the shared credentials nor the config file' \
    "$work/noprofile.err"

cat >"$work/badendpoint.conf" <<JSON
{"tokens": [{"label": "aws", "keys": [
  {"label": "k", "backend": "aws", "key_id": "$P11KMS_AWS_KEY_ARN", "endpoint": "ftp://kms"}]}]}
JSON
chmod 600 "$work/badendpoint.conf"
doctor badendpoint
check "an endpoint the module refuses fails" grep -qx 1 "$work/badendpoint.rc"
check "  ...in doctor's own check" grep -q '^FAIL .*AWS settings refused' "$work/badendpoint.out"
check "  ...saying why" grep -q 'endpoint "ftp://kms" must start with https://' \
    "$work/badendpoint.err"

echo "1..$n"
[ "$failures" -eq 0 ]
