#!/bin/sh
# test-aws-purpose.sh - envelope purpose and version-1 envelopes with the aws backend against
# the loopback AWS KMS test server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
