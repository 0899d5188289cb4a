/* store-index.h - a token's object store as this process knows it (store-index.c): the
 * directory and keys, the index of object files, the unseal stripes, loading one file. What the
 * store's other files share (store.c: the scan; store-use.c: following one object and unsealing
 * it; store-write.c: creating, changing and removing files). Locks as store.h says. */
#ifndef P11KMS_STORE_INDEX_H
#define P11KMS_STORE_INDEX_H

#include "pkcs11/p11kms.h"
#include "keyset.h"
#include "object.h"
#include "secmem.h"
#include "store-file.h"
#include "store-io.h"

struct p11kms_token;
typedef struct p11kms_store p11kms_store;

#define STORE_STRIPES 32 /* unseal locks, by object id */

/* What this process knows of one object id. */
enum entry_state {
    ENTRY_OBJECT = 1, /* an object in the map (handle) */
    ENTRY_REFUSED,    /* the file at stamp was refused (logged once) */
    ENTRY_GONE,       /* the file vanished; kept for the generation seen */
    ENTRY_DESTROYED,  /* destroyed by this process: a file that comes back is refused */
};

typedef struct store_entry {
    uint8_t id[P11KMS_STORE_ID_LEN];
    int state;
    CK_OBJECT_HANDLE handle;          /* ENTRY_OBJECT */
    p11kms_store_stamp stamp;         /* of the file the object (or refusal) came from */
    p11kms_store_stamp pending_stamp; /* of the file a verified object's pending attributes
                                       * came from (store.h) */
    uint64_t gen_seen;                /* highest generation verified or written here; 0: none */
    int seen;                         /* scan bookkeeping */
} store_entry;

struct p11kms_store {
    struct p11kms_token *token;
    const char *label; /* the token's, bound into every file's KMS context */
    char *dir;         /* NULL: no store (why_off says why) */
    const char *why_off;
    /* Seals new files: the storage key (wrap permission), or NULL with why_no_key. */
    p11kms_keyset *storage;
    char why_no_key[256];
    /* Open files: the token's KMS keys with the unwrap permission, storage key first. */
    p11kms_keyset **readers;
    size_t n_readers;
    unsigned fork_generation; /* a forked child never uses its parent's store */
    void *stripes[STORE_STRIPES];

    void *lock;            /* everything below */
    store_entry **entries; /* sorted by id */
    size_t n, cap;
    int have_dir_stamp, recheck, unreadable_logged;
    p11kms_store_stamp dir_stamp;
};

/* The token's store from its configuration and KMS keys: the directory's path and the key that
 * seals new files. Touches no file (C_Initialize). */
CK_RV p11kms_store_new(struct p11kms_token *t, p11kms_store **out);
void p11kms_store_free(p11kms_store *st); /* C_Finalize, after the objects are gone */

/* The token's store, or NULL with a log line (and *rv) when it has none usable here. */
p11kms_store *store_of(struct p11kms_token *t, CK_RV *rv);

/* The index (st->lock held): the entry for id, or NULL; a new one (NULL: out of memory). */
store_entry *store_entry_find(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN]);
store_entry *store_entry_add(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN]);
void store_entry_drop(p11kms_store *st, size_t i); /* forget entry i (no object) */

/* The stripe that serialises unseals of id. */
void *store_stripe(p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN]);

/* Read, parse and decode file name of dir (descriptor dirfd) into a new object for st's token
 * (not verified, value NULL). 0 with *out; -ENOENT when gone; another negative value after
 * logging one line naming the file (refused). *f keeps pointing into *buf (the caller frees). */
int store_load(p11kms_store *st, int dirfd, const char *name, p11kms_buf *buf, p11kms_store_file *f,
               p11kms_store_stamp *stamp, p11kms_object **out);

/* A stored object's record for a file: id and generation. NULL when out of memory. */
p11kms_stored *store_stored_new(const uint8_t id[P11KMS_STORE_ID_LEN], uint64_t gen, int verified);

/* One line about a file of st. */
void store_log_refused(const p11kms_store *st, const uint8_t id[P11KMS_STORE_ID_LEN],
                       const char *why);

#endif
