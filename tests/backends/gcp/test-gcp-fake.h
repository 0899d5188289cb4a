/* test-gcp-fake.h - for the gcp unit tests: the scripted transport (tests/fake-http.h) routed
 * by URL, so token endpoints answer from their own queue (or with a fresh token each time) and
 * Cloud KMS from the usual one; a service-account key made at start; credential files in a
 * private directory; and readers of what was sent (form fields, JWTs, JSON members). */
#ifndef P11KMS_TEST_GCP_FAKE_H
#define P11KMS_TEST_GCP_FAKE_H

#include <stdlib.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "tests/test.h"
#include "tests/fake-http.h"
#include "tests/unit/logcap.h"
#include "module/codec.h"
#include "module/net/json.h"

#define TOKEN_URI "http://127.0.0.1:9/token"
#define SA_EMAIL "p11kms-unit@p11kms-test.iam.gserviceaccount.com"
#define SA_KID "0123456789abcdef0123456789abcdef01234567"
#define TOKEN_PREFIX "ya29.fake-unit-token-"

static char gcp_dir[64];
static EVP_PKEY *gcp_sa_key;
static char *gcp_sa_pem;

/* ---- the routed transport ---- */

#define TOK_MAX 16
static fake_answer tok_queue[TOK_MAX];
static size_t tok_n, tok_next;
static unsigned long tok_issued;
static char tok_body[256];
static fake_answer tok_default;
static long tok_ttl = 3599;

/* Cloud KMS calls name a CryptoKey; everything else is a token endpoint or the metadata
 * server. */
static int gcp_is_kms(const char *url)
{
    return strstr(url, "/cryptoKeys/") != NULL;
}

static const fake_answer *gcp_route(fake_http *f, const p11kms_http_request *req)
{
    if (gcp_is_kms(req->url))
        return f->next < f->n_queue ? &f->queue[f->next++] : &f->dflt;
    if (tok_next < tok_n)
        return &tok_queue[tok_next++];
    tok_issued++;
    snprintf(tok_body, sizeof(tok_body),
             "{\"access_token\": \"" TOKEN_PREFIX "%lu\", \"expires_in\": %ld, \"token_type\": "
             "\"Bearer\"}",
             tok_issued, tok_ttl);
    memset(&tok_default, 0, sizeof(tok_default));
    tok_default.hr = P11KMS_HTTP_OK;
    tok_default.status = 200;
    tok_default.body = tok_body;
    tok_default.headers = "HTTP/1.1 200 OK\r\nMetadata-Flavor: Google\r\n\r\n";
    return &tok_default;
}

/* Forget everything, queues included; token endpoints answer fresh tokens again. */
static inline void gcp_reset(void)
{
    fake_reset();
    fake.route = gcp_route;
    tok_n = tok_next = 0;
    tok_ttl = 3599;
}

static inline void tok_push(int hr, long status, const char *body, const char *headers)
{
    fake_answer *a = &tok_queue[tok_n++];

    memset(a, 0, sizeof(*a));
    a->hr = hr;
    a->status = status;
    a->body = body;
    a->headers = headers;
}

/* Requests recorded to Cloud KMS (kms 1) or elsewhere (kms 0). */
static inline size_t gcp_count(int kms)
{
    size_t i, n = 0;

    for (i = 0; i < fake.n_seen; i++)
        n += gcp_is_kms(fake.seen[i].url) == kms;
    return n;
}

/* The i-th recorded request to Cloud KMS (kms 1) or elsewhere; NULL past the last. */
static inline fake_request *gcp_seen(int kms, size_t i)
{
    size_t k;

    for (k = 0; k < fake.n_seen; k++)
        if (gcp_is_kms(fake.seen[k].url) == kms && i-- == 0)
            return &fake.seen[k];
    return NULL;
}

/* ---- files ---- */

