/* session.c - the session table, the pin-then-lock path every session call takes, and session
 * state. g.lock protects the table, refs, closed (written under it, atomic so the call path may
 * read it without) and token session counts; each session's own mutex serialises its calls. */
#include <stdlib.h>
#include <string.h>
#include "crypt-asym.h"
#include "lock.h"
#include "log.h"
#include "object.h"
#include "session.h"
#include "state.h"

#define P11KMS_MAX_SESSIONS 65536

void p11kms_crypt_op_reset(p11kms_crypt_op *op)
{
    op->active = 0;
    op->kms = 0;
    op->started = 0;
    op->rewrap = 0;
    op->keyset = NULL;
    p11kms_crypt_asym_free(op->asym);
    op->asym = NULL;
    p11kms_context_free(op->context);
    op->context = NULL;
    p11kms_buf_wipe(&op->input);
    p11kms_buf_wipe(&op->result);
}

void p11kms_crypt_op_destroy(p11kms_crypt_op *op)
{
    p11kms_crypt_op_reset(op);
    p11kms_cipher_free(op->cipher);
    op->cipher = NULL;
}

void p11kms_sign_op_reset(p11kms_sign_op *op)
{
    if (op->end != NULL)
        op->end(op->state);
    op->state = NULL;
    op->end = NULL;
    op->family = NULL;
    op->active = 0;
    op->started = 0;
}

static void find_reset(p11kms_find_op *f)
{
    free(f->handles);
    memset(f, 0, sizeof(*f));
}

static void wrap_cache_reset(p11kms_wrap_cache *c)
{
    p11kms_buf_free(&c->envelope);
    memset(c, 0, sizeof(*c));
}

static void session_free(p11kms_session *s)
{
    p11kms_crypt_op_destroy(&s->enc);
    p11kms_crypt_op_destroy(&s->dec);
    p11kms_sign_op_reset(&s->sign);
    p11kms_sign_op_reset(&s->verify);
    find_reset(&s->find);
    wrap_cache_reset(&s->wrap_cache);
    p11kms_mutex_free(s->mutex);
    free(s);
}

/* Take s out of the table, drop its objects and, when it was the token's last session,
 * the token's login. Freed now or by the last p11kms_session_release. g.lock held. */
static void close_locked(p11kms_session *s)
{
    if (atomic_load_explicit(&s->closed, memory_order_relaxed))
        return;
    atomic_store_explicit(&s->closed, 1, memory_order_relaxed);
    p11kms_map_del(&p11kms_g.sessions, s->handle);
    p11kms_objects_drop_session_locked(s->handle);
    s->token->n_sessions--;
    if (s->flags & CKF_RW_SESSION)
        s->token->n_rw_sessions--;
    if (s->token->n_sessions == 0)
        s->token->logged_in = 0;
    if (s->refs == 0)
        session_free(s);
}

CK_RV p11kms_session_acquire(CK_SESSION_HANDLE h, p11kms_session **out)
{
    p11kms_session *s;

    *out = NULL;
    p11kms_lock();
    s = p11kms_map_get(&p11kms_g.sessions, h);
    if (s != NULL)
        s->refs++;
    p11kms_unlock();
    if (s == NULL)
        return CKR_SESSION_HANDLE_INVALID;
    p11kms_mutex_lock(s->mutex);
    /* Closed by another thread while we waited for its mutex. */
    if (atomic_load_explicit(&s->closed, memory_order_relaxed)) {
        p11kms_session_release(s);
        return CKR_SESSION_HANDLE_INVALID;
    }
    *out = s;
    return CKR_OK;
}

void p11kms_session_release(p11kms_session *s)
{
    int free_it;

    if (s == NULL)
        return;
    p11kms_mutex_unlock(s->mutex);
    p11kms_lock();
    free_it = --s->refs == 0 && atomic_load_explicit(&s->closed, memory_order_relaxed);
    p11kms_unlock();
    if (free_it)
        session_free(s);
}

CK_RV p11kms_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_token *t = p11kms_token_get(slot);
    p11kms_session *s = NULL;

    if (t == NULL)
        return CKR_SLOT_ID_INVALID;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return CKR_HOST_MEMORY;
    rv = p11kms_mutex_new(&s->mutex);
    if (rv != CKR_OK)
        goto out;
    s->token = t;
    s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
    p11kms_lock();
    if (p11kms_g.sessions.n >= P11KMS_MAX_SESSIONS) {
        rv = CKR_SESSION_COUNT;
    } else {
        s->handle = p11kms_new_handle_locked();
        if (p11kms_map_put(&p11kms_g.sessions, s->handle, s) != 0) {
            rv = CKR_HOST_MEMORY;
        } else {
            t->n_sessions++;
            if (flags & CKF_RW_SESSION)
                t->n_rw_sessions++;
            *out = s->handle;
            s = NULL;
            rv = CKR_OK;
        }
    }
    p11kms_unlock();
out:
    if (s != NULL)
        session_free(s);
    return rv;
}

CK_RV p11kms_close_session(p11kms_session *s)
{
    p11kms_lock();
    close_locked(s);
    p11kms_unlock();
    return CKR_OK;
}

static void close_matching(p11kms_token *only)
{
    size_t it = 0, n = 0, i;
    void *val;
    p11kms_session **list;

    p11kms_lock();
    list = malloc((p11kms_g.sessions.n + 1) * sizeof(*list));
    while (list != NULL && p11kms_map_next(&p11kms_g.sessions, &it, NULL, &val)) {
        p11kms_session *s = val;
        if (only == NULL || s->token == only)
            list[n++] = s;
    }
    for (i = 0; i < n; i++)
        close_locked(list[i]);
    p11kms_unlock();
    free(list);
}

CK_RV p11kms_close_all_sessions(CK_SLOT_ID slot)
{
    p11kms_token *t = p11kms_token_get(slot);

    if (t == NULL)
        return CKR_SLOT_ID_INVALID;
    close_matching(t);
    return CKR_OK;
}

void p11kms_sessions_destroy_all(void)
{
    close_matching(NULL);
    p11kms_map_clear(&p11kms_g.sessions);
}

int p11kms_session_logged_in_locked(const p11kms_session *s)
{
    return s->token->logged_in;
}

CK_STATE p11kms_session_state_locked(const p11kms_session *s)
{
    int rw = (s->flags & CKF_RW_SESSION) != 0;

    if (s->token->logged_in)
        return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
}

CK_RV p11kms_get_session_info(p11kms_session *s, CK_SESSION_INFO_PTR info)
{
    memset(info, 0, sizeof(*info));
    p11kms_lock();
    info->slotID = s->token->slot_id;
    info->state = p11kms_session_state_locked(s);
    p11kms_unlock();
    info->flags = s->flags;
    info->ulDeviceError = 0;
    return CKR_OK;
}

CK_RV p11kms_session_cancel(p11kms_session *s, CK_FLAGS flags)
{
    if (flags & CKF_ENCRYPT)
        p11kms_crypt_op_reset(&s->enc);
    if (flags & CKF_DECRYPT)
        p11kms_crypt_op_reset(&s->dec);
    if (flags & CKF_SIGN)
        p11kms_sign_op_reset(&s->sign);
    if (flags & CKF_VERIFY)
        p11kms_sign_op_reset(&s->verify);
    if (flags & CKF_FIND_OBJECTS)
        find_reset(&s->find);
    /* Nothing else (digest, message operations) can be active in this module. */
    return CKR_OK;
}
