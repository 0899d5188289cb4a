/* attr-asym.c - the attribute values of the objects of an asymmetric KMS key (asym.h): from
 * its key type, its public half (absent until loaded) and its certificate. Part of the attribute
 * rules (declared in attr-rules.h); g.lock held by every caller. */
#include <string.h>
#include "asym.h"
#include "attr-rules.h"
#include "object.h"

static int needs_public(CK_ATTRIBUTE_TYPE type)
{
    return p11kms_asym_attr_from_public(type);
}

int p11kms_asym_attr_has(const p11kms_object *o, CK_ATTRIBUTE_TYPE type)
{
    int rsa = o->asym->type->ckk == CKK_RSA;

    switch (type) {
    case CKA_MODULUS:
    case CKA_MODULUS_BITS:
    case CKA_PUBLIC_EXPONENT:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return rsa;
    case CKA_EC_PARAMS:
    case CKA_EC_POINT:
        return !rsa;
    case CKA_VALUE:
        return o->kind == P11KMS_OBJ_CERTIFICATE || !rsa;
    default:
        return 1;
    }
}

static int val_bytes(p11kms_attr_val *v, const void *p, size_t len)
{
    v->p = p;
    v->len = len;
    return P11KMS_VAL_OK;
}

static int val_ulong(p11kms_attr_val *v, CK_ULONG ul)
{
    v->u.ul = ul;
    return val_bytes(v, &v->u.ul, sizeof(v->u.ul));
}

static int val_bool(p11kms_attr_val *v, CK_BBOOL b)
{
    v->u.b = b;
    return val_bytes(v, &v->u.b, sizeof(v->u.b));
}

/* The attributes that come from the public half: absent until it is loaded. */
static int read_public(const p11kms_asym_key *k, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v)
{
    if (!atomic_load_explicit(&k->have_public, memory_order_acquire))
        return P11KMS_VAL_ABSENT;
    switch (type) {
    case CKA_MODULUS:
        return val_bytes(v, k->modulus, k->modulus_len);
    case CKA_PUBLIC_EXPONENT:
        return val_bytes(v, k->exponent, k->exponent_len);
    case CKA_EC_POINT:
        return val_bytes(v, k->ec_point, k->ec_point_len);
    default:
        return val_bytes(v, k->spki, k->spki_len);
    }
}

static int read_cert(const p11kms_cert *c, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v)
{
    switch (type) {
    case CKA_CERTIFICATE_TYPE:
        return val_ulong(v, CKC_X_509);
    case CKA_CERTIFICATE_CATEGORY:
        return val_ulong(v, 1); /* token user: the token holds its private key */
    case CKA_CHECK_VALUE:
        return val_bytes(v, c->check_value, sizeof(c->check_value));
    case CKA_ISSUER:
        return val_bytes(v, c->issuer, c->issuer_len);
    case CKA_SERIAL_NUMBER:
        return val_bytes(v, c->serial, c->serial_len);
    case CKA_VALUE:
        return val_bytes(v, c->der, c->der_len);
    case CKA_PUBLIC_KEY_INFO:
        return val_bytes(v, c->spki, c->spki_len);
    case CKA_URL:
    case CKA_HASH_OF_SUBJECT_PUBLIC_KEY:
    case CKA_HASH_OF_ISSUER_PUBLIC_KEY:
        return val_bytes(v, NULL, 0);
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
        return val_ulong(v, 0);
    case CKA_NAME_HASH_ALGORITHM:
        return val_ulong(v, CKM_SHA_1);
    default:
        return P11KMS_VAL_ABSENT;
    }
}

int p11kms_asym_attr_read(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v)
{
    const p11kms_asym_key *k = o->asym;
    const CK_MECHANISM_TYPE *mechs;
    size_t n;

    switch (type) {
    case CKA_SUBJECT:
        return k->cert != NULL ? val_bytes(v, k->cert->subject, k->cert->subject_len)
                               : val_bytes(v, NULL, 0);
    case CKA_ALLOWED_MECHANISMS:
        mechs = p11kms_asym_mechanisms(k, &n);
        return val_bytes(v, mechs, n * sizeof(*mechs));
    case CKA_EC_PARAMS:
        return val_bytes(v, k->type->ec_params, k->type->ec_params_len);
    case CKA_MODULUS_BITS:
        return val_ulong(v, k->type->bits);
    case CKA_SIGN_RECOVER:
    case CKA_VERIFY_RECOVER:
    case CKA_ALWAYS_AUTHENTICATE:
        return val_bool(v, CK_FALSE);
    case CKA_P11KMS_BACKEND:
        return val_bytes(v, k->kcfg->backend, strlen(k->kcfg->backend));
    case CKA_P11KMS_KEY_ID:
        return val_bytes(v, k->kcfg->key_id, strlen(k->kcfg->key_id));
    default:
        break;
    }
    if (o->kind == P11KMS_OBJ_CERTIFICATE)
        return k->cert != NULL ? read_cert(k->cert, type, v) : P11KMS_VAL_ABSENT;
    return needs_public(type) ? read_public(k, type, v) : P11KMS_VAL_ABSENT;
}
