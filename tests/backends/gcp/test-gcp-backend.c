/* test-gcp-backend.c - the gcp backend through its function table with a scripted transport:
 * configuration checks, the exact requests it sends (URL, bearer token, AAD, CRC32Cs), every
 * answer check (CRCs both ways, verified flags, the version name), the error mapping, retries,
 * the token refetch after a 401, quota projects, owns(), rewrap, describe, and clean logs. */
#include "tests/backends/gcp/test-gcp-fake.h"
#include "module/backend.h"
#include "module/backends/gcp/gcp-crc32c.h"
#include "module/config-load.h"
#include "module/config.h"
#include "module/secmem.h"

#define NAME "projects/p11kms-test/locations/global/keyRings/ring/cryptoKeys/key"
#define OTHER "projects/p11kms-test/locations/global/keyRings/ring/cryptoKeys/other"
#define ENDPOINT "http://127.0.0.1:4443"
#define PT "0123456789abcdef0123456789abcdef"
#define PT_B64 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define CT "opaque Cloud KMS ciphertext"

static p11kms_config *cfg;
static const char *sa_path;

/* Backend for one key given as JSON members of the key object; NULL (and rv) on failure. */
static p11kms_backend *make(const char *members, CK_RV *rv_out)
{
    char text[4096];
    p11kms_backend *be = NULL;
    CK_RV rv;

    p11kms_config_free(cfg);
    cfg = NULL;
    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"backend\": "
             "\"gcp\", %s}]}]}",
             members);
    rv = p11kms_config_parse(text, strlen(text), "test", &cfg);
    if (rv == CKR_OK)
        rv = p11kms_backend_new(&cfg->tokens[0].keys[0], &be);
    if (rv_out)
        *rv_out = rv;
    return be;
}

static p11kms_backend *make_key(const char *name, const char *extra)
{
    char m[2048];

    snprintf(m, sizeof(m), "\"key_id\": \"%s\", \"endpoint\": \"" ENDPOINT "\"%s", name,
             extra != NULL ? extra : "");
    return make(m, NULL);
}

static p11kms_context *ctx_of(const char *k1, const char *v1)
{
    p11kms_context *c = NULL;

    p11kms_context_new(&c);
    if (k1)
        p11kms_context_add(c, k1, strlen(k1), v1, strlen(v1), 0);
    return c;
}

/* Answers, in rotating buffers (the fake keeps pointers). */
static char answers[8][2048];
static int answer_next;

static const char *enc_answer(const char *version_name, const char *ct, long crc_delta,
                              const char *flags)
{
    char *b = answers[answer_next++ % 8], ct64[512];
    uint32_t crc = p11kms_gcp_crc32c(ct, strlen(ct)) + (uint32_t)crc_delta;

    p11kms_base64_encode((const uint8_t *)ct, strlen(ct), ct64);
    snprintf(b, sizeof(answers[0]),
             "{\"name\": \"%s\", \"ciphertext\": \"%s\", \"ciphertextCrc32c\": \"%lu\"%s, "
             "\"protectionLevel\": \"SOFTWARE\"}",
             version_name, ct64, (unsigned long)crc, flags);
    return b;
}

#define VERIFIED                                                                                   \
    ", \"verifiedPlaintextCrc32c\": true, \"verifiedAdditionalAuthenticatedDataCrc32c\": true"

static const char *dec_answer(const char *pt, long crc_delta, int crc_as_number)
{
    char *b = answers[answer_next++ % 8], pt64[512];
    uint32_t crc = p11kms_gcp_crc32c(pt, strlen(pt)) + (uint32_t)crc_delta;

    p11kms_base64_encode((const uint8_t *)pt, strlen(pt), pt64);
    snprintf(b, sizeof(answers[0]),
             crc_as_number ? "{\"plaintext\": \"%s\", \"plaintextCrc32c\": %lu, \"usedPrimary\": "
                             "true}"
                           : "{\"plaintext\": \"%s\", \"plaintextCrc32c\": \"%lu\"}",
             pt64, (unsigned long)crc);
    return b;
}

static const char *status_body(long code, const char *status, const char *message,
                               const char *reason)
{
    char *b = answers[answer_next++ % 8];

    snprintf(b, sizeof(answers[0]),
             "{\"error\": {\"code\": %ld, \"message\": \"%s\", \"status\": \"%s\", \"details\": "
             "[{\"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": \"%s\", "
             "\"domain\": \"googleapis.com\"}, {\"@type\": "
             "\"type.googleapis.com/google.rpc.RequestInfo\", \"requestId\": \"req-%s\"}]}}",
             code, message, status, reason, status);
    return b;
}

