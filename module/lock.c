/* lock.c - the mutex implementation chosen at C_Initialize. Application callbacks are used only
 * when the application supplied them without CKF_OS_LOCKING_OK, as the specification allows. */
#include <pthread.h>
#include <stdlib.h>
#include "lock.h"
#include "log.h"

/* Set once in C_Initialize before any mutex exists; read-only afterwards. */
static CK_CREATEMUTEX app_create;
static CK_DESTROYMUTEX app_destroy;
static CK_LOCKMUTEX app_lock;
static CK_UNLOCKMUTEX app_unlock;

CK_RV p11kms_lock_setup(const CK_C_INITIALIZE_ARGS *args)
{
    int n_set;

    app_create = NULL;
    app_destroy = NULL;
    app_lock = NULL;
    app_unlock = NULL;
    if (args == NULL)
        return CKR_OK;
    n_set = !!args->CreateMutex + !!args->DestroyMutex + !!args->LockMutex + !!args->UnlockMutex;
    if (n_set != 0 && n_set != 4) {
        LOG_E("C_Initialize: mutex callbacks must be all set or all NULL (%d of 4 given)", n_set);
        return CKR_ARGUMENTS_BAD;
    }
    if (n_set == 4 && !(args->flags & CKF_OS_LOCKING_OK)) {
        app_create = args->CreateMutex;
        app_destroy = args->DestroyMutex;
        app_lock = args->LockMutex;
        app_unlock = args->UnlockMutex;
    }
    return CKR_OK;
}

CK_RV p11kms_mutex_new(void **m)
{
    pthread_mutex_t *pm;

    if (app_create != NULL)
        return app_create(m) == CKR_OK ? CKR_OK : CKR_CANT_LOCK;
    pm = malloc(sizeof(*pm));
    if (pm == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(pm, NULL);
    *m = pm;
    return CKR_OK;
}

void p11kms_mutex_free(void *m)
{
    if (m == NULL)
        return;
    if (app_destroy != NULL) {
        app_destroy(m);
        return;
    }
    pthread_mutex_destroy(m);
    free(m);
}

void p11kms_mutex_lock(void *m)
{
    if (app_lock != NULL)
        app_lock(m);
    else
        pthread_mutex_lock(m);
}

void p11kms_mutex_unlock(void *m)
{
    if (app_unlock != NULL)
        app_unlock(m);
    else
        pthread_mutex_unlock(m);
}
