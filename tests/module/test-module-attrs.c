/* test-module-attrs.c - the attribute rules through the function list, on every path (create,
 * generate, unwrap, copy, set, get): complete templates, read-only and one-way attributes, the
 * wrap/decrypt separation, wrap/unwrap templates of KMS keys from the configuration and of data
 * keys, and the life of CKO_DATA objects. */
#include "tests/module/p11.h"

static CK_OBJECT_HANDLE kms_strict, kms_open;
static CK_OBJECT_CLASS secret = CKO_SECRET_KEY, data_cls = CKO_DATA;
static CK_KEY_TYPE aes = CKK_AES;
static CK_ULONG len32 = 32;
static uint8_t raw[32];

#define B(type, v)                                                                                 \
    {                                                                                              \
        type, &(v), sizeof(CK_BBOOL)                                                               \
    }
#define N(t) (sizeof(t) / sizeof((t)[0]))

/* A 32-byte AES key from C_GenerateKey with the class, type and length plus `extra`. */
static CK_RV gen(CK_SESSION_HANDLE s, const CK_ATTRIBUTE *extra, CK_ULONG n, CK_OBJECT_HANDLE *h)
{
    CK_ATTRIBUTE t[16] = {{CKA_CLASS, &secret, sizeof(secret)},
                          {CKA_KEY_TYPE, &aes, sizeof(aes)},
                          {CKA_VALUE_LEN, &len32, sizeof(len32)}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};

    if (n)
        memcpy(t + 3, extra, n * sizeof(*extra));
    *h = CK_INVALID_HANDLE;
    return p11->C_GenerateKey(s, &m, t, 3 + n, h);
}

/* One boolean attribute of h, or -1 when it cannot be read. */
static int get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = 2;
    CK_ATTRIBUTE a = {type, &b, sizeof(b)};

    return p11->C_GetAttributeValue(s, h, &a, 1) == CKR_OK ? b : -1;
}

static void test_complete_create(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ULONG unavailable = CK_UNAVAILABLE_INFORMATION, l16 = 16, got_mech = 0, got_len = 0;
    CK_DATE start = {{'2', '0', '2', '4'}, {'0', '1'}, {'3', '1'}};
    /* Value plus every boolean of a secret key, as pkcs11-tool --write-object, Java's
     * SunPKCS11 key import and a conformance suite send them between them. */
    CK_ATTRIBUTE full[] = {
        {CKA_CLASS, &secret, sizeof(secret)},
        {CKA_KEY_TYPE, &aes, sizeof(aes)},
        {CKA_VALUE, raw, sizeof(raw)},
        {CKA_VALUE_LEN, &len32, sizeof(len32)},
        B(CKA_TOKEN, f),
        B(CKA_PRIVATE, f),
        B(CKA_MODIFIABLE, t),
        B(CKA_COPYABLE, t),
        B(CKA_DESTROYABLE, t),
        B(CKA_SENSITIVE, f),
        B(CKA_EXTRACTABLE, t),
        B(CKA_ENCRYPT, t),
        B(CKA_DECRYPT, t),
        B(CKA_WRAP, f),
        B(CKA_UNWRAP, f),
        B(CKA_SIGN, f),
        B(CKA_VERIFY, f),
        B(CKA_DERIVE, f),
        B(CKA_WRAP_WITH_TRUSTED, f),
        B(CKA_TRUSTED, f),
        B(CKA_LOCAL, f),
        B(CKA_ALWAYS_SENSITIVE, f),
        B(CKA_NEVER_EXTRACTABLE, f),
        {CKA_KEY_GEN_MECHANISM, &unavailable, sizeof(unavailable)},
        {CKA_LABEL, "complete", 8},
        {CKA_ID, "\x0c", 1},
        {CKA_START_DATE, &start, sizeof(start)},
        {CKA_END_DATE, NULL, 0},
    };
    CK_ATTRIBUTE java[] = {{CKA_CLASS, &secret, sizeof(secret)},
                           {CKA_KEY_TYPE, &aes, sizeof(aes)},
                           {CKA_VALUE, raw, 16}};
    CK_ATTRIBUTE back[] = {{CKA_KEY_GEN_MECHANISM, &got_mech, sizeof(got_mech)},
                           {CKA_VALUE_LEN, &got_len, sizeof(got_len)}};
    CK_ATTRIBUTE wt = {CKA_WRAP_TEMPLATE, NULL, 99};
    CK_OBJECT_HANDLE h;
    uint8_t v[64];
    CK_ULONG vlen = sizeof(v);

    is_rv(p11->C_CreateObject(s, full, N(full), &h), CKR_OK,
          "C_CreateObject of an AES key with a complete template");
    ok(p11_value(s, h, v, &vlen) && vlen == 32 && memcmp(v, raw, 32) == 0, "value reads back");
    ok(get_bool(s, h, CKA_LOCAL) == 0 && get_bool(s, h, CKA_ALWAYS_SENSITIVE) == 0 &&
           get_bool(s, h, CKA_NEVER_EXTRACTABLE) == 0 && get_bool(s, h, CKA_TRUSTED) == 0,
       "an imported key: not local, not always sensitive, not never extractable");
    is_rv(p11->C_GetAttributeValue(s, h, back, 2), CKR_OK, "module-set attributes read");
    ok(got_mech == CK_UNAVAILABLE_INFORMATION && got_len == 32, "no keygen mechanism, 32 bytes");
    is_rv(p11->C_GetAttributeValue(s, h, &wt, 1), CKR_OK, "CKA_WRAP_TEMPLATE of a plain key");
    is_num(wt.ulValueLen, 0, "is empty");
    full[3].pValue = &l16;
    is_rv(p11->C_CreateObject(s, full, N(full), &h), CKR_TEMPLATE_INCONSISTENT,
          "CKA_VALUE_LEN other than the value's length");
    full[3].pValue = &len32;
    is_rv(p11->C_CreateObject(s, java, 3, &h), CKR_OK, "Java's three-attribute import");
    ok(get_bool(s, h, CKA_SENSITIVE) == 1 && get_bool(s, h, CKA_EXTRACTABLE) == 1,
       "defaults: sensitive, extractable (wrappable, not readable)");
}

