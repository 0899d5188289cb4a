/* aws-config.c - an AWS key's settings: key references (ARNs, ids, aliases), the backend's
 * configuration fields, region and endpoint resolution from config and environment (the
 * shared options through net/settings.h), and the client built from them. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "aws-client.h"
#include "log.h"

const char *const p11kms_aws_option_names[] = {"region", "profile", P11KMS_NET_OPTION_NAMES, NULL};

static int all_chars(const char *s, size_t n, const char *extra)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
            return 0;
    return 1;
}

/* Copy field [s, e) into dst if it fits and uses only allowed characters. */
static int field(char *dst, size_t dst_len, const char *s, const char *e, const char *extra,
                 int may_be_empty)
{
    size_t n = (size_t)(e - s);

    if (n >= dst_len || (n == 0 && !may_be_empty) || !all_chars(s, n, extra))
        return -1;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

static int key_id_ok(const char *s, size_t n)
{
    return n > 0 && n < 256 && all_chars(s, n, "-");
}

static int alias_ok(const char *s, size_t n)
{
    return n > 0 && n < 256 && all_chars(s, n, "/_-");
}

int p11kms_aws_keyref_parse(const char *s, p11kms_aws_keyref *out)
{
    const char *p[6], *e;
    size_t n, i;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return -1;
    n = strlen(s);
    if (n == 0 || n > 2048)
        return -1;
    if (strncmp(s, "alias/", 6) == 0) {
        if (!alias_ok(s + 6, n - 6))
            return -1;
        out->kind = P11KMS_AWS_ALIAS_NAME;
        memcpy(out->id, s + 6, n - 6 + 1);
        return 0;
    }
    if (strncmp(s, "arn:", 4) != 0) {
        if (!key_id_ok(s, n))
            return -1;
        out->kind = P11KMS_AWS_KEY_ID;
        memcpy(out->id, s, n + 1);
        return 0;
    }
    /* arn:partition:kms:region:account:resource */
    p[0] = s;
    for (i = 1; i < 6; i++) {
        p[i] = strchr(p[i - 1], ':');
        if (p[i] == NULL)
            return -1;
        p[i]++;
    }
    if (field(out->partition, sizeof(out->partition), p[1], p[2] - 1, "-", 0) != 0 ||
        strncmp(p[2], "kms:", 4) != 0 ||
        field(out->region, sizeof(out->region), p[3], p[4] - 1, "-", 0) != 0 ||
        field(out->account, sizeof(out->account), p[4], p[5] - 1, "", 0) != 0 ||
        strspn(out->account, "0123456789") != strlen(out->account))
        return -1;
    e = s + n;
    if (strncmp(p[5], "key/", 4) == 0 && key_id_ok(p[5] + 4, (size_t)(e - p[5] - 4))) {
        out->kind = P11KMS_AWS_KEY_ARN;
        memcpy(out->id, p[5] + 4, (size_t)(e - p[5] - 4) + 1);
        return 0;
    }
    if (strncmp(p[5], "alias/", 6) == 0 && alias_ok(p[5] + 6, (size_t)(e - p[5] - 6))) {
        out->kind = P11KMS_AWS_ALIAS_ARN;
        memcpy(out->id, p[5] + 6, (size_t)(e - p[5] - 6) + 1);
        return 0;
    }
    return -1;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

static int region_ok(const char *r)
{
    size_t n = strlen(r);

    return n > 0 && n < 32 && all_chars(r, n, "-");
}

/* Region, in this order: the key's "region" field; the region in the key ARN (the only region
 * where that key exists, so it beats the process-wide variables); AWS_REGION (the newer SDKs);
 * AWS_DEFAULT_REGION (botocore, the CLI); the profile's region in the config file. */
CK_RV p11kms_aws_region_resolve(const char *explicit_region, const char *arn_region,
                                const char *profile, const char *origin, const char *missing_hint,
                                char **out)
{
    const char *r = explicit_region;
    char *from_profile = NULL;
    CK_RV rv;

    *out = NULL;
    if (r != NULL && arn_region != NULL && strcmp(r, arn_region) != 0)
        LOG_W("%s: region %s differs from the key ARN's region %s", origin, r, arn_region);
    if (r == NULL)
        r = arn_region;
    if (r == NULL)
        r = env("AWS_REGION");
    if (r == NULL)
        r = env("AWS_DEFAULT_REGION");
    if (r == NULL) {
        rv = p11kms_aws_profile_get(p11kms_aws_profile_name(profile), "region", &from_profile);
        if (rv != CKR_OK)
            return CKR_ARGUMENTS_BAD;
        r = from_profile;
    }
    if (r == NULL) {
        LOG_E("%s: no AWS region: %s", origin, missing_hint);
        return CKR_ARGUMENTS_BAD;
    }
    if (!region_ok(r)) {
        LOG_E("%s: \"%s\" is not an AWS region name", origin, r);
        free(from_profile);
        return CKR_ARGUMENTS_BAD;
    }
    *out = from_profile != NULL ? from_profile : strdup(r);
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* Endpoint: the configured one (a key's "endpoint" field), AWS_ENDPOINT_URL_<ID>,
 * AWS_ENDPOINT_URL (both ignored with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the
 * service's regional (or FIPS) endpoint. */
CK_RV p11kms_aws_endpoint_resolve(const char *service, const char *service_id,
                                  const char *explicit_endpoint, const char *region,
                                  const char *origin, p11kms_net_settings *net, int *configured)
{
    const char *e = explicit_endpoint;
    const char *ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    const char *fips = env("AWS_USE_FIPS_ENDPOINT");
    char def[160], var[64];

    if (e == NULL && !(ignore != NULL && strcasecmp(ignore, "true") == 0)) {
        snprintf(var, sizeof(var), "AWS_ENDPOINT_URL_%s", service_id);
        e = env(var);
        if (e == NULL)
            e = env("AWS_ENDPOINT_URL");
    }
    *configured = e != NULL;
    if (e == NULL) {
        snprintf(def, sizeof(def), "https://%s%s.%s.amazonaws.com%s", service,
                 fips != NULL && strcasecmp(fips, "true") == 0 ? "-fips" : "", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        e = def;
    }
    return p11kms_net_settings_endpoint(net, origin, e);
}

static const char *option(const void *kc, const char *name)
{
    return p11kms_key_config_option(kc, name);
}

CK_RV p11kms_aws_settings_read(const p11kms_key_config *kc, const char *arn_region,
                               p11kms_aws_settings *out)
{
    const char *profile = p11kms_key_config_option(kc, "profile");
    int configured = 0;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (profile != NULL &&
        (*profile == 0 || strlen(profile) > 200 || strpbrk(profile, "[]\r\n") != NULL)) {
        LOG_E("%s: profile \"%s\" is not a usable profile name", kc->origin, profile);
        return CKR_ARGUMENTS_BAD;
    }
    out->profile = profile;
    rv = p11kms_net_settings_read(&out->net, kc->origin, option, kc, "AWS_CA_BUNDLE",
                                  P11KMS_AWS_DEFAULT_CONNECT_TIMEOUT_MS,
                                  P11KMS_AWS_DEFAULT_REQUEST_TIMEOUT_MS,
                                  P11KMS_AWS_DEFAULT_DEADLINE_MS, P11KMS_AWS_DEFAULT_MAX_ATTEMPTS);
    if (rv == CKR_OK)
        rv = p11kms_aws_region_resolve(
            p11kms_key_config_option(kc, "region"), arn_region, profile, kc->origin,
            "set \"region\", use a key ARN, or set AWS_REGION", &out->region);
    if (rv == CKR_OK)
        rv = p11kms_aws_endpoint_resolve("kms", "KMS", p11kms_key_config_option(kc, "endpoint"),
                                         out->region, kc->origin, &out->net, &configured);
    if (rv != CKR_OK)
        p11kms_aws_settings_free(out);
    return rv;
}

void p11kms_aws_settings_free(p11kms_aws_settings *s)
{
    free(s->region);
    p11kms_net_settings_free(&s->net);
    memset(s, 0, sizeof(*s));
}

CK_RV p11kms_aws_client_new(const p11kms_key_config *kc, const char *arn_region,
                            p11kms_aws_client **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_aws_settings st;
    p11kms_aws_client *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CKR_HOST_MEMORY;
    c->origin = strdup(kc->origin != NULL ? kc->origin : "aws key");
    if (c->origin == NULL)
        goto out;
    rv = p11kms_aws_settings_read(kc, arn_region, &st);
    if (rv != CKR_OK)
        goto out;
    c->net.settings = st.net;
    c->region = st.region;
    c->service = "kms";
    c->normalize_path = 1;
    rv = p11kms_net_client_init(&c->net, &p11kms_aws_hooks, c);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_aws_provider_get(
        st.profile, c->region, c->net.settings.ca_file, c->net.settings.connect_timeout_ms,
        c->net.settings.request_timeout_ms, c->net.settings.max_attempts, c->net.http, &c->creds);
out:
    if (rv != CKR_OK) {
        p11kms_aws_client_free(c);
        return rv;
    }
    LOG_D("%s: AWS KMS at %s (region %s)", c->origin, c->net.settings.url, c->region);
    *out = c;
    return CKR_OK;
}

static const char *no_option(const void *src, const char *name)
{
    (void)src;
    (void)name;
    return NULL;
}

CK_RV p11kms_aws_service_open(const p11kms_aws_service_opts *o, const p11kms_net_hooks *hooks,
                              p11kms_aws_client **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    const char *origin = o->origin != NULL ? o->origin : o->service;
    p11kms_aws_client *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CKR_HOST_MEMORY;
    c->service = o->service;
    c->normalize_path = strcmp(o->service, "s3") != 0;
    c->origin = strdup(origin);
    if (c->origin == NULL)
        goto out;
    rv = p11kms_net_settings_read(&c->net.settings, origin, no_option, NULL, "AWS_CA_BUNDLE",
                                  o->connect_timeout_ms, o->request_timeout_ms, o->deadline_ms,
                                  o->max_attempts);
    if (rv == CKR_OK)
        rv = p11kms_aws_region_resolve(o->region, NULL, o->profile, origin,
                                       "set AWS_REGION, or \"region\" in the AWS profile",
                                       &c->region);
    if (rv == CKR_OK)
        rv = p11kms_aws_endpoint_resolve(o->service, o->service_id, o->endpoint, c->region, origin,
                                         &c->net.settings, &c->endpoint_configured);
    if (rv == CKR_OK)
        rv = p11kms_net_client_init(&c->net, hooks, c);
    if (rv == CKR_OK)
        rv = p11kms_aws_provider_get(o->profile, c->region, c->net.settings.ca_file,
                                     c->net.settings.connect_timeout_ms,
                                     c->net.settings.request_timeout_ms,
                                     c->net.settings.max_attempts, c->net.http, &c->creds);
out:
    if (rv != CKR_OK) {
        p11kms_aws_client_free(c);
        return rv;
    }
    LOG_D("%s: AWS %s at %s (region %s)", c->origin, c->service, c->net.settings.url, c->region);
    *out = c;
    return CKR_OK;
}

void p11kms_aws_client_free(p11kms_aws_client *c)
{
    if (c == NULL)
        return;
    p11kms_aws_provider_put(c->creds);
    /* the settings were moved into the client's: freed there, or here when it never started */
    if (c->net.hooks != NULL)
        p11kms_net_client_release(&c->net);
    else
        p11kms_net_settings_free(&c->net.settings);
    free(c->region);
    free(c->origin);
    free(c);
}

uint64_t p11kms_aws_client_deadline(const p11kms_aws_client *c)
{
    return p11kms_net_deadline(&c->net.settings);
}