static void test_config(void)
{
    static const char *const bad_names[] = {
        "projects/p/locations/l/keyRings/r/cryptoKeys/k?alt=media",
        "projects/p/locations/l/keyRings/../cryptoKeys/k",
        "projects/p/locations/l/keyRings/r%2Fx/cryptoKeys/k",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k#frag",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k k",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "projects/p/locations/l/keyRings/r/cryptoKeys",
        "cryptoKeys/k",
    };
    char m[512];
    CK_RV rv;
    size_t i;
    p11kms_backend *be;

    gcp_reset();
    be = make("\"key_id\": \"" NAME "\", \"endpoint\": \"" ENDPOINT "\"", &rv);
    is_rv(rv, CKR_OK, "a CryptoKey name with a loopback endpoint");
    is_num(fake.n_seen, 0, "creating the backend sends nothing and fetches no token");
    is_num(be != NULL ? be->ops->current_version(be) : 99, 0, "no version known before a call");
    p11kms_backend_free(be);
    for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        snprintf(m, sizeof(m), "\"key_id\": \"%s\"", bad_names[i]);
        make(m, &rv);
        snprintf(m, sizeof(m), "key_id \"%s\" is refused", bad_names[i]);
        is_rv(rv, CKR_ARGUMENTS_BAD, m);
    }
    be = make("\"key_id\": "
              "\"projects/example.com:p/locations/europe-west1/keyRings/r_1/cryptoKeys/k-2\"",
              &rv);
    is_rv(rv, CKR_OK, "a domain-scoped project and ids with _ - . : are names");
    p11kms_backend_free(be);
    make("\"key_id\": \"" NAME "\", \"endpoint\": \"http://10.1.2.3\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "plain http off loopback is refused");
    make("\"key_id\": \"" NAME "\", \"endpoint\": \"https://h/v1\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "an endpoint with a path is refused");
    make("\"key_id\": \"" NAME "\", \"credentials_file\": \"/nonexistent/sa.json\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "an unreadable credentials_file is refused at configuration");
    make("\"key_id\": \"" NAME "\", \"quota_project\": \"my project\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "a quota project with a space is refused");
    make("\"key_id\": \"" NAME "\", \"region\": \"us\"", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "unknown fields are refused (the options list)");
    make("\"key_id\": \"" NAME "\", \"max_attempts\": 11", &rv);
    is_rv(rv, CKR_ARGUMENTS_BAD, "max_attempts over 10 is refused");

    setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS", "https://kms.example.test:8443/", 1);
    be = make("\"key_id\": \"" NAME "\"", &rv);
    is_rv(rv, CKR_OK, "gcloud's endpoint override");
    fake_push(P11KMS_HTTP_E_TLS, 0, NULL);
    if (be != NULL) {
        p11kms_kms_blob blob;

        be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob);
        p11kms_backend_free(be);
    }
    ok(gcp_seen(1, 0) != NULL &&
           strcmp(gcp_seen(1, 0)->url, "https://kms.example.test:8443/v1/" NAME ":encrypt") == 0,
       "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS is where requests go");
    unsetenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS");
}

static void test_encrypt_request(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    p11kms_context *ctx = ctx_of("tenant", "a\"b");
    p11kms_kms_blob blob;
    fake_request *r, *t;
    uint8_t *aad = NULL, *sent = NULL;
    size_t aad_len = 0, sent_len = 0;
    char *header = NULL, *claims = NULL, num[16];
    const char *h;
    p11kms_json root, v;
    int verified = 0;

    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/7", CT, 0, VERIFIED));
    is_rv(be->ops->encrypt(be, ctx, (const uint8_t *)PT, 32, &blob), CKR_OK, "encrypt");
    is_num(gcp_count(1), 1, "one Cloud KMS request");
    is_num(gcp_count(0), 1, "one token request");
    r = gcp_seen(1, 0);
    ok(strcmp(r->method, "POST") == 0 && strcmp(r->url, ENDPOINT "/v1/" NAME ":encrypt") == 0,
       "POST /v1/{name}:encrypt on the CryptoKey (its primary version encrypts)");
    ok((h = fake_header(r, "Authorization")) &&
           strncmp(h, "Bearer " TOKEN_PREFIX, 7 + strlen(TOKEN_PREFIX)) == 0,
       "Authorization: Bearer <the access token>");
    ok((h = fake_header(r, "Content-Type")) && strcmp(h, "application/json") == 0,
       "Content-Type: application/json");
    ok(fake_header(r, "x-goog-user-project") == NULL, "no quota project unless one is set");
    ok(p11kms_json_parse(r->body, r->body_len, &root) == 0, "the body is JSON");
    ok(strcmp(json_member_str(r->body, r->body_len, "plaintext"), PT_B64) == 0,
       "plaintext in standard base64");
    snprintf(num, sizeof(num), "%lu", (unsigned long)p11kms_gcp_crc32c(PT, 32));
    ok(strcmp(json_member_str(r->body, r->body_len, "plaintextCrc32c"), num) == 0 &&
           p11kms_json_member(&root, "plaintextCrc32c", &v) && v.p[0] == '"',
       "plaintextCrc32c: the CRC32C as a decimal string (Int64Value)");
    p11kms_context_encode(ctx, &aad, &aad_len);
    h = json_member_str(r->body, r->body_len, "additionalAuthenticatedData");
    sent = malloc(strlen(h) + 4);
    ok(sent != NULL && p11kms_base64_decode(h, strlen(h), sent) == (long)aad_len &&
           memcmp(sent, aad, aad_len) == 0,
       "additionalAuthenticatedData is the context's canonical encoding");
    snprintf(num, sizeof(num), "%lu", (unsigned long)p11kms_gcp_crc32c(aad, aad_len));
    ok(strcmp(json_member_str(r->body, r->body_len, "additionalAuthenticatedDataCrc32c"), num) == 0,
       "additionalAuthenticatedDataCrc32c");
    free(sent);
    (void)sent_len;
    free(aad);
    ok(blob.backend_id == 3 && strcmp(blob.key_ref, NAME) == 0 && blob.key_version == 7 &&
           blob.ct_len == strlen(CT) && memcmp(blob.ct, CT, blob.ct_len) == 0,
       "the blob: gcp, the CryptoKey's name, version 7 from the answer, the ciphertext");
    is_num(be->ops->current_version(be), 7, "the key version is now the one that encrypted");
    ok(be->ops->owns(be, &blob), "owns its blob");
    p11kms_kms_blob_clear(&blob);

    t = gcp_seen(0, 0);
    ok(strcmp(t->method, "POST") == 0 && strcmp(t->url, TOKEN_URI) == 0 &&
           strcmp(fake_header(t, "Content-Type"), "application/x-www-form-urlencoded") == 0,
       "the token request: a form POST to the key file's token_uri");
    ok(strcmp(form_field(t->body, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer") ==
           0,
       "grant_type jwt-bearer");
    ok(jwt_open(form_field(t->body, "assertion"), &header, &claims, &verified) == 0 && verified,
       "the assertion is an RS256 JWT that verifies under the service account's public key");
    ok(header != NULL && strcmp(json_member_str(header, strlen(header), "alg"), "RS256") == 0 &&
           strcmp(json_member_str(header, strlen(header), "kid"), SA_KID) == 0 &&
           strcmp(json_member_str(header, strlen(header), "typ"), "JWT") == 0,
       "header: alg RS256, typ JWT, kid = private_key_id");
    ok(claims != NULL && strcmp(json_member_str(claims, strlen(claims), "iss"), SA_EMAIL) == 0 &&
           strcmp(json_member_str(claims, strlen(claims), "aud"), TOKEN_URI) == 0 &&
           strcmp(json_member_str(claims, strlen(claims), "scope"),
                  "https://www.googleapis.com/auth/cloudkms") == 0,
       "claims: iss the account, aud the token_uri, scope cloudkms only");
    if (claims != NULL) {
        long iat = atol(json_member_str(claims, strlen(claims), "iat"));
        long exp = atol(json_member_str(claims, strlen(claims), "exp"));

        ok(exp - iat == 3600 && labs(iat - (long)time(NULL)) < 300, "iat now, exp an hour later");
    }
    free(header);
    free(claims);

    /* the token is cached: the next call fetches none */
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/8", CT, 0, VERIFIED));
    is_rv(be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob), CKR_OK, "encrypt again");
    is_num(gcp_count(0), 1, "the cached token is used: no second token request");
    is_num(blob.key_version, 8, "after a rotation, the new primary's number");
    is_num(be->ops->current_version(be), 8, "and the key version follows it");
    p11kms_kms_blob_clear(&blob);
    p11kms_context_free(ctx);
    p11kms_backend_free(be);
}

/* Encrypt with queued answers; the CK_RV and the number of Cloud KMS requests. */
static CK_RV enc_with(p11kms_backend *be, size_t n, const fake_answer *a, size_t *calls)
{
    p11kms_kms_blob out;
    size_t i;
    CK_RV rv;

    gcp_reset();
    for (i = 0; i < n; i++)
        fake.queue[fake.n_queue++] = a[i];
    rv = be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &out);
    if (rv == CKR_OK)
        p11kms_kms_blob_clear(&out);
    *calls = gcp_count(1);
    return rv;
}

static fake_answer ans(long status, const char *body)
{
    fake_answer a;

    memset(&a, 0, sizeof(a));
    a.hr = P11KMS_HTTP_OK;
    a.status = status;
    a.body = body;
    return a;
}

static void test_encrypt_answers(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    fake_answer a[4];
    const char *good = enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED);
    size_t calls;

    a[0] = ans(200, enc_answer(OTHER "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR,
          "an answer naming a version of another key is refused");
    is_num(calls, 1, "and not asked again");
    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/01", CT, 0, VERIFIED));
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "a version number with a leading 0");
    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/4294967296", CT, 0, VERIFIED));
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "a version number over 32 bits");
    a[0] = ans(200, enc_answer(NAME, CT, 0, VERIFIED));
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "the key's name without a version");

    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 1, VERIFIED));
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_OK,
          "a ciphertext that does not match its CRC32C is discarded, and asked for again");
    is_num(calls, 2, "2 requests");
    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, ""));
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_OK, "an answer without the verified flags: again");
    is_num(calls, 2, "2 requests");
    a[0] = ans(
        200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, ", \"verifiedPlaintextCrc32c\": true"));
    a[1] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0,
                               ", \"verifiedAdditionalAuthenticatedDataCrc32c\": true, "
                               "\"verifiedPlaintextCrc32c\": false"));
    a[2] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, -1, VERIFIED));
    a[3] = ans(200, good);
    is_rv(enc_with(be, 4, a, &calls), CKR_DEVICE_ERROR,
          "three answers failing the checks: CKR_DEVICE_ERROR");
    is_num(calls, 3, "no fourth request (a bounded number of tries)");
    a[0] = ans(200, "{\"name\": \"" NAME "/cryptoKeyVersions/1\", \"ciphertext\": \"Y3Q=\", "
                    "\"ciphertextCrc32c\": 1234 " VERIFIED "}");
    a[1] = ans(200, "{\"name\": \"" NAME "/cryptoKeyVersions/1\", \"ciphertext\": \"Y3Q=\", "
                    "\"ciphertextCrc32c\": \"-1\"" VERIFIED "}");
    a[2] = ans(200, "{\"name\": \"" NAME "/cryptoKeyVersions/1\", \"ciphertext\": \"Y3Q=\", "
                    "\"ciphertextCrc32c\": \"4294967296\"" VERIFIED "}");
    is_rv(enc_with(be, 3, a, &calls), CKR_DEVICE_ERROR, "wrong, negative, 33-bit CRCs refused");
    a[0] = ans(200, "{\"name\": \"" NAME "/cryptoKeyVersions/2\", \"ciphertext\": \"Y3Q=\", "
                    "\"ciphertextCrc32c\": 4078451039" VERIFIED "}");
    is_rv(enc_with(be, 1, a, &calls), CKR_OK, "a CRC as a JSON number is accepted too");
    a[0] = ans(200, "{\"name\": \"" NAME "/cryptoKeyVersions/2\"" VERIFIED "}");
    a[1] = ans(200, "not json");
    is_rv(enc_with(be, 2, a, &calls), CKR_DEVICE_ERROR,
          "no ciphertext (asked again), then not JSON: CKR_DEVICE_ERROR");
    is_num(calls, 2, "a 200 that is not JSON ends it");
    a[0] = ans(400, status_body(400, "INVALID_ARGUMENT",
                                "The checksum in field plaintext_crc32c did not match.", "x"));
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR,
          "INVALID_ARGUMENT on encrypt is a device error (no ciphertext was refused)");
    p11kms_backend_free(be);
}

