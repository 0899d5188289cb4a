#!/bin/sh
# test-aws-store.sh - the object store with the aws backend against the loopback AWS KMS test
# server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
