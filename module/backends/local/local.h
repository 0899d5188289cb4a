/* local.h - what the files of the local backend share: its envelope id, the name of the
 * built-in test key, its self-description hooks (local-describe.c) and its asymmetric keys
 * (local-asym.c). */
#ifndef P11KMS_LOCAL_H
#define P11KMS_LOCAL_H

#include <stddef.h>
#include <openssl/types.h>
#include "backend.h"

/* The backend byte of local ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_LOCAL_ENVELOPE_ID 1
/* key_id of the built-in, publicly known test key. */
#define P11KMS_LOCAL_TEST_KEY_ID "insecure-test-key"

extern const p11kms_backend_ops p11kms_backend_local_ops;
extern const char *const p11kms_local_options[];
extern const char p11kms_local_quick_forms[];
int p11kms_local_quick(const char *value, p11kms_quick_key *out);
CK_RV p11kms_local_check_key(p11kms_key_config *kc, char *err, size_t err_len);
void p11kms_local_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx);

/* Asymmetric keys (local-asym.c): a private key from a key file (keyfile.h) does what a KMS
 * does with one. key_ref names the key in log lines. */
CK_RV p11kms_local_public_key(EVP_PKEY *pk, p11kms_buf *spki);
CK_RV p11kms_local_sign(EVP_PKEY *pk, const char *key_ref, int alg, const uint8_t *digest,
                        size_t digest_len, p11kms_buf *sig);
CK_RV p11kms_local_oaep_decrypt(EVP_PKEY *pk, const char *key_ref, int alg, const uint8_t *ct,
                                size_t ct_len, p11kms_buf *pt);

#endif
