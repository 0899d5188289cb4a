/* store-use.c - a stored object before a call works with it: its file followed (gone, changed),
 * and its value unsealed and verified on first use - one KMS Decrypt per version of the file in
 * this process, whatever the number of threads asking at once (an unseal stripe serialises
 * them). A verified object is replaced under its handle, never changed in place, so a call that
 * looked it up keeps a consistent object.
 *
 * Locking: a stripe (outermost), then st->lock, then g.lock, as store.h says; the KMS call runs
 * under the stripe only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "attr-rules.h"
#include "state.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "store-index.h"
#include "store.h"
#include "store-seal.h"

#define ATTEMPTS 8 /* a file that changes under every attempt: give up */
#define RETRY 1

/* One object handle being followed. */
typedef struct use {
    p11kms_session *s;
    p11kms_store *st;
    CK_OBJECT_HANDLE h;
    p11kms_object *o; /* referenced */
    uint8_t id[P11KMS_STORE_ID_LEN];
    int verified, want_value;
} use;

/* Take the object of u->h (referenced) and what the call needs. 0: nothing to do. */
static int take(use *u, unsigned how)
{
    p11kms_object *o;
    const p11kms_attr_rule *r;

    p11kms_lock();
    o = p11kms_map_get(&p11kms_g.objects, u->h);
    if (o == NULL || o->stored == NULL || !p11kms_object_visible_locked(u->s, o)) {
        p11kms_unlock();
        return 0;
    }
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
    u->o = o;
    memcpy(u->id, o->stored->id, sizeof(u->id));
    u->verified = o->stored->verified;
    /* A read of CKA_VALUE unseals only what it would reveal: a sensitive key's answer is the
     * same either way, and its file's word that it is sensitive is not a claim worth checking. */
    if (how & P11KMS_USE_READ) {
        r = p11kms_attr_rule_for(CKA_VALUE, o->kind);
        u->want_value =
            r != NULL && !((r->flags & P11KMS_AF_SECRET) &&
                           (o->kind == P11KMS_OBJ_KMS_KEY || o->sensitive || !o->extractable));
    } else
        u->want_value = (how & P11KMS_USE_VALUE) != 0;
    p11kms_unlock();
    return 1;
}

/* The object of handle h leaves the map (if it is still o); the entry records why. */
static void leave(use *u, int state, const p11kms_store_stamp *stamp)
{
    store_entry *e;

    p11kms_mutex_lock(u->st->lock);
    e = store_entry_find(u->st, u->id);
    if (e != NULL && e->state == ENTRY_OBJECT && e->handle == u->h) {
        e->state = state;
        e->handle = 0;
        if (stamp != NULL)
            e->stamp = *stamp;
        else
            memset(&e->stamp, 0, sizeof(e->stamp));
    }
    p11kms_lock();
    if (p11kms_map_get(&p11kms_g.objects, u->h) == u->o)
        p11kms_object_put(p11kms_map_del(&p11kms_g.objects, u->h));
    p11kms_unlock();
    p11kms_mutex_unlock(u->st->lock);
}

/* Whether the file differs from the one the object came from: 1 changed, 0 same, -ENOENT gone,
 * another negative errno when it cannot be looked at. One stat, no descriptor. */
static int file_changed(use *u)
{
    char name[P11KMS_STORE_NAME_LEN + 1], path[4096 + P11KMS_STORE_NAME_LEN + 2];
    p11kms_store_stamp now;
    store_entry *e;
    int r;

    p11kms_store_file_name(u->id, name);
    snprintf(path, sizeof(path), "%s/%s", u->st->dir, name);
    r = p11kms_store_stat(AT_FDCWD, path, &now);
    if (r != 0)
        return r;
    p11kms_mutex_lock(u->st->lock);
    e = store_entry_find(u->st, u->id);
    r = e == NULL || e->state != ENTRY_OBJECT || e->handle != u->h ||
        !p11kms_store_stamp_equal(&now, &e->stamp);
    p11kms_mutex_unlock(u->st->lock);
    return r;
}

/* Put n (built from the file at stamp, generation gen) in place of u->o under u->h. RETRY when
 * u->o was replaced or the entry moved on meanwhile. */
static int install(use *u, p11kms_object *n, const p11kms_store_stamp *stamp, int verified)
{
    store_entry *e;
    int r = RETRY;

    p11kms_mutex_lock(u->st->lock);
    e = store_entry_find(u->st, u->id);
    p11kms_lock();
    if (e != NULL && e->state == ENTRY_OBJECT && e->handle == u->h &&
        p11kms_map_get(&p11kms_g.objects, u->h) == u->o) {
        p11kms_object_put(p11kms_map_del(&p11kms_g.objects, u->h));
        if (p11kms_object_insert_as_locked(n, u->h) == CKR_OK) {
            e->stamp = *stamp;
            memset(&e->pending_stamp, 0, sizeof(e->pending_stamp));
            if (verified && n->stored->generation > e->gen_seen)
                e->gen_seen = n->stored->generation;
            r = 0;
        } else {
            /* Out of memory: the object left; the next scan brings it back. */
            e->state = ENTRY_GONE;
            e->handle = 0;
            memset(&e->stamp, 0, sizeof(e->stamp));
            r = -ENOMEM;
        }
    }
    p11kms_unlock();
    p11kms_mutex_unlock(u->st->lock);
    return r;
}

