/* attack-attrs.c - attacks on the attribute rules: flip one-way attributes with set and copy,
 * unwrap under a weaker template than the KMS key's, join wrap and decrypt in one data key,
 * forge CKA_TRUSTED, read a sensitive key's value through get, copy, find or a data object, and
 * pass a data object off as a key. Each is refused and no key value comes out. */
#include "tests/attacks/attack.h"

static CK_OBJECT_CLASS secret_cls = CKO_SECRET_KEY, data_cls = CKO_DATA;
static CK_KEY_TYPE aes = CKK_AES;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static uint8_t known[32];

#define B(type, v)                                                                                 \
    {                                                                                              \
        type, &(v), sizeof(CK_BBOOL)                                                               \
    }

static CK_OBJECT_HANDLE kms, strict;

/* Whether a new handle came out of a call that should have made none, and it is readable. */
static int leaked(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
    return h != CK_INVALID_HANDLE && attack_value_readable(s, h);
}

static void flip_one_way(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE sens = attack_secret(s, 32, CK_TRUE, CK_FALSE), c;
    CK_ATTRIBUTE wwt_t[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                            {CKA_KEY_TYPE, &aes, sizeof(aes)},
                            {CKA_VALUE, known, sizeof(known)},
                            B(CKA_WRAP_WITH_TRUSTED, yes),
                            B(CKA_COPYABLE, yes),
                            B(CKA_MODIFIABLE, yes)};
    CK_OBJECT_HANDLE wwt = CK_INVALID_HANDLE, frozen;
    uint8_t env[8192];
    CK_ULONG len;
    CK_ATTRIBUTE frozen_t[] = {B(CKA_MODIFIABLE, no)};

    ok(sens != CK_INVALID_HANDLE, "a sensitive, unextractable data key");
    ok(p11_set_bool(s, sens, CKA_SENSITIVE, CK_FALSE) != CKR_OK && !attack_value_readable(s, sens),
       "set CKA_SENSITIVE off: refused, value unreadable");
    ok(p11_set_bool(s, sens, CKA_EXTRACTABLE, CK_TRUE) != CKR_OK &&
           p11_wrap_default(s, kms, sens, env, sizeof(env), &len) == CKR_KEY_UNEXTRACTABLE,
       "set CKA_EXTRACTABLE on: refused, still not wrapped");
    ok(p11_copy_bool(s, sens, CKA_SENSITIVE, CK_FALSE, &c) != CKR_OK && !leaked(s, c),
       "copy with CKA_SENSITIVE off: refused, no readable copy");
    ok(p11_copy_bool(s, sens, CKA_EXTRACTABLE, CK_TRUE, &c) != CKR_OK &&
           (c == CK_INVALID_HANDLE ||
            p11_wrap_default(s, kms, c, env, sizeof(env), &len) != CKR_OK),
       "copy with CKA_EXTRACTABLE on: refused, no wrappable copy");

    is_rv(p11->C_CreateObject(s, wwt_t, 6, &wwt), CKR_OK, "a key only trusted keys may wrap");
    ok(p11_wrap_default(s, kms, wwt, env, sizeof(env), &len) == CKR_KEY_NOT_WRAPPABLE,
       "the KMS key is not trusted");
    ok(p11_copy_bool(s, wwt, CKA_WRAP_WITH_TRUSTED, CK_FALSE, &c) != CKR_OK &&
           (c == CK_INVALID_HANDLE ||
            p11_wrap_default(s, kms, c, env, sizeof(env), &len) != CKR_OK),
       "copy with CKA_WRAP_WITH_TRUSTED off: refused, nothing wraps");
    ok(p11_set_bool(s, wwt, CKA_WRAP_WITH_TRUSTED, CK_FALSE) != CKR_OK &&
           p11_wrap_default(s, kms, wwt, env, sizeof(env), &len) == CKR_KEY_NOT_WRAPPABLE,
       "set CKA_WRAP_WITH_TRUSTED off: refused, still not wrapped");

    ok(p11_set_bool(s, wwt, CKA_COPYABLE, CK_FALSE) == CKR_OK, "made uncopyable");
    ok(p11_set_bool(s, wwt, CKA_COPYABLE, CK_TRUE) != CKR_OK &&
           p11->C_CopyObject(s, wwt, NULL, 0, &c) == CKR_ACTION_PROHIBITED,
       "set CKA_COPYABLE on again: refused, still not copied");
    frozen = attack_secret(s, 32, CK_TRUE, CK_FALSE);
    ok(p11->C_CopyObject(s, frozen, frozen_t, 1, &c) == CKR_OK, "an unmodifiable copy");
    ok(p11_set_bool(s, c, CKA_MODIFIABLE, CK_TRUE) != CKR_OK &&
           p11_set_bool(s, c, CKA_DECRYPT, CK_FALSE) != CKR_OK,
       "set CKA_MODIFIABLE on: refused, the copy stays unmodifiable");
    ok(p11_copy_bool(s, c, CKA_MODIFIABLE, CK_TRUE, &frozen) != CKR_OK,
       "copy it into a modifiable one: refused");
}

