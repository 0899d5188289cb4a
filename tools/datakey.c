/* datakey.c - generating, wrapping, unwrapping and reading data keys through the module, and the
 * encryption context as the user gives it. Uses the module only through its function list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "datakey.h"
#include "envelope.h"
#include "tool.h"

CK_RV tool_dk_mechanism(const tool_key *k, const p11kms_context *ctx, CK_MECHANISM *mech,
                        CK_P11KMS_ENVELOPE_PARAMS *params, CK_P11KMS_CONTEXT_PAIR **pairs)
{
    size_t i, n = ctx != NULL ? ctx->n : 0;

    *pairs = NULL;
    if (!k->is_kms) {
        mech->mechanism = CKM_AES_KEY_WRAP_PAD;
        mech->pParameter = NULL;
        mech->ulParameterLen = 0;
        return CKR_OK;
    }
    if (n > 0) {
        *pairs = calloc(n, sizeof(**pairs));
        if (*pairs == NULL)
            return CKR_HOST_MEMORY;
    }
    for (i = 0; i < n; i++) {
        (*pairs)[i].pKey = (CK_UTF8CHAR_PTR)ctx->pairs[i].key;
        (*pairs)[i].ulKeyLen = ctx->pairs[i].key_len;
        (*pairs)[i].pValue = (CK_UTF8CHAR_PTR)ctx->pairs[i].value;
        (*pairs)[i].ulValueLen = ctx->pairs[i].value_len;
    }
    params->ulVersion = P11KMS_ENVELOPE_PARAMS_VERSION;
    params->pContext = *pairs;
    params->ulContextCount = n;
    params->flags = 0; /* ctx is already the whole context */
    mech->mechanism = CKM_P11KMS_ENVELOPE;
    mech->pParameter = params;
    mech->ulParameterLen = sizeof(*params);
    return CKR_OK;
}

CK_RV tool_dk_generate(tool_p11 *p, const tool_key *k, int sensitive, CK_OBJECT_HANDLE *out)
{
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = TOOL_DATA_KEY_LEN;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE, sens = sensitive ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_VALUE_LEN, &len, sizeof(len)},   {CKA_TOKEN, &no, sizeof(no)},
        {CKA_EXTRACTABLE, &yes, sizeof(yes)}, {CKA_SENSITIVE, &sens, sizeof(sens)},
    };

    return p->f->C_GenerateKey(k->slot->session, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), out);
}

CK_RV tool_dk_wrap(tool_p11 *p, const tool_key *k, const p11kms_context *ctx, CK_OBJECT_HANDLE dk,
                   uint8_t **out, size_t *out_len)
{
    CK_RV rv;
    CK_MECHANISM mech;
    CK_P11KMS_ENVELOPE_PARAMS params;
    CK_P11KMS_CONTEXT_PAIR *pairs = NULL;
    CK_ULONG len = 0;
    uint8_t *buf = NULL;
    int tries;

    *out = NULL;
    rv = tool_dk_mechanism(k, ctx, &mech, &params, &pairs);
    if (rv != CKR_OK)
        goto out;
    /* Two-call convention; a module may find it needs more on the second call. */
    for (tries = 0; tries < 3; tries++) {
        rv = p->f->C_WrapKey(k->slot->session, &mech, k->handle, dk, NULL, &len);
        if (rv != CKR_OK)
            goto out;
        free(buf);
        buf = malloc(len ? len : 1);
        if (buf == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        rv = p->f->C_WrapKey(k->slot->session, &mech, k->handle, dk, buf, &len);
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (rv != CKR_OK)
        goto out;
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    free(buf);
    free(pairs);
    return rv;
}

CK_RV tool_dk_unwrap(tool_p11 *p, const tool_key *k, const p11kms_context *ctx, const uint8_t *blob,
                     size_t len, int sensitive, CK_OBJECT_HANDLE *out)
{
    CK_RV rv;
    CK_MECHANISM mech;
    CK_P11KMS_ENVELOPE_PARAMS params;
    CK_P11KMS_CONTEXT_PAIR *pairs = NULL;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_BBOOL no = CK_FALSE, yes = CK_TRUE, sens = sensitive ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},         {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &sens, sizeof(sens)},
    };

    rv = tool_dk_mechanism(k, ctx, &mech, &params, &pairs);
    if (rv != CKR_OK)
        goto out;
    rv = p->f->C_UnwrapKey(k->slot->session, &mech, k->handle, (CK_BYTE_PTR)blob, len, tmpl,
                           sizeof(tmpl) / sizeof(tmpl[0]), out);
out:
    free(pairs);
    return rv;
}

