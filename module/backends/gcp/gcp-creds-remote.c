/* gcp-creds-remote.c - access tokens from Google's token services: the OAuth token endpoint
 * (service-account assertion, refresh token), STS token exchange and IAM impersonation for
 * workload identity federation, the GCE/GKE metadata server; and their answers' parsers. No
 * state, no locks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "gcp-creds.h"
#include "log.h"
#include "net/call.h"
#include "net/clock.h"
#include "net/json.h"
#include "net/sbuf.h"
#include "secmem.h"

#define TOKEN_MAX 8192
#define SUBJECT_TOKEN_MAX (64u * 1024u)
#define EXPIRES_IN_MAX (7ull * 24 * 3600) /* longer than any Google token: refused */
#define METADATA_TIMEOUT_MS 2000ul
#define METADATA_ATTEMPTS 3
#define METADATA_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define FORM_TYPE "application/x-www-form-urlencoded"
#define GRANT_JWT "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define GRANT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"

static void printable_copy(char *dst, size_t cap, const char *s)
{
    size_t i;

    if (cap == 0)
        return;
    for (i = 0; s != NULL && s[i] && i + 1 < cap; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = 0;
}

void p11kms_gcp_oauth_error(const char *body, size_t len, char *code, size_t code_len, char *desc,
                            size_t desc_len)
{
    p11kms_json root, v;
    char *s = NULL;

    if (code_len > 0)
        code[0] = 0;
    if (desc_len > 0)
        desc[0] = 0;
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0)
        return;
    if (p11kms_json_member(&root, "error", &v) && p11kms_json_string(&v, 256, &s) == 0)
        printable_copy(code, code_len, s);
    free(s);
    s = NULL;
    if (p11kms_json_member(&root, "error_description", &v) && p11kms_json_string(&v, 1024, &s) == 0)
        printable_copy(desc, desc_len, s);
    free(s);
}

CK_RV p11kms_gcp_token_parse(const char *body, size_t len, const char *source, time_t now,
                             p11kms_cred *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_json root, v;
    char *token = NULL, *type = NULL;
    uint64_t expires_in = 0;

    memset(out, 0, sizeof(*out));
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0)
        return CKR_DEVICE_ERROR;
    if (!p11kms_json_member(&root, "access_token", &v) ||
        p11kms_json_string(&v, TOKEN_MAX, &token) != 0 ||
        !p11kms_json_member(&root, "expires_in", &v) ||
        p11kms_json_uint(&v, EXPIRES_IN_MAX, &expires_in) != 0)
        goto out;
    /* a token of another type would not be accepted as a bearer token */
    if (p11kms_json_member(&root, "token_type", &v) &&
        (p11kms_json_string(&v, 64, &type) != 0 || strcasecmp(type, "Bearer") != 0))
        goto out;
    rv = p11kms_cred_set(out, NULL, NULL, token, now + (time_t)expires_in, source);
    if (rv == CKR_GENERAL_ERROR)
        rv = CKR_DEVICE_ERROR;
out:
    p11kms_secure_free_str(token);
    free(type);
    return rv;
}

CK_RV p11kms_gcp_impersonated_parse(const char *body, size_t len, p11kms_cred *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_json root, v;
    char *token = NULL, *when = NULL;
    time_t expires = 0;

    memset(out, 0, sizeof(*out));
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0)
        return CKR_DEVICE_ERROR;
    if (!p11kms_json_member(&root, "accessToken", &v) ||
        p11kms_json_string(&v, TOKEN_MAX, &token) != 0 ||
        !p11kms_json_member(&root, "expireTime", &v) || p11kms_json_string(&v, 64, &when) != 0 ||
        p11kms_net_parse_time(when, &expires) != 0)
        goto out;
    rv = p11kms_cred_set(out, NULL, NULL, token, expires, "external account (impersonated)");
    if (rv == CKR_GENERAL_ERROR)
        rv = CKR_DEVICE_ERROR;
out:
    p11kms_secure_free_str(token);
    free(when);
    return rv;
}

/* One exchange with a token service, retried on connection failures, timeouts, 429 and
 * 500/502/503/504 within the attempts and the call's deadline. */
