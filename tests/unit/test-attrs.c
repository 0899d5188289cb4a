/* test-attrs.c - the attribute rule table and the one function that applies templates: table
 * invariants, creation defaults, read-only and one-way attributes, the wrap/decrypt separation
 * over a key's life, unwrap templates, template arrays, data objects. No module, no session. */
#include "attr-rules.h"
#include "attrs.h"
#include "object.h"
#include "tests/test.h"

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS secret_class = CKO_SECRET_KEY, data_class = CKO_DATA;
static CK_KEY_TYPE aes = CKK_AES;
static uint8_t key32[32];

#define B(type, v)                                                                                 \
    {                                                                                              \
        type, &(v), sizeof(CK_BBOOL)                                                               \
    }
#define N(t) (sizeof(t) / sizeof((t)[0]))

static p11kms_object *new_key(int origin, const CK_ATTRIBUTE *t, CK_ULONG n, CK_RV *rv)
{
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);

    size_t len = 0;

    if (origin == P11KMS_FROM_GENERATE) {
        o->key_type = CKK_AES;
        o->local = CK_TRUE;
        o->key_gen_mechanism = CKM_AES_KEY_GEN;
    }
    *rv = p11kms_attrs_apply(o, origin, t, n, NULL, &len);
    if (*rv == CKR_OK && origin == P11KMS_FROM_GENERATE) {
        /* What C_GenerateKey does next. */
        o->value = calloc(1, len);
        o->value_len = len;
    }
    return o;
}

