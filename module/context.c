/* context.c - encryption-context pairs kept in canonical order, their canonical byte encoding,
 * and the contexts that mechanism parameters and "k=v" text ask for. No shared state. */
#include <stdlib.h>
#include <string.h>
#include "context.h"
#include "log.h"
#include "utf8.h"

/* u16 count, then per pair two u16 lengths. */
#define HDR_LEN 2
#define PAIR_OVERHEAD 4

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);

    if (r != 0)
        return r;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Index of key, or of the position where it would be inserted (*found tells which). */
static size_t find_pos(const p11kms_context *c, const char *key, size_t key_len, int *found)
{
    size_t lo = 0, hi = c->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = key_cmp(c->pairs[mid].key, c->pairs[mid].key_len, key, key_len);

        if (r == 0) {
            *found = 1;
            return mid;
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s == NULL)
        return NULL;
    if (n > 0)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

size_t p11kms_context_encoded_len(const p11kms_context *c)
{
    size_t i, len = HDR_LEN;

    for (i = 0; i < c->n; i++)
        len += PAIR_OVERHEAD + c->pairs[i].key_len + c->pairs[i].value_len;
    return len;
}

int p11kms_context_key_reserved(const char *key, size_t key_len)
{
    static const char prefix[] = P11KMS_CONTEXT_RESERVED_PREFIX;
    size_t i;

    if (key == NULL || key_len < sizeof(prefix) - 1)
        return 0;
    /* ASCII case folding by hand: strncasecmp follows the locale. */
    for (i = 0; i < sizeof(prefix) - 1; i++) {
        char ch = key[i];

        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != prefix[i])
            return 0;
    }
    return 1;
}

/* ctx_add modes: ADD_REPLACE overwrites an existing key instead of failing; ADD_RESERVED adds
 * the core's own pair, a reserved key, beyond the application's limits. */
#define ADD_REPLACE 0x1u
#define ADD_RESERVED 0x2u

/*
 * The one place the pair rules live. Lengths are checked before the bytes are scanned, so a
 * caller's absurd length never makes us read far. *why names the broken rule for log lines.
 * Reserved keys enter a context only through p11kms_context_with_reserved (ADD_RESERVED), so
 * every context an application, a configuration or a tool makes is refused one.
 */
static CK_RV ctx_add(p11kms_context *c, const char *key, size_t key_len, const char *value,
                     size_t value_len, unsigned mode, const char **why)
{
    CK_RV rv = CKR_MECHANISM_PARAM_INVALID;
    p11kms_context_pair *pairs;
    size_t pos, total, max_pairs = P11KMS_CONTEXT_MAX_PAIRS, max_len = P11KMS_CONTEXT_MAX_ENCODED;
    char *k = NULL, *v = NULL;
    int found;

    if (key_len == 0 || key == NULL) {
        *why = "a key is empty";
        goto out;
    }
    if (p11kms_context_key_reserved(key, key_len) != ((mode & ADD_RESERVED) != 0)) {
        *why = (mode & ADD_RESERVED) ? "an internal pair lacks the reserved prefix"
                                     : "a key begins with \"p11kms:\" (reserved for p11kms, in "
                                       "any letter case)";
        goto out;
    }
    if (mode & ADD_RESERVED) {
        if (PAIR_OVERHEAD + key_len + value_len > P11KMS_CONTEXT_RESERVED_PAIR_MAX) {
            *why = "an internal pair is longer than its reserved room";
            goto out;
        }
        max_pairs += P11KMS_CONTEXT_RESERVED_PAIRS;
        max_len += P11KMS_CONTEXT_RESERVED_BYTES;
    }
    if (value_len > 0 && value == NULL) {
        *why = "a value pointer is NULL";
        goto out;
    }
    if (key_len > P11KMS_CONTEXT_MAX_ENCODED || value_len > P11KMS_CONTEXT_MAX_ENCODED) {
        *why = "the encoding would exceed 8192 bytes";
        goto out;
    }
    if (!p11kms_utf8_valid((const uint8_t *)key, key_len)) {
        *why = "a key is not valid UTF-8 (or contains NUL)";
        goto out;
    }
    if (!p11kms_utf8_valid((const uint8_t *)value, value_len)) {
        *why = "a value is not valid UTF-8 (or contains NUL)";
        goto out;
    }
    pos = find_pos(c, key, key_len, &found);
    total = p11kms_context_encoded_len(c) + key_len + value_len;
    if (found) {
        if (!(mode & ADD_REPLACE)) {
            *why = "a key appears twice";
            goto out;
        }
        total -= c->pairs[pos].key_len + c->pairs[pos].value_len;
    } else {
        total += PAIR_OVERHEAD;
        if (c->n >= max_pairs) {
            *why = "more than 64 pairs";
            goto out;
        }
    }
    if (total > max_len) {
        *why = "the encoding would exceed 8192 bytes";
        goto out;
    }

    rv = CKR_HOST_MEMORY;
    *why = "out of memory";
    v = dup_bytes(value_len > 0 ? value : "", value_len);
    if (v == NULL)
        goto out;
    if (found) {
        free(c->pairs[pos].value);
        c->pairs[pos].value = v;
        c->pairs[pos].value_len = value_len;
        v = NULL;
        rv = CKR_OK;
        goto out;
    }
    k = dup_bytes(key, key_len);
    if (k == NULL)
        goto out;
    pairs = realloc(c->pairs, (c->n + 1) * sizeof(*pairs));
    if (pairs == NULL)
        goto out;
    c->pairs = pairs;
    memmove(&pairs[pos + 1], &pairs[pos], (c->n - pos) * sizeof(*pairs));
    pairs[pos].key = k;
    pairs[pos].key_len = key_len;
    pairs[pos].value = v;
    pairs[pos].value_len = value_len;
    c->n++;
    k = v = NULL;
    rv = CKR_OK;
out:
    free(k);
    free(v);
    return rv;
}

