/* vault-describe.c - what the module knows of HashiCorp Vault's transit engine before its
 * backend is built: the configuration name, the envelope id reserved for it, and its key names
 * in quick mode, so KMS_KEY_ID=vault/NAME is recognised and refused as "not available in this
 * build" rather than as an unknown form. The operations come with the backend (no create). */
#include <string.h>
#include "backend.h"

/* The backend byte of Vault ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_VAULT_ENVELOPE_ID 4
#define QUICK_PREFIX "vault/"

/* vault/NAME: the transit key NAME, non-empty, without '/'. */
static int vault_quick(const char *v, p11kms_quick_key *out)
{
    size_t n = strlen(QUICK_PREFIX);

    if (strncmp(v, QUICK_PREFIX, n) != 0 || v[n] == '\0' || strchr(v + n, '/') != NULL)
        return 0;
    out->key_id = v + n;
    return 1;
}

const p11kms_backend_ops p11kms_backend_vault_ops = {
    .name = "vault",
    .envelope_id = P11KMS_VAULT_ENVELOPE_ID,
    .quick_forms = QUICK_PREFIX "NAME",
    .quick = vault_quick,
};
