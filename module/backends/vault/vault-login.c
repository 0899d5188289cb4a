/* vault-login.c - the token exchanges with Vault: AppRole, Kubernetes and TLS certificate
 * login, renew-self, and the secret files they read (secret id, service-account token, token
 * file). Every secret is wiped after use and never logged. No state, no locks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "net/call.h"
#include "net/sbuf.h"
#include "secmem.h"
#include "vault-client.h"

#define BODY_MAX (64u * 1024u)

char *p11kms_vault_read_secret_file(const char *path, const char *what, int *missing)
{
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *missing = 0;
    if (fd < 0) {
        *missing = errno == ENOENT;
        if (!*missing)
            LOG_E("vault: cannot read the %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(P11KMS_VAULT_TOKEN_MAX + 1);
    if (buf == NULL)
        goto out;
    for (;;) {
        n = read(fd, buf + got, P11KMS_VAULT_TOKEN_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got > P11KMS_VAULT_TOKEN_MAX)
            break;
    }
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ' ||
                       buf[got - 1] == '\t'))
        got--;
    if (got == 0 || got > P11KMS_VAULT_TOKEN_MAX || memchr(buf, 0, got) != NULL) {
        LOG_E("vault: the %s %s is empty, too large or binary", what, path);
        p11kms_secure_free(buf, P11KMS_VAULT_TOKEN_MAX + 1);
        buf = NULL;
        goto out;
    }
    buf[got] = 0;
out:
    close(fd);
    return buf;
}

/* POST v1/PATH with a JSON body (and a token for renew-self) on the fetch path: retried on
 * connection failures and 5xx, within the call's deadline. Returns the http result; the answer
 * (any status) is left in resp. */
static int post(const p11kms_vault_fetch *f, const char *path, const p11kms_sbuf *body,
                const char *token, p11kms_http_response *resp)
{
    const p11kms_net_settings *n = f->net;
    p11kms_http_header h[4];
    p11kms_http_request req;
    size_t nh = 0;
    char *url;
    int hr;

    url = malloc(strlen(n->url) + strlen(path) + 4);
    if (url == NULL)
        return P11KMS_HTTP_E_NOMEM;
    sprintf(url, "%sv1/%s", n->url, path);
    h[nh++] = (p11kms_http_header){"Content-Type", "application/json"};
    h[nh++] = (p11kms_http_header){"X-Vault-Request", "true"};
    if (f->ns != NULL)
        h[nh++] = (p11kms_http_header){"X-Vault-Namespace", f->ns};
    if (token != NULL)
        h[nh++] = (p11kms_http_header){"X-Vault-Token", token};
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    req.body = (const uint8_t *)body->p;
    req.body_len = body->len;
    req.ca_file = n->ca_file;
    req.ca_path = n->ca_path;
    req.client_cert = n->client_cert;
    req.client_key = n->client_key;
    req.server_name = n->tls_server_name;
    req.max_response = P11KMS_VAULT_MAX_RESPONSE;
    req.policy = P11KMS_HTTP_POLICY_DEFAULT;
    hr = p11kms_net_fetch(f->http, &req, "vault", n->connect_timeout_ms, n->request_timeout_ms,
                          n->max_attempts, f->deadline_ms, resp);
    free(url);
    return hr;
}

static void add_field(p11kms_sbuf *b, const char *name, const char *value)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_char(b, ':');
    p11kms_sbuf_json_string(b, value, strlen(value));
}

/* The secret id: literal, from a variable, or from its file (read again at every login, so a
 * rotated one is picked up). *sid NULL without error when the role needs none. */