static void weaker_unwrap(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE k = attack_secret(s, 32, CK_TRUE, CK_TRUE), h, c;
    CK_ATTRIBUTE weak[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                           {CKA_KEY_TYPE, &aes, sizeof(aes)},
                           B(CKA_SENSITIVE, no),
                           B(CKA_EXTRACTABLE, yes)};
    CK_ATTRIBUTE value_guess[] = {{CKA_KEY_TYPE, &aes, sizeof(aes)},
                                  {CKA_VALUE, known, sizeof(known)}};
    uint8_t env[8192], env2[8192];
    CK_ULONG len, len2, before;

    is_rv(p11_wrap_default(s, strict, k, env, sizeof(env), &len), CKR_OK,
          "a sensitive key wrapped by the strict key");
    before = p11_count(s);
    ok(p11_unwrap_default(s, strict, env, len, weak, 4, &h) == CKR_TEMPLATE_INCONSISTENT &&
           !leaked(s, h),
       "unwrap as readable under the strict key: refused");
    ok(p11_unwrap_default(s, strict, env, len, weak, 3, &h) == CKR_TEMPLATE_INCONSISTENT &&
           !leaked(s, h),
       "unwrap with CKA_SENSITIVE false alone: refused");
    weak[2].type = CKA_EXTRACTABLE;
    weak[2].pValue = &yes;
    ok(p11_unwrap_default(s, strict, env, len, weak, 3, &h) == CKR_TEMPLATE_INCONSISTENT &&
           !leaked(s, h),
       "unwrap with CKA_EXTRACTABLE true alone: refused");
    ok(p11_unwrap_default(s, strict, env, len, value_guess, 2, &h) != CKR_OK && !leaked(s, h),
       "unwrap with a guessed CKA_VALUE in the template: refused, no oracle");
    is_num(p11_count(s), before, "no object made by any of them");
    is_rv(p11_unwrap_default(s, strict, env, len, weak, 2, &h), CKR_OK, "unwrap saying nothing");
    ok(!attack_value_readable(s, h), "the key is unreadable");
    ok(p11_set_bool(s, h, CKA_SENSITIVE, CK_FALSE) != CKR_OK && !attack_value_readable(s, h),
       "and stays so through C_SetAttributeValue");
    ok(p11_copy_bool(s, h, CKA_EXTRACTABLE, CK_TRUE, &c) != CKR_OK && !leaked(s, c),
       "and through C_CopyObject");
    ok(p11_wrap_default(s, kms, h, env2, sizeof(env2), &len2) != CKR_OK,
       "and it is not wrapped out again");
    k = attack_secret(s, 32, CK_FALSE, CK_TRUE);
    ok(p11_wrap_default(s, strict, k, env2, sizeof(env2), &len2) == CKR_KEY_NOT_WRAPPABLE,
       "the strict key does not wrap what its wrap template excludes");
}

