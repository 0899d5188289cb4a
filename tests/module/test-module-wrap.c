/* test-module-wrap.c - envelope wrap/unwrap and KMS encryption through the function list:
 * contexts, default contexts, the two-call convention without a second KMS call, refusals
 * (wrong context, tampering, other key, permissions), login-protected tokens, key rotation. */
#include <time.h>
#include "tests/module/p11.h"

static const char *audit_log;

/* Lines of the audit log (P11KMS_LOG=info) that record a KMS call of this kind. */
static int audit_count(const char *what)
{
    return p11_file_count(audit_log, what);
}

static CK_OBJECT_HANDLE key_master, key_enc_only, key_dec_only, key_other;

static CK_RV wrap(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE kms, CK_OBJECT_HANDLE dk,
                  uint8_t *out, CK_ULONG *len)
{
    *len = 4096;
    return p11->C_WrapKey(s, m, kms, dk, out, len);
}

static CK_RV unwrap(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE kms, uint8_t *in,
                    CK_ULONG len, CK_OBJECT_HANDLE *out)
{
    P11_UNWRAP_TEMPLATE(t);
    return p11->C_UnwrapKey(s, m, kms, in, len, t, 4, out);
}

static void test_wrap_unwrap(CK_SESSION_HANDLE s)
{
    const char *ctx_kv[] = {"table=users", "id=42"}, *wrong_kv[] = {"table=users", "id=43"};
    CK_P11KMS_CONTEXT_PAIR pairs[2], wrong_pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS params, wrong;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &params, sizeof(params)};
    CK_MECHANISM mw = {CKM_P11KMS_ENVELOPE, &wrong, sizeof(wrong)};
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out = 0;
    uint8_t env[4096], env2[4096], v1[64], v2[64];
    CK_ULONG len = 0, small = 10, l1 = sizeof(v1), l2 = sizeof(v2), i, objects;
    int before, bad;

    p11_context(&params, pairs, ctx_kv, 2);
    p11_context(&wrong, wrong_pairs, wrong_kv, 2);
    ok(dk != CK_INVALID_HANDLE, "data key generated");

    /* Two-call convention: the size query costs no KMS call, nor does the retry. */
    before = audit_count("wrap with");
    is_rv(p11->C_WrapKey(s, &m, key_master, dk, NULL, &len), CKR_OK, "wrap length query");
    ok(len >= 7 + 11 + 17 + 12 + 32 + 16, "length query gives an upper bound");
    is_num(audit_count("wrap with"), before, "length query made no KMS call");
    is_rv(p11->C_WrapKey(s, &m, key_master, dk, env, &small), CKR_BUFFER_TOO_SMALL,
          "short buffer");
    ok(small <= len && small > 32, "short buffer reports the exact length");
    is_rv(p11->C_WrapKey(s, &m, key_master, dk, env, &small), CKR_OK, "retry with that length");
    is_num(audit_count("wrap with"), before + 1, "one KMS call for the three calls");
    len = small;
    ok(memcmp(env, "PKMS", 4) == 0 && env[4] == 2 && env[5] == 1,
       "output is a version 2 p11kms envelope holding a wrapped key");

    is_rv(unwrap(s, &m, key_master, env, len, &out), CKR_OK, "unwrap with the same context");
    ok(p11_value(s, dk, v1, &l1) && p11_value(s, out, v2, &l2) && l1 == 32 && l2 == 32 &&
           memcmp(v1, v2, 32) == 0,
       "unwrapped key equals the data key");

    objects = p11_count(s);
    is_rv(unwrap(s, &mw, key_master, env, len, &out), CKR_WRAPPED_KEY_INVALID,
          "wrong context refused");
    is_rv(unwrap(s, NULL, key_master, env, len, &out), CKR_ARGUMENTS_BAD, "NULL mechanism");
    {
        CK_MECHANISM none = {CKM_P11KMS_ENVELOPE, NULL, 0}; /* default context: empty */
        is_rv(unwrap(s, &none, key_other, env, len, &out), CKR_WRAPPED_KEY_INVALID,
              "another KMS key refuses the envelope");
    }
    bad = 0;
    for (i = 0; i < len; i++) {
        memcpy(env2, env, len);
        env2[i] ^= 0x01;
        if (unwrap(s, &m, key_master, env2, len, &out) != CKR_WRAPPED_KEY_INVALID)
            bad++;
    }
    is_num(bad, 0, "every single-bit change anywhere in the envelope is refused");
    bad = 0;
    for (i = 6; i < len; i++) /* below 6 bytes: CKR_WRAPPED_KEY_LEN_RANGE */
        if (unwrap(s, &m, key_master, env, i, &out) != CKR_WRAPPED_KEY_INVALID)
            bad++;
    is_num(bad, 0, "every truncation is refused");
    is_rv(unwrap(s, &m, key_master, env, 3, &out), CKR_WRAPPED_KEY_LEN_RANGE,
          "a 3-byte blob is out of range");
    is_num(p11_count(s), objects, "no object was created by any refused unwrap");
}

