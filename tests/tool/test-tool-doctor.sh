#!/bin/bash
# test-tool-doctor.sh - doctor passes a good configuration (quick mode and a file with a key
# file) and fails broken ones, naming the problem: bad JSON, mode 0666, a missing key file,
# a key with no permissions, an unknown backend.
. "$top_srcdir/tests/tool/common.sh"

doctor() { # doctor NAME [ARGS]: run it, output in WORK/NAME.out, errors in WORK/NAME.err
    local name="$1"
    shift
    "$TOOL" doctor "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
}

K="$WORK/good.key"
"$TOOL" keygen "$K" >/dev/null || exit 99
config() { # config FILE KEY-JSON
    cat >"$1" <<CONF
{"tokens": [{"label": "app", "keys": [$2]}]}
CONF
    chmod 600 "$1"
}
config "$WORK/good.conf" "{\"label\": \"k\", \"backend\": \"local\", \"key_file\": \"$K\",
  \"permissions\": [\"wrap\", \"unwrap\", \"encrypt\", \"decrypt\"]}"

check "doctor in quick mode passes" env KMS_KEY_ID=insecure-test-key "$TOOL" doctor
doctor good --config "$WORK/good.conf"
check "doctor on a good configuration passes" test $? -eq 0
check "  ...reports the file's mode" grep -q "^ok .*good.conf: mode 0600" "$WORK/good.out"
check "  ...reports the key file" grep -q "^ok .*key file .*good.key: mode 0600, 1 version" "$WORK/good.out"
check "  ...wraps with the doctor context" grep -q '^ok .*"k" on token "app": wrap (context p11kms-doctor=1)' "$WORK/good.out"
check "  ...unwraps the same key back" grep -q '^ok .*unwrap gives the same key back' "$WORK/good.out"
check "  ...encrypts and decrypts" grep -q '^ok .*decrypt gives the secret back' "$WORK/good.out"
check "  ...ends with a summary" grep -q "^doctor: all [0-9]* checks passed" "$WORK/good.out"
check "  ...and nothing on stderr" test ! -s "$WORK/good.err"

config "$WORK/wraponly.conf" "{\"label\": \"w\", \"backend\": \"local\", \"key_file\": \"$K\", \"permissions\": [\"wrap\"]}"
doctor wraponly --config "$WORK/wraponly.conf"
check "a wrap-only key passes" test $? -eq 0
check "  ...and skips what it may not do" grep -q "^skip .*unwrap not permitted" "$WORK/wraponly.out"

config "$WORK/v1.conf" "{\"label\": \"old\", \"backend\": \"local\", \"key_file\": \"$K\",
  \"decrypt_v1_envelopes\": true}"
doctor v1 --config "$WORK/v1.conf"
check "a key with decrypt_v1_envelopes passes" test $? -eq 0
check "  ...with a warning naming the option" grep -q '^warn .*"old" on token "app": decrypt_v1_envelopes' "$WORK/v1.out"

printf '{"tokens": [' >"$WORK/badjson.conf"
chmod 600 "$WORK/badjson.conf"
doctor badjson --config "$WORK/badjson.conf"
check "bad JSON fails" test $? -eq 1
check "  ...with a FAIL line" grep -q "^FAIL  configuration refused" "$WORK/badjson.out"
check "  ...and the module's parser message" grep -q "badjson.conf" "$WORK/badjson.err"

cp "$WORK/good.conf" "$WORK/open.conf"
chmod 666 "$WORK/open.conf"
doctor open --config "$WORK/open.conf"
check "mode 0666 fails" test $? -eq 1
check "  ...saying it is writable by others" grep -q "^FAIL .*open.conf: mode 0666.*writable by group or others" "$WORK/open.out"

config "$WORK/nokey.conf" "{\"label\": \"k\", \"backend\": \"local\", \"key_file\": \"$WORK/missing.key\"}"
doctor nokey --config "$WORK/nokey.conf"
check "a missing key file fails" test $? -eq 1
check "  ...naming it" grep -q "^FAIL .*key file .*missing.key is unusable" "$WORK/nokey.out"
check "  ...with the reason" grep -q "missing.key: cannot open the key file: No such file" "$WORK/nokey.err"

config "$WORK/noperm.conf" "{\"label\": \"k\", \"backend\": \"local\", \"key_file\": \"$K\", \"permissions\": []}"
doctor noperm --config "$WORK/noperm.conf"
check "a key with no permissions fails" test $? -eq 1
check "  ...the parser names the field" grep -q "permissions: must not be empty" "$WORK/noperm.err"

cp "$K" "$WORK/loose.key"
chmod 644 "$WORK/loose.key"
config "$WORK/loose.conf" "{\"label\": \"k\", \"backend\": \"local\", \"key_file\": \"$WORK/loose.key\"}"
doctor loose --config "$WORK/loose.conf"
check "a key file readable by others fails" test $? -eq 1
check "  ...saying chmod 600" grep -q "chmod 600" "$WORK/loose.err"

config "$WORK/nobackend.conf" "{\"label\": \"k\", \"backend\": \"nimbus\", \"key_id\": \"x\"}"
doctor nobackend --config "$WORK/nobackend.conf"
check "an unknown backend fails" test $? -eq 1

cat >"$WORK/pin.conf" <<CONF
{"tokens": [{"label": "locked", "pin": "2468",
  "keys": [{"label": "k", "backend": "local", "key_file": "$K"}]}]}
CONF
chmod 600 "$WORK/pin.conf"
doctor pin --config "$WORK/pin.conf"
check "a token with a PIN and no PIN given fails" test $? -eq 1
check "  ...saying the key is not visible without its PIN" grep -q "^FAIL .*not visible through the module (its token needs a PIN" "$WORK/pin.out"
printf '2468\n' >"$WORK/pin"
doctor pinok --config "$WORK/pin.conf" --pin-file "$WORK/pin"
check "  ...and passes with --pin-file" test $? -eq 0
printf '1111\n' >"$WORK/badpin"
doctor badpin --config "$WORK/pin.conf" --pin-file "$WORK/badpin"
check "a wrong PIN fails" test $? -eq 1
check "  ...saying so" grep -q "wrong PIN" "$WORK/badpin.err"

doctor missing --config "$WORK/does-not-exist.conf"
check "a missing configuration file fails" test $? -eq 1
finish
