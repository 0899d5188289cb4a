/* aws-config.c - an AWS key's settings: key references (ARNs, ids, aliases), the backend's
 * configuration fields, and region/endpoint/CA resolution from config and environment. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "aws-client.h"
#include "log.h"

const char *const p11kms_aws_option_names[] = {
    "region",       "endpoint",    "profile", "ca_file", "connect_timeout_ms", "request_timeout_ms",
    "max_attempts", "deadline_ms", NULL,
};

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

static int region_ok(const char *r)
{
    size_t n = strlen(r);

    return n > 0 && n < 32 && all_chars(r, n, "-");
}

/*
 * The endpoint as "scheme://host[:port][/]": no user info, path, query or fragment (KMS is
 * always "POST /"). Sets the URL we send to and the Host header we sign (the default port is
 * left out, as the SDKs do). Plain http only to loopback.
 */
static CK_RV parse_endpoint(const char *origin, const char *endpoint, char **url, char **host)
{
    const char *p, *auth, *hs, *he, *port = NULL, *end;
    int https;
    unsigned long portnum = 0;
    size_t n;
    char hostbuf[300], portbuf[8] = "";

    *url = NULL;
    *host = NULL;
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
    n = strlen(hostbuf) + 8;
    *host = malloc(n);
    n = (size_t)(end - endpoint) + 2;
    *url = malloc(n);
    if (*host == NULL || *url == NULL) {
        free(*host);
        free(*url);
        *host = *url = NULL;
        return CKR_HOST_MEMORY;
    }
    if (port != NULL && portnum != (https ? 443ul : 80ul))
        snprintf(*host, strlen(hostbuf) + 8, "%s:%lu", hostbuf, portnum);
    else
        snprintf(*host, strlen(hostbuf) + 8, "%s", hostbuf);
    memcpy(*url, endpoint, (size_t)(end - endpoint));
    (*url)[end - endpoint] = '/';
    (*url)[end - endpoint + 1] = 0;
    return CKR_OK;
bad:
    LOG_E("%s: endpoint \"%s\" is not of the form https://host[:port]", origin, endpoint);
    return CKR_ARGUMENTS_BAD;
}

/* Region, in this order: the key's "region" field; the region in the key ARN (the only region
 * where that key exists, so it beats the process-wide variables); AWS_REGION (the newer SDKs);
 * AWS_DEFAULT_REGION (botocore, the CLI); the profile's region in the config file. */
static CK_RV resolve_region(const p11kms_key_config *kc, const char *arn_region,
                            const char *profile, char **out)
{
    const char *r = p11kms_key_config_option(kc, "region");
    char *from_profile = NULL;
    CK_RV rv;

    *out = NULL;
    if (r != NULL && arn_region != NULL && strcmp(r, arn_region) != 0)
        LOG_W("%s: region %s differs from the key ARN's region %s", kc->origin, r, arn_region);
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
        LOG_E("%s: no AWS region: set \"region\", use a key ARN, or set AWS_REGION", kc->origin);
        return CKR_ARGUMENTS_BAD;
    }
    if (!region_ok(r)) {
        LOG_E("%s: \"%s\" is not an AWS region name", kc->origin, r);
        free(from_profile);
        return CKR_ARGUMENTS_BAD;
    }
    *out = from_profile != NULL ? from_profile : strdup(r);
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* Endpoint: the key's "endpoint" field, AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL (both ignored
 * with AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else the regional (or FIPS) endpoint. */
