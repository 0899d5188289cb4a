/* attack-envelope.c - a wrapped key is never opened as data and data never becomes a key: with
 * one KMS key allowed to wrap, unwrap, encrypt and decrypt, every way to cross the two (other
 * wrap mechanisms, edited headers, version-1 relabelling, a forged reserved context pair,
 * another KMS key) is refused, and no key value or plaintext comes out. */
#include "tests/attacks/attack.h"

static CK_SESSION_HANDLE s;
static CK_OBJECT_HANDLE kms, legacy, other;
static uint8_t secret[32]; /* the data key's value: must never appear in an output */
static CK_OBJECT_HANDLE dk;

/* A readable data key, so the attack can look for its value in what comes back. */
static void make_data_key(void)
{
    CK_ULONG len = sizeof(secret);

    dk = attack_secret(s, 32, CK_FALSE, CK_TRUE);
    ok(dk != CK_INVALID_HANDLE && p11_value(s, dk, secret, &len) && len == 32,
       "a readable data key to look for");
}

/* C_Decrypt of in with key k under mechanism m; 1 when it was refused and nothing in the output
 * buffer holds the data key (or what `also` points to, when given). */
static int decrypt_refused(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const uint8_t *in, CK_ULONG len,
                           const uint8_t *also)
{
    uint8_t out[8192];
    CK_ULONG out_len = sizeof(out);
    CK_RV rv;

    memset(out, 0, sizeof(out));
    rv = p11_crypt(s, 0, m, k, in, len, out, &out_len);
    if (rv == CKR_OK)
        diag("C_Decrypt returned %lu bytes", (unsigned long)out_len);
    return rv != CKR_OK && memmem(out, sizeof(out), secret, sizeof(secret)) == NULL &&
           (also == NULL || memmem(out, sizeof(out), also, 32) == NULL);
}

/* C_UnwrapKey of in with key k under m into a readable key; 1 when refused with no object. */
static int unwrap_refused(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const uint8_t *in, CK_ULONG len)
{
    CK_ULONG before = p11_count(s);
    CK_OBJECT_HANDLE out;
    CK_RV rv = p11_unwrap(s, m, k, in, len, &out);

    if (rv == CKR_OK)
        p11->C_DestroyObject(s, out);
    return rv != CKR_OK && p11_count(s) == before;
}

static CK_ULONG wrap(CK_MECHANISM *m, uint8_t *out)
{
    CK_ULONG len = 8192;

    if (p11->C_WrapKey(s, m, kms, dk, out, &len) != CKR_OK)
        return 0;
    return len;
}

static CK_ULONG encrypt(CK_MECHANISM *m, const uint8_t *in, CK_ULONG in_len, uint8_t *out)
{
    CK_ULONG len = 8192;

    return p11_crypt(s, 1, m, kms, in, in_len, out, &len) == CKR_OK ? len : 0;
}

static void try_wrapped_key_as_data(void)
{
    static const uint8_t empty_ctx[2] = {0, 0};
    CK_MECHANISM mechs[] = {
        {CKM_P11KMS_ENVELOPE, NULL, 0},
        {CKM_P11KMS_ENVELOPE_ENCODED, (void *)empty_ctx, sizeof(empty_ctx)},
        {CKM_AES_KEY_WRAP_PAD, NULL, 0},
        {CKM_AES_KEY_WRAP_KWP, NULL, 0},
    };
    static const char *const names[] = {"CKM_P11KMS_ENVELOPE", "CKM_P11KMS_ENVELOPE_ENCODED",
                                        "CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP"};
    CK_MECHANISM dec[] = {{CKM_P11KMS_ENVELOPE, NULL, 0},
                          {CKM_P11KMS_ENVELOPE_ENCODED, (void *)empty_ctx, sizeof(empty_ctx)}};
    uint8_t env[8192];
    char what[160];
    CK_ULONG len;
    size_t i, j;

    for (i = 0; i < 4; i++) {
        len = wrap(&mechs[i], env);
        snprintf(what, sizeof(what), "wrap with %s, then C_Decrypt with the same KMS key: refused",
                 names[i]);
        for (j = 0; j < 2; j++)
            ok(len > 0 && decrypt_refused(&dec[j], kms, env, len, NULL) &&
                   decrypt_refused(&dec[j], legacy, env, len, NULL),
               what);
    }
}

static void try_data_as_key(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_MECHANISM unw[] = {{CKM_P11KMS_ENVELOPE, NULL, 0},
                          {CKM_AES_KEY_WRAP_PAD, NULL, 0},
                          {CKM_AES_KEY_WRAP_KWP, NULL, 0}};
    uint8_t chosen[32], box[8192];
    CK_ULONG len;
    size_t i;

    memset(chosen, 0x66, sizeof(chosen));
    len = encrypt(&m, chosen, sizeof(chosen), box);
    ok(len > 0, "C_Encrypt of 32 chosen bytes");
    for (i = 0; i < 3; i++)
        ok(unwrap_refused(&unw[i], kms, box, len),
           "C_UnwrapKey of the result: refused, no key of the caller's choosing");
}

