#!/bin/bash
# test-tool-shrink.sh - a regular input is read by the workers at chunk offsets (pread). When
# the file shrinks while it is read (another program truncates it), the tool must end with one
# clear error or a complete output, never a crash or a mix it does not notice, and leave no
# output file behind when it fails.
. "$top_srcdir/tests/tool/common.sh"
export KMS_KEY_ID=insecure-test-key
SIZE=$((64 * 1024 * 1024))
RUNS=${SHRINK_RUNS:-30}

truncate -s "$SIZE" "$WORK/in"
"$TOOL" encrypt --no-progress "$WORK/in" "$WORK/in.enc" || exit 99

# The file is cut and restored without pause while the tool reads it: the sparse plaintext by
# truncate (its bytes are zeros either way), the encrypted file by copying it over itself.
cp "$WORK/in.enc" "$WORK/in.enc.orig"
churn() {
    while :; do
        if [ "$1" = "$WORK/in" ]; then
            truncate -s $((SIZE / 3)) "$1"
            truncate -s "$SIZE" "$1"
        else
            cp "$WORK/in.enc.orig" "$1"
        fi
    done
}

run_all() { # run_all CMD IN OUT: RUNS times; counts of successes, clean failures, crashes
    local cmd="$1" in="$2" out="$3" i rc good=0 clean=0 crash=0 partial=0
    churn "$in" &
    local churner=$!
    for i in $(seq "$RUNS"); do
        "$TOOL" "$cmd" --no-progress "$in" "$out" 2>"$WORK/err"
        rc=$?
        if [ "$rc" -eq 0 ]; then
            good=$((good + 1))
            rm -f "$out"
        elif [ "$rc" -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ]; then
            clean=$((clean + 1))
            [ -e "$out" ] && partial=$((partial + 1))
            cp "$WORK/err" "$WORK/last-err"
        else
            crash=$((crash + 1))
            echo "# $cmd exited $rc:" >&2
            sed 's/^/#   /' "$WORK/err" >&2
        fi
        ls -A "$WORK" | grep -q '^\.out\.p11kms-' && partial=$((partial + 1))
    done
    kill "$churner"
    wait "$churner" 2>/dev/null
    echo "$good $clean $crash $partial"
}

read -r good clean crash partial < <(run_all encrypt "$WORK/in" "$WORK/out")
echo "# encrypt while the input shrinks: $good completed, $clean failed cleanly, $crash otherwise"
check "encrypt of a shrinking file never crashes ($RUNS runs)" test "$crash" -eq 0
check "  ...and leaves no output or temporary file when it fails" test "$partial" -eq 0
# (Whether a run notices depends on where the cut falls: a run that reads the file whole before
# or after a cut is a complete encryption of what it read.)
[ -f "$WORK/last-err" ] && check "  ...a failure says what happened: $(cat "$WORK/last-err")" \
    grep -Eq "shrank|cannot read" "$WORK/last-err"

read -r good clean crash partial < <(run_all decrypt "$WORK/in.enc" "$WORK/out")
echo "# decrypt while the input shrinks: $good completed, $clean failed cleanly, $crash otherwise"
check "decrypt of a shrinking file never crashes ($RUNS runs)" test "$crash" -eq 0
check "  ...and leaves no output or temporary file when it fails" test "$partial" -eq 0
check "  ...the input changing under it was noticed at least once" test "$clean" -gt 0
finish
