/* mech.c - the mechanism table: what the module offers, key sizes and flags. Envelope
 * mechanisms act with KMS keys; ECDSA and RSA with asymmetric KMS keys; the others with data
 * keys held by the module; AES key wrap with padding with either. */
#include "mech.h"
#include "object.h"
#include "state.h"

/* named prime curves, uncompressed points */
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const struct {
    CK_MECHANISM_TYPE type;
    CK_ULONG min, max;
    CK_FLAGS flags;
} mechs[] = {
    {CKM_AES_KEY_GEN, 16, 32, CKF_GENERATE},
    {CKM_GENERIC_SECRET_KEY_GEN, 8, P11KMS_DATA_KEY_MAX * 8, CKF_GENERATE},
    {CKM_AES_GCM, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CBC_PAD, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CBC, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_ECB, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CTR, 16, 32, CKF_ENCRYPT | CKF_DECRYPT},
    {CKM_AES_CMAC, 16, 32, CKF_SIGN | CKF_VERIFY},
    {CKM_AES_CMAC_GENERAL, 16, 32, CKF_SIGN | CKF_VERIFY},
    /* With an AES data key: RFC 3394 / RFC 5649. The padded ones with a KMS key: the key's
     * default context, and the output is a p11kms envelope. */
    {CKM_AES_KEY_WRAP, 16, 32, CKF_WRAP | CKF_UNWRAP},
    {CKM_AES_KEY_WRAP_PAD, 16, 32, CKF_WRAP | CKF_UNWRAP},
    {CKM_AES_KEY_WRAP_KWP, 16, 32, CKF_WRAP | CKF_UNWRAP},
    {CKM_P11KMS_ENVELOPE, 32, 32, CKF_HW | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP},
    {CKM_P11KMS_ENVELOPE_ENCODED, 32, 32,
     CKF_HW | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP},
    {CKM_P11KMS_REWRAP, 32, 32, CKF_HW | CKF_ENCRYPT},
    /* With asymmetric KMS keys (key sizes in bits): signing in the KMS, verifying and
     * encrypting here with the public key, decrypting in the KMS (sign-asym.c, crypt-asym.c). */
    {CKM_ECDSA, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
    {CKM_ECDSA_SHA256, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
    {CKM_ECDSA_SHA384, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
    {CKM_ECDSA_SHA512, 256, 521, CKF_SIGN | CKF_VERIFY | EC_FLAGS},
    {CKM_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA256_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA384_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA512_RSA_PKCS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA256_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA384_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_SHA512_RSA_PKCS_PSS, 2048, 4096, CKF_SIGN | CKF_VERIFY},
    {CKM_RSA_PKCS_OAEP, 2048, 4096, CKF_ENCRYPT | CKF_DECRYPT},
};
#define N_MECHS (sizeof(mechs) / sizeof(mechs[0]))

CK_RV p11kms_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    CK_ULONG i;

    if (p11kms_token_get(slot) == NULL)
        return CKR_SLOT_ID_INVALID;
    if (list == NULL) {
        *count = N_MECHS;
        return CKR_OK;
    }
    if (*count < N_MECHS) {
        *count = N_MECHS;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (i = 0; i < N_MECHS; i++)
        list[i] = mechs[i].type;
    *count = N_MECHS;
    return CKR_OK;
}

CK_RV p11kms_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
    size_t i;

    if (p11kms_token_get(slot) == NULL)
        return CKR_SLOT_ID_INVALID;
    for (i = 0; i < N_MECHS; i++) {
        if (mechs[i].type == type) {
            info->ulMinKeySize = mechs[i].min;
            info->ulMaxKeySize = mechs[i].max;
            info->flags = mechs[i].flags;
            return CKR_OK;
        }
    }
    return CKR_MECHANISM_INVALID;
}

int p11kms_mech_allows(CK_MECHANISM_TYPE type, CK_FLAGS flag)
{
    size_t i;

    for (i = 0; i < N_MECHS; i++)
        if (mechs[i].type == type)
            return (mechs[i].flags & flag) != 0;
    return 0;
}

int p11kms_mech_is_envelope(CK_MECHANISM_TYPE type)
{
    return type == CKM_P11KMS_ENVELOPE || type == CKM_P11KMS_ENVELOPE_ENCODED ||
           type == CKM_AES_KEY_WRAP_PAD || type == CKM_AES_KEY_WRAP_KWP;
}
