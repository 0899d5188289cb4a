/* fuzz-aws-json.c - fuzz target for AWS KMS answers: the input is an HTTP response (or a bare
 * body) that Encrypt, Decrypt, ReEncrypt and DescribeKey get from a fake transport, and whose
 * body the JSON reader, the error parser and the key reference parser also read directly. */
#include <string.h>
#include "module/backends/aws/aws-client.h"
#include "module/backends/aws/aws-retry.h"
#include "module/net/clock.h"
#include "module/net/json.h"
#include "module/net/sbuf.h"
#include "backend.h"
#include "config-load.h"
#include "secmem.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/aws-fuzz.h"

#define ARN1 "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-4111-8111-111111111111"
#define PT "0123456789abcdef0123456789abcdef"
#define WALK_NAMES 16
#define WALK_ELEMENTS 32

/* Member names the readers look up, at every level of the document. */
static const char *const names[WALK_NAMES] = {
    "KeyId",
    "CiphertextBlob",
    "Plaintext",
    "SourceKeyId",
    "KeyMetadata",
    "Arn",
    "Enabled",
    "CreationDate",
    "__type",
    "message",
    "Message",
    "EncryptionAlgorithms",
    "KeySpec",
    "a",
    "",
    "Key\"Id",
};

static const char config_text[] =
    "{\"tokens\": [{\"label\": \"t\", \"keys\": ["
    "{\"label\": \"arn\", \"backend\": \"aws\", \"key_id\": \"" ARN1 "\", "
    "\"endpoint\": \"http://127.0.0.1:9\", \"max_attempts\": 1}, "
    "{\"label\": \"alias\", \"backend\": \"aws\", \"key_id\": \"alias/app\", "
    "\"region\": \"us-east-1\", \"endpoint\": \"http://127.0.0.1:9\", \"max_attempts\": 1}]}]}";

static fake_answer answer;
static fake_http http;
static p11kms_config *cfg;

static const fake_answer *route(fake_http *f, const p11kms_http_request *req)
{
    (void)f;
    (void)req;
    return &answer;
}

