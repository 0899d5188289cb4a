/* attrs.c - the attribute table (attr-rules.c) applied: one path for the templates of creation,
 * copy and set, the wrap/decrypt separation of data keys, wrappability and matching.
 * p11kms_attrs_apply works on objects private to its caller; the rest holds g.lock. */
#include <stdlib.h>
#include <string.h>
#include "attr-rules.h"
#include "attrs.h"
#include "log.h"

const CK_ATTRIBUTE *p11kms_attr_find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
    CK_ULONG i;

    for (i = 0; t != NULL && i < n; i++)
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

/* One template being applied. */
typedef struct apply_state {
    p11kms_object *o;
    int origin;
    unsigned allowed;     /* the P11KMS_AF_* flag of the origin */
    size_t want_len;      /* CKA_VALUE_LEN given */
    unsigned usage_given; /* P11KMS_USED_* the template names */
    /* First entry for each rule (duplicates must agree), and the entries to compare with the
     * finished object (given where their rule does not allow it). */
    const CK_ATTRIBUTE *first[P11KMS_ATTR_RULES_MAX];
    const CK_ATTRIBUTE *deferred[P11KMS_ATTR_RULES_MAX];
    size_t n_deferred;
    /* The unwrapping key's unwrap template, as template entries. */
    CK_ATTRIBUTE forced[P11KMS_TEMPLATE_MAX];
    CK_BBOOL forced_b[P11KMS_TEMPLATE_MAX];
    CK_ULONG forced_ul[P11KMS_TEMPLATE_MAX];
} apply_state;

static int creating(int origin)
{
    return origin == P11KMS_FROM_CREATE || origin == P11KMS_FROM_GENERATE ||
           origin == P11KMS_FROM_UNWRAP;
}

static unsigned origin_flag(int origin)
{
    switch (origin) {
    case P11KMS_FROM_CREATE:
        return P11KMS_AF_CREATE;
    case P11KMS_FROM_GENERATE:
        return P11KMS_AF_GENERATE;
    case P11KMS_FROM_UNWRAP:
        return P11KMS_AF_UNWRAP;
    case P11KMS_FROM_COPY:
        return P11KMS_AF_COPY;
    default:
        return P11KMS_AF_SET;
    }
}

static const char *origin_name(int origin)
{
    static const char *const names[] = {"C_CreateObject", "C_GenerateKey", "C_UnwrapKey",
                                        "C_CopyObject", "C_SetAttributeValue"};

    return origin >= 0 && origin <= P11KMS_FROM_SET ? names[origin] : "template";
}

/* One line saying which attribute was refused and why. */
static CK_RV refuse(const apply_state *st, CK_ATTRIBUTE_TYPE type, CK_RV rv, const char *why)
{
    const p11kms_attr_rule *r = p11kms_attr_rule_any(type);

    if (r != NULL)
        LOG_W("%s: %s %s: %s", origin_name(st->origin), r->name, why, p11kms_rv_name(rv));
    else
        LOG_W("%s: attribute 0x%lx %s: %s", origin_name(st->origin), (unsigned long)type, why,
              p11kms_rv_name(rv));
    return rv;
}

static unsigned usage_bit(CK_ATTRIBUTE_TYPE type)
{
    switch (type) {
    case CKA_ENCRYPT:
        return P11KMS_USED_ENCRYPT;
    case CKA_DECRYPT:
        return P11KMS_USED_DECRYPT;
    case CKA_WRAP:
        return P11KMS_USED_WRAP;
    case CKA_UNWRAP:
        return P11KMS_USED_UNWRAP;
    default:
        return 0;
    }
}

static unsigned usage_of(const p11kms_object *o)
{
    return (o->encrypt ? P11KMS_USED_ENCRYPT : 0) | (o->decrypt ? P11KMS_USED_DECRYPT : 0) |
           (o->wrap ? P11KMS_USED_WRAP : 0) | (o->unwrap ? P11KMS_USED_UNWRAP : 0);
}

