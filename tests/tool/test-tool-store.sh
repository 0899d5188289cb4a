#!/bin/bash
# test-tool-store.sh - the store commands and doctor's store checks on a store made through the
# module: store list (no KMS call: it works with the key file gone), REFUSED files and leftovers,
# rewrap to the newest key version and to another key (objects still usable, files otherwise
# unchanged), refusals, doctor and doctor --deep, and a copied directory restoring the objects
# elsewhere with the same KMS key.
. "$top_srcdir/tests/tool/common.sh"
. "$top_srcdir/tests/clients/test-config.sh"
OBJ="$top_builddir/tests/tool/store-objects"
STORE="$WORK/store"

p11kms_test_keyfile "$WORK/a.key"
p11kms_test_keyfile "$WORK/b.key"
# config NAME STORE_DIR STORAGE_KEY: token "t" with keys a (key file a.key), b (b.key) and
# wrap-only (a.key, wrap only).
config() {
    cat >"$WORK/$1.conf" <<EOF
{"tokens": [{"label": "t", "store": "$2", "storage_key": "$3", "keys": [
  {"label": "a", "backend": "local", "key_file": "$WORK/a.key"},
  {"label": "b", "backend": "local", "key_file": "$WORK/b.key"},
  {"label": "wrap-only", "backend": "local", "key_file": "$WORK/a.key", "permissions": ["wrap"]}]}]}
EOF
    chmod 600 "$WORK/$1.conf"
}
config main "$STORE" a
export P11KMS_CONFIG="$WORK/main.conf"

"$TOOL" store list >"$WORK/out" 2>&1
check "store list before any object" grep -q "no directory yet" "$WORK/out"
check "three token keys made through the module" "$OBJ" "$MODULE" t create 3
check "  ...each usable" sh -c "$OBJ $MODULE t gcm obj-2 >/dev/null"
"$OBJ" "$MODULE" t gcm obj-1 >"$WORK/gcm-before"

"$TOOL" store list >"$WORK/out" 2>&1
check "store list: exit 0" test $? -eq 0
check "  ...three objects" grep -q "^  3 objects$" "$WORK/out"
check "  ...with kind, label, generation and sealing key" \
    grep -q "AES-256 key  label \"obj-1\"  sensitive, encrypts  generation 1  sealed by local local:.* v2" "$WORK/out"
mv "$WORK/a.key" "$WORK/a.key.away"
"$TOOL" store list >"$WORK/out2" 2>&1
check "store list needs no KMS key (the key file moved away)" grep -q "^  3 objects$" "$WORK/out2"
mv "$WORK/a.key.away" "$WORK/a.key"

first=$(ls "$STORE" | grep '\.obj$' | head -n 1)
cp "$STORE/$first" "$STORE/0123456789abcdef0123456789abcdef.obj"
: >"$STORE/.$first.tmp.99.deadbeef"
"$TOOL" store list >"$WORK/out" 2>&1
check "a copied file: REFUSED, with the reason" \
    grep -q "0123456789abcdef0123456789abcdef  REFUSED: it holds another object" "$WORK/out"
check "a leftover temporary file is named" grep -q "a writer's temporary file" "$WORK/out"
"$TOOL" doctor >"$WORK/doctor" 2>&1
check "doctor fails on the refused file" test $? -eq 1
check "  ...naming it" grep -q "^FAIL .*0123456789abcdef0123456789abcdef.obj is refused" "$WORK/doctor"
check "  ...and warns of the leftover" grep -q "^warn .*1 temporary file" "$WORK/doctor"
rm -f "$STORE/0123456789abcdef0123456789abcdef.obj" "$STORE/.$first.tmp.99.deadbeef"
"$TOOL" doctor --deep >"$WORK/doctor" 2>&1
check "doctor --deep passes" test $? -eq 0
check "  ...every object opened" grep -q "^ok .*3 of 3 objects open with the token's keys" "$WORK/doctor"
check "  ...and says which key seals them" grep -q "^ok .*key \"a\" seals its token objects" "$WORK/doctor"