static CK_RV secret_id(const p11kms_vault_settings *s, char **sid)
{
    const char *v;
    int missing = 0;

    *sid = NULL;
    if (s->secret_id != NULL) {
        *sid = strdup(s->secret_id);
        return *sid != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    if (s->secret_id_env != NULL) {
        v = getenv(s->secret_id_env);
        if (v == NULL || *v == 0) {
            LOG_E("vault: approle login: the variable %s that holds the secret id is not set",
                  s->secret_id_env);
            return CKR_DEVICE_ERROR;
        }
        *sid = strdup(v);
        return *sid != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    if (s->secret_id_file == NULL)
        return CKR_OK;
    *sid = p11kms_vault_read_secret_file(s->secret_id_file, "secret id file", &missing);
    if (*sid == NULL) {
        if (missing)
            LOG_E("vault: approle login: the secret id file %s does not exist", s->secret_id_file);
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

/* The login body of the configured method. */
static CK_RV login_body(const p11kms_vault_settings *s, p11kms_sbuf *b, const char **method)
{
    char *secret = NULL;
    int missing = 0;
    CK_RV rv = CKR_OK;

    p11kms_sbuf_char(b, '{');
    switch (s->auth_method) {
    case P11KMS_VAULT_AUTH_APPROLE:
        *method = "approle";
        rv = secret_id(s, &secret);
        if (rv != CKR_OK)
            break;
        add_field(b, "role_id", s->role_id);
        if (secret != NULL)
            add_field(b, "secret_id", secret);
        break;
    case P11KMS_VAULT_AUTH_KUBERNETES:
        *method = "kubernetes";
        /* read at every login: Kubernetes rotates projected service-account tokens */
        secret = p11kms_vault_read_secret_file(s->jwt_file, "service-account token file", &missing);
        if (secret == NULL) {
            if (missing)
                LOG_E("vault: kubernetes login: the service-account token file %s does not exist",
                      s->jwt_file);
            rv = CKR_DEVICE_ERROR;
            break;
        }
        add_field(b, "role", s->role);
        add_field(b, "jwt", secret);
        break;
    case P11KMS_VAULT_AUTH_CERT:
        *method = "cert";
        if (s->cert_role != NULL)
            add_field(b, "name", s->cert_role);
        break;
    default:
        *method = "token";
        rv = CKR_GENERAL_ERROR;
    }
    p11kms_sbuf_char(b, '}');
    p11kms_secure_free_str(secret);
    if (rv == CKR_OK && b->failed)
        rv = CKR_HOST_MEMORY;
    return rv;
}

/* One line for a token exchange that failed: the path, the status and Vault's errors (which
 * never repeat the secrets sent), or the transport failure. */
static void log_failure(const char *what, const char *path, int hr,
                        const p11kms_http_response *resp)
{
    char code[P11KMS_NET_CODE_MAX], msg[P11KMS_NET_MESSAGE_MAX];

    if (hr != P11KMS_HTTP_OK) {
        LOG_E("vault: %s at %s failed: %s (%s)", what, path, p11kms_http_result_name(hr),
              resp->error);
        return;
    }
    p11kms_vault_error_parse((const char *)resp->body.data, resp->body.len, resp->status, code,
                             sizeof(code), msg, sizeof(msg));
    LOG_E("vault: %s at %s failed: %s (HTTP %ld)%s%s", what, path, code, resp->status,
          msg[0] ? ": " : "", msg);
}

CK_RV p11kms_vault_login(const p11kms_vault_settings *s, const p11kms_vault_fetch *f,
                         p11kms_cred *out)
{
    p11kms_http_response resp;
    const char *method = "token";
    char path[P11KMS_VAULT_PATH_MAX + 32], what[64];
    uint64_t lease = 0;
    p11kms_sbuf body;
    int hr, capped;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    memset(&resp, 0, sizeof(resp));
    p11kms_sbuf_init(&body, BODY_MAX);
    rv = login_body(s, &body, &method);
    if (rv != CKR_OK)
        goto out;
    snprintf(path, sizeof(path), "auth/%s/login", s->auth_mount);
    snprintf(what, sizeof(what), "%s login", method);
    hr = post(f, path, &body, NULL, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure(what, path, hr, &resp);
        rv = hr == P11KMS_HTTP_E_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
        goto out;
    }
    rv = p11kms_vault_auth_parse((const char *)resp.body.data, resp.body.len,
                                 p11kms_vault_src_login, time(NULL), out, &lease, &capped);
    if (rv == CKR_DEVICE_ERROR)
        LOG_E("vault: %s at %s: the answer holds no usable token (auth.client_token, "
              "auth.lease_duration)",
              what, path);
    if (rv == CKR_OK)
        LOG_I("vault: %s at %s: token with a lease of %llu s%s", what, path,
              (unsigned long long)lease, out->renewable ? ", renewable" : "");
out:
    p11kms_http_response_clear(&resp);
    p11kms_sbuf_wipe(&body);
    return rv;
}

CK_RV p11kms_vault_renew(const p11kms_vault_fetch *f, const p11kms_cred *current, p11kms_cred *out,
                         int *again)
{
    static const char path[] = "auth/token/renew-self";
    p11kms_http_response resp;
    uint64_t lease = 0;
    p11kms_sbuf body;
    int hr, capped = 0;
    CK_RV rv = CKR_DEVICE_ERROR;

    memset(out, 0, sizeof(*out));
    memset(&resp, 0, sizeof(resp));
    *again = 0;
    p11kms_sbuf_init(&body, 16);
    p11kms_sbuf_str(&body, "{}");
    hr = post(f, path, &body, current->token, &resp);
    if (hr != P11KMS_HTTP_OK) {
        log_failure("token renewal", path, hr, &resp);
        rv = hr == P11KMS_HTTP_E_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
        goto out;
    }
    if (resp.status == 400 || resp.status == 403) {
        /* not renewable any more, or the token died early: a new login fixes both */
        log_failure("token renewal", path, hr, &resp);
        *again = 1;
        goto out;
    }
    if (resp.status != 200) {
        log_failure("token renewal", path, hr, &resp);
        goto out;
    }
    rv = p11kms_vault_auth_parse((const char *)resp.body.data, resp.body.len, current->source,
                                 time(NULL), out, &lease, &capped);
    if (rv == CKR_OK && out->token != NULL && strcmp(out->token, current->token) != 0) {
        LOG_E("vault: token renewal at %s answered with another token; logging in again", path);
        p11kms_cred_clear(out);
        *again = 1;
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    if (rv == CKR_OK && (capped || lease == 0)) {
        /* the lease reached the token's max TTL: renewal stops extending it */
        LOG_I("vault: token renewal capped at the token's max TTL (%llu s left); logging in again",
              (unsigned long long)lease);
        p11kms_cred_clear(out);
        *again = 1;
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    if (rv == CKR_DEVICE_ERROR)
        LOG_E("vault: token renewal at %s: the answer holds no usable lease", path);
    else if (rv == CKR_OK)
        LOG_D("vault: token renewed for %llu s", (unsigned long long)lease);
out:
    p11kms_http_response_clear(&resp);
    p11kms_sbuf_wipe(&body);
    return rv;
}