static CK_RV dec_with(p11kms_backend *be, const p11kms_context *ctx, size_t n, const fake_answer *a,
                      size_t *calls, p11kms_buf *pt)
{
    p11kms_kms_blob in = {3, (char *)NAME, 1, (uint8_t *)CT, sizeof(CT) - 1};
    size_t i;

    gcp_reset();
    for (i = 0; i < n; i++)
        fake.queue[fake.n_queue++] = a[i];
    memset(pt, 0, sizeof(*pt));
    {
        CK_RV rv = be->ops->decrypt(be, ctx, &in, pt);
        *calls = gcp_count(1);
        return rv;
    }
}

static void test_decrypt(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    p11kms_context *ctx = ctx_of("app", "billing");
    p11kms_kms_blob other = {3, (char *)OTHER, 1, (uint8_t *)CT, sizeof(CT) - 1};
    p11kms_kms_blob aws = {2, (char *)NAME, 0, (uint8_t *)CT, sizeof(CT) - 1};
    fake_answer a[4];
    p11kms_buf pt;
    fake_request *r;
    char num[16];
    size_t calls;

    a[0] = ans(200, dec_answer(PT, 0, 0));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_OK, "decrypt");
    ok(pt.len == 32 && memcmp(pt.data, PT, 32) == 0, "the plaintext");
    p11kms_buf_wipe(&pt);
    r = gcp_seen(1, 0);
    ok(strcmp(r->url, ENDPOINT "/v1/" NAME ":decrypt") == 0,
       "POST /v1/{name}:decrypt on the CryptoKey (never a version name)");
    snprintf(num, sizeof(num), "%lu", (unsigned long)p11kms_gcp_crc32c(CT, sizeof(CT) - 1));
    ok(strcmp(json_member_str(r->body, r->body_len, "ciphertextCrc32c"), num) == 0 &&
           json_member_str(r->body, r->body_len, "additionalAuthenticatedData")[0] != 0 &&
           json_member_str(r->body, r->body_len, "additionalAuthenticatedDataCrc32c")[0] != 0,
       "ciphertext, AAD and both CRC32Cs are sent");
    a[0] = ans(200, dec_answer(PT, 0, 1));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_OK, "plaintextCrc32c as a number");
    p11kms_buf_wipe(&pt);

    a[0] = ans(200, dec_answer(PT, 1, 0));
    a[1] = ans(200, dec_answer(PT, 0, 0));
    is_rv(dec_with(be, ctx, 2, a, &calls, &pt), CKR_OK,
          "a plaintext that does not match its CRC32C is discarded, and asked for again");
    ok(calls == 2 && pt.len == 32 && memcmp(pt.data, PT, 32) == 0, "the second answer's");
    p11kms_buf_wipe(&pt);
    a[0] = ans(200, "{\"plaintext\": \"" PT_B64 "\"}");
    a[1] = ans(200, dec_answer(PT, -5, 0));
    a[2] = ans(200, "{\"plaintextCrc32c\": \"0\"}");
    a[3] = ans(200, dec_answer(PT, 0, 0));
    is_rv(dec_with(be, ctx, 4, a, &calls, &pt), CKR_DEVICE_ERROR,
          "no CRC, a wrong CRC, no plaintext: CKR_DEVICE_ERROR after 3 answers");
    ok(calls == 3 && pt.data == NULL && pt.len == 0, "no plaintext handed out");

    a[0] = ans(400, status_body(400, "INVALID_ARGUMENT",
                                "Decryption failed: verify that 'name' refers to the correct "
                                "CryptoKey.",
                                "x"));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "INVALID_ARGUMENT (wrong AAD, tampered, another key): CKR_ENCRYPTED_DATA_INVALID");
    is_num(calls, 1, "not retried");
    a[0] = ans(400, status_body(400, "FAILED_PRECONDITION",
                                NAME "/cryptoKeyVersions/1 is not enabled, current state is: "
                                     "DISABLED.",
                                "x"));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "FAILED_PRECONDITION (disabled or destroyed version): CKR_KEY_FUNCTION_NOT_PERMITTED");
    a[0] = ans(
        403, status_body(403, "PERMISSION_DENIED", "Permission denied.", "IAM_PERMISSION_DENIED"));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "PERMISSION_DENIED: CKR_KEY_FUNCTION_NOT_PERMITTED");
    a[0] = ans(403, status_body(403, "PERMISSION_DENIED",
                                "Request had insufficient authentication scopes.",
                                "ACCESS_TOKEN_SCOPE_INSUFFICIENT"));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_DEVICE_ERROR,
          "a token without the KMS scope is a credential problem: CKR_DEVICE_ERROR");
    a[0] = ans(404, status_body(404, "NOT_FOUND", "CryptoKey not found.", "x"));
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "NOT_FOUND: CKR_KEY_FUNCTION_NOT_PERMITTED");
    a[0] = ans(404, "<!DOCTYPE html><html><body>Error 404 (Not Found)!!1</body></html>");
    is_rv(dec_with(be, ctx, 1, a, &calls, &pt), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an HTML 404 from the front end: CKR_KEY_FUNCTION_NOT_PERMITTED");

    gcp_reset();
    is_rv(be->ops->decrypt(be, ctx, &other, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "a blob naming another key is refused");
    ok(!be->ops->owns(be, &other) && !be->ops->owns(be, &aws), "owns neither it nor an aws blob");
    is_num(fake.n_seen, 0, "without asking Cloud KMS");
    p11kms_context_free(ctx);
    p11kms_backend_free(be);
}

static void test_retries(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    const char *good = enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED);
    fake_answer a[6], conn, tls;
    size_t calls, i;

    memset(&conn, 0, sizeof(conn));
    conn.hr = P11KMS_HTTP_E_CONNECT;
    tls = conn;
    tls.hr = P11KMS_HTTP_E_TLS;
    a[0] = ans(503, status_body(503, "UNAVAILABLE", "The service is currently unavailable.", "x"));
    a[1] = ans(504, status_body(504, "DEADLINE_EXCEEDED", "Deadline expired.", "x"));
    a[2] = conn;
    a[3] = ans(200, good);
    is_rv(enc_with(be, 4, a, &calls), CKR_OK, "UNAVAILABLE, DEADLINE_EXCEEDED, a reset: retried");
    is_num(calls, 4, "4 requests");
    a[0] =
        ans(429, status_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "RATE_LIMIT_EXCEEDED"));
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_OK, "RESOURCE_EXHAUSTED is retried with backoff");
    is_num(calls, 2, "2 requests");
    a[0] = ans(500, status_body(500, "INTERNAL", "Internal error encountered.", "x"));
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_DEVICE_ERROR,
          "INTERNAL is not retried (Google's client config): CKR_DEVICE_ERROR");
    is_num(calls, 1, "1 request");
    a[0] = ans(502, "<html>Bad Gateway</html>");
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_OK, "a front end's 502 without a status is retried");
    a[0] = tls;
    is_rv(enc_with(be, 1, a, &calls), CKR_DEVICE_ERROR, "a TLS failure is final");
    is_num(calls, 1, "1 request");
    for (i = 0; i < 6; i++)
        a[i] = ans(503, status_body(503, "UNAVAILABLE", "unavailable", "x"));
    is_rv(enc_with(be, 6, a, &calls), CKR_DEVICE_ERROR, "unavailable every time: CKR_DEVICE_ERROR");
    is_num(calls, 5, "after max_attempts (5) requests");
    p11kms_backend_free(be);
}

