/* envelope-seal.c - envelopes made and opened with a key's KMS entries (keyset.h): the context
 * the KMS binds (the application's plus the purpose pair), the purpose rules, the wrap policy,
 * which entries own which blob, failover on availability faults only (kms-report.h), and one
 * audit record per KMS use (audit.h). The format itself is envelope.c's.
 * No state, no locks; backend calls run without g.lock. */
#include <stdlib.h>
#include <string.h>
#include "audit.h"
#include "envelope-seal.h"
#include "killswitch.h"
#include "kms-report.h"
#include "log.h"
#include "unwrap-cache.h"

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
    switch (purpose) {
    case P11KMS_PURPOSE_WRAPPED_KEY:
        return "wrapped-key";
    case P11KMS_PURPOSE_STORED_OBJECT:
        return "stored-object";
    default:
        return "data";
    }
}

/* What opens envelopes of a purpose, for log lines. */
static const char *purpose_opener(uint8_t purpose)
{
    switch (purpose) {
    case P11KMS_PURPOSE_WRAPPED_KEY:
        return "a wrapped key (made by C_WrapKey), which only C_UnwrapKey opens";
    case P11KMS_PURPOSE_STORED_OBJECT:
        return "a stored object's key (made by the object store), which only the store opens";
    default:
        return "data (made by C_Encrypt), which only C_Decrypt opens";
    }
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
    if (purpose == P11KMS_PURPOSE_STORED_OBJECT)
        return seal ? "store-seal" : "store-open";
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

/* An open the module answered without a KMS (a kill switch refusal, an unwrap cache hit): a
 * record with the key and the call's context, no KMS fields. */
static void audit_local(const kms_use *u, const p11kms_context *ctx, CK_RV rv)
{
    p11kms_audit_event ev;

    if (!p11kms_audit_on())
        return;
    memset(&ev, 0, sizeof(ev));
    ev.op = u->op;
    ev.kc = u->ks->kc;
    ev.ctx = ctx;
    ev.rv = rv;
    ev.outcome = rv == CKR_OK ? "cache-hit" : "refused";
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
        if (purpose == P11KMS_PURPOSE_WRAPPED_KEY || (purpose == P11KMS_PURPOSE_DATA && v1_data))
            return 1;
        if (purpose == P11KMS_PURPOSE_STORED_OBJECT) {
            LOG_W("the object store refused a version-1 envelope: stored objects are sealed in "
                  "version-2 envelopes only");
            return 0;
        }
        LOG_W("C_Decrypt refused a version-1 envelope with key \"%s\": it may hold a wrapped "
              "key; set \"decrypt_v1_envelopes\": true on this key only if it never wrapped "
              "keys (docs/envelope.md)",
              kc->label);
        return 0;
    }
    if (e->purpose == purpose)
        return 1;
    LOG_W("%s refused: the envelope holds %s",
          purpose == P11KMS_PURPOSE_WRAPPED_KEY ? "C_UnwrapKey"
          : purpose == P11KMS_PURPOSE_DATA      ? "C_Decrypt"
                                                : "the object store",
          purpose_opener(e->purpose));
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
    int j, fault = P11KMS_FAULT_NONE, any = 0, cached = 0;
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST];

    *asked = 0;
    memset(&e, 0, sizeof(e));
    /* The kill switch (killswitch.h) before anything else, the cache included. */
    rv = p11kms_killswitch_check(kc);
    if (rv != CKR_OK) {
        audit_local(&u, ctx, rv);
        goto out;
    }
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
    /* The opt-in unwrap cache (unwrap-cache.h), before any KMS entry is asked: its digest
     * covers the whole envelope (every entry's blob) and the call's context as the KMS would
     * bind it; a hit is no KMS call. */
    if (purpose == P11KMS_PURPOSE_WRAPPED_KEY && p11kms_unwrap_cache_enabled(kc)) {
        rv = p11kms_envelope_kms_context(ctxs[0], e.version, purpose, &view, &bound);
        if (rv != CKR_OK)
            goto out;
        cached = p11kms_unwrap_cache_get(kc, in, in_len, bound, digest, pt);
        if (cached == 1) {
            audit_local(&u, ctxs[0], CKR_OK);
            rv = CKR_OK;
            goto out;
        }
    }
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
            break;
        }
        if (fault != P11KMS_FAULT_UNAVAILABLE) {
            /* A definitive refusal: no other KMS is asked (it would be an oracle for a
             * tampered or foreign envelope, and a refusal is the answer). */
            LOG_W("key \"%s\": %s refused by %s key %s: %s; no other KMS is tried", kc->label, u.op,
                  ks->be[i]->ops->name, e.blobs[j].key_ref, p11kms_rv_name(rv));
            goto out;
        }
    }
    if (rv != CKR_OK) {
        if (tried > 1)
            LOG_E("key \"%s\": %s failed: none of the %zu KMS entries holding a blob could serve",
                  kc->label, u.op, tried);
        goto out;
    }
    /* Again after the KMS call, which may have outlasted the switch being turned on (not a KMS
     * fault: nothing fails over on it). */
    rv = p11kms_killswitch_check(kc);
    if (rv != CKR_OK) {
        p11kms_buf_wipe(pt);
        audit_local(&u, ctx, rv);
        goto out;
    }
    if (cached == 0 && purpose == P11KMS_PURPOSE_WRAPPED_KEY && p11kms_unwrap_cache_enabled(kc))
        p11kms_unwrap_cache_put(kc, digest, pt->data, pt->len);