static void test_read_only(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE;
    CK_ATTRIBUTE trusted[] = {B(CKA_TRUSTED, t)};
    CK_ATTRIBUTE local[] = {B(CKA_LOCAL, t)};
    CK_ATTRIBUTE create[] = {{CKA_CLASS, &secret, sizeof(secret)},
                             {CKA_KEY_TYPE, &aes, sizeof(aes)},
                             {CKA_VALUE, raw, sizeof(raw)},
                             B(CKA_TRUSTED, t)};
    CK_OBJECT_HANDLE h, k, c;
    uint8_t env[4096];
    CK_ULONG len;
    P11_UNWRAP_TEMPLATE(u);
    CK_ATTRIBUTE u_trusted[5], u_local[5];

    is_rv(p11->C_CreateObject(s, create, 4, &h), CKR_ATTRIBUTE_READ_ONLY,
          "create: CKA_TRUSTED true (only a security officer, and there is none)");
    is_rv(gen(s, trusted, 1, &h), CKR_ATTRIBUTE_READ_ONLY, "generate: CKA_TRUSTED true");
    is_rv(gen(s, local, 1, &h), CKR_OK, "generate: CKA_LOCAL true, what it is anyway");
    create[3].type = CKA_LOCAL;
    is_rv(p11->C_CreateObject(s, create, 4, &h), CKR_ATTRIBUTE_READ_ONLY,
          "create: CKA_LOCAL true on an imported key");
    k = p11_data_key(s, 32);
    is_rv(p11_wrap_default(s, kms_open, k, env, sizeof(env), &len), CKR_OK,
          "a key wrapped for the unwrap checks");
    memcpy(u_trusted, u, sizeof(u));
    u_trusted[4] = trusted[0];
    memcpy(u_local, u, sizeof(u));
    u_local[4] = local[0];
    is_rv(p11_unwrap_default(s, kms_open, env, len, u_trusted, 5, &h), CKR_ATTRIBUTE_READ_ONLY,
          "unwrap: CKA_TRUSTED true");
    is_rv(p11_unwrap_default(s, kms_open, env, len, u_local, 5, &h), CKR_ATTRIBUTE_READ_ONLY,
          "unwrap: CKA_LOCAL true on an unwrapped key");
    is_rv(p11_set_bool(s, k, CKA_TRUSTED, CK_TRUE), CKR_ATTRIBUTE_READ_ONLY,
          "set: CKA_TRUSTED true");
    is_rv(p11_copy_bool(s, k, CKA_TRUSTED, CK_TRUE, &c), CKR_ATTRIBUTE_READ_ONLY,
          "copy: CKA_TRUSTED true");
    is_rv(p11_set_bool(s, k, CKA_ALWAYS_SENSITIVE, CK_TRUE), CKR_ATTRIBUTE_READ_ONLY,
          "set: CKA_ALWAYS_SENSITIVE");
    is_rv(p11_copy_bool(s, k, CKA_NEVER_EXTRACTABLE, CK_TRUE, &c), CKR_ATTRIBUTE_READ_ONLY,
          "copy: CKA_NEVER_EXTRACTABLE");
    is_rv(p11_set_bool(s, k, CKA_LOCAL, CK_TRUE), CKR_OK, "set: CKA_LOCAL to what it is");
    is_rv(p11_set_bool(s, k, CKA_TOKEN, CK_TRUE), CKR_ATTRIBUTE_READ_ONLY,
          "set: CKA_TOKEN (a copy may change it, C_SetAttributeValue not)");
}

