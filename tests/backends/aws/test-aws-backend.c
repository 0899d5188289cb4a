/* test-aws-backend.c - the aws backend through its function table with a scripted transport:
 * configuration checks, the exact requests it signs and sends, answer checks, error mapping,
 * retries, the retry quota, the deadline, owns(), ReEncrypt, DescribeKey, and clean logs. */
#include <stdlib.h>
#include "tests/test.h"
#include "tests/unit/logcap.h"
#include "tests/fake-http.h"
#include "module/net/clock.h"
#include "module/net/json.h"
#include "module/net/sbuf.h"
#include "module/backend.h"
#include "module/config-load.h"
#include "module/secmem.h"

#define ARN1 "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-4111-8111-111111111111"
#define ARN2 "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-4222-8222-222222222222"
#define ARN_WEST "arn:aws:kms:us-west-2:111122223333:key/11111111-1111-4111-8111-111111111111"
#define SECRET "fake/Secret+Key0000000000000000000000000"
#define TOKEN "FAKE-SESSION-TOKEN-0123456789"
#define PT "0123456789abcdef0123456789abcdef"
#define PT_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

static const char enc_ok[] = "{\"CiphertextBlob\": \"Y2lwaGVydGV4dA==\", \"KeyId\": \"" ARN1
                             "\", \"EncryptionAlgorithm\": \"SYMMETRIC_DEFAULT\"}";
static const char dec_ok[] = "{\"KeyId\": \"" ARN1 "\", \"Plaintext\": \"" PT_B64 "\"}";

static p11kms_config *cfg;

/* Backend for one key given as JSON members of the key object; NULL (and rv) on failure. */
static p11kms_backend *make(const char *members, CK_RV *rv_out)
{
    char text[2048];
    p11kms_backend *be = NULL;
    CK_RV rv;

    p11kms_config_free(cfg);
    cfg = NULL;
    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"backend\": "
             "\"aws\", %s}]}]}",
             members);
    rv = p11kms_config_parse(text, strlen(text), "test", &cfg);
    if (rv == CKR_OK)
        rv = p11kms_backend_new(&cfg->tokens[0].keys[0], &be);
    if (rv_out)
        *rv_out = rv;
    return be;
}

static p11kms_context *ctx_of(const char *k1, const char *v1, const char *k2, const char *v2)
{
    p11kms_context *c = NULL;

    p11kms_context_new(&c);
    if (k1)
        p11kms_context_add(c, k1, strlen(k1), v1, strlen(v1), 0);
    if (k2)
        p11kms_context_add(c, k2, strlen(k2), v2, strlen(v2), 0);
    return c;
}

