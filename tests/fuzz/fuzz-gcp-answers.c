/* fuzz-gcp-answers.c - fuzz target for Cloud KMS answers: the input is an HTTP response (or a
 * bare body) that encrypt, decrypt, rewrap, GetCryptoKey and an asymmetric version's
 * getPublicKey and asymmetricSign get from a fake transport (tokens come from a scripted
 * metadata server), and whose body the google.rpc.Status error parser also reads directly.
 * What a call accepts must be exactly what the answer says, CRC32C checked; everything else
 * ends in one of the CK_RVs backend.h allows. */
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "module/backends/gcp/gcp-client.h"
#include "module/backends/gcp/gcp-crc32c.h"
#include "module/net/json.h"
#include "backend.h"
#include "config-load.h"
#include "keytype.h"
#include "secmem.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/aws-fuzz.h"

#define NAME "projects/p/locations/global/keyRings/r/cryptoKeys/k"
#define PT "0123456789abcdef0123456789abcdef"
#define MAX_ANSWER_PT 65536u

static const char config_text[] =
    "{\"tokens\": [{\"label\": \"t\", \"keys\": ["
    "{\"label\": \"k\", \"backend\": \"gcp\", \"key_id\": \"" NAME "\", "
    "\"endpoint\": \"http://127.0.0.1:9\", \"max_attempts\": 1},"
    "{\"label\": \"a\", \"backend\": \"gcp\", \"type\": \"ec-p256\", \"key_id\": \"" NAME
    "/cryptoKeyVersions/1\", \"endpoint\": \"http://127.0.0.1:9\", \"max_attempts\": 1}]}]}";

static const char token_headers[] = "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\n"
                                    "Content-Type: application/json\r\n\r\n";
static const char token_body[] =
    "{\"access_token\": \"ya29.fuzz\", \"expires_in\": 3599, \"token_type\": \"Bearer\"}";

static fake_answer answer, token;
static fake_http http;
static p11kms_config *cfg;
static char dir[64];

/* Cloud KMS URLs name a CryptoKey; the rest is the metadata server. */
static const fake_answer *route(fake_http *f, const p11kms_http_request *req)
{
    (void)f;
    return strstr(req->url, "/cryptoKeys/") != NULL ? &answer : &token;
}

static void remove_dir(void)
{
    rmdir(dir);
}

static void setup(void)
{
    if (cfg != NULL)
        return;
    fuzz_quiet_log();
    strcpy(dir, "/tmp/p11kms-fuzz-gcp-XXXXXX");
    FUZZ_ASSERT(mkdtemp(dir) != NULL);
    atexit(remove_dir);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GOOGLE_CLOUD_QUOTA_PROJECT");
    unsetenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS");
    unsetenv("METADATA_SERVER_DETECTION");
    setenv("CLOUDSDK_CONFIG", dir, 1); /* empty: no gcloud file */
    setenv("GCE_METADATA_HOST", "127.0.0.1:7", 1);
    fake_http_init(&http, route);
    token.hr = P11KMS_HTTP_OK;
    token.status = 200;
    token.sized = 1;
    token.headers = token_headers;
    token.headers_len = sizeof(token_headers) - 1;
    token.body = token_body;
    token.body_len = sizeof(token_body) - 1;
    p11kms_http_set_override(&http.base);
    FUZZ_ASSERT(p11kms_config_parse(config_text, strlen(config_text), "fuzz", &cfg) == CKR_OK);
}

static int printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return 0;
    return 1;
}

/* The error parser: a printable, non-empty code, a printable message, a retry class; the
 * mapping is one of the contract's CK_RVs. */
static void check_error(const char *body, size_t len, long status)
{
    p11kms_net_outcome o;
    CK_RV rv;

    memset(&o, 0, sizeof(o));
    o.status = status;
    p11kms_gcp_error_parse(body, len, status, &o);
    FUZZ_ASSERT(o.code[0] != 0 && printable(o.code) && printable(o.message));
    FUZZ_ASSERT(memchr(o.request_id, 0, sizeof(o.request_id)) != NULL && printable(o.request_id));
    FUZZ_ASSERT(o.retry == P11KMS_NET_NO_RETRY || o.retry == P11KMS_NET_RETRY_TRANSIENT ||
                o.retry == P11KMS_NET_RETRY_THROTTLE);
    rv = p11kms_gcp_error_rv(&o);
    FUZZ_ASSERT(rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_DEVICE_ERROR);
}

