/* wrap.c - C_WrapKey/C_UnwrapKey with KMS keys: a data key goes to the KMS's Encrypt with the
 * encryption context and comes back as a p11kms envelope. Objects are looked up under g.lock;
 * the KMS call itself runs with only the session held. AES key wrap with a data key as the
 * wrapping key is keywrap.c's (the dispatch at the top of both entry functions). */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "attrs.h"
#include "envelope-seal.h"
#include "keywrap.h"
#include "log.h"
#include "mech.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "store.h"

#define ENVELOPE_MAX                                                                               \
    (P11KMS_ENVELOPE_HEADER_LEN +                                                                  \
     P11KMS_ENVELOPE_MAX_BLOBS *                                                                   \
         (P11KMS_ENVELOPE_BLOB_OVERHEAD + P11KMS_KEY_REF_MAX + P11KMS_BLOB_CT_MAX))

/* The integrity check values RFC 3394 and RFC 5649 define as defaults; some clients pass them. */
static const uint8_t iv_3394[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};
static const uint8_t iv_5649[4] = {0xA6, 0x59, 0x59, 0xA6};

/* For a KMS key and mechanism: the context the call binds. Checks the mechanism parameter (the
 * default IV only for AES key wrap, the context for the vendor mechanisms). */
static CK_RV envelope_context(CK_MECHANISM_PTR mech, const p11kms_context *deflt,
                              p11kms_context **out)
{
    *out = NULL;
    switch (mech->mechanism) {
    case CKM_AES_KEY_WRAP_PAD:
    case CKM_AES_KEY_WRAP_KWP:
        if (mech->pParameter != NULL && mech->ulParameterLen != 0 &&
            !(mech->ulParameterLen == sizeof(iv_3394) &&
              memcmp(mech->pParameter, iv_3394, sizeof(iv_3394)) == 0) &&
            !(mech->ulParameterLen == sizeof(iv_5649) &&
              memcmp(mech->pParameter, iv_5649, sizeof(iv_5649)) == 0)) {
            LOG_W("AES key wrap with a KMS key takes no parameter or the default IV only");
            return CKR_MECHANISM_PARAM_INVALID;
        }
        return p11kms_context_copy(deflt, out);
    case CKM_P11KMS_ENVELOPE:
    case CKM_P11KMS_ENVELOPE_ENCODED:
        return p11kms_context_from_mechanism(mech, deflt, out);
    default:
        return CKR_MECHANISM_INVALID;
    }
}

/* What a wrap result depends on besides the two keys: mechanism, context, and the envelope
 * version and purpose (so a kept result is never handed out as another kind of envelope). */
