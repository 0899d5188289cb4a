/* s3.c - the tool's S3 client: an AWS service client for "s3" (aws-service.h: the KMS backend's
 * credential chain, region and endpoint rules and SigV4 signing, on the shared call loop with
 * its retries and deadline), virtual-hosted or path-style URLs, S3's XML errors, and the one
 * line a failure is reported with. The tool is single-threaded around a client; the client's
 * quota and credential provider lock themselves. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>
#include "backends/aws/aws-service.h"
#include "codec.h"
#include "log.h"
#include "net/sbuf.h"
#include "s3.h"
#include "tool.h"

#define S3_KEY_MAX 1024

struct tool_s3 {
    p11kms_aws_client *c;
    int path_style;  /* AWS_S3_FORCE_PATH_STYLE */
    char *scheme;    /* "http" or "https" */
    char *authority; /* the endpoint's host[:port] as in its URL */
};

int tool_s3_is_url(const char *s)
{
    return strncmp(s, "s3://", 5) == 0;
}

static int bucket_ok(const char *b, size_t n)
{
    size_t i;

    if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return 0;
    for (i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' ||
              b[i] == '.'))
            return 0;
    return 1;
}

static int has_dot_segment(const char *key)
{
    const char *p = key, *e;
    size_t n;

    for (;;) {
        e = strchr(p, '/');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 1;
        if (e == NULL)
            return 0;
        p = e + 1;
    }
}

int tool_s3_parse_url(const char *s, char **bucket, char **key)
{
    const char *b = s + 5, *slash;
    size_t bn;

    *bucket = NULL;
    *key = NULL;
    if (!tool_s3_is_url(s)) {
        tool_err("%s: not an s3://bucket/key name", s);
        return -1;
    }
    slash = strchr(b, '/');
    bn = slash != NULL ? (size_t)(slash - b) : strlen(b);
    if (!bucket_ok(b, bn)) {
        tool_err("%s: \"%.*s\" is not an S3 bucket name (3 to 63 of a-z 0-9 . -)", s, (int)bn, b);
        return -1;
    }
    if (slash != NULL && strlen(slash + 1) > S3_KEY_MAX) {
        tool_err("%s: the key is longer than S3's %d bytes", s, S3_KEY_MAX);
        return -1;
    }
    /* HTTP stacks resolve "." and ".." path segments: such a key would name another object. */
    if (slash != NULL && has_dot_segment(slash + 1)) {
        tool_err("%s: keys with \".\" or \"..\" path segments are not supported", s);
        return -1;
    }
    *bucket = strndup(b, bn);
    *key = strdup(slash != NULL ? slash + 1 : "");
    if (*bucket == NULL || *key == NULL) {
        free(*bucket);
        free(*key);
        *bucket = *key = NULL;
        tool_err("out of memory");
        return -1;
    }
    return 0;
}

/* ---- S3's errors on the shared call loop ---------------------------------------------------- */

