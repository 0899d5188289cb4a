#!/bin/sh
# memcheck-remote.sh - the tests of the remote layer and the remote backends under valgrind
# memcheck (any error or definite, indirect or possible leak fails), as tests/memcheck.sh does
# for the core module tests. The programs that need a server run through their scripts, which
# start it, with P11KMS_TEST_WRAPPER. Run from the build directory with top_srcdir set (make
# memcheck does). A new remote backend adds its programs and scripts to the list.
set -u
command -v valgrind >/dev/null 2>&1 || { echo "valgrind missing"; exit 77; }
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
: "${P11KMS_TEST_MODULE:=$top_builddir/.libs/p11kms.so}"
export top_srcdir top_builddir P11KMS_TEST_MODULE
P11KMS_LOG=warning
export P11KMS_LOG
vg="valgrind --quiet --error-exitcode=99 --suppressions=$top_srcdir/tests/valgrind.supp \
--num-callers=30 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
--show-leak-kinds=definite,indirect,possible --child-silent-after-fork=yes --track-fds=no"
status=0
for t in backends/aws/test-aws-sigv4 backends/aws/test-aws-wire backends/aws/test-aws-backend \
         backends/aws/test-aws-creds net/test-http.sh backends/aws/test-aws-module.sh \
         backends/aws/test-aws-sources.sh backends/aws/test-aws-interop.sh \
         backends/aws/test-aws-ops.sh backends/aws/test-aws-purpose.sh \
         backends/aws/test-aws-keyset.sh backends/aws/test-aws-store.sh net/test-net-call \
         unit/test-audit unit/test-store-file backends/aws/test-aws-cache.sh \
         backends/gcp/test-gcp-crc32c backends/gcp/test-gcp-backend backends/gcp/test-gcp-creds \
         backends/gcp/test-gcp-module.sh backends/gcp/test-gcp-tool.sh \
         backends/gcp/test-gcp-asym.sh backends/vault/test-vault-module.sh \
         backends/vault/test-vault-ops.sh backends/vault/test-vault-asym.sh \
         backends/vault/test-vault-wire tool/test-tool-s3-crypt.sh; do
    log="$top_builddir/tests/$t.memcheck.log"
    case $t in
    *.sh) P11KMS_TEST_WRAPPER="$vg --log-file=$log" sh "$top_srcdir/tests/$t" \
              >"$log.out" 2>&1 ;;
    *) $vg --log-file="$log" "$top_builddir/tests/$t" >"$log.out" 2>&1 ;;
    esac
    rc=$?
    if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then
        echo "PASS: memcheck tests/$t"
    else
        echo "FAIL: memcheck tests/$t (exit $rc, see $log)"
        cat "$log" 2>/dev/null
        grep '^not ok' "$log.out"
        status=1
    fi
done
exit $status
