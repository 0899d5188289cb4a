/* test-gcp-module.c - the gcp backend through the built module's function list against the
 * loopback Cloud KMS test server: wrap/unwrap with contexts bound as AAD, the version recorded
 * and exposed after a primary rotation, refusals (wrong context, other key, disabled and
 * destroyed versions, IAM roles granted separately), every credential source of ADC, the fault
 * matrix (429, 500, 503, 504, resets, refused connections, truncated and garbage bodies, CRC32C
 * mismatches both ways, token endpoint failures, a token revoked mid-run, deadlines), HTTPS
 * verified against a CA file, threads sharing connections and one token. test-gcp-module.sh
 * runs it. */
#include <pthread.h>
#include <sys/wait.h>
#include "tests/module/p11.h"
#define CTL_CONTROL_ENV "P11KMS_GCP_CONTROL"
#include "tests/backends/aws/test-aws-ctl.h"

#define GCP_ENVELOPE_ID 3
#define SA_MAIN "p11kms-test@p11kms-test.iam.gserviceaccount.com"

static const char *key, *other, *rotated, *disabled;
static CK_SESSION_HANDLE sess;

static CK_RV wrap_new(CK_OBJECT_HANDLE kms, CK_MECHANISM *m, uint8_t *env, CK_ULONG *len,
                      CK_OBJECT_HANDLE *dk)
{
    *dk = p11_data_key(sess, 32);
    if (*dk == CK_INVALID_HANDLE)
        return CKR_GENERAL_ERROR;
    return p11->C_WrapKey(sess, m, kms, *dk, env, len);
}

static CK_RV unwrap_check(CK_OBJECT_HANDLE kms, CK_MECHANISM *m, uint8_t *env, CK_ULONG len,
                          CK_OBJECT_HANDLE dk, int *same)
{
    CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
    uint8_t a[64], b[64];
    CK_ULONG la = sizeof(a), lb = sizeof(b);
    CK_RV rv;
    P11_UNWRAP_TEMPLATE(t);

    *same = 0;
    rv = p11->C_UnwrapKey(sess, m, kms, env, len, t, 4, &out);
    if (rv == CKR_OK) {
        *same = p11_value(sess, dk, a, &la) && p11_value(sess, out, b, &lb) && la == lb &&
                memcmp(a, b, la) == 0;
        p11->C_DestroyObject(sess, out);
    }
    return rv;
}

/* A version-2 envelope with one blob (docs/envelope.md): backend byte, key_ref, key version,
 * ciphertext. */
#define REF_OFF 10
static int envelope_blob(const uint8_t *env, CK_ULONG len, char *ref, size_t ref_cap,
                         unsigned long *version, int *backend)
{
    size_t rl, ct_len;

    if (len < 7 + 11 || memcmp(env, "PKMS", 4) != 0 || env[4] != 2 || env[5] != 1 || env[6] != 1)
        return 0;
    *backend = env[7];
    rl = (size_t)env[8] << 8 | env[9];
    if (rl >= ref_cap || REF_OFF + rl + 8 > len)
        return 0;
    memcpy(ref, env + REF_OFF, rl);
    ref[rl] = 0;
    *version = (unsigned long)env[REF_OFF + rl] << 24 | (unsigned long)env[REF_OFF + rl + 1] << 16 |
               (unsigned long)env[REF_OFF + rl + 2] << 8 | env[REF_OFF + rl + 3];
    ct_len = (size_t)env[REF_OFF + rl + 4] << 24 | (size_t)env[REF_OFF + rl + 5] << 16 |
             (size_t)env[REF_OFF + rl + 6] << 8 | env[REF_OFF + rl + 7];
    return REF_OFF + rl + 8 + ct_len == len;
}

static CK_ULONG key_version(CK_OBJECT_HANDLE h)
{
    CK_ULONG v = 9999;
    CK_ATTRIBUTE a = {CKA_P11KMS_KEY_VERSION, &v, sizeof(v)};

    if (p11->C_GetAttributeValue(sess, h, &a, 1) != CKR_OK)
        return 9998;
    return v;
}