static void test_default_context(CK_SESSION_HANDLE s)
{
    /* key_master has the default context app=test in the configuration. */
    const char *kv[] = {"app=test"}, *extra_kv[] = {"id=7"}, *both_kv[] = {"app=test", "id=7"};
    CK_P11KMS_CONTEXT_PAIR p1[1], p2[1], p3[2];
    CK_P11KMS_ENVELOPE_PARAMS explicit, merge, both;
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    uint8_t iv5649[4] = {0xA6, 0x59, 0x59, 0xA6}, badiv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CK_MECHANISM kwp_iv = {CKM_AES_KEY_WRAP_KWP, iv5649, 4};
    CK_MECHANISM kwp_bad = {CKM_AES_KEY_WRAP_KWP, badiv, 8};
    CK_MECHANISM vendor_default = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_MECHANISM m_explicit = {CKM_P11KMS_ENVELOPE, &explicit, sizeof(explicit)};
    CK_MECHANISM m_merge = {CKM_P11KMS_ENVELOPE, &merge, sizeof(merge)};
    CK_MECHANISM m_both = {CKM_P11KMS_ENVELOPE, &both, sizeof(both)};
    uint8_t empty_enc[2] = {0, 0};
    CK_MECHANISM m_empty = {CKM_P11KMS_ENVELOPE_ENCODED, empty_enc, 2};
    /* canonical encoding of {app=test} */
    uint8_t app_enc[] = {0, 1, 0, 3, 'a', 'p', 'p', 0, 4, 't', 'e', 's', 't'};
    CK_MECHANISM m_encoded = {CKM_P11KMS_ENVELOPE_ENCODED, app_enc, sizeof(app_enc)};
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out = 0;
    uint8_t env[4096];
    CK_ULONG len;
    uint8_t ctxbuf[64];
    CK_ATTRIBUTE dctx = {CKA_P11KMS_DEFAULT_CONTEXT, ctxbuf, sizeof(ctxbuf)};

    p11_context(&explicit, p1, kv, 1);
    p11_context(&merge, p2, extra_kv, 1);
    merge.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    p11_context(&both, p3, both_kv, 2);

    is_rv(p11->C_GetAttributeValue(s, key_master, &dctx, 1), CKR_OK, "default context readable");
    ok(dctx.ulValueLen == sizeof(app_enc) && memcmp(ctxbuf, app_enc, sizeof(app_enc)) == 0,
       "CKA_P11KMS_DEFAULT_CONTEXT is the canonical encoding");
    is_rv(wrap(s, &kwp, key_master, dk, env, &len), CKR_OK, "CKM_AES_KEY_WRAP_PAD wraps");
    is_rv(unwrap(s, &m_explicit, key_master, env, len, &out), CKR_OK,
          "...under the key's default context");
    is_rv(unwrap(s, &vendor_default, key_master, env, len, &out), CKR_OK,
          "vendor mechanism without parameter uses the default context");
    is_rv(unwrap(s, &m_encoded, key_master, env, len, &out), CKR_OK,
          "encoded-context mechanism (for byte-only bindings)");
    is_rv(unwrap(s, &m_empty, key_master, env, len, &out), CKR_WRAPPED_KEY_INVALID,
          "an explicit empty context is not the default");
    is_rv(unwrap(s, &kwp_iv, key_master, env, len, &out), CKR_OK,
          "KWP with the RFC 5649 default IV as parameter");
    is_rv(unwrap(s, &kwp_bad, key_master, env, len, &out), CKR_MECHANISM_PARAM_INVALID,
          "any other IV refused");
    is_rv(wrap(s, &m_merge, key_master, dk, env, &len), CKR_OK, "wrap merging the default");
    is_rv(unwrap(s, &m_both, key_master, env, len, &out), CKR_OK,
          "merged context is default plus the call's pairs");
    is_rv(unwrap(s, &m_explicit, key_master, env, len, &out), CKR_WRAPPED_KEY_INVALID,
          "the default alone does not open it");
}

