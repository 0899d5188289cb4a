/* gcp-call.c - Cloud KMS REST v1 on the wire: JSON POSTs (and GETs) through the shared call loop
 * (net/call.h) with the Google hooks: a bearer token and quota project per attempt,
 * google.rpc.Status error bodies, the Cloud KMS retry classes and CK_RV mapping. No state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcp-client.h"
#include "log.h"
#include "net/json.h"
#include "net/sbuf.h"
#include "secmem.h"

#define STATUS_MAX 48
#define REASON_MAX 64

/* What one attempt's authorization keeps until the request is sent. */
typedef struct gcp_auth {
    p11kms_cred cr;
    char *authorization; /* "Bearer <token>": secret */
} gcp_auth;

static CK_RV gcp_authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                           p11kms_net_auth *auth)
{
    p11kms_gcp_client *c = ctx;
    const char *project;
    gcp_auth *a;
    size_t n;
    CK_RV rv;

    (void)req;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CKR_HOST_MEMORY;
    auth->state = a;
    rv = p11kms_gcp_provider_token(c->creds, deadline_ms, &a->cr);
    if (rv != CKR_OK)
        return rv; /* logged by the credential source */
    n = strlen(a->cr.token) + sizeof("Bearer ");
    a->authorization = malloc(n);
    if (a->authorization == NULL)
        return CKR_HOST_MEMORY;
    snprintf(a->authorization, n, "Bearer %s", a->cr.token);
    /* every token can be revoked or expire early: a 401 fetches a new one and tries once more */
    auth->refreshable = 1;
    auth->headers[auth->n++] = (p11kms_http_header){"Authorization", a->authorization};
    /* the configured quota project wins over the credential file's, as in google-auth */
    project = c->quota_project != NULL ? c->quota_project : a->cr.id;
    if (project != NULL)
        auth->headers[auth->n++] = (p11kms_http_header){"x-goog-user-project", project};
    return CKR_OK;
}

static void gcp_auth_clear(void *ctx, p11kms_net_auth *auth)
{
    gcp_auth *a = auth->state;

    (void)ctx;
    if (a == NULL)
        return;
    p11kms_cred_clear(&a->cr);
    p11kms_secure_free_str(a->authorization);
    free(a);
    auth->state = NULL;
}

static void gcp_invalidate(void *ctx)
{
    p11kms_gcp_client *c = ctx;

    p11kms_gcp_provider_invalidate(c->creds);
}

