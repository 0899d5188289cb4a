/* fork.h - the module's one fork mechanism: a fork generation that every forked child bumps, and
 * the registry of lock handlers that pthread_atfork runs around fork() in one fixed order. */
#ifndef P11KMS_FORK_H
#define P11KMS_FORK_H

#include <stdatomic.h>

/*
 * Lock ranks, outermost first: code holding a lock of a lower rank may take one of a higher
 * rank, never the reverse. Before fork() every prepare handler runs in rank order (each takes
 * its file's locks), so no other thread holds one of them at the fork; afterwards the parent
 * and child handlers run in the reverse order (each releases its locks, or re-initialises
 * them in the child). The child thus inherits every module-wide lock free and the state behind
 * it consistent.
 *
 * One rule for code holding a lock that has a prepare handler: call nothing that may register
 * an atfork handler, such as a library's first initialisation (OpenSSL, libcurl). glibc holds
 * its list of atfork handlers locked while the prepare handlers run, so a thread registering
 * one under our lock and a thread forking would wait for each other for good. Hence init_lock,
 * held across all of C_Initialize, is not taken before fork() but re-initialised in the child
 * (which abandons what it guards anyway), and libraries are initialised before other locks.
 *
 * Locks of per-instance state (g.lock, session mutexes, backend instances, credential
 * providers) have no handler: a forked child never touches state it inherited. It is not
 * initialised (p11kms_fork_generation differs), abandons that state at its C_Initialize and
 * builds its own; the process-wide parts (credential providers, HTTP transports) remember
 * the generation they were made in and are replaced on first use in a child.
 */
enum p11kms_fork_rank {
    P11KMS_FORK_RANK_INIT = 10,    /* init.c: init_lock (re-initialised in the child) */
    P11KMS_FORK_RANK_BACKEND = 20, /* process-wide registries of backends (credential providers) */
    P11KMS_FORK_RANK_HTTP = 30,    /* net/http-curl.c: shared transport, transports, orphans */
    P11KMS_FORK_RANK_CIPHER = 40,  /* cipher.c: the fetched-cipher table */
    P11KMS_FORK_RANK_CACHE = 50,   /* unwrap-cache.c: the cached key values (wiped in the child) */
    P11KMS_FORK_RANK_LOG = 90,     /* log.c: the sink; every other lock holder may log */
};

typedef struct p11kms_fork_handler {
    int rank;              /* enum p11kms_fork_rank; equal ranks run in registration order */
    void (*prepare)(void); /* take the locks (NULL: none) */
    void (*parent)(void);  /* release them (NULL: none) */
    void (*child)(void);   /* release or re-initialise them; the only thread left (NULL: none) */
    struct p11kms_fork_handler *next, *prev; /* the registry's links (fork.c) */
} p11kms_fork_handler;

/* Add a handler (static storage, never removed). Called from a constructor of the file that
 * owns the locks, so the handler is in place before its locks can be taken. */
void p11kms_fork_register(p11kms_fork_handler *h);

extern atomic_uint p11kms_fork_gen_;

/* The fork generation: a value that is the same throughout one process and different in each
 * forked child. State that must not cross fork() records it and compares. One relaxed load:
 * the value changes only in a child, before any of its threads exist. 0 means forks cannot be
 * told apart (pthread_atfork failed: out of memory when the module was loaded); C_Initialize
 * then fails, and code that caches per process must not cache. */
static inline unsigned p11kms_fork_generation(void)
{
    return atomic_load_explicit(&p11kms_fork_gen_, memory_order_relaxed);
}

#endif