/* Read the object's file again and, when unseal, open it with the KMS. 0, RETRY, or after a
 * refusal (logged; the object left) 0 as well; *rv for KMS and memory failures. */
static int refresh(use *u, int unseal, CK_RV *rv)
{
    char name[P11KMS_STORE_NAME_LEN + 1];
    p11kms_store_stamp stamp;
    p11kms_store_file f;
    p11kms_buf buf = {0}, value = {0};
    p11kms_object *n = NULL;
    store_entry *e;
    uint64_t seen = 0;
    const char *why = NULL;
    int r, asked = 0, dirfd = p11kms_store_dir_open(u->st->dir);

    *rv = CKR_OK;
    p11kms_store_file_name(u->id, name);
    memset(&stamp, 0, sizeof(stamp));
    /* The refusal is remembered at this version of the file: stat it before reading. */
    if (dirfd >= 0)
        p11kms_store_stat(dirfd, name, &stamp);
    r = dirfd >= 0 ? store_load(u->st, dirfd, name, &buf, &f, &stamp, &n) : -errno;
    if (r == -ENOENT) {
        leave(u, ENTRY_GONE, NULL);
        r = 0;
        goto out;
    }
    if (r == -ENOMEM) {
        *rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (r != 0 && dirfd < 0) {
        LOG_W("token \"%s\": store %s cannot be read: %s", u->st->label, u->st->dir, strerror(-r));
        *rv = CKR_DEVICE_ERROR;
        r = 0;
        goto out;
    }
    if (r != 0) {
        leave(u, ENTRY_REFUSED, &stamp);
        r = 0;
        goto out;
    }
    p11kms_mutex_lock(u->st->lock);
    e = store_entry_find(u->st, u->id);
    seen = e != NULL ? e->gen_seen : 0;
    p11kms_mutex_unlock(u->st->lock);
    if (f.generation < seen) {
        store_log_refused(u->st, u->id,
                          "it is an older version than this process has seen (a "
                          "replayed file)");
        leave(u, ENTRY_REFUSED, &stamp);
        goto out;
    }
    if (unseal) {
        *rv = p11kms_store_open(u->st->readers, u->st->n_readers, u->st->label, &f, &value, &asked,
                                NULL, &why);
        if (*rv == CKR_ENCRYPTED_DATA_INVALID) {
            store_log_refused(u->st, u->id, why);
            leave(u, ENTRY_REFUSED, &stamp);
            *rv = CKR_OK;
            goto out;
        }
        if (*rv != CKR_OK) {
            LOG_W("token \"%s\": object file %s/%s could not be unsealed: %s", u->st->label,
                  u->st->dir, name, p11kms_rv_name(*rv));
            goto out;
        }
        n->value = value.data;
        value.data = NULL;
        n->stored->verified = 1;
        LOG_D("token \"%s\": object file %s unsealed", u->st->label, name);
    }
    r = install(u, n, &stamp, unseal);
    if (r == 0)
        n = NULL;
    else if (r == -ENOMEM)
        *rv = CKR_HOST_MEMORY;
out:
    if (dirfd >= 0)
        close(dirfd);
    p11kms_buf_wipe(&value);
    p11kms_buf_free(&buf);
    p11kms_object_free(n);
    return r == RETRY ? RETRY : 0;
}

/* One attempt at following u's object. RETRY when it was replaced meanwhile. */
static int attempt(use *u, CK_RV *rv)
{
    void *stripe = store_stripe(u->st, u->id);
    int changed, r = 0;

    *rv = CKR_OK;
    changed = file_changed(u);
    if (changed == -ENOENT || changed == -ENOTDIR) {
        leave(u, ENTRY_GONE, NULL);
        return 0;
    }
    if (changed < 0) {
        LOG_W("token \"%s\": store %s cannot be read: %s", u->st->label, u->st->dir,
              strerror(-changed));
        *rv = CKR_DEVICE_ERROR;
        return 0;
    }
    if (!changed && (u->verified || !u->want_value))
        return 0;
    p11kms_mutex_lock(stripe);
    /* Another thread may have done it while this one waited. */
    p11kms_lock();
    if (p11kms_map_get(&p11kms_g.objects, u->h) != u->o)
        r = RETRY;
    p11kms_unlock();
    if (r == 0) {
        changed = file_changed(u);
        if (changed != 0 || (!u->verified && u->want_value))
            r = refresh(u, u->want_value || u->verified, rv);
    }
    p11kms_mutex_unlock(stripe);
    return r;
}

CK_RV p11kms_store_use(p11kms_session *s, CK_OBJECT_HANDLE h, unsigned how)
{
    CK_RV rv = CKR_OK;
    use u;
    int i, r = RETRY;

    memset(&u, 0, sizeof(u));
    u.s = s;
    u.h = h;
    for (i = 0; i < ATTEMPTS && r == RETRY; i++) {
        p11kms_object_put(u.o);
        u.o = NULL;
        if (!take(&u, how))
            break;
        u.st = store_of(s->token, &rv);
        if (u.st == NULL)
            break; /* a guard (store_of logged), or no store any more: the object stays */
        r = attempt(&u, &rv);
    }
    if (r == RETRY && i == ATTEMPTS) {
        LOG_W("token \"%s\": a stored object's file keeps changing; try again",
              s->token->cfg->label);
        rv = CKR_DEVICE_ERROR;
    }
    p11kms_object_put(u.o);
    return rv;
}