CK_RV p11kms_context_new(p11kms_context **out)
{
    p11kms_context *c = calloc(1, sizeof(*c));

    *out = NULL;
    if (c == NULL)
        return CKR_HOST_MEMORY;
    /* One slot up front, so pairs is never NULL. */
    c->pairs = calloc(1, sizeof(*c->pairs));
    if (c->pairs == NULL) {
        free(c);
        return CKR_HOST_MEMORY;
    }
    *out = c;
    return CKR_OK;
}

void p11kms_context_free(p11kms_context *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        free(c->pairs[i].key);
        free(c->pairs[i].value);
    }
    free(c->pairs);
    free(c);
}

CK_RV p11kms_context_copy(const p11kms_context *src, p11kms_context **out)
{
    CK_RV rv;
    p11kms_context *c = NULL;
    const char *why = NULL;
    size_t i;

    *out = NULL;
    rv = p11kms_context_new(&c);
    if (rv != CKR_OK)
        goto out;
    for (i = 0; src != NULL && i < src->n; i++) {
        rv = ctx_add(c, src->pairs[i].key, src->pairs[i].key_len, src->pairs[i].value,
                     src->pairs[i].value_len, 0, &why);
        if (rv != CKR_OK)
            goto out;
    }
    *out = c;
    c = NULL;
out:
    p11kms_context_free(c);
    return rv;
}

CK_RV p11kms_context_add(p11kms_context *c, const char *key, size_t key_len, const char *value,
                         size_t value_len, int replace)
{
    const char *why = NULL;
    CK_RV rv = ctx_add(c, key, key_len, value, value_len, replace ? ADD_REPLACE : 0, &why);

    /* Callers know the origin (config field, mechanism) and log the error line themselves. */
    if (rv != CKR_OK)
        LOG_D("encryption context pair refused: %s", why);
    return rv;
}

CK_RV p11kms_context_view_reserved_n(const p11kms_context *app, const char *const *keys,
                                     const char *const *values, size_t n_extra,
                                     p11kms_context_view *view)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    size_t n = app != NULL ? app->n : 0, i, pos, key_len, value_len;
    int found = 0;

    view->ctx.pairs = view->pairs;
    view->ctx.n = 0;
    /* The core's own constants and contexts built by ctx_add: failing here is a defect. */
    if (n > P11KMS_CONTEXT_MAX_PAIRS + P11KMS_CONTEXT_RESERVED_PAIRS ||
        n_extra > P11KMS_CONTEXT_MAX_PAIRS + P11KMS_CONTEXT_RESERVED_PAIRS - n) {
        LOG_E("internal encryption-context pairs refused (%zu pairs on %zu)", n_extra, n);
        goto out;
    }
    if (n > 0)
        memcpy(view->pairs, app->pairs, n * sizeof(*view->pairs));
    view->ctx.n = n;
    for (i = 0; i < n_extra; i++) {
        key_len = strlen(keys[i]);
        value_len = strlen(values[i]);
        if (!p11kms_context_key_reserved(keys[i], key_len) ||
            PAIR_OVERHEAD + key_len + value_len > P11KMS_CONTEXT_RESERVED_PAIR_MAX) {
            LOG_E("internal encryption-context pair %s refused", keys[i]);
            goto out;
        }
        pos = find_pos(&view->ctx, keys[i], key_len, &found);
        if (found) {
            LOG_E("internal encryption-context pair %s is already in the context", keys[i]);
            goto out;
        }
        memmove(view->pairs + pos + 1, view->pairs + pos,
                (view->ctx.n - pos) * sizeof(*view->pairs));
        /* Borrowed, never written through: the pair type is shared with owned contexts. */
        view->pairs[pos].key = (char *)keys[i];
        view->pairs[pos].key_len = key_len;
        view->pairs[pos].value = (char *)values[i];
        view->pairs[pos].value_len = value_len;
        view->ctx.n++;
    }
    rv = CKR_OK;
