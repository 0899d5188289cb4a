#!/bin/sh
# run-attacks-aws.sh - every attack program against the loopback AWS KMS test server.
. "$top_srcdir/tests/backends/aws/aws-env.sh"
P11KMS_ATTACK_BACKEND=aws
export P11KMS_ATTACK_BACKEND
. "$top_srcdir/tests/attacks/run-attacks.sh"