static int hint_score(const tool_hint *h, const tool_key *k)
{
    int score = 0;

    if (k == h->prefer)
        score += 100;
    if (h->label != NULL && h->label[0] != 0 && strcmp(h->label, k->label) == 0)
        score += 2;
    if (h->id_len > 0 && h->id_len == k->id_len && memcmp(h->id, k->id, h->id_len) == 0)
        score += 4;
    if (h->kms_ref != NULL && k->kms_key_id != NULL && strcmp(h->kms_ref, k->kms_key_id) == 0)
        score += 4;
    return score;
}

/* One attempt of tool_dk_unwrap_any with key k. */
static CK_RV unwrap_with(tool_p11 *p, tool_key *k, const p11kms_context *ctx, int merge,
                         const uint8_t *blob, size_t len, int sensitive, CK_OBJECT_HANDLE *out)
{
    p11kms_context *eff = NULL;
    CK_RV rv;

    if (!merge)
        return tool_dk_unwrap(p, k, ctx, blob, len, sensitive, out);
    if (!k->is_kms && ctx != NULL && ctx->n > 0)
        return CKR_KEY_TYPE_INCONSISTENT; /* a plain AES key cannot bind a context */
    if (tool_ctx_effective(k, ctx, &eff) != 0)
        return CKR_MECHANISM_PARAM_INVALID;
    rv = tool_dk_unwrap(p, k, eff, blob, len, sensitive, out);
    p11kms_context_free(eff);
    return rv;
}

/* The usable keys for `need` of the hint's kind, likeliest first; *n of them in *out (malloc'd). */
static CK_RV candidates(tool_p11 *p, const tool_hint *hint, unsigned need, tool_key ***out,
                        size_t *n)
{
    tool_key **cand, *t;
    size_t i, j;

    *n = 0;
    cand = calloc(p->n_keys + 1, sizeof(*cand));
    if (cand == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < p->n_keys; i++) {
        t = &p->keys[i];
        if (!tool_key_usable(t, need) || (hint->kind >= 0 && t->is_kms != hint->kind))
            continue;
        /* Insertion by descending score keeps module order among equals. */
        for (j = *n; j > 0 && hint_score(hint, cand[j - 1]) < hint_score(hint, t); j--)
            cand[j] = cand[j - 1];
        cand[j] = t;
        (*n)++;
    }
    *out = cand;
    return CKR_OK;
}

CK_RV tool_dk_unwrap_any(tool_p11 *p, tool_key *key, const tool_hint *hint,
                         const p11kms_context *ctx, int merge, const uint8_t *blob, size_t len,
                         int sensitive, tool_key **used, CK_OBJECT_HANDLE *out)
{
    tool_key **cand = NULL;
    size_t n = 0, i;
    CK_RV rv = CKR_KEY_HANDLE_INVALID, first_rv = CKR_OK;

    *used = NULL;
    *out = CK_INVALID_HANDLE;
    if (key != NULL) {
        *used = key;
        return unwrap_with(p, key, ctx, merge, blob, len, sensitive, out);
    }
    if (candidates(p, hint, TOOL_NEED_UNWRAP, &cand, &n) != CKR_OK)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        rv = unwrap_with(p, cand[i], ctx, merge, blob, len, sensitive, out);
        if (rv == CKR_OK) {
            *used = cand[i];
            break;
        }
        if (i == 0) {
            *used = cand[0];
            first_rv = rv;
        }
    }
    if (rv != CKR_OK && n > 0)
        rv = first_rv; /* the likeliest key's answer explains the failure best */
    free(cand);
    return rv;
}