/* A string member copied printable into dst (cap bytes); 1 when present. */
static int copy_member(const p11kms_json *obj, const char *name, char *dst, size_t cap)
{
    p11kms_json v;
    char *s = NULL;
    size_t i;

    if (cap == 0 || !p11kms_json_member(obj, name, &v) || p11kms_json_string(&v, 4096, &s) != 0)
        return 0;
    for (i = 0; s[i] && i + 1 < cap; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = 0;
    free(s);
    return 1;
}

/* The ErrorInfo reason and RequestInfo request id among the details, when given. */
static void read_details(const p11kms_json *err, char *reason, size_t reason_len, char *rid,
                         size_t rid_len)
{
    p11kms_json details, d;
    char type[128];
    size_t i;

    if (!p11kms_json_member(err, "details", &details))
        return;
    for (i = 0; i < 16 && p11kms_json_index(&details, i, &d); i++) {
        if (!copy_member(&d, "@type", type, sizeof(type)))
            continue;
        if (strcmp(type, "type.googleapis.com/google.rpc.ErrorInfo") == 0)
            copy_member(&d, "reason", reason, reason_len);
        else if (strcmp(type, "type.googleapis.com/google.rpc.RequestInfo") == 0)
            copy_member(&d, "requestId", rid, rid_len);
    }
}

/* Only names of the google.rpc.Code kind ([A-Z_]) become a code: anything else in the body is
 * not a status this backend can act on. */
static int code_name(const char *s)
{
    if (*s == 0)
        return 0;
    for (; *s; s++)
        if (!(*s >= 'A' && *s <= 'Z') && *s != '_')
            return 0;
    return 1;
}

void p11kms_gcp_error_parse(const char *body, size_t len, long status, p11kms_net_outcome *o)
{
    char st[STATUS_MAX] = "", reason[REASON_MAX] = "", rid[P11KMS_NET_REQUEST_ID_MAX] = "";
    p11kms_json root, err;

    snprintf(o->code, sizeof(o->code), "HTTP %ld", status);
    o->message[0] = 0;
    if (body != NULL && p11kms_json_parse(body, len, &root) == 0 &&
        p11kms_json_member(&root, "error", &err) && err.p[0] == '{') {
        copy_member(&err, "status", st, sizeof(st));
        copy_member(&err, "message", o->message, sizeof(o->message));
        read_details(&err, reason, sizeof(reason), rid, sizeof(rid));
        if (!code_name(st))
            st[0] = 0;
        if (!code_name(reason))
            reason[0] = 0;
        if (rid[0] != 0)
            snprintf(o->request_id, sizeof(o->request_id), "%s", rid);
    }
    if (st[0] != 0)
        snprintf(o->code, sizeof(o->code), "%s%s%s", st, reason[0] ? "/" : "", reason);

    /* Google's client config retries UNAVAILABLE and DEADLINE_EXCEEDED; quota errors are worth
     * a slower retry. Answers without a status (a front end's HTML) go by the HTTP code. */
    if (strcmp(st, "UNAVAILABLE") == 0 || strcmp(st, "DEADLINE_EXCEEDED") == 0)
        o->retry = P11KMS_NET_RETRY_TRANSIENT;
    else if (strcmp(st, "RESOURCE_EXHAUSTED") == 0)
        o->retry = P11KMS_NET_RETRY_THROTTLE;
    else if (st[0] == 0 && status == 429)
        o->retry = P11KMS_NET_RETRY_THROTTLE;
    else if (st[0] == 0 && (status == 502 || status == 503 || status == 504))
        o->retry = P11KMS_NET_RETRY_TRANSIENT;
    else
        o->retry = P11KMS_NET_NO_RETRY;
    o->auth = strcmp(st, "UNAUTHENTICATED") == 0 || (st[0] == 0 && status == 401);
}

/* Whether o's code is status (with or without a reason). */
static int is_status(const p11kms_net_outcome *o, const char *status)
{
    size_t n = strlen(status);

    return strncmp(o->code, status, n) == 0 && (o->code[n] == 0 || o->code[n] == '/');
}

CK_RV p11kms_gcp_error_rv(const p11kms_net_outcome *o)
{
    int plain = strncmp(o->code, "HTTP ", 5) == 0;

    if (is_status(o, "INVALID_ARGUMENT") || (plain && o->status == 400))
        return CKR_ENCRYPTED_DATA_INVALID;
    /* a token without the KMS scope is a credential problem, not a key permission */
    if (strstr(o->code, "/ACCESS_TOKEN_SCOPE_INSUFFICIENT") != NULL)
        return CKR_DEVICE_ERROR;
    if (is_status(o, "PERMISSION_DENIED") || is_status(o, "FAILED_PRECONDITION") ||
        is_status(o, "NOT_FOUND") || (plain && (o->status == 403 || o->status == 404)))
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    return CKR_DEVICE_ERROR;
}

static void gcp_classify(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o)
{
    (void)ctx;
    p11kms_gcp_error_parse((const char *)resp->body.data, resp->body.len, o->status, o);
}

static CK_RV gcp_map(void *ctx, const p11kms_net_outcome *o)
{
    (void)ctx;
    return p11kms_gcp_error_rv(o);
}

const p11kms_net_hooks p11kms_gcp_hooks = {
    .name = "gcp",
    .request_id_header = NULL, /* Google answers carry none; RequestInfo details may */
    .authorize = gcp_authorize,
    .auth_clear = gcp_auth_clear,
    .invalidate = gcp_invalidate,
    .classify = gcp_classify,
    .map = gcp_map,
};

CK_RV p11kms_gcp_call(p11kms_gcp_client *c, const char *op, const char *name, const char *verb,
                      const p11kms_sbuf *body, uint64_t deadline_ms, p11kms_net_reply *reply)
{
    p11kms_http_header h[1] = {{"Content-Type", "application/json"}};
    p11kms_net_request req;
    p11kms_sbuf url;
    CK_RV rv;

    /* the name was checked to hold only URL-safe characters (p11kms_gcp_key_name_ok) */
    p11kms_sbuf_init(&url, 0);
    p11kms_sbuf_str(&url, c->net.settings.url);
    p11kms_sbuf_str(&url, "v1/");
    p11kms_sbuf_str(&url, name);
    if (verb != NULL) {
        p11kms_sbuf_char(&url, ':');
        p11kms_sbuf_str(&url, verb);
    }
    if (url.failed) {
        p11kms_sbuf_wipe(&url);
        memset(reply, 0, sizeof(*reply));
        return CKR_HOST_MEMORY;
    }
    memset(&req, 0, sizeof(req));
    req.op = op;
    req.what = name;
    req.method = body != NULL ? "POST" : "GET";
    req.url = url.p;
    req.headers = h;
    req.n_headers = body != NULL ? 1 : 0;
    req.body = body;
    req.max_response = P11KMS_GCP_MAX_RESPONSE;
    rv = p11kms_net_call(&c->net, &req, deadline_ms, reply);
    p11kms_sbuf_wipe(&url);
    return rv;
}