static void test_table(void)
{
    size_t i, j, n = p11kms_attr_rule_count(), templ = 0;
    int bad_kind = 0, bad_ro = 0, bad_oneway = 0, bad_secret = 0, dup = 0, bad_templ = 0;

    ok(n > 30 && n <= P11KMS_ATTR_RULES_MAX, "the table has a row per attribute");
    for (i = 0; i < n; i++) {
        const p11kms_attr_rule *r = p11kms_attr_rule_at(i);

        bad_kind += r->kind < P11KMS_AK_BOOL || r->kind > P11KMS_AK_MECHS || r->on == 0;
        bad_ro += (r->flags & P11KMS_AF_RO) && (r->flags & (P11KMS_AF_NEW | P11KMS_AF_CHANGE));
        bad_oneway += (r->flags & (P11KMS_AF_TO_TRUE | P11KMS_AF_TO_FALSE)) &&
                      (r->kind != P11KMS_AK_BOOL || !(r->flags & P11KMS_AF_CHANGE));
        bad_secret += (r->flags & P11KMS_AF_SECRET) &&
                      (r->kind != P11KMS_AK_BYTES || (r->flags & P11KMS_AF_CHANGE));
        if (r->flags & P11KMS_AF_TEMPLATE) {
            templ++;
            bad_templ += (r->kind != P11KMS_AK_BOOL && r->kind != P11KMS_AK_ULONG) ||
                         !(r->on & P11KMS_ON_DATA_KEY);
        }
        for (j = 0; j < i; j++) {
            const p11kms_attr_rule *q = p11kms_attr_rule_at(j);
            dup += q->type == r->type && (q->on & r->on);
            dup += q->conf != NULL && r->conf != NULL && strcmp(q->conf, r->conf) == 0;
        }
    }
    is_num(bad_kind, 0, "every row has a value kind and objects");
    is_num(bad_ro, 0, "module-set attributes are never settable");
    is_num(bad_oneway, 0, "one-way rules are on changeable booleans");
    is_num(bad_secret, 0, "secret values are bytes that never change");
    is_num(bad_templ, 0, "template attributes are data-key booleans and numbers");
    is_num(dup, 0, "one row per attribute and object kind; configuration names unique");
    ok(templ <= P11KMS_TEMPLATE_MAX, "every template attribute fits one template");

#define FLAGS(t, kind) (p11kms_attr_rule_for((t), (kind))->flags)
    ok(FLAGS(CKA_SENSITIVE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_TO_TRUE, "CKA_SENSITIVE only on");
    ok(FLAGS(CKA_WRAP_WITH_TRUSTED, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_TO_TRUE,
       "CKA_WRAP_WITH_TRUSTED only on");
    ok(FLAGS(CKA_EXTRACTABLE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_TO_FALSE,
       "CKA_EXTRACTABLE only off");
    ok(FLAGS(CKA_COPYABLE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_TO_FALSE, "CKA_COPYABLE only off");
    ok((FLAGS(CKA_MODIFIABLE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_TO_FALSE) &&
           !(FLAGS(CKA_MODIFIABLE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_SET),
       "CKA_MODIFIABLE: only off, and only in a copy");
    ok(!(FLAGS(CKA_DESTROYABLE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_SET),
       "CKA_DESTROYABLE is not changed by C_SetAttributeValue");
    ok(FLAGS(CKA_TRUSTED, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_RO, "CKA_TRUSTED module-set");
    ok((FLAGS(CKA_VALUE, P11KMS_OBJ_DATA_KEY) & P11KMS_AF_SECRET) &&
           !(FLAGS(CKA_VALUE, P11KMS_OBJ_DATA) & P11KMS_AF_SECRET),
       "CKA_VALUE is secret for keys, not for data objects");
    ok(FLAGS(CKA_VALUE, P11KMS_OBJ_DATA) & P11KMS_AF_SET, "a data object's value can change");
    ok(p11kms_attr_rule_for(CKA_KEY_TYPE, P11KMS_OBJ_DATA) == NULL &&
           p11kms_attr_rule_for(CKA_APPLICATION, P11KMS_OBJ_DATA_KEY) == NULL,
       "keys and data objects keep to their own attributes");
    ok(p11kms_attr_rule_any(0x7fff1234) == NULL, "unknown attributes are unknown");
    ok(p11kms_attr_rule_conf("sensitive") ==
               p11kms_attr_rule_for(CKA_SENSITIVE, P11KMS_OBJ_DATA_KEY) &&
           p11kms_attr_rule_conf("value") == NULL,
       "configuration names lead to their rows");
}

static void test_create(void)
{
    CK_ULONG len = 32, len16 = 16, unavailable = CK_UNAVAILABLE_INFORMATION;
    CK_ATTRIBUTE full[] = {
        {CKA_CLASS, &secret_class, sizeof(secret_class)},
        {CKA_KEY_TYPE, &aes, sizeof(aes)},
        {CKA_VALUE, key32, sizeof(key32)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        B(CKA_TOKEN, no),
        B(CKA_PRIVATE, no),
        B(CKA_MODIFIABLE, yes),
        B(CKA_COPYABLE, yes),
        B(CKA_DESTROYABLE, yes),
        B(CKA_SENSITIVE, yes),
        B(CKA_EXTRACTABLE, yes),
        B(CKA_ENCRYPT, yes),
        B(CKA_DECRYPT, yes),
        B(CKA_WRAP, no),
        B(CKA_UNWRAP, no),
        B(CKA_SIGN, no),
        B(CKA_VERIFY, no),
        B(CKA_DERIVE, no),
        B(CKA_WRAP_WITH_TRUSTED, no),
        B(CKA_TRUSTED, no),
        B(CKA_LOCAL, no),
        B(CKA_ALWAYS_SENSITIVE, no),
        B(CKA_NEVER_EXTRACTABLE, no),
        {CKA_KEY_GEN_MECHANISM, &unavailable, sizeof(unavailable)},
        {CKA_LABEL, "k", 1},
        {CKA_ID, "\x01", 1},
        {CKA_START_DATE, NULL, 0},
    };
    CK_RV rv;
    p11kms_object *o = new_key(P11KMS_FROM_CREATE, full, N(full), &rv);

    is_rv(rv, CKR_OK, "create with every attribute an application sends");
    ok(o->encrypt && o->decrypt && !o->wrap && o->sensitive && !o->always_sensitive &&
           !o->never_extractable && !o->local && o->value_len == 32,
       "the key is what the template says, and honest about its past");
    p11kms_object_free(o);

    full[3].pValue = &len16;
    o = new_key(P11KMS_FROM_CREATE, full, N(full), &rv);
    is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN other than the value's length");
    p11kms_object_free(o);
    full[3].pValue = &len;

    full[21].pValue = &yes; /* CKA_ALWAYS_SENSITIVE */
    o = new_key(P11KMS_FROM_CREATE, full, N(full), &rv);
    is_rv(rv, CKR_ATTRIBUTE_READ_ONLY, "CKA_ALWAYS_SENSITIVE true on an imported key");
    p11kms_object_free(o);
    full[21].pValue = &no;

    full[19].pValue = &yes; /* CKA_TRUSTED */
    o = new_key(P11KMS_FROM_CREATE, full, N(full), &rv);
    is_rv(rv, CKR_ATTRIBUTE_READ_ONLY, "CKA_TRUSTED true: no security officer here");
    p11kms_object_free(o);
    full[19].pValue = &no;

    {
        CK_ATTRIBUTE twice[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)},
                                {CKA_VALUE, key32, 32},
                                B(CKA_SENSITIVE, no),
                                B(CKA_SENSITIVE, no)};
        o = new_key(P11KMS_FROM_CREATE, twice, 4, &rv);
        is_rv(rv, CKR_OK, "one attribute twice with one value is fine");
        p11kms_object_free(o);
        twice[3].pValue = &yes;
        o = new_key(P11KMS_FROM_CREATE, twice, 4, &rv);
        is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "with two values it is not");
        p11kms_object_free(o);
    }
    {
        CK_ATTRIBUTE other[] = {
            {CKA_KEY_TYPE, &aes, sizeof(aes)}, {CKA_VALUE, key32, 32}, {CKA_APPLICATION, "x", 1}};
        CK_ATTRIBUTE unknown[] = {{0x7fff1234, NULL, 0}};
        CK_ATTRIBUTE bad_bool[] = {{CKA_SENSITIVE, &len, sizeof(len)}};
        CK_ATTRIBUTE bad_date[] = {{CKA_START_DATE, "2024xx01", 8}};

        o = new_key(P11KMS_FROM_CREATE, other, 3, &rv);
        is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "a data object's attribute on a key");
        p11kms_object_free(o);
        o = new_key(P11KMS_FROM_CREATE, unknown, 1, &rv);
        is_rv(rv, CKR_ATTRIBUTE_TYPE_INVALID, "an unknown attribute");
        p11kms_object_free(o);
        o = new_key(P11KMS_FROM_CREATE, bad_bool, 1, &rv);
        is_rv(rv, CKR_ATTRIBUTE_VALUE_INVALID, "a boolean of 8 bytes");
        p11kms_object_free(o);
        o = new_key(P11KMS_FROM_CREATE, bad_date, 1, &rv);
        is_rv(rv, CKR_ATTRIBUTE_VALUE_INVALID, "a date that is not digits");
        p11kms_object_free(o);
    }
}

static void test_generate(void)
{
    CK_ULONG len = 32;
    CK_ATTRIBUTE plain[] = {{CKA_VALUE_LEN, &len, sizeof(len)}};
    CK_ATTRIBUTE wrapping[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_WRAP, yes), B(CKA_UNWRAP, yes)};
    CK_ATTRIBUTE wrap_encrypt[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_WRAP, yes), B(CKA_ENCRYPT, yes)};
    CK_ATTRIBUTE both[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_WRAP, yes), B(CKA_DECRYPT, yes)};
    CK_ATTRIBUTE inject[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_UNWRAP, yes), B(CKA_ENCRYPT, yes)};
    CK_ATTRIBUTE local[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_LOCAL, yes), B(CKA_SENSITIVE, no)};
    CK_ATTRIBUTE value[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_VALUE, key32, 32}};
    CK_RV rv;
    p11kms_object *o;

    o = new_key(P11KMS_FROM_GENERATE, plain, 1, &rv);
    ok(rv == CKR_OK && o->encrypt && o->decrypt && !o->wrap && !o->unwrap,
       "plain keygen: encrypt and decrypt, no wrap");
    ok(o->always_sensitive && !o->never_extractable, "generated sensitive: always sensitive");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, wrapping, 3, &rv);
    ok(rv == CKR_OK && o->wrap && o->unwrap && !o->encrypt && !o->decrypt,
       "asked to wrap and unwrap: encrypt and decrypt default to false");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, wrap_encrypt, 3, &rv);
    ok(rv == CKR_OK && o->wrap && o->encrypt && !o->decrypt,
       "wrap with encrypt is allowed; decrypt defaults to false");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, both, 3, &rv);
    is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "wrap with decrypt refused");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, inject, 3, &rv);
    is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "unwrap with encrypt refused");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, local, 3, &rv);
    is_rv(rv, CKR_OK, "CKA_LOCAL true on a generated key: what the module sets anyway");
    ok(!o->always_sensitive, "CKA_ALWAYS_SENSITIVE false for a key generated readable");
    p11kms_object_free(o);
    o = new_key(P11KMS_FROM_GENERATE, value, 2, &rv);
    is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "no CKA_VALUE in a keygen template");
    p11kms_object_free(o);
}