static int exchange(const p11kms_gcp_fetch *x, const char *method, const char *url,
                    const p11kms_http_header *h, size_t nh, const p11kms_sbuf *body,
                    unsigned long timeout_ms, int attempts, int policy, p11kms_http_response *resp)
{
    p11kms_http_request req;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    if (body != NULL) {
        req.body = (const uint8_t *)body->p;
        req.body_len = body->len;
    }
    req.ca_file = x->ca_file;
    req.max_response = P11KMS_GCP_CREDS_MAX_RESPONSE;
    req.policy = policy;
    return p11kms_net_fetch(x->http, &req, "gcp", x->connect_timeout_ms, timeout_ms, attempts,
                            x->deadline_ms, resp);
}

/* One log line for a token endpoint that did not give a token: the transport failure, or the
 * status with the OAuth error (or google.rpc message) it answered. */
static void log_failure(const char *what, const char *url, int hr, const p11kms_http_response *resp)
{
    char code[128], desc[300];
    p11kms_json root, err, v;
    char *msg = NULL;

    if (hr != P11KMS_HTTP_OK) {
        LOG_E("gcp: %s at %s: %s (%s)", what, url, p11kms_http_result_name(hr), resp->error);
        return;
    }
    p11kms_gcp_oauth_error((const char *)resp->body.data, resp->body.len, code, sizeof(code), desc,
                           sizeof(desc));
    /* IAM credentials answers google.rpc.Status: {"error": {"message": ...}} */
    if (code[0] == 0 && resp->body.data != NULL &&
        p11kms_json_parse((const char *)resp->body.data, resp->body.len, &root) == 0 &&
        p11kms_json_member(&root, "error", &err) && p11kms_json_member(&err, "message", &v) &&
        p11kms_json_string(&v, 1024, &msg) == 0)
        printable_copy(desc, sizeof(desc), msg);
    free(msg);
    LOG_E("gcp: %s at %s: HTTP %ld%s%s%s%s", what, url, resp->status, code[0] ? " " : "", code,
          desc[0] ? ": " : "", desc);
}

/* POST a form to a token endpoint; the answer's token in out. */
static CK_RV post_form(const p11kms_gcp_fetch *x, const char *what, const char *url,
                       const p11kms_sbuf *form, const char *source, p11kms_cred *out)
{
    p11kms_http_header h[1] = {{"Content-Type", FORM_TYPE}};
    p11kms_http_response resp;
    CK_RV rv = CKR_DEVICE_ERROR;
    int hr;

    memset(&resp, 0, sizeof(resp));
    if (form->failed)
        return CKR_HOST_MEMORY;
    hr = exchange(x, "POST", url, h, 1, form, x->request_timeout_ms, x->max_attempts,
                  P11KMS_HTTP_POLICY_DEFAULT, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure(what, url, hr, &resp);
        goto out;
    }
    rv = p11kms_gcp_token_parse((const char *)resp.body.data, resp.body.len, source, time(NULL),
                                out);
    if (rv != CKR_OK)
        LOG_E("gcp: %s at %s: malformed answer (no access_token, expires_in or bearer type)", what,
              url);
out:
    p11kms_http_response_clear(&resp);
    return rv;
}

static CK_RV service_account(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                             p11kms_cred *out)
{
    char *assertion = NULL;
    p11kms_sbuf form;
    CK_RV rv;

    p11kms_sbuf_init(&form, 0);
    rv = p11kms_gcp_jwt_assertion(f->private_key, f->private_key_id, f->client_email,
                                  P11KMS_GCP_SCOPE, f->token_uri, time(NULL), &assertion);
    if (rv != CKR_OK)
        return rv;
    p11kms_sbuf_str(&form, "grant_type=");
    p11kms_sbuf_form(&form, GRANT_JWT);
    p11kms_sbuf_str(&form, "&assertion=");
    p11kms_sbuf_str(&form, assertion); /* base64url and dots: nothing to escape */
    rv = post_form(x, "service account token", f->token_uri, &form, "service account", out);
    p11kms_sbuf_wipe(&form);
    p11kms_secure_free_str(assertion);
    return rv;
}

/* No scope is sent: the refresh token's own scopes apply (gcloud grants cloud-platform), and
 * asking for one it was not granted would be refused. */
static CK_RV authorized_user(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                             p11kms_cred *out)
{
    p11kms_sbuf form;
    CK_RV rv;

    p11kms_sbuf_init(&form, 0);
    p11kms_sbuf_str(&form, "grant_type=refresh_token&client_id=");
    p11kms_sbuf_form(&form, f->client_id);
    p11kms_sbuf_str(&form, "&client_secret=");
    p11kms_sbuf_form(&form, f->client_secret);
    p11kms_sbuf_str(&form, "&refresh_token=");
    p11kms_sbuf_form(&form, f->refresh_token);
    rv = post_form(x, "authorized user token", f->token_uri, &form, "authorized user", out);
    p11kms_sbuf_wipe(&form);
    return rv;
}

