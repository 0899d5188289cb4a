#!/bin/sh
# pkcs11-tool.sh - OpenSC pkcs11-tool against the built module: slots, objects with their
# configured usages, mechanisms, login, keygen, --write-object/--read-object of data objects and
# secret keys, --wrap/--unwrap with CKM_AES_KEY_WRAP_PAD, random, --test; and token objects
# across processes (the object store): keygen, list, AES-CBC-PAD encrypt and decrypt, wrap and
# unwrap another key, delete - each step a pkcs11-tool run of its own.
#
# With the KMS key, the chain is: seed-envelope wraps a known value K -> pkcs11-tool unwraps it
# and wraps the result -> pkcs11-tool unwraps that in a fresh process; every unwrapped value is
# compared with K. pkcs11-tool 0.23 picks the key of --encrypt, --decrypt and --wrap by --id
# (not --label), so the store flow gives every key an id.
. "$top_srcdir/tests/clients/common.sh"
clients_init pkcs11-tool
clients_need pkcs11-tool
clients_config

SEED=$top_builddir/tests/clients/seed-envelope
WRAP_PAD=0x210A # CKM_AES_KEY_WRAP_PAD: pkcs11-tool 0.23 has no name for it
# CKM_P11KMS_ENVELOPE as pkcs11-tool prints an unknown mechanism, from the public header.
base=$(sed -n 's/^#define P11KMS_VENDOR_BASE \(0x[0-9A-Fa-f]*\)UL$/\1/p' \
    "$top_srcdir/pkcs11/p11kms.h")
ENVELOPE_HEX=$(printf '0x%X' $((0x80000000 | base | 1)))
TOK="--token-label $P11KMS_TEST_TOKEN"

p11() {
    pkcs11-tool --module "$MODULE" "$@"
}

hex() {
    od -An -tx1 -v "$1" | tr -d ' \n'
}

# object_block LABEL: the lines of the -O listing ($T/out) that describe the object LABEL.
object_block() {
    awk -v want="$1" '
        /^[^ ]/ { if (found) exit; block = "" }
        { block = block $0 "\n" }
        $1 == "label:" && substr($0, index($0, ":") + 1) ~ "^ *" want "$" { found = 1 }
        END { if (found) printf "%s", block }' "$T/out"
}

# block_has DESCRIPTION LABEL STRING
block_has() {
    if object_block "$2" | grep -qF -- "$3"; then
        pass "$1"
    else
        fail "$1: object $2 has no \"$3\""
        object_block "$2" | sed 's/^/#   /'
    fi
}

# flip_last IN OUT: IN with the last byte changed.
flip_last() {
    size=$(wc -c <"$1")
    head -c $((size - 1)) "$1" >"$2"
    last=$(tail -c 1 "$1" | od -An -tu1 | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((last ^ 1)))" >>"$2"
}

# value_of: the VALUE: hex of the first key printed in $T/out.
value_of() {
    sed -n 's/^ *VALUE: *\([0-9a-f]*\)$/\1/p' "$T/out" | head -n 1
}

# --- slots, tokens, mechanisms ---------------------------------------------------------------
check "list slots" p11 -L
expect_out "token $P11KMS_TEST_TOKEN is listed" "token label        : $P11KMS_TEST_TOKEN"
expect_out "token $P11KMS_TEST_PIN_TOKEN is listed" "token label        : $P11KMS_TEST_PIN_TOKEN"

check "list mechanisms" p11 $TOK -M
for m in AES-KEY-GEN AES-GCM AES-CBC-PAD; do
    expect_out "mechanism $m offered" "$m"
done
expect_out "CKM_AES_KEY_WRAP_PAD offered for wrap and unwrap" "mechtype-$WRAP_PAD"
if grep -i "mechtype-$ENVELOPE_HEX" "$T/out" | grep -q "wrap, unwrap"; then
    pass "CKM_P11KMS_ENVELOPE offered for wrap and unwrap"
else
    fail "CKM_P11KMS_ENVELOPE ($ENVELOPE_HEX) not listed with wrap, unwrap"
