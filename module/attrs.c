/* attrs.c - what each attribute of a key object reads as, which may be set and when, and the
 * error precedence of C_GetAttributeValue. Callers hold g.lock while objects are read. */
#include <stdlib.h>
#include <string.h>
#include "attrs.h"
#include "init.h"
#include "log.h"
#include "session.h"
#include "slot.h"

const CK_ATTRIBUTE *p11kms_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    CK_ULONG i;

    for (i = 0; i < n; i++)
        if (t[i].type == type)
            return &t[i];
    return NULL;
}

int p11kms_key_len_ok(CK_KEY_TYPE type, size_t len)
{
    if (type == CKK_AES)
        return len == 16 || len == 24 || len == 32;
    if (type == CKK_GENERIC_SECRET)
        return len >= 1 && len <= P11KMS_DATA_KEY_MAX;
    return 0;
}

/* Why an attribute cannot be read: these outcomes feed the precedence in get_attribute_value. */
enum { VAL_OK, VAL_SENSITIVE, VAL_INVALID };

typedef struct attr_val {
    const void *p;
    size_t len;
    union {
        CK_BBOOL b;
        CK_ULONG ul;
        CK_MECHANISM_TYPE mechs[4];
    } u;
} attr_val;

static int set_bool(attr_val *v, CK_BBOOL b)
{
    v->u.b = b;
    v->p = &v->u.b;
    v->len = sizeof(CK_BBOOL);
    return VAL_OK;
}

static int set_ulong(attr_val *v, CK_ULONG ul)
{
    v->u.ul = ul;
    v->p = &v->u.ul;
    v->len = sizeof(CK_ULONG);
    return VAL_OK;
}

static int set_bytes(attr_val *v, const void *p, size_t len)
{
    v->p = p;
    v->len = len;
    return VAL_OK;
}

static int attr_value(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, attr_val *v)
{
    int kms = o->kind == P11KMS_OBJ_KMS_KEY;

    switch (type) {
    case CKA_CLASS:
        return set_ulong(v, o->cls);
    case CKA_KEY_TYPE:
        return set_ulong(v, o->key_type);
    case CKA_TOKEN:
        return set_bool(v, o->is_token);
    case CKA_PRIVATE:
        return set_bool(v, o->is_private);
    case CKA_MODIFIABLE:
        return set_bool(v, o->modifiable);
    case CKA_COPYABLE:
        return set_bool(v, o->copyable);
    case CKA_DESTROYABLE:
        return set_bool(v, o->destroyable);
    case CKA_LABEL:
        return set_bytes(v, o->label, o->label_len);
    case CKA_ID:
        return set_bytes(v, o->id, o->id_len);
    case CKA_START_DATE:
        return set_bytes(v, &o->start_date, o->start_date.year[0] ? sizeof(CK_DATE) : 0);
    case CKA_END_DATE:
        return set_bytes(v, &o->end_date, o->end_date.year[0] ? sizeof(CK_DATE) : 0);
    case CKA_LOCAL:
        return set_bool(v, o->local);
    case CKA_KEY_GEN_MECHANISM:
        return set_ulong(v, o->key_gen_mechanism);
    case CKA_SENSITIVE:
        return set_bool(v, o->sensitive);
    case CKA_ALWAYS_SENSITIVE:
        return set_bool(v, o->always_sensitive);
    case CKA_EXTRACTABLE:
        return set_bool(v, o->extractable);
    case CKA_NEVER_EXTRACTABLE:
        return set_bool(v, o->never_extractable);
    case CKA_ENCRYPT:
        return set_bool(v, o->encrypt);
    case CKA_DECRYPT:
        return set_bool(v, o->decrypt);
    case CKA_WRAP:
        return set_bool(v, o->wrap);
    case CKA_UNWRAP:
        return set_bool(v, o->unwrap);
    case CKA_SIGN:
        return set_bool(v, o->sign);
    case CKA_VERIFY:
        return set_bool(v, o->verify);
    case CKA_DERIVE:
        return set_bool(v, o->derive);
    case CKA_WRAP_WITH_TRUSTED:
        return set_bool(v, o->wrap_with_trusted);
    case CKA_TRUSTED:
        return set_bool(v, o->trusted);
    case CKA_VALUE_LEN:
        return set_ulong(v, kms ? 32 : o->value_len);
    case CKA_VALUE:
        if (kms || o->sensitive || !o->extractable)
            return VAL_SENSITIVE;
        return set_bytes(v, o->value, o->value_len);
    case CKA_ALLOWED_MECHANISMS:
        if (!kms)
            return VAL_INVALID;
        v->u.mechs[0] = CKM_P11KMS_ENVELOPE;
        v->u.mechs[1] = CKM_P11KMS_ENVELOPE_ENCODED;
        v->u.mechs[2] = CKM_AES_KEY_WRAP_PAD;
        v->u.mechs[3] = CKM_AES_KEY_WRAP_KWP;
        return set_bytes(v, v->u.mechs, sizeof(v->u.mechs));
    case CKA_P11KMS_BACKEND:
        if (!kms)
            return VAL_INVALID;
        return set_bytes(v, o->kcfg->backend, strlen(o->kcfg->backend));
    case CKA_P11KMS_KEY_ID:
        if (!kms)
            return VAL_INVALID;
        return set_bytes(v, o->kcfg->key_id, strlen(o->kcfg->key_id));
    case CKA_P11KMS_KEY_VERSION:
        if (!kms)
            return VAL_INVALID;
        return set_ulong(v, o->backend->ops->current_version(o->backend));
    case CKA_P11KMS_DEFAULT_CONTEXT:
        if (!kms)
            return VAL_INVALID;
        return set_bytes(v, o->default_context, o->default_context_len);
    default:
        return VAL_INVALID;
    }
}

