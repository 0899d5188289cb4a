/* asym.h - asymmetric KMS keys in the core: one p11kms_asym_key per configured EC or RSA key,
 * shared by its CKO_PRIVATE_KEY, CKO_PUBLIC_KEY and (with a certificate) CKO_CERTIFICATE
 * objects; the public key asked of the backend on first need and kept; the attributes that come
 * from it, from the key type and from the certificate. */
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

struct p11kms_token;
struct p11kms_session;
struct p11kms_object;
struct p11kms_attr_val;

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
    p11kms_backend *backend;
    p11kms_cert *cert; /* NULL without a configured certificate */

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

/* Make the objects of one configured asymmetric key on token t: the backend instance (no
 * network), the certificate file when one is named, and the private key, public key and
 * certificate objects in the object map. g.lock held (C_Initialize). CKR_ARGUMENTS_BAD
 * (logged: an unreadable certificate, or one of another key type), CKR_HOST_MEMORY. */
CK_RV p11kms_asym_objects_create_locked(struct p11kms_token *t, const p11kms_key_config *kc);

p11kms_asym_key *p11kms_asym_key_ref(p11kms_asym_key *k);
void p11kms_asym_key_put(p11kms_asym_key *k); /* NULL is fine */

/* The public half, asked of the backend the first time and kept: CKR_OK once it is there.
 * The backend's answer must be a key of the configured type and, with a certificate, the
 * certificate's key; otherwise CKR_DEVICE_ERROR (logged). Without g.lock. */
CK_RV p11kms_asym_public(p11kms_asym_key *k);

/* Before C_GetAttributeValue of object h / C_FindObjectsInit on the session's token: when the
 * template names an attribute that comes from the public key (CKA_MODULUS,
 * CKA_PUBLIC_EXPONENT, CKA_EC_POINT, CKA_PUBLIC_KEY_INFO), load the public half of the
 * asymmetric keys concerned. Takes g.lock for the look-up only. The load's error, or CKR_OK
 * (also for a handle that names nothing: the caller reports that). */
CK_RV p11kms_asym_prepare_read(struct p11kms_session *s, CK_OBJECT_HANDLE h, const CK_ATTRIBUTE *t,
                               CK_ULONG n);
CK_RV p11kms_asym_prepare_find(struct p11kms_session *s, const CK_ATTRIBUTE *t, CK_ULONG n);

/* For attr-rules.c, g.lock held: whether an asymmetric object has the attribute at all (an EC
 * key has no CKA_MODULUS, an RSA key no CKA_EC_POINT), and the value of one of its computed
 * attributes (P11KMS_VAL_*; ABSENT for one that needs the public half before it is loaded). */
int p11kms_asym_attr_has(const struct p11kms_object *o, CK_ATTRIBUTE_TYPE type);
int p11kms_asym_attr_read(const struct p11kms_object *o, CK_ATTRIBUTE_TYPE type,
                          struct p11kms_attr_val *v);

/* The mechanisms an asymmetric object allows (CKA_ALLOWED_MECHANISMS), as a static array. */
const CK_MECHANISM_TYPE *p11kms_asym_mechanisms(const struct p11kms_object *o, size_t *n);

#endif
