/* envelope-seal.c - envelopes made and opened with a key's KMS entries (keyset.h): the context
 * the KMS binds (the application's plus the purpose pair), the purpose rules, the wrap policy,
 * which entries own which blob, failover on availability faults only (kms-report.h), and one
 * audit record per KMS use (audit.h). The format itself is envelope.c's.
 * No state, no locks; backend calls run without g.lock. */
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "envelope-seal.h"
#include "kms-report.h"
#include "log.h"

size_t p11kms_envelope_bound(p11kms_keyset *ks, size_t pt_len)
{
    size_t i, len = P11KMS_ENVELOPE_HEADER_LEN;

    for (i = 0; i < ks->n_current; i++)
        len += P11KMS_ENVELOPE_BLOB_OVERHEAD + ks->be[i]->ops->blob_bound(ks->be[i], pt_len);
    return len;
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

static const char *op_name(uint8_t purpose, int seal)
{
    if (purpose == P11KMS_PURPOSE_DATA)
        return seal ? "encrypt" : "decrypt";
    return seal ? "wrap" : "unwrap";
}

/* One backend operation of entry i: the report reset before, the latency measured around,
 * the audit record after. */
typedef struct kms_use {
    p11kms_keyset *ks;
    size_t i;
    const char *op;
    const p11kms_context *app_ctx; /* for the audit record: the application's pairs */
    int accepted;                  /* 0, or 1 + the index of the accepted context used */
    uint64_t t0;
} kms_use;

static void use_begin(kms_use *u)
{
    p11kms_kms_report_reset();
    u->t0 = p11kms_kms_now_ms();
}

static void use_end(kms_use *u, const char *kms_key, CK_RV rv)
{
    p11kms_audit_event ev;

    if (!p11kms_audit_on())
        return;
    memset(&ev, 0, sizeof(ev));
    ev.op = u->op;
    ev.kc = u->ks->kc;
    ev.backend = u->ks->be[u->i]->ops->name;
    ev.kms_key = kms_key;
    ev.role = p11kms_keyset_role(u->ks, u->i);
    ev.ctx = u->app_ctx;
    ev.context_accepted = u->accepted;
    ev.rv = rv;
    ev.report = p11kms_kms_report_last();
    ev.latency_ms = p11kms_kms_now_ms() - u->t0;
    p11kms_audit_record(&ev);
}

/* The key set's one deadline for the whole call (0: none), for kms-report.h. */
static void deadline_begin(const p11kms_keyset *ks)
{
    p11kms_kms_call_deadline_set(
        ks->kc->set_deadline_ms ? p11kms_kms_now_ms() + ks->kc->set_deadline_ms : 0);
}

CK_RV p11kms_envelope_seal(p11kms_keyset *ks, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *pt, size_t pt_len, p11kms_buf *out)
{
    CK_RV rv = CKR_GENERAL_ERROR, first_rv = CKR_OK;
    p11kms_envelope e;
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    kms_use u = {ks, 0, op_name(purpose, 1), ctx, 0, 0};
    p11kms_backend *be;
    size_t len, i;

    memset(&e, 0, sizeof(e));
    e.version = P11KMS_ENVELOPE_VERSION;
    e.purpose = purpose;
    rv = p11kms_envelope_kms_context(ctx, e.version, e.purpose, &view, &bound);
    if (rv != CKR_OK)
        goto out;
    deadline_begin(ks);
    for (i = 0; i < ks->n_current; i++) {
        be = ks->be[i];
        u.i = i;
        use_begin(&u);
        rv = be->ops->encrypt(be, bound, pt, pt_len, &e.blobs[e.n]);
        use_end(&u, rv == CKR_OK ? e.blobs[e.n].key_ref : be->kc->key_id, rv);
        if (rv == CKR_OK) {
            e.n++;
            continue;
        }
        p11kms_kms_blob_clear(&e.blobs[e.n]);
        if (!ks->kc->wrap_any)
            goto out; /* "all": logged by the backend */
        if (first_rv == CKR_OK)
            first_rv = rv;
        LOG_W("key \"%s\": %s key %s did not wrap (%s); wrap_policy \"any\": the envelope goes "
              "without it",
              ks->kc->label, be->ops->name, be->kc->key_id, p11kms_rv_name(rv));
    }
    if (e.n == 0) {
        rv = first_rv != CKR_OK ? first_rv : CKR_GENERAL_ERROR;
        goto out;
    }
    len = p11kms_envelope_encoded_len(&e);
    if (len == 0) {
        LOG_E("key \"%s\": a backend produced a ciphertext the envelope cannot hold",
              ks->kc->label);
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
    p11kms_kms_call_deadline_set(0);
    p11kms_envelope_clear(&e);
    return rv;
}

/* Whether an envelope may be opened as `purpose` by the key; one log line when not. */
static int purpose_allowed(const p11kms_key_config *kc, const p11kms_envelope *e, uint8_t purpose)
{
    int v1_data = kc->decrypt_v1_envelopes;

    if (e->version == P11KMS_ENVELOPE_VERSION_1) {
        /* A version-1 envelope does not say what it holds: it may be a wrapped key, which
         * C_Decrypt would hand out in the clear. */
        if (purpose == P11KMS_PURPOSE_WRAPPED_KEY || v1_data)
            return 1;
        LOG_W("C_Decrypt refused a version-1 envelope with key \"%s\": it may hold a wrapped "
              "key; set \"decrypt_v1_envelopes\": true on this key only if it never wrapped "
              "keys (docs/envelope.md)",
              kc->label);
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

/* The blob of e entry i owns, or -1. */
static int owned_blob(p11kms_keyset *ks, size_t i, const p11kms_envelope *e)
{
    size_t j;

    for (j = 0; j < e->n; j++)
        if (ks->be[i]->ops->owns(ks->be[i], &e->blobs[j]))
            return (int)j;
    return -1;
}

/* Try entry i's blob with each context in turn (the call's, then the accepted ones): CKR_OK,
 * or the last failure with *fault its class. A refused ciphertext moves on to the next accepted
 * context (the same KMS, a context the key still accepts); an availability fault ends this
 * entry (the next may serve); anything else is final. */
static CK_RV open_entry(kms_use *u, const p11kms_envelope *e, const p11kms_kms_blob *b,
                        uint8_t purpose, const p11kms_context *const *ctxs, size_t n_ctx,
                        p11kms_buf *pt, int *fault)
{
    p11kms_backend *be = u->ks->be[u->i];
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    CK_RV rv = CKR_GENERAL_ERROR;
    size_t c;

    *fault = P11KMS_FAULT_NONE;
    for (c = 0; c < n_ctx; c++) {
        rv = p11kms_envelope_kms_context(ctxs[c], e->version, purpose, &view, &bound);
        if (rv != CKR_OK)
            return rv;
        u->app_ctx = ctxs[c];
        u->accepted = (int)c;
        use_begin(u);
        rv = be->ops->decrypt(be, bound, b, pt);
        *fault = p11kms_kms_report_last()->fault;
        use_end(u, b->key_ref, rv);
        if (rv == CKR_OK || *fault == P11KMS_FAULT_UNAVAILABLE || rv != CKR_ENCRYPTED_DATA_INVALID)
            return rv;
    }
    return rv;
}

CK_RV p11kms_envelope_open(p11kms_keyset *ks, const p11kms_context *ctx, uint8_t purpose,
                           const uint8_t *in, size_t in_len, p11kms_buf *pt, int *asked)
{
    static const p11kms_context empty = {NULL, 0};
    CK_RV rv = CKR_GENERAL_ERROR;
    const p11kms_key_config *kc = ks->kc;
    const p11kms_context *ctxs[1 + P11KMS_KEYSET_ENTRIES_MAX];
    p11kms_envelope e;
    kms_use u = {ks, 0, op_name(purpose, 0), NULL, 0, 0};
    size_t i, n_ctx = 0, tried = 0;
    int j, fault = P11KMS_FAULT_NONE, any = 0;

    *asked = 0;
    memset(&e, 0, sizeof(e));
    rv = p11kms_envelope_parse(in, in_len, &e);
    if (rv != CKR_OK) {
        LOG_W("not a valid p11kms envelope (%zu bytes)", in_len);
        goto out;
    }
    rv = CKR_WRAPPED_KEY_INVALID;
    if (!purpose_allowed(kc, &e, purpose))
        goto out;
    for (i = 0; i < ks->n && !any; i++)
        any = owned_blob(ks, i, &e) >= 0;
    if (!any) {
        LOG_W("envelope was made by another key (%s key %s), not by key \"%s\"",
              p11kms_backend_find_id(e.blobs[0].backend_id)
                  ? p11kms_backend_find_id(e.blobs[0].backend_id)->name
                  : "unknown backend",
              e.blobs[0].key_ref, kc->label);
        goto out;
    }
    /* What the KMS checks: the header's version and purpose are bound into the context, so an
     * edited header makes the KMS itself refuse the ciphertext. Old default contexts are
     * accepted only where the call asked for the default one. */
    ctxs[n_ctx++] = ctx != NULL ? ctx : &empty;
    if (ctx != NULL && p11kms_context_equal(ctx, kc->context))
        for (i = 0; i < kc->n_accepted_contexts; i++)
            ctxs[n_ctx++] = kc->accepted_contexts[i];
    deadline_begin(ks);
    rv = CKR_WRAPPED_KEY_INVALID;
    for (i = 0; i < ks->n; i++) {
        j = owned_blob(ks, i, &e);
        if (j < 0)
            continue;
        if (tried > 0)
            LOG_W("key \"%s\": failing over to %s key %s (%s entry %zu) after an availability "
                  "fault",
                  kc->label, ks->be[i]->ops->name, e.blobs[j].key_ref, p11kms_keyset_role(ks, i),
                  i);
        *asked = 1;
        tried++;
        u.i = i;
        rv = open_entry(&u, &e, &e.blobs[j], purpose, ctxs, n_ctx, pt, &fault);
        if (rv == CKR_OK) {
            LOG_I("key \"%s\": %s served by %s key %s (%s entry %zu%s)", kc->label, u.op,
                  ks->be[i]->ops->name, e.blobs[j].key_ref, p11kms_keyset_role(ks, i), i,
                  u.accepted ? ", an accepted old context" : "");
            goto out;
        }
        if (fault != P11KMS_FAULT_UNAVAILABLE) {
            /* A definitive refusal: no other KMS is asked (it would be an oracle for a
             * tampered or foreign envelope, and a refusal is the answer). */
            LOG_W("key \"%s\": %s refused by %s key %s: %s; no other KMS is tried", kc->label, u.op,
                  ks->be[i]->ops->name, e.blobs[j].key_ref, p11kms_rv_name(rv));
            goto out;
        }
    }
    if (tried > 1)
        LOG_E("key \"%s\": %s failed: none of the %zu KMS entries holding a blob could serve",
              kc->label, u.op, tried);
out:
    p11kms_kms_call_deadline_set(0);
    p11kms_envelope_clear(&e);
    return rv;
}