/* A CRC member as Google sends it (a decimal string, or a number): 0 if absent or not one. */
static int crc_member(const p11kms_json *o, const char *name, uint32_t *out)
{
    p11kms_json v;
    char num[32], *end;
    unsigned long long n;

    if (!p11kms_json_member(o, name, &v))
        return 0;
    if (v.p[0] == '"') {
        if (v.len < 3 || v.len - 2 >= sizeof(num))
            return 0;
        memcpy(num, v.p + 1, v.len - 2);
        num[v.len - 2] = 0;
    } else if (p11kms_json_number_text(&v, num, sizeof(num)) != 0) {
        return 0;
    }
    if (num[0] < '0' || num[0] > '9')
        return 0;
    n = strtoull(num, &end, 10);
    if (*end != 0 || n > 0xffffffffull)
        return 0;
    *out = (uint32_t)n;
    return 1;
}

static void check_encrypt(p11kms_backend *be, const p11kms_context *ctx, const char *body,
                          size_t len)
{
    p11kms_kms_blob blob;
    p11kms_json root, v;
    char *name = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    uint32_t crc;
    CK_RV rv;

    rv = be->ops->encrypt(be, ctx, (const uint8_t *)PT, 32, &blob);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_HOST_MEMORY);
    if (rv != CKR_OK)
        return;
    /* accepted: a 200 JSON answer whose ciphertext is the blob's, its CRC matching, a version of
     * this key */
    FUZZ_ASSERT(answer.status == 200 && p11kms_json_parse(body, len, &root) == 0);
    FUZZ_ASSERT(p11kms_json_member(&root, "ciphertext", &v) &&
                p11kms_json_base64(&v, P11KMS_BLOB_CT_MAX, &ct, &ct_len) == 0);
    FUZZ_ASSERT(blob.backend_id == P11KMS_GCP_ENVELOPE_ID && strcmp(blob.key_ref, NAME) == 0);
    FUZZ_ASSERT(blob.ct_len == ct_len && memcmp(blob.ct, ct, ct_len) == 0);
    FUZZ_ASSERT(crc_member(&root, "ciphertextCrc32c", &crc) &&
                crc == p11kms_gcp_crc32c(ct, ct_len));
    FUZZ_ASSERT(blob.key_version >= 1 && be->ops->current_version(be) >= 1);
    /* the name as JSON decodes it ("\/" is "/"), not as it is spelled */
    FUZZ_ASSERT(p11kms_json_member(&root, "name", &v) &&
                p11kms_json_string(&v, P11KMS_KEY_REF_MAX, &name) == 0 &&
                strncmp(name, NAME "/cryptoKeyVersions/", strlen(NAME) + 19) == 0);
    FUZZ_ASSERT(be->ops->owns(be, &blob));
    free(name);
    free(ct);
    p11kms_kms_blob_clear(&blob);
}

static void check_decrypt(p11kms_backend *be, const p11kms_context *ctx, const char *body,
                          size_t len)
{
    p11kms_kms_blob in;
    p11kms_buf pt = {NULL, 0};
    p11kms_json root, v;
    uint8_t *want = NULL;
    size_t want_len = 0;
    uint32_t crc;
    CK_RV rv;

    memset(&in, 0, sizeof(in));
    in.backend_id = P11KMS_GCP_ENVELOPE_ID;
    in.key_ref = (char *)NAME;
    in.key_version = 1;
    in.ct = (uint8_t *)"fuzz-ciphertext";
    in.ct_len = 15;
    rv = be->ops->decrypt(be, ctx, &in, &pt);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_HOST_MEMORY);
    if (rv != CKR_OK) {
        FUZZ_ASSERT(pt.data == NULL && pt.len == 0);
        return;
    }
    FUZZ_ASSERT(answer.status == 200 && p11kms_json_parse(body, len, &root) == 0);
    FUZZ_ASSERT(p11kms_json_member(&root, "plaintext", &v) &&
                p11kms_json_base64(&v, MAX_ANSWER_PT, &want, &want_len) == 0);
    FUZZ_ASSERT(pt.len == want_len && memcmp(pt.data, want, want_len) == 0);
    FUZZ_ASSERT(crc_member(&root, "plaintextCrc32c", &crc) &&
                crc == p11kms_gcp_crc32c(want, want_len));
    p11kms_secure_free(want, want_len);
    p11kms_buf_wipe(&pt);
}

