/* wrap.h - envelope operations with KMS keys: C_WrapKey/C_UnwrapKey, and the KMS encrypt and
 * decrypt of small secrets shared with crypt.c. Backend calls happen without g.lock. */
#ifndef P11KMS_WRAP_H
#define P11KMS_WRAP_H

#include "pkcs11/p11kms.h"
#include "backend.h"
#include "context.h"
#include "secmem.h"
#include "session.h"

CK_RV p11kms_wrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
                      CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV p11kms_unwrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping_key,
                        CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                        CK_OBJECT_HANDLE_PTR out);

/* The context the KMS binds for an envelope of this version and purpose: for version 2 the
 * application's ctx plus the reserved pair "p11kms:purpose" = "wrapped-key", "data" or
 * "stored-object" (built in *view, no copy); for version 1 ctx as it is. *bound points at one of
 * the two. The one place the purpose enters what a backend sees (seal, open, and any caller of a
 * backend's reencrypt). */
#define P11KMS_CONTEXT_PURPOSE_KEY "p11kms:purpose"
CK_RV p11kms_envelope_kms_context(const p11kms_context *ctx, uint8_t version, uint8_t purpose,
                                  p11kms_context_view *view, const p11kms_context **bound);
/* Envelope-encrypt pt with one KMS backend as a version-2 envelope of `purpose`
 * (P11KMS_PURPOSE_WRAPPED_KEY from C_WrapKey, _DATA from C_Encrypt, _STORED_OBJECT from the
 * object store): the whole encoded envelope in *out (public data). */
CK_RV p11kms_envelope_seal(p11kms_backend *be, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *pt, size_t pt_len, p11kms_buf *out);
/* Open an envelope with be as `purpose` (WRAPPED_KEY for C_UnwrapKey, DATA for C_Decrypt,
 * STORED_OBJECT for the object store).
 * CKR_WRAPPED_KEY_INVALID, before any KMS call and with one log line, for a malformed envelope,
 * one made by another key, one of the other purpose, or a version-1 envelope opened as DATA
 * when the key's configuration lacks decrypt_v1_envelopes. Backend errors pass through
 * (CKR_ENCRYPTED_DATA_INVALID when the KMS refuses). *asked is set once the KMS was called. */
CK_RV p11kms_envelope_open(p11kms_backend *be, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *in, size_t in_len, p11kms_buf *pt, int *asked);
/* Bytes an envelope from be can take for pt_len bytes of plaintext (no KMS call). */
size_t p11kms_envelope_bound(p11kms_backend *be, size_t pt_len);

/* For a KMS key object and mechanism: the KMS backend, and the context the call binds.
 * Checks the mechanism parameter (IV for AES key wrap, context for the vendor ones). */
CK_RV p11kms_envelope_context(CK_MECHANISM_PTR mech, const p11kms_context *deflt,
                              p11kms_context **out);

#endif