out:
    if (rv != CKR_OK)
        view->ctx.n = 0;
    return rv;
}

CK_RV p11kms_context_view_reserved(const p11kms_context *app, const char *key, const char *value,
                                   p11kms_context_view *view)
{
    return p11kms_context_view_reserved_n(app, &key, &value, 1, view);
}

const char *p11kms_context_get(const p11kms_context *c, const char *key)
{
    size_t pos;
    int found;

    if (c == NULL || key == NULL)
        return NULL;
    pos = find_pos(c, key, strlen(key), &found);
    return found ? c->pairs[pos].value : NULL;
}

int p11kms_context_equal(const p11kms_context *a, const p11kms_context *b)
{
    size_t i;

    if (a == NULL || b == NULL)
        return a == b;
    if (a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++) {
        const p11kms_context_pair *x = &a->pairs[i], *y = &b->pairs[i];

        if (x->key_len != y->key_len || x->value_len != y->value_len ||
            memcmp(x->key, y->key, x->key_len) != 0 ||
            memcmp(x->value, y->value, x->value_len) != 0)
            return 0;
    }
    return 1;
}

static void put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

CK_RV p11kms_context_encode(const p11kms_context *c, uint8_t **out, size_t *out_len)
{
    size_t i, len = p11kms_context_encoded_len(c);
    uint8_t *buf, *p;

    *out = NULL;
    *out_len = 0;
    /* ctx_add keeps every context within bounds; this guards hand-built structs. */
    if (c->n > P11KMS_CONTEXT_MAX_PAIRS + P11KMS_CONTEXT_RESERVED_PAIRS ||
        len > P11KMS_CONTEXT_MAX_ENCODED + P11KMS_CONTEXT_RESERVED_BYTES)
        return CKR_MECHANISM_PARAM_INVALID;
    buf = malloc(len);
    if (buf == NULL)
        return CKR_HOST_MEMORY;
    p = buf;
    put_u16(p, c->n);
    p += 2;
    for (i = 0; i < c->n; i++) {
        put_u16(p, c->pairs[i].key_len);
        memcpy(p + 2, c->pairs[i].key, c->pairs[i].key_len);
        p += 2 + c->pairs[i].key_len;
        put_u16(p, c->pairs[i].value_len);
        if (c->pairs[i].value_len > 0)
            memcpy(p + 2, c->pairs[i].value, c->pairs[i].value_len);
        p += 2 + c->pairs[i].value_len;
    }
    *out = buf;
    *out_len = len;
    return CKR_OK;
}

static size_t get_u16(const uint8_t *p)
{
    return ((size_t)p[0] << 8) | p[1];
}

/* Strict decode; on failure *why and *where (byte offset) describe the first defect. */
static CK_RV ctx_decode(const uint8_t *in, size_t len, p11kms_context **out, const char **why,
                        size_t *where)
{
    CK_RV rv;
    p11kms_context *c = NULL;
    size_t off = 0, count, i, klen, vlen;
    const uint8_t *key, *value;

    *out = NULL;
    *where = 0;
    rv = p11kms_context_new(&c);
    if (rv != CKR_OK) {
        *why = "out of memory";
        goto out;
    }
    rv = CKR_MECHANISM_PARAM_INVALID;
    if (in == NULL || len < HDR_LEN) {
        *why = "shorter than the 2-byte pair count";
        goto out;
    }
    if (len > P11KMS_CONTEXT_MAX_ENCODED) {
        *why = "longer than 8192 bytes";
        goto out;
    }
    count = get_u16(in);
    off = HDR_LEN;
    if (count > P11KMS_CONTEXT_MAX_PAIRS) {
        *why = "more than 64 pairs";
        goto out;
    }
    for (i = 0; i < count; i++) {
        if (len - off < 2) {
            *why = "truncated before a key length";
            goto out;
        }
        klen = get_u16(in + off);
        off += 2;
        if (len - off < klen) {
            *why = "truncated inside a key";
            goto out;
        }
        key = in + off;
        off += klen;
        if (len - off < 2) {
            *why = "truncated before a value length";
            goto out;
        }
        vlen = get_u16(in + off);
        off += 2;
        if (len - off < vlen) {
            *why = "truncated inside a value";
            goto out;
        }
        value = in + off;
        off += vlen;
        /* Canonical order is strictly increasing, which also rules out duplicates. */
        if (c->n > 0 && key_cmp(c->pairs[c->n - 1].key, c->pairs[c->n - 1].key_len,
                                (const char *)key, klen) >= 0) {
            *why = "keys are not in canonical (sorted, unique) order";
            goto out;
        }
        rv = ctx_add(c, (const char *)key, klen, (const char *)value, vlen, 0, why);
        if (rv != CKR_OK)
            goto out;
        rv = CKR_MECHANISM_PARAM_INVALID;
    }
    if (off != len) {
        *why = "trailing bytes after the last pair";
        goto out;
    }
    *out = c;
    c = NULL;
    rv = CKR_OK;
out:
    if (rv != CKR_OK)
        *where = off;
    p11kms_context_free(c);
    return rv;
}

