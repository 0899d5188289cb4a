/* attr-rules.c - the attribute table and what is read from it: values of an object's attributes,
 * value forms, and the wrap/unwrap template arrays. No locks: callers hold g.lock for objects in
 * the map; templates never change after an object is made. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "attr-rules.h"
#include "object.h"

#define F(f) offsetof(p11kms_object, f)
#define ROW_BOOL(t, conf, on, flags, f)                                                            \
    {                                                                                              \
        t, #t, conf, P11KMS_AK_BOOL, on, flags, F(f), 0, 0                                         \
    }
#define ROW_ULONG(t, conf, on, flags, f)                                                           \
    {                                                                                              \
        t, #t, conf, P11KMS_AK_ULONG, on, flags, f, 0, 0                                           \
    }
#define ROW_BYTES(t, on, flags, f, max)                                                            \
    {                                                                                              \
        t, #t, NULL, P11KMS_AK_BYTES, on, flags, F(f), F(f##_len), max                             \
    }
#define ROW_OTHER(t, kind, on, flags, f)                                                           \
    {                                                                                              \
        t, #t, NULL, kind, on, flags, f, 0, 0                                                      \
    }

#define NEW P11KMS_AF_NEW
#define CHANGE P11KMS_AF_CHANGE
#define COPY P11KMS_AF_COPY
#define SET P11KMS_AF_SET
#define TMPL P11KMS_AF_TEMPLATE
#define RO P11KMS_AF_RO
#define KEEP P11KMS_AF_PERSIST
#define NONE P11KMS_ATTR_COMPUTED
#define LABEL_MAX 4096
#define OBJECT_ID_MAX 1024
#define DATA_VALUE_MAX (64u * 1024u)

#define PRIV P11KMS_ON_PRIVATE_KEY
#define PUB P11KMS_ON_PUBLIC_KEY
#define CERT P11KMS_ON_CERT
#define ASYM P11KMS_ON_ASYM

/*
 * One row per attribute and object kind. An attribute with different rules for keys and data
 * objects (CKA_VALUE) has one row for each. KMS keys and the objects of asymmetric keys are
 * never created, copied or changed through a template (their rows' creation and change flags
 * matter only to data keys). Which of an asymmetric key's attributes an EC or an RSA key has
 * is attr-asym.c's p11kms_asym_attr_has. KEEP: the attribute persists - a token object's file
 * holds it, in table order (store-file.c; only for the kinds a token object can be: data keys
 * and data objects); CKA_VALUE is kept too, but sealed (store-seal.c), and CKA_VALUE_LEN is the
 * sealed value's length.
 */