fi

# --- KMS key objects as configured ---------------------------------------------------------
check "list objects" p11 $TOK -O
block_has "KMS key default is an AES key" default "Secret Key Object; AES"
block_has "KMS key default has its configured ID" default "ID:         $P11KMS_TEST_KEY_ID"
block_has "KMS key default: encrypt, decrypt, wrap, unwrap" default \
    "Usage:      encrypt, decrypt, wrap, unwrap"
block_has "KMS key default is never extractable" default "never extractable"
block_has "KMS key wrap-only has its configured ID" wrap-only "ID:         c1a1"
block_has "KMS key wrap-only: wrap only" wrap-only "Usage:      wrap"
if object_block wrap-only | grep -q "Usage:.*unwrap"; then
    fail "KMS key wrap-only must not offer unwrap"
fi
block_has "KMS key decrypt-only: decrypt only" decrypt-only "Usage:      decrypt"

check "login with the token PIN" p11 --token-label $P11KMS_TEST_PIN_TOKEN -l \
    --pin $P11KMS_TEST_PIN -O
block_has "the PIN token's key is listed after login" guarded "Secret Key Object; AES"
if p11 --token-label $P11KMS_TEST_PIN_TOKEN -l --pin 0000 -O >"$T/out" 2>&1; then
    fail "a wrong PIN is refused"
else
    expect_out "a wrong PIN is refused with CKR_PIN_INCORRECT" "CKR_PIN_INCORRECT"
fi

# --- keygen --------------------------------------------------------------------------------
check "keygen AES:32, readable" p11 $TOK --keygen --key-type AES:32 --label dk --id d1 \
    --extractable
