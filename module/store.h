/* store.h - the token's object store (docs/store.md): every CKA_TOKEN=true object kept as one
 * file in the token's directory, its value sealed by the token's storage key. Objects come from
 * a scan of the directory (no KMS call); a stored value is unsealed on first use (one KMS
 * Decrypt per object per process) and then kept with the object until it is destroyed or the
 * module finalised. Several processes share a directory: writes are atomic renames, a scan
 * follows what the others did, and read-modify-writes take the directory's flock.
 *
 * The store itself, its index and loading one file: store-index.h.
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

/* Where every new object goes (C_CreateObject, C_CopyObject, C_GenerateKey, C_UnwrapKey): a
 * token object into the token's store (p11kms_store_add), a session object into the map
 * (p11kms_object_add_new). */
static inline CK_RV p11kms_store_add_new(struct p11kms_session *s, struct p11kms_object *o,
                                         CK_OBJECT_HANDLE_PTR out)
{
    return o->is_token ? p11kms_store_add(s, o, out) : p11kms_object_add_new(s, o, out);
}

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
