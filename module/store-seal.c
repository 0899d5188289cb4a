/* store-seal.c - a stored object's secrets: its file key sealed by the token's storage key (a key
 * set: one blob per current entry) with the object's identity bound as KMS context (p11kms:object,
 * p11kms:token, p11kms:attrs; the envelope adds p11kms:purpose=stored-object), and its value under
 * the file key with AES-256-GCM, the file's prefix as additional data. The KMS part is
 * envelope-seal.c's (failover, previous entries, audit). No shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "envelope.h"
#include "log.h"
#include "store-seal.h"
#include "envelope-seal.h"

/* The object's identity as the KMS sees it, built on the stack. */
typedef struct binding {
    char object[2 * P11KMS_STORE_ID_LEN + 1];
    char attrs[2 * SHA256_DIGEST_LENGTH + 1];
    p11kms_context_view view; /* the three pairs; the envelope adds the purpose */
} binding;

static void hex(char *out, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static CK_RV bind(binding *b, const char *token, const uint8_t *prefix, size_t prefix_len)
{
    static const char *const keys[] = {P11KMS_CONTEXT_ATTRS_KEY, P11KMS_CONTEXT_OBJECT_KEY,
                                       P11KMS_CONTEXT_TOKEN_KEY};
    const char *values[3];
    uint8_t md[SHA256_DIGEST_LENGTH];

    hex(b->object, prefix + P11KMS_STORE_ID_OFFSET, P11KMS_STORE_ID_LEN);
    SHA256(prefix, prefix_len, md);
    hex(b->attrs, md, sizeof(md));
    values[0] = b->attrs;
    values[1] = b->object;
    values[2] = token;
    return p11kms_context_view_reserved_n(NULL, keys, values, 3, &b->view);
}

/* AES-256-GCM of in (n bytes) with the prefix as additional data; 1 on success (decrypt: the
 * tag matched). */
static int gcm(int enc, const uint8_t key[P11KMS_STORE_FILE_KEY_LEN],
               const uint8_t iv[P11KMS_STORE_IV_LEN], const uint8_t *aad, size_t aad_len,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[P11KMS_STORE_TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int len = 0, ok;

    ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, P11KMS_STORE_IV_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) == 1 &&
         EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len) == 1 &&
         (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1);
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, P11KMS_STORE_TAG_LEN, tag) == 1;
    ok = ok && EVP_CipherFinal_ex(c, out + (n > 0 ? n : 0), &len) == 1;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, P11KMS_STORE_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

