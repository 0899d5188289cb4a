#!/bin/bash
# test-tool-wrap.sh - wrap, unwrap and bulk rewrap through a configuration with local key files:
# after "keygen --new-version" every blob rewraps to the new version and still unwraps to the
# same data key; old blobs keep working; another key and another context are honoured.
. "$top_srcdir/tests/tool/common.sh"
N=200

K="$WORK/app.key"
K2="$WORK/other.key"
check "keygen creates a key file" sh -c "'$TOOL' keygen '$K' >'$WORK/keygen.out'"
check "  ...with mode 0600" test "$(stat -c %a "$K")" = 600
check "  ...and says how to use it" grep -q "KMS_KEY_ID=local:" "$WORK/keygen.out"
refuse "keygen never replaces a key file" "$TOOL" keygen "$K"
said "never replaces"
refuse "keygen --new-version needs an existing file" "$TOOL" keygen --new-version "$WORK/none.key"
"$TOOL" keygen "$K2" >/dev/null || exit 99
cat >"$WORK/p11kms.conf" <<CONF
{
  "tokens": [
    {
      "label": "app",
      "keys": [
        {"label": "master", "backend": "local", "key_file": "$K",
         "permissions": ["wrap", "unwrap"], "context": {"app": "billing"}},
        {"label": "other", "backend": "local", "key_file": "$K2",
         "permissions": ["wrap", "unwrap"]}
      ]
    }
  ]
}
CONF
chmod 600 "$WORK/p11kms.conf"
export P11KMS_CONFIG="$WORK/p11kms.conf"

# One data key, wrapped and unwrapped.
"$TOOL" wrap --key master --context tenant=acme >"$WORK/one" 2>"$WORK/err"
check "wrap prints a data key and a wrapped key" grep -q "^wrapped_key=" "$WORK/one"
data_key=$(sed -n 's/^data_key=//p' "$WORK/one")
wrapped=$(sed -n 's/^wrapped_key=//p' "$WORK/one")
check "  ...a 32-byte data key" test "$(printf %s "$data_key" | base64 -d | wc -c)" -eq 32
check "unwrap gives the data key back" test "$("$TOOL" unwrap --context tenant=acme "$wrapped")" = "$data_key"
check "  ...also with --key" test "$("$TOOL" unwrap --key master --context tenant=acme "$wrapped")" = "$data_key"
refuse "unwrap with another context is refused" "$TOOL" unwrap --context tenant=evil "$wrapped"
said "CKR_WRAPPED_KEY_INVALID"
refuse "unwrap without the context is refused" "$TOOL" unwrap "$wrapped"
refuse "unwrap with the wrong key is refused" "$TOOL" unwrap --key other --context tenant=acme "$wrapped"
refuse "several keys can wrap: --key is required" "$TOOL" wrap
said "several keys can wrap"
check "--wrapped-only prints one base64 line" sh -c "'$TOOL' wrap --key other --wrapped-only | grep -Eqx '[A-Za-z0-9+/]+=*'"

# Many blobs under version 1.
: >"$WORK/keys"
: >"$WORK/blobs"
for i in $(seq $N); do
    "$TOOL" wrap --key master --context tenant=acme >"$WORK/one" || break
    sed -n 's/^data_key=//p' "$WORK/one" >>"$WORK/keys"
    sed -n 's/^wrapped_key=//p' "$WORK/one" >>"$WORK/blobs"
done
check "$N blobs wrapped" test "$(wc -l <"$WORK/blobs")" -eq $N
check "  ...under version 1" sh -c "'$TOOL' inspect --blob '$(head -n 1 "$WORK/blobs")' | grep -q 'version 1$'"

check "keygen --new-version adds version 2" sh -c "'$TOOL' keygen --new-version '$K' | grep -q 'new wraps use version 2'"
check "  ...keeping mode 0600" test "$(stat -c %a "$K")" = 600
check "list shows version 2 for new wraps" sh -c "'$TOOL' list | grep -q 'version:  2'"

# Bulk rotation over stdin.
check "bulk rewrap of $N blobs" sh -c "'$TOOL' rewrap --context tenant=acme <'$WORK/blobs' >'$WORK/new'"
check "  ...one output line per input line" test "$(wc -l <"$WORK/new")" -eq $N
check "  ...every one different from its old blob" sh -c "! paste -d ' ' '$WORK/blobs' '$WORK/new' | awk '\$1 == \$2' | grep -q ."
bad=0
while read -r b; do
    "$TOOL" inspect --blob "$b" | grep -q 'version 2$' || bad=$((bad + 1))
done <"$WORK/new"
check "  ...all $N new blobs carry version 2" test "$bad" -eq 0
check "the new blobs unwrap to the same data keys" sh -c "'$TOOL' unwrap --context tenant=acme <'$WORK/new' | cmp - '$WORK/keys'"
check "the old blobs still unwrap to the same data keys" sh -c "'$TOOL' unwrap --context tenant=acme <'$WORK/blobs' | cmp - '$WORK/keys'"

