/* gcp-backend.c - the "gcp" backend: data keys wrapped by Cloud KMS encrypt/decrypt on a
 * CryptoKey, the encryption context bound as additionalAuthenticatedData (its canonical
 * encoding), every field checked with CRC32C both ways, rewrap, and GetCryptoKey for
 * diagnostics. Asymmetric CryptoKeyVersions (sign, RSA decrypt) are in gcp-asym.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "gcp-backend.h"
#include "gcp-client.h"
#include "gcp-crc32c.h"
#include "log.h"
#include "net/clock.h"
#include "net/json.h"
#include "secmem.h"

/*
 * Locking: last_version is atomic (the version the latest encryption used, for
 * CKA_P11KMS_KEY_VERSION); asym_lock guards an asymmetric key's algorithm and public key
 * (gcp-asym.c); everything else is read-only after create. The client's own parts
 * lock themselves (token cache, retry quota, connection pool), so calls run in parallel.
 */

#define BODY_MAX (256u * 1024u)
/* What Cloud KMS adds to a plaintext (version, IV, tag and framing): generous, never trusted;
 * a longer answer is still accepted up to P11KMS_BLOB_CT_MAX and the caller told its size. */
#define CT_OVERHEAD 512u
#define DECRYPT_PLAINTEXT_MAX 65536u /* Cloud KMS's limit for SOFTWARE keys */
#define VERSION_INFIX "/cryptoKeyVersions/"

extern const p11kms_backend_ops p11kms_backend_gcp_ops;

static int gcp_owns(p11kms_backend *be, const p11kms_kms_blob *in)
{
    gcp_backend *gb = (gcp_backend *)be;

    return in->backend_id == P11KMS_GCP_ENVELOPE_ID && in->key_ref != NULL &&
           strcmp(in->key_ref, gb->name) == 0;
}

void p11kms_gcp_add_bytes(p11kms_sbuf *b, const char *name, const uint8_t *p, size_t n)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_str(b, ":\"");
    p11kms_sbuf_base64(b, p, n);
    p11kms_sbuf_char(b, '"');
}

void p11kms_gcp_add_crc(p11kms_sbuf *b, const char *name, uint32_t crc)
{
    char num[16];

    snprintf(num, sizeof(num), "%lu", (unsigned long)crc);
    p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_char(b, ':');
    p11kms_sbuf_json_string(b, num, strlen(num));
}

/* The request body of encrypt (data = plaintext) or decrypt (data = ciphertext), with the AAD
 * and both CRC32Cs. */
static void build_body(p11kms_sbuf *b, const char *data_name, const uint8_t *data, size_t len,
                       const uint8_t *aad, size_t aad_len)
{
    char crc_name[48];

    p11kms_sbuf_init(b, BODY_MAX);
    p11kms_sbuf_char(b, '{');
    p11kms_gcp_add_bytes(b, data_name, data, len);
    p11kms_gcp_add_bytes(b, "additionalAuthenticatedData", aad, aad_len);
    snprintf(crc_name, sizeof(crc_name), "%sCrc32c", data_name);
    p11kms_gcp_add_crc(b, crc_name, p11kms_gcp_crc32c(data, len));
    p11kms_gcp_add_crc(b, "additionalAuthenticatedDataCrc32c", p11kms_gcp_crc32c(aad, aad_len));
    p11kms_sbuf_char(b, '}');
}

int p11kms_gcp_answer_crc(const p11kms_json *root, const char *name, uint32_t *out)
{
    p11kms_json v;
    uint64_t n = 0;
    char *s = NULL;
    size_t i;
    int rc = -1;

    if (!p11kms_json_member(root, name, &v))
        return -1;
    if (p11kms_json_uint(&v, 0xFFFFFFFFu, &n) == 0) {
        *out = (uint32_t)n;
        return 0;
    }
    if (p11kms_json_string(&v, 10, &s) != 0 || s[0] == 0)
        goto out;
    for (i = 0; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto out;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    if (n > 0xFFFFFFFFu || (s[0] == '0' && s[1] != 0))
        goto out;
    *out = (uint32_t)n;
    rc = 0;
out:
    free(s);
    return rc;
}

int p11kms_gcp_answer_flag(const p11kms_json *root, const char *name)
{
    p11kms_json v;
    int b = 0;

    return p11kms_json_member(root, name, &v) && p11kms_json_bool(&v, &b) == 0 && b;
}

/* The version number in ".../cryptoKeys/K/cryptoKeyVersions/V" when the name is this key's; 0
 * otherwise. */
static uint32_t version_of(const gcp_backend *gb, const char *name)
{
    size_t n = strlen(gb->name), i;
    const char *v;
    uint64_t num = 0;

    if (strncmp(name, gb->name, n) != 0 || strncmp(name + n, VERSION_INFIX, 19) != 0)
        return 0;
    v = name + n + 19;
    for (i = 0; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 10)
            return 0;
        num = num * 10 + (uint64_t)(v[i] - '0');
    }
    return i > 0 && v[0] != '0' && num <= 0xFFFFFFFFu ? (uint32_t)num : 0;
}

