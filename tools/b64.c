/* b64.c - base64 through OpenSSL's block coder, with the checks it leaves out: whitespace
 * trimming, padding validity, and the exact decoded length. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "b64.h"

char *tool_b64_encode(const uint8_t *in, size_t len)
{
    char *out;

    if (len > (size_t)0x3fffffff)
        return NULL;
    out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

int tool_b64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    size_t i, pad = 0;
    uint8_t *buf;
    int n;

    *out = NULL;
    while (len > 0 && isspace((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0 || len % 4 != 0 || len > (size_t)0x3fffffff)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '=') {
            if (i < len - 2)
                return -1;
            pad++;
        } else if (pad > 0 || !(isalnum(c) || c == '+' || c == '/')) {
            return -1;
        }
    }
    buf = malloc(len / 4 * 3 + 1);
    if (buf == NULL)
        return -1;
    n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
    if (n < 0 || (size_t)n < pad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)n - pad; /* DecodeBlock counts the padding as zero bytes */
    return 0;
}