static CK_RV resolve_endpoint(const p11kms_key_config *kc, const char *region, p11kms_aws_client *c)
{
    const char *e = p11kms_key_config_option(kc, "endpoint");
    const char *ignore = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    const char *fips = env("AWS_USE_FIPS_ENDPOINT");
    char def[128];

    if (e == NULL && !(ignore != NULL && strcasecmp(ignore, "true") == 0)) {
        e = env("AWS_ENDPOINT_URL_KMS");
        if (e == NULL)
            e = env("AWS_ENDPOINT_URL");
    }
    if (e == NULL) {
        snprintf(def, sizeof(def), "https://kms%s.%s.amazonaws.com%s",
                 fips != NULL && strcasecmp(fips, "true") == 0 ? "-fips" : "", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
        e = def;
    }
    return parse_endpoint(kc->origin, e, &c->url, &c->host);
}

static CK_RV number_option(const p11kms_key_config *kc, const char *name, unsigned long min,
                           unsigned long max, unsigned long *out)
{
    const char *v = p11kms_key_config_option(kc, name);

    if (v == NULL)
        return CKR_OK;
    if (parse_ulong(v, min, max, out) != 0) {
        LOG_E("%s: %s must be a whole number from %lu to %lu", kc->origin, name, min, max);
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

CK_RV p11kms_aws_client_new(const p11kms_key_config *kc, const char *arn_region,
                            p11kms_aws_client **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_aws_client *c;
    const char *profile = p11kms_key_config_option(kc, "profile");
    const char *ca = p11kms_key_config_option(kc, "ca_file");
    unsigned long attempts = P11KMS_AWS_DEFAULT_MAX_ATTEMPTS;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CKR_HOST_MEMORY;
    p11kms_aws_quota_init(&c->quota);
    c->connect_timeout_ms = P11KMS_AWS_DEFAULT_CONNECT_TIMEOUT_MS;
    c->request_timeout_ms = P11KMS_AWS_DEFAULT_REQUEST_TIMEOUT_MS;
    c->deadline_ms = P11KMS_AWS_DEFAULT_DEADLINE_MS;
    c->origin = strdup(kc->origin != NULL ? kc->origin : "aws key");
    if (c->origin == NULL)
        goto out;
    rv = CKR_ARGUMENTS_BAD;
    if (profile != NULL &&
        (*profile == 0 || strlen(profile) > 200 || strpbrk(profile, "[]\r\n") != NULL)) {
        LOG_E("%s: profile \"%s\" is not a usable profile name", kc->origin, profile);
        goto out;
    }
    if (number_option(kc, "connect_timeout_ms", 1, 600000, &c->connect_timeout_ms) != CKR_OK ||
        number_option(kc, "request_timeout_ms", 1, 600000, &c->request_timeout_ms) != CKR_OK ||
        number_option(kc, "deadline_ms", 1, 3600000, &c->deadline_ms) != CKR_OK ||
        number_option(kc, "max_attempts", 1, 10, &attempts) != CKR_OK)
        goto out;
    c->max_attempts = (int)attempts;
    if (ca == NULL)
        ca = env("AWS_CA_BUNDLE");
    if (ca != NULL) {
        if (access(ca, R_OK) != 0) {
            LOG_E("%s: cannot read the CA bundle %s: %s", kc->origin, ca, strerror(errno));
            goto out;
        }
        c->ca_file = strdup(ca);
        if (c->ca_file == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
    }
    rv = resolve_region(kc, arn_region, profile, &c->region);
    if (rv != CKR_OK)
        goto out;
    rv = resolve_endpoint(kc, c->region, c);
    if (rv != CKR_OK)
        goto out;
    c->http = p11kms_http_acquire();
    if (c->http == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    rv = p11kms_aws_provider_get(profile, c->region, c->ca_file, c->connect_timeout_ms,
                                 c->request_timeout_ms, c->max_attempts, c->http, &c->creds);
out:
    if (rv != CKR_OK) {
        p11kms_aws_client_free(c);
        return rv;
    }
    LOG_D("%s: AWS KMS at %s (region %s)", c->origin, c->url, c->region);
    *out = c;
    return CKR_OK;
}

void p11kms_aws_client_free(p11kms_aws_client *c)
{
    if (c == NULL)
        return;
    p11kms_aws_provider_put(c->creds);
    p11kms_http_release(c->http);
    p11kms_aws_quota_destroy(&c->quota);
    free(c->region);
    free(c->url);
    free(c->host);
    free(c->ca_file);
    free(c->origin);
    free(c);
}

uint64_t p11kms_aws_client_deadline(const p11kms_aws_client *c)
{
    return p11kms_aws_now_ms() + c->deadline_ms;
}
