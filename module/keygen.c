/* keygen.c - data keys: C_GenerateKey (CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN),
 * keys of C_CreateObject (object-ops.c), and the object a C_UnwrapKey produces.
 * The application's template decides whether the value can ever be read (CKA_SENSITIVE,
 * CKA_EXTRACTABLE); an unwrapping key's CKA_UNWRAP_TEMPLATE overrules it. g.lock only for the
 * rights check and the insertion. */
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "attrs.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "store.h"

/* A data key from a template: what the module contributes (key type of the mechanism, CKA_LOCAL
 * of generated keys), the template, and for an unwrap the unwrapping key's unwrap template. */
static CK_RV build(p11kms_session *s, int origin, CK_MECHANISM_TYPE mech,
                   const p11kms_object *unwrapper, const CK_ATTRIBUTE *t, CK_ULONG n,
                   p11kms_object **out, size_t *want)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);

    *out = NULL;
    if (o == NULL)
        return CKR_HOST_MEMORY;
    if (mech == CKM_AES_KEY_GEN)
        o->key_type = CKK_AES;
    else if (mech == CKM_GENERIC_SECRET_KEY_GEN)
        o->key_type = CKK_GENERIC_SECRET;
    if (origin == P11KMS_FROM_GENERATE) {
        o->local = CK_TRUE;
        o->key_gen_mechanism = mech;
    }
    /* The unwrap template is fixed at the unwrapping key's creation: no lock needed. */
    rv = p11kms_attrs_apply(o, origin, t, n, unwrapper != NULL ? &unwrapper->unwrap_tmpl : NULL,
                            want);
    if (rv == CKR_OK) {
        p11kms_lock();
        rv = p11kms_object_rights_locked(s, o);
        p11kms_unlock();
    }
    if (rv == CKR_OK)
        *out = o;
    else
        p11kms_object_free(o);
    return rv;
}

CK_RV p11kms_unwrap_stage(p11kms_session *s, const p11kms_object *unwrapper, CK_ATTRIBUTE_PTR t,
                          CK_ULONG n, p11kms_unwrap_staged *st)
{
    memset(st, 0, sizeof(*st));
    /* Every unwrap names its unwrapping key: its unwrap template is not optional. */
    if (unwrapper == NULL) {
        LOG_E("C_UnwrapKey: an unwrapped key made without its unwrapping key");
        return CKR_GENERAL_ERROR;
    }
    return build(s, P11KMS_FROM_UNWRAP, CK_UNAVAILABLE_INFORMATION, unwrapper, t, n, &st->o,
                 &st->want);
}

CK_RV p11kms_unwrap_commit(p11kms_session *s, p11kms_unwrap_staged *st, const uint8_t *value,
                           size_t value_len, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = st->o;

    if (o == NULL)
        goto out;
    if ((st->want != 0 && st->want != value_len) || !p11kms_key_len_ok(o->key_type, value_len)) {
        LOG_W("C_UnwrapKey: the template asks for another key length or type than the "
              "%zu-byte key in the envelope",
              value_len);
        rv = CKR_TEMPLATE_INCONSISTENT;
        goto out;
    }
    o->value = malloc(value_len);
    if (o->value == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    memcpy(o->value, value, value_len);
    o->value_len = value_len;
    /* Rights are checked again under the lock: a logout may have come during the KMS call. */
    rv = p11kms_store_add_new(s, o, out);
    if (rv == CKR_OK)
        st->o = NULL;
out:
    return rv;
}

void p11kms_unwrap_staged_clear(p11kms_unwrap_staged *st)
{
    p11kms_object_free(st->o);
    st->o = NULL;
}

CK_RV p11kms_data_key_new(p11kms_session *s, int origin, CK_MECHANISM_TYPE mech, CK_ATTRIBUTE_PTR t,
                          CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;
    size_t want = 0;

    if (origin != P11KMS_FROM_GENERATE && origin != P11KMS_FROM_CREATE)
        return CKR_GENERAL_ERROR; /* unwraps go through p11kms_unwrap_stage/commit */
    rv = build(s, origin, mech, NULL, t, n, &o, &want);
    if (rv != CKR_OK)
        goto out;
    if (origin == P11KMS_FROM_GENERATE) {
        o->value = malloc(want);
        if (o->value == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        o->value_len = want;
        if (RAND_bytes(o->value, (int)want) != 1) {
            rv = CKR_FUNCTION_FAILED;
            goto out;
        }
    }
    rv = p11kms_store_add_new(s, o, out);
    if (rv == CKR_OK)
        o = NULL;
out:
    p11kms_object_free(o);
    return rv;
}

CK_RV p11kms_generate_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                          CK_OBJECT_HANDLE_PTR out)
{
    if (mech->mechanism != CKM_AES_KEY_GEN && mech->mechanism != CKM_GENERIC_SECRET_KEY_GEN)
        return CKR_MECHANISM_INVALID;
    if (mech->pParameter != NULL || mech->ulParameterLen != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    return p11kms_data_key_new(s, P11KMS_FROM_GENERATE, mech->mechanism, t, n, out);
}