static const p11kms_attr_rule rules[] = {
    /* every object */
    ROW_ULONG(CKA_CLASS, NULL, P11KMS_ON_ALL, TMPL | KEEP, F(cls)),
    ROW_BOOL(CKA_TOKEN, "token", P11KMS_ON_ALL, NEW | COPY | TMPL | KEEP, is_token),
    ROW_BOOL(CKA_PRIVATE, "private", P11KMS_ON_ALL, NEW | COPY | TMPL | KEEP, is_private),
    ROW_BOOL(CKA_MODIFIABLE, "modifiable", P11KMS_ON_ALL,
             NEW | COPY | P11KMS_AF_TO_FALSE | TMPL | KEEP, modifiable),
    ROW_BOOL(CKA_COPYABLE, "copyable", P11KMS_ON_ALL,
             NEW | CHANGE | P11KMS_AF_TO_FALSE | TMPL | KEEP, copyable),
    ROW_BOOL(CKA_DESTROYABLE, "destroyable", P11KMS_ON_ALL,
             NEW | COPY | P11KMS_AF_TO_FALSE | TMPL | KEEP, destroyable),
    ROW_BYTES(CKA_LABEL, P11KMS_ON_ALL, NEW | CHANGE | KEEP, label, LABEL_MAX),

    /* keys */
    ROW_ULONG(CKA_KEY_TYPE, "key_type", P11KMS_ON_ANY_KEY, NEW | TMPL | KEEP, F(key_type)),
    ROW_BYTES(CKA_ID, P11KMS_ON_ANY_KEY | CERT, NEW | CHANGE | KEEP, id, LABEL_MAX),
    ROW_OTHER(CKA_START_DATE, P11KMS_AK_DATE, P11KMS_ON_ANY_KEY | CERT, NEW | CHANGE | KEEP,
              F(start_date)),
    ROW_OTHER(CKA_END_DATE, P11KMS_AK_DATE, P11KMS_ON_ANY_KEY | CERT, NEW | CHANGE | KEEP,
              F(end_date)),
    ROW_BOOL(CKA_DERIVE, "derive", P11KMS_ON_ANY_KEY, NEW | CHANGE | TMPL | KEEP, derive),
    ROW_BOOL(CKA_LOCAL, NULL, P11KMS_ON_ANY_KEY, RO | KEEP, local),
    ROW_ULONG(CKA_KEY_GEN_MECHANISM, NULL, P11KMS_ON_ANY_KEY, RO | KEEP, F(key_gen_mechanism)),
    ROW_OTHER(CKA_ALLOWED_MECHANISMS, P11KMS_AK_MECHS, P11KMS_ON_KMS_KEY | ASYM, RO, NONE),

    /* secret and private keys (encrypt, verify, wrap, trusted: secret and public keys) */
    ROW_BOOL(CKA_SENSITIVE, "sensitive", P11KMS_ON_KEYS | PRIV,
             NEW | CHANGE | P11KMS_AF_TO_TRUE | TMPL | KEEP, sensitive),
    ROW_BOOL(CKA_ENCRYPT, "encrypt", P11KMS_ON_KEYS | PUB,
             NEW | CHANGE | P11KMS_AF_USAGE | TMPL | KEEP, encrypt),
    ROW_BOOL(CKA_DECRYPT, "decrypt", P11KMS_ON_KEYS | PRIV,
             NEW | CHANGE | P11KMS_AF_USAGE | TMPL | KEEP, decrypt),
    ROW_BOOL(CKA_WRAP, "wrap", P11KMS_ON_KEYS | PUB, NEW | CHANGE | P11KMS_AF_USAGE | TMPL | KEEP,
             wrap),
    ROW_BOOL(CKA_UNWRAP, "unwrap", P11KMS_ON_KEYS | PRIV,
             NEW | CHANGE | P11KMS_AF_USAGE | TMPL | KEEP, unwrap),
    ROW_BOOL(CKA_SIGN, "sign", P11KMS_ON_KEYS | PRIV, NEW | CHANGE | TMPL | KEEP, sign),
    ROW_BOOL(CKA_VERIFY, "verify", P11KMS_ON_KEYS | PUB, NEW | CHANGE | TMPL | KEEP, verify),
    ROW_BOOL(CKA_EXTRACTABLE, "extractable", P11KMS_ON_KEYS | PRIV,
             NEW | CHANGE | P11KMS_AF_TO_FALSE | TMPL | KEEP, extractable),
    ROW_BOOL(CKA_ALWAYS_SENSITIVE, NULL, P11KMS_ON_KEYS | PRIV, RO | KEEP, always_sensitive),
    ROW_BOOL(CKA_NEVER_EXTRACTABLE, NULL, P11KMS_ON_KEYS | PRIV, RO | KEEP, never_extractable),
    ROW_BOOL(CKA_WRAP_WITH_TRUSTED, "wrap_with_trusted", P11KMS_ON_KEYS | PRIV,
             NEW | CHANGE | P11KMS_AF_TO_TRUE | TMPL | KEEP, wrap_with_trusted),
    /* Only a security officer may set it, and this module has none. */
    ROW_BOOL(CKA_TRUSTED, NULL, P11KMS_ON_KEYS | PUB | CERT, RO | KEEP, trusted),
    /* Fixed at creation: read-only afterwards, so objects can be read without g.lock. */
    ROW_OTHER(CKA_WRAP_TEMPLATE, P11KMS_AK_ARRAY, P11KMS_ON_KEYS | PUB, NEW | KEEP, F(wrap_tmpl)),
    ROW_OTHER(CKA_UNWRAP_TEMPLATE, P11KMS_AK_ARRAY, P11KMS_ON_KEYS | PRIV, NEW | KEEP,
              F(unwrap_tmpl)),
    /* the value of a secret key, the private value of an EC key: never readable from a private
     * key (sensitive, unextractable) */
    ROW_BYTES(CKA_VALUE, P11KMS_ON_KEYS | PRIV, P11KMS_AF_CREATE | P11KMS_AF_SECRET, value,
              P11KMS_DATA_KEY_MAX),
    ROW_ULONG(CKA_VALUE_LEN, "value_len", P11KMS_ON_KEYS,
              P11KMS_AF_GENERATE | P11KMS_AF_UNWRAP | TMPL, NONE),

    /* asymmetric keys (attr-asym.c): from the key type, the public key and the certificate */
    ROW_OTHER(CKA_SUBJECT, P11KMS_AK_BYTES, ASYM | CERT, RO, NONE),
    ROW_OTHER(CKA_PUBLIC_KEY_INFO, P11KMS_AK_BYTES, ASYM | CERT, RO, NONE),
    ROW_OTHER(CKA_SIGN_RECOVER, P11KMS_AK_BOOL, PRIV, RO, NONE),
    ROW_OTHER(CKA_ALWAYS_AUTHENTICATE, P11KMS_AK_BOOL, PRIV, RO, NONE),
    ROW_OTHER(CKA_VERIFY_RECOVER, P11KMS_AK_BOOL, PUB, RO, NONE),
    ROW_OTHER(CKA_MODULUS, P11KMS_AK_BYTES, ASYM, RO, NONE),
    ROW_OTHER(CKA_MODULUS_BITS, P11KMS_AK_ULONG, PUB, RO, NONE),
    ROW_OTHER(CKA_PUBLIC_EXPONENT, P11KMS_AK_BYTES, ASYM, RO, NONE),
    ROW_OTHER(CKA_EC_PARAMS, P11KMS_AK_BYTES, ASYM, RO, NONE),
    ROW_OTHER(CKA_EC_POINT, P11KMS_AK_BYTES, PUB, RO, NONE),
    /* the private parts of an RSA key: they stay in the KMS */
    ROW_OTHER(CKA_PRIVATE_EXPONENT, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),
    ROW_OTHER(CKA_PRIME_1, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),
    ROW_OTHER(CKA_PRIME_2, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),
    ROW_OTHER(CKA_EXPONENT_1, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),
    ROW_OTHER(CKA_EXPONENT_2, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),
    ROW_OTHER(CKA_COEFFICIENT, P11KMS_AK_BYTES, PRIV, RO | P11KMS_AF_SECRET, NONE),

    /* certificates (X.509) */
    ROW_OTHER(CKA_CERTIFICATE_TYPE, P11KMS_AK_ULONG, CERT, RO, NONE),
    ROW_OTHER(CKA_CERTIFICATE_CATEGORY, P11KMS_AK_ULONG, CERT, RO, NONE),
    ROW_OTHER(CKA_CHECK_VALUE, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_ISSUER, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_SERIAL_NUMBER, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_VALUE, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_URL, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_HASH_OF_ISSUER_PUBLIC_KEY, P11KMS_AK_BYTES, CERT, RO, NONE),
    ROW_OTHER(CKA_JAVA_MIDP_SECURITY_DOMAIN, P11KMS_AK_ULONG, CERT, RO, NONE),
    ROW_OTHER(CKA_NAME_HASH_ALGORITHM, P11KMS_AK_ULONG, CERT, RO, NONE),

    /* data objects: application bytes, readable, changeable */
    ROW_BYTES(CKA_APPLICATION, P11KMS_ON_DATA, P11KMS_AF_CREATE | CHANGE | KEEP, application,
              LABEL_MAX),
    ROW_BYTES(CKA_OBJECT_ID, P11KMS_ON_DATA, P11KMS_AF_CREATE | CHANGE | KEEP, object_id,
              OBJECT_ID_MAX),
    ROW_BYTES(CKA_VALUE, P11KMS_ON_DATA, P11KMS_AF_CREATE | CHANGE, value, DATA_VALUE_MAX),

    /* KMS keys: from the configuration and the backend (backend and key id also on the private
     * keys of asymmetric KMS keys) */
    ROW_OTHER(CKA_P11KMS_BACKEND, P11KMS_AK_BYTES, P11KMS_ON_KMS_KEY | PRIV, RO, NONE),
    ROW_OTHER(CKA_P11KMS_KEY_ID, P11KMS_AK_BYTES, P11KMS_ON_KMS_KEY | PRIV, RO, NONE),
    ROW_OTHER(CKA_P11KMS_KEY_VERSION, P11KMS_AK_ULONG, P11KMS_ON_KMS_KEY, RO, NONE),
    ROW_OTHER(CKA_P11KMS_DEFAULT_CONTEXT, P11KMS_AK_BYTES, P11KMS_ON_KMS_KEY, RO, NONE),
};
#define N_RULES (sizeof(rules) / sizeof(rules[0]))
_Static_assert(N_RULES <= P11KMS_ATTR_RULES_MAX, "P11KMS_ATTR_RULES_MAX too small");

