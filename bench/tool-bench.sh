#!/bin/sh
# tool-bench.sh - throughput of "p11kms encrypt" and "decrypt" of a file in memory-backed storage
# to /dev/null, against single-threaded "openssl speed -evp aes-256-gcm" at 16 KiB measured in the
# same rounds (target: at least as fast), with the tool's peak RSS (target < 64 MiB). Writing to
# a new file is shown as well, next to what dd and cp reach, but judged by nothing: writes to
# tmpfs are too noisy here. Part of make bench; speed never fails the run, a broken tool does.
#
# Environment: top_builddir, P11KMS_TEST_MODULE (set by make bench), BENCH_TOOL_MIB (file size,
# default 1024), BENCH_ROUNDS (default 3; each figure is the best round), BENCH_DIR (default
# /dev/shm).
set -eu

top_builddir=${top_builddir:-.}
TOOL=$top_builddir/p11kms
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
MIB=${BENCH_TOOL_MIB:-1024}
ROUNDS=${BENCH_ROUNDS:-3}
DIR=${BENCH_DIR:-/dev/shm}
PY=${PYTHON3:-/usr/bin/python3}
BYTES=$((MIB * 1024 * 1024))

[ -x "$TOOL" ] || { echo "tool-bench: $TOOL not built" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "tool-bench: module $MODULE not built" >&2; exit 1; }
command -v openssl >/dev/null || { echo "tool-bench: openssl not installed" >&2; exit 1; }
avail=$(df -Pk "$DIR" | awk 'NR == 2 {print $4}')
if [ "$avail" -lt $((3 * BYTES / 1024 + 65536)) ]; then
    echo "tool-bench: under $((3 * MIB)) MiB free in $DIR; set BENCH_DIR or BENCH_TOOL_MIB" >&2
    exit 1
fi

tmp=$(mktemp -d "$DIR/p11kms-tool-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
export P11KMS_MODULE="$MODULE" KMS_KEY_ID=insecure-test-key
unset P11KMS_CONFIG

# timed OUTFILE CMD...: run CMD; OUTFILE gets "seconds peak-rss-KiB". Fails if CMD fails.
timed() {
    "$PY" -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[2:])
t = time.monotonic() - t
open(sys.argv[1], "w").write("%.6f %d\n" % (t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$@"
}
# best CURRENT NEW: the larger of two figures (the best speed; for RSS, the worst peak).
best() {
    awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'
}
mbs() { # mbs SECONDS: MB/s (10^6 bytes) for the file size
    awk -v s="$1" -v n="$BYTES" 'BEGIN { printf "%.0f", n / s / 1e6 }'
}

# Generated, incompressible input: AES-CTR of zeros is as fast to make as it is random-looking.
openssl enc -aes-128-ctr -nosalt -pass pass:p11kms-bench -in /dev/zero 2>/dev/null |
    head -c "$BYTES" >"$tmp/plain"

ssl=0 enc=0 dec=0 cpy=0 wr=0 enc_rss=0 dec_rss=0 enc_null=0 dec_null=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
    # Rounds alternate the measurements so a busy neighbour hurts them alike.
    s=$(openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null |
        awk '/^AES-256-GCM/ { v = $2; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }')
    ssl=$(best "$ssl" "${s:-0}")

    # What the machine's file I/O allows: writing a new file of the size with nothing to read
    # (no tool that writes its output can be faster), and copying the input.
    rm -f "$tmp/copy"
    timed "$tmp/t" dd if=/dev/zero of="$tmp/copy" bs=1M count="$MIB" status=none
    wr=$(best "$wr" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    rm -f "$tmp/copy"
    timed "$tmp/t" cp "$tmp/plain" "$tmp/copy"
    cpy=$(best "$cpy" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    rm -f "$tmp/copy"

    timed "$tmp/t" "$TOOL" encrypt --no-progress "$tmp/plain" /dev/null
    enc_null=$(best "$enc_null" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    enc_rss=$(best "$enc_rss" "$(cut -d' ' -f2 "$tmp/t")")
    rm -f "$tmp/enc"
    timed "$tmp/t" "$TOOL" encrypt --no-progress "$tmp/plain" "$tmp/enc"
    enc=$(best "$enc" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    enc_rss=$(best "$enc_rss" "$(cut -d' ' -f2 "$tmp/t")")

    timed "$tmp/t" "$TOOL" decrypt --no-progress "$tmp/enc" /dev/null
    dec_null=$(best "$dec_null" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    dec_rss=$(best "$dec_rss" "$(cut -d' ' -f2 "$tmp/t")")

    rm -f "$tmp/dec"
    timed "$tmp/t" "$TOOL" decrypt --no-progress "$tmp/enc" "$tmp/dec"
    dec=$(best "$dec" "$(mbs "$(cut -d' ' -f1 "$tmp/t")")")
    dec_rss=$(best "$dec_rss" "$(cut -d' ' -f2 "$tmp/t")")
    cmp -s "$tmp/plain" "$tmp/dec" || { echo "tool-bench: decrypt gave other bytes" >&2; exit 1; }
    rm -f "$tmp/dec"
    round=$((round + 1))
done

verdict() { # verdict VALUE TARGET: "ok" when VALUE >= TARGET
    awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "ok" : "BELOW TARGET" }'
}
pct() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0) ? 100 * a / b : 0 }'
}
echo "tool: $MIB MiB file in $DIR, $(nproc) CPUs, best of $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  openssl speed -evp aes-256-gcm, 16 KiB:  $ssl MB/s"
ok_rss() { awk -v r="$1" 'BEGIN { print (r < 65536) ? "ok" : "OVER" }'; }
for what in encrypt decrypt; do
    if [ "$what" = encrypt ]; then v=$enc_null r=$enc_rss; else v=$dec_null r=$dec_rss; fi
    p=$(pct "$v" "$ssl")
    printf '  p11kms %-8s to /dev/null   %6s MB/s = %3s%% of openssl speed (target >= 100%%: %s); peak RSS %s KiB (target < 65536: %s)\n' \
        "$what" "$v" "$p" "$(verdict "$p" 100)" "$r" "$(ok_rss "$r")"
done
echo "  writing a new file in $DIR (not judged):"
echo "    dd from /dev/zero:   $wr MB/s = $(pct "$wr" "$ssl")% of openssl speed"
echo "    cp:                  $cpy MB/s"
echo "    p11kms encrypt:      $enc MB/s = $(pct "$enc" "$ssl")% of openssl speed, $(pct "$enc" "$cpy")% of cp"
echo "    p11kms decrypt:      $dec MB/s = $(pct "$dec" "$ssl")% of openssl speed, $(pct "$dec" "$cpy")% of cp"
