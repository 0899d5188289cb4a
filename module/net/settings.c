/* settings.c - endpoint, CA bundle, timeouts and attempts of a remote backend's key, checked
 * when the key is configured (no network). No state, no locks. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clock.h"
#include "http.h"
#include "log.h"
#include "settings.h"

static int all_chars(const char *s, size_t n, const char *extra)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
            return 0;
    return 1;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != 0 || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static CK_RV number_option(const char *origin, p11kms_net_option get, const void *src,
                           const char *name, unsigned long min, unsigned long max,
                           unsigned long *out)
{
    const char *v = get(src, name);

    if (v == NULL)
        return CKR_OK;
    if (parse_ulong(v, min, max, out) != 0) {
        LOG_E("%s: %s must be a whole number from %lu to %lu", origin, name, min, max);
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

CK_RV p11kms_net_settings_read(p11kms_net_settings *s, const char *origin, p11kms_net_option get,
                               const void *src, const char *ca_env,
                               unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                               unsigned long deadline_ms, int max_attempts)
{
    const char *ca = get(src, "ca_file");
    unsigned long attempts = (unsigned long)max_attempts;

    s->connect_timeout_ms = connect_timeout_ms;
    s->request_timeout_ms = request_timeout_ms;
    s->deadline_ms = deadline_ms;
    if (number_option(origin, get, src, "connect_timeout_ms", 1, 600000, &s->connect_timeout_ms) !=
            CKR_OK ||
        number_option(origin, get, src, "request_timeout_ms", 1, 600000, &s->request_timeout_ms) !=
            CKR_OK ||
        number_option(origin, get, src, "deadline_ms", 1, 3600000, &s->deadline_ms) != CKR_OK ||
        number_option(origin, get, src, "max_attempts", 1, 10, &attempts) != CKR_OK)
        return CKR_ARGUMENTS_BAD;
    s->max_attempts = (int)attempts;
    if (ca == NULL && ca_env != NULL) {
        ca = getenv(ca_env);
        if (ca != NULL && *ca == 0)
            ca = NULL;
    }
    if (ca == NULL)
        return CKR_OK;
    if (access(ca, R_OK) != 0) {
        LOG_E("%s: cannot read the CA bundle %s: %s", origin, ca, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    s->ca_file = strdup(ca);
    return s->ca_file != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV p11kms_net_settings_endpoint(p11kms_net_settings *s, const char *origin, const char *endpoint)
{
    const char *p, *auth, *hs, *he, *port = NULL, *end;
    int https;
    unsigned long portnum = 0;
    size_t n;
    char hostbuf[300], portbuf[8] = "";

    free(s->url);
    free(s->host);
    s->url = NULL;
    s->host = NULL;
    if (strncasecmp(endpoint, "https://", 8) == 0) {
        https = 1;
        auth = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        https = 0;
        auth = endpoint + 7;
    } else {
        LOG_E("%s: endpoint \"%s\" must start with https:// (or http:// to loopback)", origin,
              endpoint);
        return CKR_ARGUMENTS_BAD;
    }
    end = auth + strcspn(auth, "/");
    if (*end == '/' && end[1] != 0)
        goto bad;
    if (*auth == '[') {
        hs = auth;
        he = memchr(auth, ']', (size_t)(end - auth));
        if (he == NULL)
            goto bad;
        he++;
        if (!all_chars(hs + 1, (size_t)(he - hs - 2), ":."))
            goto bad;
    } else {
        hs = auth;
        he = auth + strcspn(auth, ":/");
        if (he > end)
            he = end;
        if (!all_chars(hs, (size_t)(he - hs), ".-"))
            goto bad;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(hostbuf))
        goto bad;
    if (he < end) {
        if (*he != ':')
            goto bad;
        port = he + 1;
        n = (size_t)(end - port);
        if (n == 0 || n >= sizeof(portbuf))
            goto bad;
        memcpy(portbuf, port, n);
        portbuf[n] = 0;
        if (parse_ulong(portbuf, 1, 65535, &portnum) != 0)
            goto bad;
    }
    memcpy(hostbuf, hs, (size_t)(he - hs));
    hostbuf[he - hs] = 0;
    for (p = hostbuf; *p; p++)
        hostbuf[p - hostbuf] = (char)tolower((unsigned char)*p);
    if (!https && !p11kms_http_plain_host_allowed(hostbuf, P11KMS_HTTP_POLICY_DEFAULT)) {
        LOG_E("%s: endpoint \"%s\": plain http is allowed only to loopback; use https", origin,
              endpoint);
        return CKR_ARGUMENTS_BAD;
    }
    s->host = malloc(strlen(hostbuf) + 8);
    s->url = malloc((size_t)(end - endpoint) + 2);
    if (s->host == NULL || s->url == NULL) {
        free(s->host);
        free(s->url);
        s->host = s->url = NULL;
        return CKR_HOST_MEMORY;
    }
    if (port != NULL && portnum != (https ? 443ul : 80ul))
        snprintf(s->host, strlen(hostbuf) + 8, "%s:%lu", hostbuf, portnum);
    else
        snprintf(s->host, strlen(hostbuf) + 8, "%s", hostbuf);
    memcpy(s->url, endpoint, (size_t)(end - endpoint));
    s->url[end - endpoint] = '/';
    s->url[end - endpoint + 1] = 0;
    return CKR_OK;
bad:
    LOG_E("%s: endpoint \"%s\" is not of the form https://host[:port]", origin, endpoint);
    return CKR_ARGUMENTS_BAD;
}

/* An option, else the variable (empty counts as unset); *from names where it came from. */
static const char *option_or_env(p11kms_net_option get, const void *src, const char *name,
                                 const char *var, const char **from)
{
    const char *v = get(src, name);

    *from = name;
    if (v == NULL && var != NULL) {
        v = getenv(var);
        *from = var;
        if (v != NULL && *v == 0)
            v = NULL;
    }
    return v;
}