/*
 * The lookup every template attribute and every attribute read makes (several per wrap and
 * unwrap): a direct index for the standard attribute numbers below DIRECT_MAX, built once, and
 * a scan of the few rows above it (vendor attributes, the array attributes).
 */
#define DIRECT_MAX 0x300u
#define INDEX_KINDS 8u
_Static_assert(N_RULES < UINT8_MAX, "rule indexes must fit the direct index");
static uint8_t direct[INDEX_KINDS][DIRECT_MAX]; /* rule index + 1; 0: the kind lacks it */
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void index_build(void)
{
    size_t i, k;

    for (i = 0; i < N_RULES; i++)
        for (k = 0; k < INDEX_KINDS; k++)
            if (rules[i].type < DIRECT_MAX && (rules[i].on & (1u << k)) &&
                direct[k][rules[i].type] == 0)
                direct[k][rules[i].type] = (uint8_t)(i + 1);
}

const p11kms_attr_rule *p11kms_attr_rule_for(CK_ATTRIBUTE_TYPE type, int kind)
{
    size_t i;

    if (kind < 0 || (unsigned)kind >= INDEX_KINDS)
        return NULL;
    if (type < DIRECT_MAX) {
        pthread_once(&index_once, index_build);
        i = direct[kind][type];
        return i ? &rules[i - 1] : NULL;
    }
    for (i = 0; i < N_RULES; i++)
        if (rules[i].type == type && (rules[i].on & (1u << kind)))
            return &rules[i];
    return NULL;
}

