/* entry.h - the shared path every C_* entry point takes: counted in and initialisation check
 * (the call gate, state.h) -> argument check -> session acquire (g.lock, pin, session mutex)
 * -> the operation -> release -> counted out -> log. */
#ifndef P11KMS_ENTRY_H
#define P11KMS_ENTRY_H

#include "log.h"
#include "session.h"
#include "state.h"

static inline CK_RV entry_done(const char *fn, CK_RV rv)
{
    LOG_D("%s = %s", fn, p11kms_rv_name(rv));
    return rv;
}

/* A call on the module or a slot: no session. */
#define ENTRY_MODULE(args_ok, call)                                                                \
    do {                                                                                           \
        unsigned shard_;                                                                           \
        CK_RV rv_ = p11kms_call_enter(&shard_);                                                    \
        if (rv_ == CKR_OK && !(args_ok))                                                           \
            rv_ = CKR_ARGUMENTS_BAD;                                                               \
        if (rv_ == CKR_OK)                                                                         \
            rv_ = (call);                                                                          \
        p11kms_call_leave(shard_);                                                                 \
        return entry_done(__func__, rv_);                                                          \
    } while (0)

/* A call on a session: `s` names the acquired session inside `call`. */
#define ENTRY_SESSION(h, args_ok, call)                                                            \
    do {                                                                                           \
        p11kms_session *s = NULL;                                                                  \
        unsigned shard_;                                                                           \
        CK_RV rv_ = p11kms_call_enter(&shard_);                                                    \
        if (rv_ == CKR_OK && !(args_ok))                                                           \
            rv_ = CKR_ARGUMENTS_BAD;                                                               \
        if (rv_ == CKR_OK)                                                                         \
            rv_ = p11kms_session_acquire((h), &s);                                                 \
        if (rv_ == CKR_OK)                                                                         \
            rv_ = (call);                                                                          \
        p11kms_session_release(s);                                                                 \
        p11kms_call_leave(shard_);                                                                 \
        return entry_done(__func__, rv_);                                                          \
    } while (0)

/* Listed as unsupported in README.md. */
#define ENTRY_UNSUPPORTED(rv_unsupported)                                                          \
    do {                                                                                           \
        CK_RV rv_ = p11kms_is_live(memory_order_acquire) ? CKR_OK : CKR_CRYPTOKI_NOT_INITIALIZED;  \
        return entry_done(__func__, rv_ == CKR_OK ? (rv_unsupported) : rv_);                       \
    } while (0)

#endif
