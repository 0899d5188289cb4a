/* gcp-backend.h - a Cloud KMS backend instance (one configured key) as gcp-backend.c and
 * gcp-asym.c share it, and the request and answer pieces both use (bytes and CRC32C fields,
 * verified flags, the integrity retry rule). */
#ifndef P11KMS_GCP_BACKEND_H
#define P11KMS_GCP_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "backend.h"
#include "gcp-client.h"
#include "net/json.h"
#include "net/sbuf.h"

typedef struct gcp_algorithm gcp_algorithm; /* gcp-asym.c */

typedef struct gcp_backend {
    p11kms_backend base;
    p11kms_gcp_client *client;
    char *name; /* the CryptoKey's resource name: the envelope's key_ref */
    _Atomic uint32_t last_version;
    int key_type; /* the configured type (keytype.h): AES for envelope keys */
    /* Asymmetric keys: the CryptoKeyVersion that signs or decrypts (gcp-asym.c). */
    char *version_name;
    pthread_mutex_t asym_lock;      /* guards the fields below; held across the one getPublicKey */
    const gcp_algorithm *algorithm; /* the version's, NULL until getPublicKey answered */
    uint8_t *spki;                  /* its public key, DER SubjectPublicKeyInfo */
    size_t spki_len;
} gcp_backend;

/* ,"name":"<base64>" */
void p11kms_gcp_add_bytes(p11kms_sbuf *b, const char *name, const uint8_t *p, size_t n);
/* ,"name":"<decimal>" (an Int64Value goes out as a string in proto3 JSON) */
void p11kms_gcp_add_crc(p11kms_sbuf *b, const char *name, uint32_t crc);
/* An Int64Value CRC of the answer: a decimal string (as Google writes it) or a number, within
 * 32 bits. 0 ok, -1 absent or malformed. */
int p11kms_gcp_answer_crc(const p11kms_json *root, const char *name, uint32_t *out);
/* A verified* flag: true only when present and true (proto3 leaves false out). */
int p11kms_gcp_answer_flag(const p11kms_json *root, const char *name);
/* Whether another answer may be asked for after one that failed its integrity checks. */
int p11kms_gcp_may_retry(const gcp_backend *gb, int answers, uint64_t deadline);

/* The CryptoKey name and, for an asymmetric key, its CryptoKeyVersion name (key_id as a
 * version name, or key_id and the key_version option), both malloc'd. CKR_ARGUMENTS_BAD
 * (logged with kc->origin), CKR_HOST_MEMORY. */
CK_RV p11kms_gcp_key_names(const p11kms_key_config *kc, char **key, char **version);

/* Asymmetric keys (gcp-asym.c): the backend table's operations. */
CK_RV p11kms_gcp_public_key(p11kms_backend *be, p11kms_buf *spki);
CK_RV p11kms_gcp_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest, size_t digest_len,
                             p11kms_buf *sig);
CK_RV p11kms_gcp_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                              p11kms_buf *pt);

#endif
