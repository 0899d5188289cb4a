/* store.c - the token's object store followed on disk: the scan that follows what other
 * processes created, changed or removed - reading attributes only, never calling the KMS - and
 * what C_FindObjectsInit asks of the store. The store and its index: store-index.c.
 *
 * Locking: st->lock protects the index and the directory's last seen state; it is taken before
 * g.lock and never while a KMS call runs (store.h). Scans hold it across the directory's I/O.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "attrs.h"
#include "state.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "store-index.h"
#include "store.h"

#define MAX_FILES (1u << 20)    /* files a scan considers; more are ignored with a log line */
#define RECHECK_NS 2000000000LL /* a directory changed this recently is scanned again */

/* ---- the scan ------------------------------------------------------------------------------ */

typedef struct scan_change {
    store_entry *e;
    p11kms_object *o;     /* the new object, or NULL: drop the entry's */
    CK_OBJECT_HANDLE old; /* the handle whose object leaves or is replaced; 0: none */
    int pending;          /* o becomes the verified object's pending attributes */
} scan_change;

typedef struct scan {
    p11kms_store *st;
    int dirfd;
    uint8_t (*ids)[P11KMS_STORE_ID_LEN];
    size_t n_ids, cap_ids;
    scan_change *changes;
    size_t n_changes, cap_changes;
} scan;

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, P11KMS_STORE_ID_LEN);
}

