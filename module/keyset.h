/* keyset.h - a configured key's KMS entries as backend instances: the current entries (wrapped
 * under, in preference order for opening) and the previous ones (opened, never wrapped under),
 * with the key's wrap policy and accepted old contexts in its configuration. A single
 * backend/key_id key is a set of one. Made at C_Initialize, read-only afterwards, freed at
 * C_Finalize: no locks (each backend locks its own state). Sealing and opening envelopes with a
 * set: envelope-seal.h. */
#ifndef P11KMS_KEYSET_H
#define P11KMS_KEYSET_H

#include <stddef.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "config.h"

#define P11KMS_KEYSET_MAX (2 * P11KMS_KEYSET_ENTRIES_MAX)

typedef struct p11kms_keyset {
    const p11kms_key_config *kc; /* the key (label, policy, contexts); outlives the set */
    /* be[0..n_current) current entries in configured order, then be[n_current..n) previous. */
    p11kms_backend *be[P11KMS_KEYSET_MAX];
    size_t n_current, n;
} p11kms_keyset;

/* Instances for every entry of kc (no network). Logs and fails like p11kms_backend_new. */
CK_RV p11kms_keyset_new(const p11kms_key_config *kc, p11kms_keyset **out);
void p11kms_keyset_free(p11kms_keyset *ks);
/* The first current entry: what CKA_P11KMS_KEY_VERSION and the key's attributes describe. */
p11kms_backend *p11kms_keyset_primary(const p11kms_keyset *ks);
/* "current" or "previous", for log lines and the audit trail. */
const char *p11kms_keyset_role(const p11kms_keyset *ks, size_t i);

#endif
