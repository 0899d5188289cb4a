/* format.c - header encoding and bounded parsing, and the chunk AEAD of the p11kms file format.
 * The layout is specified in docs/file-format.md; keep the two in step. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "format.h"

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u16(const uint8_t *p)
{
    return ((uint32_t)p[0] << 8) | p[1];
}

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void tool_ff_header_clear(tool_ff_header *h)
{
    free(h->key_label);
    free(h->key_id);
    free(h->context);
    free(h->wrapped);
    memset(h, 0, sizeof(*h));
}

static int wrap_method_known(uint8_t m)
{
    return m == TOOL_FF_WRAP_ENVELOPE || m == TOOL_FF_WRAP_AES_KWP;
}

int tool_ff_header_encode(tool_ff_header *h, uint8_t **out, size_t *out_len)
{
    size_t label_len = h->key_label ? strlen(h->key_label) : 0;
    size_t len, off;
    uint8_t *p;

    *out = NULL;
    if (label_len > TOOL_FF_LABEL_MAX || h->key_id_len > TOOL_FF_ID_MAX || h->context_len < 2 ||
        h->context_len > 0xffff || h->wrapped_len == 0 || h->chunk_size < TOOL_FF_CHUNK_MIN ||
        h->chunk_size > TOOL_FF_CHUNK_MAX || !wrap_method_known(h->wrap_method))
        return -1;
    len = TOOL_FF_FIXED_LEN + 2 + label_len + 2 + h->key_id_len + 2 + h->context_len + 4 +
          h->wrapped_len;
    if (len > TOOL_FF_HEADER_MAX)
        return -1;
    p = malloc(len);
    if (p == NULL)
        return -1;

    memcpy(p, TOOL_FF_MAGIC, TOOL_FF_MAGIC_LEN);
    p[8] = TOOL_FF_VERSION;
    p[9] = TOOL_FF_ALG_AES256GCM_CHUNKED;
    p[10] = h->wrap_method;
    p[11] = 0;
    put_u32(p + 12, (uint32_t)len);
    put_u32(p + 16, h->chunk_size);
    memcpy(p + 20, h->prefix, TOOL_FF_PREFIX_LEN);
    p[27] = 0;
    off = TOOL_FF_FIXED_LEN;
    put_u16(p + off, (uint32_t)label_len);
    memcpy(p + off + 2, h->key_label ? h->key_label : "", label_len);
    off += 2 + label_len;
    put_u16(p + off, (uint32_t)h->key_id_len);
    if (h->key_id_len)
        memcpy(p + off + 2, h->key_id, h->key_id_len);
    off += 2 + h->key_id_len;
    put_u16(p + off, (uint32_t)h->context_len);
    memcpy(p + off + 2, h->context, h->context_len);
    off += 2 + h->context_len;
    put_u32(p + off, (uint32_t)h->wrapped_len);
    memcpy(p + off + 4, h->wrapped, h->wrapped_len);

    SHA256(p, len, h->hash);
    *out = p;
    *out_len = len;
    return 0;
}

size_t tool_ff_header_len(const uint8_t *fixed, const char **why)
{
    uint32_t len, chunk;

    if (memcmp(fixed, TOOL_FF_MAGIC, TOOL_FF_MAGIC_LEN) != 0) {
        *why = "not a p11kms encrypted file";
        return 0;
    }
    if (fixed[8] != TOOL_FF_VERSION) {
        *why = "unsupported file format version (written by a newer p11kms?)";
        return 0;
    }
    if (fixed[9] != TOOL_FF_ALG_AES256GCM_CHUNKED || !wrap_method_known(fixed[10]) ||
        fixed[11] != 0 || fixed[27] != 0) {
        *why = "unsupported algorithm or flags in the file header";
        return 0;
    }
    len = get_u32(fixed + 12);
    chunk = get_u32(fixed + 16);
    /* The smallest valid header: four length fields, a 2-byte context and 1 wrapped byte. */
    if (len < TOOL_FF_FIXED_LEN + 2 + 2 + 4 + 2 + 1 || len > TOOL_FF_HEADER_MAX ||
        chunk < TOOL_FF_CHUNK_MIN || chunk > TOOL_FF_CHUNK_MAX) {
        *why = "damaged file header (length or chunk size out of range)";
        return 0;
    }
    return len;
}

/* Take a u16- or u32-length-prefixed field at *off, checking it fits before copying. */
static int take(const uint8_t *in, size_t len, size_t *off, int wide, size_t max, uint8_t **out,
                size_t *out_len, int nul)
{
    size_t hdr = wide ? 4 : 2, n;

    if (len - *off < hdr)
        return -1;
    n = wide ? get_u32(in + *off) : get_u16(in + *off);
    *off += hdr;
    if (n > max || n > len - *off)
        return -1;
    *out = malloc(n + 1); /* + 1: room for a NUL, and never malloc(0) */
    if (*out == NULL)
        return -1;
    memcpy(*out, in + *off, n);
    if (nul)
        (*out)[n] = 0;
    *off += n;
    *out_len = n;
    return 0;
}

