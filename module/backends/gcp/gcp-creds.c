/* gcp-creds.c - Google token providers: shared per (credentials file, CA, timeouts), resolving
 * Application Default Credentials in Google's order on every refresh, behind the generic cache
 * (net/tokcache.h) that refreshes tokens before they expire, one refresh at a time. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fork.h"
#include "gcp-creds.h"
#include "log.h"

/*
 * Locking: registry_lock protects the registry list and every provider's refs; its fork
 * handler takes it before fork(). Each provider's cache locks itself (tokcache.h); the chain
 * (file reads, token endpoints) runs without any lock held, so threads holding a valid token
 * never wait behind a slow token endpoint. A forked child never uses a provider of its parent
 * (the cache's lock may be held for good): providers are matched by the fork generation their
 * cache was made in, and the child makes its own.
 */

struct p11kms_gcp_provider {
    /* identity (immutable after creation) */
    char *credentials_file; /* explicit, or NULL: ADC */
    char *ca_file;
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    int max_attempts;
    p11kms_http_transport *http;
    /* registry */
    unsigned long refs;
    struct p11kms_gcp_provider *next;
    /* tokens, fetched by resolve() */
    p11kms_tokcache cache;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11kms_gcp_provider *registry;

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

/* ADC in Google's order: the key's credentials file, GOOGLE_APPLICATION_CREDENTIALS, the
 * gcloud well-known file, the metadata server. Files are read again at every refresh, so a
 * rotated key file or a new `gcloud auth application-default login` is picked up. */
static CK_RV resolve(void *ctx, const p11kms_cred *current, uint64_t deadline_ms, p11kms_cred *out)
{
    struct p11kms_gcp_provider *p = ctx;
    p11kms_gcp_credfile f;
    p11kms_gcp_fetch x;
    char *path = NULL, *wk = NULL, *md = NULL;
    int source = 0, applies = 0;
    CK_RV rv;

    (void)current; /* access tokens cannot be renewed: a new one is fetched */
    memset(&f, 0, sizeof(f));
    x.http = p->http;
    x.ca_file = p->ca_file;
    x.connect_timeout_ms = p->connect_timeout_ms;
    x.request_timeout_ms = p->request_timeout_ms;
    x.max_attempts = p->max_attempts;
    x.deadline_ms = deadline_ms;

    rv = p11kms_gcp_adc_file(p->credentials_file, &path, &source);
    if (rv != CKR_OK)
        return rv;
    if (path != NULL) {
        rv = p11kms_gcp_credfile_read(path, &f);
        if (rv == CKR_OK) {
            LOG_D("gcp: %s credentials from %s (%s)", p11kms_gcp_cred_type_name(f.type), path,
                  p11kms_gcp_adc_source_name(source));
            rv = p11kms_gcp_token_from_file(&f, &x, out);
        }
        goto out;
    }
    if (!p11kms_gcp_metadata_disabled()) {
        rv = p11kms_gcp_token_from_metadata(&x, out, &applies);
        /* no metadata server at all: say below where else ADC looked */
        if (applies)
            goto out;
    }
    wk = p11kms_gcp_well_known_path();
    md = p11kms_gcp_metadata_base();
    LOG_E("gcp: no credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud "
          "file at %s, and %s%s",
          wk != NULL ? wk : "(no HOME)",
          p11kms_gcp_metadata_disabled() ? "the metadata server is off (METADATA_SERVER_DETECTION)"
                                         : "no GCE metadata server answered at ",
          p11kms_gcp_metadata_disabled() || md == NULL ? "" : md);
    rv = CKR_DEVICE_ERROR;
out:
    p11kms_gcp_credfile_clear(&f);
    free(path);
    free(wk);
    free(md);
    return rv;
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

static void provider_free(struct p11kms_gcp_provider *p)
{
    p11kms_tokcache_destroy(&p->cache);
    free(p->credentials_file);
    free(p->ca_file);
    free(p);
}

CK_RV p11kms_gcp_provider_get(const char *credentials_file, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_gcp_provider **out)
{
    struct p11kms_gcp_provider *p;
    int failed = 0;

    *out = NULL;
    pthread_mutex_lock(&registry_lock);
    for (p = registry; p != NULL; p = p->next) {
        if (p11kms_tokcache_current(&p->cache) && same_str(p->credentials_file, credentials_file) &&
            same_str(p->ca_file, ca_file) && p->connect_timeout_ms == connect_timeout_ms &&
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
    p->credentials_file = dup_or_null(credentials_file, &failed);
    p->ca_file = dup_or_null(ca_file, &failed);
    p->connect_timeout_ms = connect_timeout_ms;
    p->request_timeout_ms = request_timeout_ms;
    p->max_attempts = max_attempts;
    p->http = http;
    p->refs = 1;
    p11kms_tokcache_init(&p->cache, "gcp", "access token", P11KMS_GCP_TOKEN_ADVISORY_S,
                         P11KMS_GCP_TOKEN_MANDATORY_S, resolve, p);
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

void p11kms_gcp_provider_put(p11kms_gcp_provider *p)
{
    struct p11kms_gcp_provider **pp;

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

CK_RV p11kms_gcp_provider_token(p11kms_gcp_provider *p, uint64_t deadline_ms, p11kms_cred *out)
{
    return p11kms_tokcache_get(&p->cache, deadline_ms, out);
}

void p11kms_gcp_provider_invalidate(p11kms_gcp_provider *p)
{
    p11kms_tokcache_invalidate(&p->cache);
}

unsigned long p11kms_gcp_provider_fetches(p11kms_gcp_provider *p)
{
    return p11kms_tokcache_fetches(&p->cache);
}
