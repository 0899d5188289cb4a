/* store.c - the token's object store: built at C_Initialize without touching the disk, the index
 * of the directory's object files (sorted by object id), and the scan that follows what other
 * processes created, changed or removed - reading attributes only, never calling the KMS.
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
#include "config.h"
#include "fork.h"
#include "init.h"
#include "lock.h"
#include "log.h"
#include "session.h"
#include "slot.h"
#include "store-impl.h"

#define MAX_FILES (1u << 20)    /* files a scan considers; more are ignored with a log line */
#define RECHECK_NS 2000000000LL /* a directory changed this recently is scanned again */

void p11kms_stored_free(p11kms_stored *sd)
{
    if (sd == NULL)
        return;
    p11kms_object_free(sd->pending);
    free(sd);
}

const p11kms_object *p11kms_store_match_view_locked(const p11kms_object *o)
{
    return o->stored != NULL && o->stored->pending != NULL ? o->stored->pending : o;
}

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
 * configuration's order). */
static void choose_keys(p11kms_store *st, const p11kms_token *t)
{
    long k = p11kms_store_storage_key(t->cfg, st->why_no_key, sizeof(st->why_no_key));
    p11kms_object *storage = k >= 0 ? t->keys[k] : NULL;
    size_t i;

    if (storage != NULL)
        st->storage = storage->backend;
    /* Files sealed by any of the token's keys that may unwrap are opened: a new storage key
     * reads what the old one sealed until `p11kms store rewrap` moved it. */
    if (storage != NULL && (storage->kcfg->perms & P11KMS_PERM_UNWRAP))
        st->readers[st->n_readers++] = storage->backend;
    for (i = 0; i < t->n_keys; i++)
        if (t->keys[i] != storage && (t->keys[i]->kcfg->perms & P11KMS_PERM_UNWRAP))
            st->readers[st->n_readers++] = t->keys[i]->backend;
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

/* Forget entry i (no object). */
static void entry_drop(p11kms_store *st, size_t i)
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
    size_t n_ids;
    scan_change *changes;
    size_t n_changes, cap_changes;
} scan;

static int id_cmp(const void *a, const void *b)
{
    return memcmp(a, b, P11KMS_STORE_ID_LEN);
}

/* The ids of the directory's object files, sorted. 0, or a negative errno. */
static int list_ids(scan *sc)
{
    int fd = dup(sc->dirfd), err = 0;
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    size_t cap = 0;
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
        if (sc->n_ids == cap) {
            cap = cap ? 2 * cap : 256;
            grown = realloc(sc->ids, cap * sizeof(*sc->ids));
            if (grown == NULL) {
                err = -ENOMEM;
                break;
            }
            sc->ids = grown;
        }
        memcpy(sc->ids[sc->n_ids++], id, P11KMS_STORE_ID_LEN);
    }
    closedir(d);
    if (err == 0)
        qsort(sc->ids, sc->n_ids, sizeof(*sc->ids), id_cmp);
    return err;
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
            entry_drop(st, i);
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
    scan sc = {st, -1, NULL, 0, NULL, 0, 0};
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
