/* b64.c - base64 lines as the tool prints and reads them: the module's codec (codec.h) with
 * allocation, and surrounding whitespace ignored on input. */
#include <ctype.h>
#include <stdlib.h>
#include "b64.h"
#include "codec.h"

char *tool_b64_encode(const uint8_t *in, size_t len)
{
    char *out;

    if (len > (size_t)0x3fffffff)
        return NULL;
    out = malloc(P11KMS_BASE64_LEN(len) + 1);
    if (out != NULL)
        p11kms_base64_encode(in, len, out);
    return out;
}

int tool_b64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len)
{
    size_t cap;
    uint8_t *buf;
    long n;

    *out = NULL;
    while (len > 0 && isspace((unsigned char)text[0])) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0 || len > (size_t)0x3fffffff)
        return -1;
    cap = P11KMS_BASE64_DECODED_MAX(len) + 1;
    buf = malloc(cap);
    if (buf == NULL)
        return -1;
    n = p11kms_base64_decode(text, len, buf);
    if (n < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}
