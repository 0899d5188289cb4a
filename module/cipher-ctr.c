/* cipher-ctr.c - CKM_AES_CTR with data keys (CK_AES_CTR_PARAMS: the initial counter block and
 * how many of its low bits count), single and multi-part; input that would make the counter
 * wrap within its bits is refused, so no key-stream block is ever used twice. */
/*
 * Threads: the operation object belongs to one session operation (see cipher.c).
 * OpenSSL increments the whole 128-bit block. As long as the counter bits never wrap, that is
 * the same as PKCS#11's increment within ulCounterBits, so the refusal is what makes the two
 * agree, besides keeping the key stream unique.
 */
#include <stdint.h>
#include <string.h>
#include "cipher-impl.h"

static CK_RV ctr_parse(const CK_MECHANISM *mech, cipher_setup *s)
{
    const CK_AES_CTR_PARAMS *p = mech->pParameter;

    if (p == NULL || mech->ulParameterLen != sizeof(*p))
        return CKR_MECHANISM_PARAM_INVALID;
    if (p->ulCounterBits < 1 || p->ulCounterBits > 128)
        return CKR_MECHANISM_PARAM_INVALID;
    s->kind = KIND_CTR;
    s->iv = p->cb;
    s->iv_len = AES_BLOCK;
    s->counter_bits = (unsigned)p->ulCounterBits;
    return CKR_OK;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* How many counter blocks cb can give before its low `bits` bits wrap: 2^bits - counter,
 * saturated at UINT64_MAX (more than any input can use). */
static uint64_t counter_room(const uint8_t cb[AES_BLOCK], unsigned bits)
{
    uint64_t hi = load_be64(cb), lo = load_be64(cb + 8);

    if (bits < 64) {
        lo &= ((uint64_t)1 << bits) - 1;
        return ((uint64_t)1 << bits) - lo;
    }
    if (bits > 64 && bits < 128)
        hi &= ((uint64_t)1 << (bits - 64)) - 1;
    /* The room is 2^64 - lo only when every counter bit above the low 64 is set. */
    if (bits > 64 && hi != (bits == 128 ? UINT64_MAX : ((uint64_t)1 << (bits - 64)) - 1))
        return UINT64_MAX;
    return lo == 0 ? UINT64_MAX : (uint64_t)0 - lo;
}

static CK_RV ctr_start(p11kms_cipher *c, const EVP_CIPHER *cipher, const cipher_setup *s,
                       const uint8_t *key)
{
    c->ctr_blocks = counter_room(s->iv, s->counter_bits);
    c->ctr_tail = 0;
    return p11kms_cipher_evp_start(c, cipher, key, s->iv, s->iv_len, 0);
}

static size_t ctr_update_len(const p11kms_cipher *c, size_t in_len)
{
    return in_len;
}

static size_t ctr_final_len(const p11kms_cipher *c)
{
    return 0;
}

static size_t ctr_oneshot_len(const p11kms_cipher *c, size_t in_len)
{
    return in_len;
}

static CK_RV ctr_update(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t *out_len)
{
    size_t beyond, blocks, n;

    if (in_len > c->ctr_tail) {
        beyond = in_len - c->ctr_tail;
        blocks = beyond / AES_BLOCK + (beyond % AES_BLOCK != 0);
        if ((uint64_t)blocks > c->ctr_blocks)
            return c->encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
        c->ctr_blocks -= blocks;
        c->ctr_tail = blocks * AES_BLOCK - beyond;
    } else {
        c->ctr_tail -= in_len;
    }
    if (in_len > 0 && (!p11kms_cipher_evp_update(c->evp, in, in_len, out, &n) || n != in_len))
        return CKR_GENERAL_ERROR;
    *out_len = in_len;
    return CKR_OK;
}

static CK_RV ctr_final(p11kms_cipher *c, uint8_t *out, size_t *out_len)
{
    *out_len = 0;
    return CKR_OK;
}

static CK_RV ctr_oneshot(p11kms_cipher *c, const uint8_t *in, size_t in_len, uint8_t *out,
                         size_t *out_len)
{
    return p11kms_cipher_parts(c, in, in_len, out, out_len);
}

const cipher_mode p11kms_cipher_mode_ctr = {
    .mech = CKM_AES_CTR,
    .parse = ctr_parse,
    .start = ctr_start,
    .update_len = ctr_update_len,
    .final_len = ctr_final_len,
    .oneshot_len = ctr_oneshot_len,
    .update = ctr_update,
    .final = ctr_final,
    .oneshot = ctr_oneshot,
};
