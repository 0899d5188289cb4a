/* codec.c - base64 and hex without branches or table lookups on the data: what they carry (data
 * keys, KMS plaintexts, key files) must not steer timing. No state, no locks. */
#include <string.h>
#include <openssl/crypto.h>
#include "codec.h"

/*
 * The range tests below rely on arithmetic right shifts of negative ints (as GCC and Clang do):
 * ((lo - 1 - c) & (c - hi - 1)) >> 8 is -1 when lo <= c <= hi and 0 otherwise, for c in 0..255.
 */

/* Base64 digit value of ch, or -1. */
static int b64_value(unsigned char ch)
{
    int c = ch, v = -1;

    v += ((('A' - 1 - c) & (c - 'Z' - 1)) >> 8) & (c - 'A' + 1);
    v += ((('a' - 1 - c) & (c - 'z' - 1)) >> 8) & (c - 'a' + 27);
    v += ((('0' - 1 - c) & (c - '9' - 1)) >> 8) & (c - '0' + 53);
    v += ((('+' - 1 - c) & (c - '+' - 1)) >> 8) & 63;
    v += ((('/' - 1 - c) & (c - '/' - 1)) >> 8) & 64;
    return v;
}

/* The base64 digit for v in 0..63: start from 'A' + v and shift into the next range past each
 * boundary (26 -> 'a', 52 -> '0', 62 -> '+', 63 -> '/'). */
static char b64_digit(unsigned v)
{
    int x = (int)v, d = 'A';

    d += ((25 - x) >> 8) & ('a' - 26 - 'A');
    d -= ((51 - x) >> 8) & (('a' - 26) - ('0' - 52));
    d -= ((61 - x) >> 8) & (('0' - 52) - ('+' - 62));
    d += ((62 - x) >> 8) & (('/' - 63) - ('+' - 62));
    return (char)(x + d);
}

void p11kms_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_digit(v >> 18);
        out[o++] = b64_digit((v >> 12) & 63);
        out[o++] = b64_digit((v >> 6) & 63);
        out[o++] = b64_digit(v & 63);
    }
    if (i < n) {
        v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_digit(v >> 18);
        out[o++] = b64_digit((v >> 12) & 63);
        out[o++] = i + 1 < n ? b64_digit((v >> 6) & 63) : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    v = 0;
    OPENSSL_cleanse(&v, sizeof(v));
}

long p11kms_base64_decode(const char *in, size_t len, uint8_t *out)
{
    size_t i, o = 0, pad = 0;
    int bad = 0, d0, d1, d2, d3, last;
    uint32_t v = 0;

    if (len % 4 != 0)
        return -1;
    /* where the padding is says how long the output is, which is public anyway */
    if (len > 0 && in[len - 1] == '=')
        pad = in[len - 2] == '=' ? 2 : 1;
    for (i = 0; i < len; i += 4) {
        last = i + 4 == len;
        d0 = b64_value((unsigned char)in[i]);
        d1 = b64_value((unsigned char)in[i + 1]);
        d2 = last && pad == 2 ? 0 : b64_value((unsigned char)in[i + 2]);
        d3 = last && pad >= 1 ? 0 : b64_value((unsigned char)in[i + 3]);
        bad |= d0 | d1 | d2 | d3;
        v = (uint32_t)(d0 & 63) << 18 | (uint32_t)(d1 & 63) << 12 | (uint32_t)(d2 & 63) << 6 |
            (uint32_t)(d3 & 63);
        out[o++] = (uint8_t)(v >> 16);
        if (!(last && pad == 2))
            out[o++] = (uint8_t)(v >> 8);
        if (!(last && pad >= 1))
            out[o++] = (uint8_t)v;
    }
    /* the bits a shortened last group does not use must be zero (canonical form) */
    if (pad == 1)
        bad |= -(int)(v & 0xff);
    else if (pad == 2)
        bad |= -(int)(v & 0xffff);
    OPENSSL_cleanse(&v, sizeof(v));
    return bad < 0 ? -1 : (long)o;
}

int p11kms_hex_digit(char ch)
{
    int c = (unsigned char)ch, v = -1;

    v += ((('0' - 1 - c) & (c - '9' - 1)) >> 8) & (c - '0' + 1);
    v += ((('a' - 1 - c) & (c - 'f' - 1)) >> 8) & (c - 'a' + 11);
    v += ((('A' - 1 - c) & (c - 'F' - 1)) >> 8) & (c - 'A' + 11);
    return v;
}

/* '0' + d, or 'a' + d - 10 past 9. */
static char hex_char(unsigned d)
{
    int x = (int)d;

    return (char)('0' + x + (((9 - x) >> 8) & ('a' - '0' - 10)));
}

void p11kms_hex_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex_char(in[i] >> 4);
        out[2 * i + 1] = hex_char(in[i] & 15);
    }
    out[2 * n] = 0;
}

int p11kms_hex_decode(const char *hex, uint8_t *out, size_t max, size_t *out_len)
{
    size_t n = strlen(hex), i;
    int bad = 0, hi, lo;

    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return -1;
    for (i = 0; i < n / 2; i++) {
        hi = p11kms_hex_digit(hex[2 * i]);
        lo = p11kms_hex_digit(hex[2 * i + 1]);
        bad |= hi | lo;
        out[i] = (uint8_t)((hi & 15) << 4 | (lo & 15));
    }
    if (bad < 0)
        return -1;
    *out_len = n / 2;
    return 0;
}

size_t p11kms_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}