static void test_round_trips(void)
{
    const char *kv[] = {"purpose=test", "id=42"}, *wrong_kv[] = {"purpose=test", "id=43"};
    CK_P11KMS_CONTEXT_PAIR pairs[2], wrong_pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS params, wrong, empty;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &params, sizeof(params)};
    CK_MECHANISM mw = {CKM_P11KMS_ENVELOPE, &wrong, sizeof(wrong)};
    CK_MECHANISM me = {CKM_P11KMS_ENVELOPE, &empty, sizeof(empty)};
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE k = p11_find_label(sess, "key"), ctxk = p11_find_label(sess, "ctx");
    CK_OBJECT_HANDLE dk, dk2;
    uint8_t env[8192], env2[8192];
    CK_ULONG len = sizeof(env), len2 = sizeof(env2);
    char ref[512];
    unsigned long version = 0;
    int backend = 0, same = 0;
    long enc, dec, tok;
    json_object *last;

    p11_context(&params, pairs, kv, 2);
    p11_context(&wrong, wrong_pairs, wrong_kv, 2);
    p11_context(&empty, NULL, NULL, 0);
    ok(k && ctxk, "the configured Cloud KMS keys are visible");
    is_num(ctl_count("Encrypt") + ctl_count("Decrypt") + ctl_count("GetCryptoKey") +
               ctl_count("token"),
           0, "C_Initialize and finding keys ask neither Cloud KMS nor a token endpoint");

    enc = ctl_count("Encrypt");
    is_rv(wrap_new(k, &m, env, &len, &dk), CKR_OK, "wrap with a context");
    is_num(ctl_count("Encrypt") - enc, 1, "one encrypt call");
    is_num(ctl_count("token"), 1, "one token from the service-account key (RS256 assertion)");
    last = ctl_last_request();
    ok(strcmp(json_str(last, "op"), "Encrypt") == 0 && strcmp(json_str(last, "status"), "200") == 0,
       "the server accepted it (AAD and CRC32Cs checked)");
    json_object_put(last);
    ok(envelope_blob(env, len, ref, sizeof(ref), &version, &backend),
       "a one-blob version-2 envelope");
    is_num(backend, GCP_ENVELOPE_ID, "made by the gcp backend");
    ok(strcmp(ref, key) == 0, "the blob names the CryptoKey");
    is_num(version, 1, "and the version that encrypted (from the answer's name)");
    is_num(key_version(k), 1, "CKA_P11KMS_KEY_VERSION is that version");

    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(k, &m, env, len, dk, &same), CKR_OK, "unwrap with the same context");
    ok(same, "the unwrapped key is the wrapped one");
    is_num(ctl_count("Decrypt") - dec, 1, "one decrypt call");

    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(k, &mw, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "a wrong context value is refused");
    is_num(ctl_count("Decrypt") - dec, 1, "Cloud KMS was asked once (INVALID_ARGUMENT is final)");
    last = ctl_last_request();
    ok(strcmp(json_str(last, "status"), "400") == 0,
       "Cloud KMS itself refused it (the AAD does not match)");
    json_object_put(last);
    is_rv(unwrap_check(k, &me, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "an empty context is refused too");

    len2 = sizeof(env2);
    is_rv(wrap_new(ctxk, &kwp, env2, &len2, &dk2), CKR_OK,
          "AES_KEY_WRAP_PAD wraps under the key's default context");
    is_rv(unwrap_check(ctxk, &kwp, env2, len2, dk2, &same), CKR_OK, "and unwraps");
    ok(same, "same data key");
    is_rv(unwrap_check(k, &kwp, env2, len2, dk2, &same), CKR_WRAPPED_KEY_INVALID,
          "a key without that default context does not unwrap it");
    p11->C_DestroyObject(sess, dk2);

    env[len - 1] ^= 1;
    is_rv(unwrap_check(k, &m, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "a modified ciphertext is refused");
    p11->C_DestroyObject(sess, dk);
    tok = ctl_count("token");
    is_num(tok, 1, "every call so far used the one cached token");
}

static void test_rotation(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE r = p11_find_label(sess, "rotated"), dk1, dk2;
    uint8_t env1[8192], env2[8192];
    CK_ULONG len1 = sizeof(env1), len2 = sizeof(env2);
    char ref[512], body[1024];
    unsigned long v = 0;
    int backend, same;

    is_num(key_version(r), 0, "no version known before the first wrap");
    is_rv(wrap_new(r, &m, env2, &len2, &dk2), CKR_OK, "wrap under a key whose primary is 2");
    ok(envelope_blob(env2, len2, ref, sizeof(ref), &v, &backend) && v == 2,
       "the envelope records version 2");
    is_num(key_version(r), 2, "CKA_P11KMS_KEY_VERSION 2");
    snprintf(body, sizeof(body), "{\"key\": \"%s\", \"version\": 1}", rotated);
    ctl_do("POST", "/primary", body);
    is_rv(wrap_new(r, &m, env1, &len1, &dk1), CKR_OK, "wrap after the primary moved to 1");
    ok(envelope_blob(env1, len1, ref, sizeof(ref), &v, &backend) && v == 1,
       "the envelope records version 1");
    is_num(key_version(r), 1, "CKA_P11KMS_KEY_VERSION follows the primary");
    is_rv(unwrap_check(r, &m, env2, len2, dk2, &same), CKR_OK,
          "a version-2 envelope still unwraps (decrypt on the CryptoKey)");
    ok(same, "same data key");
    snprintf(body, sizeof(body),
             "{\"version\": \"%s/cryptoKeyVersions/2\", \"state\": \"DISABLED\"}", rotated);
    ctl_do("POST", "/state", body);
    is_rv(unwrap_check(r, &m, env2, len2, dk2, &same), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "its version disabled: FAILED_PRECONDITION is CKR_KEY_FUNCTION_NOT_PERMITTED");
    snprintf(body, sizeof(body),
             "{\"version\": \"%s/cryptoKeyVersions/2\", \"state\": \"DESTROYED\"}", rotated);
    ctl_do("POST", "/state", body);
    is_rv(unwrap_check(r, &m, env2, len2, dk2, &same), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "destroyed: CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_rv(unwrap_check(r, &m, env1, len1, dk1, &same), CKR_OK, "version 1 is untouched");
    p11->C_DestroyObject(sess, dk1);
    p11->C_DestroyObject(sess, dk2);
}

static void test_refusals(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE k = p11_find_label(sess, "key"), o = p11_find_label(sess, "other");
    CK_OBJECT_HANDLE d = p11_find_label(sess, "disabled"), dk, dk2;
    uint8_t env[8192], env2[8192];
    CK_ULONG len = sizeof(env), len2 = sizeof(env2);
    int same;
    long dec;
    char body[512];

    is_rv(wrap_new(k, &m, env, &len, &dk), CKR_OK, "wrap under key 1");
    is_rv(wrap_new(o, &m, env2, &len2, &dk2), CKR_OK, "wrap under key 2");
    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(o, &m, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "key 2 does not unwrap key 1's envelope");
    is_num(ctl_count("Decrypt") - dec, 0, "refused without asking Cloud KMS (owns)");
    p11->C_DestroyObject(sess, dk2);

    len2 = sizeof(env2);
    is_rv(wrap_new(d, &m, env2, &len2, &dk2), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key whose primary version is disabled cannot wrap");
    p11->C_DestroyObject(sess, dk2);

    /* IAM: encrypt and decrypt are granted separately */
    snprintf(body, sizeof(body),
             "{\"resource\": \"projects/p11kms-test\", \"member\": \"serviceAccount:" SA_MAIN
             "\", \"roles\": [\"roles/cloudkms.cryptoKeyEncrypter\"]}");
    ctl_do("POST", "/iam", body);
    len2 = sizeof(env2);
    is_rv(wrap_new(k, &m, env2, &len2, &dk2), CKR_OK, "cryptoKeyEncrypter alone: wrap works");
    is_rv(unwrap_check(k, &m, env, len, dk, &same), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...unwrap is PERMISSION_DENIED: CKR_KEY_FUNCTION_NOT_PERMITTED");
    p11->C_DestroyObject(sess, dk2);
    snprintf(body, sizeof(body),
             "{\"resource\": \"projects/p11kms-test\", \"member\": \"serviceAccount:" SA_MAIN
             "\", \"roles\": [\"roles/cloudkms.cryptoKeyDecrypter\"]}");
    ctl_do("POST", "/iam", body);
    len2 = sizeof(env2);
    is_rv(wrap_new(k, &m, env2, &len2, &dk2), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "cryptoKeyDecrypter alone: wrap is refused");
    is_rv(unwrap_check(k, &m, env, len, dk, &same), CKR_OK, "...and unwrap works");
    p11->C_DestroyObject(sess, dk2);
    snprintf(body, sizeof(body),
             "{\"resource\": \"projects/p11kms-test\", \"member\": \"serviceAccount:" SA_MAIN
             "\", \"roles\": [\"roles/cloudkms.cryptoKeyEncrypterDecrypter\", "
             "\"roles/cloudkms.admin\"]}");
    ctl_do("POST", "/iam", body);
    p11->C_DestroyObject(sess, dk);
}

/* One wrap under label (or a wrap then an unwrap under a fault on Decrypt); the CK_RV and the
 * requests the server saw for op. */
static CK_RV faulted(const char *label, const char *op, const char *kind, int count,
                     const char *extra, long *requests)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(sess, label), dk = CK_INVALID_HANDLE;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    CK_RV rv;
    long before;
    int same;

    if (strcmp(op, "Decrypt") == 0) {
        rv = wrap_new(kms, &m, env, &len, &dk);
        if (rv != CKR_OK)
            return rv;
        before = ctl_count(op);
        ctl_fault(op, kind, count, extra);
        rv = unwrap_check(kms, &m, env, len, dk, &same);
        if (rv == CKR_OK && !same)
            rv = CKR_GENERAL_ERROR;
    } else {
        before = ctl_count(op);
        ctl_fault(op, kind, count, extra);
        rv = wrap_new(kms, &m, env, &len, &dk);
    }
    *requests = ctl_count(op) - before;
    ctl_clear_faults();
    p11->C_DestroyObject(sess, dk);
    return rv;
}

static void test_faults(void)
{
    long n, crc;

    is_rv(faulted("key", "Encrypt", "http429", 2, NULL, &n), CKR_OK,
          "RESOURCE_EXHAUSTED (429) twice, then wrapped");
    is_num(n, 3, "3 attempts");
    is_rv(faulted("key", "Encrypt", "http429", 3, NULL, &n), CKR_DEVICE_ERROR,
          "429 every time: CKR_DEVICE_ERROR");
    is_num(n, 3, "after max_attempts (3)");
    is_rv(faulted("key", "Encrypt", "http503", 2, NULL, &n), CKR_OK, "UNAVAILABLE is retried");
    is_num(n, 3, "3 attempts");
    is_rv(faulted("key", "Decrypt", "http504", 1, NULL, &n), CKR_OK,
          "DEADLINE_EXCEEDED on decrypt is retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("key", "Encrypt", "http500", 1, NULL, &n), CKR_DEVICE_ERROR,
          "INTERNAL is not retried (Google's client config): CKR_DEVICE_ERROR");
    is_num(n, 1, "1 attempt");
    is_rv(faulted("patient", "Encrypt", "http503", 4, NULL, &n), CKR_OK,
          "max_attempts 5: four 503s and a success");
    is_num(n, 5, "5 attempts");
    is_rv(faulted("key", "Encrypt", "reset", 1, NULL, &n), CKR_OK, "a reset connection is retried");
    ok(n >= 2, "2 requests");
    is_rv(faulted("key", "Encrypt", "close", 1, NULL, &n), CKR_OK,
          "a connection closed without an answer is retried");
    is_rv(faulted("key", "Encrypt", "garbage", 1, NULL, &n), CKR_DEVICE_ERROR,
          "a 200 answer that is not JSON: CKR_DEVICE_ERROR");
    is_num(n, 1, "not retried");
    is_rv(faulted("key", "Decrypt", "truncated", 1, NULL, &n), CKR_OK,
          "a truncated answer (shorter than its Content-Length) is a transport error: retried");
    is_num(n, 2, "2 attempts");
    crc = ctl_stat("crc_failures", NULL);
    is_rv(faulted("key", "Encrypt", "crc_mismatch", 1, NULL, &n), CKR_OK,
          "an answer whose ciphertextCrc32c does not match is discarded and the call retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("key", "Decrypt", "crc_mismatch", 1, NULL, &n), CKR_OK,
          "a plaintextCrc32c mismatch on decrypt: discarded, retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("key", "Decrypt", "corrupt_body", 1, NULL, &n), CKR_OK,
          "a plaintext corrupted in transit (its CRC no longer matches): discarded, retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("key", "Encrypt", "unverified", 1, NULL, &n), CKR_OK,
          "an answer without verified* flags (our CRCs not checked): discarded, retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("key", "Encrypt", "crc_mismatch", 3, NULL, &n), CKR_DEVICE_ERROR,
          "CRC mismatch every time: CKR_DEVICE_ERROR after the integrity attempts");
    is_num(n, 3, "3 answers discarded, then no more");
    is_num(ctl_stat("crc_failures", NULL) - crc, 0,
           "the server never saw a request CRC32C that did not match");
    is_rv(faulted("key", "Encrypt", "error", 1, ", \"status\": \"PERMISSION_DENIED\"", &n),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "PERMISSION_DENIED: CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_num(n, 1, "not retried");
    is_rv(faulted("key", "Decrypt", "error", 1, ", \"status\": \"INVALID_ARGUMENT\"", &n),
          CKR_WRAPPED_KEY_INVALID, "INVALID_ARGUMENT on unwrap: CKR_WRAPPED_KEY_INVALID");
    is_num(n, 1, "not retried");
    is_rv(faulted("key", "Encrypt", "error", 1, ", \"status\": \"INVALID_ARGUMENT\"", &n),
          CKR_DEVICE_ERROR, "INVALID_ARGUMENT on wrap: CKR_DEVICE_ERROR");
    is_rv(faulted("quick", "Encrypt", "delay", 1, ", \"delay_ms\": 3000", &n), CKR_OK,
          "an answer slower than request_timeout_ms is abandoned and retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("deadline", "Encrypt", "delay", 5, ", \"delay_ms\": 4000", &n), CKR_DEVICE_ERROR,
          "a call that cannot finish by its deadline fails");
    is_num(n, 2, "the deadline stopped it after 2 of 3 allowed attempts");
    is_rv(faulted("refused", "Encrypt", "delay", 1, ", \"delay_ms\": 0", &n), CKR_DEVICE_ERROR,
          "an endpoint that refuses connections: CKR_DEVICE_ERROR");
    is_num(n, 0, "nothing reached the server");
}

/* REST over HTTPS: the endpoint verified against ca_file, never without. */
static void test_tls(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    long enc = ctl_count("Encrypt");
    int same;

    is_rv(wrap_new(p11_find_label(sess, "tls"), &m, env, &len, &dk), CKR_OK,
          "wrap over HTTPS, the server verified with the key's ca_file");
    is_rv(unwrap_check(p11_find_label(sess, "tls"), &m, env, len, dk, &same), CKR_OK,
          "...and unwrap");
    ok(same, "same data key");
    is_num(ctl_count("Encrypt") - enc, 1, "one encrypt request reached the server");
    p11->C_DestroyObject(sess, dk);
    enc = ctl_count("Encrypt");
    len = sizeof(env);
    is_rv(wrap_new(p11_find_label(sess, "tls-other-ca"), &m, env, &len, &dk), CKR_DEVICE_ERROR,
          "a server certificate from another CA: CKR_DEVICE_ERROR");
    is_num(ctl_count("Encrypt") - enc, 0, "no request was sent to it");
    p11->C_DestroyObject(sess, dk);
}

/* Token endpoint failures and a token revoked mid-run. */
static void test_token_faults(void)
{
    long n, tok, enc;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE k = p11_find_label(sess, "key"), dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);

    ctl_do("POST", "/expire-tokens", "{}");
    tok = ctl_count("token");
    enc = ctl_count("Encrypt");
    is_rv(wrap_new(k, &m, env, &len, &dk), CKR_OK,
          "the token revoked mid-run: 401, a new token, the call retried once");
    is_num(ctl_count("token") - tok, 1, "one new token");
    is_num(ctl_count("Encrypt") - enc, 2, "two encrypt requests");
    p11->C_DestroyObject(sess, dk);

    ctl_do("POST", "/expire-tokens", "{}");
    tok = ctl_count("token");
    is_rv(faulted("key", "token", "http503", 1, NULL, &n), CKR_OK,
          "a token endpoint 503 is retried");
    is_num(ctl_count("token") - tok, 2, "2 token requests");
    ctl_do("POST", "/expire-tokens", "{}");
    is_rv(faulted("key", "token", "error", 1,
                  ", \"status\": \"INVALID_ARGUMENT\", \"message\": "
                  "\"Invalid JWT Signature.\"",
                  &n),
          CKR_DEVICE_ERROR, "a refused assertion (invalid_grant): CKR_DEVICE_ERROR");
    is_rv(faulted("key", "token", "garbage", 1, NULL, &n), CKR_DEVICE_ERROR,
          "a token answer that is not JSON: CKR_DEVICE_ERROR");
    is_rv(faulted("key", "Encrypt", "delay", 1, ", \"delay_ms\": 0", &n), CKR_OK,
          "the next call fetches a token and works");
}

/* Requests the server logged with x-goog-user-project: p11kms-billing. */
static long quota_requests(void)
{
    json_object *o, *arr, *q;
    size_t i, n;
    long count = 0;

    ctl_settle();
    o = ctl("GET", "/requests", NULL);
    if (o != NULL && json_object_object_get_ex(o, "requests", &arr)) {
        n = json_object_array_length(arr);
        for (i = 0; i < n; i++)
            if (json_object_object_get_ex(json_object_array_get_idx(arr, i), "quota_project", &q) &&
                json_object_is_type(q, json_type_string) &&
                strcmp(json_object_get_string(q), "p11kms-billing") == 0)
                count++;
    }
    json_object_put(o);
    return count;
}

/* Other credential sources, each on a key of its own (credentials_file) or ADC's last step. */
static void test_sources(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len;
    long before;
    int same;

    before = ctl_count("token");
    len = sizeof(env);
    is_rv(wrap_new(p11_find_label(sess, "user"), &m, env, &len, &dk), CKR_OK,
          "an authorized_user file (gcloud's ADC): wraps");
    is_num(ctl_count("token") - before, 1, "after a refresh_token grant at its token_uri");
    is_rv(unwrap_check(p11_find_label(sess, "key"), &m, env, len, dk, &same), CKR_OK,
          "the service-account key unwraps it (same CryptoKey)");
    p11->C_DestroyObject(sess, dk);

    before = ctl_count("sts");
    len = sizeof(env);
    is_rv(wrap_new(p11_find_label(sess, "ext"), &m, env, &len, &dk), CKR_OK,
          "an external_account file (workload identity federation, file source): wraps");
    is_num(ctl_count("sts") - before, 1, "after an STS token exchange");
    p11->C_DestroyObject(sess, dk);

    before = quota_requests();
    len = sizeof(env);
    is_rv(wrap_new(p11_find_label(sess, "quota"), &m, env, &len, &dk), CKR_OK,
          "a key with a quota project wraps");
    is_num(quota_requests() - before, 1, "its request carried x-goog-user-project: p11kms-billing");
    p11->C_DestroyObject(sess, dk);
}

/* ADC's last step: no file anywhere, the metadata server (a fresh C_Initialize). */
static void test_metadata(const char *config)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    long before = ctl_count("metadata-token");
    char *gac = strdup(getenv("GOOGLE_APPLICATION_CREDENTIALS"));

    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    is_rv(p11_init_config(config), CKR_OK, "C_Initialize without GOOGLE_APPLICATION_CREDENTIALS");
    sess = p11_open(0);
    is_rv(wrap_new(p11_find_label(sess, "key"), &m, env, &len, &dk), CKR_OK,
          "no credential file: the metadata server's token wraps");
    is_num(ctl_count("metadata-token") - before, 1, "one metadata token request");
    p11->C_DestroyObject(sess, dk);
    ctl_fault("metadata-token", "http503", 10, NULL);
    ctl_do("POST", "/expire-tokens", "{}");
    p11->C_CloseSession(sess);
    p11->C_Finalize(NULL);
    is_rv(p11_init_config(config), CKR_OK, "C_Initialize again");
    sess = p11_open(0);
    len = sizeof(env);
    is_rv(wrap_new(p11_find_label(sess, "key"), &m, env, &len, &dk), CKR_DEVICE_ERROR,
          "the metadata server failing: CKR_DEVICE_ERROR");
    p11->C_DestroyObject(sess, dk);
    ctl_clear_faults();
    p11->C_CloseSession(sess);
    p11->C_Finalize(NULL);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", gac, 1);
    free(gac);
    is_rv(p11_init_config(config), CKR_OK, "C_Initialize with the key file again");
    sess = p11_open(0);
}

#define THREADS 4
#define ROUNDS 25

static void *worker(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    long failures = p11_round_trips(s, p11_find_label(s, "key"), (long)arg, ROUNDS);

    p11->C_CloseSession(s);
    return (void *)failures;
}

static void test_threads_and_connections(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(sess, "key"), dk = p11_data_key(sess, 32);
    pthread_t th[THREADS];
    long i, failures = 0, conns, enc, tok;
    uint8_t env[8192];
    CK_ULONG len;

    conns = ctl_stat("connections", NULL);
    tok = ctl_count("token");
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failures += (long)r;
    }
    is_num(failures, 0, "4 threads x 25 wrap/unwrap round trips with their own contexts");
    ok(ctl_count("token") - tok <= 1, "all threads share one token");
    conns = ctl_stat("connections", NULL) - conns;
    diag("%ld new connections for %d threads x %d calls", conns, THREADS, ROUNDS * 2);
    ok(conns <= THREADS + 1, "threads share kept-alive connections");

    conns = ctl_stat("connections", NULL);
    enc = ctl_count("Encrypt");
    for (i = 0; i < 1000; i++) {
        len = sizeof(env);
        if (p11->C_WrapKey(sess, &m, kms, dk, env, &len) != CKR_OK)
            failures++;
    }
    is_num(failures, 0, "1,000 wraps");
    is_num(ctl_count("Encrypt") - enc, 1000, "1,000 encrypt calls");
    conns = ctl_stat("connections", NULL) - conns;
    diag("%ld new connections for 1,000 wraps", conns);
    ok(conns <= 2, "1,000 wraps open at most 2 connections");
    p11->C_DestroyObject(sess, dk);
}