/* A copy of o changed by t (COPY or SET); the result code in *rv. */
static p11kms_object *change(const p11kms_object *o, int origin, CK_ATTRIBUTE *t, CK_ULONG n,
                             CK_RV *rv)
{
    p11kms_object *c = p11kms_object_clone_locked(o);

    *rv = p11kms_attrs_apply(c, origin, t, n, NULL, NULL);
    return c;
}

static void one_way(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, CK_BBOOL *to, const char *what)
{
    CK_ATTRIBUTE a = {type, to, sizeof(CK_BBOOL)};
    CK_RV copy_rv, set_rv;
    p11kms_object *c = change(o, P11KMS_FROM_COPY, &a, 1, &copy_rv), *d;

    p11kms_object_free(c);
    d = change(o, P11KMS_FROM_SET, &a, 1, &set_rv);
    p11kms_object_free(d);
    ok(copy_rv == CKR_ATTRIBUTE_READ_ONLY && set_rv == CKR_ATTRIBUTE_READ_ONLY, what);
}

static void test_change(void)
{
    CK_ULONG len = 32;
    CK_ATTRIBUTE protected[] = {{CKA_VALUE_LEN, &len, sizeof(len)},
                                B(CKA_EXTRACTABLE, no),
                                B(CKA_WRAP_WITH_TRUSTED, yes),
                                B(CKA_COPYABLE, no),
                                B(CKA_MODIFIABLE, no),
                                B(CKA_DESTROYABLE, no)};
    CK_ATTRIBUTE readable[] = {{CKA_VALUE_LEN, &len, sizeof(len)}, B(CKA_SENSITIVE, no)};
    CK_RV rv;
    p11kms_object *o = new_key(P11KMS_FROM_GENERATE, protected, N(protected), &rv), *c;

    is_rv(rv, CKR_OK, "a protected key");
    one_way(o, CKA_SENSITIVE, &no, "CKA_SENSITIVE never off again (copy, set)");
    one_way(o, CKA_EXTRACTABLE, &yes, "CKA_EXTRACTABLE never on again (copy, set)");
    one_way(o, CKA_WRAP_WITH_TRUSTED, &no, "CKA_WRAP_WITH_TRUSTED never off again (copy, set)");
    one_way(o, CKA_COPYABLE, &yes, "CKA_COPYABLE never on again");
    one_way(o, CKA_MODIFIABLE, &yes, "CKA_MODIFIABLE never on again in a copy");
    one_way(o, CKA_DESTROYABLE, &yes, "CKA_DESTROYABLE never on again in a copy");
    p11kms_object_free(o);

    o = new_key(P11KMS_FROM_GENERATE, readable, 2, &rv);
    {
        CK_ATTRIBUTE lock[] = {B(CKA_SENSITIVE, yes), B(CKA_EXTRACTABLE, no)};
        c = change(o, P11KMS_FROM_SET, lock, 2, &rv);
        ok(rv == CKR_OK && c->sensitive && !c->always_sensitive && !c->never_extractable,
           "made sensitive later: never claims to have always been");
        p11kms_object_free(c);
    }
    {
        /* The usage history: a key that decrypted never wraps, whatever order. */
        CK_ATTRIBUTE to_wrap[] = {B(CKA_DECRYPT, no), B(CKA_ENCRYPT, no), B(CKA_WRAP, yes)};
        CK_ATTRIBUTE off[] = {B(CKA_DECRYPT, no)};
        CK_ATTRIBUTE then_wrap[] = {B(CKA_WRAP, yes)};
        p11kms_object *d;

        c = change(o, P11KMS_FROM_SET, to_wrap, 3, &rv);
        is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "a decrypting key cannot become a wrapping key");
        p11kms_object_free(c);
        c = change(o, P11KMS_FROM_SET, off, 1, &rv);
        is_rv(rv, CKR_OK, "decrypt off");
        d = change(c, P11KMS_FROM_COPY, then_wrap, 1, &rv);
        is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "...and a copy of it still cannot wrap");
        p11kms_object_free(d);
        p11kms_object_free(c);
    }
    {
        CK_ATTRIBUTE same_len[] = {{CKA_VALUE_LEN, &len, sizeof(len)}};
        CK_ATTRIBUTE value[] = {{CKA_VALUE, key32, 32}};
        CK_ATTRIBUTE cls[] = {{CKA_CLASS, &data_class, sizeof(data_class)}};

        c = change(o, P11KMS_FROM_SET, same_len, 1, &rv);
        is_rv(rv, CKR_OK, "setting CKA_VALUE_LEN to what it is");
        p11kms_object_free(c);
        c = change(o, P11KMS_FROM_SET, value, 1, &rv);
        is_rv(rv, CKR_ATTRIBUTE_READ_ONLY, "a key's value never changes");
        p11kms_object_free(c);
        c = change(o, P11KMS_FROM_COPY, cls, 1, &rv);
        is_rv(rv, CKR_ATTRIBUTE_READ_ONLY, "a key is not copied into a data object");
        p11kms_object_free(c);
    }
    p11kms_object_free(o);
}