CK_RV p11kms_store_seal(p11kms_keyset *ks, const char *token, const p11kms_object *o,
                        const uint8_t id[P11KMS_STORE_ID_LEN], uint64_t gen, p11kms_buf *file)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_buf prefix = {0}, env = {0};
    uint8_t fk[P11KMS_STORE_FILE_KEY_LEN], iv[P11KMS_STORE_IV_LEN], tag[P11KMS_STORE_TAG_LEN];
    uint8_t *ct = NULL;
    binding b;

    file->data = NULL;
    file->len = 0;
    if (o->value == NULL && o->value_len > 0) {
        LOG_E("store: an object's value is missing when it is sealed");
        goto out;
    }
    rv = p11kms_store_prefix_encode(o, id, gen, &prefix);
    if (rv != CKR_OK) {
        if (rv == CKR_GENERAL_ERROR)
            LOG_E("store: the object's attributes are longer than a stored object holds");
        goto out;
    }
    rv = bind(&b, token, prefix.data, prefix.len);
    if (rv != CKR_OK)
        goto out;
    ct = malloc(o->value_len + 1);
    if (ct == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (RAND_bytes(fk, sizeof(fk)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
        !gcm(1, fk, iv, prefix.data, prefix.len, o->value, o->value_len, ct, tag)) {
        rv = CKR_FUNCTION_FAILED;
        goto out;
    }
    rv = p11kms_envelope_seal(ks, &b.view.ctx, P11KMS_PURPOSE_STORED_OBJECT, fk, sizeof(fk), &env);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_store_file_assemble(prefix.data, prefix.len, env.data, env.len, iv, ct,
                                    o->value_len, tag, file);
    if (rv == CKR_GENERAL_ERROR)
        LOG_E("store: key \"%s\" sealed the file key in %zu bytes, more than a file holds",
              ks->kc->label, env.len);
out:
    OPENSSL_cleanse(fk, sizeof(fk));
    p11kms_buf_free(&prefix);
    p11kms_buf_free(&env);
    free(ct); /* ciphertext: public */
    return rv;
}

/* The parsed envelope of f, and which of keys (the first key set with an entry that made a blob
 * of it) opens it. */
typedef struct sealed {
    p11kms_envelope e;
    size_t key;
} sealed;

static int set_owns(const p11kms_keyset *ks, const p11kms_envelope *e)
{
    size_t i, j;

    for (i = 0; i < ks->n; i++)
        for (j = 0; j < e->n; j++)
            if (ks->be[i]->ops->owns(ks->be[i], &e->blobs[j]))
                return 1;
    return 0;
}

static CK_RV find_sealer(p11kms_keyset *const *keys, size_t n, const p11kms_store_file *f,
                         sealed *sd, const char **why)
{
    size_t i;

    memset(sd, 0, sizeof(*sd));
    if (p11kms_envelope_parse(f->envelope, f->envelope_len, &sd->e) != CKR_OK) {
        *why = "its sealed key is not a valid envelope";
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    if (sd->e.version != P11KMS_ENVELOPE_VERSION || sd->e.purpose != P11KMS_PURPOSE_STORED_OBJECT) {
        *why = "its sealed key is an envelope of another purpose (a wrapped key or data)";
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    for (i = 0; i < n; i++)
        if (keys[i] != NULL && set_owns(keys[i], &sd->e)) {
            sd->key = i;
            return CKR_OK;
        }
    *why = "it was sealed by a KMS key this token does not have";
    return CKR_ENCRYPTED_DATA_INVALID;
}

/* The file key of f: p11kms_envelope_open with the key set found (one KMS Decrypt, more only
 * after availability faults). */
static CK_RV open_key(p11kms_keyset *const *keys, size_t n, const char *token,
                      const p11kms_store_file *f, p11kms_buf *fk, int *asked, size_t *used,
                      const char **why)
{
    CK_RV rv;
    sealed sd;
    binding b;

    rv = find_sealer(keys, n, f, &sd, why);
    if (rv == CKR_OK)
        rv = bind(&b, token, f->prefix, f->prefix_len);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_envelope_open(keys[sd.key], &b.view.ctx, P11KMS_PURPOSE_STORED_OBJECT, f->envelope,
                              f->envelope_len, fk, asked);
    if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_WRAPPED_KEY_INVALID) {
        *why = "the KMS refused its sealed key for this object, token and attributes";
        rv = CKR_ENCRYPTED_DATA_INVALID;
    } else if (rv == CKR_OK && fk->len != P11KMS_STORE_FILE_KEY_LEN) {
        p11kms_buf_wipe(fk);
        *why = "its sealed key opened to a key of the wrong length";
        rv = CKR_ENCRYPTED_DATA_INVALID;
    }
    if (used != NULL)
        *used = sd.key;
out:
    p11kms_envelope_clear(&sd.e);
    return rv;
}

CK_RV p11kms_store_open(p11kms_keyset *const *keys, size_t n, const char *token,
                        const p11kms_store_file *f, p11kms_buf *value, int *asked, size_t *used,
                        const char **why)
{
    CK_RV rv;
    p11kms_buf fk = {0};
    uint8_t tag[P11KMS_STORE_TAG_LEN];

    *asked = 0;
    *why = NULL;
    value->data = NULL;
    value->len = 0;
    rv = open_key(keys, n, token, f, &fk, asked, used, why);
    if (rv != CKR_OK)
        goto out;
    value->data = malloc(f->value_len + 1);
    if (value->data == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    memcpy(tag, f->tag, sizeof(tag));
    if (!gcm(0, fk.data, f->iv, f->prefix, f->prefix_len, f->ct, f->value_len, value->data, tag)) {
        p11kms_secure_free(value->data, f->value_len + 1);
        value->data = NULL;
        *why = "its value does not match its attributes (GCM tag)";
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    value->len = f->value_len;
out:
    p11kms_buf_wipe(&fk);
    return rv;
}

/* A blob of e that src's entry k made and from which dst's entry d can be reached by ReEncrypt
 * (same backend, with the hook): its index, or -1. */
static int reencrypt_source(const p11kms_keyset *src, const p11kms_envelope *e,
                            const p11kms_backend *to, size_t *k)
{
    size_t i, j;

    if (to->ops->reencrypt == NULL)
        return -1;
    for (i = 0; i < src->n; i++)
        for (j = 0; j < e->n; j++)
            if (src->be[i]->ops == to->ops && src->be[i]->ops->owns(src->be[i], &e->blobs[j])) {
                *k = i;
                return (int)j;
            }
    return -1;
}

/* ReEncrypt of the file key's blobs in the KMS, one per current entry of dst: the file key never
 * leaves the KMS in the clear. CKR_FUNCTION_NOT_SUPPORTED (nothing asked) when an entry of dst
 * has no blob to move from. */
static CK_RV reencrypt(const p11kms_keyset *src, const p11kms_envelope *in, p11kms_keyset *dst,
                       const p11kms_context *bound, p11kms_buf *env)
{
    p11kms_envelope out;
    size_t len, d, k = 0;
    int src_blob[P11KMS_KEYSET_MAX];
    size_t src_key[P11KMS_KEYSET_MAX];
    CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED;

    memset(&out, 0, sizeof(out));
    out.version = P11KMS_ENVELOPE_VERSION;
    out.purpose = P11KMS_PURPOSE_STORED_OBJECT;
    if (dst->n_current == 0 || dst->n_current > P11KMS_ENVELOPE_MAX_BLOBS)
        goto out;
    for (d = 0; d < dst->n_current; d++) {
        src_blob[d] = reencrypt_source(src, in, dst->be[d], &k);
        src_key[d] = k;
        if (src_blob[d] < 0)
            goto out;
    }
    for (d = 0; d < dst->n_current; d++) {
        p11kms_backend *from = src->be[src_key[d]];

        rv = from->ops->reencrypt(from, bound, &in->blobs[src_blob[d]], dst->be[d], bound,
                                  &out.blobs[out.n]);
        if (rv != CKR_OK)
            goto out;
        out.n++;
    }
    len = p11kms_envelope_encoded_len(&out);
    env->data = len > 0 ? malloc(len) : NULL;
    if (env->data == NULL) {
        rv = len > 0 ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
        goto out;
    }
    rv = p11kms_envelope_encode(&out, env->data, &len);
    env->len = len;
out:
    p11kms_envelope_clear(&out);
    return rv;
}

CK_RV p11kms_store_reseal(p11kms_keyset *const *keys, size_t n, p11kms_keyset *dst,
                          const char *token, const p11kms_store_file *f, p11kms_buf *file,
                          const char **why)
{
    CK_RV rv;
    p11kms_buf fk = {0}, env = {0};
    sealed sd;
    binding b;
    p11kms_context_view pv;
    const p11kms_context *bound = NULL;
    int asked = 0;

    *why = NULL;
    file->data = NULL;
    file->len = 0;
    rv = find_sealer(keys, n, f, &sd, why);
    if (rv == CKR_OK)
        rv = bind(&b, token, f->prefix, f->prefix_len);
    if (rv == CKR_OK)
        rv = p11kms_envelope_kms_context(&b.view.ctx, P11KMS_ENVELOPE_VERSION,
                                         P11KMS_PURPOSE_STORED_OBJECT, &pv, &bound);
    if (rv != CKR_OK)
        goto out;
    rv = reencrypt(keys[sd.key], &sd.e, dst, bound, &env);
    if (rv == CKR_ENCRYPTED_DATA_INVALID)
        *why = "the KMS refused its sealed key for this object, token and attributes";
    if (rv == CKR_FUNCTION_NOT_SUPPORTED) {
        rv = open_key(keys, n, token, f, &fk, &asked, NULL, why);
        if (rv == CKR_OK)
            rv = p11kms_envelope_seal(dst, &b.view.ctx, P11KMS_PURPOSE_STORED_OBJECT, fk.data,
                                      fk.len, &env);
    }
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_store_file_assemble(f->prefix, f->prefix_len, env.data, env.len, f->iv, f->ct,
                                    f->value_len, f->tag, file);
out:
    p11kms_envelope_clear(&sd.e);
    p11kms_buf_wipe(&fk);
    p11kms_buf_free(&env);
    return rv;
}

int p11kms_store_sealed_by(const p11kms_store_file *f, uint8_t *backend_id, uint32_t *version,
                           char *ref, size_t ref_size, size_t *n_blobs)
{
    p11kms_envelope e;

    if (p11kms_envelope_parse(f->envelope, f->envelope_len, &e) != CKR_OK || e.n == 0)
        return -1;
    *backend_id = e.blobs[0].backend_id;
    *version = e.blobs[0].key_version;
    if (n_blobs != NULL)
        *n_blobs = e.n;
    if (ref_size > 0)
        snprintf(ref, ref_size, "%s", e.blobs[0].key_ref);
    p11kms_envelope_clear(&e);
    return 0;
}
