#!/bin/sh
# run-attacks-gcp.sh - every attack program against the loopback Google Cloud KMS test server.
. "$top_srcdir/tests/backends/gcp/gcp-env.sh"
P11KMS_ATTACK_BACKEND=gcp
export P11KMS_ATTACK_BACKEND
. "$top_srcdir/tests/attacks/run-attacks.sh"
