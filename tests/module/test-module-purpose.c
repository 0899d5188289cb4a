/* test-module-purpose.c - what an envelope holds, enforced by the KMS: C_Decrypt refuses a
 * wrapped key and C_UnwrapKey refuses data before any KMS call, an edited header is refused by
 * the KMS itself, version-1 envelopes (committed fixtures) still unwrap, decrypt_v1_envelopes,
 * and reserved context keys on every path. Local backend; the AWS half is in tests/backends/aws. */
#include "tests/module/p11.h"

static const char *audit_log;
static CK_SESSION_HANDLE sess;
static CK_OBJECT_HANDLE master, legacy;

/* The context the fixtures were made with (tests/module/fixtures/make-v1.c). */
static const char *fixture_kv[] = {"app=fixture", "id=v1"};
static const char fixture_box[] = "p11kms v1 data box";

/* Lines of the log that contain what. The audit lines ("unwrap with", "KMS decrypt") are
 * written only after the KMS was asked, so an unchanged count means no KMS call. */
static int log_count(const char *what)
{
    return p11_file_count(audit_log, what);
}

static size_t read_fixture(const char *name, uint8_t *out, size_t cap)
{
    const char *top = getenv("top_srcdir");
    char path[512];
    size_t n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/module/fixtures/%s", top ? top : ".", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }
    n = fread(out, 1, cap, f);
    fclose(f);
    return n;
}

static CK_RV unwrap(CK_MECHANISM *m, CK_OBJECT_HANDLE kms, const uint8_t *in, CK_ULONG len,
                    CK_OBJECT_HANDLE *out)
{
    return p11_unwrap(sess, m, kms, in, len, out);
}

static CK_RV decrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE kms, const uint8_t *in, CK_ULONG len,
                     uint8_t *out, CK_ULONG *out_len)
{
    *out_len = 4096;
    return p11_crypt(sess, 0, m, kms, in, len, out, out_len);
}

static CK_RV encrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE kms, const uint8_t *in, CK_ULONG len,
                     uint8_t *out, CK_ULONG *out_len)
{
    *out_len = 4096;
    return p11_crypt(sess, 1, m, kms, in, len, out, out_len);
}