static void test_token_refresh(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    const char *good = enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED);
    const char *expired =
        status_body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
                    "ACCESS_TOKEN_EXPIRED");
    fake_answer a[3];
    unsigned long before;
    size_t calls;
    char first_auth[256];

    a[0] = ans(200, good);
    enc_with(be, 1, a, &calls); /* a token in the cache */
    before = tok_issued;
    a[0] = ans(401, expired);
    a[1] = ans(200, good);
    is_rv(enc_with(be, 2, a, &calls), CKR_OK,
          "a token Cloud KMS rejects (401) is dropped, a new one fetched, the call retried once");
    is_num(calls, 2, "2 Cloud KMS requests");
    is_num(tok_issued - before, 1, "1 new token");
    snprintf(first_auth, sizeof(first_auth), "%s",
             fake_header(gcp_seen(1, 0), "Authorization") ?: "");
    ok(first_auth[0] != 0 && fake_header(gcp_seen(1, 1), "Authorization") != NULL &&
           strcmp(first_auth, fake_header(gcp_seen(1, 1), "Authorization")) != 0,
       "the retry carries the new token");
    a[0] = ans(401, expired);
    a[1] = ans(401, expired);
    a[2] = ans(200, good);
    is_rv(enc_with(be, 3, a, &calls), CKR_DEVICE_ERROR,
          "rejected again with a fresh token: CKR_DEVICE_ERROR");
    is_num(calls, 2, "only one retry");
    p11kms_backend_free(be);
}