/* One-way attribute `type` of key h: neither copy nor set may move it to `back`. */
static void one_way(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, CK_BBOOL back,
                    const char *name)
{
    CK_OBJECT_HANDLE c;
    char what[128];

    snprintf(what, sizeof(what), "copy cannot turn %s %s", name, back ? "on" : "off");
    is_rv(p11_copy_bool(s, h, type, back, &c), CKR_ATTRIBUTE_READ_ONLY, what);
    ok(c == CK_INVALID_HANDLE, "  ...and made no object");
    snprintf(what, sizeof(what), "set cannot turn %s %s", name, back ? "on" : "off");
    is_rv(p11_set_bool(s, h, type, back), CKR_ATTRIBUTE_READ_ONLY, what);
    ok(get_bool(s, h, type) == !back, "  ...it is unchanged");
}

static void test_one_way(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ATTRIBUTE guarded[] = {B(CKA_SENSITIVE, t), B(CKA_EXTRACTABLE, t),
                              B(CKA_WRAP_WITH_TRUSTED, t)};
    CK_ATTRIBUTE locked[] = {B(CKA_EXTRACTABLE, f), B(CKA_DESTROYABLE, f)};
    CK_OBJECT_HANDLE h, c, c2, l;
    uint8_t env[4096];
    CK_ULONG len;

    is_rv(gen(s, guarded, 3, &h), CKR_OK, "a key with CKA_WRAP_WITH_TRUSTED");
    is_rv(p11_wrap_default(s, kms_open, h, env, sizeof(env), &len), CKR_KEY_NOT_WRAPPABLE,
          "C_WrapKey refuses it: no KMS key is trusted");
    /* The regression: C_CopyObject used to turn it off, and the copy wrapped. */
    is_rv(p11_copy_bool(s, h, CKA_WRAP_WITH_TRUSTED, CK_FALSE, &c), CKR_ATTRIBUTE_READ_ONLY,
          "C_CopyObject cannot turn CKA_WRAP_WITH_TRUSTED off");
    ok(c == CK_INVALID_HANDLE, "  ...no copy made");
    is_rv(p11->C_CopyObject(s, h, NULL, 0, &c2), CKR_OK, "a plain copy");
    ok(get_bool(s, c2, CKA_WRAP_WITH_TRUSTED) == 1, "keeps CKA_WRAP_WITH_TRUSTED");
    is_rv(p11_wrap_default(s, kms_open, c2, env, sizeof(env), &len), CKR_KEY_NOT_WRAPPABLE,
          "and is not wrapped either");
    one_way(s, h, CKA_WRAP_WITH_TRUSTED, CK_FALSE, "CKA_WRAP_WITH_TRUSTED");
    one_way(s, h, CKA_SENSITIVE, CK_FALSE, "CKA_SENSITIVE");
    is_rv(p11_set_bool(s, h, CKA_EXTRACTABLE, CK_FALSE), CKR_OK, "CKA_EXTRACTABLE turned off");
    one_way(s, h, CKA_EXTRACTABLE, CK_TRUE, "CKA_EXTRACTABLE");
    is_rv(p11_set_bool(s, h, CKA_COPYABLE, CK_FALSE), CKR_OK, "CKA_COPYABLE turned off");
    is_rv(p11_set_bool(s, h, CKA_COPYABLE, CK_TRUE), CKR_ATTRIBUTE_READ_ONLY,
          "set cannot turn CKA_COPYABLE on again");
    is_rv(p11_copy_bool(s, h, CKA_LABEL, CK_TRUE, &c), CKR_ACTION_PROHIBITED,
          "an uncopyable key is not copied");

    is_rv(gen(s, locked, 2, &l), CKR_OK, "an indestructible key");
    is_rv(p11_copy_bool(s, l, CKA_DESTROYABLE, CK_TRUE, &c), CKR_ATTRIBUTE_READ_ONLY,
          "copy cannot make it destroyable");
    is_rv(p11_set_bool(s, l, CKA_DESTROYABLE, CK_TRUE), CKR_ATTRIBUTE_READ_ONLY,
          "set cannot either");
    is_rv(p11->C_DestroyObject(s, l), CKR_ACTION_PROHIBITED, "it is not destroyed");
    is_rv(p11_copy_bool(s, l, CKA_MODIFIABLE, CK_FALSE, &c), CKR_OK, "a copy made unmodifiable");
    is_rv(p11_set_bool(s, c, CKA_LABEL, CK_TRUE), CKR_ACTION_PROHIBITED, "which cannot be changed");
    is_rv(p11_copy_bool(s, c, CKA_MODIFIABLE, CK_TRUE, &c2), CKR_ATTRIBUTE_READ_ONLY,
          "nor copied into a modifiable one");
    is_rv(p11_set_bool(s, l, CKA_MODIFIABLE, CK_FALSE), CKR_ATTRIBUTE_READ_ONLY,
          "C_SetAttributeValue does not change CKA_MODIFIABLE");
}