/* The subject token from the file source: the whole file (text), or a string field of it
 * (json); trailing whitespace removed. NULL (logged) when unusable. */
static char *subject_token(const p11kms_gcp_credfile *f)
{
    char *buf = NULL, *tok = NULL;
    size_t got = 0;
    ssize_t n;
    p11kms_json root, v;
    int fd = open(f->source_file, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        LOG_E("gcp: cannot read the subject token file %s: %s", f->source_file, strerror(errno));
        return NULL;
    }
    buf = malloc(SUBJECT_TOKEN_MAX + 1);
    if (buf == NULL)
        goto out;
    for (;;) {
        n = read(fd, buf + got, SUBJECT_TOKEN_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got > SUBJECT_TOKEN_MAX)
            break;
    }
    if (got > SUBJECT_TOKEN_MAX || memchr(buf, 0, got) != NULL)
        goto bad;
    if (f->source_field != NULL) {
        if (p11kms_json_parse(buf, got, &root) != 0 ||
            !p11kms_json_member(&root, f->source_field, &v) ||
            p11kms_json_string(&v, SUBJECT_TOKEN_MAX, &tok) != 0)
            goto bad;
    } else {
        while (got > 0 && strchr(" \t\r\n", buf[got - 1]) != NULL)
            got--;
        buf[got] = 0;
        tok = strdup(buf);
        if (tok == NULL)
            goto out;
    }
    if (*tok == 0) {
        p11kms_secure_free_str(tok);
        tok = NULL;
        goto bad;
    }
    goto out;
bad:
    if (f->source_field != NULL)
        LOG_E("gcp: the subject token file %s is not JSON with a string \"%s\"", f->source_file,
              f->source_field);
    else
        LOG_E("gcp: the subject token file %s is empty, too large or binary", f->source_file);
out:
    close(fd);
    p11kms_secure_free(buf, SUBJECT_TOKEN_MAX + 1);
    return tok;
}

