/* aws-call.c - AWS operations on the wire through the shared call loop (net/call.h): the
 * signing hooks of every AWS client (SigV4 with the provider's credentials per attempt), and
 * KMS's JSON 1.1 POSTs with AWS error bodies and codes and the AWS CK_RV mapping. No state of
 * its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "aws-client.h"
#include "aws-sigv4.h"
#include "codec.h"
#include "log.h"

/* What one attempt's authorization keeps until the request is sent. */
typedef struct aws_auth {
    char amz_date[P11KMS_AWS_AMZ_DATE_LEN + 1];
    p11kms_cred cr;
    p11kms_aws_sig sig;
    char *path;  /* the URL's path, percent-decoded: the signer encodes it canonically */
    char *query; /* the URL's query, as sent */
} aws_auth;

/* Split url into its path (decoded) and query. -1 for a URL without "scheme://host". */
static int url_target(const char *url, aws_auth *a)
{
    const char *p = strstr(url, "://"), *q;
    size_t n, i, o = 0;
    int hi, lo;

    if (p == NULL)
        return -1;
    p = strchr(p + 3, '/');
    if (p == NULL)
        p = "/";
    q = strchr(p, '?');
    n = q != NULL ? (size_t)(q - p) : strlen(p);
    a->path = malloc(n + 1);
    a->query = strdup(q != NULL ? q + 1 : "");
    if (a->path == NULL || a->query == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && (hi = p11kms_hex_digit(p[i + 1])) >= 0 &&
            (lo = p11kms_hex_digit(p[i + 2])) >= 0) {
            a->path[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            a->path[o++] = p[i];
        }
    }
    a->path[o] = 0;
    return 0;
}

/* The request's own headers come first (Host, Content-Type, X-Amz-Target, S3's
 * X-Amz-Content-SHA256); X-Amz-Date and the session token are added and signed with them, then
 * Authorization. */
CK_RV p11kms_aws_authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                           p11kms_net_auth *auth)
{
    p11kms_aws_client *c = ctx;
    p11kms_http_header h[P11KMS_NET_REQUEST_HEADERS_MAX + 2];
    p11kms_aws_sig_request sr;
    p11kms_aws_signer signer;
    aws_auth *a;
    size_t nh = 0, i;
    CK_RV rv;

    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CKR_HOST_MEMORY;
    auth->state = a;
    if (url_target(req->url, a) != 0) {
        LOG_E("%s: %s %s: cannot build the signed request", c->net.hooks->name, req->op, req->what);
        return a->path == NULL || a->query == NULL ? CKR_HOST_MEMORY : CKR_GENERAL_ERROR;
    }
    rv = p11kms_aws_provider_creds(c->creds, deadline_ms, &a->cr);
    if (rv != CKR_OK)
        return rv; /* logged by the credential source */
    auth->refreshable = a->cr.token != NULL;
    p11kms_aws_amz_date(time(NULL), a->amz_date);
    auth->headers[auth->n++] = (p11kms_http_header){"X-Amz-Date", a->amz_date};
    /* the session token is added before signing, so it is signed (botocore does the same) */
    if (a->cr.token != NULL)
        auth->headers[auth->n++] = (p11kms_http_header){"X-Amz-Security-Token", a->cr.token};
    for (i = 0; i < req->n_headers && i < P11KMS_NET_REQUEST_HEADERS_MAX; i++)
        h[nh++] = req->headers[i];
    for (i = 0; i < auth->n; i++)
        h[nh++] = auth->headers[i];

    signer.access_key_id = a->cr.id;
    signer.secret_access_key = a->cr.secret;
    signer.region = c->region;
    signer.service = c->service;
    signer.amz_date = a->amz_date;
    signer.normalize_path = c->normalize_path;
    memset(&sr, 0, sizeof(sr));
    sr.method = req->method;
    sr.path = a->path;
    sr.query = a->query;
    sr.headers = h;
    sr.n_headers = nh;
    if (req->body != NULL) {
        sr.body = (const uint8_t *)req->body->p;
        sr.body_len = req->body->len;
    } else {
        sr.body = req->data;
        sr.body_len = req->data_len;
    }
    /* What the request says its payload hash is, is what is signed (as botocore does). */
    for (i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "X-Amz-Content-SHA256") == 0)
            sr.payload_hash = req->headers[i].value;
    rv = p11kms_aws_sigv4_sign(&signer, &sr, &a->sig);
    if (rv != CKR_OK) {
        LOG_E("%s: %s %s: cannot build the signed request", c->net.hooks->name, req->op, req->what);
        return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
    }
    auth->headers[auth->n++] = (p11kms_http_header){"Authorization", a->sig.authorization};
    return CKR_OK;
}

void p11kms_aws_auth_clear(void *ctx, p11kms_net_auth *auth)
{
    aws_auth *a = auth->state;

    (void)ctx;
    if (a == NULL)
        return;
    p11kms_cred_clear(&a->cr);
    p11kms_aws_sig_clear(&a->sig);
    free(a->path);
    free(a->query);
    free(a);
    auth->state = NULL;
}

void p11kms_aws_invalidate(void *ctx)
{
    p11kms_aws_client *c = ctx;

    p11kms_aws_provider_invalidate(c->creds);
}

static void aws_classify(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o)
{
    (void)ctx;
    p11kms_aws_error_parse((const char *)resp->body.data, resp->body.len, o->status, o->code,
                           sizeof(o->code), o->message, sizeof(o->message));
    o->auth = p11kms_aws_error_is_auth(o->code);
    o->retry = p11kms_aws_retry_kind(o->hr, o->status, o->code);
}

static CK_RV aws_map(void *ctx, const p11kms_net_outcome *o)
{
    (void)ctx;
    return p11kms_aws_error_rv(o->code, o->status);
}

const p11kms_net_hooks p11kms_aws_hooks = {
    .name = "aws",
    .request_id_header = "x-amzn-RequestId",
    .authorize = p11kms_aws_authorize,
    .auth_clear = p11kms_aws_auth_clear,
    .invalidate = p11kms_aws_invalidate,
    .classify = aws_classify,
    .map = aws_map,
};

CK_RV p11kms_aws_call(p11kms_aws_client *c, const char *op, const char *what,
                      const p11kms_sbuf *body, uint64_t deadline_ms, p11kms_net_reply *reply)
{
    char target[64];
    p11kms_http_header h[3];
    p11kms_net_request req;

    snprintf(target, sizeof(target), "TrentService.%s", op);
    h[0] = (p11kms_http_header){"Host", c->net.settings.host};
    h[1] = (p11kms_http_header){"Content-Type", "application/x-amz-json-1.1"};
    h[2] = (p11kms_http_header){"X-Amz-Target", target};
    memset(&req, 0, sizeof(req));
    req.op = op;
    req.what = what;
    req.method = "POST";
    req.url = c->net.settings.url;
    req.headers = h;
    req.n_headers = 3;
    req.body = body;
    req.max_response = P11KMS_AWS_MAX_RESPONSE;
    return p11kms_net_call(&c->net, &req, deadline_ms, reply);
}
