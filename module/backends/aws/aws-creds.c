/* aws-creds.c - AWS credential providers: shared per (profile, region, CA, timeouts), the SDK
 * resolution order, behind the generic cache (net/tokcache.h) that refreshes them before
 * expiry with one refresh in flight at a time. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws-creds.h"
#include "log.h"

/* Providers are shared entries of net/tokshare.h (key strings: profile or NULL, region, CA
 * file); each one's cache locks itself, and the chain (file reads, HTTP) runs with no lock
 * held. */
#define KEY_PROFILE 0
#define KEY_REGION 1
#define KEY_CA_FILE 2

CK_RV p11kms_aws_creds_set(p11kms_cred *c, const char *akid, const char *secret, const char *token,
                           time_t expiration, const char *source)
{
    memset(c, 0, sizeof(*c));
    if (akid == NULL || *akid == 0 || secret == NULL || *secret == 0)
        return CKR_GENERAL_ERROR;
    return p11kms_cred_set(c, akid, secret, token, expiration, source);
}

/* The chain, in botocore's order: environment (unless a profile was configured for the key),
 * web identity, the shared credentials file, the config file, the container endpoint, IMDS. */
static CK_RV resolve(void *ctx, const p11kms_cred *current, uint64_t deadline_ms, p11kms_cred *out)
{
    const p11kms_tokshare_key *k = &((const p11kms_tokshare *)ctx)->key;
    const char *explicit_profile = k->str[KEY_PROFILE];
    const char *profile = p11kms_aws_profile_name(explicit_profile);
    int named = explicit_profile != NULL || strcmp(profile, "default") != 0;
    p11kms_aws_fetch f;
    int applies = 0;
    CK_RV rv;

    f.http = k->http;
    f.ca_file = k->str[KEY_CA_FILE];
    f.region = k->str[KEY_REGION];
    f.connect_timeout_ms = k->connect_timeout_ms;
    f.request_timeout_ms = k->request_timeout_ms;
    f.max_attempts = k->max_attempts;
    f.deadline_ms = deadline_ms;

    if (explicit_profile == NULL) {
        rv = p11kms_aws_creds_from_env(out, &applies);
        if (applies || rv != CKR_OK)
            return rv;
    }
    rv = p11kms_aws_creds_from_web_identity(profile, &f, out, &applies);
    if (applies || rv != CKR_OK)
        return rv;
    rv = p11kms_aws_creds_from_files(profile, named, out, &applies);
    if (applies || rv != CKR_OK)
        return rv;
    rv = p11kms_aws_creds_from_container(&f, out, &applies);
    if (applies || rv != CKR_OK)
        return rv;
    rv = p11kms_aws_creds_from_imds(&f, out, &applies);
    if (applies || rv != CKR_OK)
        return rv;
    LOG_E("aws: no credentials: none in the environment, web identity, profile \"%s\" of the "
          "shared files, container endpoint or EC2 instance metadata",
          profile);
    return CKR_DEVICE_ERROR;
}

static const p11kms_tokshare_class provider_class = {.name = "aws",
                                                     .what = "credentials",
                                                     .advisory_s = P11KMS_AWS_CREDS_ADVISORY_S,
                                                     .mandatory_s = P11KMS_AWS_CREDS_MANDATORY_S,
                                                     .fetch = resolve};

CK_RV p11kms_aws_provider_get(const char *explicit_profile, const char *region, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_aws_provider **out)
{
    p11kms_tokshare_key key = {{explicit_profile, region, ca_file},
                               connect_timeout_ms,
                               request_timeout_ms,
                               max_attempts,
                               http};

    return p11kms_tokshare_get(&provider_class, &key, NULL, out);
}

void p11kms_aws_provider_put(p11kms_aws_provider *p)
{
    p11kms_tokshare_put(p);
}

CK_RV p11kms_aws_provider_creds(p11kms_aws_provider *p, uint64_t deadline_ms, p11kms_cred *out)
{
    return p11kms_tokcache_get(&p->cache, deadline_ms, out);
}

void p11kms_aws_provider_invalidate(p11kms_aws_provider *p)
{
    p11kms_tokcache_invalidate(&p->cache);
}

unsigned long p11kms_aws_provider_resolutions(p11kms_aws_provider *p)
{
    return p11kms_tokcache_fetches(&p->cache);
}
