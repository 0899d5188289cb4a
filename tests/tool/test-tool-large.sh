#!/bin/bash
# test-tool-large.sh - a 1 GiB file (sparse, so cheap to make) round-trips through encrypt and
# decrypt in constant memory: the peak RSS of each run, measured here, stays under 64 MiB.
. "$top_srcdir/tests/tool/common.sh"
export KMS_KEY_ID=insecure-test-key
SIZE=$((1024 * 1024 * 1024))
LIMIT_KB=$((64 * 1024))

avail=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
if [ "${avail:-0}" -lt $((3 * SIZE / 1024)) ]; then
    echo "SKIP: under 3 GiB free in $WORK"
    exit 77
fi

# Peak RSS (KiB) of one command, from the kernel's rusage of the child.
peak() {
    $PYTHON3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"
}

truncate -s "$SIZE" "$WORK/big"
check "encrypt 1 GiB" peak "$WORK/enc.rss" "$TOOL" encrypt --no-progress "$WORK/big" "$WORK/big.enc"
check "  ...peak RSS $(cat "$WORK/enc.rss") KiB < $LIMIT_KB KiB" test "$(cat "$WORK/enc.rss")" -lt "$LIMIT_KB"
check "  ...the file holds every byte plus one tag per 1 MiB chunk" \
    test "$(stat -c %s "$WORK/big.enc")" -gt $((SIZE + 1024 * 16))
rm -f "$WORK/big"
check "decrypt 1 GiB" peak "$WORK/dec.rss" "$TOOL" decrypt --no-progress "$WORK/big.enc" "$WORK/big.out"
check "  ...peak RSS $(cat "$WORK/dec.rss") KiB < $LIMIT_KB KiB" test "$(cat "$WORK/dec.rss")" -lt "$LIMIT_KB"
check "  ...gives back exactly 1 GiB" test "$(stat -c %s "$WORK/big.out")" -eq "$SIZE"
check "  ...of zeros" cmp -n "$SIZE" "$WORK/big.out" /dev/zero
rm -f "$WORK/big.out"
check "decrypt 1 GiB to a pipe" peak "$WORK/pipe.rss" sh -c "'$TOOL' decrypt '$WORK/big.enc' - | cmp -n $SIZE - /dev/zero"
finish
