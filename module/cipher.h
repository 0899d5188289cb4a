/* cipher.h - symmetric operations with data keys (session secret keys) through OpenSSL EVP:
 * CKM_AES_GCM, CKM_AES_CBC_PAD, CKM_AES_CBC, CKM_AES_ECB, CKM_AES_CTR, single and multi-part,
 * with exact output sizes so callers can apply the two-call length convention before touching
 * any state. */
#ifndef P11KMS_CIPHER_H
#define P11KMS_CIPHER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "pkcs11/p11kms.h"

typedef struct p11kms_cipher p11kms_cipher;

/* Whether this module does mech with data keys. */
int p11kms_cipher_supports(CK_MECHANISM_TYPE mech);

/* Start an operation. The key bytes are copied into the OpenSSL context (caller wipes its own).
 * CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID (IV length, tag bits, counter bits, a
 * parameter where none is taken, or none where one is needed), CKR_KEY_SIZE_RANGE,
 * CKR_HOST_MEMORY. */
CK_RV p11kms_cipher_init(p11kms_cipher **out, const CK_MECHANISM *mech, int encrypt,
                         const uint8_t *key, size_t key_len);
/* Re-key an existing operation object with a new mechanism/key, reusing its allocations
 * (the hot path for C_EncryptInit after C_Encrypt). Same errors as init. */
CK_RV p11kms_cipher_reinit(p11kms_cipher *c, const CK_MECHANISM *mech, int encrypt,
                           const uint8_t *key, size_t key_len);
void p11kms_cipher_free(p11kms_cipher *c);

/* Exact bytes that update(in_len) / final() / one-shot(in_len) will write. For GCM decrypt,
 * update writes nothing (plaintext is released by final, after the tag is verified). */
size_t p11kms_cipher_update_len(const p11kms_cipher *c, size_t in_len);
size_t p11kms_cipher_final_len(const p11kms_cipher *c);
size_t p11kms_cipher_oneshot_len(const p11kms_cipher *c, size_t in_len);

/* out must hold the *_len() value. *out_len gets the bytes written.
 * Errors: CKR_DATA_LEN_RANGE (encrypting: CBC/ECB input not a block multiple, CTR input that
 * would wrap the counter), CKR_ENCRYPTED_DATA_LEN_RANGE (the same when decrypting),
 * CKR_ENCRYPTED_DATA_INVALID (bad padding, GCM tag mismatch), CKR_GENERAL_ERROR.
 * After final or an error the operation is over (reinit to reuse). */
CK_RV p11kms_cipher_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                           size_t *out_len);
CK_RV p11kms_cipher_final(p11kms_cipher *c, uint8_t *out, size_t *out_len);
CK_RV p11kms_cipher_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                            size_t *out_len);

/* The AES-256-GCM implementation fetched once for the module (shared with the local backend). */
const EVP_CIPHER *p11kms_cipher_fetched_aes256gcm(void);
/* Release the fetched implementations (C_Finalize, after every operation has ended). */
void p11kms_cipher_global_free(void);

#endif
