#!/bin/sh
# s3-bench.sh - `make bench`: "p11kms encrypt IN s3://..." and "p11kms decrypt s3://... OUT"
# against the loopback S3 test server (started and stopped by s3-env.sh), next to "aws s3 cp" of
# the same bytes (the encrypted file) up and down, with the tool's peak RSS, the server's CPU
# share (a Python server can be the bottleneck of both) and curl's single-request figures as
# the server's own ceiling. Speed never fails the run, a broken tool does.
#
# Environment: top_builddir, top_srcdir, P11KMS_TEST_MODULE (set by make bench), BENCH_S3_MIB
# (file size, default 512), BENCH_ROUNDS (default 3; each figure is the best round), BENCH_DIR
# (the local files, default /dev/shm: the disk's writeback would swamp both sides' figures).
. "$top_srcdir/tests/tool/s3-env.sh"
set -u

TOOL=$top_builddir/p11kms
MODULE=${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}
MIB=${BENCH_S3_MIB:-512}
ROUNDS=${BENCH_ROUNDS:-3}
DIR=${BENCH_DIR:-/dev/shm}
BYTES=$((MIB * 1024 * 1024))
B=$P11KMS_S3_BUCKET
AWS_CLI=/usr/bin/aws

[ -x "$TOOL" ] || { echo "s3-bench: $TOOL not built" >&2; exit 1; }
[ -f "$MODULE" ] || { echo "s3-bench: module $MODULE not built" >&2; exit 1; }
if [ ! -x "$AWS_CLI" ] || ! "$AWS_CLI" --version 2>&1 | grep -q '^aws-cli/2\.'; then
    echo "s3-bench: AWS CLI v2 not found at $AWS_CLI (Debian: awscli); nothing to compare with"
    exit 0
fi
avail=$(df -Pk "$P11KMS_S3_STATE_DIR" | awk 'NR == 2 {print $4}')
if [ "$avail" -lt $((4 * BYTES / 1024 + 65536)) ]; then
    echo "s3-bench: under $((4 * MIB)) MiB free in $P11KMS_S3_STATE_DIR; set BENCH_S3_MIB" >&2
    exit 1
fi
avail=$(df -Pk "$DIR" | awk 'NR == 2 {print $4}')
if [ "$avail" -lt $((3 * BYTES / 1024 + 65536)) ]; then
    echo "s3-bench: under $((3 * MIB)) MiB free in $DIR; set BENCH_DIR or BENCH_S3_MIB" >&2
    exit 1