static void test_bad_params(CK_SESSION_HANDLE s)
{
    CK_P11KMS_CONTEXT_PAIR pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32);
    uint8_t env[4096];
    CK_ULONG len;
    const char *dup[] = {"a=1", "a=2"}, *empty_key[] = {"=1"};
    uint8_t badutf8[] = {'k', 0xC0, 0x80};

    p11_context(&p, pairs, dup, 2);
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_PARAM_INVALID,
          "duplicate context keys refused");
    p11_context(&p, pairs, empty_key, 1);
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_PARAM_INVALID,
          "empty context key refused");
    p11_context(&p, pairs, dup, 1);
    pairs[0].pKey = badutf8;
    pairs[0].ulKeyLen = sizeof(badutf8);
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_PARAM_INVALID,
          "overlong UTF-8 refused");
    p11_context(&p, pairs, dup, 1);
    p.ulVersion = 2;
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_PARAM_INVALID,
          "unknown parameter version refused");
    p.ulVersion = 1;
    m.ulParameterLen = sizeof(p) - 1;
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_PARAM_INVALID,
          "wrong parameter size refused");
    m.mechanism = CKM_AES_GCM;
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_MECHANISM_INVALID,
          "AES-GCM does not wrap here");
}

static void test_permissions(CK_SESSION_HANDLE s)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out = 0, kms2;
    CK_BBOOL w = 1, u = 1;
    CK_ATTRIBUTE t[] = {{CKA_WRAP, &w, 1}, {CKA_UNWRAP, &u, 1}};
    uint8_t env[4096];
    CK_ULONG len;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG l32 = 32;
    CK_ATTRIBUTE nx[] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_KEY_TYPE, &kt, sizeof(kt)},
                         {CKA_VALUE_LEN, &l32, sizeof(l32)},
                         {CKA_EXTRACTABLE, &p11_false, 1}};
    CK_MECHANISM kg = {CKM_AES_KEY_GEN, NULL, 0};

    is_rv(p11->C_GetAttributeValue(s, key_enc_only, t, 2), CKR_OK, "encrypt-only attributes");
    ok(w && !u, "encrypt-only key: CKA_WRAP true, CKA_UNWRAP false");
    is_rv(p11->C_GetAttributeValue(s, key_dec_only, t, 2), CKR_OK, "decrypt-only attributes");
    ok(!w && u, "decrypt-only key: CKA_WRAP false, CKA_UNWRAP true");
    is_rv(wrap(s, &m, key_dec_only, dk, env, &len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "decrypt-only key cannot wrap");
    is_rv(wrap(s, &m, key_enc_only, dk, env, &len), CKR_OK, "encrypt-only key wraps");
    is_rv(unwrap(s, &m, key_enc_only, env, len, &out), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "encrypt-only key cannot unwrap");
    is_rv(unwrap(s, &m, key_dec_only, env, len, &out), CKR_OK,
          "a decrypt-only host unwraps what an encrypt-only host wrapped");
    is_rv(p11->C_GenerateKey(s, &kg, nx, 4, &kms2), CKR_OK, "non-extractable data key");
    is_rv(wrap(s, &m, key_master, kms2, env, &len), CKR_KEY_UNEXTRACTABLE,
          "non-extractable key is not wrapped");
    is_rv(wrap(s, &m, key_master, key_other, env, &len), CKR_KEY_UNEXTRACTABLE,
          "a KMS key is never wrapped");
    is_rv(wrap(s, &m, dk, dk, env, &len), CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
          "a data key is no KMS wrapping key");
    is_rv(wrap(s, &m, 987654, dk, env, &len), CKR_WRAPPING_KEY_HANDLE_INVALID,
          "unknown wrapping key");
    is_rv(wrap(s, &m, key_master, 987654, env, &len), CKR_KEY_HANDLE_INVALID, "unknown key");
    is_rv(wrap(s, &m, key_master, dk, env, &len), CKR_OK, "wrap for template checks");
    {
        CK_ATTRIBUTE no_type[] = {{CKA_CLASS, &cls, sizeof(cls)}};
        CK_ULONG l16 = 16;
        CK_ATTRIBUTE short_len[] = {{CKA_KEY_TYPE, &kt, sizeof(kt)},
                                    {CKA_VALUE_LEN, &l16, sizeof(l16)}};
        int calls = audit_count("unwrap with");
        is_rv(p11->C_UnwrapKey(s, &m, key_master, env, len, no_type, 1, &out),
              CKR_TEMPLATE_INCOMPLETE, "unwrap template needs a key type");
        is_num(audit_count("unwrap with"), calls, "...refused before any KMS call");
        is_rv(p11->C_UnwrapKey(s, &m, key_master, env, len, short_len, 2, &out),
              CKR_TEMPLATE_INCONSISTENT, "template length differs from the wrapped key");
    }
}

