/* tokcache.h - credentials and tokens of remote services (AWS keys, OAuth access tokens, Vault
 * tokens) and the thread-safe cache that refreshes them before they expire, one refresh at a
 * time, within the caller's deadline. */
#ifndef P11KMS_NET_TOKCACHE_H
#define P11KMS_NET_TOKCACHE_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "pkcs11/p11kms.h"

/* One set of credentials. Which fields a service uses is its business: AWS keys fill id,
 * secret and (temporary keys) token; a bearer token (OAuth, Vault) fills token only. */
typedef struct p11kms_cred {
    char *id;       /* public identifier (an AWS access key id), or NULL */
    char *secret;   /* secret: a signing key (an AWS secret access key), or NULL */
    char *token;    /* secret: a session, access or client token, or NULL */
    time_t expires; /* wall clock; 0: does not expire */
    int renewable;  /* the issuer can extend it (a Vault token lease): see the fetch hook */
    /* Wall clock from which a refresh is due although the margins are not reached (a lease
     * renewed at two thirds of its life); they stay usable meanwhile, as past the advisory
     * margin. 0: by the margins only. */
    time_t refresh_at;
    const char *source; /* static text for log lines: "environment", "IMDS", ... */
} p11kms_cred;

/* Wipe and free the fields, and reset. */
void p11kms_cred_clear(p11kms_cred *c);
/* Fill from strings (copied); NULL or empty leaves a field NULL. CKR_HOST_MEMORY, or
 * CKR_GENERAL_ERROR when a value holds a control character (it would end up in a header) or
 * when neither secret nor token is given. renewable starts at 0. */
CK_RV p11kms_cred_set(p11kms_cred *c, const char *id, const char *secret, const char *token,
                      time_t expires, const char *source);
/* A copy dst owns; CKR_DEVICE_ERROR when src is not usable credentials. */
CK_RV p11kms_cred_copy(const p11kms_cred *src, p11kms_cred *dst);

/* Fresh credentials for the cache, from wherever the service gets them (files, a metadata
 * server, a login or token endpoint), within deadline_ms (p11kms_net_now_ms() clock). current
 * is what the cache holds now (expiring, or NULL when it holds nothing), so a hook can renew a
 * lease instead of logging in again. Runs without the cache's lock; logs its own failures
 * once. CKR_OK with out filled, or a CK_RV (CKR_DEVICE_ERROR when there are none to be had). */
typedef CK_RV (*p11kms_tokcache_fetch)(void *ctx, const p11kms_cred *current, uint64_t deadline_ms,
                                       p11kms_cred *out);

/*
 * The cache. Refresh margins (seconds before expiry): past the advisory one a refresh is
 * attempted but the cached credentials stay usable if it fails; past the mandatory one they
 * are not handed out without a refresh. One refresh runs at a time; other threads keep using
 * credentials valid past the mandatory margin, or wait for it (bounded by their deadline).
 * Locking: lock protects cached, refreshing and fetches; done is signalled when a refresh
 * ends. The fetch hook runs with no lock held. The lock has no fork handler: a forked child
 * never uses a cache of its parent (the lock may be held for good), so whoever keeps caches
 * across calls finds them by p11kms_tokcache_current() and makes its own in a child.
 */
typedef struct p11kms_tokcache {
    const char *name; /* log line prefix: "aws" */
    const char *what; /* what it holds, for log lines: "credentials", "token" */
    long advisory_s;
    long mandatory_s;
    p11kms_tokcache_fetch fetch;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t done;
    int refreshing;
    p11kms_cred cached; /* nothing cached: every field NULL */
    unsigned long fetches;
    unsigned generation; /* p11kms_fork_generation() at init (immutable) */
} p11kms_tokcache;

void p11kms_tokcache_init(p11kms_tokcache *c, const char *name, const char *what, long advisory_s,
                          long mandatory_s, p11kms_tokcache_fetch fetch, void *ctx);
void p11kms_tokcache_destroy(p11kms_tokcache *c);
/* Current credentials (a copy the caller clears), fetched or refreshed first if needed.
 * CKR_DEVICE_ERROR (logged) when none can be had within deadline_ms. */
CK_RV p11kms_tokcache_get(p11kms_tokcache *c, uint64_t deadline_ms, p11kms_cred *out);
/* Drop what is cached (the service rejected it): the next get fetches. */
void p11kms_tokcache_invalidate(p11kms_tokcache *c);
/* Whether the cache was made in this process (not inherited across fork()). */
int p11kms_tokcache_current(const p11kms_tokcache *c);
/* How many times the fetch hook ran (tests). */
unsigned long p11kms_tokcache_fetches(p11kms_tokcache *c);

#endif