fi
export P11KMS_MODULE="$MODULE" KMS_KEY_ID=insecure-test-key AWS_ENDPOINT_URL_S3="$P11KMS_S3_ENDPOINT"
unset P11KMS_CONFIG
tmp=$(mktemp -d "$DIR/p11kms-s3-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"; p11kms_s3_stop' EXIT

# Server CPU seconds so far (user + system), from /proc.
server_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$P11KMS_S3_SERVER_PID/stat"
}
# timed OUTFILE CMD...: run CMD; OUTFILE gets "seconds peak-rss-KiB server-cpu-share-%".
timed() {
    out=$1
    shift
    c0=$(server_cpu)
    "$p11kms_s3_py" -c '
import resource, subprocess, sys, time
t = time.monotonic()
rc = subprocess.call(sys.argv[2:], stdout=subprocess.DEVNULL)
t = time.monotonic() - t
open(sys.argv[1], "w").write("%.6f %d\n" % (t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$out" "$@" || { echo "s3-bench: failed: $*" >&2; exit 1; }
    c1=$(server_cpu)
    awk -v c0="$c0" -v c1="$c1" '{ printf "%s %s %.0f\n", $1, $2, 100 * (c1 - c0) / $1 }' "$out" >"$out.x"
    mv "$out.x" "$out"
}
mbs() { awk -v s="$(cut -d' ' -f1 "$1")" -v n="$BYTES" 'BEGIN { printf "%.0f", n / s / 1e6 }'; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; }
field() { cut -d' ' -f"$2" "$1"; }
reset() { p11kms_s3_ctl POST /reset >/dev/null; }
awscli() { "$AWS_CLI" --endpoint-url "$P11KMS_S3_ENDPOINT" --only-show-errors "$@"; }

openssl enc -aes-128-ctr -nosalt -pass pass:p11kms-bench -in /dev/zero 2>/dev/null |
    head -c "$BYTES" >"$tmp/plain"
"$TOOL" encrypt --no-progress "$tmp/plain" "$tmp/enc" || exit 1
hash=$(sha256sum "$tmp/enc" | cut -d' ' -f1)

enc=0 dec=0 cli_up=0 cli_down=0 curl_up=0 curl_down=0 enc_rss=0 dec_rss=0
enc_srv=0 dec_srv=0 up_srv=0 down_srv=0 curl_up_srv=0 curl_down_srv=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
    # Rounds alternate the measurements so a busy neighbour hurts them alike.
    reset
    timed "$tmp/t" "$TOOL" encrypt --no-progress "$tmp/plain" "s3://$B/p11kms.enc"
    enc=$(best "$enc" "$(mbs "$tmp/t")") enc_rss=$(best "$enc_rss" "$(field "$tmp/t" 2)")
    enc_srv=$(field "$tmp/t" 3)
    parts=$(p11kms_s3_ctl GET /counters | p11kms_s3_json "j['max_in_flight'].get('UploadPart', 0)")
    timed "$tmp/t" sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --only-show-errors s3 cp '$tmp/enc' 's3://$B/cli.enc'"
    cli_up=$(best "$cli_up" "$(mbs "$tmp/t")") up_srv=$(field "$tmp/t" 3)
    timed "$tmp/t" curl -sS -f --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3 \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: $hash" -T "$tmp/enc" "$P11KMS_S3_ENDPOINT/$B/curl.enc"
    curl_up=$(best "$curl_up" "$(mbs "$tmp/t")") curl_up_srv=$(field "$tmp/t" 3)

    rm -f "$tmp/dec"
    timed "$tmp/t" "$TOOL" decrypt --no-progress "s3://$B/p11kms.enc" "$tmp/dec"
    dec=$(best "$dec" "$(mbs "$tmp/t")") dec_rss=$(best "$dec_rss" "$(field "$tmp/t" 2)")
    dec_srv=$(field "$tmp/t" 3)
    cmp -s "$tmp/plain" "$tmp/dec" || { echo "s3-bench: decrypt gave other bytes" >&2; exit 1; }
    rm -f "$tmp/dec" "$tmp/down"
    timed "$tmp/t" sh -c "'$AWS_CLI' --endpoint-url '$P11KMS_S3_ENDPOINT' --only-show-errors s3 cp 's3://$B/p11kms.enc' '$tmp/down'"
    cli_down=$(best "$cli_down" "$(mbs "$tmp/t")") down_srv=$(field "$tmp/t" 3)
    rm -f "$tmp/down"
    timed "$tmp/t" curl -sS -f --noproxy '*' --aws-sigv4 aws:amz:us-east-1:s3 \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        -o "$tmp/down" "$P11KMS_S3_ENDPOINT/$B/p11kms.enc"
    curl_down=$(best "$curl_down" "$(mbs "$tmp/t")") curl_down_srv=$(field "$tmp/t" 3)
    rm -f "$tmp/down"
    round=$((round + 1))
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t) ? "ok" : "BELOW TARGET" }'; }
rss_ok() { awk -v r="$1" 'BEGIN { print (r < 65536) ? "ok" : "OVER" }'; }
echo "s3: $MIB MiB (local files in $DIR) through the loopback S3 test server (Python), $(nproc) CPUs, best of $ROUNDS rounds, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  the server's ceiling, one curl request:  PUT $curl_up MB/s (server CPU $curl_up_srv%), GET $curl_down MB/s (server CPU $curl_down_srv%)"
r=$(ratio "$enc" "$cli_up")
printf '  p11kms encrypt to S3     %5s MB/s vs aws s3 cp up of the encrypted file %5s MB/s = %sx (target >= 1.5x: %s); peak RSS %s KiB (target < 65536: %s); server CPU %s%% vs %s%%\n' \
    "$enc" "$cli_up" "$r" "$(verdict "$r" 1.5)" "$enc_rss" "$(rss_ok "$enc_rss")" "$enc_srv" "$up_srv"
r=$(ratio "$dec" "$cli_down")
printf '  p11kms decrypt from S3   %5s MB/s vs aws s3 cp down of the same object %5s MB/s = %sx (target >= 1.5x: %s); peak RSS %s KiB (target < 65536: %s); server CPU %s%% vs %s%%\n' \
    "$dec" "$cli_down" "$r" "$(verdict "$r" 1.5)" "$dec_rss" "$(rss_ok "$dec_rss")" "$dec_srv" "$down_srv"
echo "  (p11kms had at most $parts UploadParts in flight; server CPU near 100% means the one-core Python server was the bottleneck)"
