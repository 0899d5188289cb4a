#!/bin/sh
# test-gcp-module.sh - run the module test program named like this script (test-gcp-module)
# against the loopback Google Cloud KMS test server; gcp-env.sh starts the server and stops it
# on exit, also on failure.
prog=$(basename "$0" .sh)
. "$top_srcdir/tests/backends/gcp/gcp-env.sh"
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/gcp/$prog"
