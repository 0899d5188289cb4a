#!/bin/sh
# pkcs11-tool.sh - OpenSC pkcs11-tool against the built module: slots, objects with their
# configured usages, mechanisms, login, keygen, --wrap/--unwrap with CKM_AES_KEY_WRAP_PAD, random.
#
# Data keys live only in the process that made them. pkcs11-tool finds its keys when it starts,
# so within one run it can wrap only a key it unwrapped in that run (--unwrap runs before --wrap):
# the chain is seed-envelope (known value K) -> pkcs11-tool unwrap+wrap -> pkcs11-tool unwrap in a
# fresh process, and every unwrapped value is compared with K. Keygen'd keys are followed across
# processes inside `p11-kit server`; data-key encryption goes through it too when the p11-kit RPC
# carries the mechanism's parameters (p11-kit 0.24 carries none: those checks report SKIP).
. "$top_srcdir/tests/clients/common.sh"
clients_init pkcs11-tool
clients_need pkcs11-tool od
clients_config

SEED=$top_builddir/tests/clients/seed-envelope
WRAP_PAD=0x210A # CKM_AES_KEY_WRAP_PAD: pkcs11-tool 0.23 has no name for it
ENVELOPE_HEX=0xD04B4D01 # CKM_P11KMS_ENVELOPE, as pkcs11-tool prints an unknown mechanism
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

# --- across processes, through p11-kit server ------------------------------------------------
CLIENT=$(clients_p11kit_client) || CLIENT=
if command -v p11-kit >/dev/null 2>&1 && [ -n "$CLIENT" ]; then
    clients_start_server
    pc() {
        pkcs11-tool --module "$CLIENT" $TOK "$@"
    }
    check "keygen through p11-kit server" pc --keygen --key-type AES:32 --label shared \
        --id e1 --extractable
    gen=$(value_of)
    check "read the key in another process" pc --read-object --type secrkey --id e1 \
        -o "$T/shared.bin"
    if [ -n "$gen" ] && [ "$(hex "$T/shared.bin")" = "$gen" ]; then
        pass "a key generated in one pkcs11-tool run is read back by the next"
    else
        fail "the key read back differs from the generated one"
    fi
    check "list objects through p11-kit server" pc -O
    block_has "the shared key is listed by a third run" shared "ID:         e1"

    check "mechanisms carried by the p11-kit RPC" pc -M
    head -c 1000 /dev/urandom >"$T/plain.bin"
    IV=000102030405060708090a0b0c0d0e0f
    if grep -q "AES-CBC-PAD" "$T/out"; then
        check "AES-CBC-PAD encrypt with the shared data key" pc --encrypt -m AES-CBC-PAD \
            --id e1 --iv $IV -i "$T/plain.bin" -o "$T/cbc.bin"
        openssl enc -aes-256-cbc -K "$gen" -iv $IV -in "$T/plain.bin" -out "$T/cbc-ref.bin"
        same_file "AES-CBC-PAD ciphertext equals OpenSSL's" "$T/cbc.bin" "$T/cbc-ref.bin"
        check "AES-CBC-PAD decrypt in another run" pc --decrypt -m AES-CBC-PAD --id e1 \
            --iv $IV -i "$T/cbc.bin" -o "$T/cbc-dec.bin"
        same_file "AES-CBC-PAD round trip" "$T/plain.bin" "$T/cbc-dec.bin"
    else
        echo "SKIP - AES-CBC-PAD with a data key: this p11-kit's RPC does not carry its IV" \
            "(p11-kit 0.24), and pkcs11-tool cannot use a key made by an earlier run otherwise"
    fi
    if grep -q "AES-GCM" "$T/out" && pkcs11-tool 2>&1 | grep -q -- "--tag-bits-len"; then
        check "AES-GCM encrypt with the shared data key" pc --encrypt -m AES-GCM --id e1 \
            --iv 000102030405060708090a0b --aad 0a0b --tag-bits-len 128 -i "$T/plain.bin" \
            -o "$T/gcm.bin"
        check "AES-GCM decrypt in another run" pc --decrypt -m AES-GCM --id e1 \
            --iv 000102030405060708090a0b --aad 0a0b --tag-bits-len 128 -i "$T/gcm.bin" \
            -o "$T/gcm-dec.bin"
        same_file "AES-GCM round trip" "$T/plain.bin" "$T/gcm-dec.bin"
    else
        echo "SKIP - AES-GCM: this pkcs11-tool has no GCM parameters (OpenSC < 0.24) or" \
            "this p11-kit's RPC does not carry them"
    fi
else
    echo "SKIP - cross-process checks: p11-kit server or p11-kit-client.so not installed"
fi

clients_done