# Lines keep their places: an empty line and a broken line in the middle.
{ head -n 3 "$WORK/blobs"; echo; echo 'not base64!'; tail -n 2 "$WORK/blobs"; } >"$WORK/mixed"
"$TOOL" rewrap --context tenant=acme <"$WORK/mixed" >"$WORK/mixed.out" 2>"$WORK/mixed.err"
check "a bad line makes the exit status 1" test $? -eq 1
check "  ...output keeps one line per input line" test "$(wc -l <"$WORK/mixed.out")" -eq 7
check "  ...empty where the input was empty or bad" sh -c "sed -n '4p;5p' '$WORK/mixed.out' | grep -c '^\$' | grep -qx 2"
check "  ...the error names line 5" grep -q "^p11kms: line 5: not a base64 wrapped key" "$WORK/mixed.err"
check "  ...and is the only error" test "$(wc -l <"$WORK/mixed.err")" -eq 1

"$TOOL" unwrap --context tenant=acme "$(sed -n 1p "$WORK/blobs")" '!!' "$(sed -n 2p "$WORK/blobs")" \
    >"$WORK/args.out" 2>/dev/null
check "blobs as arguments: a bad one fails the run" test $? -eq 1
printf '%s\n\n%s\n' "$(sed -n 1p "$WORK/keys")" "$(sed -n 2p "$WORK/keys")" >"$WORK/args.want"
check "  ...and leaves an empty line in its place" cmp "$WORK/args.want" "$WORK/args.out"

# Key switching and context change.
head -n 5 "$WORK/blobs" >"$WORK/five"
head -n 5 "$WORK/keys" >"$WORK/five.keys"
check "rewrap --to-key other" sh -c "'$TOOL' rewrap --context tenant=acme --to-key other <'$WORK/five' >'$WORK/five.other'"
check "  ...unwraps with the other key" sh -c "'$TOOL' unwrap --key other --context tenant=acme <'$WORK/five.other' | cmp - '$WORK/five.keys'"
refuse "  ...and not with master" "$TOOL" unwrap --key master --context tenant=acme "$(head -n 1 "$WORK/five.other")"
check "rewrap --to-context binds the new context" sh -c "'$TOOL' rewrap --context tenant=acme --to-context tenant=beta <'$WORK/five' >'$WORK/five.beta'"
check "  ...which unwraps with it" sh -c "'$TOOL' unwrap --context tenant=beta <'$WORK/five.beta' | cmp - '$WORK/five.keys'"
refuse "  ...and not with the old one" "$TOOL" unwrap --context tenant=acme "$(head -n 1 "$WORK/five.beta")"

# Files through the configured key: the key's default context is bound too.
printf 'payroll\n' >"$WORK/pay"
check "encrypt with the configured key" "$TOOL" encrypt --key master --context run=7 "$WORK/pay" "$WORK/pay.enc"
check "  ...stores the default context with the user's" sh -c "'$TOOL' inspect '$WORK/pay.enc' | grep -q 'context: *app=billing, run=7'"
check "  ...decrypts without --key" sh -c "'$TOOL' decrypt '$WORK/pay.enc' - | cmp - '$WORK/pay'"

# Reserved context keys are p11kms's own.
refuse "--context with a reserved key is refused" "$TOOL" wrap --key master --context p11kms:purpose=data
said "reserved"
refuse "  ...in any letter case" "$TOOL" unwrap --context P11KMS:Purpose=wrapped-key "$wrapped"
said "reserved"

# What a wrapped key says it holds, and the migration of a version-1 wrapped key (made by the
# module before envelope version 2, tests/module/fixtures/make-v1.c) with rewrap.
check "inspect: a wrapped key is a version-2 envelope holding a wrapped key" \
    sh -c "'$TOOL' inspect --blob '$wrapped' | grep -q '^envelope: *version 2, purpose wrapped key\$'"
v1=$(base64 -w0 "$top_srcdir/tests/module/fixtures/v1-wrapped-key.bin")
check "inspect: the version-1 fixture does not say what it holds" \
    sh -c "'$TOOL' inspect --blob '$v1' | grep -q '^envelope: *version 1, purpose v1/unknown\$'"
v1new=$(unset P11KMS_CONFIG; KMS_KEY_ID=insecure-test-key "$TOOL" rewrap --context app=fixture \
    --context id=v1 "$v1" 2>/dev/null)
check "rewrap of a version-1 wrapped key" test -n "$v1new"
check "  ...gives a version-2 envelope holding a wrapped key" \
    sh -c "'$TOOL' inspect --blob '$v1new' | grep -q '^envelope: *version 2, purpose wrapped key\$'"
want=$(printf '%s' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f |
    "$PYTHON3" -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.stdin.read())).decode())')
got=$(unset P11KMS_CONFIG; KMS_KEY_ID=insecure-test-key "$TOOL" unwrap --context app=fixture \
    --context id=v1 "$v1new" 2>/dev/null)
check "  ...which unwraps to the same key" test "$got" = "$want"
finish
