/* cipher-gcm.c - CKM_AES_GCM with data keys: IVs of 1..256 bytes, AAD, tags of 32..128 bits;
 * decryption releases plaintext only at final, after the tag is verified. */
/*
 * Threads: the operation object belongs to one session operation (see cipher.c).
 * OpenSSL's GCM provider takes IVs up to 128 bytes; longer ones run through CRYPTO_gcm128 over
 * an AES-ECB block function (slow, rare).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "cipher-impl.h"

#define GCM_EVP_IV_MAX 128
#define GCM_IV_MAX 256
/* Ciphertext a GCM decryption buffers until final can check the tag. */
#define GCM_DECRYPT_MAX (64u * 1024u * 1024u)
/* A decryption buffer larger than this is released when the operation object is reused. */
#define GCM_KEEP_BUF (1u * 1024u * 1024u)

/* The GCM parameters of PKCS#11 2.40 drafts (and the implementations that followed them),
 * without ulIvBits; told apart from CK_GCM_PARAMS by ulParameterLen. */
typedef struct gcm_params_old {
    CK_BYTE_PTR pIv;
    CK_ULONG ulIvLen;
    CK_BYTE_PTR pAAD;
    CK_ULONG ulAADLen;
    CK_ULONG ulTagBits;
} gcm_params_old;

