#!/bin/sh
# test-aws-ops.sh - ReEncrypt, DescribeKey and a moved alias on the wire against the loopback
# AWS KMS test server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
