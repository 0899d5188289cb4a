/* sbuf.c - the secret-safe growable buffer and the encodings requests are written in. No state,
 * no locks; each buffer belongs to one call. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec.h"
#include "sbuf.h"
#include "secmem.h"

void p11kms_sbuf_init(p11kms_sbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

/* Room for extra more bytes and the NUL; -1 (and failed set) when it cannot be had. */
static int reserve(p11kms_sbuf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len - 1 || (b->max != 0 && b->len + extra > b->max)) {
        b->failed = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = malloc(cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    if (b->len > 0)
        memcpy(p, b->p, b->len);
    p[b->len] = 0;
    p11kms_secure_free(b->p, b->cap);
    b->p = p;
    b->cap = cap;
    return 0;
}

void p11kms_sbuf_add(p11kms_sbuf *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

void p11kms_sbuf_str(p11kms_sbuf *b, const char *s)
{
    p11kms_sbuf_add(b, s, strlen(s));
}

void p11kms_sbuf_char(p11kms_sbuf *b, char c)
{
    p11kms_sbuf_add(b, &c, 1);
}

static const char hexup[] = "0123456789ABCDEF";

void p11kms_sbuf_json_string(p11kms_sbuf *b, const char *s, size_t n)
{
    size_t i;
    char esc[7];

    p11kms_sbuf_char(b, '"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            p11kms_sbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            p11kms_hex_encode(&c, 1, esc + 4);
            p11kms_sbuf_add(b, esc, 6);
        } else {
            p11kms_sbuf_char(b, (char)c);
        }
    }
    p11kms_sbuf_char(b, '"');
}

void p11kms_sbuf_base64(p11kms_sbuf *b, const uint8_t *p, size_t n)
{
    size_t enc;

    if (n > SIZE_MAX / 2)
        b->failed = 1;
    enc = P11KMS_BASE64_LEN(n);
    if (b->failed || reserve(b, enc) != 0)
        return;
    p11kms_base64_encode(p, n, b->p + b->len);
    b->len += enc;
}

void p11kms_sbuf_form(p11kms_sbuf *b, const char *s)
{
    char esc[3];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            p11kms_sbuf_char(b, (char)c);
        } else {
            esc[0] = '%';
            esc[1] = hexup[c >> 4];
            esc[2] = hexup[c & 15];
            p11kms_sbuf_add(b, esc, 3);
        }
    }
}

void p11kms_sbuf_hex(p11kms_sbuf *b, const uint8_t *p, size_t n)
{
    if (n > SIZE_MAX / 4)
        b->failed = 1;
    if (b->failed || reserve(b, 2 * n) != 0)
        return;
    p11kms_hex_encode(p, n, b->p + b->len);
    b->len += 2 * n;
}

void p11kms_sbuf_wipe(p11kms_sbuf *b)
{
    p11kms_secure_free(b->p, b->cap);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}