static CK_RV gcm_parse(const CK_MECHANISM *mech, cipher_setup *s)
{
    CK_ULONG tag_bits;

    if (mech->pParameter == NULL)
        return CKR_MECHANISM_PARAM_INVALID;
    if (mech->ulParameterLen == sizeof(CK_GCM_PARAMS)) {
        const CK_GCM_PARAMS *p = mech->pParameter;

        s->iv = p->pIv;
        s->iv_len = p->ulIvLen;
        s->aad = p->pAAD;
        s->aad_len = p->ulAADLen;
        tag_bits = p->ulTagBits;
    } else if (mech->ulParameterLen == sizeof(gcm_params_old)) {
        const gcm_params_old *p = mech->pParameter;

        s->iv = p->pIv;
        s->iv_len = p->ulIvLen;
        s->aad = p->pAAD;
        s->aad_len = p->ulAADLen;
        tag_bits = p->ulTagBits;
    } else {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    /* ulIvBits is ignored, as PKCS#11 2.40 says: ulIvLen is the length. */
    if (s->iv == NULL || s->iv_len < 1 || s->iv_len > GCM_IV_MAX)
        return CKR_MECHANISM_PARAM_INVALID;
    if (s->aad == NULL && s->aad_len != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    switch (tag_bits) {
    case 32:
    case 64:
    case 96:
    case 104:
    case 112:
    case 120:
    case 128:
        break;
    default:
        return CKR_MECHANISM_PARAM_INVALID;
    }
    s->tag_len = tag_bits / 8;
    s->kind = s->iv_len > GCM_EVP_IV_MAX ? KIND_ECB : KIND_GCM;
    return CKR_OK;
}

/* gcm128's block function: one AES block through the keyed, unpadded ECB context. */
static void ecb_block(const unsigned char in[16], unsigned char out[16], const void *key)
{
    int n;

    (void)EVP_EncryptUpdate((EVP_CIPHER_CTX *)key, out, &n, in, AES_BLOCK);
}

static CK_RV start_long_iv(p11kms_cipher *c, const EVP_CIPHER *ecb, const cipher_setup *s,
                           const uint8_t *key)
{
    if (c->ecb == NULL && (c->ecb = EVP_CIPHER_CTX_new()) == NULL)
        return CKR_HOST_MEMORY;
    if (EVP_EncryptInit_ex2(c->ecb, ecb, key, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(c->ecb, 0) != 1)
        return CKR_GENERAL_ERROR;
    if (c->gcm128 == NULL) {
        c->gcm128 = CRYPTO_gcm128_new(c->ecb, ecb_block);
        if (c->gcm128 == NULL)
            return CKR_HOST_MEMORY;
    } else {
        CRYPTO_gcm128_init(c->gcm128, c->ecb, ecb_block);
    }
    CRYPTO_gcm128_setiv(c->gcm128, s->iv, s->iv_len);
    if (s->aad_len > 0 && CRYPTO_gcm128_aad(c->gcm128, s->aad, s->aad_len) != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    return CKR_OK;
}

static CK_RV gcm_start(p11kms_cipher *c, const EVP_CIPHER *cipher, const cipher_setup *s,
                       const uint8_t *key)
{
    CK_RV rv;
    size_t n;

    if (c->buf_cap > GCM_KEEP_BUF) {
        free(c->buf);
        c->buf = NULL;
        c->buf_cap = 0;
    }
    c->long_iv = s->kind == KIND_ECB;
    if (c->long_iv)
        return start_long_iv(c, cipher, s, key);
    rv = p11kms_cipher_evp_start(c, cipher, key, s->iv, s->iv_len, 1);
    if (rv == CKR_OK && s->aad_len > 0 &&
        !p11kms_cipher_evp_update(c->evp, s->aad, s->aad_len, NULL, &n))
        rv = CKR_GENERAL_ERROR;
    return rv;
}

/* For decryption update writes nothing: plaintext is released by final. */
static size_t gcm_update_len(const p11kms_cipher *c, size_t in_len)
{
    return c->encrypt ? in_len : 0;
}

static size_t gcm_final_len(const p11kms_cipher *c)
{
    if (c->encrypt)
        return c->tag_len;
    return c->held >= c->tag_len ? c->held - c->tag_len : 0;
}

static size_t gcm_oneshot_len(const p11kms_cipher *c, size_t in_len)
{
    if (c->encrypt)
        return in_len + c->tag_len;
    return in_len >= c->tag_len ? in_len - c->tag_len : 0;
}

/* GCM data through whichever engine this operation uses; writes exactly len bytes. */
static int gcm_crypt(p11kms_cipher *c, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n;

    if (len == 0)
        return 1;
    if (c->long_iv) {
        if (c->encrypt)
            return CRYPTO_gcm128_encrypt(c->gcm128, in, out, len) == 0;
        return CRYPTO_gcm128_decrypt(c->gcm128, in, out, len) == 0;
    }
    return p11kms_cipher_evp_update(c->evp, in, len, out, &n) && n == len;
}

static int gcm_tag_get(p11kms_cipher *c, uint8_t *tag)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (c->long_iv) {
        CRYPTO_gcm128_tag(c->gcm128, tag, c->tag_len);
        return 1;
    }
    return EVP_EncryptFinal_ex(c->evp, none, &n) == 1 && n == 0 &&
           EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_GET_TAG, (int)c->tag_len, tag) > 0;
}

/* Constant-time comparison, in OpenSSL either way. */
static int gcm_tag_check(p11kms_cipher *c, const uint8_t *tag)
{
    uint8_t none[AES_BLOCK];
    int n;

    if (c->long_iv)
        return CRYPTO_gcm128_finish(c->gcm128, tag, c->tag_len) == 0;
    return EVP_CIPHER_CTX_ctrl(c->evp, EVP_CTRL_AEAD_SET_TAG, (int)c->tag_len, (void *)tag) > 0 &&
           EVP_DecryptFinal_ex(c->evp, none, &n) == 1 && n == 0;
}

/* Decrypt ciphertext||tag. The plaintext is written to out before the tag can be checked, so a
 * failed check wipes it: nothing unauthenticated is released. */
static CK_RV gcm_open(p11kms_cipher *c, const uint8_t *in, size_t len, uint8_t *out,
                      size_t *out_len)
{
    size_t n;

    if (len < c->tag_len)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    n = len - c->tag_len;
    if (!gcm_crypt(c, in, n, out))
        return CKR_GENERAL_ERROR;
    if (!gcm_tag_check(c, in + n)) {
        OPENSSL_cleanse(out, n);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    *out_len = n;
    return CKR_OK;
}

static CK_RV gcm_buffer(p11kms_cipher *c, const uint8_t *in, size_t len)
{
    size_t cap;
    uint8_t *p;

    if (len > GCM_DECRYPT_MAX - c->held)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    if (c->held + len > c->buf_cap) {
        cap = c->buf_cap < 4096 ? 4096 : c->buf_cap;
        while (cap < c->held + len)
            cap *= 2;
        if (cap > GCM_DECRYPT_MAX)
            cap = GCM_DECRYPT_MAX;
        /* Ciphertext is not secret: realloc may leave copies behind. */
        p = realloc(c->buf, cap);
        if (p == NULL)
            return CKR_HOST_MEMORY;
        c->buf = p;
        c->buf_cap = cap;
    }
    if (len > 0)
        memcpy(c->buf + c->held, in, len);
    c->held += len;
    return CKR_OK;
}

static CK_RV gcm_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t *out_len)
{
    if (!c->encrypt)
        return gcm_buffer(c, in, in_len);
    if (!gcm_crypt(c, in, in_len, out))
        return CKR_GENERAL_ERROR;
    *out_len = in_len;
    return CKR_OK;
}

static CK_RV gcm_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    if (!c->encrypt)
        return gcm_open(c, c->buf, c->held, out, out_len);
    if (!gcm_tag_get(c, out))
        return CKR_GENERAL_ERROR;
    *out_len = c->tag_len;
    return CKR_OK;
}

static CK_RV gcm_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len)
{
    if (!c->encrypt)
        return gcm_open(c, in, in_len, out, out_len);
    return p11kms_cipher_parts(c, in, in_len, out, out_len);
}

const cipher_mode p11kms_cipher_mode_gcm = {
    .mech = CKM_AES_GCM,
    .parse = gcm_parse,
    .start = gcm_start,
    .update_len = gcm_update_len,
    .final_len = gcm_final_len,
    .oneshot_len = gcm_oneshot_len,
    .update = gcm_update,
    .final = gcm_final,
    .oneshot = gcm_oneshot,
};