static void setup(void)
{
    if (cfg != NULL)
        return;
    fuzz_quiet_log();
    fuzz_aws_clean_env();
    setenv("AWS_ACCESS_KEY_ID", "AKIDFUZZ", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "fuzz/Secret+Key0000000000000000000000000", 1);
    fake_http_init(&http, route);
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

static int inside(const p11kms_json *outer, const p11kms_json *v)
{
    return v->p >= outer->p && v->len >= 1 && v->len <= outer->len &&
           (size_t)(v->p - outer->p) <= outer->len - v->len;
}

/* A decoded string encodes back to JSON that decodes to the same string. */
static void check_string(const p11kms_json *v)
{
    p11kms_json root, w;
    p11kms_sbuf b;
    char *s = NULL, *again = NULL;
    size_t n;

    if (p11kms_json_string(v, v->len, &s) != 0) {
        FUZZ_ASSERT(s == NULL);
        return;
    }
    n = strlen(s);
    FUZZ_ASSERT(n + 2 <= v->len);
    if (n > 0) {
        FUZZ_ASSERT(p11kms_json_string(v, n - 1, &again) != 0 && again == NULL);
    }
    p11kms_sbuf_init(&b, 0);
    p11kms_sbuf_str(&b, "{\"s\":");
    p11kms_sbuf_json_string(&b, s, n);
    p11kms_sbuf_char(&b, '}');
    FUZZ_ASSERT(!b.failed);
    FUZZ_ASSERT(p11kms_json_parse(b.p, b.len, &root) == 0);
    FUZZ_ASSERT(p11kms_json_member(&root, "s", &w));
    FUZZ_ASSERT(p11kms_json_string(&w, n, &again) == 0 && strcmp(again, s) == 0);
    free(again);
    p11kms_sbuf_wipe(&b);
    free(s);
}

/* Base64 is decoded strictly, so what decodes encodes back to exactly the same text. */
static void check_base64(const p11kms_json *v)
{
    p11kms_sbuf b;
    uint8_t *d = NULL, *again = NULL;
    size_t n = 0, n2 = 0;

    if (p11kms_json_base64(v, v->len, &d, &n) != 0) {
        FUZZ_ASSERT(d == NULL && n == 0);
        return;
    }
    FUZZ_ASSERT(n >= 1 && n <= (v->len - 2) / 4 * 3);
    FUZZ_ASSERT(p11kms_json_base64(v, n - 1, &again, &n2) != 0 && again == NULL);
    p11kms_sbuf_init(&b, 0);
    p11kms_sbuf_base64(&b, d, n);
    FUZZ_ASSERT(!b.failed && b.len == v->len - 2 && memcmp(b.p, v->p + 1, b.len) == 0);
    p11kms_sbuf_wipe(&b);
    p11kms_secure_free(d, n);
}

static void check_scalar(const p11kms_json *v)
{
    char num[64];
    int b;

    if (p11kms_json_number_text(v, num, sizeof(num)) == 0)
        FUZZ_ASSERT(strlen(num) == v->len && memcmp(num, v->p, v->len) == 0);
    if (p11kms_json_bool(v, &b) == 0)
        FUZZ_ASSERT(v->len == (b ? 4u : 5u));
}

/* Every value reachable by the names above (and array indexes) reads within its parent. */
static void walk(const p11kms_json *v, int depth)
{
    p11kms_json sub, w;
    size_t i;

    FUZZ_ASSERT(depth <= P11KMS_JSON_MAX_DEPTH);
    check_string(v);
    check_base64(v);
    check_scalar(v);
    if (v->p[0] == '{') {
        /* a member object is a complete document of its own */
        FUZZ_ASSERT(p11kms_json_parse(v->p, v->len, &w) == 0);
        FUZZ_ASSERT(w.p == v->p && w.len == v->len);
        for (i = 0; i < WALK_NAMES; i++) {
            if (p11kms_json_member(v, names[i], &sub)) {
                FUZZ_ASSERT(inside(v, &sub));
                walk(&sub, depth + 1);
            }
        }
    } else if (v->p[0] == '[') {
        for (i = 0; i < WALK_ELEMENTS && p11kms_json_index(v, i, &sub); i++) {
            FUZZ_ASSERT(inside(v, &sub));
            walk(&sub, depth + 1);
        }
    }
}

/* A key reference that parses is exactly the sum of its parts. */
static void check_keyref(const char *s)
{
    p11kms_aws_keyref r;
    char back[P11KMS_KEY_REF_MAX + 64];

    if (p11kms_aws_keyref_parse(s, &r) != 0)
        return;
    FUZZ_ASSERT(memchr(r.partition, 0, sizeof(r.partition)) &&
                memchr(r.region, 0, sizeof(r.region)));
    FUZZ_ASSERT(memchr(r.account, 0, sizeof(r.account)) && memchr(r.id, 0, sizeof(r.id)));
    FUZZ_ASSERT(r.id[0] != 0);
    switch (r.kind) {
    case P11KMS_AWS_KEY_ARN:
        snprintf(back, sizeof(back), "arn:%s:kms:%s:%s:key/%s", r.partition, r.region, r.account,
                 r.id);
        break;
    case P11KMS_AWS_ALIAS_ARN:
        snprintf(back, sizeof(back), "arn:%s:kms:%s:%s:alias/%s", r.partition, r.region, r.account,
                 r.id);
        break;
    case P11KMS_AWS_KEY_ID:
        snprintf(back, sizeof(back), "%s", r.id);
        break;
    case P11KMS_AWS_ALIAS_NAME:
        snprintf(back, sizeof(back), "alias/%s", r.id);
        break;
    default:
        abort();
    }
    FUZZ_ASSERT(strcmp(back, s) == 0);
}

/* The error parser always yields a printable, non-empty code and a printable message, and a
 * smaller buffer holds a prefix of the same text. */
static void check_error(const char *body, size_t len, long status)
{
    char code[P11KMS_NET_CODE_MAX], msg[P11KMS_NET_MESSAGE_MAX], c2[6], m2[9], want[32];
    char c1[1], m0 = 'x';
    p11kms_json root;
    CK_RV rv;

    p11kms_aws_error_parse(body, len, status, code, sizeof(code), msg, sizeof(msg));
    FUZZ_ASSERT(code[0] != 0 && printable(code) && printable(msg));
    p11kms_aws_error_parse(body, len, status, c2, sizeof(c2), m2, sizeof(m2));
    FUZZ_ASSERT(strlen(c2) == (strlen(code) < 5 ? strlen(code) : 5));
    FUZZ_ASSERT(strncmp(c2, code, strlen(c2)) == 0);
    FUZZ_ASSERT(strlen(m2) == (strlen(msg) < 8 ? strlen(msg) : 8));
    FUZZ_ASSERT(strncmp(m2, msg, strlen(m2)) == 0);
    p11kms_aws_error_parse(body, len, status, c1, sizeof(c1), &m0, 0);
    FUZZ_ASSERT(c1[0] == 0 && m0 == 'x');
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0) {
        snprintf(want, sizeof(want), "HTTP %ld", status);
        FUZZ_ASSERT(strcmp(code, want) == 0 && msg[0] == 0);
    }
    rv = p11kms_aws_error_rv(code, status);
    FUZZ_ASSERT(rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                rv == CKR_DEVICE_ERROR);
    FUZZ_ASSERT(p11kms_aws_retry_kind(P11KMS_HTTP_OK, status, code) <= P11KMS_NET_RETRY_TRANSIENT);
}

