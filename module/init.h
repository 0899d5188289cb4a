/* init.h - the module's global state and its lifecycle (C_Initialize/C_Finalize, fork).
 * g.lock protects the session and object maps, handle counters and login states. */
#ifndef P11KMS_INIT_H
#define P11KMS_INIT_H

#include "pkcs11/p11kms.h"
#include "config.h"
#include "util.h"

struct p11kms_token;

typedef struct p11kms_module {
    int initialized;
    unsigned generation; /* fork generation that initialised; another means a forked child */
    void *lock;
    p11kms_config *config;
    struct p11kms_token *tokens;
    size_t n_tokens;
    p11kms_map sessions; /* handle -> p11kms_session */
    p11kms_map objects;  /* handle -> p11kms_object (token and session objects) */
    CK_ULONG next_handle;
} p11kms_module;

extern p11kms_module p11kms_g;

CK_RV p11kms_initialize(CK_VOID_PTR init_args);
CK_RV p11kms_finalize(CK_VOID_PTR reserved);
/* CKR_OK when initialised in this process, else CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV p11kms_check_initialized(void);
/* A fresh handle (never 0, never reused); g.lock held. */
CK_ULONG p11kms_new_handle_locked(void);

static inline void p11kms_lock(void)
{
    extern void p11kms_mutex_lock(void *m);
    p11kms_mutex_lock(p11kms_g.lock);
}
static inline void p11kms_unlock(void)
{
    extern void p11kms_mutex_unlock(void *m);
    p11kms_mutex_unlock(p11kms_g.lock);
}

#endif