static void test_unwrap_template(void)
{
    p11kms_attr_template forced = {0};
    CK_ATTRIBUTE weaker[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)}, B(CKA_SENSITIVE, no)};
    CK_ATTRIBUTE silent[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)}};
    CK_ATTRIBUTE agrees[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)}, B(CKA_EXTRACTABLE, no)};
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);

    ok(p11kms_template_add(&forced, p11kms_attr_rule_conf("sensitive"), 1) == CKR_OK &&
           p11kms_template_add(&forced, p11kms_attr_rule_conf("extractable"), 0) == CKR_OK &&
           p11kms_template_add(&forced, p11kms_attr_rule_conf("wrap"), 1) == CKR_OK,
       "unwrap template: sensitive, not extractable, wrap");
    is_rv(p11kms_template_add(&forced, p11kms_attr_rule_conf("wrap"), 0),
          CKR_ATTRIBUTE_VALUE_INVALID, "one attribute, two values");
    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_UNWRAP, weaker, 2, &forced, NULL),
          CKR_TEMPLATE_INCONSISTENT, "a template weaker than the unwrap template");
    p11kms_object_free(o);
    o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);
    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_UNWRAP, silent, 1, &forced, NULL), CKR_OK,
          "a template that says nothing");
    ok(o->sensitive && !o->extractable && o->wrap && !o->decrypt && !o->encrypt,
       "gets the unwrap template's attributes (and wrap's defaults)");
    p11kms_object_free(o);
    o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);
    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_UNWRAP, agrees, 2, &forced, NULL), CKR_OK,
          "a template that agrees");
    p11kms_object_free(o);
    p11kms_template_add(&forced, p11kms_attr_rule_conf("decrypt"), 1);
    ok(!p11kms_template_separated(&forced), "wrap with decrypt: not a possible key");
}