static void test_token_failures(void)
{
    p11kms_backend *be;
    p11kms_kms_blob blob;
    fake_answer a[1];
    size_t calls;
    const char *log;

    gcp_reset();
    be = make_key(NAME, NULL);
    tok_push(P11KMS_HTTP_OK, 400,
             "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT Signature.\"}",
             NULL);
    logcap_take();
    is_rv(be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob), CKR_DEVICE_ERROR,
          "a token endpoint that refuses the assertion: CKR_DEVICE_ERROR");
    is_num(gcp_count(1), 0, "Cloud KMS is not asked without a token");
    log = logcap_take();
    ok(strstr(log, "invalid_grant") && strstr(log, "Invalid JWT Signature.") &&
           strstr(log, TOKEN_URI),
       "one line names the endpoint, the OAuth error and its description");
    p11kms_backend_free(be);

    be = make_key(NAME, NULL);
    gcp_reset();
    tok_push(P11KMS_HTTP_OK, 503, "{\"error\": \"temporarily_unavailable\"}", NULL);
    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    fake.queue[fake.n_queue++] = a[0];
    is_rv(be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob), CKR_OK,
          "a token endpoint's 503 is retried");
    is_num(gcp_count(0), 2, "2 token requests");
    p11kms_kms_blob_clear(&blob);
    p11kms_backend_free(be);

    be = make_key(NAME, NULL);
    gcp_reset();
    tok_push(P11KMS_HTTP_OK, 200,
             "{\"access_token\": \"x\", \"expires_in\": 3599, "
             "\"token_type\": \"MAC\"}",
             NULL);
    tok_push(P11KMS_HTTP_OK, 200, "{\"access_token\": \"x\\ny\", \"expires_in\": 3599}", NULL);
    tok_push(P11KMS_HTTP_OK, 200, "{\"access_token\": \"x\", \"expires_in\": \"3599\"}", NULL);
    tok_push(P11KMS_HTTP_OK, 200, "{\"access_token\": \"x\", \"expires_in\": 0}", NULL);
    tok_push(P11KMS_HTTP_OK, 200, "<html>", NULL);
    for (calls = 0; calls < 5; calls++)
        if (be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob) != CKR_DEVICE_ERROR)
            break;
    is_num(calls, 5,
           "tokens that are not bearer, hold a line break, have no numeric lifetime, are expired "
           "or are not JSON: each CKR_DEVICE_ERROR");
    is_num(gcp_count(1), 0, "and none reached Cloud KMS");
    p11kms_backend_free(be);

    /* a short-lived token is fetched again before each call */
    be = make_key(NAME, NULL);
    gcp_reset();
    tok_ttl = 100;
    a[0] = ans(200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    fake.queue[fake.n_queue++] = a[0];
    fake.queue[fake.n_queue++] = a[0];
    be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob);
    p11kms_kms_blob_clear(&blob);
    be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob);
    p11kms_kms_blob_clear(&blob);
    is_num(gcp_count(0), 2, "a token within the mandatory refresh margin is not used again");
    tok_ttl = 3599;
    p11kms_backend_free(be);
}

