/* session.h - sessions and their active operations. A session is pinned (refs, under g.lock)
 * and then locked by its own mutex for the duration of one call, so calls on one session
 * serialise while calls on different sessions run in parallel; g.lock is never held across a
 * KMS call or bulk crypto. */
#ifndef P11KMS_SESSION_H
#define P11KMS_SESSION_H

#include <stdatomic.h>
#include "pkcs11/p11kms.h"
#include "cipher.h"
#include "context.h"
#include "secmem.h"
#include "state.h"

struct p11kms_object;
struct p11kms_keyset;

/* One encrypt or decrypt operation. */
typedef struct p11kms_crypt_op {
    int active;
    int kms;               /* 1: envelope with a KMS key, 0: data-key cipher */
    int started;           /* a multi-part update happened: single-part calls are no longer valid */
    int rewrap;            /* CKM_P11KMS_REWRAP: the input is a wrapped-key envelope to move */
    p11kms_cipher *cipher; /* kept across operations and re-keyed (hot path) */
    /* KMS operations: envelopes (keyset, context), or RSA-OAEP (asym, crypt-asym.h) */
    struct p11kms_keyset *keyset;
    struct p11kms_crypt_asym *asym;
    p11kms_context *context;
    p11kms_buf input;  /* accumulated multi-part input (secret on encrypt) */
    p11kms_buf result; /* result kept after CKR_BUFFER_TOO_SMALL, for the retry */
    uint8_t input_digest[32];
} p11kms_crypt_op;

struct p11kms_sign_family;

/* One sign or verify operation: the mechanism family that runs it (sign.h) and its state. */
typedef struct p11kms_sign_op {
    int active;
    int started; /* a multi-part update happened: single-part calls are no longer valid */
    const struct p11kms_sign_family *family;
    void *state;              /* the family's, ended with the operation */
    void (*end)(void *state); /* the family's end: wipes and frees state (NULL: none) */
} p11kms_sign_op;

/* The last wrap result, kept so a retry after CKR_BUFFER_TOO_SMALL costs no second KMS call. */
typedef struct p11kms_wrap_cache {
    int valid;
    CK_OBJECT_HANDLE wrapping_key, key;
    uint8_t request_digest[32]; /* mechanism, context */
    p11kms_buf envelope;
} p11kms_wrap_cache;

typedef struct p11kms_find_op {
    int active;
    CK_OBJECT_HANDLE *handles;
    size_t n, pos;
} p11kms_find_op;

typedef struct p11kms_session {
    CK_SESSION_HANDLE handle;
    p11kms_token *token;
    CK_FLAGS flags;
    int refs; /* g.lock */
    /* Set once under g.lock when the session leaves the map (freed at the last release).
     * Atomic: the call path reads it under the session mutex only, to fail early; whatever
     * must not happen after the close (a login, a new session object) checks it again under
     * g.lock. */
    atomic_int closed;
    void *mutex;
    p11kms_crypt_op enc, dec;
    p11kms_sign_op sign, verify;
    p11kms_wrap_cache wrap_cache;
    p11kms_find_op find;
} p11kms_session;

/* The shared entry path for session calls: g.lock -> look up and pin -> unlock -> session
 * mutex. CKR_SESSION_HANDLE_INVALID for unknown handles. */
CK_RV p11kms_session_acquire(CK_SESSION_HANDLE h, p11kms_session **out);
/* Unlock and unpin; frees a session closed meanwhile. NULL is fine. */
void p11kms_session_release(p11kms_session *s);

CK_RV p11kms_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out);
CK_RV p11kms_close_session(p11kms_session *s);
CK_RV p11kms_close_all_sessions(CK_SLOT_ID slot);
void p11kms_sessions_destroy_all(void); /* C_Finalize */
CK_RV p11kms_get_session_info(p11kms_session *s, CK_SESSION_INFO_PTR info);
CK_RV p11kms_session_cancel(p11kms_session *s, CK_FLAGS flags);
/* CKS_* state of s; g.lock held. */
CK_STATE p11kms_session_state_locked(const p11kms_session *s);
int p11kms_session_logged_in_locked(const p11kms_session *s);

void p11kms_crypt_op_reset(p11kms_crypt_op *op); /* ends the operation; keeps the cipher */
void p11kms_crypt_op_destroy(p11kms_crypt_op *op);
void p11kms_sign_op_reset(p11kms_sign_op *op); /* ends the operation */

#endif