CK_RV p11kms_get_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;
    int sensitive = 0, invalid = 0, small = 0;
    CK_ULONG i;

    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv != CKR_OK)
        goto out;
    /* Every attribute is processed; the result reports the most serious problem, in the order
     * the specification gives: sensitive, then invalid type, then buffer too small. */
    for (i = 0; i < n; i++) {
        attr_val v;
        int r = attr_value(o, t[i].type, &v);

        if (r == VAL_SENSITIVE) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            sensitive = 1;
        } else if (r == VAL_INVALID) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            invalid = 1;
        } else if (t[i].pValue == NULL) {
            t[i].ulValueLen = v.len;
        } else if (t[i].ulValueLen < v.len) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            small = 1;
        } else {
            if (v.len)
                memcpy(t[i].pValue, v.p, v.len);
            t[i].ulValueLen = v.len;
        }
    }
    rv = sensitive ? CKR_ATTRIBUTE_SENSITIVE
                   : invalid ? CKR_ATTRIBUTE_TYPE_INVALID : small ? CKR_BUFFER_TOO_SMALL : CKR_OK;
out:
    if (o != NULL)
        p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}

int p11kms_object_matches_locked(const p11kms_object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_ULONG i;

    for (i = 0; i < n; i++) {
        attr_val v;
        if (attr_value(o, t[i].type, &v) != VAL_OK || v.len != t[i].ulValueLen)
            return 0;
        if (v.len && (t[i].pValue == NULL || memcmp(v.p, t[i].pValue, v.len) != 0))
            return 0;
    }
    return 1;
}

static CK_RV get_bool(const CK_ATTRIBUTE *a, CK_BBOOL *out)
{
    if (a->pValue == NULL || a->ulValueLen != sizeof(CK_BBOOL))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    *out = *(const CK_BBOOL *)a->pValue ? CK_TRUE : CK_FALSE;
    return CKR_OK;
}

static CK_RV get_ulong(const CK_ATTRIBUTE *a, CK_ULONG *out)
{
    if (a->pValue == NULL || a->ulValueLen != sizeof(CK_ULONG))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(out, a->pValue, sizeof(CK_ULONG));
    return CKR_OK;
}

static CK_RV set_blob(uint8_t **dst, size_t *dst_len, const CK_ATTRIBUTE *a, size_t max)
{
    uint8_t *p;

    if (a->ulValueLen > max || (a->ulValueLen && a->pValue == NULL))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    p = malloc(a->ulValueLen ? a->ulValueLen : 1);
    if (p == NULL)
        return CKR_HOST_MEMORY;
    if (a->ulValueLen)
        memcpy(p, a->pValue, a->ulValueLen);
    free(*dst);
    *dst = p;
    *dst_len = a->ulValueLen;
    return CKR_OK;
}

