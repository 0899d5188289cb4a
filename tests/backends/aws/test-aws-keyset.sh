#!/bin/sh
# test-aws-keyset.sh - key sets, failover, rotation and the audit trail against the loopback AWS
# KMS test server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
