/* store-seal.h - sealing and opening a stored object's file (docs/store.md): a random file key
 * sealed by a KMS key as a p11kms envelope of purpose 3 whose context binds the object's identity,
 * token and attributes, and the value under that file key with AES-256-GCM. No shared state; the
 * KMS calls run on the caller's thread without module locks. */
#ifndef P11KMS_STORE_SEAL_H
#define P11KMS_STORE_SEAL_H

#include "backend.h"
#include "object.h"
#include "secmem.h"
#include "store-file.h"

#define P11KMS_CONTEXT_OBJECT_KEY "p11kms:object"
#define P11KMS_CONTEXT_TOKEN_KEY "p11kms:token"
#define P11KMS_CONTEXT_ATTRS_KEY "p11kms:attrs"

/* The whole file of o (a data key or data object whose value is present) as generation gen of
 * object id on token `token`, its file key sealed by be: one KMS Encrypt. */
CK_RV p11kms_store_seal(p11kms_backend *be, const char *token, const p11kms_object *o,
                        const uint8_t id[P11KMS_STORE_ID_LEN], uint64_t gen, p11kms_buf *file);

/*
 * Open a parsed file of token `token` with the first of keys[0..n) whose KMS key sealed it
 * (NULL entries are skipped): its value into *value (secret; value_len bytes). One KMS Decrypt.
 * CKR_ENCRYPTED_DATA_INVALID when the file is not authentic - the sealed key is malformed, of
 * another purpose or sealed by a key not in keys, the KMS refused the context, or the GCM tag
 * failed - with *why naming it; the caller logs one line. Other errors (KMS unreachable or
 * denied, memory) pass through as the backend returned them. *asked is set once the KMS was
 * called. *used (may be NULL) gets the index of the key that opened it.
 */
CK_RV p11kms_store_open(p11kms_backend *const *keys, size_t n, const char *token,
                        const p11kms_store_file *f, p11kms_buf *value, int *asked, size_t *used,
                        const char **why);

/*
 * The file f re-sealed under dst (rewrap: the newest key version, or another key): the file key
 * moves from the key that sealed it (found in keys as for p11kms_store_open) to dst, through the
 * backend's ReEncrypt when src and dst are of one backend and it has one, else one Decrypt and
 * one Encrypt. Attributes and the GCM part are unchanged. Errors as p11kms_store_open.
 */
CK_RV p11kms_store_reseal(p11kms_backend *const *keys, size_t n, p11kms_backend *dst,
                          const char *token, const p11kms_store_file *f, p11kms_buf *file,
                          const char **why);

/* The key version and key reference of the file's sealed key (no KMS call); -1 when the envelope
 * does not parse. key_ref is copied into ref (cut to ref_size). */
int p11kms_store_sealed_by(const p11kms_store_file *f, uint8_t *backend_id, uint32_t *version,
                           char *ref, size_t ref_size);

#endif