/* CKM_P11KMS_REWRAP with KMS key k: the envelope moved to k's current KMS key(s). */
static CK_RV rewrap_with(tool_p11 *p, tool_key *k, const p11kms_context *user, const uint8_t *blob,
                         size_t len, uint8_t **out, size_t *out_len)
{
    CK_SESSION_HANDLE s = k->slot->session;
    CK_MECHANISM mech = {CKM_P11KMS_REWRAP, NULL, 0};
    p11kms_context *eff = NULL;
    uint8_t *enc = NULL, *buf = NULL;
    size_t enc_len = 0;
    CK_ULONG got = 0;
    CK_RV rv;
    int tries;

    *out = NULL;
    if (tool_ctx_effective(k, user, &eff) != 0) {
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    rv = p11kms_context_encode(eff, &enc, &enc_len);
    if (rv != CKR_OK)
        goto out;
    mech.pParameter = enc;
    mech.ulParameterLen = enc_len;
    /* Two-call convention: the length (an upper bound), then the envelope; the operation keeps
     * its result between the calls. */
    rv = p->f->C_EncryptInit(s, &mech, k->handle);
    if (rv == CKR_OK)
        rv = p->f->C_Encrypt(s, (CK_BYTE_PTR)blob, len, NULL, &got);
    for (tries = 0; rv == CKR_OK; tries++) {
        free(buf);
        buf = malloc(got ? got : 1);
        if (buf == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        rv = p->f->C_Encrypt(s, (CK_BYTE_PTR)blob, len, buf, &got);
        if (rv == CKR_OK) {
            *out = buf;
            *out_len = got;
            buf = NULL;
            goto out;
        }
        if (rv != CKR_BUFFER_TOO_SMALL || tries == 2)
            goto out;
        rv = CKR_OK; /* got is the length it needs now */
    }
out:
    free(buf);
    free(enc);
    p11kms_context_free(eff);
    return rv;
}

CK_RV tool_dk_rewrap_any(tool_p11 *p, tool_key *key, const tool_hint *hint,
                         const p11kms_context *user, const uint8_t *blob, size_t len,
                         tool_key **used, uint8_t **out, size_t *out_len)
{
    tool_key **cand = NULL;
    size_t n = 0, i;
    CK_RV rv = CKR_KEY_HANDLE_INVALID, first_rv = CKR_OK;

    *used = key;
    if (key != NULL)
        return rewrap_with(p, key, user, blob, len, out, out_len);
    if (candidates(p, hint, TOOL_NEED_UNWRAP | TOOL_NEED_WRAP, &cand, &n) != CKR_OK)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        if (!cand[i]->is_kms)
            continue;
        rv = rewrap_with(p, cand[i], user, blob, len, out, out_len);
        if (rv == CKR_OK) {
            *used = cand[i];
            break;
        }
        if (*used == NULL) {
            *used = cand[i];
            first_rv = rv;
        }
    }
    if (rv != CKR_OK && *used != NULL)
        rv = first_rv;
    free(cand);
    return rv;
}

CK_RV tool_dk_value(tool_p11 *p, const tool_key *k, CK_OBJECT_HANDLE dk,
                    uint8_t out[TOOL_DATA_KEY_LEN])
{
    CK_ATTRIBUTE a = {CKA_VALUE, out, TOOL_DATA_KEY_LEN};
    CK_RV rv;

    rv = p->f->C_GetAttributeValue(k->slot->session, dk, &a, 1);
    if (rv == CKR_OK && a.ulValueLen != TOOL_DATA_KEY_LEN)
        rv = CKR_KEY_SIZE_RANGE;
    return rv;
}

void tool_dk_destroy(tool_p11 *p, const tool_key *k, CK_OBJECT_HANDLE dk)
{
    if (dk != CK_INVALID_HANDLE)
        p->f->C_DestroyObject(k->slot->session, dk);
}

int tool_ctx_add_arg(p11kms_context **ctx, const char *arg)
{
    const char *eq = strchr(arg, '=');
    CK_RV rv;

    if (*ctx == NULL && p11kms_context_new(ctx) != CKR_OK) {
        tool_err("out of memory");
        return -1;
    }
    if (eq == NULL || eq == arg) {
        tool_err("--context %s: expected KEY=VALUE with a non-empty KEY", arg);
        return -1;
    }
    if (p11kms_context_key_reserved(arg, (size_t)(eq - arg))) {
        tool_err("--context %s: keys beginning with \"p11kms:\" (in any letter case) are "
                 "reserved: p11kms binds them itself",
                 arg);
        return -1;
    }
    rv = p11kms_context_add(*ctx, arg, (size_t)(eq - arg), eq + 1, strlen(eq + 1), 0);
    if (rv != CKR_OK) {
        tool_err("--context %s: refused (a repeated key, invalid UTF-8, or more than %d pairs "
                 "or %d bytes in all)",
                 arg, P11KMS_CONTEXT_MAX_PAIRS, P11KMS_CONTEXT_MAX_ENCODED);
        return -1;
    }
    return 0;
}

int tool_ctx_effective(const tool_key *k, const p11kms_context *user, p11kms_context **out)
{
    p11kms_context *c = NULL;
    size_t i;
    CK_RV rv;

    *out = NULL;
    if (k->is_kms && k->default_ctx != NULL && k->default_ctx_len > 0)
        rv = p11kms_context_decode(k->default_ctx, k->default_ctx_len, &c);
    else
        rv = p11kms_context_new(&c);
    if (rv != CKR_OK) {
        tool_err("key %s has an unreadable default context", tool_key_name(k));
        return -1;
    }
    for (i = 0; user != NULL && i < user->n; i++) {
        rv = p11kms_context_add(c, user->pairs[i].key, user->pairs[i].key_len, user->pairs[i].value,
                                user->pairs[i].value_len, 1);
        if (rv != CKR_OK) {
            tool_err("the encryption context is too large with the key's default pairs");
            p11kms_context_free(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

char *tool_ctx_text(const p11kms_context *ctx)
{
    size_t i, len = 16, off = 0;
    char *s;

    for (i = 0; ctx != NULL && i < ctx->n; i++)
        len += ctx->pairs[i].key_len + ctx->pairs[i].value_len + 3;
    s = malloc(len);
    if (s == NULL)
        return NULL;
    if (ctx == NULL || ctx->n == 0) {
        snprintf(s, len, "(empty)");
        return s;
    }
    for (i = 0; i < ctx->n; i++)
        off += (size_t)snprintf(s + off, len - off, "%s%s=%s", i ? ", " : "", ctx->pairs[i].key,
                                ctx->pairs[i].value);
    return s;
}

int tool_dk_merge(uint8_t *const *env, const size_t *len, size_t n, uint8_t **out, size_t *out_len)
{
    p11kms_envelope all, one;
    size_t i, j, need;
    int ret = -1;

    memset(&all, 0, sizeof(all));
    memset(&one, 0, sizeof(one));
    *out = NULL;
    for (i = 0; i < n; i++) {
        if (p11kms_envelope_parse(env[i], len[i], &one) != CKR_OK ||
            one.version != P11KMS_ENVELOPE_VERSION || (i > 0 && one.purpose != all.purpose)) {
            tool_err("the module returned an envelope that cannot be merged");
            goto out;
        }
        if (all.n + one.n > P11KMS_ENVELOPE_MAX_BLOBS) {
            tool_err("the keys make more than %d KMS blobs, more than an envelope holds",
                     P11KMS_ENVELOPE_MAX_BLOBS);
            goto out;
        }
        all.version = one.version;
        all.purpose = one.purpose;
        /* move the blobs over: all owns them now */
        for (j = 0; j < one.n; j++) {
            all.blobs[all.n++] = one.blobs[j];
            memset(&one.blobs[j], 0, sizeof(one.blobs[j]));
        }
        p11kms_envelope_clear(&one);
    }
    need = p11kms_envelope_encoded_len(&all);
    *out = need > 0 ? malloc(need) : NULL;
    if (*out == NULL || p11kms_envelope_encode(&all, *out, &need) != CKR_OK) {
        tool_err("cannot encode the merged envelope");
        free(*out);
        *out = NULL;
        goto out;
    }
    *out_len = need;
    ret = 0;
out:
    p11kms_envelope_clear(&one);
    p11kms_envelope_clear(&all);
    return ret;
}
