/* sign.c - C_SignInit..C_SignFinal and C_VerifyInit..C_VerifyFinal for every mechanism family
 * of sign.h: one operation per direction, the two-call length convention, and the rule that
 * every result but a short buffer or a length query ends the operation. */
/*
 * Threads: runs with the session acquired (its mutex held); g.lock is taken only to look the
 * key up and let the family copy what it needs from it. The computation runs without g.lock.
 */
#include <string.h>
#include "log.h"
#include "object.h"
#include "ops.h"
#include "sign.h"
#include "state.h"
#include "store.h"
#include "util.h"

static const p11kms_sign_family *const families[] = {
    &p11kms_sign_cmac,
    &p11kms_sign_asym,
};
#define N_FAMILIES (sizeof(families) / sizeof(families[0]))

static const p11kms_sign_family *family_of(CK_MECHANISM_TYPE mech)
{
    size_t i;

    for (i = 0; i < N_FAMILIES; i++)
        if (families[i]->owns(mech))
            return families[i];
    return NULL;
}

static p11kms_sign_op *op_of(p11kms_session *s, int sign)
{
    return sign ? &s->sign : &s->verify;
}

CK_RV p11kms_sign_init(p11kms_session *s, int sign, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_sign_op *op = op_of(s, sign);
    const p11kms_sign_family *f;
    p11kms_object *o = NULL;
    void *state = NULL;

    if (op->active)
        return CKR_OPERATION_ACTIVE;
    f = family_of(mech->mechanism);
    if (f == NULL)
        return CKR_MECHANISM_INVALID;
    rv = p11kms_store_use(s, key, P11KMS_USE_VALUE); /* a stored key is unsealed on first use */
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, key, &o);
    if (rv != CKR_OK)
        rv = CKR_KEY_HANDLE_INVALID;
    else if (!p11kms_object_value_ready(o))
        rv = CKR_GENERAL_ERROR;
    else
        rv = f->begin_locked(mech, o, sign, &state);
    if (rv == CKR_OK && !(sign ? o->sign : o->verify))
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    p11kms_unlock();
    if (rv == CKR_OK)
        rv = f->start(state);
    if (rv != CKR_OK) {
        LOG_D("%s init with key %lu refused: %s", f->name, (unsigned long)key, p11kms_rv_name(rv));
        f->end(state);
        goto out;
    }
    op->family = f;
    op->state = state;
    op->end = f->end;
    op->active = 1;
    op->started = 0;
out:
    p11kms_object_put(o);
    return rv;
}

/* Whether the operation goes on after rv: only length queries and short buffers keep it. */
static void settle(p11kms_sign_op *op, CK_RV rv, CK_BYTE_PTR sig)
{
    if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && sig == NULL))
        return;
    p11kms_sign_op_reset(op);
}

/* The signature, after an optional last piece of data: the length convention first, so a
 * length query or a short buffer consumes nothing. */
static CK_RV sign_out(p11kms_sign_op *op, const uint8_t *data, size_t len, CK_BYTE_PTR sig,
                      CK_ULONG_PTR sig_len)
{
    size_t want = op->family->length(op->state);
    int done;
    CK_RV rv = p11kms_out_room(sig, sig_len, want, &done);

    if (done)
        return rv;
    rv = len > 0 ? op->family->update(op->state, data, len) : CKR_OK;
    if (rv == CKR_OK)
        rv = op->family->sign(op->state, sig);
    if (rv == CKR_OK)
        *sig_len = want;
    return rv;
}

static CK_RV verify_in(p11kms_sign_op *op, const uint8_t *data, size_t len, const uint8_t *sig,
                       size_t sig_len)
{
    CK_RV rv;

    if (sig_len != op->family->length(op->state))
        return CKR_SIGNATURE_LEN_RANGE;
    rv = len > 0 ? op->family->update(op->state, data, len) : CKR_OK;
    if (rv == CKR_OK)
        rv = op->family->verify(op->state, sig);
    return rv;
}

/* C_Sign (single: the whole data, no update before) and C_SignFinal. */
static CK_RV sign_finish(p11kms_session *s, int single, const uint8_t *data, size_t len,
                         CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_sign_op *op = &s->sign;

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (single && op->started)
        rv = CKR_OPERATION_ACTIVE; /* C_Sign cannot finish a multi-part operation */
    else
        rv = sign_out(op, data, len, sig, sig_len);
    settle(op, rv, sig);
    return rv;
}

/* C_Verify and C_VerifyFinal, likewise. Verification has no output to measure: every call
 * ends it. */
static CK_RV verify_finish(p11kms_session *s, int single, const uint8_t *data, size_t len,
                           const uint8_t *sig, size_t sig_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_sign_op *op = &s->verify;

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (single && op->started)
        rv = CKR_OPERATION_ACTIVE;
    else
        rv = verify_in(op, data, len, sig, sig_len);
    p11kms_sign_op_reset(op);
    return rv;
}

CK_RV p11kms_sign(p11kms_session *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                  CK_ULONG_PTR sig_len)
{
    return sign_finish(s, 1, data, len, sig, sig_len);
}

CK_RV p11kms_sign_final(p11kms_session *s, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    return sign_finish(s, 0, NULL, 0, sig, sig_len);
}

CK_RV p11kms_verify(p11kms_session *s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                    CK_ULONG sig_len)
{
    return verify_finish(s, 1, data, len, sig, sig_len);
}

CK_RV p11kms_verify_final(p11kms_session *s, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
    return verify_finish(s, 0, NULL, 0, sig, sig_len);
}

CK_RV p11kms_sign_update(p11kms_session *s, int sign, CK_BYTE_PTR part, CK_ULONG len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_sign_op *op = op_of(s, sign);

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    rv = len > 0 ? op->family->update(op->state, part, len) : CKR_OK;
    if (rv == CKR_OK)
        op->started = 1;
    else
        p11kms_sign_op_reset(op);
    return rv;
}