static void test_truthful(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ATTRIBUTE readable[] = {B(CKA_SENSITIVE, f), B(CKA_EXTRACTABLE, t)};
    CK_ATTRIBUTE sealed[] = {B(CKA_SENSITIVE, t), B(CKA_EXTRACTABLE, f)};
    CK_OBJECT_HANDLE r, k, c;

    is_rv(gen(s, readable, 2, &r), CKR_OK, "a readable key");
    is_rv(p11_set_bool(s, r, CKA_SENSITIVE, CK_TRUE), CKR_OK, "made sensitive");
    is_rv(p11_set_bool(s, r, CKA_EXTRACTABLE, CK_FALSE), CKR_OK, "made unextractable");
    ok(get_bool(s, r, CKA_ALWAYS_SENSITIVE) == 0 && get_bool(s, r, CKA_NEVER_EXTRACTABLE) == 0,
       "it still says it was once readable");
    is_rv(p11->C_CopyObject(s, r, NULL, 0, &c), CKR_OK, "copied");
    ok(get_bool(s, c, CKA_ALWAYS_SENSITIVE) == 0 && get_bool(s, c, CKA_NEVER_EXTRACTABLE) == 0,
       "and so does its copy");
    is_rv(gen(s, sealed, 2, &k), CKR_OK, "a key sealed from the start");
    ok(get_bool(s, k, CKA_ALWAYS_SENSITIVE) == 1 && get_bool(s, k, CKA_NEVER_EXTRACTABLE) == 1,
       "always sensitive, never extractable");
    is_rv(p11->C_CopyObject(s, k, NULL, 0, &c), CKR_OK, "copied");
    ok(get_bool(s, c, CKA_ALWAYS_SENSITIVE) == 1 && get_bool(s, c, CKA_NEVER_EXTRACTABLE) == 1,
       "its copy too");
}