static void test_quota_project(void)
{
    const char *with_quota = gcp_sa_file("sa-quota.json", ", \"quota_project_id\": \"from-file\"");
    char m[1024];
    p11kms_backend *be;
    p11kms_kms_blob blob;
    const char *h;

    snprintf(m, sizeof(m), ", \"credentials_file\": \"%s\"", with_quota);
    be = make_key(NAME, m);
    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    is_rv(be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob), CKR_OK,
          "encrypt with a key file that names a quota project");
    ok((h = fake_header(gcp_seen(1, 0), "x-goog-user-project")) && strcmp(h, "from-file") == 0,
       "x-goog-user-project: the file's quota_project_id");
    p11kms_kms_blob_clear(&blob);
    p11kms_backend_free(be);

    snprintf(m, sizeof(m), ", \"credentials_file\": \"%s\", \"quota_project\": \"configured\"",
             with_quota);
    be = make_key(NAME, m);
    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob);
    ok((h = fake_header(gcp_seen(1, 0), "x-goog-user-project")) && strcmp(h, "configured") == 0,
       "the configured quota_project wins over the file's");
    p11kms_kms_blob_clear(&blob);
    p11kms_backend_free(be);

    setenv("GOOGLE_CLOUD_QUOTA_PROJECT", "from-env", 1);
    be = make_key(NAME, NULL);
    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/1", CT, 0, VERIFIED));
    be->ops->encrypt(be, NULL, (const uint8_t *)PT, 32, &blob);
    ok((h = fake_header(gcp_seen(1, 0), "x-goog-user-project")) && strcmp(h, "from-env") == 0,
       "GOOGLE_CLOUD_QUOTA_PROJECT");
    unsetenv("GOOGLE_CLOUD_QUOTA_PROJECT");
    p11kms_kms_blob_clear(&blob);
    p11kms_backend_free(be);
}

