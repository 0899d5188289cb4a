/* aws-creds.c - the credentials cache: providers shared per (profile, region, CA, timeouts),
 * the SDK resolution order, and refresh before expiry with one refresh in flight at a time. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "aws-creds.h"
#include "aws-retry.h"
#include "log.h"
#include "secmem.h"

/*
 * Locking: registry_lock protects the registry list and every provider's refs.
 * Each provider's lock protects its cached credentials, refreshing and resolutions; the
 * chain itself (file reads, HTTP) runs without any lock held, flagged by refreshing, so
 * threads holding valid credentials never wait behind a slow credential endpoint.
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
    pid_t pid; /* a forked child makes its own: the parent's lock may be held for good */
    /* registry */
    unsigned long refs;
    struct p11kms_aws_provider *next;
    /* cache */
    pthread_mutex_t lock;
    pthread_cond_t done; /* a refresh finished */
    int refreshing;
    p11kms_aws_creds cached; /* access_key_id NULL: none */
    unsigned long resolutions;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11kms_aws_provider *registry;

void p11kms_aws_creds_clear(p11kms_aws_creds *c)
{
    if (c == NULL)
        return;
    free(c->access_key_id);
    p11kms_secure_free_str(c->secret_access_key);
    p11kms_secure_free_str(c->session_token);
    memset(c, 0, sizeof(*c));
}

static int clean_value(const char *s)
{
    if (s == NULL || *s == 0)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

CK_RV p11kms_aws_creds_set(p11kms_aws_creds *c, const char *akid, const char *secret,
                           const char *token, time_t expiration, const char *source)
{
    memset(c, 0, sizeof(*c));
    if (token != NULL && *token == 0)
        token = NULL;
    if (!clean_value(akid) || !clean_value(secret) || (token != NULL && !clean_value(token)))
        return CKR_GENERAL_ERROR;
    c->access_key_id = strdup(akid);
    c->secret_access_key = strdup(secret);
    c->session_token = token ? strdup(token) : NULL;
    c->expiration = expiration;
    c->source = source;
    if (c->access_key_id == NULL || c->secret_access_key == NULL ||
        (token != NULL && c->session_token == NULL)) {
        p11kms_aws_creds_clear(c);
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

CK_RV p11kms_aws_creds_copy(const p11kms_aws_creds *src, p11kms_aws_creds *dst)
{
    CK_RV rv = p11kms_aws_creds_set(dst, src->access_key_id, src->secret_access_key,
                                    src->session_token, src->expiration, src->source);

    return rv == CKR_GENERAL_ERROR ? CKR_DEVICE_ERROR : rv;
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
    p11kms_aws_creds_clear(&p->cached);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
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
    pthread_condattr_t ca;
    int failed = 0;

    *out = NULL;
    pthread_mutex_lock(&registry_lock);
    for (p = registry; p != NULL; p = p->next) {
        if (p->pid == getpid() && same_str(p->profile, explicit_profile) &&
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
    p->pid = getpid();
    p->refs = 1;
    pthread_mutex_init(&p->lock, NULL);
    /* waits are bounded by the caller's deadline, which is on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
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

/* The chain, in botocore's order: environment (unless a profile was configured for the key),
 * web identity, the shared credentials file, the config file, the container endpoint, IMDS. */
static CK_RV resolve(struct p11kms_aws_provider *p, uint64_t deadline_ms, p11kms_aws_creds *out)
{
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

/* Seconds the cached credentials stay good; a large number when they never expire. */
static long long remaining_s(const p11kms_aws_creds *c, time_t now)
{
    if (c->access_key_id == NULL)
        return -1;
    if (c->expiration == 0)
        return (long long)1 << 40;
    return (long long)(c->expiration - now);
}

static int wait_done(struct p11kms_aws_provider *p, uint64_t deadline_ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return pthread_cond_timedwait(&p->done, &p->lock, &ts);
}

CK_RV p11kms_aws_provider_creds(p11kms_aws_provider *p, uint64_t deadline_ms, p11kms_aws_creds *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_aws_creds fresh;
    long long left;

    memset(out, 0, sizeof(*out));
    memset(&fresh, 0, sizeof(fresh));
    pthread_mutex_lock(&p->lock);
    for (;;) {
        left = remaining_s(&p->cached, time(NULL));
        if (left > P11KMS_AWS_CREDS_ADVISORY_S ||
            (p->refreshing && left > P11KMS_AWS_CREDS_MANDATORY_S)) {
            rv = p11kms_aws_creds_copy(&p->cached, out);
            goto out;
        }
        if (!p->refreshing)
            break;
        if (wait_done(p, deadline_ms) == ETIMEDOUT) {
            LOG_E("aws: gave up waiting for another thread's credential refresh (deadline)");
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    }
    p->refreshing = 1;
    p->resolutions++;
    pthread_mutex_unlock(&p->lock);

    rv = resolve(p, deadline_ms, &fresh);

    pthread_mutex_lock(&p->lock);
    p->refreshing = 0;
    pthread_cond_broadcast(&p->done);
    if (rv == CKR_OK && remaining_s(&fresh, time(NULL)) <= 0) {
        LOG_E("aws: credentials from %s expired before they arrived (is the clock right?)",
              fresh.source);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        p11kms_aws_creds_clear(&p->cached);
        p->cached = fresh;
        memset(&fresh, 0, sizeof(fresh));
        if (remaining_s(&p->cached, time(NULL)) <= P11KMS_AWS_CREDS_MANDATORY_S)
            LOG_W("aws: credentials from %s expire in under %d minutes; they are refreshed "
                  "on every call",
                  p->cached.source, P11KMS_AWS_CREDS_MANDATORY_S / 60);
        rv = p11kms_aws_creds_copy(&p->cached, out);
    } else if (remaining_s(&p->cached, time(NULL)) > 0) {
        /* the refresh failed (and said why) but the cached credentials have not expired:
         * a call AWS would still accept is better than a certain failure */
        LOG_W("aws: credential refresh failed; using the cached ones from %s until they expire",
              p->cached.source);
        rv = p11kms_aws_creds_copy(&p->cached, out);
    }
out:
    pthread_mutex_unlock(&p->lock);
    p11kms_aws_creds_clear(&fresh);
    return rv;
}

void p11kms_aws_provider_invalidate(p11kms_aws_provider *p)
{
    pthread_mutex_lock(&p->lock);
    p11kms_aws_creds_clear(&p->cached);
    pthread_mutex_unlock(&p->lock);
}

unsigned long p11kms_aws_provider_resolutions(p11kms_aws_provider *p)
{
    unsigned long n;

    pthread_mutex_lock(&p->lock);
    n = p->resolutions;
    pthread_mutex_unlock(&p->lock);
    return n;
}
