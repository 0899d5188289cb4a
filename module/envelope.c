/* envelope.c - the p11kms envelope format: encode version 2 with the two-call length convention,
 * and a strict, bounded parser of versions 2 and 1 that copies everything out. No shared state. */
#include <stdlib.h>
#include <string.h>
#include "envelope.h"
#include "log.h"
#include "utf8.h"

#define MAGIC_LEN 4

static const char no_memory[] = "out of memory";

void p11kms_kms_blob_clear(p11kms_kms_blob *b)
{
    if (b == NULL)
        return;
    /* A KMS ciphertext is not secret: it is what the envelope publishes. */
    free(b->key_ref);
    free(b->ct);
    memset(b, 0, sizeof(*b));
}

void p11kms_envelope_clear(p11kms_envelope *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < P11KMS_ENVELOPE_MAX_BLOBS; i++)
        p11kms_kms_blob_clear(&e->blobs[i]);
    e->n = 0;
    e->version = 0;
    e->purpose = P11KMS_PURPOSE_UNKNOWN;
}

static int purpose_known(uint32_t purpose)
{
    return purpose == P11KMS_PURPOSE_WRAPPED_KEY || purpose == P11KMS_PURPOSE_DATA ||
           purpose == P11KMS_PURPOSE_STORED_OBJECT;
}

const char *p11kms_envelope_purpose_name(const p11kms_envelope *e)
{
    switch (e->purpose) {
    case P11KMS_PURPOSE_WRAPPED_KEY:
        return "wrapped key";
    case P11KMS_PURPOSE_DATA:
        return "data";
    case P11KMS_PURPOSE_STORED_OBJECT:
        return "stored object";
    default:
        return "v1/unknown";
    }
}

/* Bytes one blob takes, or 0 when it breaks a bound of the format. */
static size_t blob_len(const p11kms_kms_blob *b)
{
    size_t ref_len;

    if (b->backend_id == 0 || b->key_ref == NULL || b->ct == NULL)
        return 0;
    ref_len = strnlen(b->key_ref, P11KMS_KEY_REF_MAX + 1);
    if (ref_len == 0 || ref_len > P11KMS_KEY_REF_MAX)
        return 0;
    if (!p11kms_utf8_valid((const uint8_t *)b->key_ref, ref_len))
        return 0;
    if (b->ct_len == 0 || b->ct_len > P11KMS_BLOB_CT_MAX)
        return 0;
    return P11KMS_ENVELOPE_BLOB_OVERHEAD + ref_len + b->ct_len;
}

size_t p11kms_envelope_encoded_len(const p11kms_envelope *e)
{
    size_t i, len = P11KMS_ENVELOPE_HEADER_LEN;

    if (e == NULL || e->n == 0 || e->n > P11KMS_ENVELOPE_MAX_BLOBS || !purpose_known(e->purpose))
        return 0;
    for (i = 0; i < e->n; i++) {
        size_t bl = blob_len(&e->blobs[i]);

        if (bl == 0)
            return 0;
        len += bl;
    }
    return len;
}

static uint8_t *put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