const p11kms_attr_rule *p11kms_attr_rule_any(CK_ATTRIBUTE_TYPE type)
{
    size_t i;

    for (i = 0; i < N_RULES; i++)
        if (rules[i].type == type)
            return &rules[i];
    return NULL;
}

const p11kms_attr_rule *p11kms_attr_rule_conf(const char *conf)
{
    size_t i;

    for (i = 0; i < N_RULES; i++)
        if (rules[i].conf != NULL && strcmp(rules[i].conf, conf) == 0)
            return &rules[i];
    return NULL;
}

size_t p11kms_attr_rule_count(void)
{
    return N_RULES;
}

const p11kms_attr_rule *p11kms_attr_rule_at(size_t i)
{
    return i < N_RULES ? &rules[i] : NULL;
}

size_t p11kms_attr_rule_index(const p11kms_attr_rule *r)
{
    return (size_t)(r - rules);
}

CK_BBOOL *p11kms_attr_bool(p11kms_object *o, const p11kms_attr_rule *r)
{
    return (CK_BBOOL *)((char *)o + r->field);
}

static int val_bool(p11kms_attr_val *v, CK_BBOOL b)
{
    v->u.b = b;
    v->p = &v->u.b;
    v->len = sizeof(CK_BBOOL);
    return P11KMS_VAL_OK;
}

static int val_ulong(p11kms_attr_val *v, CK_ULONG ul)
{
    v->u.ul = ul;
    v->p = &v->u.ul;
    v->len = sizeof(CK_ULONG);
    return P11KMS_VAL_OK;
}

static int val_bytes(p11kms_attr_val *v, const void *p, size_t len)
{
    v->p = p;
    v->len = len;
    return P11KMS_VAL_OK;
}

