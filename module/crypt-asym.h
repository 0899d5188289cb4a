/* crypt-asym.h - C_Encrypt/C_Decrypt with RSA KMS keys: CKM_RSA_PKCS_OAEP only (SHA-1 or
 * SHA-256, MGF1 on the same hash, no label, as the KMS decrypts). Decryption goes to the KMS
 * with the private key object; encryption is done here with the public key object. No raw RSA
 * and no PKCS#1 v1.5 decryption: they would make the KMS a padding oracle. */
#ifndef P11KMS_CRYPT_ASYM_H
#define P11KMS_CRYPT_ASYM_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "secmem.h"

struct p11kms_asym_key;
typedef struct p11kms_crypt_asym p11kms_crypt_asym;

/* Check mech and key k (CKR_MECHANISM_INVALID for any other mechanism,
 * CKR_MECHANISM_PARAM_INVALID, CKR_KEY_TYPE_INCONSISTENT for an EC key,
 * CKR_KEY_FUNCTION_NOT_PERMITTED when !permitted: the caller's verdict on the object, a public
 * key with CKA_ENCRYPT to encrypt, a private key with CKA_DECRYPT to decrypt) and take a
 * reference to k into *out. */
CK_RV p11kms_crypt_asym_begin(const CK_MECHANISM *mech, struct p11kms_asym_key *k, int permitted,
                              int encrypt, p11kms_crypt_asym **out);
/* Without g.lock: encryption loads the public key (may call the KMS). */
CK_RV p11kms_crypt_asym_start(p11kms_crypt_asym *a);
/* An upper bound of the output for in_len bytes of input, without a KMS call. */
size_t p11kms_crypt_asym_bound(const p11kms_crypt_asym *a, size_t in_len);
/* The whole operation on in: the result into out (secret when decrypting).
 * CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID (does not open),
 * the backend's errors. */
CK_RV p11kms_crypt_asym_run(p11kms_crypt_asym *a, const uint8_t *in, size_t in_len,
                            p11kms_buf *out);
void p11kms_crypt_asym_free(p11kms_crypt_asym *a); /* NULL is fine */

#endif