/* Append the ids the directory lists now to sc->ids. 0, or a negative errno. */
static int list_once(scan *sc)
{
    int fd = dup(sc->dirfd), err = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    void *grown;

    if (d == NULL) {
        err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    while ((de = readdir(d)) != NULL) {
        uint8_t id[P11KMS_STORE_ID_LEN];

        if (!p11kms_store_name_id(de->d_name, id))
            continue; /* temporary files, the lock, anything else */
        if (sc->n_ids == MAX_FILES) {
            LOG_W("token \"%s\": store %s holds more than %u object files; the rest are ignored",
                  sc->st->label, sc->st->dir, MAX_FILES);
            break;
        }
        if (sc->n_ids == sc->cap_ids) {
            size_t cap = sc->cap_ids ? 2 * sc->cap_ids : 256;
            grown = realloc(sc->ids, cap * sizeof(*sc->ids));
            if (grown == NULL) {
                err = -ENOMEM;
                break;
            }
            sc->ids = grown;
            sc->cap_ids = cap;
        }
        memcpy(sc->ids[sc->n_ids++], id, P11KMS_STORE_ID_LEN);
    }
    closedir(d);
    return err;
}

/* Whether two stats of the directory show the same contents (no entry added, removed or renamed
 * over in between: each changes the directory's mtime and ctime). */
static int dir_unchanged(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The ids of the directory's object files, sorted, each once. A listing that runs while a
 * writer renames a file into place may miss that name (readdir is unspecified for entries
 * changed meanwhile): writers rename under the names lock, which the listing shares; a store
 * without it (read-only) is listed again while the directory changed during a listing, and the
 * listings merged (a name that really went is found gone by scan_file). 0, or a negative
 * errno. */
static int list_ids(scan *sc)
{
    struct stat before, after;
    size_t i, j;
    int attempt, names, err = 0;

    for (attempt = 0; attempt < 8; attempt++) {
        if (fstat(sc->dirfd, &before) != 0)
            return -errno;
        names = p11kms_store_names_lock(sc->dirfd, 0);
        err = list_once(sc);
        p11kms_store_unlock(names);
        if (err != 0 || fstat(sc->dirfd, &after) != 0 || dir_unchanged(&before, &after))
            break;
    }
    if (err != 0 || sc->n_ids == 0)
        return err;
    qsort(sc->ids, sc->n_ids, sizeof(*sc->ids), id_cmp);
    for (i = 1, j = 1; i < sc->n_ids; i++)
        if (id_cmp(sc->ids[i], sc->ids[j - 1]) != 0)
            memcpy(sc->ids[j++], sc->ids[i], P11KMS_STORE_ID_LEN);
    sc->n_ids = j;
    return 0;
}

static int add_change(scan *sc, store_entry *e, p11kms_object *o, CK_OBJECT_HANDLE old, int pending)
{
    if (sc->n_changes == sc->cap_changes) {
        size_t cap = sc->cap_changes ? 2 * sc->cap_changes : 64;
        scan_change *grown = realloc(sc->changes, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        sc->changes = grown;
        sc->cap_changes = cap;
    }
    sc->changes[sc->n_changes].e = e;
    sc->changes[sc->n_changes].o = o;
    sc->changes[sc->n_changes].old = old;
    sc->changes[sc->n_changes].pending = pending;
    sc->n_changes++;
    return 0;
}

/* Whether the object of handle h came from a file the KMS opened (it then keeps its attributes
 * until p11kms_store_use follows the change, so nothing unverified ever joins a value). */
static int verified_object(CK_OBJECT_HANDLE h)
{
    p11kms_object *o;
    int v;

    p11kms_lock();
    o = p11kms_map_get(&p11kms_g.objects, h);
    v = o != NULL && o->stored != NULL && o->stored->verified;
    p11kms_unlock();
    return v;
}

/* The file of e at stamp is refused: its object (if any) leaves, and the refusal is not logged
 * again until the file changes. A destroyed object's entry stays destroyed. */
static void refuse_entry(scan *sc, store_entry *e, const p11kms_store_stamp *stamp)
{
    if (e->state == ENTRY_OBJECT && add_change(sc, e, NULL, e->handle, 0) != 0)
        return; /* out of memory: tried again at the next scan */
    if (e->state != ENTRY_DESTROYED)
        e->state = ENTRY_REFUSED;
    e->handle = 0;
    e->stamp = *stamp;
}

/* One file the directory lists: new, changed, or as it was. */
static void scan_file(scan *sc, const uint8_t id[P11KMS_STORE_ID_LEN])
{
    p11kms_store *st = sc->st;
    store_entry *e = store_entry_find(st, id);
    char name[P11KMS_STORE_NAME_LEN + 1];
    p11kms_store_stamp stamp, loaded;
    p11kms_store_file f;
    p11kms_buf buf = {0};
    p11kms_object *o = NULL;
    int err, verified;

    p11kms_store_file_name(id, name);
    if (p11kms_store_stat(sc->dirfd, name, &stamp) != 0)
        return; /* gone since the listing */
    if (e != NULL && p11kms_store_stamp_equal(&stamp, &e->stamp)) {
        e->seen = 1;
        return;
    }
    verified = e != NULL && e->state == ENTRY_OBJECT && verified_object(e->handle);
    if (verified && p11kms_store_stamp_equal(&stamp, &e->pending_stamp)) {
        e->seen = 1;
        return;
    }
    memset(&loaded, 0, sizeof(loaded));
    err = store_load(st, sc->dirfd, name, &buf, &f, &loaded, &o);
    if (err == -ENOENT)
        goto out;
    if (e == NULL && (e = store_entry_add(st, id)) == NULL)
        goto out;
    e->seen = 1;
    if (err != 0) {
        refuse_entry(sc, e, &stamp);
    } else if (e->state == ENTRY_DESTROYED) {
        store_log_refused(st, id,
                          "this process destroyed the object; a file that comes back "
                          "is a replayed copy");
        refuse_entry(sc, e, &loaded);
    } else if (f.generation < e->gen_seen) {
        store_log_refused(st, id,
                          "it is an older version than this process has seen (a replayed "
                          "file)");
        refuse_entry(sc, e, &loaded);
    } else if (verified) {
        /* Matched by finds until the object's next use verifies the new file. */
        if (add_change(sc, e, o, e->handle, 1) == 0) {
            e->pending_stamp = loaded;
            o = NULL;
        }
    } else if (add_change(sc, e, o, e->state == ENTRY_OBJECT ? e->handle : 0, 0) == 0) {
        e->stamp = loaded;
        o = NULL;
    }
out:
    p11kms_object_free(o);
    p11kms_buf_free(&buf);
}

/* Apply the scan's decisions to the map, in one g.lock. */
static void scan_apply(scan *sc)
{
    size_t i;

    p11kms_lock();
    for (i = 0; i < sc->n_changes; i++) {
        scan_change *c = &sc->changes[i];
        p11kms_object *cur;

        if (c->pending) {
            cur = p11kms_map_get(&p11kms_g.objects, c->old);
            if (cur != NULL && cur->stored != NULL) {
                p11kms_object_free(cur->stored->pending);
                cur->stored->pending = c->o;
            } else {
                p11kms_object_free(c->o);
            }
            continue;
        }
        if (c->old != 0)
            p11kms_object_put(p11kms_map_del(&p11kms_g.objects, c->old));
        if (c->o == NULL)
            continue;
        if (c->old != 0 ? p11kms_object_insert_as_locked(c->o, c->old) != CKR_OK
                        : p11kms_object_insert_locked(c->o) != CKR_OK) {
            /* Out of memory: forget the file, so the next scan tries again. */
            p11kms_object_free(c->o);
            c->e->state = ENTRY_GONE;
            memset(&c->e->stamp, 0, sizeof(c->e->stamp));
            c->e->handle = 0;
            continue;
        }
        c->e->state = ENTRY_OBJECT;
        c->e->handle = c->o->handle;
    }
    p11kms_unlock();
}

/* Entries whose file is no longer listed. */
static void scan_vanished(scan *sc)
{
    p11kms_store *st = sc->st;
    size_t i = 0;

    while (i < st->n) {
        store_entry *e = st->entries[i];

        if (e->seen || e->state == ENTRY_DESTROYED) {
            e->seen = 0;
            i++;
            continue;
        }
        if (e->state == ENTRY_OBJECT && add_change(sc, e, NULL, e->handle, 0) != 0) {
            i++;
            continue;
        }
        if (e->gen_seen > 0) {
            /* Kept: a replayed older file of this object is still told apart. */
            e->state = ENTRY_GONE;
            e->handle = 0;
            memset(&e->stamp, 0, sizeof(e->stamp));
            i++;
        } else {
            store_entry_drop(st, i);
        }
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Follow the directory. st->lock held. */
static void sync_locked(p11kms_store *st)
{
    scan sc = {st, -1, NULL, 0, 0, NULL, 0, 0};
    struct stat sb;
    p11kms_store_stamp dstamp;
    size_t i;
    int err;

    if (stat(st->dir, &sb) != 0) {
        err = errno;
        if (err != ENOENT) {
            if (!st->unreadable_logged)
                LOG_W("token \"%s\": store %s cannot be read: %s", st->label, st->dir,
                      strerror(err));
            st->unreadable_logged = 1;
            return;
        }
        memset(&sb, 0, sizeof(sb)); /* no directory: no file, every object leaves */
    }
    p11kms_store_stamp_of(&sb, &dstamp);
    if (st->have_dir_stamp && !st->recheck && p11kms_store_stamp_equal(&dstamp, &st->dir_stamp))
        return;
    if (sb.st_ino != 0) {
        sc.dirfd = p11kms_store_dir_open(st->dir);
        err = sc.dirfd < 0 ? -errno : list_ids(&sc);
        if (err != 0) {
            if (!st->unreadable_logged)
                LOG_W("token \"%s\": store %s cannot be listed: %s", st->label, st->dir,
                      strerror(-err));
            st->unreadable_logged = 1;
            goto out;
        }
    }
    st->unreadable_logged = 0;
    for (i = 0; i < sc.n_ids; i++)
        scan_file(&sc, sc.ids[i]);
    scan_vanished(&sc);
    scan_apply(&sc);
    st->dir_stamp = dstamp;
    st->have_dir_stamp = 1;
    /* A change within the directory's time granularity could hide behind an equal stamp. */
    st->recheck = now_ns() - dstamp.mtime_ns < RECHECK_NS;
out:
    if (sc.dirfd >= 0)
        close(sc.dirfd);
    free(sc.ids);
    free(sc.changes);
}

/* Handles of the token's stored data objects s sees whose value is still sealed. */
static size_t sealed_data_objects(p11kms_session *s, CK_OBJECT_HANDLE **out)
{
    size_t it = 0, n = 0;
    void *val;

    p11kms_lock();
    *out = malloc((p11kms_g.objects.n + 1) * sizeof(**out));
    while (*out != NULL && p11kms_map_next(&p11kms_g.objects, &it, NULL, &val)) {
        p11kms_object *o = val;
        if (o->stored != NULL && !o->stored->verified && o->kind == P11KMS_OBJ_DATA &&
            p11kms_object_visible_locked(s, o))
            (*out)[n++] = o->handle;
    }
    p11kms_unlock();
    return n;
}

CK_RV p11kms_store_prepare_find(p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_RV rv;
    p11kms_store *st = store_of(s->token, &rv);
    CK_OBJECT_HANDLE *sealed = NULL;
    size_t i, k;

    if (st == NULL)
        return rv;
    p11kms_mutex_lock(st->lock);
    sync_locked(st);
    p11kms_mutex_unlock(st->lock);
    /* A data object's value is sealed like a key's: to match it, unseal it. Only a template
     * that names CKA_VALUE pays for that. */
    if (p11kms_attr_find(t, n, CKA_VALUE) == NULL)
        return CKR_OK;
    k = sealed_data_objects(s, &sealed);
    for (i = 0; i < k; i++)
        if (p11kms_store_use(s, sealed[i], P11KMS_USE_VALUE) != CKR_OK)
            LOG_W("C_FindObjectsInit: a stored data object could not be unsealed to match "
                  "CKA_VALUE; it is left out");
    free(sealed);
    return CKR_OK;
}
