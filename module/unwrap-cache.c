/* unwrap-cache.c - the opt-in unwrap cache (unwrap-cache.h): per configured key, an LRU list
 * of digest -> key value with an age and a use count; values wiped when they go. */
/*
 * Locking: cache_lock protects every key's list and counters. It is held only for list work
 * and copies, never across a KMS call; code under it may log (log.c ranks after it). Its fork
 * handler takes it before fork() and, in the child, wipes every value and releases it: a
 * child never serves what its parent unwrapped (it abandons the parent's keys anyway).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "fork.h"
#include "log.h"
#include "unwrap-cache.h"

typedef struct entry {
    uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST];
    p11kms_buf value; /* secret */
    long long born_ms;
    unsigned uses;
    struct entry *prev, *next; /* most recently used first */
} entry;

typedef struct key_cache {
    const p11kms_key_config *kc;
    entry *head, *tail;
    unsigned n;
    unsigned long hits, misses;
    struct key_cache *next;
} key_cache;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static key_cache *caches;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unlink_entry(key_cache *c, entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
    c->n--;
}

static void push_front(key_cache *c, entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head != NULL)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
    c->n++;
}

static void drop(key_cache *c, entry *e)
{
    unlink_entry(c, e);
    p11kms_buf_wipe(&e->value);
    OPENSSL_cleanse(e->digest, sizeof(e->digest));
    free(e);
}

static void drop_all(key_cache *c)
{
    while (c->head != NULL)
        drop(c, c->head);
}

/* kc's cache; NULL when it has none and create is 0 (or out of memory). cache_lock held. */
static key_cache *find_locked(const p11kms_key_config *kc, int create)
{
    key_cache *c;

    for (c = caches; c != NULL; c = c->next)
        if (c->kc == kc)
            return c;
    if (!create || (c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    c->kc = kc;
    c->next = caches;
    caches = c;
    return c;
}

static void forget_locked(const p11kms_key_config *kc)
{
    key_cache *c, *next;

    for (c = caches; c != NULL; c = c->next)
        if (kc == NULL || c->kc == kc)
            drop_all(c);
    if (kc != NULL)
        return;
    for (c = caches; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    caches = NULL;
}

static void cache_prepare(void)
{
    pthread_mutex_lock(&cache_lock);
}

static void cache_parent(void)
{
    pthread_mutex_unlock(&cache_lock);
}

/* The forking thread took cache_lock in prepare and is the child's only thread: it wipes and
 * releases. */
static void cache_child(void)
{
    forget_locked(NULL);
    pthread_mutex_unlock(&cache_lock);
}

static p11kms_fork_handler cache_fork = {.rank = P11KMS_FORK_RANK_CACHE,
                                         .prepare = cache_prepare,
                                         .parent = cache_parent,
                                         .child = cache_child};

__attribute__((constructor)) static void cache_fork_register(void)
{
    p11kms_fork_register(&cache_fork);
}

int p11kms_unwrap_cache_enabled(const p11kms_key_config *kc)
{
    return kc != NULL && kc->unwrap_cache.max_age_s > 0;
}

/* Strings go in with their NUL, so ("ab", "c") and ("a", "bc") differ. */
static int digest_of(const p11kms_key_config *kc, const uint8_t *env, size_t len,
                     const p11kms_context *bound, uint8_t *out)
{
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    uint8_t *ctx = NULL, n[8];
    size_t ctx_len = 0, i;
    unsigned md_len = 0;
    int ok = 0;

    for (i = 0; i < 8; i++)
        n[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    if (h != NULL && p11kms_context_encode(bound, &ctx, &ctx_len) == CKR_OK &&
        EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(h, "p11kms unwrap cache", 20) == 1 &&
        EVP_DigestUpdate(h, kc->backend, strlen(kc->backend) + 1) == 1 &&
        EVP_DigestUpdate(h, kc->key_id, strlen(kc->key_id) + 1) == 1 &&
        EVP_DigestUpdate(h, kc->label, strlen(kc->label) + 1) == 1 &&
        EVP_DigestUpdate(h, n, sizeof(n)) == 1 && EVP_DigestUpdate(h, env, len) == 1 &&
        EVP_DigestUpdate(h, ctx, ctx_len) == 1 && EVP_DigestFinal_ex(h, out, &md_len) == 1 &&
        md_len == P11KMS_UNWRAP_CACHE_DIGEST)
        ok = 1;
    free(ctx); /* the context is not secret */
    EVP_MD_CTX_free(h);
    return ok;
}

int p11kms_unwrap_cache_get(const p11kms_key_config *kc, const uint8_t *envelope, size_t len,
                            const p11kms_context *bound, uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST],
                            p11kms_buf *pt)
{
    const p11kms_unwrap_cache_config *uc = &kc->unwrap_cache;
    key_cache *c;
    entry *e;
    int hit = 0;
    long long now;

    if (!digest_of(kc, envelope, len, bound, digest))
        return -1;
    now = now_ms();
    pthread_mutex_lock(&cache_lock);
    c = find_locked(kc, 1);
    for (e = c != NULL ? c->head : NULL; e != NULL; e = e->next)
        if (CRYPTO_memcmp(e->digest, digest, P11KMS_UNWRAP_CACHE_DIGEST) == 0)
            break;
    if (e != NULL && now - e->born_ms >= (long long)uc->max_age_s * 1000) {
        drop(c, e);
        e = NULL;
    }
    if (e != NULL && p11kms_buf_set(pt, e->value.data, e->value.len) == 0) {
        hit = 1;
        e->uses++;
        unlink_entry(c, e);
        if (uc->max_uses != 0 && e->uses >= uc->max_uses) {
            p11kms_buf_wipe(&e->value);
            free(e);
        } else {
            push_front(c, e);
        }
    }
    if (c != NULL) {
        if (hit)
            c->hits++;
        else
            c->misses++;
        LOG_D("unwrap cache %s for key \"%s\": %lu hits, %lu misses, %u entries",
              hit ? "hit" : "miss", kc->label, c->hits, c->misses, c->n);
    }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void p11kms_unwrap_cache_put(const p11kms_key_config *kc,
                             const uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST], const uint8_t *pt,
                             size_t pt_len)
{
    entry *e = calloc(1, sizeof(*e)), *old;
    key_cache *c;

    if (e == NULL || p11kms_buf_set(&e->value, pt, pt_len) != 0) {
        free(e);
        return;
    }
    memcpy(e->digest, digest, P11KMS_UNWRAP_CACHE_DIGEST);
    e->born_ms = now_ms();
    pthread_mutex_lock(&cache_lock);
    c = find_locked(kc, 1);
    if (c == NULL) {
        pthread_mutex_unlock(&cache_lock);
        p11kms_buf_wipe(&e->value);
        free(e);
        return;
    }
    /* Two threads that missed at once: the later value replaces the earlier. */
    for (old = c->head; old != NULL; old = old->next)
        if (CRYPTO_memcmp(old->digest, digest, P11KMS_UNWRAP_CACHE_DIGEST) == 0) {
            drop(c, old);
            break;
        }
    while (c->n >= kc->unwrap_cache.max_entries && c->tail != NULL)
        drop(c, c->tail);
    push_front(c, e);
    pthread_mutex_unlock(&cache_lock);
}

void p11kms_unwrap_cache_forget(const p11kms_key_config *kc)
{
    pthread_mutex_lock(&cache_lock);
    forget_locked(kc);
    pthread_mutex_unlock(&cache_lock);
}
