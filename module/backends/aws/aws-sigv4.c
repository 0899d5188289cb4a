/* aws-sigv4.c - our own AWS Signature Version 4 signer (headers variant) over OpenSSL's
 * HMAC-SHA256. Stateless; intermediate keys and token-bearing strings are wiped. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "aws-sigv4.h"
#include "net/sbuf.h"
#include "secmem.h"

/*
 * Why our own signer and not libcurl's CURLOPT_AWS_SIGV4: the signature has to be computed
 * where it can be tested without a network (the official suites' canonical requests and
 * strings to sign are compared byte for byte in tests/backends/aws/test-aws-sigv4.c), the same code
 * has to sign for any transport (tests and fuzzers replace libcurl), STS and IMDS-independent calls
 * need it too, and curl 7.88's signer only exposes the final header. curl 7.88 also signs the
 * "Expect:" line that suppresses 100-continue as an empty "expect" header, which botocore-based
 * verifiers refuse (seen against our test server), and it leaves the session token header to the
 * caller. Our signer signs exactly what botocore signs.
 */

#define MAX_HEADERS 64

/* Headers botocore never signs (proxies and clients may change them in flight). */
static const char *const unsigned_headers[] = {
    "user-agent", "expect",  "x-amzn-trace-id",   "connection", "keep-alive", "proxy-authorization",
    "te",         "trailer", "transfer-encoding", "upgrade",    NULL,
};

typedef struct canon_header {
    char name[64]; /* lowercased */
    const p11kms_http_header *src;
    size_t order;
} canon_header;

static int is_unsigned(const char *lname)
{
    size_t i;

    for (i = 0; unsigned_headers[i] != NULL; i++)
        if (strcmp(lname, unsigned_headers[i]) == 0)
            return 1;
    return 0;
}

static int cmp_header(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Value trimmed, inner whitespace runs (folded lines included) collapsed to one space. */
static void add_header_value(p11kms_sbuf *b, const char *v)
{
    int space = 0, started = 0;

    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = started;
            continue;
        }
        if (space)
            p11kms_sbuf_char(b, ' ');
        space = 0;
        started = 1;
        p11kms_sbuf_char(b, *v);
    }
}

static int unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void uri_encode(p11kms_sbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char esc[3] = {'%', 0, 0};
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (unreserved(c) || (keep_slash && c == '/')) {
            p11kms_sbuf_char(b, (char)c);
        } else {
            esc[1] = hex[c >> 4];
            esc[2] = hex[c & 15];
            p11kms_sbuf_add(b, esc, 3);
        }
    }
}

/* RFC 3986 dot-segment removal plus the collapsing of empty segments AWS services expect;
 * a trailing slash survives when any segment does. */
static void canonical_path(p11kms_sbuf *b, const char *path, int normalize)
{
    const char *segs[128];
    size_t lens[128], n = 0, i, plen;
    const char *p, *e;

    if (path == NULL || *path == 0) {
        p11kms_sbuf_char(b, '/');
        return;
    }
    plen = strlen(path);
    if (!normalize) {
        uri_encode(b, path, plen, 1);
        return;
    }
    for (p = path; p < path + plen; p = e + 1) {
        e = memchr(p, '/', (size_t)(path + plen - p));
        if (e == NULL)
            e = path + plen;
        if (e == p || (e - p == 1 && p[0] == '.')) {
            /* empty or "." */
        } else if (e - p == 2 && p[0] == '.' && p[1] == '.') {
            if (n > 0)
                n--;
        } else if (n < sizeof(segs) / sizeof(segs[0])) {
            segs[n] = p;
            lens[n++] = (size_t)(e - p);
        } else {
            b->failed = 1;
            return;
        }
        if (e == path + plen)
            break;
    }
    if (path[0] == '/')
        p11kms_sbuf_char(b, '/');
    for (i = 0; i < n; i++) {
        if (i > 0)
            p11kms_sbuf_char(b, '/');
        uri_encode(b, segs[i], lens[i], 0);
    }
    if (n > 0 && path[plen - 1] == '/')
        p11kms_sbuf_char(b, '/');
}

typedef struct qparam {
    char *kv; /* "key=value", both encoded */
    size_t klen;
} qparam;

static int cmp_qparam(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->kv, y->kv, n);

    if (c != 0)
        return c;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return strcmp(x->kv + x->klen, y->kv + y->klen);
}