/* Printable ASCII only: the text goes into log lines and the error line. */
static void copy_printable(char *dst, size_t cap, const char *src)
{
    size_t i;

    for (i = 0; src[i] != 0 && i + 1 < cap; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[i] = 0;
}

static void s3_classify(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o)
{
    const char *xml = (const char *)resp->body.data;
    size_t len = resp->body.len;
    char *t;

    (void)ctx;
    if (xml != NULL && len > 0) {
        if ((t = tool_s3_xml_text(xml, len, "Code", 0)) != NULL) {
            copy_printable(o->code, sizeof(o->code), t);
            free(t);
        }
        if ((t = tool_s3_xml_text(xml, len, "Message", 0)) != NULL) {
            copy_printable(o->message, sizeof(o->message), t);
            free(t);
        }
        if (o->request_id[0] == 0 && (t = tool_s3_xml_text(xml, len, "RequestId", 0)) != NULL) {
            copy_printable(o->request_id, sizeof(o->request_id), t);
            free(t);
        }
    }
    /* A HEAD has no body: S3's code is the status. */
    if (strncmp(o->code, "HTTP ", 5) == 0 && o->status == 404)
        snprintf(o->code, sizeof(o->code), "NotFound");
    o->retry = p11kms_aws_retry_kind(o->hr, o->status, o->code);
    o->auth = p11kms_aws_error_is_auth(o->code);
}

static CK_RV s3_map(void *ctx, const p11kms_net_outcome *o)
{
    (void)ctx;
    return p11kms_aws_error_rv(o->code, o->status);
}

/* S3 may answer a POST (CompleteMultipartUpload) 200 with an <Error> body. */
static int s3_answer_error(void *ctx, const p11kms_net_request *req,
                           const p11kms_http_response *resp)
{
    const char *inner;
    size_t n;

    (void)ctx;
    if (strcmp(req->method, "POST") != 0 || resp->body.data == NULL)
        return 0;
    return p11kms_aws_xml_element((const char *)resp->body.data,
                                  resp->body.len < 512 ? resp->body.len : 512, "Code", &inner,
                                  &n) == 0 &&
           memmem(resp->body.data, resp->body.len < 512 ? resp->body.len : 512, "<Error>", 7);
}

static const p11kms_net_hooks s3_hooks = {
    .name = "s3",
    .request_id_header = "x-amz-request-id",
    .authorize = p11kms_aws_authorize,
    .auth_clear = p11kms_aws_auth_clear,
    .invalidate = p11kms_aws_invalidate,
    .classify = s3_classify,
    .map = s3_map,
    .answer_error = s3_answer_error,
};

/* ---- the client ----------------------------------------------------------------------------- */

static int ip_literal(const char *authority)
{
    size_t i;

    if (authority[0] == '[')
        return 1;
    for (i = 0; authority[i] != 0 && authority[i] != ':'; i++)
        if (!isdigit((unsigned char)authority[i]) && authority[i] != '.')
            return 0;
    return 1;
}

int tool_s3_open(int verbose, tool_s3 **out)
{
    p11kms_aws_service_opts o;
    const char *ps = getenv("AWS_S3_FORCE_PATH_STYLE"), *u, *a;
    tool_s3 *s;
    CK_RV rv;

    *out = NULL;
    /* The remote layer reports failures in the log; the tool says them in its own line. */
    p11kms_log_configure(verbose > 1   ? P11KMS_LOG_DEBUG
                         : verbose > 0 ? P11KMS_LOG_INFO
                                       : P11KMS_LOG_NONE,
                         NULL);
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        tool_err("out of memory");
        return -1;
    }
    memset(&o, 0, sizeof(o));
    o.service = "s3";
    o.service_id = "S3";
    o.origin = "s3";
    o.connect_timeout_ms = 10000;
    o.request_timeout_ms = 120000;
    o.deadline_ms = 600000;
    o.max_attempts = 5;
    rv = p11kms_aws_service_open(&o, &s3_hooks, &s->c);
    if (rv != CKR_OK) {
        tool_err("S3: %s", rv == CKR_HOST_MEMORY
                               ? "out of memory"
                               : "no usable region or endpoint (set AWS_REGION; "
                                 "AWS_ENDPOINT_URL_S3 for another store; -v shows more)");
        free(s);
        return -1;
    }
    u = s->c->net.settings.url;
    a = strstr(u, "://");
    s->path_style = ps != NULL && strcasecmp(ps, "true") == 0;
    s->scheme = a != NULL ? strndup(u, (size_t)(a - u)) : NULL;
    s->authority = a != NULL ? strndup(a + 3, strcspn(a + 3, "/")) : NULL;
    if (s->scheme == NULL || s->authority == NULL) {
        tool_err("out of memory");
        tool_s3_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void tool_s3_close(tool_s3 *s)
{
    if (s == NULL)
        return;
    p11kms_aws_client_free(s->c);
    free(s->scheme);
    free(s->authority);
    free(s);
}

/* ---- requests ------------------------------------------------------------------------------- */

static void escape_into(p11kms_sbuf *b, const char *s, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != 0; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            p11kms_sbuf_char(b, (char)*p);
        } else {
            p11kms_sbuf_char(b, '%');
            p11kms_sbuf_char(b, hex[*p >> 4]);
            p11kms_sbuf_char(b, hex[*p & 15]);
        }
    }
}

char *tool_s3_query_escape(const char *s)
{
    p11kms_sbuf b;

    p11kms_sbuf_init(&b, 0);
    escape_into(&b, s, 0);
    p11kms_sbuf_char(&b, 0);
    if (b.failed) {
        p11kms_sbuf_wipe(&b);
        return NULL;
    }
    return b.p;
}

/* Virtual-hosted (bucket.host) unless path-style is asked for or the name cannot be a host
 * (a dot breaks TLS name checks; an IP address endpoint has no subdomains). */