/* The attributes with more to them than a field: key type, length, the template arrays. */
static CK_RV store(apply_state *st, const p11kms_attr_rule *r, const CK_ATTRIBUTE *a)
{
    p11kms_object *o = st->o;
    CK_ULONG ul = 0;
    CK_RV rv;

    if (r->kind == P11KMS_AK_ULONG)
        memcpy(&ul, a->pValue, sizeof(ul));
    switch (r->type) {
    case CKA_KEY_TYPE:
        if (ul != CKK_AES && ul != CKK_GENERIC_SECRET)
            return refuse(st, a->type, CKR_TEMPLATE_INCONSISTENT,
                          "is not a key type of this token (AES, generic secret)");
        if (o->key_type != CK_UNAVAILABLE_INFORMATION && o->key_type != ul)
            return refuse(st, a->type, CKR_TEMPLATE_INCONSISTENT,
                          "differs from the mechanism's key type");
        o->key_type = ul;
        return CKR_OK;
    case CKA_VALUE_LEN:
        if (ul == 0 || ul > P11KMS_DATA_KEY_MAX)
            return refuse(st, a->type, CKR_ATTRIBUTE_VALUE_INVALID, "is out of range");
        st->want_len = ul;
        return CKR_OK;
    case CKA_WRAP_TEMPLATE:
    case CKA_UNWRAP_TEMPLATE:
        rv = p11kms_template_parse(a, r->type == CKA_UNWRAP_TEMPLATE,
                                   (p11kms_attr_template *)((char *)o + r->field));
        return rv == CKR_OK ? rv
                            : refuse(st, a->type, rv,
                                     "must be an array of template attributes (booleans, class, "
                                     "key type, value length; no wrap with decrypt)");
    default:
        return p11kms_attr_store(o, r, a);
    }
}

static CK_RV apply_one(apply_state *st, const CK_ATTRIBUTE *a)
{
    p11kms_object *o = st->o;
    const p11kms_attr_rule *r = p11kms_attr_rule_for(a->type, o->kind);
    CK_BBOOL was, now;
    size_t idx;

    if (r == NULL)
        return p11kms_attr_rule_any(a->type) == NULL
                   ? refuse(st, a->type, CKR_ATTRIBUTE_TYPE_INVALID, "is unknown")
                   : refuse(st, a->type, CKR_TEMPLATE_INCONSISTENT,
                            o->kind == P11KMS_OBJ_DATA ? "is not an attribute of a data object"
                                                       : "is not an attribute of a secret key");
    if (p11kms_attr_check(r, a) != CKR_OK)
        return refuse(st, a->type, CKR_ATTRIBUTE_VALUE_INVALID, "has a malformed value");
    idx = p11kms_attr_rule_index(r);
    if (st->first[idx] != NULL)
        return p11kms_attr_same(r, st->first[idx], a)
                   ? CKR_OK
                   : refuse(st, a->type, CKR_TEMPLATE_INCONSISTENT, "is given twice, differently");
    st->first[idx] = a;
    if (!(r->flags & st->allowed)) {
        /* Secret values are never compared with what the template says: no oracle. */
        if (r->flags & P11KMS_AF_SECRET)
            return refuse(st, a->type,
                          creating(st->origin) ? CKR_TEMPLATE_INCONSISTENT
                                               : CKR_ATTRIBUTE_READ_ONLY,
                          "cannot be given here");
        st->deferred[st->n_deferred++] = a;
        return CKR_OK;
    }
    st->usage_given |= usage_bit(a->type);
    if (!creating(st->origin) && r->kind == P11KMS_AK_BOOL) {
        was = *p11kms_attr_bool(o, r);
        now = *(const CK_BBOOL *)a->pValue ? CK_TRUE : CK_FALSE;
        if ((r->flags & P11KMS_AF_TO_TRUE) && was && !now)
            return refuse(st, a->type, CKR_ATTRIBUTE_READ_ONLY, "can never be turned off again");
        if ((r->flags & P11KMS_AF_TO_FALSE) && !was && now)
            return refuse(st, a->type, CKR_ATTRIBUTE_READ_ONLY, "can never be turned on again");
    }
    return store(st, r, a);
}

/* The unwrapping key's unwrap template: applied as if the application had given it, and an
 * application value that contradicts it refused. */