/* Percent-decode [s, s+n) and re-encode it canonically (one form for every spelling). */
static void canonical_component(p11kms_sbuf *b, const char *s, size_t n)
{
    size_t i;
    char c;

    for (i = 0; i < n; i++) {
        c = s[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hx[3] = {s[i + 1], s[i + 2], 0};

            c = (char)strtol(hx, NULL, 16);
            i += 2;
        }
        uri_encode(b, &c, 1, 0);
    }
}

static void canonical_query(p11kms_sbuf *b, const char *query)
{
    qparam params[128];
    size_t n = 0, i;
    const char *p, *e, *eq;
    p11kms_sbuf one;

    if (query == NULL || *query == 0)
        return;
    for (p = query;; p = e + 1) {
        e = strchr(p, '&');
        if (e == NULL)
            e = p + strlen(p);
        if (e > p) {
            if (n >= sizeof(params) / sizeof(params[0])) {
                b->failed = 1;
                goto out;
            }
            eq = memchr(p, '=', (size_t)(e - p));
            p11kms_sbuf_init(&one, 0);
            canonical_component(&one, p, (size_t)((eq ? eq : e) - p));
            params[n].klen = one.len;
            p11kms_sbuf_char(&one, '=');
            if (eq != NULL)
                canonical_component(&one, eq + 1, (size_t)(e - eq - 1));
            if (one.failed) {
                p11kms_sbuf_wipe(&one);
                b->failed = 1;
                goto out;
            }
            params[n++].kv = one.p;
        }
        if (*e == 0)
            break;
    }
    qsort(params, n, sizeof(params[0]), cmp_qparam);
    for (i = 0; i < n; i++) {
        if (i > 0)
            p11kms_sbuf_char(b, '&');
        p11kms_sbuf_str(b, params[i].kv);
    }
out:
    for (i = 0; i < n; i++)
        free(params[i].kv);
}

static int hmac(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    unsigned int olen = 0;

    return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) != NULL && olen == 32 ? 0 : -1;
}

void p11kms_aws_amz_date(time_t t, char *buf)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, P11KMS_AWS_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int valid_amz_date(const char *d)
{
    int i;

    if (d == NULL || strlen(d) != P11KMS_AWS_AMZ_DATE_LEN || d[8] != 'T' || d[15] != 'Z')
        return 0;
    for (i = 0; i < 15; i++)
        if (i != 8 && !isdigit((unsigned char)d[i]))
            return 0;
    return 1;
}

/* Collect the signed headers sorted by lowercased name (stable for repeated names). */
static CK_RV collect_headers(const p11kms_aws_sig_request *req, canon_header *hs, size_t *n_out,
                             int *has_host)
{
    size_t i, j, n = 0, len;

    *has_host = 0;
    for (i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;

        len = strlen(name);
        if (len == 0 || len >= sizeof(hs[0].name))
            return CKR_ARGUMENTS_BAD;
        for (j = 0; j <= len; j++)
            hs[n].name[j] = (char)tolower((unsigned char)name[j]);
        if (is_unsigned(hs[n].name))
            continue;
        if (n >= MAX_HEADERS)
            return CKR_ARGUMENTS_BAD;
        if (strcmp(hs[n].name, "host") == 0)
            *has_host = 1;
        hs[n].src = &req->headers[i];
        hs[n].order = i;
        n++;
    }
    qsort(hs, n, sizeof(hs[0]), cmp_header);
    *n_out = n;
    return CKR_OK;
}