/* The attributes that are no plain field. */
static int read_computed(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v)
{
    if (o->asym != NULL)
        return p11kms_asym_attr_read(o, type, v);
    switch (type) {
    case CKA_VALUE_LEN:
        return val_ulong(v, o->kind == P11KMS_OBJ_KMS_KEY ? 32 : o->value_len);
    case CKA_ALLOWED_MECHANISMS:
        v->u.mechs[0] = CKM_P11KMS_ENVELOPE;
        v->u.mechs[1] = CKM_P11KMS_ENVELOPE_ENCODED;
        v->u.mechs[2] = CKM_AES_KEY_WRAP_PAD;
        v->u.mechs[3] = CKM_AES_KEY_WRAP_KWP;
        v->u.mechs[4] = CKM_P11KMS_REWRAP;
        return val_bytes(v, v->u.mechs, sizeof(v->u.mechs));
    case CKA_P11KMS_BACKEND:
        return val_bytes(v, o->kcfg->backend, strlen(o->kcfg->backend));
    case CKA_P11KMS_KEY_ID:
        return val_bytes(v, o->kcfg->key_id, strlen(o->kcfg->key_id));
    case CKA_P11KMS_KEY_VERSION:
        return val_ulong(v, p11kms_keyset_primary(o->keyset)->ops->current_version(
                                p11kms_keyset_primary(o->keyset)));
    case CKA_P11KMS_DEFAULT_CONTEXT:
        return val_bytes(v, o->default_context, o->default_context_len);
    default:
        return P11KMS_VAL_ABSENT;
    }
}

int p11kms_attr_read(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v)
{
    const p11kms_attr_rule *r = p11kms_attr_rule_for(type, o->kind);
    const char *f;

    memset(v, 0, sizeof(*v));
    if (r == NULL || (o->asym != NULL && !p11kms_asym_attr_has(o, type)))
        return P11KMS_VAL_ABSENT;
    if ((r->flags & P11KMS_AF_SECRET) &&
        (o->kind == P11KMS_OBJ_KMS_KEY || o->kind == P11KMS_OBJ_PRIVATE_KEY || o->sensitive ||
         !o->extractable))
        return P11KMS_VAL_SECRET;
    if (r->field == P11KMS_ATTR_COMPUTED)
        return read_computed(o, type, v);
    f = (const char *)o + r->field;
    switch (r->kind) {
    case P11KMS_AK_BOOL:
        return val_bool(v, *(const CK_BBOOL *)f);
    case P11KMS_AK_ULONG:
        return val_ulong(v, *(const CK_ULONG *)f);
    case P11KMS_AK_DATE:
        /* An unset date reads as empty. */
        return val_bytes(v, f, ((const CK_DATE *)f)->year[0] ? sizeof(CK_DATE) : 0);
    case P11KMS_AK_ARRAY:
        v->tmpl = (const p11kms_attr_template *)f;
        return P11KMS_VAL_OK;
    default:
        /* A stored object's sealed value is not here to read (p11kms_object_value_ready). */
        if (*(uint8_t *const *)f == NULL && *(const size_t *)((const char *)o + r->len_field) > 0)
            return P11KMS_VAL_SECRET;
        return val_bytes(v, *(uint8_t *const *)f,
                         *(const size_t *)((const char *)o + r->len_field));
    }
}

/* A template entry as a boolean: any non-zero byte is true. */
static CK_BBOOL as_bool(const CK_ATTRIBUTE *a)
{
    return *(const CK_BBOOL *)a->pValue ? CK_TRUE : CK_FALSE;
}

int p11kms_attr_same(const p11kms_attr_rule *r, const CK_ATTRIBUTE *a, const CK_ATTRIBUTE *b)
{
    if (a->ulValueLen != b->ulValueLen)
        return 0;
    if (a->ulValueLen == 0)
        return 1;
    if (a->pValue == NULL || b->pValue == NULL)
        return 0;
    if (r->kind == P11KMS_AK_BOOL)
        return as_bool(a) == as_bool(b);
    return memcmp(a->pValue, b->pValue, a->ulValueLen) == 0;
}

int p11kms_attr_equal(const p11kms_object *o, const CK_ATTRIBUTE *a)
{
    const p11kms_attr_rule *r = p11kms_attr_rule_for(a->type, o->kind);
    p11kms_attr_val v;
    CK_ATTRIBUTE have;

    if (r == NULL || r->kind == P11KMS_AK_ARRAY ||
        p11kms_attr_read(o, a->type, &v) != P11KMS_VAL_OK)
        return 0;
    have.type = a->type;
    have.pValue = (void *)v.p;
    have.ulValueLen = v.len;
    if (r->kind == P11KMS_AK_BOOL && a->ulValueLen != sizeof(CK_BBOOL))
        return 0;
    return p11kms_attr_same(r, a, &have);
}

