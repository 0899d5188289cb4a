/* gcp-config.c - a Cloud KMS key's settings: its name, the backend's configuration fields, the
 * endpoint and quota project from config and environment (the shared options through
 * net/settings.h), and the client built from them. No state, no locks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gcp-client.h"
#include "log.h"

const char *const p11kms_gcp_option_names[] = {"credentials_file", "quota_project", "key_version",
                                               P11KMS_NET_OPTION_NAMES, NULL};

/* Google's backoff starts at 100 ms (its client config); doubled with full jitter here. */
static const p11kms_net_backoff gcp_backoff = {100ul, 1000ul, 20000ul};

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

/* One id of a resource name: [A-Za-z0-9._:-], not "." or "..". */
static int id_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];

        /* ASCII ranges, not isalnum: the application's locale must not widen the set */
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            strchr("._:-", c) == NULL)
            return 0;
    }
    return 1;
}

int p11kms_gcp_key_name_ok(const char *s, int strict)
{
    static const char *const fixed[] = {"projects", "locations", "keyRings", "cryptoKeys"};
    size_t i, n;

    if (strict && strlen(s) > P11KMS_GCP_NAME_MAX)
        return 0;
    for (i = 0; i < 8; i++) {
        n = strcspn(s, "/");
        if (n == 0)
            return 0;
        if (i % 2 == 0 && (strlen(fixed[i / 2]) != n || memcmp(s, fixed[i / 2], n) != 0))
            return 0;
        if (i % 2 == 1 && strict && !id_ok(s, n))
            return 0;
        s += n;
        if (i < 7) {
            if (*s != '/')
                return 0;
            s++;
        }
    }
    return *s == '\0';
}

static const char *option(const void *kc, const char *name)
{
    return p11kms_key_config_option(kc, name);
}

static int project_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 256)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return 0;
    return 1;
}

CK_RV p11kms_gcp_settings_read(const p11kms_key_config *kc, p11kms_gcp_settings *out)
{
    const char *endpoint = p11kms_key_config_option(kc, "endpoint");
    const char *file = p11kms_key_config_option(kc, "credentials_file");
    const char *quota = p11kms_key_config_option(kc, "quota_project");
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (file != NULL && access(file, R_OK) != 0) {
        LOG_E("%s: cannot read credentials_file %s: %s", kc->origin, file, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    out->credentials_file = file;
    if (quota == NULL)
        quota = env(P11KMS_GCP_QUOTA_ENV);
    if (quota != NULL && !project_ok(quota)) {
        LOG_E("%s: quota project \"%s\" is not a project id", kc->origin, quota);
        return CKR_ARGUMENTS_BAD;
    }
    out->quota_project = quota;
    rv = p11kms_net_settings_read(&out->net, kc->origin, option, kc, P11KMS_GCP_CA_ENV,
                                  P11KMS_GCP_DEFAULT_CONNECT_TIMEOUT_MS,
                                  P11KMS_GCP_DEFAULT_REQUEST_TIMEOUT_MS,
                                  P11KMS_GCP_DEFAULT_DEADLINE_MS, P11KMS_GCP_DEFAULT_MAX_ATTEMPTS);
    if (rv != CKR_OK)
        goto out;
    out->endpoint_source = "configuration";
    if (endpoint == NULL) {
        endpoint = env(P11KMS_GCP_ENDPOINT_ENV);
        out->endpoint_source = P11KMS_GCP_ENDPOINT_ENV;
    }
    if (endpoint == NULL) {
        endpoint = P11KMS_GCP_DEFAULT_ENDPOINT;
        out->endpoint_source = "default";
    }
    rv = p11kms_net_settings_endpoint(&out->net, kc->origin, endpoint);
out:
    if (rv != CKR_OK)
        p11kms_gcp_settings_free(out);
    return rv;
}

void p11kms_gcp_settings_free(p11kms_gcp_settings *s)
{
    p11kms_net_settings_free(&s->net);
    memset(s, 0, sizeof(*s));
}

CK_RV p11kms_gcp_client_new(const p11kms_key_config *kc, p11kms_gcp_client **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_gcp_settings st;
    p11kms_gcp_client *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CKR_HOST_MEMORY;
    c->origin = strdup(kc->origin != NULL ? kc->origin : "gcp key");
    if (c->origin == NULL)
        goto out;
    rv = p11kms_gcp_settings_read(kc, &st);
    if (rv != CKR_OK)
        goto out;
    c->net.settings = st.net;
    rv = CKR_HOST_MEMORY;
    if (st.quota_project != NULL && (c->quota_project = strdup(st.quota_project)) == NULL)
        goto out;
    rv = p11kms_net_client_init(&c->net, &p11kms_gcp_hooks, c);
    if (rv != CKR_OK)
        goto out;
    c->net.backoff = &gcp_backoff;
    rv = p11kms_gcp_provider_get(
        st.credentials_file, c->net.settings.ca_file, c->net.settings.connect_timeout_ms,
        c->net.settings.request_timeout_ms, c->net.settings.max_attempts, c->net.http, &c->creds);
out:
    if (rv != CKR_OK) {
        p11kms_gcp_client_free(c);
        return rv;
    }
    LOG_D("%s: Cloud KMS at %s", c->origin, c->net.settings.url);
    *out = c;
    return CKR_OK;
}

void p11kms_gcp_client_free(p11kms_gcp_client *c)
{
    if (c == NULL)
        return;
    p11kms_gcp_provider_put(c->creds);
    /* the settings were moved into the client's: freed there, or here when it never started */
    if (c->net.hooks != NULL)
        p11kms_net_client_release(&c->net);
    else
        p11kms_net_settings_free(&c->net.settings);
    free(c->quota_project);
    free(c->origin);
    free(c);
}

uint64_t p11kms_gcp_client_deadline(const p11kms_gcp_client *c)
{
    return p11kms_net_deadline(&c->net.settings);
}
