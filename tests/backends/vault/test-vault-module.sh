#!/bin/sh
# test-vault-module.sh - the vault backend through the built module against the loopback Vault
# test server (vault-env.sh starts it and stops it on exit, also on failure); then the module's
# log: "Vault is sealed" said when it was, and no token, secret id or JWT in any line.
. "$top_srcdir/tests/backends/vault/vault-env.sh"
P11KMS_LOG=${P11KMS_LOG:-info}
export P11KMS_LOG
log=$P11KMS_VAULT_STATE_DIR/module.log
status=0
${P11KMS_TEST_WRAPPER:-} "$top_builddir/tests/backends/vault/test-vault-module" 2>"$log" || status=1
sed 's/^/# /' "$log"
if ! grep -q "Vault is sealed" "$log"; then
    echo "not ok - the sealed refusal says \"Vault is sealed\" in the log"
    status=1
fi
for secret in "$P11KMS_VAULT_ROOT_TOKEN" "$P11KMS_VAULT_APP_TOKEN" hvs. \
        "$P11KMS_VAULT_SECRET_ID" "$(cat "$P11KMS_VAULT_K8S_JWT_FILE")"; do
    if grep -qF -- "$secret" "$log"; then
        echo "not ok - a secret (${secret%"${secret#????}"}...) is in the module's log"
        status=1
    fi
done
exit $status