static int date_ok(const CK_DATE *d)
{
    const CK_CHAR *c = (const CK_CHAR *)d;
    size_t i;

    for (i = 0; i < sizeof(*d); i++)
        if (c[i] < '0' || c[i] > '9')
            return 0;
    return 1;
}

CK_RV p11kms_attr_check(const p11kms_attr_rule *r, const CK_ATTRIBUTE *a)
{
    if (a->ulValueLen != 0 && a->pValue == NULL)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    switch (r->kind) {
    case P11KMS_AK_BOOL:
        return a->ulValueLen == sizeof(CK_BBOOL) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11KMS_AK_ULONG:
        return a->ulValueLen == sizeof(CK_ULONG) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11KMS_AK_DATE:
        if (a->ulValueLen == 0)
            return CKR_OK;
        return a->ulValueLen == sizeof(CK_DATE) && date_ok(a->pValue) ? CKR_OK
                                                                      : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11KMS_AK_BYTES:
        return a->ulValueLen <= r->max ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    case P11KMS_AK_ARRAY:
        return a->ulValueLen % sizeof(CK_ATTRIBUTE) == 0 ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    default:
        return a->ulValueLen % sizeof(CK_MECHANISM_TYPE) == 0 ? CKR_OK
                                                              : CKR_ATTRIBUTE_VALUE_INVALID;
    }
}

CK_RV p11kms_attr_store(p11kms_object *o, const p11kms_attr_rule *r, const CK_ATTRIBUTE *a)
{
    char *f = (char *)o + r->field;
    uint8_t **bytes, *copy;
    size_t *len;

    switch (r->kind) {
    case P11KMS_AK_BOOL:
        *(CK_BBOOL *)f = as_bool(a);
        return CKR_OK;
    case P11KMS_AK_ULONG:
        memcpy(f, a->pValue, sizeof(CK_ULONG));
        return CKR_OK;
    case P11KMS_AK_DATE:
        if (a->ulValueLen == 0)
            memset(f, 0, sizeof(CK_DATE));
        else
            memcpy(f, a->pValue, sizeof(CK_DATE));
        return CKR_OK;
    case P11KMS_AK_BYTES:
        bytes = (uint8_t **)f;
        len = (size_t *)((char *)o + r->len_field);
        copy = malloc(a->ulValueLen ? a->ulValueLen : 1);
        if (copy == NULL)
            return CKR_HOST_MEMORY;
        if (a->ulValueLen)
            memcpy(copy, a->pValue, a->ulValueLen);
        /* The same field holds key values: wipe whatever it held. */
        p11kms_secure_free(*bytes, *len);
        *bytes = copy;
        *len = a->ulValueLen;
        return CKR_OK;
    default:
        return CKR_GENERAL_ERROR; /* arrays and computed values are not stored here */
    }
}

const struct p11kms_template_entry *p11kms_template_find(const p11kms_attr_template *t,
                                                         CK_ATTRIBUTE_TYPE type)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (t->a[i].type == type)
            return &t->a[i];
    return NULL;
}

CK_RV p11kms_template_add(p11kms_attr_template *t, const p11kms_attr_rule *r, CK_ULONG value)
{
    const struct p11kms_template_entry *e;

    if (r == NULL || !(r->flags & P11KMS_AF_TEMPLATE) || !(r->on & P11KMS_ON_DATA_KEY))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    if (r->kind == P11KMS_AK_BOOL)
        value = value ? CK_TRUE : CK_FALSE;
    switch (r->type) {
    case CKA_CLASS:
        if (value != CKO_SECRET_KEY)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
    case CKA_KEY_TYPE:
        if (value != CKK_AES && value != CKK_GENERIC_SECRET)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
    case CKA_VALUE_LEN:
        if (value == 0 || value > P11KMS_DATA_KEY_MAX)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
    default:
        break;
    }
    e = p11kms_template_find(t, r->type);
    if (e != NULL)
        return e->value == value ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
    if (t->n >= P11KMS_TEMPLATE_MAX)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    t->a[t->n].type = r->type;
    t->a[t->n].value = value;
    t->n++;
    return CKR_OK;
}