static int url_for(const tool_s3 *s, const char *bucket, const char *key, const char *query,
                   p11kms_sbuf *url, p11kms_sbuf *host)
{
    int virt = !s->path_style && strchr(bucket, '.') == NULL && !ip_literal(s->authority);

    p11kms_sbuf_str(url, s->scheme);
    p11kms_sbuf_str(url, "://");
    if (virt) {
        p11kms_sbuf_str(host, bucket);
        p11kms_sbuf_char(host, '.');
    }
    /* The Host value leaves out the scheme's default port, as the endpoint's does. */
    p11kms_sbuf_str(host, s->c->net.settings.host);
    if (virt) {
        p11kms_sbuf_str(url, bucket);
        p11kms_sbuf_char(url, '.');
    }
    p11kms_sbuf_str(url, s->authority);
    p11kms_sbuf_char(url, '/');
    if (!virt) {
        escape_into(url, bucket, 0);
        if (key != NULL && *key != 0)
            p11kms_sbuf_char(url, '/');
    }
    if (key != NULL)
        escape_into(url, key, 1);
    if (query != NULL && *query != 0) {
        p11kms_sbuf_char(url, '?');
        p11kms_sbuf_str(url, query);
    }
    p11kms_sbuf_char(url, 0);
    p11kms_sbuf_char(host, 0);
    return url->failed || host->failed ? -1 : 0;
}

/* The one line of a failed request, in words. */
static void describe(const tool_s3 *s, const char *op, const char *bucket, const char *key,
                     const p11kms_net_reply *r, char *line, size_t line_len)
{
    const p11kms_net_outcome *o = &r->outcome;
    const char *code = o->code;
    char target[1200], how[700], attempts[40] = "";

    if (r->attempts > 1)
        snprintf(attempts, sizeof(attempts), " after %d attempts", r->attempts);
    snprintf(target, sizeof(target), "s3://%s%s%s", bucket, key != NULL && *key ? "/" : "",
             key != NULL ? key : "");
    switch (r->end) {
    case P11KMS_NET_END_ANSWER:
        if (strcmp(code, "NoSuchBucket") == 0)
            snprintf(how, sizeof(how), "no such bucket");
        else if (strcmp(code, "NoSuchKey") == 0 || strcmp(code, "NotFound") == 0)
            snprintf(how, sizeof(how), "no such object");
        else if (strcmp(code, "NoSuchUpload") == 0)
            snprintf(how, sizeof(how), "%s failed: the upload is gone (aborted meanwhile?)", op);
        else if ((strcmp(code, "PreconditionFailed") == 0 || o->status == 412) &&
                 strcmp(op, "GetObject") == 0)
            snprintf(how, sizeof(how), "the object changed while it was read");
        else if (strcmp(code, "PreconditionFailed") == 0 || o->status == 412)
            snprintf(how, sizeof(how), "the object appeared meanwhile; use --force to replace it");
        else if (o->status == 403)
            snprintf(how, sizeof(how), "access denied (%s%s%s)", code, o->message[0] ? ": " : "",
                     o->message);
        else if (strncmp(code, "HTTP ", 5) == 0) /* no body to say more (HEAD) */
            snprintf(how, sizeof(how), "%s failed: %s%s (request id %s)", op, code, attempts,
                     o->request_id[0] ? o->request_id : "none");
        else
            snprintf(how, sizeof(how), "%s failed: %s (HTTP %ld%s, request id %s)%s%s", op, code,
                     o->status, attempts, o->request_id[0] ? o->request_id : "none",
                     o->message[0] ? ": " : "", o->message);
        break;
    case P11KMS_NET_END_TRANSPORT:
        snprintf(how, sizeof(how), "%s failed: cannot reach %s: %s", op, s->c->net.settings.url,
                 o->message[0] ? o->message : p11kms_http_result_name(o->hr));
        break;
    case P11KMS_NET_END_AUTHORIZE:
        snprintf(how, sizeof(how), "no usable AWS credentials (-v shows why)");
        break;
    case P11KMS_NET_END_DEADLINE:
    case P11KMS_NET_END_QUOTA:
        snprintf(how, sizeof(how), "%s failed: gave up after %d attempts (%s): %s%s%s", op,
                 r->attempts, r->end == P11KMS_NET_END_DEADLINE ? "deadline" : "retry quota",
                 code[0] ? code : p11kms_http_result_name(o->hr), o->message[0] ? ": " : "",
                 o->message);
        break;
    default:
        snprintf(how, sizeof(how), "%s failed: out of memory or a malformed answer", op);
        break;
    }
    snprintf(line, line_len, "%s: %s", target, how);
}

