/* test-aws-purpose.c - envelope purpose with the aws backend against the loopback AWS KMS test
 * server: the reserved pair p11kms:purpose reaches the KMS (and so CloudTrail), C_Decrypt of a
 * wrapped key and C_UnwrapKey of data are refused without a Decrypt call, edited headers are
 * refused by the KMS itself (InvalidCiphertextException), and version-1 envelopes made with the
 * plain context still unwrap. Run by test-aws-purpose.sh. */
#include <openssl/evp.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

static const char *key_arn;
static CK_SESSION_HANDLE sess;
static CK_OBJECT_HANDLE arn, legacy;

/* An aws envelope of version 1, as p11kms wrote before version 2: the KMS ciphertext of pt made
 * by the server's Encrypt with context_json (a JSON object) and nothing else. */
static CK_ULONG build_v1(const uint8_t *pt, size_t pt_len, const char *context_json, uint8_t *out)
{
    char b64[512], body[1024];
    uint8_t ct[1024];
    json_object *o;
    const char *ct64, *ref;
    size_t ref_len, pad, off = 0;
    int n;

    EVP_EncodeBlock((unsigned char *)b64, pt, (int)pt_len);
    snprintf(body, sizeof(body),
             "{\"KeyId\": \"%s\", \"Plaintext\": \"%s\", "
             "\"EncryptionContext\": %s}",
             key_arn, b64, context_json);
    o = ctl("POST", "/encrypt", body);
    ct64 = json_str(o, "CiphertextBlob");
    ref = json_str(o, "KeyId");
    n = EVP_DecodeBlock(ct, (const unsigned char *)ct64, (int)strlen(ct64));
    if (o == NULL || n <= 0 || strlen(ref) == 0) {
        printf("Bail out! the server's Encrypt failed\n");
        exit(1);
    }
    /* EVP_DecodeBlock counts the padding bytes as data: drop one per '='. */
    for (pad = strlen(ct64); pad > 0 && ct64[pad - 1] == '='; pad--)
        n--;
    ref_len = strlen(ref);
    memcpy(out, "PKMS\x01\x01\x02", 7);
    off = 7;
    out[off++] = (uint8_t)(ref_len >> 8);
    out[off++] = (uint8_t)ref_len;
    memcpy(out + off, ref, ref_len);
    off += ref_len;
    memset(out + off, 0, 4);
    off += 4;
    out[off++] = (uint8_t)((unsigned)n >> 24);
    out[off++] = (uint8_t)((unsigned)n >> 16);
    out[off++] = (uint8_t)((unsigned)n >> 8);
    out[off++] = (uint8_t)n;
    memcpy(out + off, ct, (size_t)n);
    off += (size_t)n;
    json_object_put(o);
    return (CK_ULONG)off;
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

/* The value of p11kms:purpose in the context of the server's last request ("" if none). */
static const char *last_purpose(char *buf, size_t cap)
{
    json_object *e = ctl_last_request(), *c, *v;

    buf[0] = '\0';
    if (e != NULL && json_object_object_get_ex(e, "encryption_context", &c) &&
        json_object_object_get_ex(c, "p11kms:purpose", &v))
        snprintf(buf, cap, "%s", json_object_get_string(v));
    json_object_put(e);
    return buf;
}

static void test_v1(void)
{
    CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "app", 3, (CK_UTF8CHAR_PTR) "v1", 2};
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    static const char secret[] = "a secret boxed by p11kms 1";
    uint8_t key[32], env[4096], box[4096], v[64], out[4096];
    CK_ULONG elen, blen, vlen = sizeof(v), olen;
    CK_OBJECT_HANDLE k;
    long dec;
    size_t i;

    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(0xa0 + i);
    elen = build_v1(key, sizeof(key), "{\"app\": \"v1\"}", env);
    blen = build_v1((const uint8_t *)secret, strlen(secret), "{\"app\": \"v1\"}", box);
    dec = ctl_count("Decrypt");
    is_rv(unwrap(&m, arn, env, elen, &k), CKR_OK,
          "a version-1 envelope made with the plain context still unwraps");
    ok(p11_value(sess, k, v, &vlen) && vlen == 32 && memcmp(v, key, 32) == 0, "the same key");
    is_num(ctl_count("Decrypt") - dec, 1, "one Decrypt");
    dec = ctl_count("Decrypt");
    is_rv(decrypt(&m, arn, box, blen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt refuses a version-1 envelope by default");
    is_num(ctl_count("Decrypt") - dec, 0, "...without asking the KMS");
    is_rv(decrypt(&m, legacy, box, blen, out, &olen), CKR_OK,
          "a key with decrypt_v1_envelopes opens it");
    ok(olen == strlen(secret) && memcmp(out, secret, olen) == 0, "the old secret");
    is_num(ctl_count("Decrypt") - dec, 1, "with one Decrypt");
    p11->C_DestroyObject(sess, k);
}

static void test_purpose(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32), k;
    uint8_t env[8192], box[8192], edited[8192], out[4096], chosen[32];
    CK_ULONG elen = sizeof(env), blen = sizeof(box), olen, objects;
    char purpose[32];
    long dec, bad;

    memset(chosen, 0x42, sizeof(chosen));
    is_rv(p11->C_WrapKey(sess, &m, arn, dk, env, &elen), CKR_OK, "wrap");
    ok(env[4] == 2 && env[5] == 1, "version 2, wrapped key");
    ok(strcmp(last_purpose(purpose, sizeof(purpose)), "wrapped-key") == 0,
       "Encrypt carried p11kms:purpose=wrapped-key in its EncryptionContext (CloudTrail shows "
       "it)");
    is_rv(p11->C_EncryptInit(sess, &m, arn), CKR_OK, "encrypt init");
    is_rv(p11->C_Encrypt(sess, chosen, sizeof(chosen), box, &blen), CKR_OK,
          "C_Encrypt of 32 chosen bytes");
    ok(box[4] == 2 && box[5] == 2, "version 2, data");
    ok(strcmp(last_purpose(purpose, sizeof(purpose)), "data") == 0,
       "Encrypt carried p11kms:purpose=data");

    objects = p11_count(sess);
    dec = ctl_count("Decrypt");
    is_rv(decrypt(&m, arn, env, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt of a wrapped key refused");
    is_rv(unwrap(&m, arn, box, blen, &k), CKR_WRAPPED_KEY_INVALID, "C_UnwrapKey of data refused");
    is_num(ctl_count("Decrypt") - dec, 0, "neither asked the KMS");

    bad = ctl_stat("errors", "InvalidCiphertextException");
    dec = ctl_count("Decrypt");
    memcpy(edited, env, elen);
    edited[5] = 2;
    is_rv(decrypt(&m, arn, edited, elen, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "a wrapped key relabelled data is refused");
    ok(strcmp(last_purpose(purpose, sizeof(purpose)), "data") == 0,
       "...the Decrypt asked for purpose data");
    memcpy(edited, box, blen);
    edited[5] = 1;
    is_rv(unwrap(&m, arn, edited, blen, &k), CKR_WRAPPED_KEY_INVALID,
          "data relabelled a wrapped key is refused");
    p11_env_as_v1(env, elen, edited);
    is_rv(unwrap(&m, arn, edited, elen - 1, &k), CKR_WRAPPED_KEY_INVALID,
          "a wrapped key relabelled version 1 is refused by C_UnwrapKey");
    is_rv(decrypt(&m, legacy, edited, elen - 1, out, &olen), CKR_ENCRYPTED_DATA_INVALID,
          "...and by C_Decrypt with decrypt_v1_envelopes");
    is_num(ctl_count("Decrypt") - dec, 4, "each was a Decrypt call");
    is_num(ctl_stat("errors", "InvalidCiphertextException") - bad, 4,
           "...that the KMS itself refused (InvalidCiphertextException)");
    is_num(p11_count(sess), objects, "no object was created");
    p11->C_DestroyObject(sess, dk);
}

static const char *write_config(void)
{
    char text[2048];

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\", \"max_attempts\": 1}},\n"
             " \"tokens\": [{\"label\": \"aws\", \"keys\": [\n"
             "  {\"label\": \"arn\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "  {\"label\": \"legacy\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"decrypt_v1_envelopes\": true}]}]}\n",
             getenv("P11KMS_AWS_ENDPOINT"), key_arn, key_arn);
    return p11_write("aws.json", text, 0600);
}

int main(void)
{
    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    if (key_arn == NULL || getenv("P11KMS_AWS_ENDPOINT") == NULL) {
        printf("1..0 # SKIP run through test-aws-purpose.sh (needs the AWS test server)\n");
        return 0;
    }
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    ctl_do("POST", "/reset", "{\"keys\": true}");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize with AWS keys");
    sess = p11_open(0);
    arn = p11_find_label(sess, "arn");
    legacy = p11_find_label(sess, "legacy");
    ok(arn != CK_INVALID_HANDLE && legacy != CK_INVALID_HANDLE, "both keys found");
    test_v1();
    test_purpose();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    p11_unload();
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