static void run_backend(const char *body, size_t len)
{
    p11kms_backend *be = NULL;
    p11kms_context *ctx = NULL;
    p11kms_kms_blob in, out;
    char *text = NULL;
    CK_RV rv;

    FUZZ_ASSERT(p11kms_backend_new(&cfg->tokens[0].keys[0], &be) == CKR_OK);
    FUZZ_ASSERT(p11kms_context_new(&ctx) == CKR_OK);
    FUZZ_ASSERT(p11kms_context_add(ctx, "app", 3, "fuzz", 4, 0) == CKR_OK);
    check_encrypt(be, ctx, body, len);
    check_decrypt(be, ctx, body, len);

    /* rewrap: the same answer to decrypt and encrypt can only both pass if it holds both */
    memset(&in, 0, sizeof(in));
    in.backend_id = P11KMS_GCP_ENVELOPE_ID;
    in.key_ref = (char *)NAME;
    in.ct = (uint8_t *)"fuzz-ciphertext";
    in.ct_len = 15;
    rv = be->ops->reencrypt(be, ctx, &in, be, ctx, &out);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_HOST_MEMORY);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(strcmp(out.key_ref, NAME) == 0 && out.ct_len >= 1);
        p11kms_kms_blob_clear(&out);
    }

    rv = be->ops->describe(be, &text);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(text != NULL && strstr(text, NAME) != NULL && text[strlen(text) - 1] == '\n');
        free(text);
    } else {
        FUZZ_ASSERT(text == NULL);
    }
    p11kms_context_free(ctx);
    p11kms_backend_free(be);
}

/* An asymmetric version (EC_SIGN_P256_SHA256 expected): getPublicKey, then asymmetricSign and
 * asymmetricDecrypt, all answered with the same body; a fresh instance per input, so the
 * algorithm is read from this body. */
static void run_asym(const char *body, size_t len)
{
    static const uint8_t digest[32] = {1, 2, 3};
    p11kms_backend *be = NULL;
    p11kms_buf spki = {NULL, 0}, sig = {NULL, 0}, pt = {NULL, 0};
    const unsigned char *p;
    EVP_PKEY *pk;
    CK_RV rv;

    FUZZ_ASSERT(p11kms_backend_new(&cfg->tokens[0].keys[1], &be) == CKR_OK);
    rv = be->ops->public_key(be, &spki);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_HOST_MEMORY);
    if (rv == CKR_OK) {
        /* accepted: a 200 answer for this version, naming its algorithm, a public key parsed */
        FUZZ_ASSERT(answer.status == 200 && memmem(body, len, "EC_SIGN_P256_SHA256", 19) != NULL);
        p = spki.data;
        pk = d2i_PUBKEY(NULL, &p, (long)spki.len);
        FUZZ_ASSERT(pk != NULL);
        EVP_PKEY_free(pk);
        p11kms_buf_free(&spki);
    } else {
        FUZZ_ASSERT(spki.data == NULL);
    }
    rv = be->ops->sign_digest(be, P11KMS_SIG_ECDSA_SHA256, digest, sizeof(digest), &sig);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_HOST_MEMORY);
    if (rv == CKR_OK)
        FUZZ_ASSERT(sig.len >= 1 && sig.len <= 1024 && answer.status == 200);
    p11kms_buf_free(&sig);
    /* an EC version never decrypts: refused before anything is sent */
    rv = be->ops->asym_decrypt(be, P11KMS_OAEP_SHA256, digest, sizeof(digest), &pt);
    FUZZ_ASSERT(rv != CKR_OK && pt.data == NULL);
    p11kms_backend_free(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fuzz_cut_response(data, size, &answer);
    check_error(answer.body, answer.body_len, answer.status);
    run_backend(answer.body, answer.body_len);
    run_asym(answer.body, answer.body_len);
    return 0;
}
