#!/bin/sh
# test-aws-sources.sh - credential, region and endpoint sources of the aws backend against the
# loopback AWS KMS test server (see test-aws-module.sh).
. "$top_srcdir/tests/backends/aws/test-aws-module.sh"
