#!/bin/sh
# core-bench.sh - the core benchmark behind `make bench`: p11kms (local backend) and SoftHSM2 side
# by side in one run, with ratios and targets: envelope wrapping, AES-GCM, memory, C_Initialize,
# and ECDSA P-256 signatures with one key file (a p11kms local key, imported into SoftHSM2).
# Speed never fails the run; broken modules do.
#
# Environment: top_builddir, P11KMS_TEST_MODULE (set by make bench), BENCH_SECONDS (per timed
# figure, default 3), SOFTHSM2_MODULE (default: Debian's path), BENCH_CYCLES (default 100000).
set -eu

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
BENCH=${BENCH:-$top_builddir/bench/bench}
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
SECS=${BENCH_SECONDS:-3}
CYCLES=${BENCH_CYCLES:-100000}
SAMPLE=$((CYCLES / 10))
INIT_KEYS=1000
INIT_RUNS=15
MEM_FLAT_KIB=256

for cand in "${SOFTHSM2_MODULE:-}" /usr/lib/softhsm/libsofthsm2.so \
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/local/lib/softhsm/libsofthsm2.so; do
    if [ -n "$cand" ] && [ -f "$cand" ]; then
        SOFTHSM=$cand
        break
    fi
done
SOFTHSM=${SOFTHSM:-}