CK_RV p11kms_envelope_encode(const p11kms_envelope *e, uint8_t *out, size_t *out_len)
{
    size_t i, need = p11kms_envelope_encoded_len(e);
    uint8_t *p = out;

    if (need == 0) {
        LOG_E("envelope to encode breaks a format bound (%zu blobs, purpose %u)",
              e != NULL ? e->n : 0, e != NULL ? e->purpose : 0);
        return CKR_GENERAL_ERROR;
    }
    if (out == NULL || *out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(p, P11KMS_ENVELOPE_MAGIC, MAGIC_LEN);
    p += MAGIC_LEN;
    *p++ = P11KMS_ENVELOPE_VERSION;
    *p++ = e->purpose;
    *p++ = (uint8_t)e->n;
    for (i = 0; i < e->n; i++) {
        const p11kms_kms_blob *b = &e->blobs[i];
        size_t ref_len = strlen(b->key_ref);

        *p++ = b->backend_id;
        p = put_u16(p, ref_len);
        memcpy(p, b->key_ref, ref_len);
        p += ref_len;
        p = put_u32(p, b->key_version);
        p = put_u32(p, (uint32_t)b->ct_len);
        memcpy(p, b->ct, b->ct_len);
        p += b->ct_len;
    }
    *out_len = need;
    return CKR_OK;
}

/* A read cursor that never passes the end; every read says whether it fit. */
typedef struct cursor {
    const uint8_t *p;
    size_t len;
    size_t off;
} cursor;

static int take(cursor *c, size_t n, const uint8_t **where)
{
    if (c->len - c->off < n)
        return 0;
    *where = c->p + c->off;
    c->off += n;
    return 1;
}

static int take_u8(cursor *c, uint32_t *v)
{
    const uint8_t *q;

    if (!take(c, 1, &q))
        return 0;
    *v = q[0];
    return 1;
}

static int take_u16(cursor *c, uint32_t *v)
{
    const uint8_t *q;

    if (!take(c, 2, &q))
        return 0;
    *v = ((uint32_t)q[0] << 8) | q[1];
    return 1;
}

static int take_u32(cursor *c, uint32_t *v)
{
    const uint8_t *q;

    if (!take(c, 4, &q))
        return 0;
    *v = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
    return 1;
}

/* Parse one blob at the cursor into b; NULL, or the name of the defect. */
static const char *parse_blob(cursor *c, p11kms_kms_blob *b)
{
    const uint8_t *ref, *ct;
    uint32_t id, ref_len, version, ct_len;

    if (!take_u8(c, &id))
        return "truncated before backend id";
    if (id == 0)
        return "backend id 0";
    if (!take_u16(c, &ref_len))
        return "truncated in key reference length";
    if (ref_len == 0 || ref_len > P11KMS_KEY_REF_MAX)
        return "key reference length out of range (1..2048)";
    if (!take(c, ref_len, &ref))
        return "truncated in key reference";
    if (!p11kms_utf8_valid(ref, ref_len))
        return "key reference is not UTF-8 without NUL";
    if (!take_u32(c, &version))
        return "truncated in key version";
    if (!take_u32(c, &ct_len))
        return "truncated in ciphertext length";
    if (ct_len == 0 || ct_len > P11KMS_BLOB_CT_MAX)
        return "ciphertext length out of range (1..8192)";
    if (!take(c, ct_len, &ct))
        return "truncated in ciphertext";

    b->key_ref = malloc(ref_len + 1);
    b->ct = malloc(ct_len);
    if (b->key_ref == NULL || b->ct == NULL)
        return no_memory;
    memcpy(b->key_ref, ref, ref_len);
    b->key_ref[ref_len] = '\0';
    memcpy(b->ct, ct, ct_len);
    b->ct_len = ct_len;
    b->backend_id = (uint8_t)id;
    b->key_version = version;
    return NULL;
}

CK_RV p11kms_envelope_parse(const uint8_t *in, size_t len, p11kms_envelope *e)
{
    CK_RV rv = CKR_WRAPPED_KEY_INVALID;
    cursor c = {in, len, 0};
    const uint8_t *magic;
    const char *defect = NULL;
    uint32_t version, purpose = P11KMS_PURPOSE_UNKNOWN, count, i;

    memset(e, 0, sizeof(*e));
    if (in == NULL) {
        defect = "no input";
        goto out;
    }
    if (!take(&c, MAGIC_LEN, &magic) || memcmp(magic, P11KMS_ENVELOPE_MAGIC, MAGIC_LEN) != 0) {
        c.off = 0;
        defect = "magic is not PKMS";
        goto out;
    }
    if (!take_u8(&c, &version)) {
        defect = "truncated before version";
        goto out;
    }
    if (version != P11KMS_ENVELOPE_VERSION && version != P11KMS_ENVELOPE_VERSION_1) {
        defect = "unsupported version";
        goto out;
    }
    if (version == P11KMS_ENVELOPE_VERSION) {
        if (!take_u8(&c, &purpose)) {
            defect = "truncated before purpose";
            goto out;
        }
        if (!purpose_known(purpose)) {
            defect = "unknown purpose (1 wrapped key, 2 data, 3 stored object)";
            goto out;
        }
    }
    if (!take_u8(&c, &count)) {
        defect = "truncated before blob count";
        goto out;
    }
    if (count == 0 || count > P11KMS_ENVELOPE_MAX_BLOBS) {
        defect = "blob count out of range (1..8)";
        goto out;
    }
    for (i = 0; i < count; i++) {
        /* Count each blob as soon as it is touched, so clear frees a half-parsed one. */
        e->n = i + 1;
        defect = parse_blob(&c, &e->blobs[i]);
        if (defect != NULL) {
            if (defect == no_memory)
                rv = CKR_HOST_MEMORY;
            goto out;
        }
    }
    if (c.off != len) {
        defect = "trailing bytes";
        goto out;
    }
    e->version = (uint8_t)version;
    e->purpose = (uint8_t)purpose;
    rv = CKR_OK;
out:
    if (rv != CKR_OK) {
        LOG_D("envelope refused: %s at offset %zu of %zu", defect, c.off, len);
        p11kms_envelope_clear(e);
    }
    return rv;
}
