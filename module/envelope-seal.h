/* envelope-seal.h - envelopes made and opened with a key's KMS entries (keyset.h), for
 * C_WrapKey/C_UnwrapKey (wrap.c), C_Encrypt/C_Decrypt with a KMS key (crypt.c) and the object
 * store (store-seal.c): the purpose bound into what the KMS authenticates, the refusals before any
 * KMS call, the wrap policy, the failover between entries, and the audit record of every KMS use.
 * The format is envelope.h's. */
#ifndef P11KMS_ENVELOPE_SEAL_H
#define P11KMS_ENVELOPE_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "keyset.h"
#include "context.h"
#include "envelope.h"
#include "secmem.h"

/* The context the KMS binds for an envelope of this version and purpose: for version 2 the
 * application's ctx plus the reserved pair "p11kms:purpose" = "wrapped-key", "data" or
 * "stored-object" (built in *view, no copy); for version 1 ctx as it is. *bound points at one of
 * the two. The one place the purpose enters what a backend sees (seal, open, and any caller of a
 * backend's reencrypt). */
#define P11KMS_CONTEXT_PURPOSE_KEY "p11kms:purpose"
CK_RV p11kms_envelope_kms_context(const p11kms_context *ctx, uint8_t version, uint8_t purpose,
                                  p11kms_context_view *view, const p11kms_context **bound);
/* Envelope-encrypt pt under every current entry of ks as one version-2 envelope of `purpose`
 * (P11KMS_PURPOSE_WRAPPED_KEY from C_WrapKey, _DATA from C_Encrypt, _STORED_OBJECT from the
 * object store), one blob per entry in configured order: the whole encoded envelope in *out
 * (public data). Wrap policy "all": the first failing entry fails the call with its CK_RV; "any":
 * failing entries are left out (one log line each) and the call fails only when none succeeded.
 * Previous entries never wrap. */
CK_RV p11kms_envelope_seal(p11kms_keyset *ks, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *pt, size_t pt_len, p11kms_buf *out);
/* Open an envelope with ks as `purpose` (WRAPPED_KEY for C_UnwrapKey, DATA for C_Decrypt,
 * STORED_OBJECT for the object store).
 * CKR_WRAPPED_KEY_INVALID, before any KMS call and with one log line, for a malformed envelope,
 * one no entry of ks made, one of the other purpose, or a version-1 envelope opened as DATA
 * when the key's configuration lacks decrypt_v1_envelopes. Then the entries that own a blob,
 * current ones in configured order, then previous ones; for each, the call's context, then (when
 * the call uses the key's default context) its accepted_contexts. The next entry is tried only
 * after an availability fault (kms-report.h), within the key set's deadline; a definitive
 * refusal ends the call with the backend's CK_RV (CKR_ENCRYPTED_DATA_INVALID when the KMS
 * refuses the ciphertext). One log line names the entry that served. *asked is set once a KMS
 * was called. */
CK_RV p11kms_envelope_open(p11kms_keyset *ks, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *in, size_t in_len, p11kms_buf *pt, int *asked);
/* Move a wrapped-key envelope to ks's current KMS key(s), keeping its context: through the KMS's
 * own re-encrypt when the blob is the single current entry's (a rotated key version; Vault
 * rewrap, AWS ReEncrypt), else opened and sealed again in the module (previous keys, several
 * entries, accepted old contexts, version 1). The new envelope in *out; CKR_WRAPPED_KEY_INVALID
 * for anything but a wrapped-key envelope; refusals as p11kms_envelope_open's. */
CK_RV p11kms_envelope_rewrap(p11kms_keyset *ks, const p11kms_context *ctx, const uint8_t *in,
                             size_t in_len, p11kms_buf *out, int *asked);
/* Bytes an envelope from ks can take for pt_len bytes of plaintext (no KMS call). */
size_t p11kms_envelope_bound(p11kms_keyset *ks, size_t pt_len);

#endif