static void check_request_id(void)
{
    p11kms_http_response r;
    char id[128], small[4];
    size_t n;

    memset(&r, 0, sizeof(r));
    r.headers = malloc(answer.headers_len + 1);
    FUZZ_ASSERT(r.headers != NULL);
    memcpy(r.headers, answer.headers, answer.headers_len);
    r.headers[answer.headers_len] = 0;
    r.headers_len = answer.headers_len;
    if (p11kms_http_response_header(&r, "x-amzn-RequestId", id, sizeof(id))) {
        n = strlen(id);
        FUZZ_ASSERT(n < sizeof(id) && n <= r.headers_len);
        /* trimmed (a NUL byte, which curl refuses in headers, would end the text early) */
        if (memchr(r.headers, 0, r.headers_len) == NULL)
            FUZZ_ASSERT(n == 0 || (id[0] != ' ' && id[0] != '\t' && id[n - 1] != ' '));
        /* a value that fits the small buffer is the same value */
        if (p11kms_http_response_header(&r, "x-amzn-RequestId", small, sizeof(small)))
            FUZZ_ASSERT(strcmp(small, id) == 0);
    }
    p11kms_http_response_clear(&r);
}

/* What the answer holds, read with the public reader (NULL / 0 when absent or unusable). */
typedef struct expect {
    int transport_ok; /* the exchange gave a response */
    int json_ok;      /* ... with status 200 and a JSON object body */
    CK_RV error_rv;   /* what a call ends with when it is not a usable 200 */
    char *key_id, *source_key_id, *meta_arn;
    int has_meta;
    uint8_t *ct, *pt;
    size_t ct_len, pt_len;
} expect;