static void test_v1_fixtures(void)
{
    CK_P11KMS_CONTEXT_PAIR pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)}, none = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t wrapped[512], box[512], v[64], out[4096], env[4096];
    CK_ULONG wlen, blen, vlen = sizeof(v), olen, elen, i;
    CK_OBJECT_HANDLE k, k2;
    int calls, refusals, ok_bytes = 1;

    p11_context(&p, pairs, fixture_kv, 2);
    wlen = read_fixture("v1-wrapped-key.bin", wrapped, sizeof(wrapped));
    blen = read_fixture("v1-data.bin", box, sizeof(box));
    ok(wlen > 6 && wrapped[4] == 1 && blen > 6 && box[4] == 1, "the fixtures are version 1");

    is_rv(unwrap(&m, master, wrapped, wlen, &k), CKR_OK,
          "a version-1 wrapped key made by the old module still unwraps");
    ok(p11_value(sess, k, v, &vlen) && vlen == 32, "a 32-byte key");
    for (i = 0; i < 32; i++)
        ok_bytes &= v[i] == (uint8_t)i;
    ok(ok_bytes, "with the value it was wrapped with (00 01 .. 1f)");
    is_rv(unwrap(&none, master, wrapped, wlen, &k2), CKR_WRAPPED_KEY_INVALID,
          "...and still needs its context");

    calls = log_count("KMS decrypt");
    refusals = log_count("decrypt_v1_envelopes");
    is_rv(decrypt(&m, master, box, blen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt refuses a version-1 envelope by default");
    is_num(log_count("KMS decrypt"), calls, "...before any KMS call");
    is_num(log_count("decrypt_v1_envelopes"), refusals + 1, "one log line naming the option");
    is_rv(decrypt(&m, master, wrapped, wlen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "a version-1 wrapped key is not opened as data either");

    is_rv(decrypt(&m, legacy, box, blen, out, &olen), CKR_OK,
          "a key with decrypt_v1_envelopes opens version-1 data");
    ok(olen == strlen(fixture_box) && memcmp(out, fixture_box, olen) == 0, "the old secret");
    /* Why the option is off by default: it cannot tell a version-1 wrapped key from data. */
    is_rv(decrypt(&m, legacy, wrapped, wlen, out, &olen), CKR_OK,
          "with the option, a version-1 wrapped key comes out as data (the documented risk)");
    ok(olen == 32 && memcmp(out, v, 32) == 0, "...its value in the clear");

    /* Migration of data: decrypt under the option, encrypt again: version 2, purpose data. */
    is_rv(decrypt(&m, legacy, box, blen, out, &olen), CKR_OK, "migrate: decrypt the old box");
    is_rv(encrypt(&m, master, out, olen, env, &elen), CKR_OK, "encrypt it again");
    ok(env[4] == 2 && env[5] == 2, "a version-2 data envelope");
    is_rv(decrypt(&m, master, env, elen, out, &olen), CKR_OK, "a key without the option opens it");
    ok(olen == strlen(fixture_box) && memcmp(out, fixture_box, olen) == 0, "the same secret");

    /* Migration of wrapped keys (what p11kms rewrap does): unwrap, wrap again. */
    elen = sizeof(env);
    is_rv(p11->C_WrapKey(sess, &m, master, k, env, &elen), CKR_OK, "wrap the old key again");
    ok(env[4] == 2 && env[5] == 1, "a version-2 wrapped-key envelope");
    is_rv(unwrap(&m, master, env, elen, &k2), CKR_OK, "it unwraps");
    is_rv(decrypt(&m, legacy, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "and no key opens it as data any more, not even one with the option");

    /* Relabelled: the KMS binds the version, so neither direction is accepted. */
    elen = p11_env_as_v2(wrapped, wlen, 1, env);
    calls = log_count("unwrap with");
    is_rv(unwrap(&m, master, env, elen, &k2), CKR_WRAPPED_KEY_INVALID,
          "a version-1 envelope relabelled version 2 is refused");
    is_num(log_count("unwrap with"), calls + 1, "...by the KMS (it was asked)");
    elen = p11_env_as_v2(box, blen, 2, env);
    is_rv(decrypt(&m, master, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "version-1 data relabelled version-2 data is refused by the KMS");
}

static void test_refusals(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32), k;
    uint8_t env[4096], box[4096], out[4096], chosen[32];
    CK_ULONG elen = sizeof(env), blen, olen, objects;
    int calls, lines;

    memset(chosen, 0x41, sizeof(chosen));
    is_rv(p11->C_WrapKey(sess, &m, master, dk, env, &elen), CKR_OK, "wrap a data key");
    ok(memcmp(env, "PKMS", 4) == 0 && env[4] == 2 && env[5] == 1,
       "a version-2 envelope that says it holds a wrapped key");

    calls = log_count("KMS decrypt");
    lines = log_count("holds a wrapped key");
    is_rv(decrypt(&m, master, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt of a wrapped key is refused");
    is_num(log_count("KMS decrypt"), calls, "...before any KMS call");
    is_num(log_count("holds a wrapped key"), lines + 1, "...with one log line saying why");
    is_rv(decrypt(&m, legacy, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "...also by a key with decrypt_v1_envelopes");
    elen = sizeof(env);
    is_rv(p11->C_WrapKey(sess, &kwp, master, dk, env, &elen), CKR_OK, "wrap with AES_KEY_WRAP_PAD");
    is_rv(decrypt(&m, master, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "...the same refusal");

    is_rv(encrypt(&m, master, chosen, sizeof(chosen), box, &blen), CKR_OK,
          "C_Encrypt of 32 chosen bytes");
    ok(box[4] == 2 && box[5] == 2, "a version-2 envelope that says it holds data");
    objects = p11_count(sess);
    calls = log_count("unwrap with");
    lines = log_count("holds data");
    is_rv(unwrap(&m, master, box, blen, &k), CKR_WRAPPED_KEY_INVALID,
          "C_UnwrapKey of data is refused: no key of the caller's choosing");
    is_num(log_count("unwrap with"), calls, "...before any KMS call");
    is_num(log_count("holds data"), lines + 1, "...with one log line saying why");
    is_rv(unwrap(&kwp, master, box, blen, &k), CKR_WRAPPED_KEY_INVALID, "...with KWP too");
    is_num(p11_count(sess), objects, "no object was created");
    p11->C_DestroyObject(sess, dk);
}

/* The header says one thing, the KMS ciphertext was bound to another: the KMS refuses. */
static void test_header_flips(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32), k;
    uint8_t env[4096], box[4096], edited[4096], out[4096], secret[32];
    CK_ULONG elen = sizeof(env), blen, len, olen, objects;
    int calls;

    memset(secret, 0x5a, sizeof(secret));
    is_rv(p11->C_WrapKey(sess, &m, master, dk, env, &elen), CKR_OK, "wrap");
    is_rv(encrypt(&m, master, secret, sizeof(secret), box, &blen), CKR_OK, "encrypt");
    objects = p11_count(sess);

    memcpy(edited, env, elen);
    edited[5] = 2;
    calls = log_count("KMS decrypt");
    is_rv(decrypt(&m, master, edited, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "a wrapped key relabelled data: C_Decrypt refused");
    is_num(log_count("KMS decrypt"), calls + 1, "...by the KMS (it was asked and said no)");

    memcpy(edited, box, blen);
    edited[5] = 1;
    calls = log_count("unwrap with");
    is_rv(unwrap(&m, master, edited, blen, &k), CKR_WRAPPED_KEY_INVALID,
          "data relabelled a wrapped key: C_UnwrapKey refused");
    is_num(log_count("unwrap with"), calls + 1, "...by the KMS");

    len = p11_env_as_v1(env, elen, edited);
    is_rv(unwrap(&m, master, edited, len, &k), CKR_WRAPPED_KEY_INVALID,
          "a wrapped key relabelled version 1: C_UnwrapKey refused by the KMS");
    is_rv(decrypt(&m, legacy, edited, len, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "...and C_Decrypt with decrypt_v1_envelopes refused by the KMS");
    len = p11_env_as_v1(box, blen, edited);
    is_rv(decrypt(&m, legacy, edited, len, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "data relabelled version 1: C_Decrypt with decrypt_v1_envelopes refused by the KMS");
    is_rv(unwrap(&m, master, edited, len, &k), CKR_WRAPPED_KEY_INVALID,
          "...and C_UnwrapKey refused by the KMS");
    is_num(p11_count(sess), objects, "no object was created by any of them");
    p11->C_DestroyObject(sess, dk);
}

/* An application cannot bind the reserved pair itself, on any path. */
static void test_reserved_keys(void)
{
    static const char *const forged[] = {"p11kms:purpose=wrapped-key", "P11KMS:Purpose=data",
                                         "p11kms:other=x"};
    CK_P11KMS_CONTEXT_PAIR pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    static const uint8_t enc[] = {0,   1,   0,   14,  'p', '1', '1', 'k', 'm', 's', ':', 'p',
                                  'u', 'r', 'p', 'o', 's', 'e', 0,   4,   'd', 'a', 't', 'a'};
    CK_MECHANISM em = {CKM_P11KMS_ENVELOPE_ENCODED, (void *)enc, sizeof(enc)};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32), k;
    uint8_t env[4096], out[4096];
    CK_ULONG elen = sizeof(env), olen;
    const char *kv[2];
    char what[128];
    size_t i;
    int merge;

    memset(env, 0, sizeof(env));
    for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++)
        for (merge = 0; merge < 2; merge++) {
            kv[0] = "app=x";
            kv[1] = forged[i];
            p11_context(&p, pairs, kv, 2);
            p.flags = merge ? P11KMS_FLAG_MERGE_DEFAULT_CONTEXT : 0;
            elen = 64;
            snprintf(what, sizeof(what),
                     "%s%s refused by C_WrapKey, C_UnwrapKey, C_EncryptInit "
                     "and C_DecryptInit",
                     forged[i], merge ? " (merged with the default)" : "");
            ok(p11->C_WrapKey(sess, &m, master, dk, env, &elen) == CKR_MECHANISM_PARAM_INVALID &&
                   unwrap(&m, master, env, 64, &k) == CKR_MECHANISM_PARAM_INVALID &&
                   p11->C_EncryptInit(sess, &m, master) == CKR_MECHANISM_PARAM_INVALID &&
                   p11->C_DecryptInit(sess, &m, master) == CKR_MECHANISM_PARAM_INVALID,
               what);
        }
    elen = sizeof(env);
    is_rv(p11->C_WrapKey(sess, &em, master, dk, env, &elen), CKR_MECHANISM_PARAM_INVALID,
          "CKM_P11KMS_ENVELOPE_ENCODED with the reserved key refused by C_WrapKey");
    is_rv(decrypt(&em, master, env, elen, out, &olen), CKR_MECHANISM_PARAM_INVALID,
          "...and by C_DecryptInit");
    p11->C_DestroyObject(sess, dk);
}

/* The two-call convention: the length query is an upper bound of the one-byte-longer v2. */
static void test_length_bounds(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32);
    static const CK_ULONG sizes[] = {1, 32, 4096};
    uint8_t in[4096], out[8192];
    CK_ULONG bound = 0, len, i;
    int short_ok = 1;

    memset(in, 7, sizeof(in));
    is_rv(p11->C_WrapKey(sess, &m, master, dk, NULL, &bound), CKR_OK, "wrap length query");
    len = sizeof(out);
    is_rv(p11->C_WrapKey(sess, &m, master, dk, out, &len), CKR_OK, "wrap");
    ok(len <= bound && len == 7 + 11 + strlen("insecure-test-key") + 12 + 32 + 16,
       "wrap: the envelope (7-byte header) fits the queried length");
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        bound = 0;
        if (p11->C_EncryptInit(sess, &m, master) != CKR_OK ||
            p11->C_Encrypt(sess, in, sizes[i], NULL, &bound) != CKR_OK)
            short_ok = 0;
        len = sizeof(out);
        if (p11->C_Encrypt(sess, in, sizes[i], out, &len) != CKR_OK || len > bound ||
            len != 7 + 11 + strlen("insecure-test-key") + 12 + sizes[i] + 16)
            short_ok = 0;
    }
    ok(short_ok, "C_Encrypt of 1, 32 and 4096 bytes: each envelope fits its queried length");
    p11->C_DestroyObject(sess, dk);
}

/* A reserved key in a key's default context stops C_Initialize, naming the field. */
static void test_reserved_in_config(void)
{
    const char *path = p11_write("reserved.conf",
                                 "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", "
                                 "\"backend\": \"local\", \"key_id\": \"insecure-test-key\", "
                                 "\"context\": {\"P11KMS:purpose\": \"wrapped-key\"}}]}]}\n",
                                 0600);
    int lines = log_count("tokens[0].keys[0].context.P11KMS:purpose");

    is_rv(p11_init_config(path), CKR_ARGUMENTS_BAD,
          "C_Initialize refuses a reserved key in a default context");
    is_num(log_count("tokens[0].keys[0].context.P11KMS:purpose"), lines + 1,
           "one log line naming the field");
}

int main(void)
{
    const char *path;
    char logenv[400];

    test_start();
    p11_load();
    path = p11_write("p11kms.conf",
                     "{\"tokens\": [{\"label\": \"app\", \"keys\": [\n"
                     "  {\"label\": \"master\", \"backend\": \"local\", \"key_id\": "
                     "\"insecure-test-key\"},\n"
                     "  {\"label\": \"legacy\", \"backend\": \"local\", \"key_id\": "
                     "\"insecure-test-key\", \"decrypt_v1_envelopes\": true}]}]}\n",
                     0600);
    audit_log = p11_write("audit.log", "", 0600);
    snprintf(logenv, sizeof(logenv), "info,file:%s", audit_log);
    setenv("P11KMS_LOG", logenv, 1);
    is_rv(p11_init_config(path), CKR_OK, "C_Initialize");
    is_num(log_count("decrypt_v1_envelopes is true"), 1,
           "C_Initialize warns once about the key with decrypt_v1_envelopes");
    ok(log_count("key \"legacy\" opens version-1") == 1, "...naming it");
    sess = p11_open(0);
    master = p11_find_label(sess, "master");
    legacy = p11_find_label(sess, "legacy");
    ok(master != CK_INVALID_HANDLE && legacy != CK_INVALID_HANDLE, "both keys found");
    test_v1_fixtures();
    test_refusals();
    test_header_flips();
    test_reserved_keys();
    test_length_bounds();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    test_reserved_in_config();
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
