/* sign-cmac.c - the AES-CMAC sign/verify family with AES data keys (NIST SP 800-38B, RFC 4493)
 * through OpenSSL's EVP_MAC "CMAC": CKM_AES_CMAC (16 bytes) and CKM_AES_CMAC_GENERAL
 * (CK_MAC_GENERAL_PARAMS: the leftmost 1..16 bytes). */
/*
 * Threads: a state belongs to one session operation; nothing here is shared. The key is copied
 * under g.lock (begin_locked) and keyed into OpenSSL without it (start).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "sign.h"

#define CMAC_LEN 16

typedef struct cmac_state {
    EVP_MAC_CTX *ctx;
    uint8_t key[32]; /* secret: until start has keyed ctx */
    size_t key_len;
    size_t mac_len;
} cmac_state;

static int cmac_owns(CK_MECHANISM_TYPE mech)
{
    return mech == CKM_AES_CMAC || mech == CKM_AES_CMAC_GENERAL;
}

static CK_RV mac_len_of(const CK_MECHANISM *mech, size_t *len)
{
    CK_ULONG n;

    if (mech->mechanism == CKM_AES_CMAC) {
        if (mech->pParameter != NULL || mech->ulParameterLen != 0)
            return CKR_MECHANISM_PARAM_INVALID;
        *len = CMAC_LEN;
        return CKR_OK;
    }
    /* CK_MAC_GENERAL_PARAMS is a CK_ULONG (p11-kit's header lacks the name). */
    if (mech->pParameter == NULL || mech->ulParameterLen != sizeof(CK_ULONG))
        return CKR_MECHANISM_PARAM_INVALID;
    memcpy(&n, mech->pParameter, sizeof(n));
    if (n < 1 || n > CMAC_LEN)
        return CKR_MECHANISM_PARAM_INVALID;
    *len = n;
    return CKR_OK;
}

static void cmac_end(void *state)
{
    cmac_state *st = state;

    if (st == NULL)
        return;
    EVP_MAC_CTX_free(st->ctx); /* wipes OpenSSL's copy of the key */
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
}

static CK_RV cmac_begin_locked(const CK_MECHANISM *mech, const p11kms_object *key, int sign,
                               void **state)
{
    cmac_state *st;
    size_t mac_len;
    CK_RV rv = mac_len_of(mech, &mac_len);

    *state = NULL;
    if (rv != CKR_OK)
        return rv;
    if (key->kind != P11KMS_OBJ_DATA_KEY || key->key_type != CKK_AES)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (key->value_len != 16 && key->value_len != 24 && key->value_len != 32)
        return CKR_KEY_SIZE_RANGE;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return CKR_HOST_MEMORY;
    memcpy(st->key, key->value, key->value_len);
    st->key_len = key->value_len;
    st->mac_len = mac_len;
    *state = st;
    return CKR_OK;
}

static CK_RV cmac_start(void *state)
{
    static const char *const ciphers[] = {"AES-128-CBC", "AES-192-CBC", "AES-256-CBC"};
    cmac_state *st = state;
    CK_RV rv = CKR_GENERAL_ERROR;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                 (char *)ciphers[st->key_len / 8 - 2], 0);
    params[1] = OSSL_PARAM_construct_end();
    if (mac == NULL)
        goto out;
    st->ctx = EVP_MAC_CTX_new(mac);
    if (st->ctx == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (EVP_MAC_init(st->ctx, st->key, st->key_len, params) != 1)
        goto out;
    rv = CKR_OK;
out:
    OPENSSL_cleanse(st->key, sizeof(st->key));
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (rv != CKR_OK)
        ERR_clear_error();
    return rv;
}

static size_t cmac_length(const void *state)
{
    return ((const cmac_state *)state)->mac_len;
}

static CK_RV cmac_update(void *state, const uint8_t *data, size_t len)
{
    cmac_state *st = state;

    if (EVP_MAC_update(st->ctx, data, len) != 1) {
        ERR_clear_error();
        return CKR_GENERAL_ERROR;
    }
    return CKR_OK;
}

/* The full 16-byte MAC into out. */
static CK_RV cmac_full(cmac_state *st, uint8_t out[CMAC_LEN])
{
    size_t n = 0;

    if (EVP_MAC_final(st->ctx, out, &n, CMAC_LEN) != 1 || n != CMAC_LEN) {
        ERR_clear_error();
        return CKR_GENERAL_ERROR;
    }
    return CKR_OK;
}

static CK_RV cmac_sign(void *state, uint8_t *sig)
{
    cmac_state *st = state;
    uint8_t full[CMAC_LEN];
    CK_RV rv = cmac_full(st, full);

    if (rv == CKR_OK)
        memcpy(sig, full, st->mac_len);
    OPENSSL_cleanse(full, sizeof(full));
    return rv;
}

static CK_RV cmac_verify(void *state, const uint8_t *sig)
{
    cmac_state *st = state;
    uint8_t full[CMAC_LEN];
    CK_RV rv = cmac_full(st, full);

    if (rv == CKR_OK && CRYPTO_memcmp(full, sig, st->mac_len) != 0)
        rv = CKR_SIGNATURE_INVALID;
    OPENSSL_cleanse(full, sizeof(full));
    return rv;
}

const p11kms_sign_family p11kms_sign_cmac = {
    .name = "AES-CMAC",
    .owns = cmac_owns,
    .begin_locked = cmac_begin_locked,
    .start = cmac_start,
    .length = cmac_length,
    .update = cmac_update,
    .sign = cmac_sign,
    .verify = cmac_verify,
    .end = cmac_end,
};
