/* state.c - the module's global state (state.h): p11kms_g, the handle counter, the token lookup
 * and the call gate's counters. */
/*
 * Locking: p11kms_g's maps, login states and last_handle are under g.lock while the module is
 * initialised; init.c (under its init_lock) builds and tears p11kms_g down. The call gate's
 * counters and p11kms_live are atomics (state.h says how they pair).
 */
#include <sched.h>
#include <time.h>
#include "state.h"

p11kms_module p11kms_g;
p11kms_call_shard p11kms_calls[P11KMS_CALL_SHARDS];
atomic_uint p11kms_live;
__thread unsigned p11kms_thread_shard;
static atomic_uint next_shard;

/* Outside p11kms_g, so it survives C_Finalize. Used under g.lock while initialised; C_Initialize
 * and C_Finalize order one initialisation's uses before the next's. */
static CK_ULONG last_handle;

CK_ULONG p11kms_new_handle_locked(void)
{
    return ++last_handle;
}

p11kms_token *p11kms_token_get(CK_SLOT_ID id)
{
    if (id >= p11kms_g.n_tokens)
        return NULL;
    return &p11kms_g.tokens[id];
}

unsigned p11kms_call_shard_assign(void)
{
    return atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % P11KMS_CALL_SHARDS + 1;
}

/* Calls that count in after p11kms_live was cleared see it cleared and touch nothing; they may
 * keep a shard above zero for a moment, which is why each shard is waited for on its own rather
 * than all at once. */
void p11kms_call_wait_all(void)
{
    unsigned i, spins;

    for (i = 0; i < P11KMS_CALL_SHARDS; i++) {
        for (spins = 0; atomic_load_explicit(&p11kms_calls[i].n, memory_order_seq_cst) != 0;
             spins++) {
            if (spins < 100) {
                sched_yield();
            } else {
                struct timespec ts = {0, 1000000}; /* a call may be waiting for its KMS */
                nanosleep(&ts, NULL);
            }
        }
    }
}

void p11kms_call_reset_child(void)
{
    unsigned i;

    for (i = 0; i < P11KMS_CALL_SHARDS; i++)
        atomic_store_explicit(&p11kms_calls[i].n, 0, memory_order_relaxed);
}
