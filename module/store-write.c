/* store-write.c - token objects written: a new object's file (created with a random id, so
 * creators never collide), the next generation of a changed object (under the directory's
 * writers' flock, so concurrent setters in any process serialise), and a destroyed object's file
 * removed (under the same flock, so a setter cannot bring it back).
 *
 * Locking: the flock (outermost, across processes), then the store's lock, then g.lock; the KMS
 * call (sealing) runs under the flock only. Files are renamed into place under the store's lock,
 * so a scan never sees a file this process has not yet entered in its index.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "attrs.h"
#include "state.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "store-index.h"
#include "store.h"
#include "store-seal.h"

/* The store a token object of s's token is written to, or NULL with the CK_RV (logged). */
static p11kms_store *writable_store(p11kms_token *t, CK_RV refused, CK_RV *rv)
{
    p11kms_store *st = store_of(t, rv);

    if (st == NULL && *rv == CKR_OK) {
        LOG_W("token \"%s\" keeps no token objects (CKA_TOKEN true): %s", t->cfg->label,
              t->store != NULL ? t->store->why_off : "no store");
        *rv = refused;
        return NULL;
    }
    if (st != NULL && st->storage == NULL) {
        LOG_W("token \"%s\" cannot keep token objects (CKA_TOKEN true): %s", t->cfg->label,
              st->why_no_key);
        *rv = refused;
        return NULL;
    }
    return st;
}

/* The directory, made when missing (0700); a descriptor, or -1 with *rv (logged). */
static int open_dir(p11kms_store *st, int make, CK_RV *rv)
{
    char where[4096];
    int err = make ? p11kms_store_mkdir(st->dir, where, sizeof(where)) : 0, fd = -1;

    if (!make)
        snprintf(where, sizeof(where), "%s", st->dir);
    if (err == 0) {
        fd = p11kms_store_dir_open(st->dir);
        err = fd < 0 ? -errno : 0;
    }
    if (err != 0) {
        LOG_E("token \"%s\": the object store %s cannot be %s (%s: %s); set \"store\" in the "
              "token's configuration to a directory this process may write (docs/store.md)",
              st->label, st->dir, make ? "created or opened" : "opened", where, strerror(-err));
        *rv = p11kms_store_errno_rv(err);
    }
    return fd;
}

static void log_write_failed(const p11kms_store *st, const char *name, int err)
{
    LOG_E("token \"%s\": cannot write %s/%s: %s", st->label, st->dir, name, strerror(-err));
}

CK_RV p11kms_store_add(p11kms_session *s, p11kms_object *o, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_store *st;
    p11kms_buf file = {0};
    uint8_t id[P11KMS_STORE_ID_LEN];
    char name[P11KMS_STORE_NAME_LEN + 1];
    p11kms_store_stamp stamp;
    store_entry *e;
    int dirfd = -1, err;

    o->token = s->token;
    o->session = 0;
    /* The rights first: a refused template costs no KMS call and no file. */
    p11kms_lock();
    rv = p11kms_object_rights_locked(s, o);
    p11kms_unlock();
    if (rv != CKR_OK)
        return rv;
    st = writable_store(s->token, CKR_TEMPLATE_INCONSISTENT, &rv);
    if (st == NULL)
        return rv;
    dirfd = open_dir(st, 1, &rv);
    if (dirfd < 0)
        return rv;
    if (RAND_bytes(id, sizeof(id)) != 1) {
        rv = CKR_FUNCTION_FAILED;
        goto out;
    }
    p11kms_store_file_name(id, name);
    rv = p11kms_store_seal(st->storage, st->label, o, id, 1, &file);
    if (rv != CKR_OK)
        goto out;
    o->stored = store_stored_new(id, 1, 1);
    if (o->stored == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    p11kms_mutex_lock(st->lock);
    err = p11kms_store_write(dirfd, name, file.data, file.len, &stamp);
    e = err == 0 ? store_entry_add(st, id) : NULL;
    if (err != 0) {
        log_write_failed(st, name, err);
        rv = p11kms_store_errno_rv(err);
    } else if (e == NULL) {
        rv = CKR_HOST_MEMORY;
    } else {
        p11kms_lock();
        rv = p11kms_object_insert_locked(o);
        if (rv == CKR_OK)
            *out = o->handle;
        p11kms_unlock();
    }
    if (rv == CKR_OK) {
        e->state = ENTRY_OBJECT;
        e->handle = o->handle;
        e->stamp = stamp;
        e->gen_seen = 1;
    } else if (err == 0) {
        unlinkat(dirfd, name, 0);
        if (e != NULL) {
            e->state = ENTRY_DESTROYED; /* never this id again */
            e->handle = 0;
        }
    }
    p11kms_mutex_unlock(st->lock);
out:
    if (rv != CKR_OK) {
        p11kms_stored_free(o->stored);
        o->stored = NULL;
    }
    p11kms_buf_free(&file);
    close(dirfd);
    return rv;
}

CK_RV p11kms_store_write_begin(p11kms_session *s, CK_OBJECT_HANDLE h, p11kms_store_guard *g)
{
    CK_RV rv = CKR_OK;
    p11kms_object *o;
    p11kms_store *st;
    int stored, dirfd;

    g->lock_fd = -1;
    p11kms_lock();
    o = p11kms_map_get(&p11kms_g.objects, h);
    stored = o != NULL && o->stored != NULL && p11kms_object_visible_locked(s, o);
    p11kms_unlock();
    if (!stored)
        return CKR_OK;
    st = store_of(s->token, &rv);
    if (st == NULL)
        return rv;
    dirfd = open_dir(st, 0, &rv);
    if (dirfd < 0)
        return rv;
    g->lock_fd = p11kms_store_lock(dirfd);
    close(dirfd);
    if (g->lock_fd < 0) {
        LOG_E("token \"%s\": cannot lock the object store %s/.lock: %s", st->label, st->dir,
              strerror(-g->lock_fd));
        g->lock_fd = -1;
        return CKR_DEVICE_ERROR;
    }
    /* Under the lock no other writer changes the file: the version verified now is the one the
     * change applies to. */
    return p11kms_store_use(s, h, P11KMS_USE_VALUE);
}

CK_RV p11kms_store_rewrite(p11kms_store_guard *g, p11kms_object *o, const p11kms_object *staged)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_store *st;
    p11kms_buf file = {0};
    char name[P11KMS_STORE_NAME_LEN + 1];
    uint8_t id[P11KMS_STORE_ID_LEN];
    p11kms_store_stamp stamp;
    store_entry *e;
    uint64_t gen;
    int dirfd = -1, err;

    if (g->lock_fd < 0)
        return CKR_GENERAL_ERROR; /* p11kms_store_write_begin found no stored object */
    st = writable_store(o->token, CKR_DEVICE_ERROR, &rv);
    if (st == NULL)
        return rv;
    p11kms_lock();
    memcpy(id, o->stored->id, sizeof(id));
    gen = o->stored->generation + 1;
    p11kms_unlock();
    p11kms_store_file_name(id, name);
    rv = p11kms_store_seal(st->storage, st->label, staged, id, gen, &file);
    if (rv != CKR_OK)
        goto out;
    dirfd = open_dir(st, 0, &rv);
    if (dirfd < 0)
        goto out;
    p11kms_mutex_lock(st->lock);
    err = p11kms_store_write(dirfd, name, file.data, file.len, &stamp);
    if (err != 0) {
        log_write_failed(st, name, err);
        rv = p11kms_store_errno_rv(err);
    } else {
        e = store_entry_find(st, id);
        if (e != NULL) {
            e->stamp = stamp;
            e->gen_seen = gen;
        }
        p11kms_lock();
        o->stored->generation = gen;
        p11kms_unlock();
        rv = CKR_OK;
    }
    p11kms_mutex_unlock(st->lock);
out:
    p11kms_buf_free(&file);
    if (dirfd >= 0)
        close(dirfd);
    return rv;
}

