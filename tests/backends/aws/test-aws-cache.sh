#!/bin/sh
# test-aws-cache.sh - the unwrap cache, the kill switch and a key disabled in the KMS against
# the loopback AWS KMS test server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
