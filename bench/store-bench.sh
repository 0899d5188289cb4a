#!/bin/sh
# store-bench.sh - `make bench`: the object store with 1,000 stored keys. A fresh process finds
# all of them (the first C_FindObjects reads the store) and uses one; on the local backend, on
# the loopback AWS KMS test server - where the server counts the KMS calls: none for the find,
# exactly one Decrypt for the first use, none for the second - and on SoftHSM2 for comparison.
# Speed never fails the run; a wrong number of KMS calls does.
#
# Environment: top_builddir, top_srcdir, P11KMS_TEST_MODULE, STORE_BENCH_OBJECTS (default 1000),
# STORE_BENCH_RUNS (warm finds, default 21), SOFTHSM2_MODULE.
set -eu
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
BENCH=$top_builddir/bench/store-bench
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
N=${STORE_BENCH_OBJECTS:-1000}
RUNS=${STORE_BENCH_RUNS:-21}
[ -x "$BENCH" ] || { echo "store-bench: $BENCH not built (run make bench)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-store-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
umask 077
. "$top_srcdir/tests/clients/test-config.sh"

field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# store_config PATH STORE BACKEND-MEMBERS [BACKENDS-OBJECT]
store_config() {
    printf '{%s"tokens": [{"label": "bench", "store": "%s", "keys": [{"label": "kek", %s}]}]}\n' \
        "${4:-}" "$2" "$3" >"$1"
}

p11kms_test_keyfile "$tmp/master.key"
store_config "$tmp/local.conf" "$tmp/store-local" "\"backend\": \"local\", \"key_file\": \"$tmp/master.key\""
export P11KMS_LOG=${P11KMS_LOG:-error}
l_fill=$(P11KMS_CONFIG="$tmp/local.conf" "$BENCH" "$MODULE" bench fill "$N")
l_find=$(P11KMS_CONFIG="$tmp/local.conf" "$BENCH" "$MODULE" bench find "$RUNS")
l_use=$(P11KMS_CONFIG="$tmp/local.conf" "$BENCH" "$MODULE" bench use s-7)
[ "$(field objects "$l_find")" -eq $((N + 1)) ] ||
    { echo "store-bench: the local store shows $(field objects "$l_find") objects" >&2; exit 1; }

# The AWS test server counts the KMS calls; in a subshell, so a missing server only skips it.
a_line=$(
    . "$top_srcdir/tests/backends/aws/aws-env.sh" >/dev/null
    conf=$tmp/aws.conf
    store_config "$conf" "$tmp/store-aws" "\"backend\": \"aws\", \"key_id\": \"$P11KMS_AWS_KEY_ARN\"" \
        "\"backends\": {\"aws\": {\"endpoint\": \"$P11KMS_AWS_ENDPOINT\"}}, "
    total() {
        p11kms_aws_ctl GET /counters | "$p11kms_aws_py" -c \
            'import json, sys; print(sum(json.load(sys.stdin)["requests"].values()))'
    }
    e0=$(p11kms_aws_counter Encrypt)
    fill=$(P11KMS_CONFIG=$conf "$BENCH" "$MODULE" bench fill "$N")
    e1=$(p11kms_aws_counter Encrypt)
    t0=$(total)
    find=$(P11KMS_CONFIG=$conf "$BENCH" "$MODULE" bench find "$RUNS")
    t1=$(total)
    d0=$(p11kms_aws_counter Decrypt)
    use=$(P11KMS_CONFIG=$conf "$BENCH" "$MODULE" bench use s-7)
    d1=$(p11kms_aws_counter Decrypt)
    t2=$(total)
    echo "aws fill_per_s=$(field objects_per_s "$fill") encrypts=$((e1 - e0)) find_first_ms=$(field first_ms "$find") find_median_ms=$(field median_ms "$find") find_calls=$((t1 - t0)) use_first_ms=$(field first_ms "$use") use_second_ms=$(field second_ms "$use") use_decrypts=$((d1 - d0)) use_calls=$((t2 - t1)) found=$(field objects "$find")"
) || a_line=""

s_fill= s_find=
for cand in "${SOFTHSM2_MODULE:-}" /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do
    if [ -n "$cand" ] && [ -f "$cand" ] && command -v softhsm2-util >/dev/null 2>&1; then
        mkdir "$tmp/tokens"
        printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
            "$tmp/tokens" >"$tmp/softhsm2.conf"
        export SOFTHSM2_CONF="$tmp/softhsm2.conf"
        softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 >/dev/null
        s_fill=$(STORE_BENCH_PIN=1234 "$BENCH" "$cand" bench fill "$N")
        s_find=$(STORE_BENCH_PIN=1234 "$BENCH" "$cand" bench find "$RUNS")
        break
    fi
done

awk -v n="$N" -v lf="$(field objects_per_s "$l_fill")" -v lff="$(field first_ms "$l_find")" \
    -v lfm="$(field median_ms "$l_find")" -v li="$(field init_ms "$l_find")" \
    -v lu1="$(field first_ms "$l_use")" -v lu2="$(field second_ms "$l_use")" \
    -v sf="$(field objects_per_s "$s_fill")" -v sff="$(field first_ms "$s_find")" \
    -v sfm="$(field median_ms "$s_find")" \
    -v af="$(field fill_per_s "$a_line")" -v aff="$(field find_first_ms "$a_line")" \
    -v afm="$(field find_median_ms "$a_line")" -v afc="$(field find_calls "$a_line")" \
    -v au1="$(field use_first_ms "$a_line")" -v au2="$(field use_second_ms "$a_line")" \
    -v aud="$(field use_decrypts "$a_line")" -v auc="$(field use_calls "$a_line")" \
    -v aenc="$(field encrypts "$a_line")" -v afound="$(field found "$a_line")" '
function num(x) { return x == "" ? "n/a" : x }
function fx(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "n/a" : sprintf("%.2fx", a / b) }
BEGIN {
    printf "\n%d stored AES-256 keys; each figure from a fresh process\n\n", n
    printf "%-46s %12s %12s %12s\n", "", "p11kms local", "p11kms aws", "SoftHSM2"
    printf "%-46s %12s %12s %12s\n", "token keys made per second", num(lf), num(af), num(sf)
    printf "%-46s %12s %12s %12s\n", "C_Initialize, ms", num(li), "", ""
    printf "%-46s %12s %12s %12s\n", "first C_FindObjects over all (reads store), ms",
        num(lff), num(aff), num(sff)
    printf "%-46s %12s %12s %12s\n", "later C_FindObjects over all, median ms", num(lfm), num(afm),
        num(sfm)
    printf "%-46s %12s %12s %12s\n", "first use of a stored key (unseal), ms", num(lu1), num(au1), ""
    printf "%-46s %12s %12s %12s\n", "second use, ms", num(lu2), num(au2), ""
    printf "%-46s %12s\n", "  p11kms local / SoftHSM2, first find", fx(lff, sff)
    printf "\n%-46s %10s %10s  %s\n", "target", "wanted", "measured", "verdict"
    printf "%-46s %10s %10s  %s\n", "find over all, first, local", "< 50 ms", num(lff),
        lff == "" ? "n/a" : (lff < 50 ? "PASS" : "MISS")
    printf "%-46s %10s %10s  %s\n", "find over all, first, aws", "< 50 ms", num(aff),
        aff == "" ? "n/a" : (aff < 50 ? "PASS" : "MISS")
    printf "%-46s %10s %10s  %s\n", "KMS calls of the find process (aws)", "0", num(afc),
        afc == "" ? "n/a" : (afc == 0 ? "PASS" : "FAIL")
    printf "%-46s %10s %10s  %s\n", "KMS Decrypts for first+second use (aws)", "1", num(aud),
        aud == "" ? "n/a" : (aud == 1 && auc == 1 ? "PASS" : "FAIL")
    printf "%-46s %10s %10s  %s\n", "KMS Encrypts to store the keys (aws)", n, num(aenc),
        aenc == "" ? "n/a" : (aenc == n ? "PASS" : "FAIL")
    if (afound != "" && afound != n + 1) printf "aws store shows %s objects\n", afound
}'
# A wrong number of KMS calls is a defect, not a slow machine.
if [ -n "$a_line" ]; then
    [ "$(field find_calls "$a_line")" -eq 0 ] && [ "$(field use_decrypts "$a_line")" -eq 1 ] &&
        [ "$(field use_calls "$a_line")" -eq 1 ] && [ "$(field encrypts "$a_line")" -eq "$N" ] ||
        { echo "store-bench: unexpected KMS calls: $a_line" >&2; exit 1; }
fi
