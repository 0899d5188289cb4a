# common.sh - sourced by the client tests: a private temp dir removed on exit, skip/fail
# bookkeeping, and the test configuration.
#
# A test script does:  . "$top_srcdir/tests/clients/common.sh"; clients_init NAME; ...;
# clients_done. Exit status: 0 pass, 1 fail, 77 skip (a client genuinely absent).

. "${top_srcdir:?top_srcdir must be set (make check sets it)}/tests/clients/test-config.sh"

MODULE=${P11KMS_TEST_MODULE:?P11KMS_TEST_MODULE must name the built p11kms.so}
clients_failed=0
clients_passed=0

clients_cleanup() {
    [ -n "${T:-}" ] && rm -rf "$T"
}

# clients_init NAME: temp dir $T, cleanup on any exit, a clean environment for the module.
clients_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/p11kms-$1.XXXXXX") || exit 99
    trap clients_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    [ -f "$MODULE" ] || { echo "FAIL: module $MODULE not built"; exit 99; }
    # Nothing from the caller's environment may pick another configuration or key, and token
    # objects the clients keep stay in this test's directory.
    unset KMS_KEY_ID P11KMS_CONFIG SOFTHSM2_CONF
    XDG_DATA_HOME=$T/data
    export XDG_DATA_HOME
    P11KMS_LOG=${P11KMS_LOG:-warning}
    export P11KMS_LOG
    clients_sanitizers
}

# A module built with --enable-asan needs the sanitizer runtimes loaded first in the clients,
# which are not built with them. Leak detection stays off in the clients: their own leaks are
# not ours, and the module's are checked by the module tests under ASan and valgrind.
clients_sanitizers() {
    libs=$(ldd "$MODULE" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s ", $3 }')
    [ -n "$libs" ] || return 0
    LD_PRELOAD="$libs${LD_PRELOAD:-}"
    ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export LD_PRELOAD ASAN_OPTIONS
}

# clients_need PROGRAM...: skip the whole test when one is missing.
clients_need() {
    for prog in "$@"; do
        if ! command -v "$prog" >/dev/null 2>&1; then
            echo "SKIP: $prog is not installed"
            exit 77
        fi
    done
}

pass() {
    clients_passed=$((clients_passed + 1))
    echo "ok - $*"
}

fail() {
    clients_failed=$((clients_failed + 1))
    echo "FAIL - $*"
}

# check DESCRIPTION COMMAND...: run, record pass/fail; the output stays in $T/out for greps.
check() {
    desc=$1
    shift
    "$@" >"$T/out" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        pass "$desc"
        return 0
    fi
    fail "$desc (exit $rc): $*"
    sed 's/^/#   /' "$T/out" | head -n 40
    return 1
}

# expect_out DESCRIPTION FIXED-STRING: the last check's output contains the string.
expect_out() {
    if grep -qF -- "$2" "$T/out"; then
        pass "$1"
    else
        fail "$1: no \"$2\" in the output"
        sed 's/^/#   /' "$T/out" | head -n 40
    fi
}

# same_file DESCRIPTION A B
same_file() {
    if cmp -s "$2" "$3"; then
        pass "$1"
    else
        fail "$1: $2 and $3 differ"
    fi
}

clients_done() {
    echo "# $clients_passed passed, $clients_failed failed"
    [ "$clients_failed" -eq 0 ] || exit 1
    [ "$clients_passed" -gt 0 ] || { echo "FAIL: nothing was checked"; exit 1; }
    exit 0
}

# clients_config: write the test key file and configuration, export P11KMS_CONFIG.
clients_config() {
    p11kms_test_keyfile "$T/local.key"
    p11kms_test_config "$T/p11kms.conf" "$T/local.key"
    P11KMS_CONFIG=$T/p11kms.conf
    export P11KMS_CONFIG
}