static void read_expect(const char *body, size_t len, expect *x)
{
    char code[P11KMS_NET_CODE_MAX], msg[P11KMS_NET_MESSAGE_MAX];
    p11kms_json root, v, meta;

    memset(x, 0, sizeof(*x));
    x->transport_ok = answer.hr == P11KMS_HTTP_OK && len <= P11KMS_AWS_MAX_RESPONSE &&
                      answer.headers_len + 1 <= P11KMS_HTTP_HEADERS_MAX;
    x->error_rv = CKR_DEVICE_ERROR;
    if (!x->transport_ok)
        return;
    if (answer.status != 200) {
        p11kms_aws_error_parse(body, len, answer.status, code, sizeof(code), msg, sizeof(msg));
        if (p11kms_aws_retry_kind(P11KMS_HTTP_OK, answer.status, code) == P11KMS_NET_NO_RETRY)
            x->error_rv = p11kms_aws_error_rv(code, answer.status);
        return;
    }
    if (p11kms_json_parse(body, len, &root) != 0)
        return;
    x->json_ok = 1;
    if (p11kms_json_member(&root, "KeyId", &v))
        p11kms_json_string(&v, P11KMS_KEY_REF_MAX, &x->key_id);
    if (p11kms_json_member(&root, "SourceKeyId", &v))
        p11kms_json_string(&v, P11KMS_KEY_REF_MAX, &x->source_key_id);
    if (p11kms_json_member(&root, "CiphertextBlob", &v))
        p11kms_json_base64(&v, P11KMS_BLOB_CT_MAX, &x->ct, &x->ct_len);
    if (p11kms_json_member(&root, "Plaintext", &v))
        p11kms_json_base64(&v, P11KMS_KMS_PLAINTEXT_MAX, &x->pt, &x->pt_len);
    x->has_meta = p11kms_json_member(&root, "KeyMetadata", &meta);
    if (x->has_meta && p11kms_json_member(&meta, "Arn", &v))
        p11kms_json_string(&v, 1024, &x->meta_arn);
}

static void clear_expect(expect *x)
{
    free(x->key_id);
    free(x->source_key_id);
    free(x->meta_arn);
    free(x->ct);
    p11kms_secure_free(x->pt, x->pt_len);
}

/* Whether an answered key ARN is one the alias backend (us-east-1) may use. */
static int alias_fits(const char *arn)
{
    p11kms_aws_keyref r;

    return arn != NULL && p11kms_aws_keyref_parse(arn, &r) == 0 && r.kind == P11KMS_AWS_KEY_ARN &&
           strcmp(r.region, "us-east-1") == 0;
}

/* Encrypt's outcome: OK with exactly the answered KeyId and ciphertext, when they fit. */
static void check_encrypt(p11kms_backend *be, const p11kms_context *ctx, const expect *x, int fits)
{
    p11kms_kms_blob blob;
    CK_RV rv, want;

    rv = be->ops->encrypt(be, ctx, (const uint8_t *)PT, 32, &blob);
    if (!x->json_ok)
        want = x->error_rv;
    else
        want = x->key_id != NULL && x->ct != NULL && fits ? CKR_OK : CKR_DEVICE_ERROR;
    FUZZ_ASSERT(rv == want);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(blob.backend_id == P11KMS_AWS_ENVELOPE_ID && blob.key_version == 0);
        FUZZ_ASSERT(strcmp(blob.key_ref, x->key_id) == 0);
        FUZZ_ASSERT(blob.ct_len == x->ct_len && memcmp(blob.ct, x->ct, x->ct_len) == 0);
        FUZZ_ASSERT(be->ops->owns(be, &blob));
        p11kms_kms_blob_clear(&blob);
    }
}