static CK_RV apply_forced(apply_state *st, const p11kms_attr_template *f)
{
    size_t i;
    CK_RV rv;

    for (i = 0; i < f->n && i < P11KMS_TEMPLATE_MAX; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_for(f->a[i].type, st->o->kind);
        CK_ATTRIBUTE *a = &st->forced[i];
        const CK_ATTRIBUTE *given;

        if (r == NULL)
            return refuse(st, f->a[i].type, CKR_TEMPLATE_INCONSISTENT,
                          "of the unwrap template does not apply");
        a->type = f->a[i].type;
        if (r->kind == P11KMS_AK_BOOL) {
            st->forced_b[i] = f->a[i].value ? CK_TRUE : CK_FALSE;
            a->pValue = &st->forced_b[i];
            a->ulValueLen = sizeof(CK_BBOOL);
        } else {
            st->forced_ul[i] = f->a[i].value;
            a->pValue = &st->forced_ul[i];
            a->ulValueLen = sizeof(CK_ULONG);
        }
        given = st->first[p11kms_attr_rule_index(r)];
        if (given != NULL) {
            if (!p11kms_attr_same(r, given, a))
                return refuse(st, a->type, CKR_TEMPLATE_INCONSISTENT,
                              "contradicts the unwrapping key's CKA_UNWRAP_TEMPLATE");
            continue;
        }
        rv = apply_one(st, a);
        if (rv != CKR_OK)
            return rv;
    }
    return CKR_OK;
}

/* What the module contributes once the template is in. */
static void module_values(apply_state *st)
{
    p11kms_object *o = st->o;
    int generated = st->origin == P11KMS_FROM_GENERATE;

    if (o->kind != P11KMS_OBJ_DATA_KEY)
        return;
    if (creating(st->origin)) {
        /* A key asked to wrap or unwrap is a key-encryption key only, unless the template
         * says otherwise (pkcs11-tool --keygen --usage-wrap). */
        if (((st->usage_given & P11KMS_USED_WRAP) && o->wrap) ||
            ((st->usage_given & P11KMS_USED_UNWRAP) && o->unwrap)) {
            if (!(st->usage_given & P11KMS_USED_ENCRYPT))
                o->encrypt = CK_FALSE;
            if (!(st->usage_given & P11KMS_USED_DECRYPT))
                o->decrypt = CK_FALSE;
        }
        /* A created or unwrapped key existed in the clear before it reached the module. */
        o->always_sensitive = generated && o->sensitive;
        o->never_extractable = generated && !o->extractable;
        o->trusted = CK_FALSE;
        o->usage_history = usage_of(o);
    } else {
        /* Sensitive only turns on and extractable only off, so these stay truthful. */
        o->always_sensitive = o->always_sensitive && o->sensitive;
        o->never_extractable = o->never_extractable && !o->extractable;
        o->usage_history |= usage_of(o);
    }
}

/* A new key has what it needs: a type, and a value or a valid length. */
static CK_RV complete(apply_state *st)
{
    p11kms_object *o = st->o;

    if (o->kind != P11KMS_OBJ_DATA_KEY || !creating(st->origin))
        return CKR_OK;
    if (o->key_type == CK_UNAVAILABLE_INFORMATION)
        return refuse(st, CKA_KEY_TYPE, CKR_TEMPLATE_INCOMPLETE, "is missing");
    switch (st->origin) {
    case P11KMS_FROM_CREATE:
        if (o->value == NULL)
            return refuse(st, CKA_VALUE, CKR_TEMPLATE_INCOMPLETE, "is missing");
        if (!p11kms_key_len_ok(o->key_type, o->value_len))
            return refuse(st, CKA_VALUE, CKR_ATTRIBUTE_VALUE_INVALID,
                          "has a length the key type does not allow");
        return CKR_OK;
    case P11KMS_FROM_GENERATE:
        if (st->want_len == 0)
            return refuse(st, CKA_VALUE_LEN, CKR_TEMPLATE_INCOMPLETE, "is missing");
        /* fall through */
    default:
        if (st->want_len != 0 && !p11kms_key_len_ok(o->key_type, st->want_len))
            return refuse(st, CKA_VALUE_LEN, CKR_ATTRIBUTE_VALUE_INVALID,
                          "is not a length of this key type");
        return CKR_OK;
    }
}

