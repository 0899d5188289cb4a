/* store-seal.h - sealing and opening a stored object's file (docs/store.md): a random file key
 * sealed by a configured key's KMS entries (a key set, keyset.h) as a p11kms envelope of purpose 3
 * whose context binds the object's identity, token and attributes, and the value under that file
 * key with AES-256-GCM. Sealing and opening go through envelope-seal.h (one blob per current
 * entry, failover on availability faults only, previous entries open, every KMS use audited). No
 * shared state; the KMS calls run on the caller's thread without module locks. */
#ifndef P11KMS_STORE_SEAL_H
#define P11KMS_STORE_SEAL_H

#include "keyset.h"
#include "object.h"
#include "secmem.h"
#include "store-file.h"

#define P11KMS_CONTEXT_OBJECT_KEY "p11kms:object"
#define P11KMS_CONTEXT_TOKEN_KEY "p11kms:token"
#define P11KMS_CONTEXT_ATTRS_KEY "p11kms:attrs"

/* The whole file of o (a data key or data object whose value is present) as generation gen of
 * object id on token `token`, its file key sealed by ks: one KMS Encrypt per current entry (the
 * key's wrap policy decides whether all must succeed). */
CK_RV p11kms_store_seal(p11kms_keyset *ks, const char *token, const p11kms_object *o,
                        const uint8_t id[P11KMS_STORE_ID_LEN], uint64_t gen, p11kms_buf *file);

/*
 * Open a parsed file of token `token` with the first of keys[0..n) (NULL entries are skipped)
 * one of whose entries, current or previous, made a blob of its sealed key: its value into
 * *value (secret; value_len bytes). p11kms_envelope_open does the KMS part: one KMS Decrypt when
 * the first entry serves, the next entry only after an availability fault.
 * CKR_ENCRYPTED_DATA_INVALID when the file is not authentic - the sealed key is malformed, of
 * another purpose or sealed by a key not in keys, the KMS refused the context, or the GCM tag
 * failed - with *why naming it; the caller logs one line. Other errors (KMS unreachable or
 * denied, memory) pass through as the backend returned them. *asked is set once the KMS was
 * called. *used (may be NULL) gets the index of the key set that opened it.
 */
CK_RV p11kms_store_open(p11kms_keyset *const *keys, size_t n, const char *token,
                        const p11kms_store_file *f, p11kms_buf *value, int *asked, size_t *used,
                        const char **why);

/*
 * The file f re-sealed under dst's current entries (rewrap: the newest key versions, the entries
 * a key set has now, or another key): one blob per current entry of dst. When every current entry
 * of dst has a blob in the file made by an entry of the same backend with a ReEncrypt hook (in the
 * key set that opens the file, found in keys as for p11kms_store_open), each moves by ReEncrypt
 * and the file key never leaves the KMS; otherwise the file key is opened once
 * (p11kms_envelope_open) and sealed again (p11kms_envelope_seal). Attributes and the GCM part are
 * unchanged. Errors as p11kms_store_open.
 */
CK_RV p11kms_store_reseal(p11kms_keyset *const *keys, size_t n, p11kms_keyset *dst,
                          const char *token, const p11kms_store_file *f, p11kms_buf *file,
                          const char **why);

/* The key version and key reference of the first blob of the file's sealed key (no KMS call); -1
 * when the envelope does not parse. key_ref is copied into ref (cut to ref_size). *n_blobs (may
 * be NULL) gets the number of blobs (one per entry that sealed it). */
int p11kms_store_sealed_by(const p11kms_store_file *f, uint8_t *backend_id, uint32_t *version,
                           char *ref, size_t ref_size, size_t *n_blobs);

#endif