static void try_flips(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[8192], box[8192], edit[8192], chosen[32];
    CK_ULONG elen, blen, len;

    memset(chosen, 0x77, sizeof(chosen));
    elen = wrap(&m, env);
    blen = encrypt(&m, chosen, sizeof(chosen), box);
    ok(elen > 7 && blen > 7, "a wrapped key and a data envelope");

    memcpy(edit, env, elen);
    edit[5] = 2;
    ok(decrypt_refused(&m, kms, edit, elen, NULL), "wrapped key with purpose byte set to data: "
                                                   "C_Decrypt refused");
    memcpy(edit, box, blen);
    edit[5] = 1;
    ok(unwrap_refused(&m, kms, edit, blen), "data with purpose byte set to wrapped key: "
                                            "C_UnwrapKey refused");

    len = p11_env_as_v1(env, elen, edit);
    ok(decrypt_refused(&m, kms, edit, len, NULL),
       "wrapped key relabelled version 1: C_Decrypt refused (version 1 is not data by default)");
    ok(decrypt_refused(&m, legacy, edit, len, NULL),
       "...and refused by the KMS for a key with decrypt_v1_envelopes");
    ok(unwrap_refused(&m, legacy, edit, len) && unwrap_refused(&m, kms, edit, len),
       "...and C_UnwrapKey of it refused by the KMS");
    len = p11_env_as_v1(box, blen, edit);
    ok(unwrap_refused(&m, kms, edit, len), "data relabelled version 1: C_UnwrapKey refused");
    ok(decrypt_refused(&m, legacy, edit, len, chosen),
       "...and C_Decrypt with decrypt_v1_envelopes refused by the KMS");
}

/* The application tries to supply the reserved pair itself, so that a relabelled envelope
 * meets exactly the context the KMS bound. */
static void try_forged_purpose(void)
{
    static const char *const forged[] = {"p11kms:purpose", "P11KMS:Purpose"};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_P11KMS_CONTEXT_PAIR pair;
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM fm = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    uint8_t env[8192], box[8192], v1env[8192], v1box[8192], chosen[32];
    CK_ULONG elen, blen, l1, l2;
    char what[160];
    size_t i;
    int merge;

    memset(chosen, 0x88, sizeof(chosen));
    elen = wrap(&m, env);
    blen = encrypt(&m, chosen, sizeof(chosen), box);
    l1 = p11_env_as_v1(env, elen, v1env);
    l2 = p11_env_as_v1(box, blen, v1box);
    for (i = 0; i < 2; i++)
        for (merge = 0; merge < 2; merge++) {
            pair.pKey = (CK_UTF8CHAR_PTR)forged[i];
            pair.ulKeyLen = strlen(forged[i]);
            p.flags = merge ? P11KMS_FLAG_MERGE_DEFAULT_CONTEXT : 0;
            pair.pValue = (CK_UTF8CHAR_PTR) "wrapped-key";
            pair.ulValueLen = 11;
            snprintf(what, sizeof(what),
                     "%s=wrapped-key%s given by the application: a wrapped key relabelled "
                     "version 1 is not decrypted",
                     forged[i], merge ? " (merged)" : "");
            ok(decrypt_refused(&fm, legacy, v1env, l1, NULL), what);
            pair.pValue = (CK_UTF8CHAR_PTR) "data";
            pair.ulValueLen = 4;
            snprintf(what, sizeof(what),
                     "%s=data%s given by the application: data relabelled version 1 is not "
                     "unwrapped, and nothing is encrypted as data under it",
                     forged[i], merge ? " (merged)" : "");
            ok(unwrap_refused(&fm, kms, v1box, l2) &&
                   p11->C_EncryptInit(s, &fm, kms) == CKR_MECHANISM_PARAM_INVALID,
               what);
        }
}

static void try_other_key(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[8192], box[8192], chosen[32];
    CK_ULONG elen, blen;

    memset(chosen, 0x99, sizeof(chosen));
    elen = wrap(&m, env);
    blen = encrypt(&m, chosen, sizeof(chosen), box);
    ok(other != CK_INVALID_HANDLE, "another KMS key");
    ok(unwrap_refused(&m, other, env, elen), "an envelope of one KMS key: another key does not "
                                             "unwrap it");
    ok(decrypt_refused(&m, other, box, blen, chosen), "...nor decrypt its data");
}

/* The envelope names the KMS key that made it (key_ref). A remote backend puts that name in a
 * URL (Cloud KMS: /v1/{name}:decrypt), so an edited name could point the request elsewhere
 * (another key, a version, a query, a path step): every edit must be refused. */
