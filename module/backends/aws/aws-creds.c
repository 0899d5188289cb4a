/* aws-creds.c - AWS credential providers: shared per (profile, region, CA, timeouts), the SDK
 * resolution order, behind the generic cache (net/tokcache.h) that refreshes them before
 * expiry with one refresh in flight at a time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws-creds.h"
#include "fork.h"
#include "log.h"

/*
 * Locking: registry_lock protects the registry list and every provider's refs; its fork
 * handler takes it before fork(). Each provider's cache locks itself (tokcache.h); the chain
 * itself (file reads, HTTP) runs without any lock held, so threads holding valid credentials
 * never wait behind a slow credential endpoint. A forked child never uses a provider of its
 * parent (the cache's lock may be held for good): providers are found by the fork generation
 * their cache was made in, and the child makes its own.
 */

struct p11kms_aws_provider {
    /* identity (immutable after creation) */
    char *profile; /* explicit profile or NULL */
    char *region;
    char *ca_file;
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    int max_attempts;
    p11kms_http_transport *http;
    /* registry */
    unsigned long refs;
    struct p11kms_aws_provider *next;
    /* credentials, filled by resolve() */
    p11kms_tokcache cache;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11kms_aws_provider *registry;

static void registry_fork_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void registry_fork_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static p11kms_fork_handler registry_fork = {.rank = P11KMS_FORK_RANK_BACKEND,
                                            .prepare = registry_fork_lock,
                                            .parent = registry_fork_unlock,
                                            .child = registry_fork_unlock};

__attribute__((constructor)) static void registry_fork_register(void)
{
    p11kms_fork_register(&registry_fork);
}

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
    struct p11kms_aws_provider *p = ctx;
    const char *profile = p11kms_aws_profile_name(p->profile);
    int named = p->profile != NULL || strcmp(profile, "default") != 0;
    p11kms_aws_fetch f;
    int applies = 0;
    CK_RV rv;

    f.http = p->http;
    f.ca_file = p->ca_file;
    f.region = p->region;
    f.connect_timeout_ms = p->connect_timeout_ms;
    f.request_timeout_ms = p->request_timeout_ms;
    f.max_attempts = p->max_attempts;
    f.deadline_ms = deadline_ms;

    if (p->profile == NULL) {
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

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static char *dup_or_null(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

static void provider_free(struct p11kms_aws_provider *p)
{
    p11kms_tokcache_destroy(&p->cache);
    free(p->profile);
    free(p->region);
    free(p->ca_file);
    free(p);
}

CK_RV p11kms_aws_provider_get(const char *explicit_profile, const char *region, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_aws_provider **out)
{
    struct p11kms_aws_provider *p;
    int failed = 0;

    *out = NULL;
    pthread_mutex_lock(&registry_lock);
    for (p = registry; p != NULL; p = p->next) {
        if (p11kms_tokcache_current(&p->cache) && same_str(p->profile, explicit_profile) &&
            same_str(p->region, region) && same_str(p->ca_file, ca_file) &&
            p->connect_timeout_ms == connect_timeout_ms &&
            p->request_timeout_ms == request_timeout_ms && p->max_attempts == max_attempts &&
            p->http == http) {
            p->refs++;
            *out = p;
            pthread_mutex_unlock(&registry_lock);
            return CKR_OK;
        }
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        pthread_mutex_unlock(&registry_lock);
        return CKR_HOST_MEMORY;
    }
    p->profile = dup_or_null(explicit_profile, &failed);
    p->region = dup_or_null(region, &failed);
    p->ca_file = dup_or_null(ca_file, &failed);
    p->connect_timeout_ms = connect_timeout_ms;
    p->request_timeout_ms = request_timeout_ms;
    p->max_attempts = max_attempts;
    p->http = http;
    p->refs = 1;
    p11kms_tokcache_init(&p->cache, "aws", "credentials", P11KMS_AWS_CREDS_ADVISORY_S,
                         P11KMS_AWS_CREDS_MANDATORY_S, resolve, p);
    if (failed) {
        provider_free(p);
        pthread_mutex_unlock(&registry_lock);
        return CKR_HOST_MEMORY;
    }
    p->next = registry;
    registry = p;
    pthread_mutex_unlock(&registry_lock);
    *out = p;
    return CKR_OK;
}

void p11kms_aws_provider_put(p11kms_aws_provider *p)
{
    struct p11kms_aws_provider **pp;

    if (p == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--p->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    provider_free(p);
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
