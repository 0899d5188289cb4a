/* store-index.c - a token's object store as this process knows it: built at C_Initialize without
 * touching the disk (directory, storage key, the keys that open files), the index of the
 * directory's object files sorted by object id, the unseal stripes, and loading one file into an
 * object (attributes only, never a KMS call). The scan (store.c), unseals (store-use.c) and
 * writes (store-write.c) build on it.
 *
 * Locking: st->lock protects the index and the directory's last seen state; it is taken before
 * g.lock and never while a KMS call runs (store.h). Nothing here takes a lock itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "fork.h"
#include "lock.h"
#include "log.h"
#include "state.h"
#include "store-index.h"

p11kms_stored *store_stored_new(const uint8_t id[P11KMS_STORE_ID_LEN], uint64_t gen, int verified)
{
    p11kms_stored *sd = calloc(1, sizeof(*sd));

    if (sd == NULL)
        return NULL;
    memcpy(sd->id, id, P11KMS_STORE_ID_LEN);
    sd->generation = gen;
    sd->verified = verified;
    return sd;
}

void store_log_refused(const p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN],
                       const char *why)
{
    char name[P11KMS_STORE_NAME_LEN + 1];

    p11kms_store_file_name(id, name);
    LOG_W("token \"%s\": object file %s/%s refused: %s", st->label, st->dir, name, why);
}

/* ---- the store of a token ------------------------------------------------------------------ */

/* The storage key and the keys that open files, from the configuration (t->keys follows the
 * configuration's order, its AES keys only). */
static void choose_keys(p11kms_store *st, const p11kms_token *t)
{
    long k = p11kms_store_storage_key(t->cfg, st->why_no_key, sizeof(st->why_no_key));
    p11kms_object *storage = NULL;
    size_t i;

    /* t->keys holds the AES keys only (an asymmetric key has no KMS key object). */
    for (i = 0; k >= 0 && i < t->n_keys; i++)
        if (t->keys[i]->kcfg == &t->cfg->keys[k])
            storage = t->keys[i];
    if (storage != NULL)
        st->storage = storage->keyset;
    /* Files sealed by any of the token's keys that may unwrap are opened: a new storage key
     * reads what the old one sealed until `p11kms store rewrap` moved it. */
    if (storage != NULL && (storage->kcfg->perms & P11KMS_PERM_UNWRAP))
        st->readers[st->n_readers++] = storage->keyset;
    for (i = 0; i < t->n_keys; i++)
        if (t->keys[i] != storage && (t->keys[i]->kcfg->perms & P11KMS_PERM_UNWRAP))
            st->readers[st->n_readers++] = t->keys[i]->keyset;
}

CK_RV p11kms_store_new(p11kms_token *t, p11kms_store **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_store *st = calloc(1, sizeof(*st));
    size_t i;

    *out = NULL;
    if (st == NULL)
        return CKR_HOST_MEMORY;
    st->token = t;
    st->label = t->cfg->label;
    st->fork_generation = p11kms_fork_generation();
    st->dir = p11kms_store_dir_for(t->cfg, &st->why_off);
    if (st->dir == NULL && strcmp(st->why_off, "out of memory") == 0)
        goto out;
    st->readers = calloc(t->n_keys + 1, sizeof(*st->readers));
    if (st->readers == NULL)
        goto out;
    choose_keys(st, t);
    rv = p11kms_mutex_new(&st->lock);
    for (i = 0; i < STORE_STRIPES && rv == CKR_OK; i++)
        rv = p11kms_mutex_new(&st->stripes[i]);
    if (rv != CKR_OK)
        goto out;
    *out = st;
    st = NULL;
out:
    p11kms_store_free(st);
    return rv;
}

void p11kms_store_free(p11kms_store *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < st->n; i++)
        free(st->entries[i]);
    free(st->entries);
    for (i = 0; i < STORE_STRIPES; i++)
        p11kms_mutex_free(st->stripes[i]);
    p11kms_mutex_free(st->lock);
    free(st->readers);
    free(st->dir);
    free(st);
}

p11kms_store *store_of(p11kms_token *t, CK_RV *rv)
{
    p11kms_store *st = t->store;

    *rv = CKR_OK;
    /* Unreachable through the call gate (a child is not initialised until its own
     * C_Initialize builds a new store); a guard all the same. */
    if (st == NULL || st->fork_generation != p11kms_fork_generation()) {
        LOG_E("token \"%s\": its object store belongs to another process", t->cfg->label);
        *rv = CKR_GENERAL_ERROR;
        return NULL;
    }
    return st->dir != NULL ? st : NULL;
}

void *store_stripe(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN])
{
    return st->stripes[id[0] % STORE_STRIPES];
}

/* ---- the index ----------------------------------------------------------------------------- */

/* Position of id in the sorted index (*found says whether it is there). */
static size_t entry_pos(const p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN], int *found)
{
    size_t lo = 0, hi = st->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(st->entries[mid]->id, id, P11KMS_STORE_ID_LEN);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

store_entry *store_entry_find(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN])
{
    int found;
    size_t pos = entry_pos(st, id, &found);

    return found ? st->entries[pos] : NULL;
}

store_entry *store_entry_add(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN])
{
    int found;
    size_t pos = entry_pos(st, id, &found);
    store_entry *e, **grown;

    if (found)
        return st->entries[pos];
    if (st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 64;
        grown = realloc(st->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        st->entries = grown;
        st->cap = cap;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    memcpy(e->id, id, P11KMS_STORE_ID_LEN);
    memmove(st->entries + pos + 1, st->entries + pos, (st->n - pos) * sizeof(*st->entries));
    st->entries[pos] = e;
    st->n++;
    return e;
}

void store_entry_drop(p11kms_store *st, size_t i)
{
    free(st->entries[i]);
    memmove(st->entries + i, st->entries + i + 1, (st->n - i - 1) * sizeof(*st->entries));
    st->n--;
}

/* ---- loading one file ---------------------------------------------------------------------- */

int store_load(p11kms_store *st, int dirfd, const char *name, p11kms_buf *buf, p11kms_store_file *f,
               p11kms_store_stamp *stamp, p11kms_object **out)
{
    uint8_t id[P11KMS_STORE_ID_LEN];
    const char *why = NULL;
    p11kms_object *o = NULL;
    CK_RV rv;
    int err;

    *out = NULL;
    if (!p11kms_store_name_id(name, id))
        return -EINVAL;
    err = p11kms_store_read(dirfd, name, buf, stamp, &why);
    if (err == -ENOENT)
        return err;
    if (err != 0) {
        store_log_refused(st, id, why != NULL ? why : strerror(-err));
        return err;
    }
    if (p11kms_store_file_parse(buf->data, buf->len, f, &why) != CKR_OK) {
        store_log_refused(st, id, why);
        return -EINVAL;
    }
    if (memcmp(f->id, id, P11KMS_STORE_ID_LEN) != 0) {
        store_log_refused(st, id,
                          "it holds another object than its name says (a copied or "
                          "swapped file)");
        return -EINVAL;
    }
    rv = p11kms_store_attrs_decode(f, &o, &why);
    if (rv != CKR_OK) {
        store_log_refused(st, id, rv == CKR_HOST_MEMORY ? "out of memory" : why);
        return rv == CKR_HOST_MEMORY ? -ENOMEM : -EINVAL;
    }
    o->stored = store_stored_new(id, f->generation, 0);
    if (o->stored == NULL) {
        p11kms_object_free(o);
        return -ENOMEM;
    }
    o->token = st->token;
    o->session = 0;
    *out = o;
    return 0;
}