CK_RV p11kms_context_decode(const uint8_t *in, size_t len, p11kms_context **out)
{
    const char *why = NULL;
    size_t where = 0;
    CK_RV rv = ctx_decode(in, len, out, &why, &where);

    if (rv == CKR_MECHANISM_PARAM_INVALID)
        LOG_E("encoded encryption context refused: %s (offset %zu of %zu)", why, where, len);
    return rv;
}

/* CK_P11KMS_ENVELOPE_PARAMS -> context; every rule checked before a pointer is followed. */
static CK_RV from_params(const CK_MECHANISM *mech, const p11kms_context *deflt,
                         p11kms_context **out, const char **why)
{
    CK_RV rv = CKR_MECHANISM_PARAM_INVALID;
    const CK_P11KMS_ENVELOPE_PARAMS *p = mech->pParameter;
    p11kms_context *given = NULL, *merged = NULL;
    size_t i;

    if (mech->ulParameterLen != sizeof(CK_P11KMS_ENVELOPE_PARAMS)) {
        *why = "ulParameterLen is not sizeof(CK_P11KMS_ENVELOPE_PARAMS)";
        goto out;
    }
    if (p->ulVersion != P11KMS_ENVELOPE_PARAMS_VERSION) {
        *why = "ulVersion is not 1";
        goto out;
    }
    if ((p->flags & ~(CK_FLAGS)P11KMS_FLAG_MERGE_DEFAULT_CONTEXT) != 0) {
        *why = "unknown bits in flags";
        goto out;
    }
    if (p->ulContextCount > P11KMS_CONTEXT_MAX_PAIRS) {
        *why = "more than 64 pairs";
        goto out;
    }
    if (p->ulContextCount > 0 && p->pContext == NULL) {
        *why = "pContext is NULL while ulContextCount > 0";
        goto out;
    }
    rv = p11kms_context_new(&given);
    if (rv != CKR_OK)
        goto out;
    for (i = 0; i < p->ulContextCount; i++) {
        const CK_P11KMS_CONTEXT_PAIR *pr = &p->pContext[i];

        rv = CKR_MECHANISM_PARAM_INVALID;
        if (pr->ulKeyLen > 0 && pr->pKey == NULL) {
            *why = "pKey is NULL while ulKeyLen > 0";
            goto out;
        }
        if (pr->ulValueLen > 0 && pr->pValue == NULL) {
            *why = "pValue is NULL while ulValueLen > 0";
            goto out;
        }
        rv = ctx_add(given, (const char *)pr->pKey, pr->ulKeyLen, (const char *)pr->pValue,
                     pr->ulValueLen, 0, why);
        if (rv != CKR_OK)
            goto out;
    }
    if (p->flags & P11KMS_FLAG_MERGE_DEFAULT_CONTEXT) {
        rv = p11kms_context_copy(deflt, &merged);
        if (rv != CKR_OK)
            goto out;
        for (i = 0; i < given->n; i++) {
            rv = ctx_add(merged, given->pairs[i].key, given->pairs[i].key_len,
                         given->pairs[i].value, given->pairs[i].value_len, ADD_REPLACE, why);
            if (rv != CKR_OK)
                goto out;
        }
        *out = merged;
        merged = NULL;
    } else {
        *out = given;
        given = NULL;
    }
    rv = CKR_OK;
out:
    p11kms_context_free(given);
    p11kms_context_free(merged);
    return rv;
}

