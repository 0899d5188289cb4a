/* asym-codec.c - DigestInfo recognition, ECDSA signatures between DER and r || s, and ECDSA
 * inputs fitted to a curve's KMS digest length. Every length is checked before it is used. */
#include <stdlib.h>
#include <string.h>
#include "asym-codec.h"
#include "keytype.h"

#define ECDSA_INPUT_MAX 64
#define ECDSA_SCALAR_MAX 66 /* P-521 */

/* RFC 8017 9.2 note 1: the DER DigestInfo prefixes, ending with the OCTET STRING header. */
static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
static const uint8_t di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
static const uint8_t di_sha512[] = {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                    0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40};

static const struct {
    int alg;
    const uint8_t *prefix;
    size_t prefix_len, digest_len;
} digest_infos[] = {
    {P11KMS_SIG_RSA_PKCS1_SHA256, di_sha256, sizeof(di_sha256), 32},
    {P11KMS_SIG_RSA_PKCS1_SHA384, di_sha384, sizeof(di_sha384), 48},
    {P11KMS_SIG_RSA_PKCS1_SHA512, di_sha512, sizeof(di_sha512), 64},
};
#define N_DIGEST_INFOS (sizeof(digest_infos) / sizeof(digest_infos[0]))

int p11kms_digestinfo_parse(const uint8_t *in, size_t len, const uint8_t **digest)
{
    size_t i;

    *digest = NULL;
    for (i = 0; i < N_DIGEST_INFOS; i++) {
        if (len != digest_infos[i].prefix_len + digest_infos[i].digest_len ||
            memcmp(in, digest_infos[i].prefix, digest_infos[i].prefix_len) != 0)
            continue;
        *digest = in + digest_infos[i].prefix_len;
        return digest_infos[i].alg;
    }
    return 0;
}

const uint8_t *p11kms_digestinfo_prefix(int alg, size_t *len)
{
    size_t i;

    for (i = 0; i < N_DIGEST_INFOS; i++)
        if (digest_infos[i].alg == alg) {
            *len = digest_infos[i].prefix_len;
            return digest_infos[i].prefix;
        }
    *len = 0;
    return NULL;
}

/* One DER header (tag, definite length in minimal form) at *p within end: the content length
 * in *n. 0, or -1. */
static int der_header(const uint8_t **p, const uint8_t *end, uint8_t tag, size_t *n)
{
    const uint8_t *q = *p;

    if (end - q < 2 || q[0] != tag)
        return -1;
    if (q[1] < 0x80) {
        *n = q[1];
        q += 2;
    } else if (q[1] == 0x81) {
        if (end - q < 3 || q[2] < 0x80) /* minimal form: short lengths use one byte */
            return -1;
        *n = q[2];
        q += 3;
    } else {
        return -1; /* an ECDSA signature is never 256 bytes or longer */
    }
    if ((size_t)(end - q) < *n)
        return -1;
    *p = q;
    return 0;
}

/* One positive INTEGER in minimal form, as n bytes big-endian into out. */
static int der_scalar(const uint8_t **p, const uint8_t *end, size_t n, uint8_t *out)
{
    const uint8_t *v;
    size_t len;

    if (der_header(p, end, 0x02, &len) != 0 || len == 0)
        return -1;
    v = *p;
    *p += len;
    if (v[0] & 0x80)
        return -1; /* negative */
    if (v[0] == 0x00) {
        if (len == 1 || !(v[1] & 0x80))
            return -1; /* zero, or a leading zero that is not needed */
        v++;
        len--;
    }
    if (len > n)
        return -1;
    memset(out, 0, n - len);
    memcpy(out + (n - len), v, len);
    return 0;
}

int p11kms_ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t n, uint8_t *out)
{
    const uint8_t *p = der, *end = der + len, *seq_end;
    size_t seq;

    if (n == 0 || n > ECDSA_SCALAR_MAX || der_header(&p, end, 0x30, &seq) != 0 || p + seq != end)
        return -1;
    seq_end = p + seq;
    if (der_scalar(&p, seq_end, n, out) != 0 || der_scalar(&p, seq_end, n, out + n) != 0 ||
        p != seq_end)
        return -1;
    return 0;
}

/* A positive INTEGER of the n big-endian bytes at v, into out; the bytes written. */
static size_t put_scalar(const uint8_t *v, size_t n, uint8_t *out)
{
    size_t skip = 0, len, at = 0;

    while (skip < n - 1 && v[skip] == 0)
        skip++;
    len = n - skip;
    out[at++] = 0x02;
    out[at++] = (uint8_t)(len + (v[skip] & 0x80 ? 1 : 0));
    if (v[skip] & 0x80)
        out[at++] = 0x00;
    memcpy(out + at, v + skip, len);
    return at + len;
}

int p11kms_ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t **der, size_t *der_len)
{
    uint8_t body[2 * (ECDSA_SCALAR_MAX + 3)];
    size_t n = raw_len / 2, body_len, at = 0;
    uint8_t *out;

    *der = NULL;
    *der_len = 0;
    if (raw_len == 0 || raw_len % 2 != 0 || n > ECDSA_SCALAR_MAX)
        return -1;
    body_len = put_scalar(raw, n, body);
    body_len += put_scalar(raw + n, n, body + body_len);
    out = malloc(body_len + 3);
    if (out == NULL)
        return -1;
    out[at++] = 0x30;
    if (body_len >= 0x80)
        out[at++] = 0x81;
    out[at++] = (uint8_t)body_len;
    memcpy(out + at, body, body_len);
    *der = out;
    *der_len = at + body_len;
    return 0;
}

int p11kms_ecdsa_fit_digest(const uint8_t *in, size_t len, size_t want, unsigned order_bits,
                            uint8_t *out)
{
    if (len == 0 || len > ECDSA_INPUT_MAX || want == 0 || want > ECDSA_INPUT_MAX)
        return -1;
    if (len >= want) {
        /* Cutting is what ECDSA does itself only when the order has exactly want bytes. */
        if (len > want && order_bits != 8 * want)
            return -1;
        memcpy(out, in, want);
        return 0;
    }
    memset(out, 0, want - len);
    memcpy(out + (want - len), in, len);
    return 0;
}
