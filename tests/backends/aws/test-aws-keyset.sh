#!/bin/sh
# test-aws-keyset.sh - key sets, failover, rotation and the audit trail against the loopback AWS
# KMS test server and the loopback Vault test server (both started here, both stopped on exit,
# also on failure), plus the local backend.
prog=test-aws-keyset
. "$top_srcdir/tests/backends/vault/vault-env.sh"
. "$top_srcdir/tests/backends/aws/aws-env.sh"
# aws-env.sh's EXIT trap replaced vault-env.sh's: stop both (each passes the exit status on).
trap 'p11kms_aws_stop; p11kms_vault_stop' EXIT
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/aws/$prog"