static void test_kms_encrypt(CK_SESSION_HANDLE s)
{
    const char *kv[] = {"purpose=box"}, *wrong_kv[] = {"purpose=other"};
    CK_P11KMS_CONTEXT_PAIR pairs[1], wpairs[1];
    CK_P11KMS_ENVELOPE_PARAMS p, wp;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_MECHANISM mw = {CKM_P11KMS_ENVELOPE, &wp, sizeof(wp)};
    CK_MECHANISM gcm = {CKM_AES_GCM, NULL, 0};
    const char *secret = "database password: correct horse battery staple";
    uint8_t ct[8192], pt[8192], big[P11KMS_KMS_PLAINTEXT_MAX + 1];
    CK_ULONG ctlen = 0, ptlen, small = 5;
    int calls;

    p11_context(&p, pairs, kv, 1);
    p11_context(&wp, wpairs, wrong_kv, 1);
    memset(big, 'x', sizeof(big));
    is_rv(p11->C_EncryptInit(s, &m, key_master), CKR_OK, "C_EncryptInit with a KMS key");
    calls = audit_count("KMS encrypt");
    is_rv(p11->C_Encrypt(s, (uint8_t *)secret, strlen(secret), NULL, &ctlen), CKR_OK,
          "encrypt length query");
    is_rv(p11->C_Encrypt(s, (uint8_t *)secret, strlen(secret), ct, &small), CKR_BUFFER_TOO_SMALL,
          "encrypt into a short buffer");
    ok(small <= ctlen, "exact length within the bound");
    is_rv(p11->C_Encrypt(s, (uint8_t *)secret, strlen(secret), ct, &small), CKR_OK,
          "encrypt retry");
    is_num(audit_count("KMS encrypt"), calls + 1, "one KMS call for three C_Encrypt calls");
    ctlen = small;
    is_rv(p11->C_Encrypt(s, (uint8_t *)secret, 1, ct, &small), CKR_OPERATION_NOT_INITIALIZED,
          "operation ended after success");
    is_rv(p11->C_DecryptInit(s, &m, key_master), CKR_OK, "C_DecryptInit with a KMS key");
    ptlen = sizeof(pt);
    is_rv(p11->C_Decrypt(s, ct, ctlen, pt, &ptlen), CKR_OK, "KMS decrypt");
    ok(ptlen == strlen(secret) && memcmp(pt, secret, ptlen) == 0, "secret comes back");
    is_rv(p11->C_DecryptInit(s, &mw, key_master), CKR_OK, "decrypt init, wrong context");
    ptlen = sizeof(pt);
    is_rv(p11->C_Decrypt(s, ct, ctlen, pt, &ptlen), CKR_ENCRYPTED_DATA_INVALID,
          "wrong context refused");
    /* multi-part: collected, then one KMS call */
    is_rv(p11->C_EncryptInit(s, &m, key_master), CKR_OK, "multi-part init");
    ptlen = 0;
    is_rv(p11->C_EncryptUpdate(s, (uint8_t *)secret, 10, ct, &ptlen), CKR_OK, "update 1");
    is_rv(p11->C_EncryptUpdate(s, (uint8_t *)secret + 10, strlen(secret) - 10, ct, &ptlen), CKR_OK,
          "update 2");
    ctlen = sizeof(ct);
    is_rv(p11->C_EncryptFinal(s, ct, &ctlen), CKR_OK, "final");
    is_rv(p11->C_DecryptInit(s, &m, key_master), CKR_OK, "decrypt multi-part result");
    ptlen = sizeof(pt);
    is_rv(p11->C_Decrypt(s, ct, ctlen, pt, &ptlen), CKR_OK, "decrypts");
    ok(ptlen == strlen(secret) && memcmp(pt, secret, ptlen) == 0, "multi-part round trip");
    is_rv(p11->C_EncryptInit(s, &m, key_master), CKR_OK, "init for an oversized secret");
    ctlen = sizeof(ct);
    is_rv(p11->C_Encrypt(s, big, sizeof(big), ct, &ctlen), CKR_DATA_LEN_RANGE,
          "more than 4 KiB refused");
    is_rv(p11->C_EncryptInit(s, &gcm, key_master), CKR_KEY_TYPE_INCONSISTENT,
          "a KMS key does no raw AES-GCM");
    is_rv(p11->C_EncryptInit(s, &m, key_dec_only), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "decrypt-only key cannot encrypt");
}

