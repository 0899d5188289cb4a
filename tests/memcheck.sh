#!/bin/sh
# memcheck.sh - run the module tests under valgrind memcheck: any error or definite/indirect/
# possible leak fails. Called by `make memcheck` from the build directory.
set -u
command -v valgrind >/dev/null 2>&1 || { echo "valgrind missing"; exit 77; }
: "${P11KMS_TEST_MODULE:=$(pwd)/.libs/p11kms.so}"
export P11KMS_TEST_MODULE
status=0
for t in tests/module/test-module-basic tests/module/test-module-wrap \
         tests/module/test-module-crypt tests/module/test-module-threads \
         tests/module/test-module-purpose tests/module/test-module-attrs \
         tests/module/test-module-session tests/module/test-module-races \
         tests/module/test-module-store tests/module/test-module-store-tamper \
         tests/module/test-module-killswitch tests/module/test-module-asym \
         ${MEMCHECK_EXTRA:-}; do
    [ -x "$t" ] || continue
    log="$t.memcheck.log"
    if valgrind --quiet --error-exitcode=99 --suppressions="${top_srcdir:-.}/tests/valgrind.supp" --num-callers=30 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
        --show-leak-kinds=definite,indirect,possible --child-silent-after-fork=yes \
        --track-fds=no --log-file="$log" "$t" > "$t.memcheck.out" 2>&1; then
        echo "PASS: memcheck $t"
    else
        echo "FAIL: memcheck $t (see $log)"; cat "$log"; status=1
    fi
done
exit $status
