/* init.c - C_Initialize/C_Finalize: locking choice, logging, configuration, tokens; and fork
 * detection by a fork generation. init_lock serialises initialisation; everything else is under g.lock. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cipher.h"
#include "init.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "slot.h"

#define RESERVED_MAX 4096

p11kms_module p11kms_g;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Bumped in every forked child. Comparing it costs nothing, unlike getpid() on each call;
 * glibc drops the handler when the module is unloaded. */
static volatile unsigned fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
    fork_generation++;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

/* State inherited from the parent across fork(). Its locks may be held by threads that do not
 * exist in the child and its connections belong to the parent, so it is never touched again:
 * kept reachable here instead of freed. */
static p11kms_module *volatile abandoned[4]; /* volatile: the stores must not be optimised out */
static size_t n_abandoned;

CK_ULONG p11kms_new_handle_locked(void)
{
    return ++p11kms_g.next_handle;
}

CK_RV p11kms_check_initialized(void)
{
    if (!p11kms_g.initialized || p11kms_g.generation != fork_generation)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    return CKR_OK;
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

/* pReserved may carry the configuration path ("/path" or "config=/path"). */
static CK_RV reserved_path(const CK_C_INITIALIZE_ARGS *args, const char **path)
{
    const char *r;

    *path = NULL;
    if (args == NULL || args->pReserved == NULL)
        return CKR_OK;
    r = args->pReserved;
    if (strnlen(r, RESERVED_MAX) == RESERVED_MAX) {
        LOG_E("C_Initialize: pReserved is not a NUL-terminated path of under %d bytes",
              RESERVED_MAX);
        return CKR_ARGUMENTS_BAD;
    }
    if (strncmp(r, "config=", 7) == 0)
        r += 7;
    *path = *r ? r : NULL;
    return CKR_OK;
}

CK_RV p11kms_initialize(CK_VOID_PTR init_args)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    const CK_C_INITIALIZE_ARGS *args = init_args;
    const char *path = NULL;
    int env_log;

    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&init_lock);
    if (p11kms_g.initialized && p11kms_g.generation == fork_generation) {
        rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
        goto out;
    }
    if (p11kms_g.initialized) {
        /* A forked child calling C_Initialize again, as the specification asks. */
        p11kms_module *old = malloc(sizeof(*old));
        if (old != NULL && n_abandoned < sizeof(abandoned) / sizeof(abandoned[0])) {
            *old = p11kms_g;
            abandoned[n_abandoned++] = old;
        } else {
            free(old);
        }
    }
    memset(&p11kms_g, 0, sizeof(p11kms_g));
    env_log = log_from_env();
    rv = p11kms_lock_setup(args);
    if (rv != CKR_OK)
        goto out;
    rv = reserved_path(args, &path);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_config_load(path, P11KMS_DEFAULT_CONFIG, &p11kms_g.config);
    if (rv != CKR_OK)
        goto out;
    if (!env_log && (p11kms_g.config->log_level >= 0 || p11kms_g.config->log_destination))
        p11kms_log_configure(p11kms_g.config->log_level, p11kms_g.config->log_destination);
    rv = p11kms_mutex_new(&p11kms_g.lock);
    if (rv != CKR_OK)
        goto out;
    p11kms_lock();
    rv = p11kms_tokens_create();
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    p11kms_g.generation = fork_generation;
    p11kms_g.initialized = 1;
    LOG_I("initialised with %zu token(s) from %s", p11kms_g.n_tokens,
          p11kms_g.config->path ? p11kms_g.config->path : "the environment");
out:
    if (rv != CKR_OK && !p11kms_g.initialized) {
        if (p11kms_g.lock != NULL) {
            p11kms_lock();
            p11kms_tokens_destroy();
            p11kms_unlock();
        }
        p11kms_mutex_free(p11kms_g.lock);
        p11kms_config_free(p11kms_g.config);
        memset(&p11kms_g, 0, sizeof(p11kms_g));
        if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
            LOG_E("C_Initialize failed: %s", p11kms_rv_name(rv));
    }
    pthread_mutex_unlock(&init_lock);
    return rv;
}

CK_RV p11kms_finalize(CK_VOID_PTR reserved)
{
    CK_RV rv = CKR_GENERAL_ERROR;

    if (reserved != NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&init_lock);
    rv = p11kms_check_initialized();
    if (rv != CKR_OK)
        goto out;
    p11kms_sessions_destroy_all();
    p11kms_lock();
    p11kms_tokens_destroy();
    p11kms_g.initialized = 0;
    p11kms_unlock();
    p11kms_mutex_free(p11kms_g.lock);
    p11kms_config_free(p11kms_g.config);
    memset(&p11kms_g, 0, sizeof(p11kms_g));
    p11kms_cipher_global_free();
    p11kms_log_reset();
    rv = CKR_OK;
out:
    pthread_mutex_unlock(&init_lock);
    return rv;
}