static void test_separation(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    CK_ATTRIBUTE wrap_only[] = {B(CKA_WRAP, t)};
    CK_ATTRIBUTE kek[] = {B(CKA_WRAP, t), B(CKA_UNWRAP, t)};
    CK_ATTRIBUTE wrap_dec[] = {B(CKA_WRAP, t), B(CKA_DECRYPT, t)};
    CK_ATTRIBUTE unwrap_enc[] = {B(CKA_UNWRAP, t), B(CKA_ENCRYPT, t)};
    CK_ATTRIBUTE create[] = {{CKA_CLASS, &secret, sizeof(secret)},
                             {CKA_KEY_TYPE, &aes, sizeof(aes)},
                             {CKA_VALUE, raw, sizeof(raw)},
                             B(CKA_WRAP, t),
                             B(CKA_DECRYPT, t)};
    CK_ATTRIBUTE to_kek[] = {B(CKA_DECRYPT, f), B(CKA_ENCRYPT, f), B(CKA_WRAP, t)};
    CK_OBJECT_HANDLE h, k, w, c;
    uint8_t env[4096], junk[64];
    CK_ULONG len;
    P11_UNWRAP_TEMPLATE(u);
    CK_ATTRIBUTE u_bad[6];

    is_rv(gen(s, NULL, 0, &h), CKR_OK, "plain keygen");
    ok(get_bool(s, h, CKA_ENCRYPT) == 1 && get_bool(s, h, CKA_DECRYPT) == 1 &&
           get_bool(s, h, CKA_WRAP) == 0 && get_bool(s, h, CKA_UNWRAP) == 0,
       "encrypts and decrypts, does not wrap");
    is_rv(gen(s, kek, 2, &w), CKR_OK, "keygen asking for wrap and unwrap");
    ok(get_bool(s, w, CKA_ENCRYPT) == 0 && get_bool(s, w, CKA_DECRYPT) == 0,
       "encrypt and decrypt default to false");
    is_rv(gen(s, wrap_only, 1, &w), CKR_OK, "keygen asking for wrap");
    is_rv(gen(s, wrap_dec, 2, &h), CKR_TEMPLATE_INCONSISTENT, "generate: wrap with decrypt");
    is_rv(gen(s, unwrap_enc, 2, &h), CKR_TEMPLATE_INCONSISTENT, "generate: unwrap with encrypt");
    is_rv(p11->C_CreateObject(s, create, 5, &h), CKR_TEMPLATE_INCONSISTENT,
          "create: wrap with decrypt");
    create[3].type = CKA_UNWRAP;
    create[4].type = CKA_ENCRYPT;
    is_rv(p11->C_CreateObject(s, create, 5, &h), CKR_TEMPLATE_INCONSISTENT,
          "create: unwrap with encrypt");

    k = p11_data_key(s, 32);
    is_rv(p11_set_bool(s, k, CKA_WRAP, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "set: wrap on a decrypting key");
    is_rv(p11->C_SetAttributeValue(s, k, to_kek, 3), CKR_TEMPLATE_INCONSISTENT,
          "set: turning decrypt off and wrap on at once");
    is_rv(p11_set_bool(s, k, CKA_DECRYPT, CK_FALSE), CKR_OK, "set: decrypt off");
    is_rv(p11_set_bool(s, k, CKA_WRAP, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "set: wrap later still refused (it decrypted once)");
    is_rv(p11_copy_bool(s, k, CKA_WRAP, CK_TRUE, &c), CKR_TEMPLATE_INCONSISTENT,
          "copy: a wrapping copy of it refused");
    is_rv(p11_set_bool(s, w, CKA_DECRYPT, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "set: decrypt on a wrapping key");
    is_rv(p11_set_bool(s, w, CKA_WRAP, CK_FALSE), CKR_OK, "set: wrap off");
    is_rv(p11_set_bool(s, w, CKA_DECRYPT, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "set: decrypt later still refused (it wrapped once)");
    is_rv(p11_copy_bool(s, w, CKA_DECRYPT, CK_TRUE, &c), CKR_TEMPLATE_INCONSISTENT,
          "copy: a decrypting copy of it refused");

    is_rv(p11_wrap_default(s, kms_open, p11_data_key(s, 32), env, sizeof(env), &len), CKR_OK,
          "an envelope to unwrap");
    memcpy(u_bad, u, sizeof(u));
    u_bad[4] = wrap_dec[0];
    u_bad[5] = wrap_dec[1];
    is_rv(p11_unwrap_default(s, kms_open, env, len, u_bad, 6, &h), CKR_TEMPLATE_INCONSISTENT,
          "unwrap: wrap with decrypt");
    u_bad[4] = unwrap_enc[0];
    u_bad[5] = unwrap_enc[1];
    is_rv(p11_unwrap_default(s, kms_open, env, len, u_bad, 6, &h), CKR_TEMPLATE_INCONSISTENT,
          "unwrap: unwrap with encrypt");
    memset(junk, 0x5a, sizeof(junk));
    is_rv(p11_unwrap_default(s, kms_open, junk, sizeof(junk), u_bad, 6, &h),
          CKR_TEMPLATE_INCONSISTENT, "...refused before the envelope is even opened");
    u_bad[4] = kek[0];
    u_bad[5] = kek[1];
    is_rv(p11_unwrap_default(s, kms_open, env, len, u_bad, 6, &h), CKR_OK,
          "unwrap as a key-encryption key");
    ok(get_bool(s, h, CKA_DECRYPT) == 0 && get_bool(s, h, CKA_ENCRYPT) == 0,
       "with encrypt and decrypt off");
}

static void test_kms_templates(CK_SESSION_HANDLE s)
{
    CK_BBOOL f = CK_FALSE, b0 = 9, b1 = 9;
    CK_ATTRIBUTE elems[2] = {{0, NULL, 0}, {0, NULL, 0}};
    CK_ATTRIBUTE ut = {CKA_UNWRAP_TEMPLATE, NULL, 0};
    CK_ATTRIBUTE readable[] = {B(CKA_SENSITIVE, f)};
    CK_OBJECT_HANDLE k, h, r;
    uint8_t env[4096], v[64];
    CK_ULONG len, vlen = sizeof(v), before;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &secret, sizeof(secret)},
                           {CKA_KEY_TYPE, &aes, sizeof(aes)},
                           B(CKA_SENSITIVE, f)};

    is_rv(p11->C_GetAttributeValue(s, kms_strict, &ut, 1), CKR_OK, "unwrap template: length");
    is_num(ut.ulValueLen, 2 * sizeof(CK_ATTRIBUTE), "two attributes");
    ut.pValue = elems;
    is_rv(p11->C_GetAttributeValue(s, kms_strict, &ut, 1), CKR_OK, "their lengths");
    elems[0].pValue = elems[0].type == CKA_SENSITIVE ? &b0 : &b1;
    elems[1].pValue = elems[1].type == CKA_SENSITIVE ? &b0 : &b1;
    is_rv(p11->C_GetAttributeValue(s, kms_strict, &ut, 1), CKR_OK, "their values");
    ok(((elems[0].type == CKA_SENSITIVE && elems[1].type == CKA_EXTRACTABLE) ||
        (elems[1].type == CKA_SENSITIVE && elems[0].type == CKA_EXTRACTABLE)) &&
           b0 == CK_TRUE && b1 == CK_FALSE,
       "sensitive true (the key's own), extractable false (the token's default)");

    k = p11_data_key(s, 32);
    is_rv(p11_wrap_default(s, kms_strict, k, env, sizeof(env), &len), CKR_KEY_NOT_WRAPPABLE,
          "a readable key does not match the wrap template (sensitive)");
    is_rv(p11_set_bool(s, k, CKA_SENSITIVE, CK_TRUE), CKR_OK, "made sensitive");
    is_rv(p11_wrap_default(s, kms_strict, k, env, sizeof(env), &len), CKR_OK,
          "now it matches and is wrapped");
    before = p11_count(s);
    is_rv(p11_unwrap_default(s, kms_strict, env, len, tmpl, 3, &h), CKR_TEMPLATE_INCONSISTENT,
          "unwrap under a weaker template than the KMS key's");
    is_rv(p11_unwrap_default(s, kms_strict, env + 1, len - 1, tmpl, 3, &h),
          CKR_TEMPLATE_INCONSISTENT,
          "...refused before any KMS call (a broken envelope is not even looked at)");
    is_num(p11_count(s), before, "no object made");
    is_rv(p11_unwrap_default(s, kms_strict, env, len, tmpl, 2, &h), CKR_OK,
          "unwrap saying nothing");
    ok(get_bool(s, h, CKA_SENSITIVE) == 1 && get_bool(s, h, CKA_EXTRACTABLE) == 0,
       "the unwrapped key is sensitive and unextractable");
    vlen = sizeof(v);
    ok(!p11_value(s, h, v, &vlen), "its value cannot be read");
    is_rv(p11_wrap_default(s, kms_open, h, env, sizeof(env), &len), CKR_KEY_UNEXTRACTABLE,
          "nor wrapped again");
    is_rv(p11_wrap_default(s, kms_open, k, env, sizeof(env), &len), CKR_OK,
          "wrapped with the open KMS key");
    is_rv(p11_unwrap_default(s, kms_open, env, len, tmpl, 3, &r), CKR_OK,
          "its unwrap template lets a readable key out");
    vlen = sizeof(v);
    ok(p11_value(s, r, v, &vlen) && vlen == 32, "readable, as that key's template says");
    is_rv(gen(s, readable, 1, &h), CKR_OK, "a readable key");
    is_rv(p11_wrap_default(s, kms_open, h, env, sizeof(env), &len), CKR_OK,
          "the open key has no wrap template");
    ut.pValue = NULL;
    is_rv(p11->C_GetAttributeValue(s, kms_open, &ut, 1), CKR_OK, "open key's unwrap template");
    is_num(ut.ulValueLen, sizeof(CK_ATTRIBUTE), "one attribute (extractable, its own)");
}

static void test_data_key_templates(CK_SESSION_HANDLE s)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE, got = 9;
    CK_ATTRIBUTE inner[] = {B(CKA_EXTRACTABLE, f)};
    CK_ATTRIBUTE bad_inner[] = {{CKA_LABEL, "x", 1}};
    CK_ATTRIBUTE with[] = {B(CKA_UNWRAP, t), {CKA_UNWRAP_TEMPLATE, inner, sizeof(inner)}};
    CK_ATTRIBUTE bad[] = {{CKA_UNWRAP_TEMPLATE, bad_inner, sizeof(bad_inner)}};
    CK_ATTRIBUTE elem = {0, &got, 1}, ut = {CKA_UNWRAP_TEMPLATE, &elem, sizeof(elem)};
    CK_ATTRIBUTE change = {CKA_UNWRAP_TEMPLATE, NULL, 0};
    CK_OBJECT_HANDLE h, c;

    is_rv(gen(s, with, 2, &h), CKR_OK, "a data key with an unwrap template");
    is_rv(p11->C_GetAttributeValue(s, h, &ut, 1), CKR_OK, "read back");
    ok(elem.type == CKA_EXTRACTABLE && got == CK_FALSE, "extractable false");
    is_rv(p11->C_SetAttributeValue(s, h, &change, 1), CKR_ATTRIBUTE_READ_ONLY,
          "the template cannot be changed");
    is_rv(p11->C_CopyObject(s, h, &change, 1, &c), CKR_ATTRIBUTE_READ_ONLY,
          "nor dropped in a copy");
    is_rv(gen(s, bad, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID, "CKA_LABEL in a template refused");
}

static void test_data_objects(CK_SESSION_HANDLE s, CK_SLOT_ID slot, CK_SLOT_ID pin_slot)
{
    CK_BBOOL t = CK_TRUE, f = CK_FALSE;
    static uint8_t big[64 * 1024 + 1];
    uint8_t oid[] = {0x06, 0x03, 0x2a, 0x03, 0x04}, buf[128];
    /* As pkcs11-tool --write-object FILE --type data --label L --application-label A. */
    CK_ATTRIBUTE obj[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)},
                          B(CKA_TOKEN, t),
                          {CKA_VALUE, "hello data", 10},
                          B(CKA_PRIVATE, f),
                          {CKA_APPLICATION, "app", 3},
                          {CKA_OBJECT_ID, oid, sizeof(oid)},
                          {CKA_LABEL, "doc", 3}};
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)}, {CKA_APPLICATION, "app", 3}};
    CK_ATTRIBUTE newval[] = {{CKA_VALUE, "changed", 7}, {CKA_LABEL, "doc2", 4}};
    CK_ATTRIBUTE rd = {CKA_VALUE, buf, sizeof(buf)};
    CK_ATTRIBUTE masquerade[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)},
                                 {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                 {CKA_VALUE, raw, sizeof(raw)}};
    CK_ATTRIBUTE cert[] = {{CKA_CLASS, &(CK_OBJECT_CLASS){CKO_CERTIFICATE}, sizeof(CK_ULONG)}};
    CK_OBJECT_HANDLE h, found[4], c;
    CK_ULONG n = 0;
    CK_SESSION_HANDLE ro, ps;
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, raw, 16};
    uint8_t out[64];
    CK_ULONG outlen = sizeof(out);

    is_rv(p11->C_CreateObject(s, obj, N(obj), &h), CKR_OK, "a data object as pkcs11-tool makes");
    is_rv(p11->C_FindObjectsInit(s, find, 2), CKR_OK, "find by class and application");
    is_rv(p11->C_FindObjects(s, found, 4, &n), CKR_OK, "found");
    p11->C_FindObjectsFinal(s);
    ok(n == 1 && found[0] == h, "exactly it");
    is_rv(p11->C_GetAttributeValue(s, h, &rd, 1), CKR_OK, "its value is readable");
    ok(rd.ulValueLen == 10 && memcmp(buf, "hello data", 10) == 0, "as written");
    rd.type = CKA_OBJECT_ID;
    rd.ulValueLen = sizeof(buf);
    is_rv(p11->C_GetAttributeValue(s, h, &rd, 1), CKR_OK, "CKA_OBJECT_ID");
    ok(rd.ulValueLen == sizeof(oid) && memcmp(buf, oid, sizeof(oid)) == 0, "as written");
    rd.type = CKA_KEY_TYPE;
    is_rv(p11->C_GetAttributeValue(s, h, &rd, 1), CKR_ATTRIBUTE_TYPE_INVALID,
          "a data object has no key type");
    is_rv(p11->C_SetAttributeValue(s, h, newval, 2), CKR_OK, "value and label changed");
    rd.type = CKA_VALUE;
    rd.ulValueLen = sizeof(buf);
    is_rv(p11->C_GetAttributeValue(s, h, &rd, 1), CKR_OK, "read again");
    ok(rd.ulValueLen == 7 && memcmp(buf, "changed", 7) == 0, "the new value");
    ok(p11_find_label(s, "doc2") == h, "found under the new label");
    is_rv(p11->C_CopyObject(s, h, obj + 6, 1, &c), CKR_OK, "copied with another label");
    rd.ulValueLen = sizeof(buf);
    is_rv(p11->C_GetAttributeValue(s, c, &rd, 1), CKR_OK, "the copy's value");
    ok(rd.ulValueLen == 7 && memcmp(buf, "changed", 7) == 0, "is the object's");
    is_rv(p11_set_bool(s, h, CKA_SENSITIVE, CK_TRUE), CKR_TEMPLATE_INCONSISTENT,
          "a data object has no CKA_SENSITIVE");
    is_rv(p11->C_EncryptInit(s, &cbc, h), CKR_KEY_TYPE_INCONSISTENT,
          "a data object does not encrypt");
    is_rv(p11_wrap_default(s, kms_open, h, out, sizeof(out), &outlen), CKR_KEY_HANDLE_INVALID,
          "a data object is not wrapped");
    is_rv(p11->C_DestroyObject(s, h), CKR_OK, "destroyed");
    is_rv(p11->C_DestroyObject(s, c), CKR_OK, "the copy too");
    is_rv(p11->C_GetAttributeValue(s, h, &rd, 1), CKR_OBJECT_HANDLE_INVALID, "gone");

    obj[2].pValue = big;
    obj[2].ulValueLen = 64 * 1024;
    is_rv(p11->C_CreateObject(s, obj, N(obj), &h), CKR_OK, "64 KiB of data");
    p11->C_DestroyObject(s, h);
    obj[2].ulValueLen = sizeof(big);
    is_rv(p11->C_CreateObject(s, obj, N(obj), &h), CKR_ATTRIBUTE_VALUE_INVALID,
          "64 KiB + 1 refused");
    is_rv(p11->C_CreateObject(s, masquerade, 3, &h), CKR_TEMPLATE_INCONSISTENT,
          "a data object with a key type");
    is_rv(p11->C_CreateObject(s, cert, 1, &h), CKR_TEMPLATE_INCONSISTENT,
          "certificates are not offered");

    obj[2].pValue = "x";
    obj[2].ulValueLen = 1;
    is_rv(p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK, "RO session");
    is_rv(p11->C_CreateObject(ro, obj, N(obj), &h), CKR_SESSION_READ_ONLY,
          "a token data object needs a read/write session");
    obj[1].pValue = &f;
    is_rv(p11->C_CreateObject(ro, obj, N(obj), &h), CKR_OK, "a session data object does not");
    p11->C_CloseSession(ro);
    ps = p11_open(pin_slot);
    obj[3].pValue = &t;
    is_rv(p11->C_CreateObject(ps, obj, N(obj), &h), CKR_USER_NOT_LOGGED_IN,
          "a private data object needs a login");
    is_rv(p11->C_Login(ps, CKU_USER, (uint8_t *)"1234", 4), CKR_OK, "login");
    is_rv(p11->C_CreateObject(ps, obj, N(obj), &h), CKR_OK, "then it is made");
    is_rv(p11->C_Logout(ps), CKR_OK, "logout");
    is_rv(p11->C_GetAttributeValue(ps, h, &rd, 1), CKR_OBJECT_HANDLE_INVALID,
          "and hidden after logout");
    p11->C_CloseSession(ps);
}