static void gcp_remove_dir(void)
{
    char cmd[128];

    if (gcp_dir[0] == 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gcp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", gcp_dir);
}

/* dir/name written with text (mode 0600); returns the path (rotating buffers). */
static inline const char *gcp_file(const char *name, const char *text)
{
    static char paths[8][160];
    static int next;
    char *p = paths[next++ % 8];
    FILE *f;

    snprintf(p, 160, "%s/%s", gcp_dir, name);
    f = fopen(p, "w");
    if (f == NULL) {
        printf("Bail out! cannot write %s\n", p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    chmod(p, 0600);
    return p;
}

/* The PEM with its line breaks escaped for JSON. */
static inline char *gcp_json_pem(void)
{
    size_t n = strlen(gcp_sa_pem), i, j = 0;
    char *out = malloc(2 * n + 1);

    for (i = 0; out != NULL && i < n; i++) {
        if (gcp_sa_pem[i] == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = gcp_sa_pem[i];
        }
    }
    if (out != NULL)
        out[j] = 0;
    return out;
}

/* A service-account key file (extra: more JSON members, ", \"quota_project_id\": \"q\""). */
static inline const char *gcp_sa_file(const char *name, const char *extra)
{
    char *pem = gcp_json_pem(), text[8192];

    snprintf(text, sizeof(text),
             "{\"type\": \"service_account\", \"project_id\": \"p11kms-test\", "
             "\"private_key_id\": \"" SA_KID "\", \"private_key\": \"%s\", "
             "\"client_email\": \"" SA_EMAIL "\", \"client_id\": \"1\", "
             "\"token_uri\": \"" TOKEN_URI "\"%s}",
             pem, extra != NULL ? extra : "");
    free(pem);
    return gcp_file(name, text);
}

/* Make the private directory and the service-account key; point ADC at nothing. */
static inline void gcp_setup(void)
{
    BIO *bio;
    char *p;
    long n;

    strcpy(gcp_dir, "/tmp/p11kms-gcp-unit-XXXXXX");
    if (mkdtemp(gcp_dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        exit(1);
    }
    atexit(gcp_remove_dir);
    gcp_sa_key = EVP_RSA_gen(2048);
    bio = BIO_new(BIO_s_mem());
    if (gcp_sa_key == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, gcp_sa_key, NULL, NULL, 0, NULL, NULL) != 1) {
        printf("Bail out! cannot make an RSA key\n");
        exit(1);
    }
    n = BIO_get_mem_data(bio, &p);
    gcp_sa_pem = strndup(p, (size_t)n);
    BIO_free(bio);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GOOGLE_CLOUD_QUOTA_PROJECT");
    unsetenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS");
    unsetenv("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE");
    unsetenv("METADATA_SERVER_DETECTION");
    setenv("CLOUDSDK_CONFIG", gcp_dir, 1);
    setenv("GCE_METADATA_HOST", "127.0.0.1:7", 1);
    fake_init();
    gcp_reset();
}

static inline void gcp_teardown(void)
{
    fake_reset();
    p11kms_http_set_override(NULL);
    EVP_PKEY_free(gcp_sa_key);
    free(gcp_sa_pem);
}

/* ---- what was sent ---- */

/* The value of a form field (decoded from %XX and '+'), in a static buffer; NULL if absent. */
static inline const char *form_field(const char *body, const char *name)
{
    static char v[8192];
    size_t n = strlen(name), j = 0;
    const char *p = body;

    while (p != NULL && *p) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            for (p += n + 1; *p && *p != '&' && j + 1 < sizeof(v); p++) {
                if (*p == '%' && p[1] && p[2]) {
                    v[j++] = (char)(p11kms_hex_digit(p[1]) * 16 + p11kms_hex_digit(p[2]));
                    p += 2;
                } else {
                    v[j++] = *p == '+' ? ' ' : *p;
                }
            }
            v[j] = 0;
            return v;
        }
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return NULL;
}

/* base64url (unpadded) into a malloc'd buffer; NULL if malformed. */
static inline uint8_t *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    char *t = malloc(n + 4);
    uint8_t *out = malloc(n + 4);
    size_t i;
    long got;

    if (t == NULL || out == NULL || n % 4 == 1)
        goto bad;
    for (i = 0; i < n; i++) {
        if (s[i] == '=' || s[i] == '+' || s[i] == '/')
            goto bad;
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    }
    while (i % 4)
        t[i++] = '=';
    got = p11kms_base64_decode(t, i, out);
    if (got < 0)
        goto bad;
    *out_len = (size_t)got;
    free(t);
    return out;
bad:
    free(t);
    free(out);
    return NULL;
}

/* A JWT's header and claims (malloc'd JSON texts) and whether its RS256 signature verifies
 * under the test key. 0 ok, -1 malformed. */
static inline int jwt_open(const char *jwt, char **header, char **claims, int *verified)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    size_t hl, cl, sl;
    uint8_t *h = NULL, *c = NULL, *sig = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = -1;

    *header = *claims = NULL;
    *verified = 0;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL || md == NULL)
        goto out;
    h = b64url_decode(jwt, (size_t)(d1 - jwt), &hl);
    c = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
    sig = b64url_decode(d2 + 1, strlen(d2 + 1), &sl);
    if (h == NULL || c == NULL || sig == NULL)
        goto out;
    *header = strndup((char *)h, hl);
    *claims = strndup((char *)c, cl);
    *verified = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, gcp_sa_key) == 1 &&
                EVP_DigestVerify(md, sig, sl, (const uint8_t *)jwt, (size_t)(d2 - jwt)) == 1;
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    free(h);
    free(c);
    free(sig);
    return rc;
}

/* A string member of a JSON text, in a static buffer ("" when absent). */
static inline const char *json_member_str(const char *text, size_t len, const char *name)
{
    static char buf[8][2048];
    static int next;
    char *b = buf[next++ % 8], *s = NULL;
    p11kms_json root, v;

    b[0] = 0;
    if (text != NULL && p11kms_json_parse(text, len, &root) == 0 &&
        p11kms_json_member(&root, name, &v)) {
        if (p11kms_json_string(&v, sizeof(buf[0]) - 1, &s) == 0)
            snprintf(b, sizeof(buf[0]), "%s", s);
        else
            snprintf(b, sizeof(buf[0]), "%.*s", (int)v.len, v.p);
    }
    free(s);
    return b;
}

/* The whole log so far (logcap_take keeps only a window); malloc'd. */
static inline char *whole_log(void)
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

#endif