int tool_s3_call(tool_s3 *s, const tool_s3_req *rq, p11kms_net_reply *reply, char *err,
                 size_t err_len)
{
    p11kms_http_header h[TOOL_S3_HEADERS_MAX + 2];
    p11kms_net_request req;
    p11kms_sbuf url, host;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    char hash[2 * SHA256_DIGEST_LENGTH + 1];
    size_t i, n = 0;
    int ret = -1;
    CK_RV rv;

    memset(reply, 0, sizeof(*reply));
    p11kms_sbuf_init(&url, 0);
    p11kms_sbuf_init(&host, 0);
    if (rq->n_headers > TOOL_S3_HEADERS_MAX ||
        url_for(s, rq->bucket, rq->key, rq->query, &url, &host) != 0) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    SHA256(rq->data != NULL ? rq->data : (const uint8_t *)"", rq->data_len, digest);
    p11kms_hex_encode(digest, sizeof(digest), hash);
    h[n++] = (p11kms_http_header){"Host", host.p};
    h[n++] = (p11kms_http_header){"X-Amz-Content-SHA256", hash};
    for (i = 0; i < rq->n_headers; i++)
        h[n++] = rq->headers[i];
    memset(&req, 0, sizeof(req));
    req.op = rq->op;
    req.what = rq->key != NULL && *rq->key ? rq->key : rq->bucket;
    req.method = rq->method;
    req.url = url.p;
    req.headers = h;
    req.n_headers = n;
    req.data = rq->data;
    req.data_len = rq->data_len;
    req.max_response = rq->max_response;
    req.raw = 1;
    rv = p11kms_net_call(&s->c->net, &req, p11kms_net_deadline(&s->c->net.settings), reply);
    if (rv == CKR_OK) {
        ret = 0;
        goto out;
    }
    if (rq->not_found && reply->end == P11KMS_NET_END_ANSWER && reply->outcome.status == 404) {
        ret = 1;
        goto out;
    }
    describe(s, rq->op, rq->bucket, rq->key, reply, err, err_len);
out:
    p11kms_sbuf_wipe(&url);
    p11kms_sbuf_wipe(&host);
    return ret;
}

int tool_s3_request(tool_s3 *s, const char *op, const char *method, const char *bucket,
                    const char *key, const char *query, const p11kms_http_header *headers,
                    size_t n_headers, const uint8_t *data, size_t data_len, size_t max_response,
                    int not_found, p11kms_net_reply *reply)
{
    tool_s3_req rq = {op,        method, bucket,   key,          query,    headers,
                      n_headers, data,   data_len, max_response, not_found};
    char line[1536];
    int ret;

    ret = tool_s3_call(s, &rq, reply, line, sizeof(line));
    if (ret < 0)
        tool_err("%s", line);
    return ret;
}

/* ---- the XML of answers --------------------------------------------------------------------- */

int tool_s3_xml_next(const char **xml, size_t *len, const char *name, const char **inner,
                     size_t *inner_len)
{
    size_t used;

    if (p11kms_aws_xml_element(*xml, *len, name, inner, inner_len) != 0)
        return -1;
    /* past "</name>" */
    used = (size_t)(*inner - *xml) + *inner_len + strlen(name) + 3;
    *xml += used;
    *len -= used;
    return 0;
}

char *tool_s3_xml_text(const char *xml, size_t len, const char *name, int url_decode)
{
    char *t = NULL;
    size_t i, o = 0;
    int hi, lo;

    if (p11kms_aws_xml_text(xml, len, name, 4 * S3_KEY_MAX, &t) != 0)
        return NULL;
    if (!url_decode)
        return t;
    for (i = 0; t[i] != 0; i++) {
        if (t[i] == '%' && (hi = p11kms_hex_digit(t[i + 1])) >= 0 &&
            (lo = p11kms_hex_digit(t[i + 2])) >= 0) {
            t[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            t[o++] = t[i] == '+' ? ' ' : t[i];
        }
    }
    t[o] = 0;
    return t;
}
