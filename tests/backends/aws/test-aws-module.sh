#!/bin/sh
# test-aws-module.sh - run the module test program named like this script (test-aws-module,
# or test-aws-sources when sourced by test-aws-sources.sh) against the loopback AWS KMS test
# server; aws-env.sh starts the server and stops it on exit, also on failure.
prog=$(basename "$0" .sh)
. "$top_srcdir/tests/backends/aws/aws-env.sh"
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/aws/$prog"