static void test_template_arrays(void)
{
    CK_ATTRIBUTE inner[] = {B(CKA_SENSITIVE, yes), {CKA_KEY_TYPE, &aes, sizeof(aes)}};
    CK_ATTRIBUTE a = {CKA_UNWRAP_TEMPLATE, inner, sizeof(inner)};
    CK_ATTRIBUTE bad_inner[] = {{CKA_LABEL, "x", 1}};
    CK_ATTRIBUTE bad = {CKA_UNWRAP_TEMPLATE, bad_inner, sizeof(bad_inner)};
    CK_ATTRIBUTE odd = {CKA_UNWRAP_TEMPLATE, inner, sizeof(inner) - 1};
    p11kms_attr_template t;
    CK_ATTRIBUTE out[2] = {{0, NULL, 0}, {0, NULL, 0}}, get = {CKA_UNWRAP_TEMPLATE, NULL, 0};
    CK_BBOOL b = 7;
    CK_ULONG ul = 0;
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA_KEY);

    is_rv(p11kms_template_parse(&a, 1, &t), CKR_OK, "an application's unwrap template");
    is_num(t.n, 2, "two entries");
    is_rv(p11kms_template_parse(&bad, 1, &t), CKR_ATTRIBUTE_VALUE_INVALID,
          "CKA_LABEL is no template attribute");
    is_rv(p11kms_template_parse(&odd, 1, &t), CKR_ATTRIBUTE_VALUE_INVALID,
          "not a whole number of CK_ATTRIBUTEs");
    p11kms_template_parse(&a, 1, &t);
    is_rv(p11kms_template_get(&t, &get), CKR_OK, "length query");
    is_num(get.ulValueLen, 2 * sizeof(CK_ATTRIBUTE), "two CK_ATTRIBUTEs");
    get.pValue = out;
    is_rv(p11kms_template_get(&t, &get), CKR_OK, "element lengths");
    ok(out[0].type == CKA_SENSITIVE && out[0].ulValueLen == 1 && out[1].type == CKA_KEY_TYPE &&
           out[1].ulValueLen == sizeof(CK_ULONG),
       "types and lengths set");
    out[0].pValue = &b;
    out[1].pValue = &ul;
    is_rv(p11kms_template_get(&t, &get), CKR_OK, "values");
    ok(b == CK_TRUE && ul == CKK_AES, "values read back");
    out[1].ulValueLen = 2;
    is_rv(p11kms_template_get(&t, &get), CKR_BUFFER_TOO_SMALL, "an element's buffer too small");
    ok(out[1].ulValueLen == CK_UNAVAILABLE_INFORMATION, "marked unavailable");
    get.ulValueLen = sizeof(CK_ATTRIBUTE);
    is_rv(p11kms_template_get(&t, &get), CKR_BUFFER_TOO_SMALL, "the array too small");

    o->key_type = CKK_AES;
    ok(p11kms_template_matches(&t, o), "a sensitive AES key matches");
    o->sensitive = CK_FALSE;
    ok(!p11kms_template_matches(&t, o), "a readable one does not");
    p11kms_object_free(o);
}

