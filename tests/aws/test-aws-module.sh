#!/bin/sh
# test-aws-module.sh - run a module test program (default test-aws-module) against the loopback
# AWS KMS test server; aws-env.sh starts the server and stops it on exit (also on failure).
prog=${1:-test-aws-module}
. "$top_srcdir/tests/aws/aws-env.sh"
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/aws/$prog"