static void wrap_and_decrypt(CK_SESSION_HANDLE s)
{
    CK_ULONG len32 = 32;
    CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE gen_wd[] = {
        {CKA_VALUE_LEN, &len32, sizeof(len32)}, B(CKA_WRAP, yes), B(CKA_DECRYPT, yes)};
    CK_ATTRIBUTE gen_ue[] = {
        {CKA_VALUE_LEN, &len32, sizeof(len32)}, B(CKA_UNWRAP, yes), B(CKA_ENCRYPT, yes)};
    CK_ATTRIBUTE create_wd[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                                {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                {CKA_VALUE, known, sizeof(known)},
                                B(CKA_WRAP, yes),
                                B(CKA_DECRYPT, yes)};
    CK_ATTRIBUTE unwrap_wd[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                                {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                B(CKA_UNWRAP, yes),
                                B(CKA_ENCRYPT, yes)};
    CK_ATTRIBUTE both_off_wrap_on[] = {B(CKA_DECRYPT, no), B(CKA_WRAP, yes)};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, k, w, c;
    uint8_t env[8192];
    CK_ULONG len;

    ok(p11->C_GenerateKey(s, &kg, gen_wd, 3, &h) == CKR_TEMPLATE_INCONSISTENT,
       "generate a key that wraps and decrypts: refused");
    ok(p11->C_GenerateKey(s, &kg, gen_ue, 3, &h) == CKR_TEMPLATE_INCONSISTENT,
       "generate a key that unwraps and encrypts: refused");
    ok(p11->C_CreateObject(s, create_wd, 5, &h) == CKR_TEMPLATE_INCONSISTENT,
       "create a key that wraps and decrypts: refused");
    is_rv(p11_wrap_default(s, kms, attack_secret(s, 32, CK_FALSE, CK_TRUE), env, sizeof(env), &len),
          CKR_OK, "an envelope");
    ok(p11_unwrap_default(s, kms, env, len, unwrap_wd, 4, &h) == CKR_TEMPLATE_INCONSISTENT,
       "unwrap a key that unwraps and encrypts: refused");
    k = attack_secret(s, 32, CK_TRUE, CK_TRUE); /* encrypts and decrypts */
    ok(p11_set_bool(s, k, CKA_WRAP, CK_TRUE) != CKR_OK &&
           p11->C_SetAttributeValue(s, k, both_off_wrap_on, 2) != CKR_OK,
       "set wrap on a decrypting key, even with decrypt off at once: refused");
    ok(p11_set_bool(s, k, CKA_DECRYPT, CK_FALSE) == CKR_OK &&
           p11_set_bool(s, k, CKA_WRAP, CK_TRUE) != CKR_OK,
       "decrypt off first, wrap on later: still refused");
    ok(p11_copy_bool(s, k, CKA_WRAP, CK_TRUE, &c) != CKR_OK, "a wrapping copy of it: refused");
    ok(p11_set_bool(s, k, CKA_UNWRAP, CK_TRUE) != CKR_OK, "unwrap on an encrypting key: refused");
    ok(p11->C_GenerateKey(s, &kg, gen_wd, 2, &w) == CKR_OK, "a wrap-only key");
    ok(p11_set_bool(s, w, CKA_DECRYPT, CK_TRUE) != CKR_OK &&
           p11_copy_bool(s, w, CKA_DECRYPT, CK_TRUE, &c) != CKR_OK,
       "decrypt on it (set or copy): refused");
}

static void forge_trusted(CK_SESSION_HANDLE s)
{
    CK_ULONG len32 = 32;
    CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE gen_t[] = {
        {CKA_VALUE_LEN, &len32, sizeof(len32)}, B(CKA_TRUSTED, yes), B(CKA_WRAP, yes)};
    CK_ATTRIBUTE create_t[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                               {CKA_KEY_TYPE, &aes, sizeof(aes)},
                               {CKA_VALUE, known, sizeof(known)},
                               B(CKA_TRUSTED, yes)};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE, k = attack_secret(s, 32, CK_TRUE, CK_TRUE), c;

    ok(p11->C_GenerateKey(s, &kg, gen_t, 3, &h) == CKR_ATTRIBUTE_READ_ONLY,
       "generate with CKA_TRUSTED true: refused");
    ok(p11->C_CreateObject(s, create_t, 4, &h) == CKR_ATTRIBUTE_READ_ONLY,
       "create with CKA_TRUSTED true: refused");
    ok(p11_set_bool(s, k, CKA_TRUSTED, CK_TRUE) == CKR_ATTRIBUTE_READ_ONLY,
       "set CKA_TRUSTED true: refused");
    ok(p11_copy_bool(s, k, CKA_TRUSTED, CK_TRUE, &c) == CKR_ATTRIBUTE_READ_ONLY,
       "copy with CKA_TRUSTED true: refused");
    ok(p11_set_bool(s, kms, CKA_TRUSTED, CK_TRUE) != CKR_OK, "make the KMS key trusted: refused");
}

static void read_sensitive(CK_SESSION_HANDLE s)
{
    CK_ATTRIBUTE imp[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                          {CKA_KEY_TYPE, &aes, sizeof(aes)},
                          {CKA_VALUE, known, sizeof(known)},
                          B(CKA_SENSITIVE, yes),
                          {CKA_LABEL, "victim", 6}};
    CK_ATTRIBUTE by_value[] = {{CKA_VALUE, known, sizeof(known)}};
    CK_ATTRIBUTE to_data[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)}};
    CK_ATTRIBUTE get[] = {{CKA_LABEL, NULL, 0}, {CKA_VALUE, NULL, 0}};
    CK_OBJECT_HANDLE h, c = CK_INVALID_HANDLE, found[4];
    CK_ULONG n = 99;

    is_rv(p11->C_CreateObject(s, imp, 5, &h), CKR_OK, "a sensitive key of known value");
    ok(p11->C_GetAttributeValue(s, h, get, 2) == CKR_ATTRIBUTE_SENSITIVE &&
           get[1].ulValueLen == CK_UNAVAILABLE_INFORMATION,
       "C_GetAttributeValue: not even its length through CKA_VALUE");
    ok(p11->C_FindObjectsInit(s, by_value, 1) == CKR_OK &&
           p11->C_FindObjects(s, found, 4, &n) == CKR_OK && n == 0,
       "C_FindObjects by the right CKA_VALUE finds nothing: no oracle");
    p11->C_FindObjectsFinal(s);
    ok(p11->C_CopyObject(s, h, to_data, 1, &c) != CKR_OK && !leaked(s, c),
       "copy it into a CKO_DATA object: refused");
    ok(p11->C_SetAttributeValue(s, h, to_data, 1) != CKR_OK && !attack_value_readable(s, h),
       "turn it into a CKO_DATA object: refused");
    ok(p11->C_CopyObject(s, h, NULL, 0, &c) == CKR_OK && !attack_value_readable(s, c),
       "a plain copy is just as unreadable");
}

