/* envelope.h - the versioned, self-describing wrapped-key format (README "Envelope format"):
 * which backend and KMS key (and version) produced each KMS ciphertext. Bounded parser. */
#ifndef P11KMS_ENVELOPE_H
#define P11KMS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

#define P11KMS_ENVELOPE_MAGIC "PKMS"
#define P11KMS_ENVELOPE_VERSION 1
#define P11KMS_ENVELOPE_MAX_BLOBS 8
#define P11KMS_KEY_REF_MAX 2048
#define P11KMS_BLOB_CT_MAX 8192
/* Bytes an envelope adds around its blobs: header, plus per blob fixed fields. */
#define P11KMS_ENVELOPE_HEADER_LEN 6
#define P11KMS_ENVELOPE_BLOB_OVERHEAD 11

/* Backend identifiers as stored in envelopes. Never renumber. */
enum p11kms_backend_id {
    P11KMS_BACKEND_LOCAL = 1,
    P11KMS_BACKEND_AWS = 2,
    P11KMS_BACKEND_GCP = 3,
    P11KMS_BACKEND_VAULT = 4,
};

/* One KMS ciphertext: what one backend made of one data key. */
typedef struct p11kms_kms_blob {
    uint8_t backend_id;
    char *key_ref;  /* NUL-terminated, 1..P11KMS_KEY_REF_MAX bytes */
    uint32_t key_version; /* 0 when the backend's ciphertext carries its own version */
    uint8_t *ct;    /* 1..P11KMS_BLOB_CT_MAX bytes */
    size_t ct_len;
} p11kms_kms_blob;

typedef struct p11kms_envelope {
    p11kms_kms_blob blobs[P11KMS_ENVELOPE_MAX_BLOBS];
    size_t n;
} p11kms_envelope;

void p11kms_kms_blob_clear(p11kms_kms_blob *b);
void p11kms_envelope_clear(p11kms_envelope *e);

/* Exact encoded size; 0 if the envelope breaks a bound. */
size_t p11kms_envelope_encoded_len(const p11kms_envelope *e);
/* Encode into out (*out_len in: capacity, out: bytes written or needed).
 * CKR_BUFFER_TOO_SMALL when out is NULL or short (with *out_len set), CKR_GENERAL_ERROR for an
 * envelope that breaks a bound. */
CK_RV p11kms_envelope_encode(const p11kms_envelope *e, uint8_t *out, size_t *out_len);
/* Parse; every defect (magic, version, bounds, trailing bytes) is CKR_WRAPPED_KEY_INVALID.
 * On success e owns copies of everything; clear it with p11kms_envelope_clear. */
CK_RV p11kms_envelope_parse(const uint8_t *in, size_t len, p11kms_envelope *e);

#endif
