/* state.h - the module's global state: what C_Initialize builds (tokens, the session and object
 * maps), the handle counter, and the call gate every entry point passes. Lifecycle: init.c. */
#ifndef P11KMS_STATE_H
#define P11KMS_STATE_H

#include <stdatomic.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "config.h"
#include "fork.h"
#include "lock.h"
#include "util.h"

struct p11kms_object;
struct p11kms_store;

/* One configured token (one slot). Identity is fixed after C_Initialize; login state and the
 * counts are under g.lock. */
typedef struct p11kms_token {
    CK_SLOT_ID slot_id;
    const p11kms_token_config *cfg;
    char serial[17];
    int has_pin;
    uint8_t pin_hash[32];               /* SHA-256 of the configured PIN */
    int logged_in;                      /* CKU_USER logged in (all sessions of the token) */
    unsigned pin_failures;              /* g.lock: wrong PINs since the last right one */
    CK_ULONG n_sessions, n_rw_sessions; /* g.lock */
    /* The token's KMS key objects in configuration order (the map holds them until
     * C_Finalize), and its object store (store.h): both fixed after C_Initialize. */
    struct p11kms_object **keys;
    size_t n_keys;
    struct p11kms_store *store;
} p11kms_token;

/* Built by C_Initialize, torn down by C_Finalize. g.lock protects the session and object maps,
 * handle counters and login states; the rest is fixed while the module is initialised. */
typedef struct p11kms_module {
    void *lock;
    p11kms_config *config;
    p11kms_token *tokens;
    size_t n_tokens;
    p11kms_map sessions; /* handle -> p11kms_session */
    p11kms_map objects;  /* handle -> p11kms_object (token and session objects) */
} p11kms_module;

extern p11kms_module p11kms_g;

/* A fresh handle (never 0, never reused in the process, not even after C_Finalize and
 * C_Initialize: a handle kept from before names nothing afterwards); g.lock held. */
CK_ULONG p11kms_new_handle_locked(void);

/* The token of a slot, NULL when there is none. */
p11kms_token *p11kms_token_get(CK_SLOT_ID id);

/*
 * The call gate. C_Finalize must not free p11kms_g under a call that is still running, and a
 * call that starts once C_Finalize has begun must answer CKR_CRYPTOKI_NOT_INITIALIZED instead
 * of touching freed state. Every entry point (entry.h) therefore
 *   1. counts itself in (one atomic add on the counter of its thread's shard; shards are
 *      handed to threads in turn, so threads calling at once rarely share a cache line),
 *   2. then checks p11kms_live, the fork generation that initialised the module (0: none),
 *   3. counts itself out when done.
 * C_Finalize clears p11kms_live first and then waits for every shard to reach zero. Both sides
 * are sequentially consistent (store then load on each side), so either the call sees the
 * cleared p11kms_live and goes no further, or C_Finalize sees the call counted and waits for it.
 * The release of the count out pairs with C_Finalize's acquire: all the call did happens
 * before the state is freed. A forked child has another generation, so it is not initialised
 * until it calls C_Initialize (the calls counted in the parent are dropped in the child).
 */
#define P11KMS_CALL_SHARDS 16
#define P11KMS_CALL_NONE P11KMS_CALL_SHARDS /* not counted in */

typedef struct p11kms_call_shard {
    _Alignas(64) atomic_ulong n;
} p11kms_call_shard;

extern p11kms_call_shard p11kms_calls[P11KMS_CALL_SHARDS];
extern atomic_uint p11kms_live;
extern __thread unsigned p11kms_thread_shard; /* 1 + the calling thread's shard; 0: none yet */
unsigned p11kms_call_shard_assign(void);      /* round robin, so threads rarely share one */

/* Whether the module is initialised in this process. */
static inline int p11kms_is_live(memory_order order)
{
    unsigned live = atomic_load_explicit(&p11kms_live, order);

    return live != 0 && live == p11kms_fork_generation();
}

/* Count the calling thread in; CKR_OK when the module is initialised (the caller may then use
 * p11kms_g until p11kms_call_leave), else CKR_CRYPTOKI_NOT_INITIALIZED. *shard is set for
 * p11kms_call_leave either way. A first plain check keeps calls made after C_Finalize off the
 * counters altogether, so they cannot hold C_Finalize up. */
static inline CK_RV p11kms_call_enter(unsigned *shard)
{
    unsigned i;

    *shard = P11KMS_CALL_NONE;
    if (!p11kms_is_live(memory_order_relaxed))
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    i = p11kms_thread_shard;
    if (i == 0)
        i = p11kms_thread_shard = p11kms_call_shard_assign();
    i--;
    atomic_fetch_add_explicit(&p11kms_calls[i].n, 1, memory_order_seq_cst);
    if (!p11kms_is_live(memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&p11kms_calls[i].n, 1, memory_order_relaxed);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    *shard = i;
    return CKR_OK;
}

static inline void p11kms_call_leave(unsigned shard)
{
    if (shard != P11KMS_CALL_NONE)
        atomic_fetch_sub_explicit(&p11kms_calls[shard].n, 1, memory_order_release);
}

/* Wait until no call counted in before p11kms_live was cleared is still running (C_Finalize). */
void p11kms_call_wait_all(void);
/* Drop the counts a forked child inherited: they were the parent's threads. */
void p11kms_call_reset_child(void);

static inline void p11kms_lock(void)
{
    p11kms_mutex_lock(p11kms_g.lock);
}

static inline void p11kms_unlock(void)
{
    p11kms_mutex_unlock(p11kms_g.lock);
}

#endif
