/* vault-call.c - Vault's HTTP API on the wire: JSON requests to v1/ through the shared call loop
 * (net/call.h) with the Vault hooks (X-Vault-Token from the token source, Vault's error bodies,
 * the retry classes of Vault's Go client, the CK_RV mapping), and the unauthenticated
 * sys/health read. No state of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kms-report.h"
#include "log.h"
#include "vault-client.h"

/* sys/health answers 200 whatever the node's state, so the version can always be read. */
#define HEALTH_QUERY                                                                               \
    "sys/health?standbyok=true&perfstandbyok=true&sealedcode=200&uninitcode=200"                   \
    "&drsecondarycode=200&performancestandbycode=200"

static CK_RV vault_authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                             p11kms_net_auth *auth)
{
    p11kms_vault_client *c = ctx;
    p11kms_cred *cr;
    CK_RV rv;

    (void)req;
    cr = calloc(1, sizeof(*cr));
    if (cr == NULL)
        return CKR_HOST_MEMORY;
    auth->state = cr;
    rv = p11kms_vault_auth_token(c->auth, deadline_ms, cr);
    if (rv != CKR_OK)
        return rv; /* logged by the token source */
    /* a rejected token from VAULT_TOKEN would come back the same: only a token file (which its
     * owner may have rewritten) or a login can give another */
    auth->refreshable = cr->source != p11kms_vault_src_env;
    auth->headers[auth->n++] = (p11kms_http_header){"X-Vault-Token", cr->token};
    return CKR_OK;
}

static void vault_auth_clear(void *ctx, p11kms_net_auth *auth)
{
    p11kms_cred *cr = auth->state;

    (void)ctx;
    if (cr == NULL)
        return;
    p11kms_cred_clear(cr);
    free(cr);
    auth->state = NULL;
}

static void vault_invalidate(void *ctx)
{
    p11kms_vault_client *c = ctx;

    p11kms_vault_auth_invalidate(c->auth);
}

static void vault_classify(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o)
{
    (void)ctx;
    p11kms_vault_error_parse((const char *)resp->body.data, resp->body.len, o->status, o->code,
                             sizeof(o->code), o->message, sizeof(o->message));
    o->auth = strcmp(o->code, P11KMS_VAULT_E_INVALID_TOKEN) == 0;
    o->retry = p11kms_vault_retry_kind(o->hr, o->status);
    /* a ciphertext that does not open is an answer, whatever status it came with (a 500 for
     * an RSA one): asking again would not change it */
    if (strcmp(o->code, P11KMS_VAULT_E_BAD_CIPHERTEXT) == 0)
        o->retry = P11KMS_NET_NO_RETRY;
}

static CK_RV vault_map(void *ctx, const p11kms_net_outcome *o)
{
    (void)ctx;
    return p11kms_vault_error_rv(o->code, o->status);
}

/* Vault's error answers carry no request id (only 2xx bodies have request_id): the call's
 * log line names the operation and the key's path instead. */
const p11kms_net_hooks p11kms_vault_hooks = {
    .name = "vault",
    .request_id_header = NULL,
    .authorize = vault_authorize,
    .auth_clear = vault_auth_clear,
    .invalidate = vault_invalidate,
    .classify = vault_classify,
    .map = vault_map,
};

/* The transport request of one exchange outside the call loop, with the client's TLS. */
static void fill_request(const p11kms_net_settings *n, p11kms_http_request *req)
{
    memset(req, 0, sizeof(*req));
    req->ca_file = n->ca_file;
    req->ca_path = n->ca_path;
    req->client_cert = n->client_cert;
    req->client_key = n->client_key;
    req->server_name = n->tls_server_name;
    req->max_response = P11KMS_VAULT_MAX_RESPONSE;
    req->policy = P11KMS_HTTP_POLICY_DEFAULT;
}

static char *join_url(const char *base, const char *path)
{
    char *u = malloc(strlen(base) + strlen(path) + 4);

    if (u != NULL)
        sprintf(u, "%sv1/%s", base, path);
    return u;
}

CK_RV p11kms_vault_call(p11kms_vault_client *c, const char *op, const char *what,
                        const char *method, const char *path, const p11kms_sbuf *body,
                        uint64_t deadline_ms, p11kms_net_reply *reply)
{
    p11kms_http_header h[3];
    p11kms_net_request req;
    size_t nh = 0;
    CK_RV rv;

    memset(reply, 0, sizeof(*reply));
    memset(&req, 0, sizeof(req));
    /* the Vault CLI and hvac send X-Vault-Request; a Vault Agent or Proxy with
     * require_request_header refuses requests without it */
    h[nh++] = (p11kms_http_header){"X-Vault-Request", "true"};
    if (body != NULL)
        h[nh++] = (p11kms_http_header){"Content-Type", "application/json"};
    if (c->st.ns != NULL)
        h[nh++] = (p11kms_http_header){"X-Vault-Namespace", c->st.ns};
    req.op = op;
    req.what = what;
    req.method = method;
    req.url = join_url(c->net.settings.url, path);
    if (req.url == NULL)
        return CKR_HOST_MEMORY;
    req.headers = h;
    req.n_headers = nh;
    req.body = body;
    req.max_response = P11KMS_VAULT_MAX_RESPONSE;
    rv = p11kms_net_call(&c->net, &req, deadline_ms, reply);
    if (rv == CKR_OK)
        p11kms_vault_answer_request_id(&reply->root, reply->request_id, sizeof(reply->request_id));
    free((char *)req.url);
    return rv;
}

