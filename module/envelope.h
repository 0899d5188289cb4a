/* envelope.h - the versioned, self-describing envelope format (docs/envelope.md): what the
 * envelope holds (a wrapped key or data) and which backend and KMS key (and version) produced
 * each KMS ciphertext. Bounded parser; the encoder writes version 2 only. */
#ifndef P11KMS_ENVELOPE_H
#define P11KMS_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

#define P11KMS_ENVELOPE_MAGIC "PKMS"
#define P11KMS_ENVELOPE_VERSION 2   /* what the encoder writes */
#define P11KMS_ENVELOPE_VERSION_1 1 /* still parsed: made before envelopes said what they hold */
#define P11KMS_ENVELOPE_MAX_BLOBS 8
#define P11KMS_KEY_REF_MAX 2048
#define P11KMS_BLOB_CT_MAX 8192
/* Bytes an envelope adds around its blobs: header (magic, version, purpose, count; version 1
 * has no purpose byte), plus per blob fixed fields. */
#define P11KMS_ENVELOPE_HEADER_LEN 7
#define P11KMS_ENVELOPE_V1_HEADER_LEN 6
#define P11KMS_ENVELOPE_BLOB_OVERHEAD 11

/* What an envelope holds, as its purpose byte says (version 2). Never renumber. */
enum p11kms_envelope_purpose {
    P11KMS_PURPOSE_UNKNOWN = 0,       /* version 1: not recorded */
    P11KMS_PURPOSE_WRAPPED_KEY = 1,   /* made by C_WrapKey; opened only by C_UnwrapKey */
    P11KMS_PURPOSE_DATA = 2,          /* made by C_Encrypt; opened only by C_Decrypt */
    P11KMS_PURPOSE_STORED_OBJECT = 3, /* a stored object's file key (store-seal.c); opened only
                                       * by the object store, never by C_Decrypt/C_UnwrapKey */
};

/* One KMS ciphertext: what one backend made of one data key. */
typedef struct p11kms_kms_blob {
    uint8_t backend_id;   /* the backend's envelope_id (backend.h); never renumbered */
    char *key_ref;        /* NUL-terminated, 1..P11KMS_KEY_REF_MAX bytes */
    uint32_t key_version; /* 0 when the backend's ciphertext carries its own version */
    uint8_t *ct;    /* 1..P11KMS_BLOB_CT_MAX bytes */
    size_t ct_len;
} p11kms_kms_blob;

typedef struct p11kms_envelope {
    uint8_t version; /* parsed: 1 or 2; ignored by the encoder, which writes 2 */
    uint8_t purpose; /* enum p11kms_envelope_purpose; UNKNOWN only for version 1 */
    p11kms_kms_blob blobs[P11KMS_ENVELOPE_MAX_BLOBS];
    size_t n;
} p11kms_envelope;

void p11kms_kms_blob_clear(p11kms_kms_blob *b);
void p11kms_envelope_clear(p11kms_envelope *e);

/* "wrapped key", "data", "stored object" or "v1/unknown", for log lines and the tool. */
const char *p11kms_envelope_purpose_name(const p11kms_envelope *e);

/* Exact encoded size (version 2); 0 if the envelope breaks a bound or its purpose is not
 * WRAPPED_KEY, DATA or STORED_OBJECT. */
size_t p11kms_envelope_encoded_len(const p11kms_envelope *e);
/* Encode into out (*out_len in: capacity, out: bytes written or needed).
 * CKR_BUFFER_TOO_SMALL when out is NULL or short (with *out_len set), CKR_GENERAL_ERROR for an
 * envelope that breaks a bound. */
CK_RV p11kms_envelope_encode(const p11kms_envelope *e, uint8_t *out, size_t *out_len);
/* Parse version 2, or version 1 (purpose UNKNOWN); every defect (magic, version, purpose,
 * bounds, trailing bytes) is CKR_WRAPPED_KEY_INVALID. On success e owns copies of everything;
 * clear it with p11kms_envelope_clear. */
CK_RV p11kms_envelope_parse(const uint8_t *in, size_t len, p11kms_envelope *e);

#endif