int tool_ff_header_parse(const uint8_t *in, size_t len, tool_ff_header *h, const char **why)
{
    size_t off = TOOL_FF_FIXED_LEN, label_len;
    uint8_t *label = NULL;

    memset(h, 0, sizeof(*h));
    if (len < TOOL_FF_FIXED_LEN || tool_ff_header_len(in, why) != len)
        return -1;
    *why = "damaged file header";
    h->wrap_method = in[10];
    h->chunk_size = get_u32(in + 16);
    memcpy(h->prefix, in + 20, TOOL_FF_PREFIX_LEN);
    if (take(in, len, &off, 0, TOOL_FF_LABEL_MAX, &label, &label_len, 1) != 0)
        goto fail;
    h->key_label = (char *)label;
    if (memchr(label, 0, label_len) != NULL)
        goto fail;
    if (take(in, len, &off, 0, TOOL_FF_ID_MAX, &h->key_id, &h->key_id_len, 0) != 0)
        goto fail;
    if (take(in, len, &off, 0, 0xffff, &h->context, &h->context_len, 0) != 0 || h->context_len < 2)
        goto fail;
    if (take(in, len, &off, 1, TOOL_FF_HEADER_MAX, &h->wrapped, &h->wrapped_len, 0) != 0 ||
        h->wrapped_len == 0)
        goto fail;
    if (off != len)
        goto fail;
    SHA256(in, len, h->hash);
    return 0;
fail:
    tool_ff_header_clear(h);
    return -1;
}

int tool_ff_cipher_init(tool_ff_cipher *c, const tool_ff_header *h, const uint8_t *key, int encrypt)
{
    memset(c, 0, sizeof(*c));
    c->ctx = EVP_CIPHER_CTX_new();
    if (c->ctx == NULL)
        return -1;
    c->encrypt = encrypt;
    memcpy(c->prefix, h->prefix, TOOL_FF_PREFIX_LEN);
    memcpy(c->hash, h->hash, TOOL_FF_HASH_LEN);
    /* The key schedule is computed once here; each chunk only sets a new nonce. */
    if (EVP_CipherInit_ex(c->ctx, EVP_aes_256_gcm(), NULL, key, NULL, encrypt) != 1) {
        tool_ff_cipher_free(c);
        return -1;
    }
    return 0;
}

void tool_ff_cipher_free(tool_ff_cipher *c)
{
    EVP_CIPHER_CTX_free(c->ctx); /* cleanses the key schedule */
    memset(c, 0, sizeof(*c));
}

/* Nonce: prefix || u32 index || final flag. AAD: header hash || u64 index || final flag. */
static int chunk_start(tool_ff_cipher *c, uint64_t index, int final)
{
    uint8_t nonce[TOOL_FF_NONCE_LEN], aad[TOOL_FF_HASH_LEN + 9];
    int n;

    if (index > TOOL_FF_MAX_CHUNKS)
        return -1;
    memcpy(nonce, c->prefix, TOOL_FF_PREFIX_LEN);
    put_u32(nonce + TOOL_FF_PREFIX_LEN, (uint32_t)index);
    nonce[11] = final ? 1 : 0;
    memcpy(aad, c->hash, TOOL_FF_HASH_LEN);
    put_u32(aad + TOOL_FF_HASH_LEN, (uint32_t)(index >> 32));
    put_u32(aad + TOOL_FF_HASH_LEN + 4, (uint32_t)index);
    aad[TOOL_FF_HASH_LEN + 8] = final ? 1 : 0;
    if (EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, nonce, c->encrypt) != 1)
        return -1;
    if (EVP_CipherUpdate(c->ctx, NULL, &n, aad, (int)sizeof(aad)) != 1)
        return -1;
    return 0;
}

int tool_ff_seal(tool_ff_cipher *c, uint64_t index, int final, uint8_t *buf, size_t len)
{
    int n, m;

    if (len > TOOL_FF_CHUNK_MAX || chunk_start(c, index, final) != 0)
        return -1;
    if (EVP_EncryptUpdate(c->ctx, buf, &n, buf, (int)len) != 1)
        return -1;
    if (EVP_EncryptFinal_ex(c->ctx, buf + n, &m) != 1 || (size_t)(n + m) != len)
        return -1;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG, TOOL_FF_TAG_LEN, buf + len) != 1)
        return -1;
    return 0;
}

int tool_ff_open(tool_ff_cipher *c, uint64_t index, int final, uint8_t *buf, size_t len,
                 size_t *pt_len)
{
    size_t ct_len;
    int n, m;

    *pt_len = 0;
    if (len < TOOL_FF_TAG_LEN || len - TOOL_FF_TAG_LEN > TOOL_FF_CHUNK_MAX)
        return -1;
    ct_len = len - TOOL_FF_TAG_LEN;
    if (chunk_start(c, index, final) != 0)
        return -1;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, TOOL_FF_TAG_LEN, buf + ct_len) != 1)
        return -1;
    if (EVP_DecryptUpdate(c->ctx, buf, &n, buf, (int)ct_len) != 1)
        goto bad;
    if (EVP_DecryptFinal_ex(c->ctx, buf + n, &m) != 1 || (size_t)(n + m) != ct_len)
        goto bad;
    *pt_len = ct_len;
    return 0;
bad:
    /* Unverified plaintext must not survive in the buffer. */
    OPENSSL_cleanse(buf, len);
    return -1;
}
