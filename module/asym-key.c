/* asym-key.c - asymmetric KMS keys as objects: the private key, public key and certificate of
 * one configured key, the public half fetched once from the backend, and the attribute values
 * that come from the key type, the public key and the certificate. */
/*
 * Threads (see asym.h): objects are made under g.lock at C_Initialize. The public half is
 * loaded under the key's own mutex, never under g.lock, since the backend may call the KMS;
 * readers under g.lock check have_public (acquire) and read the fixed fields.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "asym.h"
#include "attr-rules.h"
#include "init.h"
#include "log.h"
#include "object.h"
#include "session.h"
#include "slot.h"

#define SPKI_MAX 4096

p11kms_asym_key *p11kms_asym_key_ref(p11kms_asym_key *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void p11kms_asym_key_put(p11kms_asym_key *k)
{
    if (k == NULL || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    p11kms_backend_free(k->backend);
    p11kms_cert_free(k->cert);
    EVP_PKEY_free(k->pub);
    free(k->spki);
    free(k->modulus);
    free(k->exponent);
    free(k->ec_point);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* ---- the public half ------------------------------------------------------------------- */

/* A big-endian copy of an RSA parameter of pk. */
static int bn_param(const EVP_PKEY *pk, const char *name, uint8_t **out, size_t *len)
{
    BIGNUM *bn = NULL;
    int n, ok = 0;

    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 || (n = BN_num_bytes(bn)) <= 0)
        goto out;
    *out = malloc((size_t)n);
    if (*out == NULL || BN_bn2bin(bn, *out) != n)
        goto out;
    *len = (size_t)n;
    ok = 1;
out:
    BN_free(bn);
    return ok;
}

/* CKA_EC_POINT: DER OCTET STRING around the uncompressed point. */
static int ec_point(const EVP_PKEY *pk, uint8_t **out, size_t *len)
{
    uint8_t point[1 + 2 * 66];
    size_t n = 0, at = 0;

    if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                        sizeof(point), &n) != 1 ||
        n < 3 || point[0] != 0x04)
        return 0;
    *out = malloc(n + 3);
    if (*out == NULL)
        return 0;
    (*out)[at++] = 0x04;
    if (n >= 0x80)
        (*out)[at++] = 0x81;
    (*out)[at++] = (uint8_t)n;
    memcpy(*out + at, point, n);
    *len = at + n;
    return 1;
}

/* Check what the backend gave and fill k's public half from it. */
static CK_RV take_public(p11kms_asym_key *k, const p11kms_buf *spki)
{
    const unsigned char *p = spki->data;
    EVP_PKEY *pk = NULL, *cert_pk = NULL;
    const p11kms_key_type_info *got;
    unsigned char *q;
    CK_RV rv = CKR_DEVICE_ERROR;
    int n;

    if (spki->len == 0 || spki->len > SPKI_MAX ||
        (pk = d2i_PUBKEY(NULL, &p, (long)spki->len)) == NULL || p != spki->data + spki->len) {
        LOG_E("%s: the public key of key \"%s\" is not a DER SubjectPublicKeyInfo", k->kcfg->origin,
              k->kcfg->label);
        goto out;
    }
    got = p11kms_key_type_get(p11kms_key_type_of_pkey(pk));
    if (got == NULL || got != k->type) {
        LOG_E("%s: key \"%s\" is configured as %s but its public key is %s", k->kcfg->origin,
              k->kcfg->label, k->type->name, got != NULL ? got->name : "of another kind");
        goto out;
    }
    if (k->cert != NULL) {
        p = k->cert->spki;
        cert_pk = d2i_PUBKEY(NULL, &p, (long)k->cert->spki_len);
        if (cert_pk == NULL || EVP_PKEY_eq(pk, cert_pk) != 1) {
            LOG_E("%s: the certificate %s does not hold the public key of key \"%s\"",
                  k->kcfg->origin, k->kcfg->certificate, k->kcfg->label);
            goto out;
        }
    }
    rv = CKR_HOST_MEMORY;
    n = i2d_PUBKEY(pk, NULL);
    if (n <= 0 || (k->spki = malloc((size_t)n)) == NULL)
        goto out;
    q = k->spki;
    if (i2d_PUBKEY(pk, &q) != n)
        goto out;
    k->spki_len = (size_t)n;
    if (k->type->ckk == CKK_RSA) {
        if (!bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &k->modulus, &k->modulus_len) ||
            !bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &k->exponent, &k->exponent_len))
            goto out;
    } else if (!ec_point(pk, &k->ec_point, &k->ec_point_len)) {
        goto out;
    }
    k->pub = pk;
    pk = NULL;
    rv = CKR_OK;
