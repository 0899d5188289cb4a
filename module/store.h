/* store.h - the token's object store (docs/store.md): every CKA_TOKEN=true object kept as one
 * file in the token's directory, its value sealed by the token's storage key. Objects come from
 * a scan of the directory (no KMS call); a stored value is unsealed on first use (one KMS
 * Decrypt per object per process) and then kept with the object until it is destroyed or the
 * module finalised. Several processes share a directory: writes are atomic renames, a scan
 * follows what the others did, and read-modify-writes take the directory's flock.
 *
 * Locks, outermost first: an unseal stripe (one unseal of an object at a time), the store's own
 * lock (the index of files and the directory's last seen state), g.lock. No KMS call runs under
 * the store's lock or g.lock; local file I/O runs under the store's lock only.
 */
#ifndef P11KMS_STORE_H
#define P11KMS_STORE_H

#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "store-file.h"

struct p11kms_token;
struct p11kms_session;
struct p11kms_object;
typedef struct p11kms_store p11kms_store;

/* What the store keeps with a stored object (p11kms_object.stored). Under g.lock. */
typedef struct p11kms_stored {
    uint8_t id[P11KMS_STORE_ID_LEN];
    uint64_t generation; /* of the file the attributes came from */
    /* The attributes and the value come from a file the KMS opened in this process (or that this
     * process wrote). Until then the value is NULL and the attributes are the file's word only. */
    int verified;
    /* A verified object whose file another process changed since: the new file's attributes,
     * not verified, which only C_FindObjects matches against until the object's next use
     * verifies the new file and replaces the object. NULL: none. */
    struct p11kms_object *pending;
} p11kms_stored;

/* The attributes a find template is matched against: a verified object's pending ones when its
 * file changed, else the object's own. g.lock held. */
const struct p11kms_object *p11kms_store_match_view_locked(const struct p11kms_object *o);

void p11kms_stored_free(p11kms_stored *sd);

/* The token's store from its configuration and KMS keys: the directory's path and the key that
 * seals new files. Touches no file (C_Initialize). */
CK_RV p11kms_store_new(struct p11kms_token *t, p11kms_store **out);
void p11kms_store_free(p11kms_store *st); /* C_Finalize, after the objects are gone */

/* C_FindObjectsInit: follow the directory (a rescan when it changed since the last one), and
 * for a template that names CKA_VALUE, unseal the stored data objects it could match. Problems
 * reading the directory are logged, never fatal: the objects already known stay. */
CK_RV p11kms_store_prepare_find(struct p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n);

/* What a caller of p11kms_store_use is about to do with the object. */
#define P11KMS_USE_ATTRS 0x0u /* read attributes: follow a change of the file */
#define P11KMS_USE_VALUE 0x1u /* use the value: unsealed and verified first */
#define P11KMS_USE_READ 0x2u  /* C_GetAttributeValue of CKA_VALUE: the value if it is readable */

/*
 * Before a call works with handle h of session s: for a stored object, follow its file (gone:
 * the object leaves; changed: read again) and, as `how` asks, unseal and verify it (one KMS
 * Decrypt, then never again for that version of the file). A file that fails verification is
 * refused with one log line and its object leaves, so the caller's own lookup then answers its
 * invalid-handle code; a KMS failure (unreachable, key disabled) is returned. Anything that is
 * no stored object visible to s: CKR_OK at once. Takes and releases the locks itself.
 */
CK_RV p11kms_store_use(struct p11kms_session *s, CK_OBJECT_HANDLE h, unsigned how);

/* A new token object o (made for s, not yet in the map): checked like p11kms_object_add_new,
 * written to the store (one KMS Encrypt) and put in the map; *out its handle. On failure o is the
 * caller's, nothing is left on disk. CKR_TEMPLATE_INCONSISTENT (logged) when the token keeps no
 * token objects or has no storage key; CKR_DEVICE_ERROR / CKR_DEVICE_MEMORY (logged) when the
 * directory cannot be made or written. */
CK_RV p11kms_store_add(struct p11kms_session *s, struct p11kms_object *o, CK_OBJECT_HANDLE_PTR out);

/* C_SetAttributeValue of a stored object: begin takes the directory's writers' lock and brings
 * the object up to date and verified (it may unseal); rewrite seals `staged` (the changed copy)
 * as the next generation of o's file and replaces it (one KMS Encrypt); end releases the lock.
 * For anything else begin does nothing and rewrite is not called. */
typedef struct p11kms_store_guard {
    int lock_fd; /* -1: none held */
} p11kms_store_guard;
CK_RV p11kms_store_write_begin(struct p11kms_session *s, CK_OBJECT_HANDLE h, p11kms_store_guard *g);
CK_RV p11kms_store_rewrite(p11kms_store_guard *g, struct p11kms_object *o,
                           const struct p11kms_object *staged);
void p11kms_store_write_end(p11kms_store_guard *g);

/* C_DestroyObject of stored object o (referenced, handle h): its file removed under the writers'
 * lock, then o leaves the map. A file of that id that comes back is refused in this process. */
CK_RV p11kms_store_remove(struct p11kms_object *o, CK_OBJECT_HANDLE h);

#endif