CK_RV p11kms_attrs_apply(p11kms_object *o, int origin, const CK_ATTRIBUTE *t, CK_ULONG n,
                         const p11kms_attr_template *forced, size_t *value_len)
{
    apply_state state, *st = &state;
    const p11kms_attr_rule *r;
    CK_RV rv = CKR_OK;
    CK_ULONG i;

    if (n && t == NULL)
        return CKR_ARGUMENTS_BAD;
    memset(st, 0, sizeof(*st));
    st->o = o;
    st->origin = origin;
    st->allowed = origin_flag(origin);
    for (i = 0; i < n && rv == CKR_OK; i++)
        rv = apply_one(st, &t[i]);
    if (rv == CKR_OK && forced != NULL && origin == P11KMS_FROM_UNWRAP)
        rv = apply_forced(st, forced);
    if (rv != CKR_OK)
        goto out;
    module_values(st);
    for (i = 0; i < st->n_deferred; i++) {
        if (p11kms_attr_equal(o, st->deferred[i]))
            continue;
        r = p11kms_attr_rule_for(st->deferred[i]->type, o->kind);
        rv = (r->flags & P11KMS_AF_RO) || !creating(origin) ? CKR_ATTRIBUTE_READ_ONLY
                                                            : CKR_TEMPLATE_INCONSISTENT;
        rv = refuse(st, r->type, rv,
                    r->flags & P11KMS_AF_RO ? "is set by the module only"
                                            : "cannot be given or changed here");
        goto out;
    }
    rv = complete(st);
    if (rv != CKR_OK)
        goto out;
    /*
     * The separation: a key whose value the module holds never both wraps and decrypts, nor
     * unwraps and encrypts, over its whole life and its copies. Otherwise C_WrapKey then
     * C_Decrypt with it gives out any extractable key, and C_Encrypt of chosen bytes then
     * C_UnwrapKey plants a key whose value the caller chose.
     */
    if (o->kind == P11KMS_OBJ_DATA_KEY &&
        (((o->usage_history & P11KMS_USED_WRAP) && (o->usage_history & P11KMS_USED_DECRYPT)) ||
         ((o->usage_history & P11KMS_USED_UNWRAP) && (o->usage_history & P11KMS_USED_ENCRYPT)))) {
        rv = refuse(st, creating(origin) ? CKA_WRAP : CKA_DECRYPT, CKR_TEMPLATE_INCONSISTENT,
                    creating(origin) ? "and CKA_DECRYPT (or CKA_UNWRAP and CKA_ENCRYPT) on one "
                                       "data key are refused: wrapping keys only wrap"
                                     : "would join wrap and decrypt (or unwrap and encrypt) in "
                                       "one data key over its life: refused");
        goto out;
    }
    if (value_len != NULL)
        *value_len = st->want_len;
out:
    return rv;
}

CK_RV p11kms_attrs_wrappable_locked(const p11kms_object *wrapping, const p11kms_object *key)
{
    if (key->kind == P11KMS_OBJ_DATA || key->kind == P11KMS_OBJ_CERTIFICATE)
        return CKR_KEY_HANDLE_INVALID;
    if (key->kind != P11KMS_OBJ_DATA_KEY || !key->extractable)
        return CKR_KEY_UNEXTRACTABLE;
    if (key->wrap_with_trusted && !wrapping->trusted) {
        LOG_W("C_WrapKey: the key has CKA_WRAP_WITH_TRUSTED and the wrapping key is not "
              "trusted");
        return CKR_KEY_NOT_WRAPPABLE;
    }
    if (!p11kms_template_matches(&wrapping->wrap_tmpl, key)) {
        LOG_W("C_WrapKey: the key does not match the wrapping key's CKA_WRAP_TEMPLATE");
        return CKR_KEY_NOT_WRAPPABLE;
    }
    return CKR_OK;
}

int p11kms_object_matches_locked(const p11kms_object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_ULONG i;

    /* Store: what another process changed is found before this one verified it. */
    o = p11kms_object_match_view_locked(o);
    for (i = 0; i < n; i++)
        if (!p11kms_attr_equal(o, &t[i]))
            return 0;
    return 1;
}