static CK_RV set_date(CK_DATE *d, const CK_ATTRIBUTE *a)
{
    if (a->ulValueLen == 0) {
        memset(d, 0, sizeof(*d));
        return CKR_OK;
    }
    if (a->pValue == NULL || a->ulValueLen != sizeof(CK_DATE))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(d, a->pValue, sizeof(CK_DATE));
    return CKR_OK;
}

/* The boolean attribute a template may set, or NULL. */
static CK_BBOOL *bool_field(p11kms_object *o, CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_TOKEN:
        return &o->is_token;
    case CKA_PRIVATE:
        return &o->is_private;
    case CKA_MODIFIABLE:
        return &o->modifiable;
    case CKA_COPYABLE:
        return &o->copyable;
    case CKA_DESTROYABLE:
        return &o->destroyable;
    case CKA_SENSITIVE:
        return &o->sensitive;
    case CKA_EXTRACTABLE:
        return &o->extractable;
    case CKA_ENCRYPT:
        return &o->encrypt;
    case CKA_DECRYPT:
        return &o->decrypt;
    case CKA_WRAP:
        return &o->wrap;
    case CKA_UNWRAP:
        return &o->unwrap;
    case CKA_SIGN:
        return &o->sign;
    case CKA_VERIFY:
        return &o->verify;
    case CKA_DERIVE:
        return &o->derive;
    case CKA_WRAP_WITH_TRUSTED:
        return &o->wrap_with_trusted;
    default:
        return NULL;
    }
}

/* Attributes only the module sets. */
static int read_only(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_LOCAL:
    case CKA_ALWAYS_SENSITIVE:
    case CKA_NEVER_EXTRACTABLE:
    case CKA_KEY_GEN_MECHANISM:
    case CKA_TRUSTED:
    case CKA_P11KMS_BACKEND:
    case CKA_P11KMS_KEY_ID:
    case CKA_P11KMS_KEY_VERSION:
    case CKA_P11KMS_DEFAULT_CONTEXT:
        return 1;
    default:
        return 0;
    }
}

/* Apply one attribute to o; returns an error for attributes this origin does not take. */
static CK_RV apply_one(p11kms_object *o, int origin, const CK_ATTRIBUTE *a, size_t *value_len)
{
    CK_BBOOL *b = bool_field(o, a->type), prev;
    CK_ULONG ul;
    CK_RV rv;

    if (b != NULL) {
        prev = *b;
        rv = get_bool(a, b);
        if (rv != CKR_OK)
            return rv;
        /* A copy may only make a key more protected. */
        if (origin == P11KMS_FROM_COPY &&
            ((a->type == CKA_SENSITIVE && prev && !*b) ||
             (a->type == CKA_EXTRACTABLE && !prev && *b) ||
             (a->type == CKA_COPYABLE && !prev && *b)))
            return CKR_ATTRIBUTE_READ_ONLY;
        return CKR_OK;
    }
    switch (a->type) {
    case CKA_CLASS:
        rv = get_ulong(a, &ul);
        return rv != CKR_OK ? rv : ul == CKO_SECRET_KEY ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
    case CKA_KEY_TYPE:
        rv = get_ulong(a, &ul);
        if (rv != CKR_OK)
            return rv;
        if (origin == P11KMS_FROM_COPY)
            return ul == o->key_type ? CKR_OK : CKR_TEMPLATE_INCONSISTENT;
        if (ul != CKK_AES && ul != CKK_GENERIC_SECRET)
            return CKR_TEMPLATE_INCONSISTENT;
        if (o->key_type != CK_UNAVAILABLE_INFORMATION && o->key_type != ul)
            return CKR_TEMPLATE_INCONSISTENT;
        o->key_type = ul;
        return CKR_OK;
    case CKA_LABEL:
        return set_blob(&o->label, &o->label_len, a, 4096);
    case CKA_ID:
        return set_blob(&o->id, &o->id_len, a, 4096);
    case CKA_START_DATE:
        return set_date(&o->start_date, a);
    case CKA_END_DATE:
        return set_date(&o->end_date, a);
    case CKA_VALUE:
        if (origin != P11KMS_FROM_CREATE)
            return CKR_TEMPLATE_INCONSISTENT;
        if (a->pValue == NULL || a->ulValueLen == 0 || a->ulValueLen > P11KMS_DATA_KEY_MAX)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        p11kms_secure_free(o->value, o->value_len);
        o->value = malloc(a->ulValueLen);
        if (o->value == NULL)
            return CKR_HOST_MEMORY;
        memcpy(o->value, a->pValue, a->ulValueLen);
        o->value_len = a->ulValueLen;
        return CKR_OK;
    case CKA_VALUE_LEN:
        rv = get_ulong(a, &ul);
        if (rv != CKR_OK)
            return rv;
        if (origin == P11KMS_FROM_COPY)
            return ul == o->value_len ? CKR_OK : CKR_ATTRIBUTE_READ_ONLY;
        if (ul == 0 || ul > P11KMS_DATA_KEY_MAX)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        *value_len = ul;
        return CKR_OK;
    default:
        return read_only(a->type) ? CKR_ATTRIBUTE_READ_ONLY : CKR_ATTRIBUTE_TYPE_INVALID;
    }
}