static void test_reencrypt_and_describe(void)
{
    p11kms_backend *src = make_key(NAME, NULL);
    p11kms_config *keep = cfg;
    p11kms_backend *dst;
    p11kms_kms_blob in = {3, (char *)NAME, 1, (uint8_t *)CT, sizeof(CT) - 1}, out;
    p11kms_context *sc = ctx_of("a", "1"), *dc = ctx_of("b", "2");
    char *text = NULL;

    cfg = NULL;
    dst = make_key(NAME, NULL);
    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200, dec_answer(PT, 0, 0));
    fake_push(P11KMS_HTTP_OK, 200, enc_answer(NAME "/cryptoKeyVersions/2", "new", 0, VERIFIED));
    is_rv(src->ops->reencrypt(src, sc, &in, dst, dc, &out), CKR_OK,
          "rewrap: decrypt, then encrypt under the primary");
    ok(out.key_version == 2 && strcmp(out.key_ref, NAME) == 0 && out.ct_len == 3 &&
           memcmp(out.ct, "new", 3) == 0,
       "a blob of the primary version");
    ok(strstr(gcp_seen(1, 0)->url, ":decrypt") && strstr(gcp_seen(1, 1)->url, ":encrypt") &&
           strcmp(json_member_str(gcp_seen(1, 1)->body, gcp_seen(1, 1)->body_len, "plaintext"),
                  PT_B64) == 0,
       "decrypt then encrypt of the same plaintext");
    ok(strcmp(json_member_str(gcp_seen(1, 0)->body, gcp_seen(1, 0)->body_len,
                              "additionalAuthenticatedData"),
              json_member_str(gcp_seen(1, 1)->body, gcp_seen(1, 1)->body_len,
                              "additionalAuthenticatedData")) != 0,
       "each side with its own context");
    p11kms_kms_blob_clear(&out);
    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 400, status_body(400, "INVALID_ARGUMENT", "Decryption failed.", "x"));
    is_rv(src->ops->reencrypt(src, sc, &in, dst, dc, &out), CKR_ENCRYPTED_DATA_INVALID,
          "a refused source: nothing encrypted");
    is_num(gcp_count(1), 1, "no encrypt call");
    {
        const char *t = "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"l\", "
                        "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}";
        p11kms_config *lc = NULL;
        p11kms_backend *local = NULL;

        ok(p11kms_config_parse(t, strlen(t), "test", &lc) == CKR_OK &&
               p11kms_backend_new(&lc->tokens[0].keys[0], &local) == CKR_OK,
           "a local key");
        if (local != NULL)
            is_rv(src->ops->reencrypt(src, sc, &in, local, dc, &out), CKR_GENERAL_ERROR,
                  "rewrap to another backend is refused");
        p11kms_backend_free(local);
        p11kms_config_free(lc);
    }

    gcp_reset();
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"name\": \"" NAME "\", \"primary\": {\"name\": \"" NAME
              "/cryptoKeyVersions/2\", \"state\": \"ENABLED\", \"protectionLevel\": \"HSM\", "
              "\"algorithm\": \"GOOGLE_SYMMETRIC_ENCRYPTION\"}, \"purpose\": "
              "\"ENCRYPT_DECRYPT\", \"rotationPeriod\": \"7776000s\"}");
    is_rv(src->ops->describe(src, &text), CKR_OK, "describe: GetCryptoKey");
    ok(strcmp(gcp_seen(1, 0)->method, "GET") == 0 &&
           strcmp(gcp_seen(1, 0)->url, ENDPOINT "/v1/" NAME) == 0,
       "GET /v1/{name}");
    ok(text && strstr(text, "primary version: " NAME "/cryptoKeyVersions/2") &&
           strstr(text, "protection level: HSM") && strstr(text, "purpose: ENCRYPT_DECRYPT") &&
           strstr(text, "rotation period: 7776000s"),
       "its text names the primary version, protection level, purpose, rotation");
    free(text);
    p11kms_backend_free(src);
    p11kms_backend_free(dst);
    p11kms_config_free(keep);
    p11kms_context_free(sc);
    p11kms_context_free(dc);
}