CK_RV p11kms_vault_server_version(p11kms_vault_client *c, uint64_t deadline_ms, char *version,
                                  size_t version_len, unsigned *major, unsigned *minor)
{
    const p11kms_net_settings *n = &c->net.settings;
    p11kms_http_header h[1] = {{"X-Vault-Request", "true"}};
    p11kms_http_response resp;
    p11kms_http_request req;
    char *url;
    int hr;
    CK_RV rv = CKR_DEVICE_ERROR;

    memset(&resp, 0, sizeof(resp));
    url = join_url(n->url, HEALTH_QUERY);
    if (url == NULL)
        return CKR_HOST_MEMORY;
    fill_request(n, &req);
    req.method = "GET";
    req.url = url;
    req.headers = h;
    req.n_headers = 1;
    hr = p11kms_net_fetch(c->net.http, &req, "vault", n->connect_timeout_ms, n->request_timeout_ms,
                          n->max_attempts, deadline_ms, &resp);
    if (hr != P11KMS_HTTP_OK) {
        LOG_E("vault: sys/health at %s failed: %s (%s)", n->url, p11kms_http_result_name(hr),
              resp.error);
        rv = p11kms_http_result_rv(hr);
    } else if (p11kms_vault_health_version((const char *)resp.body.data, resp.body.len, version,
                                           version_len, major, minor) != 0) {
        LOG_E("vault: sys/health at %s: HTTP %ld without a server version", n->url, resp.status);
    } else {
        rv = CKR_OK;
    }
    p11kms_http_response_clear(&resp);
    free(url);
    return rv;
}

/* One exchange with the token, as p11kms_vault_ask makes it. */
static CK_RV ask_once(p11kms_vault_client *c, const char *method, const char *url,
                      const p11kms_sbuf *body, uint64_t deadline_ms, p11kms_http_response *resp,
                      int *hr)
{
    const p11kms_net_settings *n = &c->net.settings;
    p11kms_http_header h[4];
    p11kms_http_request req;
    p11kms_cred cr;
    size_t nh = 0;
    CK_RV rv;

    rv = p11kms_vault_auth_token(c->auth, deadline_ms, &cr);
    if (rv != CKR_OK)
        return rv;
    h[nh++] = (p11kms_http_header){"X-Vault-Request", "true"};
    h[nh++] = (p11kms_http_header){"X-Vault-Token", cr.token};
    if (body != NULL)
        h[nh++] = (p11kms_http_header){"Content-Type", "application/json"};
    if (c->st.ns != NULL)
        h[nh++] = (p11kms_http_header){"X-Vault-Namespace", c->st.ns};
    fill_request(n, &req);
    req.method = method;
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    if (body != NULL) {
        req.body = (const uint8_t *)body->p;
        req.body_len = body->len;
    }
    p11kms_http_response_clear(resp);
    *hr = p11kms_net_fetch(c->net.http, &req, "vault", n->connect_timeout_ms, n->request_timeout_ms,
                           n->max_attempts, deadline_ms, resp);
    p11kms_cred_clear(&cr);
    return CKR_OK;
}

CK_RV p11kms_vault_ask(p11kms_vault_client *c, const char *method, const char *path,
                       const p11kms_sbuf *body, uint64_t deadline_ms, long *status, char *code,
                       size_t code_len, p11kms_net_reply *reply)
{
    char msg[P11KMS_NET_MESSAGE_MAX];
    int hr = P11KMS_HTTP_E_OTHER, attempt;
    char *url;
    CK_RV rv = CKR_OK;

    memset(reply, 0, sizeof(*reply));
    *status = 0;
    snprintf(code, code_len, "none");
    if (body != NULL && body->failed)
        return CKR_HOST_MEMORY;
    url = join_url(c->net.settings.url, path);
    if (url == NULL)
        return CKR_HOST_MEMORY;
    for (attempt = 0; attempt < 2; attempt++) {
        rv = ask_once(c, method, url, body, deadline_ms, &reply->resp, &hr);
        if (rv != CKR_OK)
            goto out; /* no token: logged by the token source */
        if (hr != P11KMS_HTTP_OK) {
            LOG_E("vault: %s %s failed: %s (%s)", method, path, p11kms_http_result_name(hr),
                  reply->resp.error);
            rv = p11kms_http_result_rv(hr);
            goto out;
        }
        *status = reply->resp.status;
        if (*status == 200)
            break;
        p11kms_vault_error_parse((const char *)reply->resp.body.data, reply->resp.body.len, *status,
                                 code, code_len, msg, sizeof(msg));
        if (strcmp(code, P11KMS_VAULT_E_INVALID_TOKEN) != 0)
            goto out;
        /* a dead token: once more with a fresh one (read again, or a new login) */
        p11kms_vault_auth_invalidate(c->auth);
    }
    if (*status != 200)
        goto out;
    snprintf(code, code_len, "OK");
    if (p11kms_json_parse((const char *)reply->resp.body.data, reply->resp.body.len,
                          &reply->root) != 0) {
        LOG_E("vault: %s %s: malformed answer (HTTP 200, %zu bytes)", method, path,
              reply->resp.body.len);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    p11kms_vault_answer_request_id(&reply->root, reply->request_id, sizeof(reply->request_id));
out:
    free(url);
    /* For key sets (kms-report.h): no answer, a malformed 200 or an answer Vault's clients retry
     * means this Vault could not serve now, and another KMS may. */
    if (hr != P11KMS_HTTP_OK || (rv != CKR_OK && *status == 200) || *status == 412 ||
        *status == 429 || (*status >= 500 && *status != 501))
        p11kms_kms_report_fault(P11KMS_FAULT_UNAVAILABLE);
    /* only a 200's answer is handed back: a refusal's body goes now (its callers read status
     * and code only) */
    if (rv != CKR_OK || *status != 200)
        p11kms_net_reply_clear(reply);
    return rv;
}
