/* asym.h - asymmetric KMS keys in the core: one p11kms_asym_key per configured EC or RSA key,
 * shared by its CKO_PRIVATE_KEY, CKO_PUBLIC_KEY and (with a certificate) CKO_CERTIFICATE
 * objects (asym-objects.h); the public key asked of the backend on first need and kept. Below
 * the objects: knows nothing of sessions or the object map. */
#ifndef P11KMS_ASYM_H
#define P11KMS_ASYM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "cert.h"
#include "config.h"
#include "keytype.h"
#include "keyset.h"

/*
 * Threads: everything but the public half is fixed once the objects exist. The public half is
 * filled once, by the first caller that needs it, under `lock` (never g.lock: it may call the
 * KMS); `have_public` is then set with release order and never cleared, so readers that see it
 * (acquire) read the fields without a lock.
 */
typedef struct p11kms_asym_key {
    atomic_int refs; /* one per object, per operation using it */
    const p11kms_key_config *kcfg;
    const p11kms_key_type_info *type;
    p11kms_keyset *keyset;   /* owned; one entry: an asymmetric key is one KMS key */
    p11kms_backend *backend; /* p11kms_keyset_primary(keyset) */
    p11kms_cert *cert;       /* NULL without a configured certificate */

    pthread_mutex_t lock;
    atomic_int have_public;
    EVP_PKEY *pub;
    uint8_t *spki; /* CKA_PUBLIC_KEY_INFO */
    size_t spki_len;
    uint8_t *modulus, *exponent; /* RSA: CKA_MODULUS, CKA_PUBLIC_EXPONENT (big-endian) */
    size_t modulus_len, exponent_len;
    uint8_t *ec_point; /* EC: CKA_EC_POINT, the DER OCTET STRING of the uncompressed point */
    size_t ec_point_len;
} p11kms_asym_key;

/* The key of kc (an asymmetric type): its backend instance (no network) and, when one is
 * named, its certificate file, which must hold a key of the configured type. One reference for
 * the caller. CKR_ARGUMENTS_BAD (logged), CKR_HOST_MEMORY, the backend's errors. */
CK_RV p11kms_asym_key_new(const p11kms_key_config *kc, p11kms_asym_key **out);
p11kms_asym_key *p11kms_asym_key_ref(p11kms_asym_key *k);
void p11kms_asym_key_put(p11kms_asym_key *k); /* NULL is fine */

/* The public half, asked of the backend the first time and kept: CKR_OK once it is there.
 * The backend's answer must be a key of the configured type and, with a certificate, the
 * certificate's key; otherwise CKR_DEVICE_ERROR (logged). Without g.lock. */
CK_RV p11kms_asym_public(p11kms_asym_key *k);

/* A signature or decryption by the key's KMS, as one KMS use: the report reset and the clock
 * read before (returns the start), one audit record (audit.h) after with op "sign" or
 * "decrypt". */
uint64_t p11kms_asym_use_begin(void);
void p11kms_asym_use_end(const p11kms_asym_key *k, const char *op, CK_RV rv, uint64_t t0);
/* An audit record of a use the module refused itself, with no KMS call (the kill switch). */
void p11kms_asym_use_refused(const p11kms_asym_key *k, const char *op, CK_RV rv);

/* Whether an attribute's value comes from the public half (CKA_MODULUS, CKA_PUBLIC_EXPONENT,
 * CKA_EC_POINT, CKA_PUBLIC_KEY_INFO). */
int p11kms_asym_attr_from_public(CK_ATTRIBUTE_TYPE type);

/* The mechanisms the key allows (CKA_ALLOWED_MECHANISMS), as a static array. */
const CK_MECHANISM_TYPE *p11kms_asym_mechanisms(const p11kms_asym_key *k, size_t *n);

#endif