CK_RV p11kms_aws_sigv4_sign(const p11kms_aws_signer *s, const p11kms_aws_sig_request *req,
                            p11kms_aws_sig *out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    canon_header hs[MAX_HEADERS + 1];
    p11kms_sbuf creq, sts, names, key, authz;
    uint8_t digest[32], k1[32], k2[32];
    char date[9];
    size_t n = 0, i;
    int has_host = 0;

    memset(out, 0, sizeof(*out));
    p11kms_sbuf_init(&creq, 0);
    p11kms_sbuf_init(&sts, 0);
    p11kms_sbuf_init(&names, 0);
    p11kms_sbuf_init(&key, 0);
    p11kms_sbuf_init(&authz, 0);

    if (!valid_amz_date(s->amz_date) || s->access_key_id == NULL || s->secret_access_key == NULL ||
        s->region == NULL || s->service == NULL) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = collect_headers(req, hs, &n, &has_host);
    if (rv != CKR_OK)
        goto out;
    if (!has_host) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = CKR_HOST_MEMORY;
    memcpy(date, s->amz_date, 8);
    date[8] = 0;

    /* 1. canonical request */
    p11kms_sbuf_str(&creq, req->method);
    p11kms_sbuf_char(&creq, '\n');
    canonical_path(&creq, req->path, s->normalize_path);
    p11kms_sbuf_char(&creq, '\n');
    canonical_query(&creq, req->query);
    p11kms_sbuf_char(&creq, '\n');
    for (i = 0; i < n; i++) {
        if (i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0) {
            p11kms_sbuf_char(&creq, ',');
        } else {
            if (i > 0) {
                p11kms_sbuf_char(&creq, '\n');
                p11kms_sbuf_char(&names, ';');
            }
            p11kms_sbuf_str(&creq, hs[i].name);
            p11kms_sbuf_char(&creq, ':');
            p11kms_sbuf_str(&names, hs[i].name);
        }
        add_header_value(&creq, hs[i].src->value);
    }
    p11kms_sbuf_str(&creq, "\n\n");
    p11kms_sbuf_add(&creq, names.p, names.len);
    p11kms_sbuf_char(&creq, '\n');
    if (req->payload_hash != NULL) {
        p11kms_sbuf_str(&creq, req->payload_hash);
    } else {
        if (SHA256(req->body_len ? req->body : (const uint8_t *)"", req->body_len, digest) == NULL)
            goto out;
        p11kms_sbuf_hex(&creq, digest, sizeof(digest));
    }
    if (creq.failed || names.failed)
        goto out;

    /* 2. string to sign */
    if (SHA256((const uint8_t *)creq.p, creq.len, digest) == NULL)
        goto out;
    p11kms_sbuf_str(&sts, "AWS4-HMAC-SHA256\n");
    p11kms_sbuf_str(&sts, s->amz_date);
    p11kms_sbuf_char(&sts, '\n');
    p11kms_sbuf_str(&sts, date);
    p11kms_sbuf_char(&sts, '/');
    p11kms_sbuf_str(&sts, s->region);
    p11kms_sbuf_char(&sts, '/');
    p11kms_sbuf_str(&sts, s->service);
    p11kms_sbuf_str(&sts, "/aws4_request\n");
    p11kms_sbuf_hex(&sts, digest, sizeof(digest));

    /* 3. signing key: HMAC chain from "AWS4" + secret over date, region, service */
    p11kms_sbuf_str(&key, "AWS4");
    p11kms_sbuf_str(&key, s->secret_access_key);
    if (sts.failed || key.failed)
        goto out;
    rv = CKR_GENERAL_ERROR;
    if (hmac(key.p, key.len, date, 8, k1) != 0 ||
        hmac(k1, 32, s->region, strlen(s->region), k2) != 0 ||
        hmac(k2, 32, s->service, strlen(s->service), k1) != 0 ||
        hmac(k1, 32, "aws4_request", 12, k2) != 0 || hmac(k2, 32, sts.p, sts.len, digest) != 0)
        goto out;

    /* 4. the header */
    rv = CKR_HOST_MEMORY;
    p11kms_sbuf_str(&authz, "AWS4-HMAC-SHA256 Credential=");
    p11kms_sbuf_str(&authz, s->access_key_id);
    p11kms_sbuf_char(&authz, '/');
    p11kms_sbuf_str(&authz, date);
    p11kms_sbuf_char(&authz, '/');
    p11kms_sbuf_str(&authz, s->region);
    p11kms_sbuf_char(&authz, '/');
    p11kms_sbuf_str(&authz, s->service);
    p11kms_sbuf_str(&authz, "/aws4_request, SignedHeaders=");
    p11kms_sbuf_add(&authz, names.p, names.len);
    p11kms_sbuf_str(&authz, ", Signature=");
    p11kms_sbuf_hex(&authz, digest, sizeof(digest));
    if (authz.failed)
        goto out;

    out->authorization = authz.p;
    out->canonical_request = creq.p;
    out->string_to_sign = sts.p;
    memset(&authz, 0, sizeof(authz));
    memset(&creq, 0, sizeof(creq));
    memset(&sts, 0, sizeof(sts));
    rv = CKR_OK;
out:
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(digest, sizeof(digest));
    p11kms_sbuf_wipe(&key);
    p11kms_sbuf_wipe(&creq);
    p11kms_sbuf_wipe(&sts);
    p11kms_sbuf_wipe(&names);
    p11kms_sbuf_wipe(&authz);
    return rv;
}

void p11kms_aws_sig_clear(p11kms_aws_sig *sig)
{
    if (sig == NULL)
        return;
    p11kms_secure_free_str(sig->authorization);
    p11kms_secure_free_str(sig->canonical_request);
    p11kms_secure_free_str(sig->string_to_sign);
    memset(sig, 0, sizeof(*sig));
}
