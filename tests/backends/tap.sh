# tap.sh - sourced by the shell tests of asymmetric KMS keys (test-aws-asym.sh,
# test-gcp-asym.sh, test-vault-asym.sh): TAP lines numbered in $n, failures counted in
# $failures, and a failed check shows the end of what it printed ($T/out).
n=0
failures=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
not_ok() {
    n=$((n + 1))
    failures=$((failures + 1))
    echo "not ok $n - $1"
    [ -f "$T/out" ] && sed 's/^/#   /' "$T/out" | tail -n 15
}
# check DESCRIPTION COMMAND...: the command must succeed; its output goes to $T/out.
check() {
    d=$1
    shift
    if "$@" >"$T/out" 2>&1; then ok "$d"; else not_ok "$d"; fi
}
