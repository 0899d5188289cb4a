/* keyset.c - a key's KMS entries made into backend instances (keyset.h). No shared state: a set
 * is built once and read-only until freed. */
#include <stdlib.h>
#include "keyset.h"

CK_RV p11kms_keyset_new(const p11kms_key_config *kc, p11kms_keyset **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_keyset *ks = calloc(1, sizeof(*ks));
    size_t i;

    *out = NULL;
    if (ks == NULL)
        goto out;
    ks->kc = kc;
    /* The single backend/key_id form: the key is its own one entry. */
    if (kc->n_kms == 0) {
        rv = p11kms_backend_new(kc, &ks->be[0]);
        if (rv != CKR_OK)
            goto out;
        ks->n = 1;
    }
    for (i = 0; i < kc->n_kms; i++) {
        rv = p11kms_backend_new(&kc->kms[i], &ks->be[ks->n]);
        if (rv != CKR_OK)
            goto out;
        ks->n++;
    }
    ks->n_current = ks->n;
    for (i = 0; i < kc->n_previous; i++) {
        rv = p11kms_backend_new(&kc->previous[i], &ks->be[ks->n]);
        if (rv != CKR_OK)
            goto out;
        ks->n++;
    }
    *out = ks;
    ks = NULL;
    rv = CKR_OK;
out:
    p11kms_keyset_free(ks);
    return rv;
}

void p11kms_keyset_free(p11kms_keyset *ks)
{
    size_t i;

    if (ks == NULL)
        return;
    for (i = 0; i < ks->n; i++)
        p11kms_backend_free(ks->be[i]);
    free(ks);
}

p11kms_backend *p11kms_keyset_primary(const p11kms_keyset *ks)
{
    return ks->be[0];
}

const char *p11kms_keyset_role(const p11kms_keyset *ks, size_t i)
{
    return i < ks->n_current ? "current" : "previous";
}