/* generateAccessToken for the service account the file names, with the STS token. */
static CK_RV impersonate(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                         const p11kms_cred *sts, p11kms_cred *out)
{
    p11kms_http_header h[2];
    p11kms_http_response resp;
    p11kms_sbuf auth, body;
    char lifetime[32];
    CK_RV rv = CKR_HOST_MEMORY;
    int hr;

    memset(&resp, 0, sizeof(resp));
    p11kms_sbuf_init(&auth, 0);
    p11kms_sbuf_init(&body, 0);
    p11kms_sbuf_str(&auth, "Bearer ");
    p11kms_sbuf_str(&auth, sts->token);
    snprintf(lifetime, sizeof(lifetime), "\"%ds\"}", P11KMS_GCP_TOKEN_LIFETIME_S);
    p11kms_sbuf_str(&body, "{\"scope\":[\"" P11KMS_GCP_SCOPE "\"],\"lifetime\":");
    p11kms_sbuf_str(&body, lifetime);
    if (auth.failed || body.failed)
        goto out;
    h[0] = (p11kms_http_header){"Content-Type", "application/json"};
    h[1] = (p11kms_http_header){"Authorization", auth.p};
    rv = CKR_DEVICE_ERROR;
    hr = exchange(x, "POST", f->impersonation_url, h, 2, &body, x->request_timeout_ms,
                  x->max_attempts, P11KMS_HTTP_POLICY_DEFAULT, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure("service account impersonation", f->impersonation_url, hr, &resp);
        goto out;
    }
    rv = p11kms_gcp_impersonated_parse((const char *)resp.body.data, resp.body.len, out);
    if (rv != CKR_OK)
        LOG_E("gcp: service account impersonation at %s: malformed answer (no accessToken or "
              "expireTime)",
              f->impersonation_url);
out:
    p11kms_http_response_clear(&resp);
    p11kms_sbuf_wipe(&auth);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static CK_RV external_account(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                              p11kms_cred *out)
{
    char *subject = subject_token(f);
    p11kms_cred sts;
    p11kms_sbuf form;
    CK_RV rv;

    memset(&sts, 0, sizeof(sts));
    if (subject == NULL)
        return CKR_DEVICE_ERROR;
    p11kms_sbuf_init(&form, 0);
    p11kms_sbuf_str(&form, "grant_type=");
    p11kms_sbuf_form(&form, GRANT_EXCHANGE);
    p11kms_sbuf_str(&form, "&audience=");
    p11kms_sbuf_form(&form, f->audience);
    p11kms_sbuf_str(&form, "&scope=");
    p11kms_sbuf_form(&form, f->impersonation_url != NULL ? P11KMS_GCP_SCOPE_CLOUD_PLATFORM
                                                         : P11KMS_GCP_SCOPE);
    p11kms_sbuf_str(&form, "&requested_token_type=");
    p11kms_sbuf_form(&form, TOKEN_TYPE_ACCESS);
    p11kms_sbuf_str(&form, "&subject_token=");
    p11kms_sbuf_form(&form, subject);
    p11kms_sbuf_str(&form, "&subject_token_type=");
    p11kms_sbuf_form(&form, f->subject_token_type);
    rv = post_form(x, "STS token exchange", f->token_uri, &form, "external account", &sts);
    if (rv == CKR_OK && f->impersonation_url != NULL) {
        rv = impersonate(f, x, &sts, out);
    } else if (rv == CKR_OK) {
        *out = sts;
        memset(&sts, 0, sizeof(sts));
    }
    p11kms_cred_clear(&sts);
    p11kms_sbuf_wipe(&form);
    p11kms_secure_free_str(subject);
    return rv;
}

CK_RV p11kms_gcp_token_from_file(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                                 p11kms_cred *out)
{
    CK_RV rv;
    char *project;

    memset(out, 0, sizeof(*out));
    switch (f->type) {
    case P11KMS_GCP_SERVICE_ACCOUNT:
        rv = service_account(f, x, out);
        break;
    case P11KMS_GCP_AUTHORIZED_USER:
        rv = authorized_user(f, x, out);
        break;
    case P11KMS_GCP_EXTERNAL_ACCOUNT:
        rv = external_account(f, x, out);
        break;
    default:
        return CKR_GENERAL_ERROR;
    }
    if (rv == CKR_OK && f->quota_project != NULL) {
        project = strdup(f->quota_project);
        if (project == NULL) {
            p11kms_cred_clear(out);
            return CKR_HOST_MEMORY;
        }
        out->id = project;
    }
    return rv;
}

CK_RV p11kms_gcp_token_from_metadata(const p11kms_gcp_fetch *x, p11kms_cred *out, int *applies)
{
    p11kms_http_header h[1] = {{"Metadata-Flavor", "Google"}};
    p11kms_http_response resp;
    char *base = p11kms_gcp_metadata_base(), *url = NULL, flavor[32];
    CK_RV rv = CKR_DEVICE_ERROR;
    size_t n;
    int hr;

    memset(out, 0, sizeof(*out));
    memset(&resp, 0, sizeof(resp));
    *applies = 1;
    if (base == NULL) {
        LOG_E("gcp: GCE_METADATA_HOST is not a host[:port]");
        return CKR_DEVICE_ERROR;
    }
    n = strlen(base) + sizeof(METADATA_PATH);
    url = malloc(n);
    if (url == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    snprintf(url, n, "%s%s", base, METADATA_PATH);
    /* plain http only to the link-local metadata address and loopback (the transport's policy) */
    hr = exchange(x, "GET", url, h, 1, NULL, METADATA_TIMEOUT_MS, METADATA_ATTEMPTS,
                  P11KMS_HTTP_POLICY_METADATA, &resp);
    if (hr == P11KMS_HTTP_E_CONNECT || hr == P11KMS_HTTP_E_TIMEOUT) {
        LOG_I("gcp: no GCE metadata server at %s (%s)", base, p11kms_http_result_name(hr));
        *applies = 0;
        goto out;
    }
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure("metadata server token", url, hr, &resp);
        goto out;
    }
    /* what answers without the header is not the metadata server (a proxy, a captive portal) */
    if (!p11kms_http_response_header(&resp, "Metadata-Flavor", flavor, sizeof(flavor)) ||
        strcmp(flavor, "Google") != 0) {
        LOG_E("gcp: %s answered without Metadata-Flavor: Google; not a metadata server", base);
        goto out;
    }
    rv = p11kms_gcp_token_parse((const char *)resp.body.data, resp.body.len, "metadata server",
                                time(NULL), out);
    if (rv != CKR_OK)
        LOG_E("gcp: metadata server token at %s: malformed answer", url);
out:
    p11kms_http_response_clear(&resp);
    free(base);
    free(url);
    return rv;
}
