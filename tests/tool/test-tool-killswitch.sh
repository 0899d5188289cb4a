#!/bin/bash
# test-tool-killswitch.sh - "p11kms kill-switch": on stops the tool's unwraps and decrypts with
# that key (or token) while wraps and encrypts go on, off brings them back, status shows what
# is on and who turned it on; the directory is created with mode 0755; bad names are usage
# errors; files that switch nothing are pointed out.
. "$top_srcdir/tests/tool/common.sh"

KS="$WORK/run/kill-switch"
"$TOOL" keygen "$WORK/other.key" >/dev/null || exit 99
cat >"$WORK/p11kms.conf" <<CONF
{
  "kill_switch_dir": "$KS",
  "tokens": [
    {"label": "app", "keys": [
      {"label": "master", "backend": "local", "key_id": "insecure-test-key"},
      {"label": "alias", "backend": "local", "key_id": "insecure-test-key"},
      {"label": "other", "backend": "local", "key_file": "$WORK/other.key"}]},
    {"label": "ops", "keys": [
      {"label": "master", "backend": "local", "key_id": "insecure-test-key"}]}
  ]
}
CONF
chmod 600 "$WORK/p11kms.conf"
export P11KMS_CONFIG="$WORK/p11kms.conf"

wrapped=$("$TOOL" wrap --token app --key master --wrapped-only) || exit 99
other=$("$TOOL" wrap --token app --key other --wrapped-only) || exit 99
echo "a secret" >"$WORK/plain"
"$TOOL" encrypt --token app --key master "$WORK/plain" "$WORK/box" || exit 99

check "status with no directory yet" sh -c "'$TOOL' kill-switch status | grep -q 'does not exist: no switch is on'"
check "on --token app --key master (umask 077)" sh -c "umask 077; '$TOOL' kill-switch on --token app --key master --reason 'incident 42' | grep -q 'kill switch ON for key \"master\" of token \"app\"'"
check "  ...created the directory with mode 0755 whatever the umask (services must read it)" test "$(stat -c %a "$KS")" = 755
check "  ...and its parent too" test "$(stat -c %a "$WORK/run")" = 755
check "  ...and the file app+master" test -f "$KS/app+master"
check "status notes that token ops shares a KMS key, not covered" sh -c "'$TOOL' kill-switch status | grep -q 'key \"master\" of token \"ops\" shares a KMS key with it and is not covered'"
check "  ...saying who and why" grep -q "^on since .* (uid $(id -u)): incident 42$" "$KS/app+master"
refuse "unwrap with the switched key is refused" "$TOOL" unwrap --token app --key master "$wrapped"
said "CKR_KEY_FUNCTION_NOT_PERMITTED"
refuse "decrypt too (with any key of the token)" "$TOOL" decrypt --token app "$WORK/box" "$WORK/out"
check "wrap with it still works" sh -c "'$TOOL' wrap --token app --key master --wrapped-only >/dev/null"
check "encrypt with it still works" "$TOOL" encrypt --token app --key master "$WORK/plain" "$WORK/box2"
refuse "the same KMS key under another label of the token is refused too" "$TOOL" unwrap --token app --key alias "$wrapped"
check "the other key of the token still unwraps" sh -c "'$TOOL' unwrap --token app --key other '$other' >/dev/null"
check "the same label on another token is not switched" sh -c "'$TOOL' wrap --token ops --key master --wrapped-only | xargs '$TOOL' unwrap --token ops --key master >/dev/null"
check "on again: already on, status 0" sh -c "'$TOOL' kill-switch on --token app --key master | grep -q 'already on'"
"$TOOL" kill-switch status >"$WORK/status" || not_ok "status"
check "status lists the key's switch with who and why" grep -q '^ON   key "master" of token "app": on since .*incident 42$' "$WORK/status"
check "  ...and the tokens that are off" grep -q '^off  token "ops"$' "$WORK/status"
check "status of one key" sh -c "'$TOOL' kill-switch status --token app --key other | grep -q '^off  key \"other\" of token \"app\"'"
check "off" sh -c "'$TOOL' kill-switch off --token app --key master | grep -q 'kill switch off for key'"
check "  ...the file is gone" test ! -e "$KS/app+master"
check "unwrap works again" sh -c "'$TOOL' unwrap --token app --key master '$wrapped' >/dev/null"
check "decrypt works again" "$TOOL" decrypt --token app "$WORK/box" "$WORK/out2"
check "off again: already off, status 0" sh -c "'$TOOL' kill-switch off --token app --key master | grep -q 'already off'"

check "token switch on" sh -c "'$TOOL' kill-switch on --token app >/dev/null"
refuse "every key of the token is refused" "$TOOL" unwrap --token app --key other "$other"
check "key off while the token is on: says the key stays off" sh -c "'$TOOL' kill-switch off --token app --key other | grep -q 'token \"app\" is on'"
check "token switch off" sh -c "'$TOOL' kill-switch off --token app >/dev/null"
check "  ...unwraps again" sh -c "'$TOOL' unwrap --token app --key other '$other' >/dev/null"

touch "$KS/app+mastr"
check "status points at a file that switches nothing" sh -c "'$TOOL' kill-switch status | grep -q 'app+mastr names no token or key'"
rm -f "$KS/app+mastr"
chmod 777 "$KS"
check "status says a directory others may write fails closed" sh -c "'$TOOL' kill-switch status | grep -q 'writable by others.*fail closed'"
refuse "on refuses to use it" "$TOOL" kill-switch on --token app
chmod 755 "$KS"

"$TOOL" kill-switch on --key master >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] && grep -q -- "--token" "$WORK/err" && ok "two tokens and no --token: usage error" || not_ok "two tokens and no --token"
"$TOOL" kill-switch on --token app --key nosuch >/dev/null 2>"$WORK/err"
[ $? -eq 2 ] && grep -q 'no key "nosuch"' "$WORK/err" && ok "unknown key: usage error" || not_ok "unknown key"
"$TOOL" kill-switch on --token nosuch >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown token: usage error" || not_ok "unknown token"
"$TOOL" kill-switch flip --token app >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown verb: usage error" || not_ok "unknown verb"
finish