static void test_data_objects(void)
{
    static uint8_t big[64 * 1024 + 1];
    CK_ATTRIBUTE obj[] = {{CKA_CLASS, &data_class, sizeof(data_class)},
                          B(CKA_TOKEN, yes),
                          {CKA_VALUE, big, 64 * 1024},
                          B(CKA_PRIVATE, no),
                          {CKA_APPLICATION, "app", 3},
                          {CKA_OBJECT_ID, "\x2a\x03\x04", 3},
                          {CKA_LABEL, "dl", 2}};
    CK_ATTRIBUTE masquerade[] = {{CKA_CLASS, &data_class, sizeof(data_class)},
                                 {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                 {CKA_VALUE, key32, 32}};
    CK_ATTRIBUTE sens[] = {B(CKA_SENSITIVE, yes)};
    p11kms_object *o = p11kms_object_alloc(P11KMS_OBJ_DATA), *c;
    p11kms_attr_val v;
    CK_RV rv;

    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_CREATE, obj, N(obj), NULL, NULL), CKR_OK,
          "a 64 KiB data object");
    ok(p11kms_attr_read(o, CKA_VALUE, &v) == P11KMS_VAL_OK && v.len == 64 * 1024,
       "its value is readable");
    ok(!o->encrypt && !o->decrypt && !o->wrap && !o->unwrap && !o->sensitive, "and it is no key");
    c = change(o, P11KMS_FROM_SET, sens, 1, &rv);
    is_rv(rv, CKR_TEMPLATE_INCONSISTENT, "a data object has no CKA_SENSITIVE");
    p11kms_object_free(c);
    p11kms_object_free(o);
    o = p11kms_object_alloc(P11KMS_OBJ_DATA);
    obj[2].ulValueLen = sizeof(big);
    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_CREATE, obj, N(obj), NULL, NULL),
          CKR_ATTRIBUTE_VALUE_INVALID, "64 KiB + 1 refused");
    p11kms_object_free(o);
    o = p11kms_object_alloc(P11KMS_OBJ_DATA);
    is_rv(p11kms_attrs_apply(o, P11KMS_FROM_CREATE, masquerade, 3, NULL, NULL),
          CKR_TEMPLATE_INCONSISTENT, "a data object with a key type");
    p11kms_object_free(o);
}

int main(void)
{
    test_start();
    test_table();
    test_create();
    test_generate();
    test_change();
    test_unwrap_template();
    test_template_arrays();
    test_data_objects();
    return test_exit_code();
}