int p11kms_gcp_may_retry(const gcp_backend *gb, int answers, uint64_t deadline)
{
    return answers < P11KMS_GCP_INTEGRITY_ATTEMPTS && p11kms_net_now_ms() < deadline &&
           answers < gb->client->net.settings.max_attempts;
}

/* What the encrypt answer holds, checked: 0 with the blob filled, 1 an integrity failure (the
 * answer is discarded and may be asked for again), -1 an answer that is wrong in itself (*why
 * says why, or NULL when logged already), -2 out of memory. */
static int take_encrypt(gcp_backend *gb, const p11kms_net_reply *r, p11kms_kms_blob *out,
                        const char **why)
{
    p11kms_json v;
    char *name = NULL;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    uint32_t crc = 0, version;
    int rc = -1;

    if (!p11kms_json_member(&r->root, "name", &v) ||
        p11kms_json_string(&v, P11KMS_KEY_REF_MAX, &name) != 0) {
        *why = "no version name";
        goto out;
    }
    version = version_of(gb, name);
    if (version == 0) {
        LOG_E("gcp: Encrypt %s: Cloud KMS answered for %s, which is not a version of this key",
              gb->name, name);
        *why = NULL;
        goto out;
    }
    rc = 1;
    if (!p11kms_gcp_answer_flag(&r->root, "verifiedPlaintextCrc32c") ||
        !p11kms_gcp_answer_flag(&r->root, "verifiedAdditionalAuthenticatedDataCrc32c")) {
        *why = "Cloud KMS did not verify the request's CRC32C";
        goto out;
    }
    if (!p11kms_json_member(&r->root, "ciphertext", &v) ||
        p11kms_json_base64(&v, P11KMS_BLOB_CT_MAX, &ct, &ct_len) != 0) {
        *why = "no usable ciphertext";
        goto out;
    }
    if (p11kms_gcp_answer_crc(&r->root, "ciphertextCrc32c", &crc) != 0 ||
        crc != p11kms_gcp_crc32c(ct, ct_len)) {
        *why = "the ciphertext does not match its CRC32C";
        goto out;
    }
    out->backend_id = P11KMS_GCP_ENVELOPE_ID;
    out->key_ref = strdup(gb->name);
    if (out->key_ref == NULL) {
        rc = -2;
        *why = NULL;
        goto out;
    }
    out->key_version = version;
    out->ct = ct;
    out->ct_len = ct_len;
    ct = NULL;
    atomic_store(&gb->last_version, version);
    rc = 0;
out:
    free(ct);
    free(name);
    return rc;
}

