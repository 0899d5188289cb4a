/* keygen.c - data keys: C_GenerateKey (CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN),
 * C_CreateObject, and the object a C_UnwrapKey produces. The application's template decides
 * whether the value can ever be read (CKA_SENSITIVE/CKA_EXTRACTABLE). */
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "attrs.h"
#include "init.h"
#include "log.h"
#include "object.h"
#include "ops.h"

CK_RV p11kms_data_key_new(p11kms_session *s, int origin, CK_MECHANISM_TYPE mech,
                          CK_ATTRIBUTE_PTR t, CK_ULONG n, const uint8_t *value, size_t value_len,
                          CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);
    CK_KEY_TYPE hint = CK_UNAVAILABLE_INFORMATION;
    size_t want = 0;

    if (o == NULL)
        return CKR_HOST_MEMORY;
    o->token = s->token;
    if (mech == CKM_AES_KEY_GEN)
        hint = CKK_AES;
    else if (mech == CKM_GENERIC_SECRET_KEY_GEN)
        hint = CKK_GENERIC_SECRET;
    rv = p11kms_attrs_apply_template(s, o, origin, hint, t, n, &want);
    if (rv != CKR_OK)
        goto out;
    switch (origin) {
    case P11KMS_FROM_GENERATE:
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
        o->local = CK_TRUE;
        o->key_gen_mechanism = mech;
        break;
    case P11KMS_FROM_UNWRAP:
        if ((want != 0 && want != value_len) || !p11kms_key_len_ok(o->key_type, value_len)) {
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
        break;
    default:
        break;
    }
    if (!o->is_token)
        o->session = s->handle;
    p11kms_lock();
    rv = p11kms_object_insert_locked(o);
    if (rv == CKR_OK)
        *out = o->handle;
    p11kms_unlock();
    if (rv == CKR_OK)
        o = NULL;
out:
    p11kms_object_free(o);
    return rv;
}

CK_RV p11kms_generate_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR t,
                          CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    if (mech->mechanism != CKM_AES_KEY_GEN && mech->mechanism != CKM_GENERIC_SECRET_KEY_GEN)
        return CKR_MECHANISM_INVALID;
    if (mech->pParameter != NULL || mech->ulParameterLen != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    return p11kms_data_key_new(s, P11KMS_FROM_GENERATE, mech->mechanism, t, n, NULL, 0, out);
}

CK_RV p11kms_create_object(p11kms_session *s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                           CK_OBJECT_HANDLE_PTR out)
{
    if (p11kms_attr_find(t, n, CKA_CLASS) == NULL)
        return CKR_TEMPLATE_INCOMPLETE;
    return p11kms_data_key_new(s, P11KMS_FROM_CREATE, CK_UNAVAILABLE_INFORMATION, t, n, NULL, 0,
                               out);
}
