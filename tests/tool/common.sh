# common.sh - sourced by the tool's shell tests: where the tool and the module are, a private
# temporary directory removed on exit (also on failure), and small assertion helpers.
# The tests drive the built tool against the built module; nothing leaves 127.0.0.1.

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
: "${PYTHON3:=/usr/bin/python3}"
TOOL="$top_builddir/p11kms"
MODULE="${P11KMS_TEST_MODULE:-$top_builddir/.libs/p11kms.so}"
export P11KMS_MODULE="$MODULE"
# Only what a test sets explicitly may configure the module.
unset P11KMS_CONFIG KMS_KEY_ID P11KMS_PIN P11KMS_LOG

if [ ! -x "$TOOL" ] || [ ! -f "$MODULE" ]; then
    echo "not built: $TOOL or $MODULE"
    exit 99
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-tool-test.XXXXXX") || exit 99
cleanup_hooks=""
cleanup() {
    for h in $cleanup_hooks; do "$h"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failures=0
checks=0
ok() {
    checks=$((checks + 1))
    echo "ok $checks - $*"
}
not_ok() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "not ok $checks - $*"
}
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
    local what="$1"
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# refuse DESCRIPTION COMMAND...: the command must fail with status 1 and one line on stderr.
refuse() {
    local what="$1" rc lines
    shift
    "$@" >"$WORK/refuse.out" 2>"$WORK/refuse.err"
    rc=$?
    lines=$(wc -l <"$WORK/refuse.err")
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ]; then
        ok "$what: $(cat "$WORK/refuse.err")"
    else
        not_ok "$what (status $rc, $lines stderr lines)"
        sed 's/^/#   /' "$WORK/refuse.err"
    fi
}
# The last refused command's error line must match a pattern.
said() {
    if grep -q -- "$1" "$WORK/refuse.err"; then ok "  ...saying \"$1\""; else not_ok "  ...saying \"$1\""; fi
}
# No file but the expected ones in a directory (no temporary leftovers).
only_files() {
    local dir="$1" want got
    shift
    want=$( [ $# -gt 0 ] && printf '%s\n' "$@" | sort | tr '\n' ' ')
    got=$(ls -A "$dir" | sort | tr '\n' ' ')
    if [ "$want" = "$got" ]; then ok "only [$want] in $(basename "$dir")"; else not_ok "files in $(basename "$dir"): [$got], want [$want]"; fi
}
finish() {
    echo "# $checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}
