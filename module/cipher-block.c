/* cipher-block.c - the block modes with data keys: CKM_AES_CBC_PAD (PKCS#7 padding),
 * CKM_AES_CBC and CKM_AES_ECB (whole blocks only), single and multi-part. */
/*
 * Threads: the operation object belongs to one session operation (see cipher.c).
 * OpenSSL holds back the partial block of a multi-part operation (and, decrypting with padding,
 * a last whole block that may be the padding); `held` mirrors that so every output length is
 * known before any call.
 */
#include <string.h>
#include "cipher-impl.h"

static CK_RV cbc_parse(const CK_MECHANISM *mech, cipher_setup *s)
{
    if (mech->pParameter == NULL || mech->ulParameterLen != AES_BLOCK)
        return CKR_MECHANISM_PARAM_INVALID;
    s->kind = KIND_CBC;
    s->iv = mech->pParameter;
    s->iv_len = AES_BLOCK;
    return CKR_OK;
}

static CK_RV ecb_parse(const CK_MECHANISM *mech, cipher_setup *s)
{
    if (mech->pParameter != NULL || mech->ulParameterLen != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    s->kind = KIND_ECB;
    return CKR_OK;
}

static int padded(const p11kms_cipher *c)
{
    return c->mech == CKM_AES_CBC_PAD;
}

static CK_RV block_start(p11kms_cipher *c, const EVP_CIPHER *cipher, const cipher_setup *s,
                         const uint8_t *key)
{
    CK_RV rv = p11kms_cipher_evp_start(c, cipher, key, s->iv, s->iv_len, 0);

    if (rv == CKR_OK && EVP_CIPHER_CTX_set_padding(c->evp, padded(c)) != 1)
        rv = CKR_GENERAL_ERROR;
    return rv;
}

/* Bytes OpenSSL keeps back after `total` bytes of input: the partial block and, when
 * decrypting with padding, a last whole block that may turn out to be the padding. */
static size_t block_held(const p11kms_cipher *c, size_t total)
{
    size_t rem = total % AES_BLOCK;

    if (rem == 0 && total > 0 && padded(c) && !c->encrypt)
        return AES_BLOCK;
    return rem;
}

static size_t block_update_len(const p11kms_cipher *c, size_t in_len)
{
    size_t total = c->held + in_len;

    return total - block_held(c, total);
}

static size_t block_final_len(const p11kms_cipher *c)
{
    if (!padded(c))
        return 0;
    if (c->encrypt)
        return AES_BLOCK; /* the held partial block plus its padding */
    /* The padding (1..16 bytes) is only known after decrypting the last block. */
    return c->held == AES_BLOCK ? AES_BLOCK - 1 : 0;
}

static size_t block_oneshot_len(const p11kms_cipher *c, size_t in_len)
{
    if (!padded(c))
        return in_len;
    if (c->encrypt)
        return (in_len / AES_BLOCK + 1) * AES_BLOCK;
    return in_len >= AES_BLOCK ? in_len - 1 : 0;
}

static CK_RV length_error(const p11kms_cipher *c)
{
    return c->encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
}

static CK_RV block_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                          size_t *out_len)
{
    size_t want = block_update_len(c, in_len), n = 0;

    if (in_len > 0) {
        if (!p11kms_cipher_evp_update(c->evp, in, in_len, out, &n) || n != want)
            return CKR_GENERAL_ERROR;
        c->held = block_held(c, c->held + in_len);
    }
    *out_len = want;
    return CKR_OK;
}

static CK_RV block_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (!padded(c) && c->held != 0)
        return length_error(c);
    if (padded(c) && !c->encrypt && c->held != AES_BLOCK)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (EVP_CipherFinal_ex(c->evp, out != NULL ? out : none, &n) != 1)
        return c->encrypt ? CKR_GENERAL_ERROR : CKR_ENCRYPTED_DATA_INVALID;
    if ((size_t)n > block_final_len(c))
        return CKR_GENERAL_ERROR;
    *out_len = (size_t)n;
    return CKR_OK;
}

static CK_RV block_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                           size_t *out_len)
{
    /* Length errors before any output, so no plaintext is written for a bad input. */
    if (in_len % AES_BLOCK != 0 && (!padded(c) || !c->encrypt))
        return length_error(c);
    return p11kms_cipher_parts(c, in, in_len, out, out_len);
}

#define BLOCK_MODE(mech_, parse_)                                                                  \
    {                                                                                              \
        .mech = (mech_), .parse = (parse_), .start = block_start, .update_len = block_update_len,  \
        .final_len = block_final_len, .oneshot_len = block_oneshot_len, .update = block_update,    \
        .final = block_final, .oneshot = block_oneshot,                                            \
    }

const cipher_mode p11kms_cipher_mode_cbc_pad = BLOCK_MODE(CKM_AES_CBC_PAD, cbc_parse);
const cipher_mode p11kms_cipher_mode_cbc = BLOCK_MODE(CKM_AES_CBC, cbc_parse);
const cipher_mode p11kms_cipher_mode_ecb = BLOCK_MODE(CKM_AES_ECB, ecb_parse);