static int request_digest(CK_MECHANISM_TYPE mech, const p11kms_context *ctx,
                          uint8_t digest[SHA256_DIGEST_LENGTH])
{
    static const uint8_t kind[2] = {P11KMS_ENVELOPE_VERSION, P11KMS_PURPOSE_WRAPPED_KEY};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t i;
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, &mech, sizeof(mech)) == 1 &&
             EVP_DigestUpdate(md, kind, sizeof(kind)) == 1;

    for (i = 0; ok && i < ctx->n; i++)
        ok = EVP_DigestUpdate(md, ctx->pairs[i].key, ctx->pairs[i].key_len + 1) == 1 &&
             EVP_DigestUpdate(md, ctx->pairs[i].value, ctx->pairs[i].value_len + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(md, digest, NULL) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void audit(const char *what, const p11kms_object *kms, const p11kms_context *ctx, CK_RV rv)
{
    char keys[256] = "";
    size_t i, used = 0;

    if (p11kms_log_threshold < P11KMS_LOG_INFO)
        return;
    /* Context keys only: values are not secret (CloudTrail shows them) but may be personal. */
    for (i = 0; ctx != NULL && i < ctx->n && used + 2 < sizeof(keys); i++) {
        int n = snprintf(keys + used, sizeof(keys) - used, "%s%s", i ? "," : "", ctx->pairs[i].key);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    LOG_I("%s with %s key \"%s\" (%s) context keys [%s]: %s", what, kms->kcfg->backend,
          kms->kcfg->label, kms->kcfg->key_id, keys, p11kms_rv_name(rv));
}

CK_RV p11kms_wrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE wrapping_key,
                      CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *w = NULL, *k = NULL;
    p11kms_context *ctx = NULL;
    p11kms_buf value = {0};
    uint8_t digest[SHA256_DIGEST_LENGTH];
    p11kms_wrap_cache *cache = &s->wrap_cache;

    /* Stored keys (either one) are unsealed on first use. */
    rv = p11kms_store_use(s, wrapping_key, P11KMS_USE_VALUE);
    if (rv == CKR_OK)
        rv = p11kms_store_use(s, key, P11KMS_USE_VALUE);
    if (rv != CKR_OK)
        return rv;
    if (p11kms_keywrap_applies(s, mech->mechanism, wrapping_key))
        return p11kms_keywrap_wrap(s, mech, wrapping_key, key, out, out_len);
    if (!p11kms_mech_is_envelope(mech->mechanism))
        return CKR_MECHANISM_INVALID;
    p11kms_lock();
    if (p11kms_object_get_locked(s, wrapping_key, &w) != CKR_OK)
        rv = CKR_WRAPPING_KEY_HANDLE_INVALID;
    else if (p11kms_object_get_locked(s, key, &k) != CKR_OK)
        rv = CKR_KEY_HANDLE_INVALID;
    else if (w->kind != P11KMS_OBJ_KMS_KEY)
        rv = CKR_WRAPPING_KEY_TYPE_INCONSISTENT;
    else if (!w->wrap)
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    else
        rv = p11kms_attrs_wrappable_locked(w, k); /* extractable, trusted, wrap template */
    if (rv == CKR_OK && !p11kms_object_value_ready(k))
        rv = CKR_GENERAL_ERROR;
    if (rv == CKR_OK && p11kms_buf_set(&value, k->value, k->value_len) != 0)
        rv = CKR_HOST_MEMORY;
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    rv = envelope_context(mech, w->kcfg->context, &ctx);
    if (rv != CKR_OK)
        goto out;
    if (!request_digest(mech->mechanism, ctx, digest)) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (!(cache->valid && cache->wrapping_key == wrapping_key && cache->key == key &&
          CRYPTO_memcmp(cache->request_digest, digest, sizeof(digest)) == 0)) {
        p11kms_buf_free(&cache->envelope);
        cache->valid = 0;
        if (out == NULL) {
            /* A length query: an upper bound, and no KMS call until the real one. */
            *out_len = p11kms_envelope_bound(w->keyset, value.len);
            rv = CKR_OK;
            goto out;
        }
        rv = p11kms_envelope_seal(w->keyset, ctx, P11KMS_PURPOSE_WRAPPED_KEY, value.data, value.len,
                                  &cache->envelope);
        audit("wrap", w, ctx, rv);
        if (rv != CKR_OK)
            goto out;
        cache->valid = 1;
        cache->wrapping_key = wrapping_key;
        cache->key = key;
        memcpy(cache->request_digest, digest, sizeof(digest));
    }
    /* The result is kept until it has been handed out, so a retry after
     * CKR_BUFFER_TOO_SMALL costs no second KMS call. */
    rv = p11kms_out_copy(out, out_len, cache->envelope.data, cache->envelope.len);
    if (rv == CKR_OK && out != NULL) {
        p11kms_buf_free(&cache->envelope);
        cache->valid = 0;
    }
out:
    p11kms_buf_wipe(&value);
    p11kms_context_free(ctx);
    p11kms_object_put(w);
    p11kms_object_put(k);
    return rv;
}

CK_RV p11kms_unwrap_key(p11kms_session *s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE unwrapping_key,
                        CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                        CK_OBJECT_HANDLE_PTR out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_object *u = NULL;
    p11kms_context *ctx = NULL;
    p11kms_buf pt = {0};
    p11kms_unwrap_staged staged = {NULL, 0};
    int asked = 0;

    rv = p11kms_store_use(s, unwrapping_key, P11KMS_USE_VALUE); /* a stored key: unsealed */
    if (rv != CKR_OK)
        return rv;
    if (p11kms_keywrap_applies(s, mech->mechanism, unwrapping_key))
        return p11kms_keywrap_unwrap(s, mech, unwrapping_key, in, in_len, t, n, out);
    if (!p11kms_mech_is_envelope(mech->mechanism))
        return CKR_MECHANISM_INVALID;
    p11kms_lock();
    if (p11kms_object_get_locked(s, unwrapping_key, &u) != CKR_OK)
        rv = CKR_UNWRAPPING_KEY_HANDLE_INVALID;
    else if (u->kind != P11KMS_OBJ_KMS_KEY)
        rv = CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT;
    else if (!u->unwrap)
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    else
        rv = CKR_OK;
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    if (in_len > ENVELOPE_MAX || in_len < P11KMS_ENVELOPE_V1_HEADER_LEN) {
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
        goto out;
    }
    rv = envelope_context(mech, u->kcfg->context, &ctx);
    if (rv != CKR_OK)
        goto out;
    /* Refuse a bad template (or one against u's unwrap template) before a KMS call. */
    rv = p11kms_unwrap_stage(s, u, t, n, &staged);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_envelope_open(u->keyset, ctx, P11KMS_PURPOSE_WRAPPED_KEY, in, in_len, &pt, &asked);
    if (rv == CKR_ENCRYPTED_DATA_INVALID)
        rv = CKR_WRAPPED_KEY_INVALID;
    else if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
    if (asked)
        audit("unwrap", u, ctx, rv);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_unwrap_commit(s, &staged, pt.data, pt.len, out);
out:
    p11kms_unwrap_staged_clear(&staged);
    p11kms_buf_wipe(&pt);
    p11kms_context_free(ctx);
    p11kms_object_put(u);
    return rv;
}