CK_RV p11kms_context_from_mechanism(const CK_MECHANISM *mech, const p11kms_context *deflt,
                                    p11kms_context **out)
{
    CK_RV rv;
    const char *why = "out of memory";
    size_t where = 0;

    *out = NULL;
    if (mech == NULL)
        return CKR_MECHANISM_PARAM_INVALID;
    /* No parameter, or a mechanism whose parameter is not a context (AES-KW's IV). */
    if (mech->pParameter == NULL || mech->ulParameterLen == 0 ||
        (mech->mechanism != CKM_P11KMS_ENVELOPE && mech->mechanism != CKM_P11KMS_ENVELOPE_ENCODED &&
         mech->mechanism != CKM_P11KMS_REWRAP))
        return p11kms_context_copy(deflt, out);

    if (mech->mechanism == CKM_P11KMS_ENVELOPE) {
        rv = from_params(mech, deflt, out, &why);
        if (rv == CKR_MECHANISM_PARAM_INVALID)
            LOG_E("CKM_P11KMS_ENVELOPE parameter refused: %s", why);
    } else {
        rv = ctx_decode(mech->pParameter, mech->ulParameterLen, out, &why, &where);
        if (rv == CKR_MECHANISM_PARAM_INVALID)
            LOG_E("%s parameter refused: %s (offset %zu of %lu)",
                  mech->mechanism == CKM_P11KMS_REWRAP ? "CKM_P11KMS_REWRAP"
                                                       : "CKM_P11KMS_ENVELOPE_ENCODED",
                  why, where, (unsigned long)mech->ulParameterLen);
    }
    return rv;
}

/* Unescape one "k=v" item text[0..n) into key and value buffers (each n + 1 bytes). */
static CK_RV split_item(const char *text, size_t n, char *key, size_t *key_len, char *value,
                        size_t *value_len, const char **why)
{
    char *dst = key;
    size_t i, d = 0;
    int in_value = 0;

    for (i = 0; i < n; i++) {
        char ch = text[i];

        if (ch == '\\') {
            if (i + 1 == n) {
                *why = "a backslash ends an item";
                return CKR_MECHANISM_PARAM_INVALID;
            }
            ch = text[++i];
            if (ch != '\\' && ch != ',' && ch != '=') {
                *why = "a backslash escapes something other than '\\', ',' or '='";
                return CKR_MECHANISM_PARAM_INVALID;
            }
        } else if (ch == '=') {
            if (in_value) {
                *why = "an unescaped '=' inside a value";
                return CKR_MECHANISM_PARAM_INVALID;
            }
            *key_len = d;
            dst = value;
            d = 0;
            in_value = 1;
            continue;
        }
        dst[d++] = ch;
    }
    if (!in_value) {
        *why = "an item has no '='";
        return CKR_MECHANISM_PARAM_INVALID;
    }
    *value_len = d;
    return CKR_OK;
}

CK_RV p11kms_context_parse_text(const char *text, p11kms_context **out)
{
    CK_RV rv;
    p11kms_context *c = NULL;
    char *key = NULL, *value = NULL;
    const char *why = "out of memory";
    size_t len, start, i, key_len = 0, value_len = 0;

    *out = NULL;
    rv = p11kms_context_new(&c);
    if (rv != CKR_OK)
        goto out;
    if (text == NULL || text[0] == '\0')
        goto done;
    len = strlen(text);
    rv = CKR_HOST_MEMORY;
    key = malloc(len + 1);
    value = malloc(len + 1);
    if (key == NULL || value == NULL)
        goto out;
    start = 0;
    for (i = 0; i <= len; i++) {
        if (i < len && text[i] == '\\') {
            if (i + 1 < len)
                i++; /* skip the escaped byte; split_item checks it */
            continue;
        }
        if (i < len && text[i] != ',')
            continue;
        rv = CKR_MECHANISM_PARAM_INVALID;
        if (i == start) {
            why = "an empty item";
            goto out;
        }
        rv = split_item(text + start, i - start, key, &key_len, value, &value_len, &why);
        if (rv != CKR_OK)
            goto out;
        rv = ctx_add(c, key, key_len, value, value_len, 0, &why);
        if (rv != CKR_OK)
            goto out;
        start = i + 1;
    }
done:
    *out = c;
    c = NULL;
    rv = CKR_OK;
out:
    if (rv == CKR_MECHANISM_PARAM_INVALID)
        LOG_E("encryption context text refused: %s", why);
    free(key);
    free(value);
    p11kms_context_free(c);
    return rv;
}