static void test_login(void)
{
    CK_SESSION_HANDLE s = p11_open(1);
    CK_TOKEN_INFO ti;
    CK_SESSION_INFO si;

    is_rv(p11->C_GetTokenInfo(1, &ti), CKR_OK, "token with a PIN");
    ok(ti.flags & CKF_LOGIN_REQUIRED, "login required");
    is_num(p11_count(s), 0, "its KMS key is private before login");
    is_rv(p11->C_Login(s, CKU_SO, (uint8_t *)"1234", 4), CKR_USER_TYPE_INVALID, "no SO");
    is_rv(p11->C_Login(s, CKU_USER, (uint8_t *)"4321", 4), CKR_PIN_INCORRECT, "wrong PIN");
    is_rv(p11->C_Login(s, CKU_USER, (uint8_t *)"1234", 4), CKR_OK, "right PIN");
    is_rv(p11->C_Login(s, CKU_USER, (uint8_t *)"1234", 4), CKR_USER_ALREADY_LOGGED_IN,
          "already logged in");
    is_rv(p11->C_GetSessionInfo(s, &si), CKR_OK, "session info");
    is_num(si.state, CKS_RW_USER_FUNCTIONS, "user functions after login");
    is_num(p11_count(s), 1, "key visible after login");
    ok(p11_find_label(s, "secret") != CK_INVALID_HANDLE, "found by label");
    is_rv(p11->C_Logout(s), CKR_OK, "logout");
    is_num(p11_count(s), 0, "private again after logout");
    is_rv(p11->C_Logout(s), CKR_USER_NOT_LOGGED_IN, "logout twice");
    p11->C_CloseSession(s);
}

