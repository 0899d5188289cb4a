/* keywrap.h - C_WrapKey/C_UnwrapKey with an AES data key as the wrapping key: CKM_AES_KEY_WRAP
 * (RFC 3394) and CKM_AES_KEY_WRAP_PAD / CKM_AES_KEY_WRAP_KWP (RFC 5649). With a KMS key the same
 * mechanisms are the envelope (wrap.c), which asks p11kms_keywrap_applies which one it is. */
#ifndef P11KMS_KEYWRAP_H
#define P11KMS_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "attrs.h"
#include "session.h"

/* The longest wrapped data key: the longest value plus the integrity block. */
#define P11KMS_KEYWRAP_MAX (P11KMS_DATA_KEY_MAX + 8)

/* The algorithms: RFC 3394 (mech CKM_AES_KEY_WRAP) or RFC 5649 (CKM_AES_KEY_WRAP_PAD/_KWP) with
 * a 16/24/32-byte kek and iv NULL for the default (8 or 4 bytes otherwise). wrap: out has room
 * for p11kms_keywrap_len(in_len); unwrap: for in_len. 0 when the input has a length the
 * mechanism refuses, when an unwrap's integrity check fails, or when OpenSSL does. */
int p11kms_keywrap_run(CK_MECHANISM_TYPE mech, const uint8_t *iv, const uint8_t *kek,
                       size_t kek_len, int wrap, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t *out_len);
/* The wrapped length of a len-byte key. */
size_t p11kms_keywrap_len(CK_MECHANISM_TYPE mech, size_t len);

/* Whether C_WrapKey/C_UnwrapKey with mech and (un)wrapping key h belongs here: always for
 * CKM_AES_KEY_WRAP, for the padded ones when h is a data key. Takes g.lock for the look-up. */
int p11kms_keywrap_applies(p11kms_session *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE h);

/* The wrapping key: an AES data key with CKA_WRAP. The key: an extractable data key (not a KMS
 * key, not the wrapping key itself), CKA_WRAP_WITH_TRUSTED only under a CKA_TRUSTED key; for
 * CKM_AES_KEY_WRAP a multiple of 8 bytes, at least 16 (CKR_KEY_SIZE_RANGE). */
CK_RV p11kms_keywrap_wrap(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
                          CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* The unwrapping key: an AES data key with CKA_UNWRAP. CKR_WRAPPED_KEY_LEN_RANGE for a length
 * the mechanism cannot produce, CKR_WRAPPED_KEY_INVALID when the integrity check fails; the new
 * object comes from p11kms_unwrap_stage/commit and its template rules. */
CK_RV p11kms_keywrap_unwrap(p11kms_session *s, CK_MECHANISM_PTR mech,
                            CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR in, CK_ULONG in_len,
                            CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out);

#endif
