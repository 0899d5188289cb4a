/* tokshare.c - the process-wide registry of shared token caches (tokshare.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "fork.h"
#include "secmem.h"
#include "tokshare.h"

/*
 * Locking: registry_lock protects the list and every entry's refs and next; its fork handler
 * takes it before fork(). Each entry's cache locks itself (tokcache.h), and fetches run with no
 * lock held, so threads holding valid credentials never wait behind a slow endpoint.
 */

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static p11kms_tokshare *registry;

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

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_key(const p11kms_tokshare_key *a, const p11kms_tokshare_key *b)
{
    size_t i;

    for (i = 0; i < P11KMS_TOKSHARE_STRINGS; i++)
        if (!same_str(a->str[i], b->str[i]))
            return 0;
    return a->connect_timeout_ms == b->connect_timeout_ms &&
           a->request_timeout_ms == b->request_timeout_ms && a->max_attempts == b->max_attempts &&
           a->http == b->http;
}

static void entry_free(p11kms_tokshare *s)
{
    size_t i;
    char *str;

    p11kms_tokcache_destroy(&s->cache);
    if (s->state != NULL && s->cls->state_free != NULL)
        s->cls->state_free(s->state);
    for (i = 0; i < P11KMS_TOKSHARE_STRINGS; i++) {
        str = (char *)s->key.str[i];
        if (s->cls->secret_key)
            p11kms_secure_free_str(str);
        else
            free(str);
    }
    free(s);
}

CK_RV p11kms_tokshare_get(const p11kms_tokshare_class *cls, const p11kms_tokshare_key *key,
                          const void *arg, p11kms_tokshare **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_tokshare *s;
    size_t i;

    *out = NULL;
    pthread_mutex_lock(&registry_lock);
    for (s = registry; s != NULL; s = s->next)
        if (s->cls == cls && p11kms_tokcache_current(&s->cache) && same_key(&s->key, key)) {
            s->refs++;
            *out = s;
            rv = CKR_OK;
            goto out;
        }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto out;
    s->cls = cls;
    s->key = *key;
    for (i = 0; i < P11KMS_TOKSHARE_STRINGS; i++)
        s->key.str[i] = NULL;
    p11kms_tokcache_init(&s->cache, cls->name, cls->what, cls->advisory_s, cls->mandatory_s,
                         cls->fetch, s);
    for (i = 0; i < P11KMS_TOKSHARE_STRINGS; i++)
        if (key->str[i] != NULL && (s->key.str[i] = strdup(key->str[i])) == NULL) {
            entry_free(s);
            goto out;
        }
    if (cls->state_new != NULL && (s->state = cls->state_new(arg)) == NULL) {
        entry_free(s);
        goto out;
    }
    s->refs = 1;
    s->next = registry;
    registry = s;
    *out = s;
    rv = CKR_OK;
out:
    pthread_mutex_unlock(&registry_lock);
    return rv;
}

void p11kms_tokshare_put(p11kms_tokshare *s)
{
    p11kms_tokshare **pp;

    if (s == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--s->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    entry_free(s);
}