static void test_rotation(CK_SESSION_HANDLE s, const char *keyfile)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out = 0;
    CK_ULONG version = 0, len, len2;
    CK_ATTRIBUTE v = {CKA_P11KMS_KEY_VERSION, &version, sizeof(version)};
    uint8_t env[4096], env2[4096];
    FILE *f;

    is_rv(p11->C_GetAttributeValue(s, key_other, &v, 1), CKR_OK, "key version readable");
    is_num(version, 1, "key file starts at version 1");
    is_rv(wrap(s, &m, key_other, dk, env, &len), CKR_OK, "wrap under version 1");
    ok(memcmp(env, "PKMS", 4) == 0, "envelope made");
    /* Another process rotates the key: a new version appears in the file. */
    sleep(1);
    f = fopen(keyfile, "a");
    ok(f != NULL && fputs("version 2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n", f) >= 0,
       "second version appended to the key file");
    if (f)
        fclose(f);
    sleep(2);
    is_rv(wrap(s, &m, key_other, dk, env2, &len2), CKR_OK, "wrap after rotation");
    is_rv(p11->C_GetAttributeValue(s, key_other, &v, 1), CKR_OK, "key version again");
    is_num(version, 2, "running module picked up version 2 without a restart");
    is_rv(unwrap(s, &m, key_other, env, len, &out), CKR_OK, "version 1 envelope still unwraps");
    is_rv(unwrap(s, &m, key_other, env2, len2, &out), CKR_OK, "version 2 envelope unwraps");
}

int main(void)
{
    char config[2048];
    const char *keyfile, *path;
    CK_SESSION_HANDLE s;

    test_start();
    p11_load();
    keyfile = p11_write("other.key",
                        "p11kms-key-file 1\n"
                        "name 0123456789abcdef0123456789abcdef\n"
                        "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                        0600);
    snprintf(config, sizeof(config),
             "{\"tokens\": [\n"
             " {\"label\": \"app\", \"keys\": [\n"
             "  {\"label\": \"master\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\",\n"
             "   \"context\": {\"app\": \"test\"}},\n"
             "  {\"label\": \"encrypt-only\", \"backend\": \"local\", \"key_id\": "
             "\"insecure-test-key\", \"permissions\": [\"wrap\", \"encrypt\"]},\n"
             "  {\"label\": \"decrypt-only\", \"backend\": \"local\", \"key_id\": "
             "\"insecure-test-key\", \"permissions\": [\"unwrap\", \"decrypt\"]},\n"
             "  {\"label\": \"other\", \"backend\": \"local\", \"key_file\": \"%s\"}]},\n"
             " {\"label\": \"locked\", \"pin\": \"1234\", \"keys\": [\n"
             "  {\"label\": \"secret\", \"backend\": \"local\", \"key_id\": "
             "\"insecure-test-key\"}]}]}\n",
             keyfile);
    path = p11_write("p11kms.conf", config, 0600);
    audit_log = p11_write("audit.log", "", 0600);
    {
        char logenv[400];
        snprintf(logenv, sizeof(logenv), "info,file:%s", audit_log);
        setenv("P11KMS_LOG", logenv, 1);
    }
    is_rv(p11_init_config(path), CKR_OK, "C_Initialize with a configuration file");
    s = p11_open(0);
    key_master = p11_find_label(s, "master");
    key_enc_only = p11_find_label(s, "encrypt-only");
    key_dec_only = p11_find_label(s, "decrypt-only");
    key_other = p11_find_label(s, "other");
    ok(key_master && key_enc_only && key_dec_only && key_other, "all four KMS keys found");
    test_wrap_unwrap(s);
    test_default_context(s);
    test_bad_params(s);
    test_permissions(s);
    test_kms_encrypt(s);
    test_login();
    test_rotation(s, keyfile);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
