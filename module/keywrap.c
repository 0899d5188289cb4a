/* keywrap.c - AES key wrap with data keys: CKM_AES_KEY_WRAP (RFC 3394, optional 8-byte IV) and
 * CKM_AES_KEY_WRAP_PAD / CKM_AES_KEY_WRAP_KWP (RFC 5649, optional 4-byte AIV) through OpenSSL's
 * AES-*-WRAP and AES-*-WRAP-PAD ciphers, and the rules on which key may wrap which. */
/*
 * Threads: runs with the session acquired. The keys are looked up and their values copied under
 * g.lock; the wrapping itself runs without it.
 *
 * A key that wraps must not also decrypt, and one that unwraps must not also encrypt: with both,
 * C_Decrypt (any mode: ECB, or CBC with a chosen IV, gives the AES decryption of any block) runs
 * the unwrap by hand and reads the wrapped key, and C_Encrypt forges a wrapped key the
 * application chose. The attribute rules refuse such keys; this file refuses to use one too.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include "attrs.h"
#include "keywrap.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "util.h"

#define KW_SEMIBLOCK 8
#define WRAPPED_MAX P11KMS_KEYWRAP_MAX

static int padded(CK_MECHANISM_TYPE mech)
{
    return mech == CKM_AES_KEY_WRAP_PAD || mech == CKM_AES_KEY_WRAP_KWP;
}

int p11kms_keywrap_applies(p11kms_session *s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE h)
{
    p11kms_object *o = NULL;
    int kind = 0;

    if (mech == CKM_AES_KEY_WRAP)
        return 1;
    if (!padded(mech))
        return 0;
    p11kms_lock();
    if (p11kms_object_get_locked(s, h, &o) == CKR_OK)
        kind = o->kind;
    p11kms_unlock();
    p11kms_object_put(o);
    return kind == P11KMS_OBJ_DATA_KEY;
}

/* The IV: none (the RFC's default), or exactly its length. */
static CK_RV parse_iv(const CK_MECHANISM *mech, const uint8_t **iv)
{
    size_t want = padded(mech->mechanism) ? 4 : KW_SEMIBLOCK;

    *iv = NULL;
    if (mech->pParameter == NULL && mech->ulParameterLen == 0)
        return CKR_OK;
    if (mech->pParameter == NULL || mech->ulParameterLen != want)
        return CKR_MECHANISM_PARAM_INVALID;
    *iv = mech->pParameter;
    return CKR_OK;
}

/* Whether k may wrap (wrap = 1) or unwrap, and its value into kek. g.lock held. */
static CK_RV kek_take_locked(const p11kms_object *k, int wrap, uint8_t kek[32], size_t *kek_len)
{
    if (k->kind != P11KMS_OBJ_DATA_KEY || k->key_type != CKK_AES)
        return wrap ? CKR_WRAPPING_KEY_TYPE_INCONSISTENT : CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
    if (k->value_len != 16 && k->value_len != 24 && k->value_len != 32)
        return wrap ? CKR_WRAPPING_KEY_SIZE_RANGE : CKR_UNWRAPPING_KEY_SIZE_RANGE;
    if (!(wrap ? k->wrap : k->unwrap))
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    if (wrap ? k->decrypt : k->encrypt) {
        LOG_W("a data key that %s may not also %s (it would open the key wrap)",
              wrap ? "wraps" : "unwraps", wrap ? "decrypt" : "encrypt");
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (!p11kms_object_value_ready(k))
        return CKR_GENERAL_ERROR; /* a stored key not unsealed (wrap.c unseals it first) */
    memcpy(kek, k->value, k->value_len);
    *kek_len = k->value_len;
    return CKR_OK;
}

/* Whether w may wrap k with mech. g.lock held. */
static CK_RV target_check_locked(const p11kms_object *w, const p11kms_object *k,
                                 CK_MECHANISM_TYPE mech)
{
    CK_RV rv;

    if (k->kind != P11KMS_OBJ_DATA_KEY)
        return CKR_KEY_UNEXTRACTABLE;
    /* Extractable, CKA_WRAP_WITH_TRUSTED, and w's CKA_WRAP_TEMPLATE: the attribute rules. */
    rv = p11kms_attrs_wrappable_locked(w, k);
    if (rv != CKR_OK)
        return rv;
    if (!p11kms_object_value_ready(k) || !p11kms_object_value_ready(w))
        return CKR_GENERAL_ERROR; /* a stored key not unsealed (wrap.c unseals it first) */
    if (k == w ||
        (k->value_len == w->value_len && CRYPTO_memcmp(k->value, w->value, w->value_len) == 0)) {
        LOG_W("C_WrapKey: a key cannot wrap itself");
        return CKR_KEY_NOT_WRAPPABLE;
    }
    if (k->key_type != CKK_AES && k->key_type != CKK_GENERIC_SECRET)
        return CKR_KEY_NOT_WRAPPABLE;
    if (!padded(mech) && (k->value_len % KW_SEMIBLOCK != 0 || k->value_len < 16)) {
        LOG_W("CKM_AES_KEY_WRAP takes keys of a multiple of 8 bytes, at least 16 (this one: %zu); "
              "CKM_AES_KEY_WRAP_KWP takes any length",
              k->value_len);
        return CKR_KEY_SIZE_RANGE;
    }
    return CKR_OK;
}

int p11kms_keywrap_run(CK_MECHANISM_TYPE mech, const uint8_t *iv, const uint8_t *kek,
                       size_t kek_len, int wrap, const uint8_t *in, size_t in_len, uint8_t *out,
                       size_t *out_len)
{
    static const char *const names[2][3] = {
        {"AES-128-WRAP", "AES-192-WRAP", "AES-256-WRAP"},
        {"AES-128-WRAP-PAD", "AES-192-WRAP-PAD", "AES-256-WRAP-PAD"},
    };
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0, f = 0, ok = 0;

    if ((kek_len != 16 && kek_len != 24 && kek_len != 32) || in_len == 0 || in_len > WRAPPED_MAX ||
        (mech != CKM_AES_KEY_WRAP && !padded(mech)))
        return 0;
    cipher = EVP_CIPHER_fetch(NULL, names[padded(mech)][kek_len / 8 - 2], NULL);
    ctx = EVP_CIPHER_CTX_new();
    if (cipher != NULL && ctx != NULL) {
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        ok = EVP_CipherInit_ex2(ctx, cipher, kek, iv, wrap, NULL) == 1 &&
             EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) == 1 && n >= 0 &&
             EVP_CipherFinal_ex(ctx, out + n, &f) == 1;
    }
    if (ok)
        *out_len = (size_t)n + (size_t)f;
    EVP_CIPHER_CTX_free(ctx); /* wipes the key schedule */
    EVP_CIPHER_free(cipher);
    ERR_clear_error();
    return ok;
}

