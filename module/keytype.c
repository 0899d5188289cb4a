/* keytype.c - the table of key types the configuration names and of the signing and OAEP
 * algorithms backends are asked for, and the PEM public keys KMSs answer with as DER. Constant
 * data, no locks. */
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "keytype.h"

/* DER object identifiers of the named curves (RFC 5480, SEC 2). */
static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t oid_p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
static const uint8_t oid_k256[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};

#define EC(t, n, g, b, oid, d)                                                                     \
    {                                                                                              \
        t, n, CKK_EC, b, g, oid, sizeof(oid), 2 * (((b) + 7) / 8), d                               \
    }
#define RSA(t, n, b)                                                                               \
    {                                                                                              \
        t, n, CKK_RSA, b, NULL, NULL, 0, (b) / 8, 0                                                \
    }

static const p11kms_key_type_info types[P11KMS_KT_COUNT] = {
    {P11KMS_KT_AES, "aes", CKK_AES, 256, NULL, NULL, 0, 0, 0},
    EC(P11KMS_KT_EC_P256, "ec-p256", "prime256v1", 256, oid_p256, 32),
    EC(P11KMS_KT_EC_P384, "ec-p384", "secp384r1", 384, oid_p384, 48),
    EC(P11KMS_KT_EC_P521, "ec-p521", "secp521r1", 521, oid_p521, 64),
    EC(P11KMS_KT_EC_SECP256K1, "ec-secp256k1", "secp256k1", 256, oid_k256, 32),
    RSA(P11KMS_KT_RSA_2048, "rsa-2048", 2048),
    RSA(P11KMS_KT_RSA_3072, "rsa-3072", 3072),
    RSA(P11KMS_KT_RSA_4096, "rsa-4096", 4096),
};

const char p11kms_key_type_names[] =
    "aes, ec-p256, ec-p384, ec-p521, ec-secp256k1, rsa-2048, rsa-3072, rsa-4096";

const p11kms_key_type_info *p11kms_key_type_get(int type)
{
    return type >= 0 && type < P11KMS_KT_COUNT ? &types[type] : NULL;
}

const p11kms_key_type_info *p11kms_key_type_by_name(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < P11KMS_KT_COUNT; i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

int p11kms_key_type_of_pkey(const EVP_PKEY *pk)
{
    char group[64];
    size_t i, n = 0;

    if (pk == NULL)
        return -1;
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_RSA:
        for (i = 0; i < P11KMS_KT_COUNT; i++)
            if (types[i].ckk == CKK_RSA && (int)types[i].bits == EVP_PKEY_get_bits(pk))
                return types[i].type;
        return -1;
    case EVP_PKEY_EC:
        /* named curves only: a key with explicit parameters has no group name */
        if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                           &n) != 1)
            return -1;
        for (i = 0; i < P11KMS_KT_COUNT; i++)
            if (types[i].ckk == CKK_EC && strcmp(types[i].group, group) == 0)
                return types[i].type;
        return -1;
    default:
        return -1;
    }
}

const char *p11kms_sig_alg_md(int alg)
{
    switch (alg) {
    case P11KMS_SIG_ECDSA_SHA256:
    case P11KMS_SIG_RSA_PKCS1_SHA256:
    case P11KMS_SIG_RSA_PSS_SHA256:
        return "SHA256";
    case P11KMS_SIG_ECDSA_SHA384:
    case P11KMS_SIG_RSA_PKCS1_SHA384:
    case P11KMS_SIG_RSA_PSS_SHA384:
        return "SHA384";
    case P11KMS_SIG_ECDSA_SHA512:
    case P11KMS_SIG_RSA_PKCS1_SHA512:
    case P11KMS_SIG_RSA_PSS_SHA512:
        return "SHA512";
    default:
        return NULL;
    }
}

size_t p11kms_sig_alg_digest_len(int alg)
{
    const char *md = p11kms_sig_alg_md(alg);

    if (md == NULL)
        return 0;
    return strcmp(md, "SHA256") == 0 ? 32 : strcmp(md, "SHA384") == 0 ? 48 : 64;
}

const char *p11kms_oaep_alg_md(int alg)
{
    return alg == P11KMS_OAEP_SHA1 ? "SHA1" : alg == P11KMS_OAEP_SHA256 ? "SHA256" : NULL;
}

size_t p11kms_oaep_alg_digest_len(int alg)
{
    return alg == P11KMS_OAEP_SHA1 ? 20 : alg == P11KMS_OAEP_SHA256 ? 32 : 0;
}

CK_RV p11kms_pem_public_to_spki(const char *pem, uint8_t **der, size_t *der_len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *pk = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    unsigned char *p;
    CK_RV rv = CKR_DEVICE_ERROR;
    int n;

    if (pk == NULL || (n = i2d_PUBKEY(pk, NULL)) <= 0)
        goto out;
    rv = CKR_HOST_MEMORY;
    *der = malloc((size_t)n);
    if (*der == NULL)
        goto out;
    p = *der;
    if (i2d_PUBKEY(pk, &p) != n) {
        free(*der);
        *der = NULL;
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    *der_len = (size_t)n;
    rv = CKR_OK;
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    ERR_clear_error();
    return rv;
}
