/* sign.h - the mechanism families behind C_Sign* and C_Verify*. A family brings its key rules
 * and its computation; sign.c runs the call sequence, the two-call length convention and the
 * operation's lifetime for every family alike. Families: AES-CMAC with data keys (sign-cmac.c),
 * ECDSA and RSA with asymmetric KMS keys (sign-asym.c). */
#ifndef P11KMS_SIGN_H
#define P11KMS_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "object.h"

/*
 * g.lock held, key referenced: check the mechanism parameter and whether key can do mech (its
 * kind, type and size; CKA_SIGN/CKA_VERIFY are sign.c's), and copy what the operation needs from
 * key into a new *state. CKR_MECHANISM_PARAM_INVALID, CKR_KEY_TYPE_INCONSISTENT,
 * CKR_KEY_SIZE_RANGE, CKR_HOST_MEMORY.
 */
typedef CK_RV p11kms_sign_begin_fn(const CK_MECHANISM *mech, const p11kms_object *key, int sign,
                                   void **state);

typedef struct p11kms_sign_family {
    const char *name;
    /* Whether the family does mech. */
    int (*owns)(CK_MECHANISM_TYPE mech);
    /* See p11kms_sign_begin_fn. */
    p11kms_sign_begin_fn *begin_locked;
    /* Without g.lock: the rest of the set-up (keying a context, a remote look-up). */
    CK_RV (*start)(void *state);
    /* The exact length of the signature (or MAC). */
    size_t (*length)(const void *state);
    CK_RV (*update)(void *state, const uint8_t *data, size_t len);
    /* Finish and write length() bytes to sig. */
    CK_RV (*sign)(void *state, uint8_t *sig);
    /* Finish and check sig, whose length is length(): CKR_SIGNATURE_INVALID when it differs,
     * compared in constant time. */
    CK_RV (*verify)(void *state, const uint8_t *sig);
    /* Wipe and free the state (NULL is fine). */
    void (*end)(void *state);
} p11kms_sign_family;

extern const p11kms_sign_family p11kms_sign_cmac;
extern const p11kms_sign_family p11kms_sign_asym;

#endif