static int entry_true(const p11kms_attr_template *t, CK_ATTRIBUTE_TYPE type)
{
    const struct p11kms_template_entry *e = p11kms_template_find(t, type);

    return e != NULL && e->value;
}

int p11kms_template_separated(const p11kms_attr_template *t)
{
    return !(entry_true(t, CKA_WRAP) && entry_true(t, CKA_DECRYPT)) &&
           !(entry_true(t, CKA_UNWRAP) && entry_true(t, CKA_ENCRYPT));
}

/* At most this many elements in an application's template array: enough for every template
 * attribute given more than once, and a bound on the work. */
#define TEMPLATE_ELEMENTS_MAX (4 * P11KMS_TEMPLATE_MAX)

CK_RV p11kms_template_parse(const CK_ATTRIBUTE *a, int unwrap, p11kms_attr_template *t)
{
    const CK_ATTRIBUTE *e = a->pValue;
    size_t i, n = a->ulValueLen / sizeof(CK_ATTRIBUTE);
    CK_ULONG value;
    CK_RV rv;

    memset(t, 0, sizeof(*t));
    if (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0 || (n != 0 && e == NULL) ||
        n > TEMPLATE_ELEMENTS_MAX)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    for (i = 0; i < n; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_for(e[i].type, P11KMS_OBJ_DATA_KEY);

        if (r == NULL || !(r->flags & P11KMS_AF_TEMPLATE))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        rv = p11kms_attr_check(r, &e[i]);
        if (rv != CKR_OK)
            return rv;
        if (r->kind == P11KMS_AK_BOOL)
            value = as_bool(&e[i]);
        else
            memcpy(&value, e[i].pValue, sizeof(value));
        rv = p11kms_template_add(t, r, value);
        if (rv != CKR_OK)
            return rv;
    }
    if (unwrap && !p11kms_template_separated(t))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    return CKR_OK;
}

int p11kms_template_matches(const p11kms_attr_template *t, const p11kms_object *o)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_for(t->a[i].type, o->kind);
        CK_BBOOL b = t->a[i].value ? CK_TRUE : CK_FALSE;
        CK_ULONG ul = t->a[i].value;
        CK_ATTRIBUTE want = {t->a[i].type, NULL, 0};

        if (r == NULL)
            return 0;
        if (r->kind == P11KMS_AK_BOOL) {
            want.pValue = &b;
            want.ulValueLen = sizeof(b);
        } else {
            want.pValue = &ul;
            want.ulValueLen = sizeof(ul);
        }
        if (!p11kms_attr_equal(o, &want))
            return 0;
    }
    return 1;
}

CK_RV p11kms_template_get(const p11kms_attr_template *t, CK_ATTRIBUTE *a)
{
    size_t need = t->n * sizeof(CK_ATTRIBUTE), i;
    CK_ATTRIBUTE *out = a->pValue;
    int small = 0;

    if (a->pValue == NULL) {
        a->ulValueLen = need;
        return CKR_OK;
    }
    if (a->ulValueLen < need) {
        a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < t->n; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_any(t->a[i].type);
        CK_BBOOL b = t->a[i].value ? CK_TRUE : CK_FALSE;
        size_t len = r->kind == P11KMS_AK_BOOL ? sizeof(CK_BBOOL) : sizeof(CK_ULONG);

        out[i].type = t->a[i].type;
        if (out[i].pValue == NULL) {
            out[i].ulValueLen = len;
        } else if (out[i].ulValueLen < len) {
            out[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            small = 1;
        } else {
            memcpy(out[i].pValue, r->kind == P11KMS_AK_BOOL ? (const void *)&b : &t->a[i].value,
                   len);
            out[i].ulValueLen = len;
        }
    }
    a->ulValueLen = need;
    return small ? CKR_BUFFER_TOO_SMALL : CKR_OK;
}

void p11kms_template_merge(p11kms_attr_template *t, const p11kms_attr_template *defaults)
{
    size_t i;

    for (i = 0; i < defaults->n && t->n < P11KMS_TEMPLATE_MAX; i++)
        if (p11kms_template_find(t, defaults->a[i].type) == NULL)
            t->a[t->n++] = defaults->a[i];
}