void p11kms_store_write_end(p11kms_store_guard *g)
{
    p11kms_store_unlock(g->lock_fd);
    g->lock_fd = -1;
}

CK_RV p11kms_store_remove(p11kms_object *o, CK_OBJECT_HANDLE h)
{
    CK_RV rv = CKR_OK;
    p11kms_store *st = store_of(o->token, &rv);
    char name[P11KMS_STORE_NAME_LEN + 1];
    uint8_t id[P11KMS_STORE_ID_LEN];
    p11kms_object *cur;
    store_entry *e;
    int dirfd, lock_fd;

    if (st == NULL)
        return rv != CKR_OK ? rv : CKR_DEVICE_ERROR;
    /* No directory: no file to remove, only the object. */
    dirfd = p11kms_store_dir_open(st->dir);
    if (dirfd < 0 && errno != ENOENT) {
        LOG_E("token \"%s\": the object store %s cannot be opened: %s", st->label, st->dir,
              strerror(errno));
        return CKR_DEVICE_ERROR;
    }
    lock_fd = dirfd >= 0 ? p11kms_store_lock(dirfd) : -1;
    if (dirfd >= 0 && lock_fd < 0) {
        LOG_E("token \"%s\": cannot lock the object store %s/.lock: %s", st->label, st->dir,
              strerror(-lock_fd));
        close(dirfd);
        return CKR_DEVICE_ERROR;
    }
    p11kms_lock();
    memcpy(id, o->stored->id, sizeof(id));
    p11kms_unlock();
    p11kms_store_file_name(id, name);
    p11kms_mutex_lock(st->lock);
    if (dirfd >= 0 && unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
        LOG_E("token \"%s\": cannot remove %s/%s: %s", st->label, st->dir, name, strerror(errno));
        rv = CKR_DEVICE_ERROR;
    } else {
        if (dirfd >= 0)
            fsync(dirfd);
        e = store_entry_add(st, id);
        if (e != NULL) {
            e->state = ENTRY_DESTROYED;
            e->handle = 0;
        }
        p11kms_lock();
        /* The handle's object now, which may be a newer version of o. */
        cur = p11kms_map_get(&p11kms_g.objects, h);
        if (cur != NULL && cur->stored != NULL && memcmp(cur->stored->id, id, sizeof(id)) == 0)
            p11kms_object_put(p11kms_map_del(&p11kms_g.objects, h));
        p11kms_unlock();
        rv = CKR_OK;
    }
    p11kms_mutex_unlock(st->lock);
    p11kms_store_unlock(lock_fd);
    if (dirfd >= 0)
        close(dirfd);
    return rv;
}