static CK_RV gcp_encrypt(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                         size_t pt_len, p11kms_kms_blob *out)
{
    static const p11kms_context empty = {NULL, 0};
    gcp_backend *gb = (gcp_backend *)be;
    uint64_t deadline = p11kms_gcp_client_deadline(gb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint8_t *aad = NULL;
    size_t aad_len = 0;
    const char *why = NULL;
    int answers, rc;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (pt_len == 0 || pt_len > P11KMS_KMS_PLAINTEXT_MAX) {
        LOG_E("gcp: Encrypt %s: %zu bytes; p11kms wraps 1 to %d bytes", gb->name, pt_len,
              P11KMS_KMS_PLAINTEXT_MAX);
        return CKR_DATA_LEN_RANGE;
    }
    rv = p11kms_context_encode(ctx != NULL ? ctx : &empty, &aad, &aad_len);
    if (rv != CKR_OK)
        return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
    build_body(&body, "plaintext", pt, pt_len, aad, aad_len);
    for (answers = 1;; answers++) {
        rv = p11kms_gcp_call(gb->client, "Encrypt", gb->name, "encrypt", &body, deadline, &reply);
        if (rv != CKR_OK) {
            /* a refused request is no refused ciphertext (the contract's meaning) */
            if (rv == CKR_ENCRYPTED_DATA_INVALID)
                rv = CKR_DEVICE_ERROR;
            goto out;
        }
        rc = take_encrypt(gb, &reply, out, &why);
        if (rc == 0)
            break;
        p11kms_kms_blob_clear(out);
        if (rc < 0) {
            if (why != NULL)
                LOG_E("gcp: Encrypt %s: malformed answer: %s", gb->name, why);
            rv = rc == -2 ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
            goto out;
        }
        p11kms_net_reply_clear(&reply);
        if (!p11kms_gcp_may_retry(gb, answers, deadline)) {
            LOG_E("gcp: Encrypt %s failed: %s (answer %d discarded; no more tries)", gb->name, why,
                  answers);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        LOG_W("gcp: Encrypt %s: %s; answer %d discarded, asking again", gb->name, why, answers);
    }
    LOG_D("gcp: Encrypt %s: %zu bytes under version %u", gb->name, pt_len,
          (unsigned)out->key_version);
    rv = CKR_OK;
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    free(aad);
    return rv;
}

/* The decrypt answer's plaintext, checked against its CRC32C: 0 with *pt set, 1 an integrity
 * failure (nothing kept), -1 no plaintext at all. */
static int take_decrypt(const p11kms_net_reply *r, p11kms_buf *pt, const char **why)
{
    p11kms_json v;
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t crc = 0;

    if (!p11kms_json_member(&r->root, "plaintext", &v) ||
        p11kms_json_base64(&v, DECRYPT_PLAINTEXT_MAX, &data, &len) != 0) {
        *why = "no usable plaintext";
        return 1;
    }
    if (p11kms_gcp_answer_crc(&r->root, "plaintextCrc32c", &crc) != 0 ||
        crc != p11kms_gcp_crc32c(data, len)) {
        p11kms_secure_free(data, len);
        *why = "the plaintext does not match its CRC32C";
        return 1;
    }
    pt->data = data;
    pt->len = len;
    return 0;
}

static CK_RV gcp_decrypt(p11kms_backend *be, const p11kms_context *ctx, const p11kms_kms_blob *in,
                         p11kms_buf *pt)
{
    static const p11kms_context empty = {NULL, 0};
    gcp_backend *gb = (gcp_backend *)be;
    uint64_t deadline = p11kms_gcp_client_deadline(gb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint8_t *aad = NULL;
    size_t aad_len = 0;
    const char *why = NULL;
    int answers;
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (in->ct == NULL || in->ct_len == 0 || in->ct_len > P11KMS_BLOB_CT_MAX) {
        LOG_E("gcp: Decrypt %s: no usable ciphertext in the blob", gb->name);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    /* decrypt is sent to this key: Cloud KMS refuses a ciphertext of any other key, so the
     * envelope must name it (owns() checked; checked again for any other caller) */
    if (!gcp_owns(be, in)) {
        LOG_E("gcp: Decrypt %s: the envelope names %s", gb->name, in->key_ref ? in->key_ref : "");
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    rv = p11kms_context_encode(ctx != NULL ? ctx : &empty, &aad, &aad_len);
    if (rv != CKR_OK)
        return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
    build_body(&body, "ciphertext", in->ct, in->ct_len, aad, aad_len);
    for (answers = 1;; answers++) {
        rv = p11kms_gcp_call(gb->client, "Decrypt", gb->name, "decrypt", &body, deadline, &reply);
        if (rv != CKR_OK)
            goto out;
        if (take_decrypt(&reply, pt, &why) == 0)
            break;
        p11kms_net_reply_clear(&reply); /* wipes the answer, plaintext and all */
        if (!p11kms_gcp_may_retry(gb, answers, deadline)) {
            LOG_E("gcp: Decrypt %s failed: %s (answer %d discarded; no more tries)", gb->name, why,
                  answers);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        LOG_W("gcp: Decrypt %s: %s; answer %d discarded, asking again", gb->name, why, answers);
    }
    LOG_D("gcp: Decrypt %s: %zu bytes (version %u in the envelope)", gb->name, pt->len,
          (unsigned)in->key_version);
    rv = CKR_OK;
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    free(aad);
    return rv;
}

static size_t gcp_blob_bound(p11kms_backend *be, size_t pt_len)
{
    gcp_backend *gb = (gcp_backend *)be;
    size_t ct = pt_len + CT_OVERHEAD;

    return strlen(gb->name) + (ct < P11KMS_BLOB_CT_MAX ? ct : P11KMS_BLOB_CT_MAX);
}

/* The version the latest encryption used (the primary then); 0 before the first one: finding
 * the primary needs a call, which C_Initialize and C_GetAttributeValue never make. */
static uint32_t gcp_current_version(p11kms_backend *be)
{
    return atomic_load(&((gcp_backend *)be)->last_version);
}

/* Cloud KMS has no re-encrypt call: decrypt and encrypt under the destination's primary
 * version, the plaintext wiped at once. Used by rewrap (the same key after a rotation, or a
 * previous key to the current one). */
static CK_RV gcp_reencrypt(p11kms_backend *src, const p11kms_context *src_ctx,
                           const p11kms_kms_blob *in, p11kms_backend *dst,
                           const p11kms_context *dst_ctx, p11kms_kms_blob *out)
{
    p11kms_buf pt = {NULL, 0};
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (dst->ops != src->ops)
        return CKR_FUNCTION_NOT_SUPPORTED; /* Cloud KMS to Cloud KMS only (backend.h) */
    rv = gcp_decrypt(src, src_ctx, in, &pt);
    if (rv == CKR_OK)
        rv = gcp_encrypt(dst, dst_ctx, pt.data, pt.len, out);
    p11kms_buf_wipe(&pt);
    return rv;
}

static CK_RV gcp_describe(p11kms_backend *be, char **text)
{
    gcp_backend *gb = (gcp_backend *)be;
    uint64_t deadline = p11kms_gcp_client_deadline(gb->client);
    p11kms_net_reply reply;
    p11kms_json primary, tmpl;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = NULL;
    CK_RV rv;

    *text = NULL;
    rv = p11kms_gcp_call(gb->client, "GetCryptoKey", gb->name, NULL, NULL, deadline, &reply);
    if (rv != CKR_OK)
        return rv;
    rv = CKR_HOST_MEMORY;
    f = open_memstream(&buf, &len);
    if (f == NULL)
        goto out;
    fprintf(f, "backend: gcp\nkey: %s\nendpoint: %s\n", gb->name, gb->client->net.settings.url);
    p11kms_json_print_member(f, &reply.root, "name", "name");
    p11kms_json_print_member(f, &reply.root, "purpose", "purpose");
    p11kms_json_print_member(f, &reply.root, "createTime", "created");
    p11kms_json_print_member(f, &reply.root, "rotationPeriod", "rotation period");
    p11kms_json_print_member(f, &reply.root, "nextRotationTime", "next rotation");
    p11kms_json_print_member(f, &reply.root, "destroyScheduledDuration",
                             "destroy scheduled duration");
    if (p11kms_json_member(&reply.root, "primary", &primary)) {
        p11kms_json_print_member(f, &primary, "name", "primary version");
        p11kms_json_print_member(f, &primary, "state", "primary state");
        p11kms_json_print_member(f, &primary, "algorithm", "algorithm");
        p11kms_json_print_member(f, &primary, "protectionLevel", "protection level");
    } else if (p11kms_json_member(&reply.root, "versionTemplate", &tmpl)) {
        fprintf(f, "primary version: none\n");
        p11kms_json_print_member(f, &tmpl, "protectionLevel", "protection level");
    }
    fprintf(f, "last version used here: %u\n", (unsigned)atomic_load(&gb->last_version));
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    *text = buf;
    buf = NULL;
    rv = CKR_OK;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    p11kms_net_reply_clear(&reply);
    return rv;
}

static void gcp_destroy(p11kms_backend *be)
{
    gcp_backend *gb = (gcp_backend *)be;

    if (gb == NULL)
        return;
    p11kms_gcp_client_free(gb->client);
    free(gb->name);
    free(gb->version_name);
    free(gb->spki);
    pthread_mutex_destroy(&gb->asym_lock);
    free(gb);
}

static CK_RV gcp_create(const p11kms_key_config *kc, p11kms_backend **out)
{
    gcp_backend *gb;
    CK_RV rv;

    *out = NULL;
    gb = calloc(1, sizeof(*gb));
    if (gb == NULL)
        return CKR_HOST_MEMORY;
    gb->base.ops = &p11kms_backend_gcp_ops;
    atomic_init(&gb->last_version, 0);
    pthread_mutex_init(&gb->asym_lock, NULL);
    gb->key_type = kc->key_type;
    rv = p11kms_gcp_key_names(kc, &gb->name, &gb->version_name);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_gcp_client_new(kc, &gb->client);
out:
    if (rv != CKR_OK) {
        gcp_destroy(&gb->base);
        return rv;
    }
    *out = &gb->base;
    return CKR_OK;
}

const p11kms_backend_ops p11kms_backend_gcp_ops = {
    .name = "gcp",
    .envelope_id = P11KMS_GCP_ENVELOPE_ID,
    .options = p11kms_gcp_option_names,
    .quick_forms = p11kms_gcp_quick_forms,
    .quick = p11kms_gcp_quick,
    .check_key = p11kms_gcp_check_key,
    .doctor = p11kms_gcp_doctor,
    .create = gcp_create,
    .destroy = gcp_destroy,
    .encrypt = gcp_encrypt,
    .decrypt = gcp_decrypt,
    .owns = gcp_owns,
    .blob_bound = gcp_blob_bound,
    .current_version = gcp_current_version,
    .reencrypt = gcp_reencrypt,
    .describe = gcp_describe,
    .public_key = p11kms_gcp_public_key,
    .sign_digest = p11kms_gcp_sign_digest,
    .asym_decrypt = p11kms_gcp_asym_decrypt,
};