static void try_key_ref_edits(void)
{
    static const char edits[] = "/.?#%:&";
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[8192], edit[8192];
    CK_ULONG elen;
    size_t rl, i;
    int refused = 1;

    elen = wrap(&m, env);
    rl = elen > 10 ? (size_t)env[8] << 8 | env[9] : 0;
    ok(env[5] == 1 && env[6] == 1 && rl > 0 && 10 + rl < elen,
       "a one-blob wrapped key naming its KMS key");
    if (rl == 0 || 10 + rl >= elen)
        return;
    for (i = 0; i < sizeof(edits) - 1; i++) {
        memcpy(edit, env, elen);
        edit[10 + rl - 1] = (uint8_t)edits[i]; /* the name's last byte */
        refused &= unwrap_refused(&m, kms, edit, elen);
        memcpy(edit, env, elen);
        edit[10 + rl / 2] = (uint8_t)edits[i]; /* one in the middle */
        refused &= unwrap_refused(&m, kms, edit, elen);
    }
    ok(refused, "a key name ending in or containing / . ? # % : &: C_UnwrapKey refused");
}

/* The JSON of the other KMS key and of the key that still decrypts version-1 envelopes. */
static const char *extra_keys(void)
{
    static char text[2048];
    char key[512];
    const char *other_ref;

    attack_key_members(key, sizeof(key));
    if (strcmp(attack_backend(), "aws") == 0) {
        other_ref = "\"backend\": \"aws\", \"key_id\": \"alias/p11kms-other\"";
    } else if (strcmp(attack_backend(), "gcp") == 0) {
        static char gcp_ref[512];
        snprintf(gcp_ref, sizeof(gcp_ref), "\"backend\": \"gcp\", \"key_id\": \"%s\"",
                 getenv("P11KMS_GCP_OTHER_KEY"));
        other_ref = gcp_ref;
    } else if (strcmp(attack_backend(), "vault") == 0) {
        /* a key of the same name in another mount: another key to Vault */
        other_ref = "\"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
                    "\"mount\": \"p11kms-transit\"";
    } else {
        static char local_ref[512];
        const char *path = p11_write("other.key",
                                     "p11kms-key-file 1\n"
                                     "name 00112233445566778899aabbccddeeff\n"
                                     "version 1 QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n",
                                     0600);
        snprintf(local_ref, sizeof(local_ref), "\"backend\": \"local\", \"key_file\": \"%s\"",
                 path);
        other_ref = local_ref;
    }
    snprintf(text, sizeof(text),
             ",\n  {\"label\": \"legacy\", %s, \"decrypt_v1_envelopes\": true},\n"
             "  {\"label\": \"other\", %s}",
             key, other_ref);
    return text;
}

/* CKM_P11KMS_REWRAP moves a wrapped key to the key's current KMS key: it must not turn data of
 * the caller's choosing into a wrapped key, nor its result into something C_Decrypt opens, nor
 * run for a key that may only wrap. */
static void try_rewrap(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0}, rw = {CKM_P11KMS_REWRAP, NULL, 0};
    CK_MECHANISM dec = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE wrap_only = p11_find_label(s, "kms-wrap");
    uint8_t chosen[32], box[8192], env[8192], out[16384];
    CK_ULONG len, env_len, out_len = sizeof(out);

    memset(chosen, 0x66, sizeof(chosen));
    len = encrypt(&m, chosen, sizeof(chosen), box);
    ok(len > 0 && p11_crypt(s, 1, &rw, kms, box, len, out, &out_len) == CKR_DATA_INVALID,
       "CKM_P11KMS_REWRAP of a data envelope: refused, no key of the caller's choosing");
    env_len = wrap(&m, env);
    out_len = sizeof(out);
    ok(env_len > 0 && p11_crypt(s, 1, &rw, kms, env, env_len, out, &out_len) == CKR_OK &&
           decrypt_refused(&dec, kms, out, out_len, NULL),
       "a rewrapped key is still a wrapped key: C_Decrypt refuses it");
    ok(memmem(out, out_len, secret, sizeof(secret)) == NULL,
       "  ...and the data key is not in what rewrap returned");
    is_rv(p11->C_EncryptInit(s, &rw, wrap_only), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that may only wrap cannot rewrap");
    is_rv(p11->C_DecryptInit(s, &rw, kms), CKR_MECHANISM_INVALID,
          "CKM_P11KMS_REWRAP is no decrypt mechanism");
}

int main(void)
{
    test_start();
    p11_load();
    is_rv(attack_init(NULL, extra_keys()), CKR_OK, "C_Initialize");
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
    legacy = p11_find_label(s, "legacy");
    other = p11_find_label(s, "other");
    ok(kms != CK_INVALID_HANDLE && legacy != CK_INVALID_HANDLE, "the KMS keys are there");
    make_data_key();
    try_wrapped_key_as_data();
    try_data_as_key();
    try_flips();
    try_key_ref_edits();
    try_forged_purpose();
    try_other_key();
    try_rewrap();
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