static void run_backends(const expect *x, const char *body, size_t len)
{
    p11kms_backend *arn = NULL, *alias = NULL;
    p11kms_context *ctx = NULL;
    p11kms_kms_blob in, out;
    p11kms_buf pt = {NULL, 0};
    char *text = NULL, ref[P11KMS_KEY_REF_MAX + 1], line[1100];
    CK_RV rv, want;

    FUZZ_ASSERT(p11kms_backend_new(&cfg->tokens[0].keys[0], &arn) == CKR_OK);
    FUZZ_ASSERT(p11kms_backend_new(&cfg->tokens[0].keys[1], &alias) == CKR_OK);
    FUZZ_ASSERT(p11kms_context_new(&ctx) == CKR_OK);
    FUZZ_ASSERT(p11kms_context_add(ctx, "app", 3, "fuzz", 4, 0) == CKR_OK);
    memset(&in, 0, sizeof(in));
    in.backend_id = P11KMS_AWS_ENVELOPE_ID;

    /* The body as a key reference in an envelope: owns() before any call resolved the alias. */
    if (len >= 1 && len <= P11KMS_KEY_REF_MAX && memchr(body, 0, len) == NULL) {
        memcpy(ref, body, len);
        ref[len] = 0;
        in.key_ref = ref;
        FUZZ_ASSERT(arn->ops->owns(arn, &in) == (strcmp(ref, ARN1) == 0));
        FUZZ_ASSERT(alias->ops->owns(alias, &in) == alias_fits(ref));
    }

    check_encrypt(arn, ctx, x, x->key_id != NULL && strcmp(x->key_id, ARN1) == 0);
    check_encrypt(alias, ctx, x, alias_fits(x->key_id));

    in.key_ref = (char *)ARN1;
    in.ct = (uint8_t *)"fuzz-ciphertext";
    in.ct_len = 15;
    rv = arn->ops->decrypt(arn, ctx, &in, &pt);
    if (!x->json_ok)
        want = x->error_rv;
    else if (x->key_id == NULL || x->pt == NULL)
        want = CKR_DEVICE_ERROR;
    else
        want = strcmp(x->key_id, ARN1) == 0 ? CKR_OK : CKR_ENCRYPTED_DATA_INVALID;
    FUZZ_ASSERT(rv == want);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(pt.len == x->pt_len && memcmp(pt.data, x->pt, pt.len) == 0);
        p11kms_buf_wipe(&pt);
    }

    rv = arn->ops->reencrypt(arn, ctx, &in, alias, ctx, &out);
    if (!x->json_ok)
        want = x->error_rv;
    else if (x->source_key_id == NULL || strcmp(x->source_key_id, ARN1) != 0)
        want = CKR_ENCRYPTED_DATA_INVALID;
    else
        want =
            x->key_id != NULL && x->ct != NULL && alias_fits(x->key_id) ? CKR_OK : CKR_DEVICE_ERROR;
    FUZZ_ASSERT(rv == want);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(strcmp(out.key_ref, x->key_id) == 0 && out.ct_len == x->ct_len);
        p11kms_kms_blob_clear(&out);
    }

    rv = arn->ops->describe(arn, &text);
    if (!x->json_ok)
        want = x->error_rv;
    else
        want = x->has_meta ? CKR_OK : CKR_DEVICE_ERROR;
    FUZZ_ASSERT(rv == want);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(strncmp(text, "backend: aws\nkey id: " ARN1 "\n", 22 + strlen(ARN1)) == 0);
        FUZZ_ASSERT(strstr(text, "\nrequest id: ") != NULL && text[strlen(text) - 1] == '\n');
        if (x->meta_arn != NULL) {
            snprintf(line, sizeof(line), "\narn: %s\n", x->meta_arn);
            FUZZ_ASSERT(strstr(text, line) != NULL);
        }
        free(text);
    } else {
        FUZZ_ASSERT(text == NULL);
    }

    p11kms_context_free(ctx);
    p11kms_backend_free(alias);
    p11kms_backend_free(arn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_json root;
    const char *body;
    char *str;
    expect x;

    setup();
    fuzz_cut_response(data, size, &answer);
    body = (const char *)answer.body;
    check_request_id();
    check_error(body, answer.body_len, answer.status);
    if (p11kms_json_parse(body, answer.body_len, &root) == 0) {
        FUZZ_ASSERT(root.p >= body && root.p[0] == '{' && root.p[root.len - 1] == '}');
        FUZZ_ASSERT((size_t)(root.p - body) + root.len <= answer.body_len);
        walk(&root, 0);
    }
    /* the body as a key reference (configured key ids and envelope references) */
    if (answer.body_len <= P11KMS_KEY_REF_MAX + 8) {
        str = malloc(answer.body_len + 1);
        FUZZ_ASSERT(str != NULL);
        memcpy(str, body, answer.body_len);
        str[answer.body_len] = 0;
        check_keyref(str);
        free(str);
    }
    read_expect(body, answer.body_len, &x);
    if (x.key_id != NULL)
        check_keyref(x.key_id);
    run_backends(&x, body, answer.body_len);
    clear_expect(&x);
    return 0;
}
