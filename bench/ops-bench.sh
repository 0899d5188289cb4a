#!/bin/sh
# ops-bench.sh - `make bench`: the kill switch's cost (C_UnwrapKey per second on the local
# backend, switch checked vs "kill_switch_dir": null, alternating rounds in one process) and the
# unwrap cache against the loopback AWS KMS test server (started and stopped by aws-env.sh):
# KMS calls saved and hit rate for repeated unwraps of hot records. Speed never fails the run.
# OPS_BENCH_SECONDS per round (default 1), OPS_BENCH_UNWRAPS (default 5000).
: "${top_builddir:=.}"
BIN="$top_builddir/bench/ops-bench"
[ -x "$BIN" ] || { echo "ops-bench: $BIN not built (run make bench)" >&2; exit 1; }
P11KMS_LOG=${P11KMS_LOG:-error}
export P11KMS_LOG

sw=$("$BIN" switch "${OPS_BENCH_SECONDS:-1}") || exit 1
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "kill switch: C_UnwrapKey/s on the local backend, best of $(field rounds "$sw") alternating rounds"
printf '  %-40s %12s\n' "switch checked" "$(field switch_checked_per_s "$sw")"
printf '  %-40s %12s\n' "no switch (kill_switch_dir null)" "$(field unchecked_per_s "$sw")"
printf '  %-40s %12s   (target >= 0.98; ns per check: %s)\n' "ratio" "$(field ratio "$sw")" \
    "$(field ns_per_check "$sw")"

# The check alone, the module's code linked directly.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-ops-bench.XXXXXX") || exit 1
mkdir "$tmp/ks"
printf '{"kill_switch_dir": "%s", "tokens": [{"label": "t", "keys": [{"label": "k", "backend": "local", "key_id": "insecure-test-key"}]}]}\n' \
    "$tmp/ks" >"$tmp/c.json"
chmod 600 "$tmp/c.json"
ck=$(P11KMS_LOG=none "$top_builddir/bench/switch-check-bench" "$tmp/c.json")
rm -rf "$tmp"
printf '  %-40s %12s   (of which the coarse clock read: %s ns; two checks per unwrap)\n' \
    "one check, ns" "$(field check_ns "$ck")" "$(field coarse_clock_ns "$ck")"

. "$top_srcdir/tests/backends/aws/aws-env.sh"
c=$("$BIN" cache "${OPS_BENCH_UNWRAPS:-5000}") || exit 1
echo "unwrap cache: $(field unwraps "$c") unwraps of $(field records "$c") records (9 in 10 on the $(field hot "$c") hottest), AWS test server"
printf '  %-40s %12s %12s\n' "" "cache off" "cache on"
printf '  %-40s %12s %12s\n' "KMS Decrypt calls" "$(field off_calls "$c")" "$(field on_calls "$c")"
printf '  %-40s %12s %12s\n' "unwraps/s" "$(field off_per_s "$c")" "$(field on_per_s "$c")"
printf '  %-40s %12s\n' "hit rate" "$(field hit_rate "$c")"
printf '  %-40s %12s\n' "KMS calls saved" "$(field calls_saved "$c")"
