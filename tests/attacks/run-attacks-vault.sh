#!/bin/sh
# run-attacks-vault.sh - every attack program against the loopback Vault test server.
. "$top_srcdir/tests/backends/vault/vault-env.sh"
P11KMS_ATTACK_BACKEND=vault
export P11KMS_ATTACK_BACKEND
. "$top_srcdir/tests/attacks/run-attacks.sh"