out:
    p11kms_kms_call_deadline_set(0);
    p11kms_envelope_clear(&e);
    return rv;
}

/* The KMS's own re-encrypt (backend.h reencrypt), when the blob is the one current entry's own:
 * a key version rotated in the KMS. Anything else - a previous key, several current entries, a
 * version-1 envelope, an accepted old context - is opened and sealed again inside the module. */
static CK_RV rewrap_in_kms(p11kms_keyset *ks, const p11kms_context *ctx, const p11kms_envelope *e,
                           p11kms_buf *out, int *asked)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_backend *be = ks->be[0];
    p11kms_context_view view;
    const p11kms_context *bound = NULL;
    p11kms_envelope ne;
    kms_use u = {ks, 0, "rewrap", ctx, 0, 0};
    size_t len;
    int j = owned_blob(ks, 0, e);

    memset(&ne, 0, sizeof(ne));
    if (ks->n_current != 1 || j < 0 || be->ops->reencrypt == NULL ||
        e->version != P11KMS_ENVELOPE_VERSION || ks->kc->n_accepted_contexts > 0)
        return CKR_FUNCTION_NOT_SUPPORTED;
    rv = p11kms_envelope_kms_context(ctx, e->version, e->purpose, &view, &bound);
    if (rv != CKR_OK)
        return rv;
    deadline_begin(ks);
    *asked = 1;
    use_begin(&u);
    rv = be->ops->reencrypt(be, bound, &e->blobs[j], be, bound, &ne.blobs[0]);
    use_end(&u, e->blobs[j].key_ref, rv);
    if (rv != CKR_OK)
        goto out;
    ne.version = e->version;
    ne.purpose = e->purpose;
    ne.n = 1;
    len = p11kms_envelope_encoded_len(&ne);
    rv = CKR_DEVICE_ERROR; /* a ciphertext the envelope cannot hold */
    if (len == 0)
        goto out;
    rv = CKR_HOST_MEMORY;
    out->data = malloc(len);
    if (out->data == NULL)
        goto out;
    rv = p11kms_envelope_encode(&ne, out->data, &len);
    if (rv == CKR_OK)
        out->len = len;
    if (rv == CKR_OK)
        LOG_I("key \"%s\": rewrapped in the KMS by %s key %s", ks->kc->label, be->ops->name,
              ne.blobs[0].key_ref);
out:
    p11kms_kms_call_deadline_set(0); /* the set's deadline was this call's only */
    p11kms_envelope_clear(&ne);
    return rv;
}

CK_RV p11kms_envelope_rewrap(p11kms_keyset *ks, const p11kms_context *ctx, const uint8_t *in,
                             size_t in_len, p11kms_buf *out, int *asked)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_envelope e;
    p11kms_buf pt = {NULL, 0};

    *asked = 0;
    memset(&e, 0, sizeof(e));
    rv = p11kms_envelope_parse(in, in_len, &e);
    /* Version 1 says nothing of what it holds: C_UnwrapKey's rules decide (opened below). */
    if (rv != CKR_OK ||
        (e.version != P11KMS_ENVELOPE_VERSION_1 && e.purpose != P11KMS_PURPOSE_WRAPPED_KEY)) {
        LOG_W("rewrap refused: not a p11kms envelope of a wrapped key (%zu bytes)", in_len);
        rv = CKR_WRAPPED_KEY_INVALID;
        goto out;
    }
    /* Moving a blob is a use of the key's decrypt side: the kill switch stops it too. */
    rv = p11kms_killswitch_check(ks->kc);
    if (rv != CKR_OK)
        goto out;
    rv = rewrap_in_kms(ks, ctx, &e, out, asked);
    /* The KMS cannot move this blob itself (or its policy does not let this caller re-encrypt):
     * as C_UnwrapKey and C_WrapKey would, with the value never leaving the module. */
    if (rv == CKR_FUNCTION_NOT_SUPPORTED || rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
        if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED)
            LOG_I("key \"%s\": the KMS did not re-encrypt; unwrapping and wrapping again in the "
                  "module",
                  ks->kc->label);
        p11kms_buf_wipe(out);
        rv = p11kms_envelope_open(ks, ctx, P11KMS_PURPOSE_WRAPPED_KEY, in, in_len, &pt, asked);
        if (rv == CKR_OK)
            rv = p11kms_envelope_seal(ks, ctx, P11KMS_PURPOSE_WRAPPED_KEY, pt.data, pt.len, out);
    }
out:
    p11kms_buf_wipe(&pt);
    p11kms_envelope_clear(&e);
    if (rv != CKR_OK)
        p11kms_buf_wipe(out);
    return rv;
}