out:
    if (rv != CKR_OK) {
        free(k->spki);
        free(k->modulus);
        free(k->exponent);
        free(k->ec_point);
        k->spki = k->modulus = k->exponent = k->ec_point = NULL;
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_free(cert_pk);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_asym_public(p11kms_asym_key *k)
{
    p11kms_buf spki = {NULL, 0};
    CK_RV rv = CKR_OK;

    if (atomic_load_explicit(&k->have_public, memory_order_acquire))
        return CKR_OK;
    /* One fetch at a time: whoever waits here finds it done. */
    pthread_mutex_lock(&k->lock);
    if (atomic_load_explicit(&k->have_public, memory_order_relaxed))
        goto out;
    rv = k->backend->ops->public_key(k->backend, &spki);
    if (rv == CKR_OK)
        rv = take_public(k, &spki);
    if (rv == CKR_OK) {
        atomic_store_explicit(&k->have_public, 1, memory_order_release);
        LOG_D("%s: public key of \"%s\" loaded (%zu bytes)", k->kcfg->origin, k->kcfg->label,
              k->spki_len);
    }
out:
    pthread_mutex_unlock(&k->lock);
    p11kms_buf_free(&spki);
    return rv;
}

static int needs_public(CK_ATTRIBUTE_TYPE type)
{
    return type == CKA_MODULUS || type == CKA_PUBLIC_EXPONENT || type == CKA_EC_POINT ||
           type == CKA_PUBLIC_KEY_INFO;
}

static int template_needs_public(const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_ULONG i;

    for (i = 0; t != NULL && i < n; i++)
        if (needs_public(t[i].type))
            return 1;
    return 0;
}

/* Whether o's public half is missing and would serve a read of it. */
static int wants_public(const p11kms_object *o)
{
    return o->asym != NULL &&
           (o->kind == P11KMS_OBJ_PRIVATE_KEY || o->kind == P11KMS_OBJ_PUBLIC_KEY) &&
           !atomic_load_explicit(&o->asym->have_public, memory_order_acquire);
}

CK_RV p11kms_asym_prepare_read(p11kms_session *s, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *t,
                               CK_ULONG n)
{
    p11kms_asym_key *k = NULL;
    p11kms_object *o = NULL;
    CK_RV rv = CKR_OK;

    if (!template_needs_public(t, n))
        return CKR_OK;
    p11kms_lock();
    if (p11kms_object_get_locked(s, h, &o) == CKR_OK && wants_public(o))
        k = p11kms_asym_key_ref(o->asym);
    p11kms_unlock();
    p11kms_object_put(o);
    if (k != NULL)
        rv = p11kms_asym_public(k);
    p11kms_asym_key_put(k);
    return rv;
}

CK_RV p11kms_asym_prepare_find(p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    p11kms_asym_key **keys = NULL;
    size_t it = 0, count = 0, i;
    void *val;
    CK_RV rv = CKR_OK;

    if (!template_needs_public(t, n))
        return CKR_OK;
    p11kms_lock();
    keys = malloc((p11kms_g.objects.n + 1) * sizeof(*keys));
    while (keys != NULL && p11kms_map_next(&p11kms_g.objects, &it, NULL, &val)) {
        p11kms_object *o = val;

        /* the private key object stands for its key (public key objects share it) */
        if (o->kind == P11KMS_OBJ_PRIVATE_KEY && wants_public(o) &&
            p11kms_object_visible_locked(s, o))
            keys[count++] = p11kms_asym_key_ref(o->asym);
    }
    p11kms_unlock();
    if (keys == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < count; i++) {
        if (rv == CKR_OK)
            rv = p11kms_asym_public(keys[i]);
        p11kms_asym_key_put(keys[i]);
    }
    free(keys);
    return rv;
}

/* ---- objects --------------------------------------------------------------------------- */

/* What every object of the key shares: fixed, token, label, id. */
static p11kms_object *new_object(struct p11kms_token *t, p11kms_asym_key *k, int kind)
{
    const p11kms_key_config *kc = k->kcfg;
    p11kms_object *o = p11kms_object_alloc(kind);

    if (o == NULL)
        return NULL;
    o->token = t;
    o->is_token = CK_TRUE;
    o->modifiable = CK_FALSE;
    o->copyable = CK_FALSE;
    o->destroyable = CK_FALSE;
    o->key_type = kind == P11KMS_OBJ_CERTIFICATE ? CK_UNAVAILABLE_INFORMATION : k->type->ckk;
    o->label_len = strlen(kc->label);
    o->label = (uint8_t *)strdup(kc->label);
    o->id = malloc(kc->id_len ? kc->id_len : 1);
    o->asym = p11kms_asym_key_ref(k);
    if (o->label == NULL || o->id == NULL) {
        p11kms_object_free(o);
        return NULL;
    }
    memcpy(o->id, kc->id, kc->id_len);
    o->id_len = kc->id_len;
    return o;
}

static CK_RV insert(p11kms_object *o)
{
    CK_RV rv;

    if (o == NULL)
        return CKR_HOST_MEMORY;
    rv = p11kms_object_insert_locked(o);
    if (rv != CKR_OK)
        p11kms_object_free(o);
    return rv;
}

static CK_RV make_objects(struct p11kms_token *t, p11kms_asym_key *k)
{
    const p11kms_key_config *kc = k->kcfg;
    p11kms_object *o;
    CK_RV rv;

    o = new_object(t, k, P11KMS_OBJ_PRIVATE_KEY);
    if (o != NULL) {
        /* The value never leaves the KMS: sensitive and unextractable from the start. */
        o->kcfg = kc;
        o->is_private = t->has_pin ? CK_TRUE : CK_FALSE;
        o->sensitive = CK_TRUE;
        o->always_sensitive = CK_TRUE;
        o->extractable = CK_FALSE;
        o->never_extractable = CK_TRUE;
        o->sign = (kc->perms & P11KMS_PERM_SIGN) ? CK_TRUE : CK_FALSE;
        o->decrypt = (kc->perms & P11KMS_PERM_DECRYPT) ? CK_TRUE : CK_FALSE;
    }
    rv = insert(o);
    if (rv != CKR_OK)
        return rv;
    o = new_object(t, k, P11KMS_OBJ_PUBLIC_KEY);
    if (o != NULL) {
        o->verify = (kc->perms & P11KMS_PERM_SIGN) ? CK_TRUE : CK_FALSE;
        o->encrypt = (kc->perms & P11KMS_PERM_DECRYPT) ? CK_TRUE : CK_FALSE;
    }
    rv = insert(o);
    if (rv != CKR_OK || k->cert == NULL)
        return rv;
    o = new_object(t, k, P11KMS_OBJ_CERTIFICATE);
    if (o != NULL) {
        o->start_date = k->cert->start;
        o->end_date = k->cert->end;
    }
    return insert(o);
}

CK_RV p11kms_asym_objects_create_locked(struct p11kms_token *t, const p11kms_key_config *kc)
{
    p11kms_asym_key *k = calloc(1, sizeof(*k));
    const p11kms_key_type_info *ct;
    CK_RV rv;

    if (k == NULL)
        return CKR_HOST_MEMORY;
    atomic_init(&k->refs, 1); /* ours until the objects hold theirs */
    atomic_init(&k->have_public, 0);
    pthread_mutex_init(&k->lock, NULL);
    k->kcfg = kc;
    k->type = p11kms_key_type_get(kc->key_type);
    if (kc->certificate != NULL) {
        rv = p11kms_cert_load(kc->certificate, &k->cert);
        if (rv != CKR_OK)
            goto out;
        if (k->cert->key_type != kc->key_type) {
            ct = p11kms_key_type_get(k->cert->key_type);
            LOG_E("%s: the certificate %s holds %s key, the key is configured as %s", kc->origin,
                  kc->certificate, ct != NULL ? ct->name : "another kind of", k->type->name);
            rv = CKR_ARGUMENTS_BAD;
            goto out;
        }
    }
    rv = p11kms_backend_new(kc, &k->backend);
    if (rv == CKR_OK)
        rv = make_objects(t, k);
out:
    p11kms_asym_key_put(k);
    return rv;
}

/* ---- attributes ------------------------------------------------------------------------ */

static const CK_MECHANISM_TYPE ec_mechs[] = {CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384,
                                             CKM_ECDSA_SHA512};
/* RSA: the signing ones, then OAEP */
static const CK_MECHANISM_TYPE rsa_mechs[] = {
    CKM_RSA_PKCS,      CKM_SHA256_RSA_PKCS,     CKM_SHA384_RSA_PKCS,     CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS,  CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
    CKM_RSA_PKCS_OAEP,
};
#define RSA_SIGN_MECHS 8

const CK_MECHANISM_TYPE *p11kms_asym_mechanisms(const p11kms_object *o, size_t *n)
{
    const p11kms_key_config *kc = o->asym->kcfg;
    int sign = (kc->perms & P11KMS_PERM_SIGN) != 0,
        decrypt = (kc->perms & P11KMS_PERM_DECRYPT) != 0;

    if (o->asym->type->ckk == CKK_EC) {
        *n = sign ? sizeof(ec_mechs) / sizeof(ec_mechs[0]) : 0;
        return ec_mechs;
    }
    *n = (sign ? RSA_SIGN_MECHS : 0) + (decrypt ? 1 : 0);
    return sign ? rsa_mechs : rsa_mechs + RSA_SIGN_MECHS;
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
        mechs = p11kms_asym_mechanisms(o, &n);
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
