/* envelope-seal.c - an envelope made and opened with one KMS backend: the context the KMS binds
 * (the application's plus the purpose pair), the purpose rules, and which blob the key owns.
 * The format itself is envelope.c's. No state, no locks; backend calls run without g.lock. */
#include <stdlib.h>
#include <string.h>
#include "envelope-seal.h"
#include "log.h"

size_t p11kms_envelope_bound(p11kms_backend *be, size_t pt_len)
{
    return P11KMS_ENVELOPE_HEADER_LEN + P11KMS_ENVELOPE_BLOB_OVERHEAD +
           be->ops->blob_bound(be, pt_len);
}

/* The value of the reserved pair for a purpose. */
static const char *purpose_value(uint8_t purpose)
{
    return purpose == P11KMS_PURPOSE_WRAPPED_KEY ? "wrapped-key" : "data";
}

CK_RV p11kms_envelope_kms_context(const p11kms_context *ctx, uint8_t version, uint8_t purpose,
                                  p11kms_context_view *view, const p11kms_context **bound)
{
    static const p11kms_context empty = {NULL, 0};
    CK_RV rv = CKR_OK;

    /* Version 1 envelopes were made with the application's context alone. */
    if (version == P11KMS_ENVELOPE_VERSION_1) {
        *bound = ctx != NULL ? ctx : &empty;
        return CKR_OK;
    }
    *bound = NULL;
    rv =
        p11kms_context_view_reserved(ctx, P11KMS_CONTEXT_PURPOSE_KEY, purpose_value(purpose), view);
    if (rv == CKR_OK)
        *bound = &view->ctx;
    return rv;
}

CK_RV p11kms_envelope_seal(p11kms_backend *be, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *pt, size_t pt_len, p11kms_buf *out)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_envelope e;
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    size_t len;

    memset(&e, 0, sizeof(e));
    e.version = P11KMS_ENVELOPE_VERSION;
    e.purpose = purpose;
    rv = p11kms_envelope_kms_context(ctx, e.version, e.purpose, &view, &bound);
    if (rv != CKR_OK)
        goto out;
    rv = be->ops->encrypt(be, bound, pt, pt_len, &e.blobs[0]);
    if (rv != CKR_OK)
        goto out;
    e.n = 1;
    len = p11kms_envelope_encoded_len(&e);
    if (len == 0) {
        LOG_E("backend %s produced a ciphertext the envelope cannot hold", be->ops->name);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    out->data = malloc(len);
    if (out->data == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    rv = p11kms_envelope_encode(&e, out->data, &len);
    if (rv != CKR_OK) {
        p11kms_buf_free(out);
        goto out;
    }
    out->len = len;
out:
    p11kms_envelope_clear(&e);
    return rv;
}

/* Whether an envelope may be opened as `purpose` by be's key; one log line when not. */
static int purpose_allowed(p11kms_backend *be, const p11kms_envelope *e, uint8_t purpose)
{
    int v1_data = be->kc != NULL && be->kc->decrypt_v1_envelopes;

    if (e->version == P11KMS_ENVELOPE_VERSION_1) {
        /* A version-1 envelope does not say what it holds: it may be a wrapped key, which
         * C_Decrypt would hand out in the clear. */
        if (purpose == P11KMS_PURPOSE_WRAPPED_KEY || v1_data)
            return 1;
        LOG_W("C_Decrypt refused a version-1 envelope with key \"%s\": it may hold a wrapped "
              "key; set \"decrypt_v1_envelopes\": true on this key only if it never wrapped "
              "keys (docs/envelope.md)",
              be->kc != NULL ? be->kc->label : "?");
        return 0;
    }
    if (e->purpose == purpose)
        return 1;
    if (purpose == P11KMS_PURPOSE_WRAPPED_KEY)
        LOG_W("C_UnwrapKey refused: the envelope holds data (made by C_Encrypt), not a wrapped "
              "key; C_Decrypt opens it");
    else
        LOG_W("C_Decrypt refused: the envelope holds a wrapped key (made by C_WrapKey), which "
              "only C_UnwrapKey opens");
    return 0;
}

CK_RV p11kms_envelope_open(p11kms_backend *be, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *in, size_t in_len, p11kms_buf *pt, int *asked)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_envelope e;
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    size_t i;
    int owned = 0;

    *asked = 0;
    memset(&e, 0, sizeof(e));
    rv = p11kms_envelope_parse(in, in_len, &e);
    if (rv != CKR_OK) {
        LOG_W("not a valid p11kms envelope (%zu bytes)", in_len);
        goto out;
    }
    rv = CKR_WRAPPED_KEY_INVALID;
    if (!purpose_allowed(be, &e, purpose))
        goto out;
    for (i = 0; i < e.n && !owned; i++)
        owned = be->ops->owns(be, &e.blobs[i]);
    if (!owned) {
        LOG_W("envelope was made by another key (%s key %s), not by this %s key",
              p11kms_backend_find_id(e.blobs[0].backend_id)
                  ? p11kms_backend_find_id(e.blobs[0].backend_id)->name
                  : "unknown backend",
              e.blobs[0].key_ref, be->ops->name);
        goto out;
    }
    /* What the KMS checks: the header's version and purpose are bound into the context, so an
     * edited header makes the KMS itself refuse the ciphertext. */
    rv = p11kms_envelope_kms_context(ctx, e.version, purpose, &view, &bound);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_WRAPPED_KEY_INVALID;
    for (i = 0; i < e.n; i++) {
        if (!be->ops->owns(be, &e.blobs[i]))
            continue;
        *asked = 1;
        rv = be->ops->decrypt(be, bound, &e.blobs[i], pt);
        if (rv == CKR_OK)
            break;
    }
out:
    p11kms_envelope_clear(&e);
    return rv;
}