static CK_RV keep_path(const char *origin, const char *from, const char *path, int dir, char **out)
{
    struct stat st;

    /* the kind first: a file given as a directory is that, not "permission denied" */
    if (stat(path, &st) == 0 && (dir ? !S_ISDIR(st.st_mode) : S_ISDIR(st.st_mode))) {
        LOG_E("%s: %s: %s is %s", origin, from, path,
              dir ? "not a directory" : "a directory, not a file");
        return CKR_ARGUMENTS_BAD;
    }
    if (stat(path, &st) != 0 || access(path, R_OK | (dir ? X_OK : 0)) != 0) {
        LOG_E("%s: %s: cannot read %s: %s", origin, from, path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    *out = strdup(path);
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV p11kms_net_settings_read_tls(p11kms_net_settings *s, const char *origin,
                                   p11kms_net_option get, const void *src,
                                   const p11kms_net_tls_env *env)
{
    const char *v, *from, *cert_from, *key_from, *key;
    int plain = s->url != NULL && strncasecmp(s->url, "http://", 7) == 0;
    CK_RV rv;

    v = option_or_env(get, src, "ca_path", env->ca_path, &from);
    if (v != NULL && (rv = keep_path(origin, from, v, 1, &s->ca_path)) != CKR_OK)
        return rv;
    v = option_or_env(get, src, "client_cert", env->client_cert, &cert_from);
    key = option_or_env(get, src, "client_key", env->client_key, &key_from);
    if ((v == NULL) != (key == NULL)) {
        LOG_E("%s: %s is set but %s is not: a client certificate needs its key", origin,
              v != NULL ? cert_from : key_from, v != NULL ? "client_key" : "client_cert");
        return CKR_ARGUMENTS_BAD;
    }
    if (v != NULL && plain) {
        LOG_E("%s: %s: a client certificate needs an https endpoint", origin, cert_from);
        return CKR_ARGUMENTS_BAD;
    }
    if (v != NULL && ((rv = keep_path(origin, cert_from, v, 0, &s->client_cert)) != CKR_OK ||
                      (rv = keep_path(origin, key_from, key, 0, &s->client_key)) != CKR_OK))
        return rv;
    v = option_or_env(get, src, "tls_server_name", env->tls_server_name, &from);
    if (v == NULL)
        return CKR_OK;
    if (*v == 0 || strlen(v) > 253 || !all_chars(v, strlen(v), ".-")) {
        LOG_E("%s: %s \"%s\" is not a DNS name", origin, from, v);
        return CKR_ARGUMENTS_BAD;
    }
    if (plain) {
        LOG_E("%s: %s: a TLS server name needs an https endpoint", origin, from);
        return CKR_ARGUMENTS_BAD;
    }
    s->tls_server_name = strdup(v);
    return s->tls_server_name != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

void p11kms_net_settings_free(p11kms_net_settings *s)
{
    if (s == NULL)
        return;
    free(s->url);
    free(s->host);
    free(s->ca_file);
    free(s->ca_path);
    free(s->client_cert);
    free(s->client_key);
    free(s->tls_server_name);
    s->url = s->host = s->ca_file = NULL;
    s->ca_path = s->client_cert = s->client_key = s->tls_server_name = NULL;
}

uint64_t p11kms_net_deadline(const p11kms_net_settings *s)
{
    return p11kms_net_now_ms() + s->deadline_ms;
}
