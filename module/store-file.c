/* store-file.c - a stored object's file: fixed header, the attribute encoding (the persistent
 * rows of the attribute table, in table order), the sealed file key and the GCM part. Strict and
 * bounded: one encoding per object, so whatever parses encodes back to the same bytes. No shared
 * state, no I/O. */
#include <stdlib.h>
#include <string.h>
#include "attr-rules.h"
#include "attrs.h"
#include "config.h"
#include "store-file.h"

/* Header offsets (docs/store.md). */
#define OFF_VERSION 8
#define OFF_KIND 9
#define OFF_FLAGS 10
#define OFF_ID P11KMS_STORE_ID_OFFSET
#define OFF_GENERATION 28
#define OFF_VALUE_LEN 36
#define OFF_USAGE 40
#define OFF_ATTRS_LEN 44
#define ENTRY_HEAD 8      /* u32 type, u32 length */
#define TEMPLATE_ENTRY 12 /* u32 type, u64 value */
#define USAGE_ALL                                                                                  \
    (P11KMS_USED_ENCRYPT | P11KMS_USED_DECRYPT | P11KMS_USED_WRAP | P11KMS_USED_UNWRAP)

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

int p11kms_store_kind_object(uint8_t kind)
{
    switch (kind) {
    case P11KMS_STORE_KIND_SECRET_KEY:
        return P11KMS_OBJ_DATA_KEY;
    case P11KMS_STORE_KIND_DATA:
        return P11KMS_OBJ_DATA;
    default:
        return 0;
    }
}

static uint8_t file_kind(int object_kind)
{
    return object_kind == P11KMS_OBJ_DATA ? P11KMS_STORE_KIND_DATA : P11KMS_STORE_KIND_SECRET_KEY;
}