static const char *write_config(void)
{
    const char *ep = getenv("P11KMS_GCP_ENDPOINT");
    const char *au = getenv("P11KMS_GCP_AUTHORIZED_USER_FILE");
    const char *ext = getenv("P11KMS_GCP_EXTERNAL_ACCOUNT_FILE");
    const char *tls_ep = getenv("P11KMS_GCP_TLS_ENDPOINT");
    const char *ca = getenv("P11KMS_GCP_CA"), *other_ca = getenv("P11KMS_GCP_OTHER_CA");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *path;

    fprintf(f,
            "{\"backends\": {\"gcp\": {\"endpoint\": \"%s\", \"max_attempts\": 3}},\n"
            " \"tokens\": [{\"label\": \"gcp\", \"keys\": [\n"
            "  {\"label\": \"key\", \"backend\": \"gcp\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"other\", \"backend\": \"gcp\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"rotated\", \"backend\": \"gcp\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"disabled\", \"backend\": \"gcp\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"ctx\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"context\": {\"app\": \"p11kms\", \"env\": \"test\"}},\n"
            "  {\"label\": \"user\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"credentials_file\": \"%s\"},\n"
            "  {\"label\": \"ext\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"credentials_file\": \"%s\"},\n"
            "  {\"label\": \"quota\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"quota_project\": \"p11kms-billing\"},\n"
            "  {\"label\": \"patient\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"max_attempts\": 5},\n"
            "  {\"label\": \"quick\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"request_timeout_ms\": 1000},\n"
            "  {\"label\": \"deadline\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"request_timeout_ms\": 1000, \"deadline_ms\": 1500},\n"
            "  {\"label\": \"refused\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"endpoint\": \"http://127.0.0.1:1\"},\n"
            "  {\"label\": \"tls\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"endpoint\": \"%s\", \"ca_file\": \"%s\"},\n"
            "  {\"label\": \"tls-other-ca\", \"backend\": \"gcp\", \"key_id\": \"%s\",\n"
            "   \"endpoint\": \"%s\", \"ca_file\": \"%s\"}\n"
            " ]}]}\n",
            ep, key, other, rotated, disabled, key, key, au, key, ext, key, key, key, key, key, key,
            tls_ep, ca, key, tls_ep, other_ca);
    fclose(f);
    path = p11_write("gcp.json", text, 0600);
    free(text);
    return path;
}

int main(void)
{
    const char *config;

    key = getenv("P11KMS_GCP_KEY");
    other = getenv("P11KMS_GCP_OTHER_KEY");
    rotated = getenv("P11KMS_GCP_ROTATED_KEY");
    disabled = getenv("P11KMS_GCP_DISABLED_KEY");
    if (key == NULL || other == NULL || rotated == NULL || disabled == NULL ||
        getenv("P11KMS_GCP_ENDPOINT") == NULL || getenv("P11KMS_GCP_TLS_ENDPOINT") == NULL ||
        getenv("GOOGLE_APPLICATION_CREDENTIALS") == NULL) {
        printf("1..0 # SKIP run through test-gcp-module.sh (needs the GCP test server)\n");
        return 0;
    }
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    config = write_config();
    is_rv(p11_init_config(config), CKR_OK, "C_Initialize with Cloud KMS keys");
    sess = p11_open(0);
    test_round_trips();
    test_rotation();
    test_refusals();
    test_faults();
    test_tls();
    test_token_faults();
    test_sources();
    test_metadata(config);
    test_threads_and_connections();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    dlclose(p11_dl);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