static void test_config(void)
{
    CK_RV rv;
    p11kms_backend *be;

    fake_reset();
    be = make("\"key_id\": \"" ARN1 "\", \"endpoint\": \"http://127.0.0.1:4566\"", &rv);
    is_rv(rv, CKR_OK, "a key ARN with a loopback endpoint");
    is_num(fake.n_seen, 0, "creating the backend sends nothing");
    p11kms_backend_free(be);
    make("\"key_id\": \"not a key\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "a malformed key id is refused");
    make("\"key_id\": \"" ARN1 "\", \"endpoint\": \"http://10.1.2.3\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "plain http off loopback is refused");
    make("\"key_id\": \"" ARN1 "\", \"endpoint\": \"https://user@h\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "user info in the endpoint is refused");
    make("\"key_id\": \"" ARN1 "\", \"endpoint\": \"https://h:99999\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "a port out of range is refused");
    make("\"key_id\": \"" ARN1 "\", \"max_attempts\": 0", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "max_attempts 0 is refused");
    make("\"key_id\": \"" ARN1 "\", \"request_timeout_ms\": \"ten\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "a timeout that is not a number is refused");
    make("\"key_id\": \"" ARN1 "\", \"ca_file\": \"/nonexistent/ca.pem\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "an unreadable CA bundle is refused");
    make("\"key_id\": \"" ARN1 "\", \"region\": \"us east\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "a malformed region is refused");
    make("\"key_id\": \"" ARN1 "\", \"colour\": \"blue\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "unknown fields are refused (the options list)");
}

/* Encrypt once with the queued answer; the recorded request is fake.seen[0]. */
static CK_RV encrypt_once(p11kms_backend *be, const p11kms_context *ctx, p11kms_kms_blob *out)
{
    return be->ops->encrypt(be, ctx, (const uint8_t *)PT, 32, out);
}

static void test_encrypt_request(void)
{
    p11kms_backend *be =
        make("\"key_id\": \"alias/app\", \"endpoint\": \"http://127.0.0.1:4566\"", NULL);
    p11kms_context *ctx = ctx_of("tenant", "a\"b", "app", "p11");
    p11kms_kms_blob blob;
    p11kms_json root, v, ec;
    fake_request *r;
    const char *h;
    char *s = NULL;
    uint8_t *pt = NULL;
    size_t n = 0;

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_ok);
    is_rv(encrypt_once(be, ctx, &blob), CKR_OK, "Encrypt through an alias");
    r = &fake.seen[0];
    is_num(fake.n_seen, 1, "one request");
    ok(strcmp(r->method, "POST") == 0 && strcmp(r->url, "http://127.0.0.1:4566/") == 0,
       "POST / to the endpoint");
    ok((h = fake_header(r, "Host")) && strcmp(h, "127.0.0.1:4566") == 0, "Host with the port");
    ok((h = fake_header(r, "X-Amz-Target")) && strcmp(h, "TrentService.Encrypt") == 0,
       "X-Amz-Target");
    ok((h = fake_header(r, "Content-Type")) && strcmp(h, "application/x-amz-json-1.1") == 0,
       "JSON 1.1 content type");
    ok((h = fake_header(r, "X-Amz-Date")) && strlen(h) == 16 && h[8] == 'T', "X-Amz-Date");
    ok(fake_header(r, "X-Amz-Security-Token") == NULL, "no token header for long-term keys");
    ok((h = fake_header(r, "Authorization")) &&
           strncmp(h, "AWS4-HMAC-SHA256 Credential=AKIDFAKE/", 37) == 0 &&
           strstr(h, "/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                     "x-amz-target, Signature=") != NULL,
       "Authorization: scope and signed headers");
    ok(fake_header(r, "Expect") == NULL && fake_header(r, "User-Agent") == NULL,
       "no Expect or User-Agent among the signed request headers");
    ok(p11kms_json_parse(r->body, r->body_len, &root) == 0, "the body is JSON");
    ok(p11kms_json_member(&root, "KeyId", &v) && p11kms_json_string(&v, 99, &s) == 0 &&
           strcmp(s, "alias/app") == 0,
       "KeyId as configured");
    free(s);
    ok(p11kms_json_member(&root, "Plaintext", &v) && p11kms_json_base64(&v, 64, &pt, &n) == 0 &&
           n == 32 && memcmp(pt, PT, 32) == 0,
       "Plaintext is the data key, base64");
    p11kms_secure_free(pt, n);
    ok(p11kms_json_member(&root, "EncryptionContext", &ec) &&
           p11kms_json_member(&ec, "tenant", &v) && p11kms_json_string(&v, 9, &s) == 0 &&
           strcmp(s, "a\"b") == 0,
       "EncryptionContext is the native map");
    free(s);
    ok(blob.backend_id == 2 && strcmp(blob.key_ref, ARN1) == 0 && blob.key_version == 0 &&
           blob.ct_len == 10 && memcmp(blob.ct, "ciphertext", 10) == 0,
       "the blob: the key ARN the KMS answered with, and the ciphertext");
    ok(be->ops->blob_bound(be, 32) >= strlen(blob.key_ref) + blob.ct_len,
       "blob_bound covers what Encrypt produced");
    p11kms_kms_blob_clear(&blob);

    fake_reset();
    p11kms_context_free(ctx);
    ctx = ctx_of(NULL, NULL, NULL, NULL);
    fake_push(P11KMS_HTTP_OK, 200, enc_ok);
    is_rv(encrypt_once(be, ctx, &blob), CKR_OK, "Encrypt with an empty context");
    ok(p11kms_json_parse(fake.seen[0].body, fake.seen[0].body_len, &root) == 0 &&
           !p11kms_json_member(&root, "EncryptionContext", &v),
       "an empty context sends no map");
    p11kms_kms_blob_clear(&blob);

    fake_reset();
    is_rv(be->ops->encrypt(be, ctx, (const uint8_t *)PT, 0, &blob), CKR_DATA_LEN_RANGE,
          "0 bytes: CKR_DATA_LEN_RANGE");
    is_rv(be->ops->encrypt(be, ctx, (const uint8_t *)PT, P11KMS_KMS_PLAINTEXT_MAX + 1, &blob),
          CKR_DATA_LEN_RANGE, "4097 bytes: CKR_DATA_LEN_RANGE");
    is_num(fake.n_seen, 0, "without asking the KMS");

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"CiphertextBlob\": \"Y2lwaGVy\", \"KeyId\": \"" ARN_WEST "\"}");
    is_rv(encrypt_once(be, ctx, &blob), CKR_DEVICE_ERROR,
          "an answer naming a key of another region than the alias's is refused");
    fake_push(P11KMS_HTTP_OK, 200, "{\"KeyId\": \"" ARN1 "\"}");
    is_rv(encrypt_once(be, ctx, &blob), CKR_DEVICE_ERROR, "an answer without ciphertext");
    fake_push(P11KMS_HTTP_OK, 200, "{\"CiphertextBlob\": \"@@@@\", \"KeyId\": \"" ARN1 "\"}");
    is_rv(encrypt_once(be, ctx, &blob), CKR_DEVICE_ERROR, "ciphertext that is not base64");
    fake_push(P11KMS_HTTP_OK, 200, "Internal error");
    is_rv(encrypt_once(be, ctx, &blob), CKR_DEVICE_ERROR, "a 200 that is not JSON");
    p11kms_context_free(ctx);
    p11kms_backend_free(be);

    be = make("\"key_id\": \"" ARN1 "\"", NULL);
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "{\"CiphertextBlob\": \"Y2lwaGVy\", \"KeyId\": \"" ARN2 "\"}");
    is_rv(encrypt_once(be, NULL, &blob), CKR_DEVICE_ERROR,
          "an answer for another key than the configured ARN is refused");
    ok(strcmp(fake.seen[0].url, "https://kms.us-east-1.amazonaws.com/") == 0 &&
           strcmp(fake_header(&fake.seen[0], "Host"), "kms.us-east-1.amazonaws.com") == 0,
       "the default endpoint is the key ARN's region");
    p11kms_backend_free(be);
}

static void test_endpoints(void)
{
    p11kms_backend *be;
    p11kms_kms_blob blob;

    setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
    be = make("\"key_id\": \"k1\", \"region\": \"us-west-2\"", NULL);
    fake_reset();
    encrypt_once(be, NULL, &blob);
    ok(strcmp(fake.seen[0].url, "https://kms-fips.us-west-2.amazonaws.com/") == 0,
       "AWS_USE_FIPS_ENDPOINT selects the FIPS endpoint");
    p11kms_backend_free(be);
    unsetenv("AWS_USE_FIPS_ENDPOINT");

    be = make("\"key_id\": \"k1\", \"region\": \"cn-north-1\"", NULL);
    fake_reset();
    encrypt_once(be, NULL, &blob);
    ok(strcmp(fake.seen[0].url, "https://kms.cn-north-1.amazonaws.com.cn/") == 0,
       "China regions use amazonaws.com.cn");
    p11kms_backend_free(be);

    be = make("\"key_id\": \"k1\", \"endpoint\": \"https://KMS.Example.com:443/\"", NULL);
    fake_reset();
    encrypt_once(be, NULL, &blob);
    ok(strcmp(fake_header(&fake.seen[0], "Host"), "kms.example.com") == 0,
       "the default port is left out of the signed Host");
    p11kms_backend_free(be);

    setenv("AWS_ENDPOINT_URL_KMS", "http://localhost:9", 1);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    be = make("\"key_id\": \"k1\"", NULL);
    fake_reset();
    encrypt_once(be, NULL, &blob);
    ok(strcmp(fake.seen[0].url, "https://kms.us-east-1.amazonaws.com/") == 0,
       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns the variables off");
    p11kms_backend_free(be);
    unsetenv("AWS_ENDPOINT_URL_KMS");
    unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
}

static void test_decrypt(void)
{
    p11kms_backend *be = make("\"key_id\": \"" ARN1 "\"", NULL);
    p11kms_context *ctx = ctx_of("app", "p11", NULL, NULL);
    p11kms_kms_blob in = {2, (char *)ARN1, 0, (uint8_t *)"ciphertext", 10};
    p11kms_json root, v;
    p11kms_buf pt = {NULL, 0};
    char *s = NULL;

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, dec_ok);
    is_rv(be->ops->decrypt(be, ctx, &in, &pt), CKR_OK, "Decrypt");
    ok(pt.len == 32 && memcmp(pt.data, PT, 32) == 0, "the plaintext");
    p11kms_buf_wipe(&pt);
    ok(p11kms_json_parse(fake.seen[0].body, fake.seen[0].body_len, &root) == 0 &&
           p11kms_json_member(&root, "KeyId", &v) && p11kms_json_string(&v, 200, &s) == 0 &&
           strcmp(s, ARN1) == 0 && p11kms_json_member(&root, "EncryptionContext", &v) &&
           p11kms_json_member(&root, "CiphertextBlob", &v),
       "Decrypt sends KeyId, CiphertextBlob and the context");
    free(s);
    ok(strcmp(fake_header(&fake.seen[0], "X-Amz-Target"), "TrentService.Decrypt") == 0,
       "TrentService.Decrypt");

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "{\"KeyId\": \"" ARN2 "\", \"Plaintext\": \"" PT_B64 "\"}");
    is_rv(be->ops->decrypt(be, ctx, &in, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "an answer from another key than the blob names is refused");
    ok(pt.data == NULL, "and no plaintext is returned");
    fake_push(P11KMS_HTTP_OK, 400, "{\"__type\": \"InvalidCiphertextException\"}");
    is_rv(be->ops->decrypt(be, ctx, &in, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "InvalidCiphertextException");
    fake_push(P11KMS_HTTP_OK, 400, "{\"__type\": \"IncorrectKeyException\"}");
    is_rv(be->ops->decrypt(be, ctx, &in, &pt), CKR_ENCRYPTED_DATA_INVALID, "IncorrectKeyException");
    fake_push(P11KMS_HTTP_OK, 200, "{\"KeyId\": \"" ARN1 "\"}");
    is_rv(be->ops->decrypt(be, ctx, &in, &pt), CKR_DEVICE_ERROR, "an answer without plaintext");

    ok(be->ops->owns(be, &in), "owns: the configured ARN");
    in.key_ref = (char *)ARN2;
    ok(!be->ops->owns(be, &in), "owns: not another key");
    in.key_ref = (char *)ARN1;
    in.backend_id = 1;
    ok(!be->ops->owns(be, &in), "owns: not another backend's blob");
    p11kms_backend_free(be);
    p11kms_context_free(ctx);
}

static void test_owns(void)
{
    p11kms_kms_blob b1 = {2, (char *)ARN1, 0, (uint8_t *)"c", 1};
    p11kms_kms_blob b2 = {2, (char *)ARN2, 0, (uint8_t *)"c", 1};
    p11kms_kms_blob west = {2, (char *)ARN_WEST, 0, (uint8_t *)"c", 1};
    p11kms_kms_blob out;
    p11kms_backend *be;

    be = make("\"key_id\": \"11111111-1111-4111-8111-111111111111\", \"region\": \"us-east-1\"",
              NULL);
    ok(be->ops->owns(be, &b1) && !be->ops->owns(be, &b2) && !be->ops->owns(be, &west),
       "a key id owns its ARN in its region only");
    p11kms_backend_free(be);

    be = make("\"key_id\": \"alias/app\", \"region\": \"us-east-1\"", NULL);
    ok(be->ops->owns(be, &b1) && be->ops->owns(be, &b2) && !be->ops->owns(be, &west),
       "an unresolved alias may own any key of its region (the KMS decides)");
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_ok);
    is_rv(encrypt_once(be, NULL, &out), CKR_OK, "the alias resolves on Encrypt");
    p11kms_kms_blob_clear(&out);
    ok(be->ops->owns(be, &b1) && !be->ops->owns(be, &b2), "a resolved alias owns the key it names");
    ok(be->ops->blob_bound(be, 32) == strlen(ARN1) + 6144, "and bounds blobs by that ARN");
    p11kms_backend_free(be);

    be = make("\"key_id\": \"arn:aws:kms:us-east-1:999999999999:alias/app\"", NULL);
    ok(!be->ops->owns(be, &b1), "an alias ARN does not own keys of another account");
    p11kms_backend_free(be);
}

static CK_RV call_with(p11kms_backend *be, int n, const fake_answer *answers, size_t *calls)
{
    p11kms_kms_blob out;
    CK_RV rv;
    int i;

    fake_reset();
    for (i = 0; i < n; i++)
        fake.queue[fake.n_queue++] = answers[i];
    rv = encrypt_once(be, NULL, &out);
    if (rv == CKR_OK)
        p11kms_kms_blob_clear(&out);
    *calls = fake.n_seen;
    return rv;
}

static void test_retries(void)
{
    const fake_answer ok200 = {P11KMS_HTTP_OK, 200, enc_ok, NULL, 0};
    const fake_answer conn = {P11KMS_HTTP_E_CONNECT, 0, NULL, NULL, 0};
    const fake_answer tls = {P11KMS_HTTP_E_TLS, 0, NULL, NULL, 0};
    const fake_answer nomem = {P11KMS_HTTP_E_NOMEM, 0, NULL, NULL, 0};
    const fake_answer thr = {P11KMS_HTTP_OK, 400, "{\"__type\": \"ThrottlingException\"}", NULL, 0};
    const fake_answer unknown = {P11KMS_HTTP_OK, 404, "{\"__type\": \"UnknownOperation\"}", NULL,
                                 0};
    const fake_answer forbidden = {P11KMS_HTTP_OK, 403, "", NULL, 0};
    const fake_answer expired = {P11KMS_HTTP_OK, 400, "{\"__type\": \"ExpiredTokenException\"}",
                                 NULL, 0};
    const fake_answer slow = {P11KMS_HTTP_E_TIMEOUT, 0, NULL, NULL, 150};
    fake_answer a[4];
    p11kms_backend *be = make("\"key_id\": \"" ARN1 "\"", NULL);
    size_t calls, i, worst;
    CK_RV rv;

    a[0] = conn, a[1] = conn, a[2] = ok200;
    is_rv(call_with(be, 3, a, &calls), CKR_OK, "two connection failures, then success");
    is_num(calls, 3, "3 attempts");
    a[0] = tls;
    is_rv(call_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "a TLS failure is final");
    is_num(calls, 1, "1 attempt");
    a[0] = nomem;
    is_rv(call_with(be, 1, a, &calls), CKR_HOST_MEMORY, "out of memory: CKR_HOST_MEMORY");
    a[0] = thr, a[1] = thr, a[2] = thr, a[3] = ok200;
    is_rv(call_with(be, 4, a, &calls), CKR_DEVICE_ERROR, "throttled 3 times: CKR_DEVICE_ERROR");
    is_num(calls, 3, "max_attempts (3) requests");
    a[0] = unknown;
    is_rv(call_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "an unknown 404 error: final");
    is_num(calls, 1, "1 attempt");
    a[0] = forbidden;
    is_rv(call_with(be, 1, a, &calls), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an unnamed 403: CKR_KEY_FUNCTION_NOT_PERMITTED");
    a[0] = expired, a[1] = ok200;
    is_rv(call_with(be, 2, a, &calls), CKR_DEVICE_ERROR,
          "long-term keys that are rejected are not retried");
    is_num(calls, 1, "1 attempt");
    p11kms_backend_free(be);

    setenv("AWS_SESSION_TOKEN", TOKEN, 1);
    be = make("\"key_id\": \"" ARN1 "\"", NULL);
    a[0] = expired, a[1] = ok200;
    is_rv(call_with(be, 2, a, &calls), CKR_OK,
          "rejected temporary credentials: fetched again, retried once");
    is_num(calls, 2, "2 attempts");
    ok(strstr(fake_header(&fake.seen[1], "Authorization"), "x-amz-security-token") != NULL &&
           strcmp(fake_header(&fake.seen[1], "X-Amz-Security-Token"), TOKEN) == 0,
       "the session token is sent and signed");
    p11kms_backend_free(be);
    unsetenv("AWS_SESSION_TOKEN");

    /* deadline 400 ms: no attempt is given more time than is left, and it stops early */
    be = make("\"key_id\": \"" ARN1 "\", \"deadline_ms\": 400, \"max_attempts\": 10", NULL);
    for (i = 0; i < 4; i++)
        a[i] = slow;
    rv = call_with(be, 4, a, &calls);
    is_rv(rv, CKR_DEVICE_ERROR, "slow failures until the deadline: CKR_DEVICE_ERROR");
    ok(calls >= 2 && calls <= 3, "stopped by the deadline, not by max_attempts (10)");
    for (worst = 0, i = 0; i < calls; i++)
        if (fake.seen[i].timeout_ms > worst)
            worst = fake.seen[i].timeout_ms;
    ok(worst <= 400, "no attempt's timeout reaches past the deadline");
    ok(fake.seen[calls - 1].timeout_ms < 400, "later attempts get only what is left");
    p11kms_backend_free(be);

    /* the retry quota: 50 timeout-class retries empty it, then calls stop retrying */
    be = make("\"key_id\": \"" ARN1 "\", \"max_attempts\": 2", NULL);
    for (i = 0; i < 50; i++) {
        a[0] = conn, a[1] = conn;
        call_with(be, 2, a, &calls);
        if (calls != 2)
            break;
    }
    is_num(i, 50, "50 calls retried once each");
    a[0] = conn, a[1] = ok200;
    is_rv(call_with(be, 2, a, &calls), CKR_DEVICE_ERROR, "with the quota empty, no retry");
    is_num(calls, 1, "1 attempt");
    for (i = 0; i < 10; i++) {
        a[0] = ok200;
        call_with(be, 1, a, &calls);
    }
    a[0] = conn, a[1] = ok200;
    is_rv(call_with(be, 2, a, &calls), CKR_OK, "successes refill it");
    p11kms_backend_free(be);
}

static void test_reencrypt_and_describe(void)
{
    p11kms_backend *src = make("\"key_id\": \"" ARN1 "\"", NULL);
    p11kms_config *keep = cfg;
    p11kms_backend *dst;
    p11kms_kms_blob in = {2, (char *)ARN1, 0, (uint8_t *)"ciphertext", 10}, out;
    p11kms_context *sc = ctx_of("a", "1", NULL, NULL), *dc = ctx_of("b", "2", NULL, NULL);
    p11kms_json root, v;
    char *text = NULL;

    cfg = NULL;
    dst = make("\"key_id\": \"" ARN2 "\"", NULL);
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"CiphertextBlob\": \"bmV3\", \"KeyId\": \"" ARN2 "\", \"SourceKeyId\": \"" ARN1
              "\"}");
    is_rv(src->ops->reencrypt(src, sc, &in, dst, dc, &out), CKR_OK, "ReEncrypt");
    ok(strcmp(out.key_ref, ARN2) == 0 && out.ct_len == 3 && memcmp(out.ct, "new", 3) == 0,
       "a blob of the destination key");
    p11kms_kms_blob_clear(&out);
    ok(strcmp(fake_header(&fake.seen[0], "X-Amz-Target"), "TrentService.ReEncrypt") == 0 &&
           p11kms_json_parse(fake.seen[0].body, fake.seen[0].body_len, &root) == 0 &&
           p11kms_json_member(&root, "SourceEncryptionContext", &v) &&
           p11kms_json_member(&root, "DestinationEncryptionContext", &v) &&
           p11kms_json_member(&root, "SourceKeyId", &v) &&
           p11kms_json_member(&root, "DestinationKeyId", &v),
       "both keys and both contexts are sent; no plaintext passes through here");
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"CiphertextBlob\": \"bmV3\", \"KeyId\": \"" ARN2 "\", \"SourceKeyId\": \"" ARN2
              "\"}");
    is_rv(src->ops->reencrypt(src, sc, &in, dst, dc, &out), CKR_ENCRYPTED_DATA_INVALID,
          "a source key other than the blob's is refused");

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"KeyMetadata\": {\"Arn\": \"" ARN1 "\", \"KeyState\": \"Enabled\", \"Enabled\": "
              "true, \"CreationDate\": 1.7e9, \"KeyUsage\": \"ENCRYPT_DECRYPT\", "
              "\"EncryptionAlgorithms\": [\"SYMMETRIC_DEFAULT\"]}}");
    is_rv(src->ops->describe(src, &text), CKR_OK, "DescribeKey");
    ok(text && strstr(text, "state: Enabled") && strstr(text, "arn: " ARN1) &&
           strstr(text, "encryption algorithms: SYMMETRIC_DEFAULT") &&
           strstr(text, "enabled: true"),
       "its text names ARN, state, algorithms");
    free(text);
    p11kms_backend_free(src);
    p11kms_backend_free(dst);
    p11kms_config_free(keep);
    p11kms_context_free(sc);
    p11kms_context_free(dc);
}

/* The whole log so far (logcap_take keeps only a window). */
static char *whole_log(void)
{
    FILE *f = fopen(logcap_path, "r");
    char *buf = NULL;
    size_t len = 0;
    long n;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf != NULL)
        len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    if (buf != NULL)
        buf[len] = 0;
    return buf;
}

int main(void)
{
    char *log;

    test_start();
    setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/p11kms-test/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/p11kms-test/credentials", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_KMS");
    fake_init();
    logcap_start(P11KMS_LOG_DEBUG);
    test_config();
    test_encrypt_request();
    test_endpoints();
    test_decrypt();
    test_owns();
    test_retries();
    test_reencrypt_and_describe();

    log = whole_log();
    ok(strstr(log, "aws: Encrypt") != NULL && strstr(log, "request id") != NULL,
       "failures were logged with the request id");
    ok(strstr(log, SECRET) == NULL && strstr(log, TOKEN) == NULL && strstr(log, PT_B64) == NULL &&
           strstr(log, PT) == NULL && strstr(log, "Signature=") == NULL,
       "no secret key, session token, plaintext or signature in any log line (debug level)");
    free(log);
    p11kms_config_free(cfg);
    fake_reset();
    p11kms_http_set_override(NULL);
    return test_exit_code();
}
