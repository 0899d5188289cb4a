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

/* Envelope-encrypt pt with one KMS backend: the whole encoded envelope in *out (public data). */
CK_RV p11kms_envelope_seal(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                           size_t pt_len, p11kms_buf *out);
/* Open an envelope with be: CKR_WRAPPED_KEY_INVALID for a malformed envelope or one made by
 * another key; backend errors pass through (CKR_ENCRYPTED_DATA_INVALID when the KMS refuses). */
CK_RV p11kms_envelope_open(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *in,
                           size_t in_len, p11kms_buf *pt);
/* Bytes an envelope from be can take for pt_len bytes of plaintext (no KMS call). */
size_t p11kms_envelope_bound(p11kms_backend *be, size_t pt_len);

/* For a KMS key object and mechanism: the KMS backend, and the context the call binds.
 * Checks the mechanism parameter (IV for AES key wrap, context for the vendor ones). */
CK_RV p11kms_envelope_context(CK_MECHANISM_PTR mech, const p11kms_context *deflt,
                              p11kms_context **out);

#endif