static void test_sizes(void)
{
    p11kms_backend *be = make_key(NAME, NULL);
    uint8_t big[P11KMS_KMS_PLAINTEXT_MAX + 1];
    p11kms_kms_blob blob;

    memset(big, 7, sizeof(big));
    gcp_reset();
    is_rv(be->ops->encrypt(be, NULL, big, sizeof(big), &blob), CKR_DATA_LEN_RANGE,
          "more than the KMS plaintext limit: CKR_DATA_LEN_RANGE");
    is_rv(be->ops->encrypt(be, NULL, big, 0, &blob), CKR_DATA_LEN_RANGE, "nothing: too");
    is_num(fake.n_seen, 0, "before any request");
    ok(be->ops->blob_bound(be, 32) >= strlen(NAME) + 32 + 49 &&
           be->ops->blob_bound(be, 32) < strlen(NAME) + 1024,
       "blob_bound: the name and the ciphertext with room for Cloud KMS's framing");
    p11kms_backend_free(be);
}

int main(void)
{
    char *log;

    test_start();
    gcp_setup();
    sa_path = gcp_sa_file("sa.json", NULL);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_path, 1);
    logcap_start(P11KMS_LOG_DEBUG);
    test_config();
    test_encrypt_request();
    test_encrypt_answers();
    test_decrypt();
    test_retries();
    test_token_refresh();
    test_token_failures();
    test_quota_project();
    test_reencrypt_and_describe();
    test_sizes();

    log = whole_log();
    ok(strstr(log, "gcp: Decrypt " NAME " failed: INVALID_ARGUMENT (HTTP 400, request id "
                   "req-INVALID_ARGUMENT): Decryption failed") != NULL,
       "a failure is one line: operation, key, status, HTTP code, request id, message");
    ok(strstr(log, TOKEN_PREFIX) == NULL && strstr(log, PT_B64) == NULL &&
           strstr(log, PT) == NULL && strstr(log, "eyJ") == NULL &&
           strstr(log, "PRIVATE KEY") == NULL && strstr(log, "Bearer") == NULL,
       "no token, assertion, key, plaintext or Authorization header in any line (debug level)");
    free(log);
    p11kms_config_free(cfg);
    gcp_teardown();
    return test_exit_code();
}