[ -x "$BENCH" ] || { echo "core-bench: $BENCH not built (run make bench)" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "core-bench: module $MODULE not built" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
umask 077

# --- p11kms configuration: one local key for the measurements, 1,000 for C_Initialize --------
. "$top_srcdir/tests/clients/test-config.sh"
p11kms_test_keyfile "$tmp/master.key"
p11kms_bench_config "$tmp/p11kms.conf" "$tmp/master.key" 1
p11kms_bench_config "$tmp/p11kms-$INIT_KEYS.conf" "$tmp/master.key" "$INIT_KEYS"
# the ECDSA key: made by p11kms keygen, its public key the reference both modules are checked on
P11KMS_TOOL=${P11KMS_TOOL:-$top_builddir/p11kms}
"$P11KMS_TOOL" keygen --type ec-p256 "$tmp/ec.pem" >/dev/null
openssl pkey -in "$tmp/ec.pem" -pubout -out "$tmp/ec.pub"
cat >"$tmp/p11kms-ec.conf" <<END
{"tokens": [{"label": "bench", "keys": [
  {"label": "ec", "backend": "local", "type": "ec-p256", "key_file": "$tmp/ec.pem"}]}]}
END

# field NAME LINE: the value of NAME=... in one bench output line.
field() {
    printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

run_p11kms() {
    P11KMS_CONFIG="$tmp/p11kms.conf" P11KMS_LOG=${P11KMS_LOG:-error} \
        "$BENCH" "$@" --module "$MODULE" --token bench --key kek
}

echo "p11kms: $MODULE (local backend, CKM_P11KMS_ENVELOPE with a per-call context)"
k_w1=$(run_p11kms wrap --mech envelope --context purpose=bench --threads 1 --seconds "$SECS")
k_w2=$(run_p11kms wrap --mech envelope --context purpose=bench --threads 2 --seconds "$SECS")
k_gcm=$(run_p11kms gcm --seconds "$SECS")
k_mem=$(run_p11kms mem --mech envelope --context purpose=bench --cycles "$CYCLES" \
    --sample "$SAMPLE")
k_init=$(P11KMS_CONFIG="$tmp/p11kms-$INIT_KEYS.conf" P11KMS_LOG=${P11KMS_LOG:-error} \
    "$BENCH" init --module "$MODULE" --runs "$INIT_RUNS" --expect-keys "$INIT_KEYS")
run_p11kms_ec() {
    P11KMS_CONFIG="$tmp/p11kms-ec.conf" P11KMS_LOG=${P11KMS_LOG:-error} \
        "$BENCH" ecsign "$@" --module "$MODULE" --token bench --key ec --pubkey "$tmp/ec.pub"
}
k_e1=$(run_p11kms_ec --threads 1 --seconds "$SECS")
k_e2=$(run_p11kms_ec --threads 2 --seconds "$SECS")

s_w1= s_w2= s_gcm= s_mem= s_e1= s_e2=
if [ -n "$SOFTHSM" ] && command -v softhsm2-util >/dev/null 2>&1; then
    echo "SoftHSM2: $SOFTHSM (CKM_AES_KEY_WRAP_PAD, AES-256 token wrapping key; the same EC key)"
    mkdir "$tmp/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$tmp/tokens" > "$tmp/softhsm2.conf"
    SOFTHSM2_CONF="$tmp/softhsm2.conf"
    export SOFTHSM2_CONF
    softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 12345678 >/dev/null
    # run_softhsm COMMAND [OPTION...]: the options after the defaults (--key ec wins over kek)
    run_softhsm() {
        cmd=$1
        shift
        "$BENCH" "$cmd" --module "$SOFTHSM" --token bench --pin 1234 --key kek "$@"
    }
    run_softhsm mkkey >/dev/null
    s_w1=$(run_softhsm wrap --mech kwp-pad --threads 1 --seconds "$SECS")
    s_w2=$(run_softhsm wrap --mech kwp-pad --threads 2 --seconds "$SECS")
    s_gcm=$(run_softhsm gcm --seconds "$SECS")
    s_mem=$(run_softhsm mem --mech kwp-pad --cycles "$CYCLES" --sample "$SAMPLE")
    softhsm2-util --import "$tmp/ec.pem" --token bench --label ec --id 01 --pin 1234 >/dev/null
    s_e1=$(run_softhsm ecsign --key ec --pubkey "$tmp/ec.pub" --threads 1 --seconds "$SECS")
    s_e2=$(run_softhsm ecsign --key ec --pubkey "$tmp/ec.pub" --threads 2 --seconds "$SECS")
else
    echo "SoftHSM2 not installed: p11kms figures only, no p11kms/SoftHSM ratio"
fi

awk -v kw1="$(field pairs_per_s "$k_w1")" -v kw2="$(field pairs_per_s "$k_w2")" \
    -v sw1="$(field pairs_per_s "$s_w1")" -v sw2="$(field pairs_per_s "$s_w2")" \
    -v kgm="$(field module_mib_s "$k_gcm")" -v kge="$(field evp_mib_s "$k_gcm")" \
    -v sgm="$(field module_mib_s "$s_gcm")" -v sge="$(field evp_mib_s "$s_gcm")" \
    -v kc2="$(field cpus "$k_w2")" -v sc2="$(field cpus "$s_w2")" \
    -v ke1="$(field sigs_per_s "$k_e1")" -v ke2="$(field sigs_per_s "$k_e2")" \
    -v se1="$(field sigs_per_s "$s_e1")" -v se2="$(field sigs_per_s "$s_e2")" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" \
    -v kmg="$(field growth_kib "$k_mem")" -v smg="$(field growth_kib "$s_mem")" \
    -v ims="$(field median_ms "$k_init")" -v imin="$(field min_ms "$k_init")" \
    -v imax="$(field max_ms "$k_init")" \
    -v ncpu="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')" \
    -v cycles="$CYCLES" -v sample="$SAMPLE" -v flat="$MEM_FLAT_KIB" -v secs="$SECS" \
    -v nkeys="$INIT_KEYS" -v runs="$INIT_RUNS" '
function num(x) { return x == "" ? "n/a" : x }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
function fx(r) { return r == "" ? "n/a" : sprintf("%.2fx", r) }
function pct(r) { return r == "" ? "n/a" : sprintf("%.1f%%", 100 * r) }
function verdict(ok, r) { return r == "" ? "n/a" : (ok ? "PASS" : "MISS") }
BEGIN {
    printf "\n%d CPUs online, load average %s; %s s per timed figure; 32-byte data keys; "\
        "16 KiB GCM buffers\n\n", ncpu, load, secs
    printf "%-44s %14s %14s\n", "", "p11kms", "SoftHSM2"
    printf "%-44s %14s %14s\n", "wrap+unwrap pairs/s, 1 thread", num(kw1), num(sw1)
    printf "%-44s %14s %14s\n", "wrap+unwrap pairs/s, 2 threads", num(kw2), num(sw2)
    printf "%-44s %14s %14s\n", "  2 threads / 1 thread", fx(ratio(kw2, kw1)), fx(ratio(sw2, sw1))
    printf "%-44s %14s %14s\n", "  CPUs kept busy by the 2 threads", num(kc2), num(sc2)
    printf "%-44s %14s %14s\n", "AES-256-GCM C_Encrypt MiB/s", num(kgm), num(sgm)
    printf "%-44s %14s %14s\n", "  raw OpenSSL EVP, same process, MiB/s", num(kge), num(sge)
    printf "%-44s %14s %14s\n", "  module / EVP", pct(ratio(kgm, kge)), pct(ratio(sgm, sge))
    printf "%-44s %14s %14s\n", sprintf("RSS growth, cycle %d -> %d, KiB", sample, cycles),
        num(kmg), num(smg)
    printf "%-44s %14s %14s\n", "ECDSA P-256 signatures/s, 1 thread", num(ke1), num(se1)
    printf "%-44s %14s %14s\n", "ECDSA P-256 signatures/s, 2 threads", num(ke2), num(se2)
    printf "%-44s %14s\n", sprintf("C_Initialize, %d keys, median of %d, ms", nkeys, runs), num(ims)
    printf "%-44s %14s\n", "  min / max, ms", imin " / " imax

    r1 = ratio(kw1, sw1); r2 = ratio(kw2, sw2); sc = ratio(kw2, kw1); g = ratio(kgm, kge)
    printf "\n%-40s %10s %10s  %s\n", "target", "wanted", "measured", "verdict"
    printf "%-40s %10s %10s  %s\n", "p11kms / SoftHSM pairs/s, 1 thread", ">= 3x", fx(r1),
        verdict(r1 >= 3, r1)
    printf "%-40s %10s %10s  %s\n", "p11kms / SoftHSM pairs/s, 2 threads", ">= 3x", fx(r2),
        verdict(r2 >= 3, r2)
    e1 = ratio(ke1, se1); e2 = ratio(ke2, se2)
    printf "%-40s %10s %10s  %s\n", "p11kms / SoftHSM ECDSA P-256, 1 thread", ">= 2x", fx(e1),
        verdict(e1 >= 2, e1)
    printf "%-40s %10s %10s  %s\n", "p11kms / SoftHSM ECDSA P-256, 2 threads", ">= 2x", fx(e2),
        verdict(e2 >= 2, e2)
    printf "%-40s %10s %10s  %s\n", "p11kms 2 threads / 1 thread", ">= 1.6x", fx(sc),
        verdict(sc >= 1.6, sc)
    printf "%-40s %10s %10s  %s\n", "p11kms GCM / raw EVP", ">= 90%", pct(g), verdict(g >= 0.9, g)
    printf "%-40s %10s %10s  %s\n", "p11kms RSS growth over " cycles " cycles",
        "<= " flat " KiB", num(kmg) " KiB", verdict(kmg <= flat, kmg)
    printf "%-40s %10s %10s  %s\n", "C_Initialize with " nkeys " keys", "< 20 ms", num(ims) " ms",
        verdict(ims < 20, ims)
    if (ncpu != "?" && ncpu < 2)
        printf "\nnote: one CPU online, the 2-thread figures cannot scale here\n"
}'
