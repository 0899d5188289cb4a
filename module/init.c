/* init.c - C_Initialize/C_Finalize: locking choice, logging, configuration, tokens; closing the
 * call gate (state.h) so C_Finalize never frees state under running calls; fork. */
/*
 * Locking: init_lock serialises C_Initialize and C_Finalize and protects p11kms_g's creation and
 * teardown (and the abandoned list); a forked child re-initialises it and abandons whatever
 * state it finds. Everything inside p11kms_g is under g.lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cipher.h"
#include "config-load.h"
#include "audit.h"
#include "fork.h"
#include "init.h"
#include "killswitch.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "slot.h"
#include "state.h"
#include "unwrap-cache.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* State inherited from the parent across fork(). Its locks may be held by threads that do not
 * exist in the child and its connections belong to the parent, so it is never touched again:
 * kept reachable here instead of freed. */
static p11kms_module *volatile abandoned[4]; /* volatile: the stores must not be optimised out */
static size_t n_abandoned;

/* In the child (the only thread left): init_lock may have been held by a parent thread in
 * C_Initialize or C_Finalize, whose half-done state the child abandons at its own C_Initialize;
 * and the calls counted in were the parent's threads. Not taken before fork(): C_Initialize
 * initialises libraries under it (fork.h). */
static void init_fork_child(void)
{
    pthread_mutex_init(&init_lock, NULL);
    p11kms_call_reset_child();
}

static p11kms_fork_handler init_fork = {.rank = P11KMS_FORK_RANK_INIT, .child = init_fork_child};

__attribute__((constructor)) static void init_fork_register(void)
{
    p11kms_fork_register(&init_fork);
}

/* P11KMS_LOG="level" or "level,destination" (destination: stderr, syslog, file:/path). */
static int log_from_env(void)
{
    const char *env = getenv("P11KMS_LOG");
    char level[16];
    const char *comma;
    size_t n;
    int lvl;

    if (env == NULL || *env == '\0')
        return 0;
    comma = strchr(env, ',');
    n = comma ? (size_t)(comma - env) : strlen(env);
    if (n >= sizeof(level))
        n = sizeof(level) - 1;
    memcpy(level, env, n);
    level[n] = '\0';
    lvl = p11kms_log_level_parse(level);
    if (lvl < 0)
        lvl = P11KMS_LOG_WARNING;
    p11kms_log_configure(lvl, comma ? comma + 1 : NULL);
    return 1;
}

CK_RV p11kms_initialize(CK_VOID_PTR init_args)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    const CK_C_INITIALIZE_ARGS *args = init_args;
    unsigned live, generation;
    int env_log, built = 0;

    pthread_mutex_lock(&init_lock);
    generation = p11kms_fork_generation();
    live = atomic_load_explicit(&p11kms_live, memory_order_relaxed);
    if (live != 0 && live == generation) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
        goto out;
    }
    if (live != 0) {
        /* A forked child calling C_Initialize again, as the specification asks. */
        p11kms_module *old = malloc(sizeof(*old));
        if (old != NULL && n_abandoned < sizeof(abandoned) / sizeof(abandoned[0])) {
            *old = p11kms_g;
            abandoned[n_abandoned++] = old;
        } else {
            free(old);
        }
        atomic_store_explicit(&p11kms_live, 0, memory_order_relaxed);
    }
    memset(&p11kms_g, 0, sizeof(p11kms_g));
    built = 1;
    env_log = log_from_env();
    if (generation == 0) {
        LOG_E("C_Initialize: the module could not install its fork handlers (out of memory)");
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    /* The specification reserves pReserved: a pointer cannot be validated, so none is read. */
    if (args != NULL && args->pReserved != NULL) {
        LOG_E("C_Initialize: pReserved must be NULL (choose the configuration with "
              "P11KMS_CONFIG)");
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = p11kms_lock_setup(args);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_config_load(NULL, P11KMS_DEFAULT_CONFIG, &p11kms_g.config);
    if (rv != CKR_OK)
        goto out;
    if (!env_log && (p11kms_g.config->log_level >= 0 || p11kms_g.config->log_destination))
        p11kms_log_configure(p11kms_g.config->log_level, p11kms_g.config->log_destination);
    rv = p11kms_audit_open(p11kms_g.config);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_mutex_new(&p11kms_g.lock);
    if (rv != CKR_OK)
        goto out;
    p11kms_lock();
    rv = p11kms_tokens_create();
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_killswitch_setup(p11kms_g.config);
    if (rv != CKR_OK)
        goto out;
    LOG_I("initialised with %zu token(s) from %s", p11kms_g.n_tokens,
          p11kms_g.config->path ? p11kms_g.config->path : "the environment");
    /* Last, and sequentially consistent: a call that sees it sees the state built above. */
    atomic_store_explicit(&p11kms_live, generation, memory_order_seq_cst);
out:
    if (rv != CKR_OK && built) {
        if (p11kms_g.lock != NULL) {
            p11kms_lock();
            p11kms_tokens_destroy();
            p11kms_unlock();
        }
        p11kms_mutex_free(p11kms_g.lock);
        p11kms_audit_close();
        p11kms_config_free(p11kms_g.config);
        memset(&p11kms_g, 0, sizeof(p11kms_g));
        LOG_E("C_Initialize failed: %s", p11kms_rv_name(rv));
    }
    pthread_mutex_unlock(&init_lock);
    return rv;
}

CK_RV p11kms_finalize(CK_VOID_PTR reserved)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    unsigned live;

    if (reserved != NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&init_lock);
    live = atomic_load_explicit(&p11kms_live, memory_order_relaxed);
    if (live == 0 || live != p11kms_fork_generation()) {
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        goto out;
    }
    /* First close the gate, then wait for the calls already through it (state.h). */
    atomic_store_explicit(&p11kms_live, 0, memory_order_seq_cst);
    p11kms_call_wait_all();
    /* Cached key values and the kill switch's view go with the configuration they name. */
    p11kms_unwrap_cache_forget(NULL);
    p11kms_killswitch_teardown();
    p11kms_sessions_destroy_all();
    p11kms_lock();
    p11kms_tokens_destroy();
    p11kms_unlock();
    p11kms_mutex_free(p11kms_g.lock);
    p11kms_audit_close();
    p11kms_config_free(p11kms_g.config);
    memset(&p11kms_g, 0, sizeof(p11kms_g));
    p11kms_cipher_global_free();
    p11kms_log_reset();
    rv = CKR_OK;
out:
    pthread_mutex_unlock(&init_lock);
    return rv;
}
