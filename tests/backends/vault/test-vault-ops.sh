#!/bin/sh
# test-vault-ops.sh - rewrap and describe on the wire against the loopback Vault test server.
. "$top_srcdir/tests/backends/vault/vault-env.sh"
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/vault/test-vault-ops"
