/* tokcache.c - credentials that expire, and the cache that refreshes them ahead of time with
 * one refresh in flight (locking: see tokcache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fork.h"
#include "log.h"
#include "secmem.h"
#include "tokcache.h"

void p11kms_cred_clear(p11kms_cred *c)
{
    if (c == NULL)
        return;
    free(c->id);
    p11kms_secure_free_str(c->secret);
    p11kms_secure_free_str(c->token);
    memset(c, 0, sizeof(*c));
}

/* NULL and "" are absent; otherwise no control characters (the values go into headers). */
static int clean_value(const char *s)
{
    if (s == NULL)
        return 1;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static char *dup_value(const char *s, int *failed)
{
    char *d;

    if (s == NULL || *s == 0)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

CK_RV p11kms_cred_set(p11kms_cred *c, const char *id, const char *secret, const char *token,
                      time_t expires, const char *source)
{
    int failed = 0;

    memset(c, 0, sizeof(*c));
    if (!clean_value(id) || !clean_value(secret) || !clean_value(token) ||
        ((secret == NULL || *secret == 0) && (token == NULL || *token == 0)))
        return CKR_GENERAL_ERROR;
    c->id = dup_value(id, &failed);
    c->secret = dup_value(secret, &failed);
    c->token = dup_value(token, &failed);
    c->expires = expires;
    c->source = source;
    if (failed) {
        p11kms_cred_clear(c);
        return CKR_HOST_MEMORY;
    }
    return CKR_OK;
}

CK_RV p11kms_cred_copy(const p11kms_cred *src, p11kms_cred *dst)
{
    CK_RV rv = p11kms_cred_set(dst, src->id, src->secret, src->token, src->expires, src->source);

    if (rv == CKR_OK) {
        dst->renewable = src->renewable;
        dst->refresh_at = src->refresh_at;
    }
    return rv == CKR_GENERAL_ERROR ? CKR_DEVICE_ERROR : rv;
}

static int present(const p11kms_cred *c)
{
    return c->secret != NULL || c->token != NULL;
}

void p11kms_tokcache_init(p11kms_tokcache *c, const char *name, const char *what, long advisory_s,
                          long mandatory_s, p11kms_tokcache_fetch fetch, void *ctx)
{
    pthread_condattr_t ca;

    memset(c, 0, sizeof(*c));
    c->name = name;
    c->what = what;
    c->advisory_s = advisory_s;
    c->mandatory_s = mandatory_s;
    c->fetch = fetch;
    c->ctx = ctx;
    c->generation = p11kms_fork_generation();
    pthread_mutex_init(&c->lock, NULL);
    /* waits are bounded by the caller's deadline, which is on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->done, &ca);
    pthread_condattr_destroy(&ca);
}

void p11kms_tokcache_destroy(p11kms_tokcache *c)
{
    p11kms_cred_clear(&c->cached);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
}

/* Seconds the credentials stay good; -1 when there are none, a large number when they never
 * expire. */
static long long remaining_s(const p11kms_cred *cr, time_t now)
{
    if (!present(cr))
        return -1;
    if (cr->expires == 0)
        return (long long)1 << 40;
    return (long long)(cr->expires - now);
}

static int wait_done(p11kms_tokcache *c, uint64_t deadline_ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return pthread_cond_timedwait(&c->done, &c->lock, &ts);
}

CK_RV p11kms_tokcache_get(p11kms_tokcache *c, uint64_t deadline_ms, p11kms_cred *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_cred fresh, current;
    long long left;
    time_t now;
    int have_current, due;

    memset(out, 0, sizeof(*out));
    memset(&fresh, 0, sizeof(fresh));
    memset(&current, 0, sizeof(current));
    pthread_mutex_lock(&c->lock);
    for (;;) {
        now = time(NULL);
        left = remaining_s(&c->cached, now);
        due = c->cached.refresh_at != 0 && now >= c->cached.refresh_at;
        if ((left > c->advisory_s && !due) || (c->refreshing && left > c->mandatory_s)) {
            rv = p11kms_cred_copy(&c->cached, out);
            goto out;
        }
        if (!c->refreshing)
            break;
        if (wait_done(c, deadline_ms) == ETIMEDOUT) {
            LOG_E("%s: gave up waiting for another thread's refresh of the %s (deadline)", c->name,
                  c->what);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
    }
    c->refreshing = 1;
    c->fetches++;
    /* what is cached goes to the hook (a lease can be renewed); without memory, it fetches */
    have_current = present(&c->cached) && p11kms_cred_copy(&c->cached, &current) == CKR_OK;
    pthread_mutex_unlock(&c->lock);

    rv = c->fetch(c->ctx, have_current ? &current : NULL, deadline_ms, &fresh);
    p11kms_cred_clear(&current);

    pthread_mutex_lock(&c->lock);
    c->refreshing = 0;
    pthread_cond_broadcast(&c->done);
    if (rv == CKR_OK && remaining_s(&fresh, time(NULL)) <= 0) {
        LOG_E("%s: %s from %s had expired when they arrived (is the clock right?)", c->name,
              c->what, fresh.source);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        p11kms_cred_clear(&c->cached);
        c->cached = fresh;
        memset(&fresh, 0, sizeof(fresh));
        if (remaining_s(&c->cached, time(NULL)) <= c->mandatory_s)
            LOG_W("%s: %s from %s expire in under %ld minutes; they are refreshed on every call",
                  c->name, c->what, c->cached.source, c->mandatory_s / 60);
        rv = p11kms_cred_copy(&c->cached, out);
    } else if (remaining_s(&c->cached, time(NULL)) > 0) {
        /* the refresh failed (and said why) but the cached ones have not expired: a call the
         * service would still accept is better than a certain failure */
        LOG_W("%s: refreshing the %s failed; using the cached ones from %s until they expire",
              c->name, c->what, c->cached.source);
        rv = p11kms_cred_copy(&c->cached, out);
    }
out:
    pthread_mutex_unlock(&c->lock);
    p11kms_cred_clear(&fresh);
    return rv;
}

void p11kms_tokcache_invalidate(p11kms_tokcache *c)
{
    pthread_mutex_lock(&c->lock);
    p11kms_cred_clear(&c->cached);
    pthread_mutex_unlock(&c->lock);
}

int p11kms_tokcache_current(const p11kms_tokcache *c)
{
    return c->generation == p11kms_fork_generation();
}

unsigned long p11kms_tokcache_fetches(p11kms_tokcache *c)
{
    unsigned long n;

    pthread_mutex_lock(&c->lock);
    n = c->fetches;
    pthread_mutex_unlock(&c->lock);
    return n;
}