static int persists(const p11kms_attr_rule *r, int kind)
{
    return (r->flags & P11KMS_AF_PERSIST) && (r->on & (1u << kind));
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* Bytes of one attribute's value in the encoding. */
static size_t value_size(const p11kms_object *o, const p11kms_attr_rule *r)
{
    const char *f = (const char *)o + r->field;

    switch (r->kind) {
    case P11KMS_AK_BOOL:
        return 1;
    case P11KMS_AK_ULONG:
        return 8;
    case P11KMS_AK_DATE:
        return ((const CK_DATE *)f)->year[0] ? sizeof(CK_DATE) : 0;
    case P11KMS_AK_ARRAY:
        return ((const p11kms_attr_template *)f)->n * TEMPLATE_ENTRY;
    default:
        return *(const size_t *)((const char *)o + r->len_field);
    }
}

static uint8_t *put_value(uint8_t *p, const p11kms_object *o, const p11kms_attr_rule *r, size_t n)
{
    const char *f = (const char *)o + r->field;
    const p11kms_attr_template *t;
    size_t i;

    switch (r->kind) {
    case P11KMS_AK_BOOL:
        *p = *(const CK_BBOOL *)f ? 1 : 0;
        return p + 1;
    case P11KMS_AK_ULONG:
        put_u64(p, *(const CK_ULONG *)f);
        return p + 8;
    case P11KMS_AK_ARRAY:
        t = (const p11kms_attr_template *)f;
        for (i = 0; i < t->n; i++) {
            put_u32(p, (uint32_t)t->a[i].type);
            put_u64(p + 4, t->a[i].value);
            p += TEMPLATE_ENTRY;
        }
        return p;
    case P11KMS_AK_DATE:
        if (n > 0)
            memcpy(p, f, n);
        return p + n;
    default:
        if (n > 0)
            memcpy(p, *(uint8_t *const *)f, n);
        return p + n;
    }
}

CK_RV p11kms_store_prefix_encode(const p11kms_object *o, const uint8_t id[P11KMS_STORE_ID_LEN],
                                 uint64_t generation, p11kms_buf *out)
{
    size_t i, attrs_len = 0, n;
    uint8_t *p;

    out->data = NULL;
    out->len = 0;
    if (o->kind != P11KMS_OBJ_DATA_KEY && o->kind != P11KMS_OBJ_DATA)
        return CKR_GENERAL_ERROR;
    for (i = 0; i < p11kms_attr_rule_count(); i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_at(i);
        if (persists(r, o->kind))
            attrs_len += ENTRY_HEAD + value_size(o, r);
    }
    if (attrs_len > P11KMS_STORE_ATTRS_MAX || o->value_len > P11KMS_STORE_VALUE_MAX)
        return CKR_GENERAL_ERROR;
    out->data = malloc(P11KMS_STORE_HEADER_LEN + attrs_len);
    if (out->data == NULL)
        return CKR_HOST_MEMORY;
    p = out->data;
    memcpy(p, P11KMS_STORE_MAGIC, P11KMS_STORE_MAGIC_LEN);
    p[OFF_VERSION] = P11KMS_STORE_VERSION;
    p[OFF_KIND] = file_kind(o->kind);
    p[OFF_FLAGS] = p[OFF_FLAGS + 1] = 0;
    memcpy(p + OFF_ID, id, P11KMS_STORE_ID_LEN);
    put_u64(p + OFF_GENERATION, generation);
    put_u32(p + OFF_VALUE_LEN, (uint32_t)o->value_len);
    put_u32(p + OFF_USAGE, o->kind == P11KMS_OBJ_DATA_KEY ? o->usage_history : 0);
    put_u32(p + OFF_ATTRS_LEN, (uint32_t)attrs_len);
    p += P11KMS_STORE_HEADER_LEN;
    for (i = 0; i < p11kms_attr_rule_count(); i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_at(i);
        if (!persists(r, o->kind))
            continue;
        n = value_size(o, r);
        put_u32(p, (uint32_t)r->type);
        put_u32(p + 4, (uint32_t)n);
        p = put_value(p + ENTRY_HEAD, o, r, n);
    }
    out->len = P11KMS_STORE_HEADER_LEN + attrs_len;
    return CKR_OK;
}

CK_RV p11kms_store_file_assemble(const uint8_t *prefix, size_t prefix_len, const uint8_t *env,
                                 size_t env_len, const uint8_t iv[P11KMS_STORE_IV_LEN],
                                 const uint8_t *ct, size_t ct_len,
                                 const uint8_t tag[P11KMS_STORE_TAG_LEN], p11kms_buf *out)
{
    size_t len = prefix_len + 4 + env_len + P11KMS_STORE_IV_LEN + ct_len + P11KMS_STORE_TAG_LEN;
    uint8_t *p;

    out->data = NULL;
    out->len = 0;
    if (prefix_len < P11KMS_STORE_HEADER_LEN || env_len == 0 ||
        env_len > P11KMS_STORE_ENVELOPE_MAX || ct_len != get_u32(prefix + OFF_VALUE_LEN) ||
        len > P11KMS_STORE_FILE_MAX)
        return CKR_GENERAL_ERROR;
    out->data = malloc(len);
    if (out->data == NULL)
        return CKR_HOST_MEMORY;
    p = out->data;
    memcpy(p, prefix, prefix_len);
    p += prefix_len;
    put_u32(p, (uint32_t)env_len);
    memcpy(p + 4, env, env_len);
    p += 4 + env_len;
    memcpy(p, iv, P11KMS_STORE_IV_LEN);
    p += P11KMS_STORE_IV_LEN;
    if (ct_len > 0)
        memcpy(p, ct, ct_len);
    p += ct_len;
    memcpy(p, tag, P11KMS_STORE_TAG_LEN);
    out->len = len;
    return CKR_OK;
}

/* ---- parsing ------------------------------------------------------------------------------- */

/* A read cursor that never passes the end. */
typedef struct cursor {
    const uint8_t *p;
    size_t len, off;
} cursor;

static const uint8_t *take(cursor *c, size_t n)
{
    const uint8_t *at;

    if (c->len - c->off < n)
        return NULL;
    at = c->p + c->off;
    c->off += n;
    return at;
}

CK_RV p11kms_store_file_parse(const uint8_t *in, size_t len, p11kms_store_file *f,
                              const char **defect)
{
    cursor c = {in, len, 0};
    const uint8_t *h = NULL, *q = NULL;
    uint32_t attrs_len = 0, env_len = 0;

    memset(f, 0, sizeof(*f));
    *defect = NULL;
    if (in == NULL || len > P11KMS_STORE_FILE_MAX)
        *defect = "larger than a stored object can be";
    else if ((h = take(&c, P11KMS_STORE_HEADER_LEN)) == NULL)
        *defect = "truncated in the header";
    else if (memcmp(h, P11KMS_STORE_MAGIC, P11KMS_STORE_MAGIC_LEN) != 0)
        *defect = "not a p11kms object file (magic)";
    else if (h[OFF_VERSION] != P11KMS_STORE_VERSION)
        *defect = "unsupported format version";
    else if (p11kms_store_kind_object(h[OFF_KIND]) == 0)
        *defect = "unknown object kind";
    else if (h[OFF_FLAGS] != 0 || h[OFF_FLAGS + 1] != 0)
        *defect = "reserved flags set";
    else if (get_u64(h + OFF_GENERATION) == 0)
        *defect = "generation 0";
    else if (get_u32(h + OFF_VALUE_LEN) > P11KMS_STORE_VALUE_MAX)
        *defect = "value length out of range";
    else if ((attrs_len = get_u32(h + OFF_ATTRS_LEN)) > P11KMS_STORE_ATTRS_MAX)
        *defect = "attribute length out of range";
    else if ((f->attrs = take(&c, attrs_len)) == NULL)
        *defect = "truncated in the attributes";
    else if ((q = take(&c, 4)) == NULL)
        *defect = "truncated before the sealed key";
    else if ((env_len = get_u32(q)) == 0 || env_len > P11KMS_STORE_ENVELOPE_MAX)
        *defect = "sealed key length out of range";
    else if ((f->envelope = take(&c, env_len)) == NULL)
        *defect = "truncated in the sealed key";
    else if ((f->iv = take(&c, P11KMS_STORE_IV_LEN)) == NULL)
        *defect = "truncated in the IV";
    else if ((f->ct = take(&c, get_u32(h + OFF_VALUE_LEN))) == NULL)
        *defect = "truncated in the sealed value";
    else if ((f->tag = take(&c, P11KMS_STORE_TAG_LEN)) == NULL)
        *defect = "truncated in the tag";
    else if (c.off != len)
        *defect = "trailing bytes";
    if (*defect != NULL) {
        memset(f, 0, sizeof(*f));
        return CKR_DEVICE_ERROR;
    }
    f->kind = h[OFF_KIND];
    memcpy(f->id, h + OFF_ID, P11KMS_STORE_ID_LEN);
    f->generation = get_u64(h + OFF_GENERATION);
    f->value_len = get_u32(h + OFF_VALUE_LEN);
    f->usage_history = get_u32(h + OFF_USAGE);
    f->prefix = in;
    f->prefix_len = P11KMS_STORE_HEADER_LEN + attrs_len;
    f->attrs_len = attrs_len;
    f->envelope_len = env_len;
    return CKR_OK;
}

/* A template array: u32 type + u64 value entries, each a template attribute, each type once. */
static const char *decode_template(const uint8_t *v, size_t n, int unwrap, p11kms_attr_template *t)
{
    size_t i, k = n / TEMPLATE_ENTRY;

    memset(t, 0, sizeof(*t));
    if (n % TEMPLATE_ENTRY != 0 || k > P11KMS_TEMPLATE_MAX)
        return "a template attribute has a bad length";
    for (i = 0; i < k; i++) {
        uint32_t type = get_u32(v + i * TEMPLATE_ENTRY);
        uint64_t value = get_u64(v + i * TEMPLATE_ENTRY + 4);
        const p11kms_attr_rule *r = p11kms_attr_rule_for(type, P11KMS_OBJ_DATA_KEY);

        if (r == NULL || (r->kind == P11KMS_AK_BOOL && value > 1) ||
            p11kms_template_find(t, type) != NULL ||
            p11kms_template_add(t, r, (CK_ULONG)value) != CKR_OK)
            return "a template entry is not allowed";
    }
    if (unwrap && !p11kms_template_separated(t))
        return "the unwrap template joins wrap and decrypt";
    return NULL;
}

/* One attribute's value into o. NULL, or the defect. */
static const char *decode_value(p11kms_object *o, const p11kms_attr_rule *r, const uint8_t *v,
                                size_t n)
{
    char *f = (char *)o + r->field;
    CK_ATTRIBUTE a = {r->type, (void *)v, n};
    uint64_t ul;

    switch (r->kind) {
    case P11KMS_AK_BOOL:
        if (n != 1 || v[0] > 1)
            return "a boolean attribute is not 0 or 1";
        *(CK_BBOOL *)f = v[0] ? CK_TRUE : CK_FALSE;
        return NULL;
    case P11KMS_AK_ULONG:
        if (n != 8)
            return "a number attribute is not 8 bytes";
        ul = get_u64(v);
        if (ul > (uint64_t)(CK_ULONG)-1)
            return "a number attribute is out of range";
        *(CK_ULONG *)f = (CK_ULONG)ul;
        return NULL;
    case P11KMS_AK_ARRAY:
        return decode_template(v, n, r->type == CKA_UNWRAP_TEMPLATE, (p11kms_attr_template *)f);
    default:
        /* Bytes and dates: the form a template value must have, stored the same way. */
        if (p11kms_attr_check(r, &a) != CKR_OK)
            return "an attribute value has a bad form or length";
        if (p11kms_attr_store(o, r, &a) != CKR_OK)
            return "out of memory";
        return NULL;
    }
}

static unsigned usage_of(const p11kms_object *o)
{
    return (o->encrypt ? P11KMS_USED_ENCRYPT : 0) | (o->decrypt ? P11KMS_USED_DECRYPT : 0) |
           (o->wrap ? P11KMS_USED_WRAP : 0) | (o->unwrap ? P11KMS_USED_UNWRAP : 0);
}

/* What the module relies on once the attributes are in. */
static const char *whole_object(const p11kms_object *o, const p11kms_store_file *f)
{
    unsigned h = f->usage_history;

    if (o->cls != (o->kind == P11KMS_OBJ_DATA ? CKO_DATA : CKO_SECRET_KEY))
        return "CKA_CLASS does not match the object kind";
    if (!o->is_token)
        return "CKA_TOKEN is false";
    if (o->kind == P11KMS_OBJ_DATA)
        return h == 0 ? NULL : "a data object with a usage history";
    if (!p11kms_key_len_ok(o->key_type, f->value_len))
        return "the key type or value length is not one this token holds";
    if (o->trusted)
        return "CKA_TRUSTED is true (only a security officer could set it)";
    if ((h & ~USAGE_ALL) != 0 || (usage_of(o) & ~h) != 0)
        return "the usage history does not cover the key's usages";
    if (((h & P11KMS_USED_WRAP) && (h & P11KMS_USED_DECRYPT)) ||
        ((h & P11KMS_USED_UNWRAP) && (h & P11KMS_USED_ENCRYPT)))
        return "the key would both wrap and decrypt (or unwrap and encrypt)";
    return NULL;
}

CK_RV p11kms_store_attrs_decode(const p11kms_store_file *f, p11kms_object **out,
                                const char **defect)
{
    cursor c = {f->attrs, f->attrs_len, 0};
    int kind = p11kms_store_kind_object(f->kind);
    p11kms_object *o = NULL;
    CK_RV rv = CKR_DEVICE_ERROR;
    size_t i;

    *out = NULL;
    *defect = NULL;
    if (kind == 0) {
        *defect = "unknown object kind";
        goto out;
    }
    o = p11kms_object_alloc(kind);
    if (o == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    for (i = 0; i < p11kms_attr_rule_count() && *defect == NULL; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_at(i);
        const uint8_t *head, *v;
        uint32_t n;

        if (!persists(r, kind))
            continue;
        if ((head = take(&c, ENTRY_HEAD)) == NULL)
            *defect = "the attributes end early";
        else if (get_u32(head) != r->type)
            *defect = "an attribute is missing or out of order";
        else if ((n = get_u32(head + 4)) > f->attrs_len || (v = take(&c, n)) == NULL)
            *defect = "an attribute runs past the end";
        else
            *defect = decode_value(o, r, v, n);
    }
    if (*defect == NULL && c.off != c.len)
        *defect = "bytes after the last attribute";
    if (*defect != NULL)
        goto out;
    o->value_len = f->value_len;
    o->usage_history = f->usage_history;
    *defect = whole_object(o, f);
    if (*defect != NULL)
        goto out;
    *out = o;
    o = NULL;
    rv = CKR_OK;
out:
    p11kms_object_free(o);
    return rv;
}

/* ---- names --------------------------------------------------------------------------------- */

void p11kms_store_file_name(const uint8_t id[P11KMS_STORE_ID_LEN],
                            char out[P11KMS_STORE_NAME_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < P11KMS_STORE_ID_LEN; i++) {
        out[2 * i] = hex[id[i] >> 4];
        out[2 * i + 1] = hex[id[i] & 15];
    }
    memcpy(out + 2 * P11KMS_STORE_ID_LEN, ".obj", 5);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1; /* upper case too: one name per object */
}

int p11kms_store_name_id(const char *name, uint8_t id[P11KMS_STORE_ID_LEN])
{
    size_t i;

    if (strlen(name) != P11KMS_STORE_NAME_LEN ||
        strcmp(name + 2 * P11KMS_STORE_ID_LEN, ".obj") != 0)
        return 0;
    for (i = 0; i < P11KMS_STORE_ID_LEN; i++) {
        int hi = hex_digit(name[2 * i]), lo = hex_digit(name[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return 0;
        id[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}