static void test_bad_config(void)
{
    const char *path = p11_write("bad.conf",
                                 "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", "
                                 "\"backend\": \"local\", \"key_id\": \"insecure-test-key\", "
                                 "\"unwrap_template\": {\"sensitive\": \"yes\"}}]}]}\n",
                                 0600);

    is_rv(p11_init_config(path), CKR_ARGUMENTS_BAD, "a bad unwrap template stops C_Initialize");
}

int main(void)
{
    const char *path;
    CK_SESSION_HANDLE s;

    test_start();
    p11_load();
    memset(raw, 0x42, sizeof(raw));
    path = p11_write(
        "attrs.conf",
        "{\"tokens\": [\n"
        " {\"label\": \"attrs\", \"unwrap_template\": {\"extractable\": false},\n"
        "  \"storage_key\": \"open\", \"keys\": [\n"
        "  {\"label\": \"strict\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\",\n"
        "   \"unwrap_template\": {\"sensitive\": true}, \"wrap_template\": {\"sensitive\": "
        "true}},\n"
        "  {\"label\": \"open\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\",\n"
        "   \"unwrap_template\": {\"extractable\": true}}]},\n"
        " {\"label\": \"locked\", \"pin\": \"1234\"}]}\n",
        0600);
    is_rv(p11_init_config(path), CKR_OK, "C_Initialize with key and token templates");
    s = p11_open(0);
    kms_strict = p11_find_label(s, "strict");
    kms_open = p11_find_label(s, "open");
    ok(kms_strict != CK_INVALID_HANDLE && kms_open != CK_INVALID_HANDLE, "both KMS keys found");
    test_complete_create(s);
    test_read_only(s);
    test_one_way(s);
    test_truthful(s);
    test_separation(s);
    test_kms_templates(s);
    test_data_key_templates(s);
    test_data_objects(s, 0, 1);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    test_bad_config();
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
