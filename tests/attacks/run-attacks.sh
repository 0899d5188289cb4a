#!/bin/sh
# run-attacks.sh - run every attack program ($P11KMS_ATTACK_PROGS, from tests/attacks/include.am)
# against one backend: the local backend, or (sourced by run-attacks-aws.sh or run-attacks-gcp.sh)
# the loopback AWS or Google Cloud KMS test server. Each program prints TAP; this script fails if
# any of them fails.
: "${top_builddir:=$(pwd)}"
: "${P11KMS_ATTACK_BACKEND:=local}"
export P11KMS_ATTACK_BACKEND
[ -n "${P11KMS_ATTACK_PROGS:-}" ] || { echo "# SKIP: no attack programs"; exit 77; }
status=0
for t in $P11KMS_ATTACK_PROGS; do
    echo "# ---- $t ($P11KMS_ATTACK_BACKEND)"
    ${P11KMS_TEST_WRAPPER:-} "$top_builddir/$t" || { echo "# FAILED: $t"; status=1; }
done
exit $status
