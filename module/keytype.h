/* keytype.h - the kinds of key a configuration names ("type"): AES envelope keys and the
 * asymmetric EC and RSA keys that sign and decrypt in the KMS, with the facts every layer needs
 * (PKCS#11 key type, size, curve, signature length), and the signing and OAEP algorithms
 * backends are asked for. A leaf: no state, no locks. */
#ifndef P11KMS_KEYTYPE_H
#define P11KMS_KEYTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "pkcs11/p11kms.h"

enum p11kms_key_type {
    P11KMS_KT_AES = 0, /* an envelope key (the default) */
    P11KMS_KT_EC_P256,
    P11KMS_KT_EC_P384,
    P11KMS_KT_EC_P521,
    P11KMS_KT_EC_SECP256K1,
    P11KMS_KT_RSA_2048,
    P11KMS_KT_RSA_3072,
    P11KMS_KT_RSA_4096,
    P11KMS_KT_COUNT
};

typedef struct p11kms_key_type_info {
    int type;
    const char *name;  /* as the configuration and "p11kms keygen --type" spell it */
    CK_KEY_TYPE ckk;   /* CKK_AES, CKK_EC, CKK_RSA */
    unsigned bits;     /* RSA modulus bits; EC order bits; AES 256 */
    const char *group; /* EC: OpenSSL's group name ("prime256v1"); NULL otherwise */
    /* EC: CKA_EC_PARAMS, the DER OID of the named curve */
    const uint8_t *ec_params;
    size_t ec_params_len;
    /* Bytes of a PKCS#11 signature: r || s for EC, the modulus length for RSA; 0 for AES */
    size_t sig_len;
    /* EC: the digest length the KMS signs for this curve (its one ECDSA hash); 0 otherwise */
    size_t ec_digest_len;
} p11kms_key_type_info;

/* The entry of a type, or NULL. */
const p11kms_key_type_info *p11kms_key_type_get(int type);
/* By configuration name ("ec-p256"), or NULL. */
const p11kms_key_type_info *p11kms_key_type_by_name(const char *name);
/* The type of an OpenSSL key (RSA of a listed size, EC on a listed named curve), or -1. */
int p11kms_key_type_of_pkey(const EVP_PKEY *pk);
/* The names, for error lines: "aes, ec-p256, ...". */
extern const char p11kms_key_type_names[];
static inline int p11kms_key_type_is_asym(int type)
{
    return type > P11KMS_KT_AES && type < P11KMS_KT_COUNT;
}

/* What a backend signs: the digest is the algorithm's hash, computed by the caller. */
enum p11kms_sig_alg {
    P11KMS_SIG_ECDSA_SHA256 = 1,
    P11KMS_SIG_ECDSA_SHA384,
    P11KMS_SIG_ECDSA_SHA512,
    P11KMS_SIG_RSA_PKCS1_SHA256,
    P11KMS_SIG_RSA_PKCS1_SHA384,
    P11KMS_SIG_RSA_PKCS1_SHA512,
    P11KMS_SIG_RSA_PSS_SHA256, /* MGF1 with the same hash, salt as long as the hash */
    P11KMS_SIG_RSA_PSS_SHA384,
    P11KMS_SIG_RSA_PSS_SHA512,
};
/* RSA-OAEP with MGF1 on the same hash and an empty label. */
enum p11kms_oaep_alg {
    P11KMS_OAEP_SHA1 = 1,
    P11KMS_OAEP_SHA256,
};

/* The hash of a signing or OAEP algorithm, as OpenSSL names it ("SHA256"), and its length;
 * NULL / 0 for an unknown value. */
const char *p11kms_sig_alg_md(int alg);
size_t p11kms_sig_alg_digest_len(int alg);
const char *p11kms_oaep_alg_md(int alg);
size_t p11kms_oaep_alg_digest_len(int alg);
/* The scheme of a signing algorithm. */
/* A PEM public key ("PUBLIC KEY", as Vault and Cloud KMS give it) as DER SubjectPublicKeyInfo
 * (malloc'd): CKR_OK, CKR_DEVICE_ERROR when pem holds none, or CKR_HOST_MEMORY. */
CK_RV p11kms_pem_public_to_spki(const char *pem, uint8_t **der, size_t *der_len);
static inline int p11kms_sig_alg_is_ecdsa(int alg)
{
    return alg >= P11KMS_SIG_ECDSA_SHA256 && alg <= P11KMS_SIG_ECDSA_SHA512;
}
static inline int p11kms_sig_alg_is_pss(int alg)
{
    return alg >= P11KMS_SIG_RSA_PSS_SHA256 && alg <= P11KMS_SIG_RSA_PSS_SHA512;
}

#endif