size_t p11kms_keywrap_len(CK_MECHANISM_TYPE mech, size_t len)
{
    if (padded(mech))
        return (len + KW_SEMIBLOCK - 1) / KW_SEMIBLOCK * KW_SEMIBLOCK + KW_SEMIBLOCK;
    return len + KW_SEMIBLOCK;
}

CK_RV p11kms_keywrap_wrap(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
                          CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *w = NULL, *k = NULL;
    p11kms_buf value = {0};
    uint8_t kek[32];
    size_t kek_len = 0, n = 0;
    const uint8_t *iv;
    int done;

    rv = parse_iv(mech, &iv);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    if (p11kms_object_get_locked(s, wrapping_key, &w) != CKR_OK)
        rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
    else if (p11kms_object_get_locked(s, key, &k) != CKR_OK)
        rv = CKR_KEY_HANDLE_INVALID;
    else if ((rv = kek_take_locked(w, 1, kek, &kek_len)) != CKR_OK)
        ;
    else if ((rv = target_check_locked(w, k, mech->mechanism)) != CKR_OK)
        ;
    else if (p11kms_buf_set(&value, k->value, k->value_len) != 0)
        rv = CKR_HOST_MEMORY;
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_out_room(out, out_len, p11kms_keywrap_len(mech->mechanism, value.len), &done);
    if (done)
        goto out;
    if (!p11kms_keywrap_run(mech->mechanism, iv, kek, kek_len, 1, value.data, value.len, out, &n)) {
        LOG_E("C_WrapKey: OpenSSL's AES key wrap failed");
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    *out_len = n;
out:
    OPENSSL_cleanse(kek, sizeof(kek));
    p11kms_buf_wipe(&value);
    p11kms_object_put(w);
    p11kms_object_put(k);
    return rv;
}

/* Whether mech can have produced in_len bytes. */
static int wrapped_len_ok(CK_MECHANISM_TYPE mech, size_t in_len)
{
    if (in_len % KW_SEMIBLOCK != 0 || in_len > WRAPPED_MAX)
        return 0;
    return in_len >= (padded(mech) ? 16u : 24u);
}

CK_RV p11kms_keywrap_unwrap(p11kms_session *s, CK_MECHANISM_PTR mech,
                            CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR in, CK_ULONG in_len,
                            CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *u = NULL;
    uint8_t kek[32], value[WRAPPED_MAX];
    size_t kek_len = 0, value_len = 0;
    p11kms_unwrap_staged staged = {NULL, 0};
    const uint8_t *iv;

    rv = parse_iv(mech, &iv);
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    if (p11kms_object_get_locked(s, unwrapping_key, &u) != CKR_OK)
        rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    else
        rv = kek_take_locked(u, 0, kek, &kek_len);
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    /* A template against the rules or u's CKA_UNWRAP_TEMPLATE costs no unwrap. */
    rv = p11kms_unwrap_stage(s, u, t, n, &staged);
    if (rv != CKR_OK)
        goto out;
    if (!wrapped_len_ok(mech->mechanism, in_len)) {
        LOG_W("C_UnwrapKey: %lu bytes cannot be an AES-wrapped key", (unsigned long)in_len);
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
        goto out;
    }
    if (!p11kms_keywrap_run(mech->mechanism, iv, kek, kek_len, 0, in, in_len, value, &value_len) ||
        value_len == 0) {
        LOG_W("C_UnwrapKey: the AES key wrap integrity check failed (another key, another IV, "
              "or changed data)");
        rv = CKR_WRAPPED_KEY_INVALID;
        goto out;
    }
    rv = p11kms_unwrap_commit(s, &staged, value, value_len, out);
out:
    p11kms_unwrap_staged_clear(&staged);
    OPENSSL_cleanse(kek, sizeof(kek));
    OPENSSL_cleanse(value, sizeof(value));
    p11kms_object_put(u);
    return rv;
}