CK_RV p11kms_attrs_apply_template(p11kms_session *s, p11kms_object *o, int origin,
                                  CK_KEY_TYPE key_type_hint, const CK_ATTRIBUTE *t, CK_ULONG n,
                                  size_t *value_len)
{
    CK_RV rv = CKR_OK;
    size_t want_len = 0;
    CK_ULONG i;

    if (n && t == NULL)
        return CKR_ARGUMENTS_BAD;
    if (origin != P11KMS_FROM_COPY && key_type_hint != CK_UNAVAILABLE_INFORMATION)
        o->key_type = key_type_hint;
    for (i = 0; i < n && rv == CKR_OK; i++)
        rv = apply_one(o, origin, &t[i], &want_len);
    if (rv != CKR_OK) {
        LOG_D("template attribute 0x%lx refused: %s", (unsigned long)t[i - 1].type,
              p11kms_rv_name(rv));
        return rv;
    }
    if (o->key_type == CK_UNAVAILABLE_INFORMATION)
        return CKR_TEMPLATE_INCOMPLETE;
    switch (origin) {
    case P11KMS_FROM_CREATE:
        if (o->value == NULL)
            return CKR_TEMPLATE_INCOMPLETE;
        if (want_len && want_len != o->value_len)
            return CKR_TEMPLATE_INCONSISTENT;
        if (!p11kms_key_len_ok(o->key_type, o->value_len))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
    case P11KMS_FROM_GENERATE:
        if (want_len == 0)
            return CKR_TEMPLATE_INCOMPLETE;
        if (!p11kms_key_len_ok(o->key_type, want_len))
            return CKR_ATTRIBUTE_VALUE_INVALID;
        break;
    case P11KMS_FROM_UNWRAP:
        break;
    default:
        break;
    }
    if (value_len != NULL)
        *value_len = want_len;
    /* Session rights: token objects need a read/write session, private ones a login. */
    p11kms_lock();
    if (o->is_token && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    else if (o->is_private && s->token->has_pin && !p11kms_session_logged_in_locked(s))
        rv = CKR_USER_NOT_LOGGED_IN;
    p11kms_unlock();
    if (rv != CKR_OK)
        return rv;
    if (origin != P11KMS_FROM_COPY) {
        o->always_sensitive = o->sensitive;
        o->never_extractable = !o->extractable;
    } else {
        o->always_sensitive = o->always_sensitive && o->sensitive;
        o->never_extractable = o->never_extractable && !o->extractable;
    }
    if (origin == P11KMS_FROM_UNWRAP || origin == P11KMS_FROM_CREATE) {
        /* The key existed in the clear before it reached the module. */
        o->always_sensitive = CK_FALSE;
        o->never_extractable = CK_FALSE;
    }
    return CKR_OK;
}

CK_RV p11kms_set_attribute_value(p11kms_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *o = NULL;
    p11kms_object staged;
    uint8_t *label = NULL, *id = NULL;
    size_t label_len = 0, id_len = 0;
    CK_ULONG i;

    p11kms_lock();
    rv = p11kms_object_get_locked(s, h, &o);
    if (rv != CKR_OK)
        goto out;
    if (!o->modifiable || o->kind == P11KMS_OBJ_KMS_KEY) {
        rv = CKR_ACTION_PROHIBITED;
        goto out;
    }
    if (o->is_token && !(s->flags & CKF_RW_SESSION)) {
        rv = CKR_SESSION_READ_ONLY;
        goto out;
    }
    /* Validate everything on a staged copy, then commit at once: all or nothing. */
    staged = *o;
    for (i = 0; i < n; i++) {
        CK_BBOOL *b = bool_field(&staged, t[i].type), v;
        switch (t[i].type) {
        case CKA_LABEL:
            rv = set_blob(&label, &label_len, &t[i], 4096);
            break;
        case CKA_ID:
            rv = set_blob(&id, &id_len, &t[i], 4096);
            break;
        case CKA_START_DATE:
            rv = set_date(&staged.start_date, &t[i]);
            break;
        case CKA_END_DATE:
            rv = set_date(&staged.end_date, &t[i]);
            break;
        case CKA_ENCRYPT:
        case CKA_DECRYPT:
        case CKA_WRAP:
        case CKA_UNWRAP:
        case CKA_SIGN:
        case CKA_VERIFY:
        case CKA_DERIVE:
            rv = get_bool(&t[i], b);
            break;
        case CKA_SENSITIVE:
        case CKA_WRAP_WITH_TRUSTED:
            /* may only be turned on */
            rv = get_bool(&t[i], &v);
            if (rv == CKR_OK && !v && *b)
                rv = CKR_ATTRIBUTE_READ_ONLY;
            if (rv == CKR_OK)
                *b = v;
            break;
        case CKA_EXTRACTABLE:
            /* may only be turned off */
            rv = get_bool(&t[i], &v);
            if (rv == CKR_OK && v && !*b)
                rv = CKR_ATTRIBUTE_READ_ONLY;
            if (rv == CKR_OK)
                *b = v;
            break;
        case CKA_CLASS:
        case CKA_KEY_TYPE:
        case CKA_TOKEN:
        case CKA_PRIVATE:
        case CKA_MODIFIABLE:
        case CKA_VALUE:
        case CKA_VALUE_LEN:
            rv = CKR_ATTRIBUTE_READ_ONLY;
            break;
        case CKA_COPYABLE:
            /* may only be turned off */
            rv = get_bool(&t[i], &v);
            if (rv == CKR_OK && v && !staged.copyable)
                rv = CKR_ATTRIBUTE_READ_ONLY;
            if (rv == CKR_OK)
                staged.copyable = v;
            break;
        case CKA_DESTROYABLE:
            rv = get_bool(&t[i], &staged.destroyable);
            break;
        default:
            rv = read_only(t[i].type) ? CKR_ATTRIBUTE_READ_ONLY : CKR_ATTRIBUTE_TYPE_INVALID;
            break;
        }
        if (rv != CKR_OK)
            goto out;
    }
    if (label != NULL) {
        free(staged.label);
        staged.label = label;
        staged.label_len = label_len;
        label = NULL;
    }
    if (id != NULL) {
        free(staged.id);
        staged.id = id;
        staged.id_len = id_len;
        id = NULL;
    }
    /* Only what a template may change is copied back: refs belong to other threads too. */
    o->label = staged.label;
    o->label_len = staged.label_len;
    o->id = staged.id;
    o->id_len = staged.id_len;
    o->start_date = staged.start_date;
    o->end_date = staged.end_date;
    o->encrypt = staged.encrypt;
    o->decrypt = staged.decrypt;
    o->wrap = staged.wrap;
    o->unwrap = staged.unwrap;
    o->sign = staged.sign;
    o->verify = staged.verify;
    o->derive = staged.derive;
    o->sensitive = staged.sensitive;
    o->extractable = staged.extractable;
    o->wrap_with_trusted = staged.wrap_with_trusted;
    o->copyable = staged.copyable;
    o->destroyable = staged.destroyable;
    rv = CKR_OK;
out:
    free(label);
    free(id);
    if (o != NULL)
        p11kms_object_put(o);
    p11kms_unlock();
    return rv;
}