expect_out "the generated key is a 32-byte AES key" "Secret Key Object; AES length 32"
v=$(value_of)
if [ ${#v} -eq 64 ]; then pass "the generated key's value is 32 bytes"; else
    fail "generated key value '$v' is not 32 bytes"; fi
check "keygen AES:32, sensitive" p11 $TOK --keygen --key-type AES:32 --label dks --id d2 \
    --sensitive
if [ -z "$(value_of)" ]; then pass "a sensitive key's value is not shown"; else
    fail "a sensitive key's value was shown"; fi

# A key asked to wrap is a key-encryption key: no encrypt, no decrypt (the separation rule).
check "keygen --usage-wrap" p11 $TOK --keygen --key-type AES:32 --label kek --usage-wrap
expect_out "the key wraps and unwraps only" "Usage:      wrap, unwrap"
if grep -q "Usage:.*crypt" "$T/out"; then fail "a --usage-wrap key also encrypts or decrypts"; fi
if p11 $TOK --keygen --key-type AES:32 --label kek2 --usage-wrap --usage-decrypt \
    >"$T/out" 2>&1; then
    fail "a key that wraps and decrypts was generated"
else
    expect_out "wrap with decrypt: CKR_TEMPLATE_INCONSISTENT" "CKR_TEMPLATE_INCONSISTENT"
fi

# --- token objects across processes (the object store) ---------------------------------------
# A data key never both wraps and decrypts (the wrap/decrypt separation), so one key made with
# --usage-wrap wraps and unwraps, and a default one encrypts and decrypts.
STORE=$XDG_DATA_HOME/p11kms/$P11KMS_TEST_TOKEN
objs() { ls "$STORE" 2>/dev/null | grep -c '\.obj$'; }
before=$(objs)
IV=000102030405060708090a0b0c0d0e0f
check "store: keygen AES:32 (process 1)" p11 $TOK --keygen --key-type AES:32 --label sk --id 71
if [ "$(objs)" -eq $((before + 1)) ]; then pass "store: its file is in the token's store"; else
    fail "store: no new file in $STORE"; fi
check "store: --list-objects (process 2)" p11 $TOK -O
block_has "store: the key is listed in a new process" sk "Secret Key Object; AES length 32"
head -c 1000 /dev/urandom >"$T/st-plain"
check "store: encrypt AES-CBC-PAD (process 3)" p11 $TOK --encrypt -m AES-CBC-PAD --iv $IV --id 71 \
    -i "$T/st-plain" -o "$T/st-ct"
check "store: decrypt AES-CBC-PAD (process 4)" p11 $TOK --decrypt -m AES-CBC-PAD --iv $IV --id 71 \
    -i "$T/st-ct" -o "$T/st-back"
same_file "store: the plaintext comes back" "$T/st-plain" "$T/st-back"
if [ "$(wc -c <"$T/st-ct")" -eq 1008 ]; then pass "store: CBC-PAD padded 1000 bytes to 1008"
else fail "store: ciphertext of $(wc -c <"$T/st-ct") bytes"; fi
check "store: keygen --usage-wrap (process 5)" p11 $TOK --keygen --key-type AES:32 --label skek \
    --id 72 --usage-wrap
check "store: keygen an extractable key to carry (process 6)" p11 $TOK --keygen --key-type AES:16 \
    --label spay --id 73 --extractable
check "store: --wrap with the stored wrapping key (process 7)" p11 $TOK --wrap -m $WRAP_PAD \
    --id 72 --application-id 73 -o "$T/st-wrapped"
check "store: --unwrap in another process (process 8)" p11 $TOK --unwrap -m $WRAP_PAD --id 72 \
    -i "$T/st-wrapped" --key-type AES: --application-id 74 --application-label spay2 --extractable
check "store: read the carried key (process 9)" p11 $TOK --read-object --type secrkey --id 73 \
    -o "$T/st-v1"
check "store: read the unwrapped key (process 10)" p11 $TOK --read-object --type secrkey --id 74 \
    -o "$T/st-v2"
if [ -s "$T/st-v1" ] && cmp -s "$T/st-v1" "$T/st-v2"; then
    pass "store: the unwrapped key is the wrapped one"
else
    fail "store: the unwrapped key differs from the wrapped one"
fi
if p11 $TOK --decrypt -m AES-CBC-PAD --iv $IV --id 72 -i "$T/st-ct" -o "$T/st-x" >"$T/out" 2>&1
then
    fail "store: the wrapping key decrypted"
else
    expect_out "store: the wrapping key may not decrypt" "CKR_KEY_FUNCTION_NOT_PERMITTED"
fi
before=$(objs)
check "store: --delete-object (process 11)" p11 $TOK --delete-object --type secrkey --label sk
check "store: --list-objects (process 12)" p11 $TOK -O
if object_block sk | grep -q .; then fail "store: the deleted key is still listed"; else
    pass "store: the deleted key is gone"; fi
if [ "$(objs)" -eq $((before - 1)) ]; then pass "store: and its file"; else
    fail "store: its file is still there"; fi

# --- objects written and read back ------------------------------------------------------------
# Each run writes an object and reads it back.
printf 'p11kms data object\n' >"$T/data.txt"
check "--write-object --type data, then --read-object, in one run" p11 $TOK \
    --write-object "$T/data.txt" --type data --label doc --application-label p11kms-test \
    --application-id 1.2.3.4 --read-object -o "$T/data.out"
expect_out "pkcs11-tool reports the data object" "Created Data Object"
expect_out "with its application" "application:    'p11kms-test'"
expect_out "and its object id" "app_id:         1.2.3.4"
same_file "the data object reads back as written" "$T/data.txt" "$T/data.out"

head -c 32 /dev/urandom >"$T/sk.bin"
check "--write-object --type secrkey (readable), then --read-object" p11 $TOK \
    --write-object "$T/sk.bin" --type secrkey --key-type AES:32 --label imported --extractable \
    --read-object -o "$T/sk.out"
expect_out "pkcs11-tool reports an AES key" "Secret Key Object; AES length 32"
same_file "the secret key's value reads back" "$T/sk.bin" "$T/sk.out"
if p11 $TOK --write-object "$T/sk.bin" --type secrkey --key-type AES:32 --label imported2 \
    --sensitive --read-object -o "$T/sk2.out" >"$T/out" 2>&1; then
    fail "a sensitive key's value was read"
else
    expect_out "a sensitive key's value: CKR_ATTRIBUTE_SENSITIVE" "CKR_ATTRIBUTE_SENSITIVE"
fi

# --- wrap and unwrap (CKM_AES_KEY_WRAP_PAD, the key's default context) -----------------------
head -c 32 /dev/urandom >"$T/k.bin"
K=$(hex "$T/k.bin")
if check "seed envelope of a known key" "$SEED" "$MODULE" "$P11KMS_TEST_TOKEN" \
    "$P11KMS_TEST_KEY" "$T/k.bin" "$T/e0.bin"; then
    check "unwrap the seed and wrap the result again, in one run" p11 $TOK \
        --unwrap --wrap -m $WRAP_PAD --id $P11KMS_TEST_KEY_ID -i "$T/e0.bin" -o "$T/e1.bin" \
        --key-type AES: --application-id d3 --application-label unwrapped --extractable
    expect_out "pkcs11-tool reports the unwrap" "Key unwrapped"
    expect_out "pkcs11-tool reports the wrap" "Key wrapped"
    if [ "$(value_of)" = "$K" ]; then pass "unwrapped key has the seeded value"; else
        fail "unwrapped key value differs from the seeded one"; fi
    if [ -s "$T/e1.bin" ] && ! cmp -s "$T/e0.bin" "$T/e1.bin"; then
        pass "a new envelope was written (fresh nonce)"
    else
        fail "--wrap wrote no new envelope"
    fi

    check "unwrap pkcs11-tool's envelope in a fresh process" p11 $TOK --unwrap -m $WRAP_PAD \
        --id $P11KMS_TEST_KEY_ID -i "$T/e1.bin" --key-type AES: --application-id d4 \
        --extractable
    if [ "$(value_of)" = "$K" ]; then pass "the key survives wrap and unwrap across processes"
    else fail "key unwrapped in a fresh process differs"; fi

    # Refusals: a key without the unwrap permission, another KMS key, a tampered blob.
    if p11 $TOK --unwrap -m $WRAP_PAD --id c1a1 -i "$T/e1.bin" --key-type AES: \
        --application-id d5 >"$T/out" 2>&1; then
        fail "the wrap-only key unwrapped"
    else
        expect_out "unwrap with the wrap-only key: CKR_KEY_FUNCTION_NOT_PERMITTED" \
            "CKR_KEY_FUNCTION_NOT_PERMITTED"
    fi
    if p11 --token-label $P11KMS_TEST_PIN_TOKEN -l --pin $P11KMS_TEST_PIN --unwrap \
        -m $WRAP_PAD --id c1b0 -i "$T/e1.bin" --key-type AES: --application-id d6 \
        >"$T/out" 2>&1; then
        fail "another KMS key unwrapped the envelope"
    else
        expect_out "unwrap with another KMS key: CKR_WRAPPED_KEY_INVALID" \
            "CKR_WRAPPED_KEY_INVALID"
    fi
    flip_last "$T/e1.bin" "$T/bad.bin"
    if p11 $TOK --unwrap -m $WRAP_PAD --id $P11KMS_TEST_KEY_ID -i "$T/bad.bin" --key-type AES: \
        --application-id d7 >"$T/out" 2>&1; then
        fail "a tampered envelope unwrapped"
    else
        expect_out "a tampered envelope: CKR_WRAPPED_KEY_INVALID" "CKR_WRAPPED_KEY_INVALID"
    fi
fi

# --- random, self test -----------------------------------------------------------------------
check "generate 64 random bytes" p11 $TOK --generate-random 64 -o "$T/r1.bin"
check "generate 64 more" p11 $TOK --generate-random 64 -o "$T/r2.bin"
if [ "$(wc -c <"$T/r1.bin")" -eq 64 ] && ! cmp -s "$T/r1.bin" "$T/r2.bin"; then
    pass "random output has the asked length and differs between calls"
else
    fail "random output is short or repeats"
fi
check "pkcs11-tool --test" p11 $TOK --test

clients_done
