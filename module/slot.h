/* slot.h - one slot per configured token; each token holds its KMS key objects.
 * Token identity is fixed after C_Initialize; login state is under g.lock. */
#ifndef P11KMS_SLOT_H
#define P11KMS_SLOT_H

#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "config.h"

struct p11kms_object;
struct p11kms_store;

typedef struct p11kms_token {
    CK_SLOT_ID slot_id;
    const p11kms_token_config *cfg;
    char serial[17];
    int has_pin;
    uint8_t pin_hash[32]; /* SHA-256 of the configured PIN */
    int logged_in;        /* CKU_USER logged in (all sessions of the token) */
    unsigned pin_failures;              /* g.lock: wrong PINs since the last right one */
    CK_ULONG n_sessions, n_rw_sessions; /* g.lock */
    /* The token's KMS key objects in configuration order (the map holds them until
     * C_Finalize), and its object store (store.h): both fixed after C_Initialize. */
    struct p11kms_object **keys;
    size_t n_keys;
    struct p11kms_store *store;
} p11kms_token;

/* CKF_USER_PIN_COUNT_LOW / _FINAL_TRY / _LOCKED as the wrong-PIN count stands (login.c).
 * g.lock held. */
CK_FLAGS p11kms_token_pin_flags_locked(const p11kms_token *t);

CK_RV p11kms_tokens_create(void);  /* from p11kms_g.config: tokens and their KMS key objects */
void p11kms_tokens_destroy(void);
p11kms_token *p11kms_token_get(CK_SLOT_ID id); /* NULL when invalid */

CK_RV p11kms_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV p11kms_get_slot_info(CK_SLOT_ID id, CK_SLOT_INFO_PTR info);
CK_RV p11kms_get_token_info(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info);
CK_RV p11kms_get_info(CK_INFO_PTR info);

#endif
