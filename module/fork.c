/* fork.c - the one pthread_atfork registration of the module: the fork generation, and the
 * lock handlers of every file that owns a module-wide lock, run in rank order around fork(). */
/*
 * Locking: registry_lock protects the handler list. It is the outermost lock of all: prepare
 * takes it before any handler runs, so a registration cannot change the list under a fork, and
 * parent/child release it last. glibc drops the atfork handlers when the module is unloaded
 * (they are registered with the module's own __dso_handle).
 */
#include <pthread.h>
#include "fork.h"

atomic_uint p11kms_fork_gen_ = 1;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static p11kms_fork_handler *first, *last; /* rank order */

static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void on_prepare(void)
{
    p11kms_fork_handler *h;

    pthread_mutex_lock(&registry_lock);
    for (h = first; h != NULL; h = h->next)
        if (h->prepare != NULL)
            h->prepare();
}

static void on_parent(void)
{
    p11kms_fork_handler *h;

    for (h = last; h != NULL; h = h->prev)
        if (h->parent != NULL)
            h->parent();
    pthread_mutex_unlock(&registry_lock);
}

static void on_child(void)
{
    unsigned g = atomic_load_explicit(&p11kms_fork_gen_, memory_order_relaxed) + 1;
    p11kms_fork_handler *h;

    /* First, so the handlers (and everything after) see the child's generation. */
    atomic_store_explicit(&p11kms_fork_gen_, g != 0 ? g : 1, memory_order_relaxed);
    for (h = last; h != NULL; h = h->prev)
        if (h->child != NULL)
            h->child();
    pthread_mutex_unlock(&registry_lock);
}

static void install(void)
{
    if (pthread_atfork(on_prepare, on_parent, on_child) != 0)
        atomic_store_explicit(&p11kms_fork_gen_, 0, memory_order_relaxed);
}

/* At load, before any other code of the module runs in another thread. */
__attribute__((constructor)) static void install_at_load(void)
{
    pthread_once(&install_once, install);
}

void p11kms_fork_register(p11kms_fork_handler *h)
{
    p11kms_fork_handler *at;

    pthread_once(&install_once, install);
    pthread_mutex_lock(&registry_lock);
    /* After every handler of a lower or equal rank. */
    for (at = last; at != NULL && at->rank > h->rank; at = at->prev)
        ;
    h->prev = at;
    h->next = at != NULL ? at->next : first;
    if (h->next != NULL)
        h->next->prev = h;
    else
        last = h;
    if (at != NULL)
        at->next = h;
    else
        first = h;
    pthread_mutex_unlock(&registry_lock);
}