# Rotation: a new version of key a, then rewrap.
printf 'version 3 %s\n' "$(head -c 32 /dev/urandom | base64)" >>"$WORK/a.key"
"$TOOL" store rewrap >"$WORK/out" 2>&1
check "rewrap to the newest version" grep -q "3 rewrapped, 0 already sealed by the newest key version, 0 failed" "$WORK/out"
"$TOOL" store list >"$WORK/out" 2>&1
check "  ...now sealed by version 3" test "$(grep -c ' v3 ' "$WORK/out")" -eq 3
check "  ...the attributes' generation unchanged" test "$(grep -c 'generation 1' "$WORK/out")" -eq 3
"$TOOL" store rewrap >"$WORK/out" 2>&1
check "a second rewrap leaves them" grep -q "0 rewrapped, 3 already sealed" "$WORK/out"
check "the objects work after the rewrap" sh -c "'$OBJ' '$MODULE' t gcm obj-1 | cmp - '$WORK/gcm-before'"

# Another key.
"$TOOL" store rewrap --to-key b >"$WORK/out" 2>&1
check "rewrap --to-key b" grep -q "3 rewrapped" "$WORK/out"
check "  ...with a reminder to set storage_key" grep -q 'set "storage_key": "b"' "$WORK/out"
check "still usable while storage_key is a (b may unwrap)" \
    sh -c "'$OBJ' '$MODULE' t gcm obj-1 | cmp - '$WORK/gcm-before'"
refuse "rewrap --to-key to a wrap-only key" "$TOOL" store rewrap --to-key wrap-only
said "unwrap"
refuse "rewrap --to-key to a key the token lacks" "$TOOL" store rewrap --to-key nope
said "no key \"nope\""
refuse "a token the configuration lacks" "$TOOL" store list --token nope
said "no token \"nope\""

# A copy of the directory elsewhere, with the same KMS keys: the objects are there.
cp -a "$STORE" "$WORK/copy"
config copy "$WORK/copy" b
check "the copied store on another configuration" \
    sh -c "P11KMS_CONFIG='$WORK/copy.conf' '$OBJ' '$MODULE' t gcm obj-1 | cmp - '$WORK/gcm-before'"
p11kms_test_keyfile "$WORK/c.key"
sed "s|$WORK/b.key|$WORK/c.key|" "$WORK/copy.conf" >"$WORK/other.conf"
chmod 600 "$WORK/other.conf"
P11KMS_CONFIG="$WORK/other.conf" "$OBJ" "$MODULE" t gcm obj-1 >/dev/null 2>"$WORK/err"
check "with another KMS key in b's place, the copy does not open" test $? -eq 1

# A token whose only AES key comes after an asymmetric key: that AES key seals its objects (an
# asymmetric key never does), in the module and in the tool.
"$TOOL" keygen --type ec-p256 "$WORK/ec.pem" >/dev/null
cat >"$WORK/asym.conf" <<EOF
{"tokens": [{"label": "t", "store": "$WORK/asym-store", "keys": [
  {"label": "ec", "backend": "local", "type": "ec-p256", "key_file": "$WORK/ec.pem"},
  {"label": "aes", "backend": "local", "key_file": "$WORK/a.key"}]}]}
EOF
chmod 600 "$WORK/asym.conf"
check "an asymmetric key first: a token key made through the module" \
    env P11KMS_CONFIG="$WORK/asym.conf" "$OBJ" "$MODULE" t create 1
P11KMS_CONFIG="$WORK/asym.conf" "$TOOL" store list >"$WORK/out" 2>&1
check "  ...store list: sealed by the AES key" grep -q 'sealed by key "aes"' "$WORK/out"
P11KMS_CONFIG="$WORK/asym.conf" "$TOOL" doctor --deep >"$WORK/doctor" 2>&1
check "  ...doctor --deep says so" grep -q '^ok .*key "aes" seals its token objects' "$WORK/doctor"
check "  ...and opens the object" grep -q "^ok .*1 of 1 object open with the token's keys" \
    "$WORK/doctor"
finish