static void data_as_key(CK_SESSION_HANDLE s)
{
    CK_ATTRIBUTE base[6] = {{CKA_CLASS, &data_cls, sizeof(data_cls)},
                            {CKA_VALUE, known, sizeof(known)},
                            {CKA_LABEL, "fake", 4}};
    static const CK_ATTRIBUTE_TYPE key_attrs[] = {CKA_KEY_TYPE,    CKA_ENCRYPT, CKA_DECRYPT,
                                                  CKA_WRAP,        CKA_UNWRAP,  CKA_SENSITIVE,
                                                  CKA_EXTRACTABLE, CKA_TRUSTED};
    CK_ATTRIBUTE only_secret[] = {{CKA_CLASS, &secret_cls, sizeof(secret_cls)},
                                  {CKA_LABEL, "fake", 4}};
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, known, 16}, env_m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE d, h, k = attack_secret(s, 32, CK_FALSE, CK_TRUE), found[4];
    CK_ULONG n = 99, len, i, refused = 0;
    uint8_t env[8192];
    CK_ULONG ul = CKK_AES;

    for (i = 0; i < sizeof(key_attrs) / sizeof(key_attrs[0]); i++) {
        base[3].type = key_attrs[i];
        base[3].pValue = key_attrs[i] == CKA_KEY_TYPE ? (void *)&ul : (void *)&yes;
        base[3].ulValueLen = key_attrs[i] == CKA_KEY_TYPE ? sizeof(ul) : sizeof(CK_BBOOL);
        refused += p11->C_CreateObject(s, base, 4, &h) == CKR_TEMPLATE_INCONSISTENT;
    }
    is_num(refused, 8, "a data object with any key attribute is refused");
    is_rv(p11->C_CreateObject(s, base, 3, &d), CKR_OK, "a plain data object holding 32 bytes");
    ok(p11->C_EncryptInit(s, &cbc, d) != CKR_OK, "it does not encrypt");
    ok(p11->C_DecryptInit(s, &cbc, d) != CKR_OK, "nor decrypt");
    len = sizeof(env);
    ok(p11->C_WrapKey(s, &env_m, d, k, env, &len) != CKR_OK, "nor act as a wrapping key");
    len = sizeof(env);
    ok(p11->C_WrapKey(s, &env_m, kms, d, env, &len) != CKR_OK, "nor is it wrapped as a key");
    ok(p11->C_FindObjectsInit(s, only_secret, 2) == CKR_OK &&
           p11->C_FindObjects(s, found, 4, &n) == CKR_OK && n == 0,
       "a search for secret keys does not find it");
    p11->C_FindObjectsFinal(s);
    ok(p11->C_SetAttributeValue(s, d, only_secret, 1) != CKR_OK, "it cannot become a secret key");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    char members[512], extra[1024];

    test_start();
    p11_load();
    memset(known, 0x4b, sizeof(known));
    attack_key_members(members, sizeof(members));
    snprintf(extra, sizeof(extra),
             ",\n  {\"label\": \"kms-strict\", %s, \"unwrap_template\": {\"sensitive\": true, "
             "\"extractable\": false}, \"wrap_template\": {\"sensitive\": true}}",
             members);
    is_rv(attack_init(NULL, extra), CKR_OK, "C_Initialize");
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
    strict = p11_find_label(s, "kms-strict");
    ok(kms != CK_INVALID_HANDLE && strict != CK_INVALID_HANDLE, "the KMS keys are there");
    flip_one_way(s);
    weaker_unwrap(s);
    wrap_and_decrypt(s);
    forge_trusted(s);
    read_sensitive(s);
    data_as_key(s);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
