/* json.c - the bounded JSON reader for answers from remote services: one validation pass by
 * recursive descent (depth-bounded), then lookups over the checked text. No state, no locks.
 * Why not json-c here (the configuration uses it): KMS and credential answers carry secrets
 * (plaintexts, secret keys, tokens). json-c's tokener copies every string into its own buffers
 * and frees them unwiped; this reader works in place on the response, and secrets are decoded
 * straight into buffers that are wiped. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec.h"
#include "json.h"
#include "secmem.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at the opening quote; returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    int i;

    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;

        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (++p >= end)
                return NULL;
            if (*p == 'u') {
                if (end - p < 5)
                    return NULL;
                for (i = 1; i <= 4; i++)
                    if (p11kms_hex_digit(p[i]) < 0)
                        return NULL;
                p += 4;
            } else if (strchr("\"\\/bfnrt", *p) == NULL || *p == 0) {
                return NULL;
            }
        }
        p++;
    }
    return NULL;
}

static const char *skip_number(const char *p, const char *end)
{
    const char *s;

    if (p < end && *p == '-')
        p++;
    if (p >= end || !isdigit((unsigned char)*p))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && isdigit((unsigned char)*p))
            p++;
    if (p < end && *p == '.') {
        s = ++p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        if (p == s)
            return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        s = p;
        while (p < end && isdigit((unsigned char)*p))
            p++;
        if (p == s)
            return NULL;
    }
    return p;
}

static const char *skip_literal(const char *p, const char *end, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

static const char *skip_value(const char *p, const char *end, int depth);

/* Object or array at p ('{' or '['); returns the position after the closing bracket. */
static const char *skip_container(const char *p, const char *end, int depth)
{
    char close = *p == '{' ? '}' : ']';
    int object = *p == '{';

    if (depth >= P11KMS_JSON_MAX_DEPTH)
        return NULL;
    p = skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (p >= end || *p != '"')
                return NULL;
            p = skip_string(p, end);
            if (p == NULL)
                return NULL;
            p = skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = skip_ws(p + 1, end);
        }
        p = skip_value(p, end, depth + 1);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == close)
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, end);
    }
}

static const char *skip_value(const char *p, const char *end, int depth)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '{':
    case '[':
        return skip_container(p, end, depth);
    case '"':
        return skip_string(p, end);
    case 't':
        return skip_literal(p, end, "true");
    case 'f':
        return skip_literal(p, end, "false");
    case 'n':
        return skip_literal(p, end, "null");
    default:
        return skip_number(p, end);
    }
}

int p11kms_json_parse(const char *text, size_t len, p11kms_json *root)
{
    const char *end = text + len, *p, *e;

    if (text == NULL)
        return -1;
    p = skip_ws(text, end);
    if (p >= end || *p != '{')
        return -1;
    e = skip_value(p, end, 0);
    if (e == NULL || skip_ws(e, end) != end)
        return -1;
    root->p = p;
    root->len = (size_t)(e - p);
    return 0;
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(p11kms_hex_digit(p[0]) << 12 | p11kms_hex_digit(p[1]) << 8 |
                      p11kms_hex_digit(p[2]) << 4 | p11kms_hex_digit(p[3]));
}

/* Decode a checked string literal [p, end) (quotes included) into out (at least as long as the
 * literal: every escape shrinks or keeps the length). Returns the length or -1. */
static long decode_string(const char *p, const char *end, char *out)
{
    size_t o = 0;
    uint32_t cp, lo;

    p++;
    end--;
    while (p < end) {
        if (*p != '\\') {
            if (*p == 0)
                return -1;
            out[o++] = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            cp = hex4(p + 1);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) {
                if (end - p < 7 || p[1] != '\\' || p[2] != 'u')
                    return -1;
                lo = hex4(p + 3);
                if (lo < 0xdc00 || lo >= 0xe000)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return -1;
            }
            if (cp == 0)
                return -1;
            o += p11kms_utf8_encode(cp, out + o);
            break;
        default: /* '"', '\\', '/' */
            out[o++] = *p;
            break;
        }
        p++;
    }
    out[o] = 0;
    return (long)o;
}

/* Whether the string literal [p, e) decodes to exactly name (names we look up are ASCII and
 * escapes are rare in member names, so decode only when there is a backslash). */
static int key_equals(const char *p, const char *e, const char *name)
{
    size_t n = strlen(name);
    char buf[128];
    long len;

    if (memchr(p, '\\', (size_t)(e - p)) == NULL)
        return (size_t)(e - p) == n + 2 && memcmp(p + 1, name, n) == 0;
    if ((size_t)(e - p) > sizeof(buf))
        return 0;
    len = decode_string(p, e, buf);
    return len >= 0 && (size_t)len == n && memcmp(buf, name, n) == 0;
}

int p11kms_json_member(const p11kms_json *obj, const char *name, p11kms_json *val)
{
    const char *end, *p, *k, *ke, *ve;

    if (obj == NULL || obj->len < 2 || obj->p[0] != '{')
        return 0;
    end = obj->p + obj->len;
    p = skip_ws(obj->p + 1, end);
    while (p < end && *p == '"') {
        k = p;
        ke = skip_string(p, end);
        if (ke == NULL)
            return 0;
        p = skip_ws(ke, end);
        if (p >= end || *p != ':')
            return 0;
        p = skip_ws(p + 1, end);
        ve = skip_value(p, end, 0);
        if (ve == NULL)
            return 0;
        if (key_equals(k, ke, name)) {
            val->p = p;
            val->len = (size_t)(ve - p);
            return 1;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return 0;
}

int p11kms_json_index(const p11kms_json *arr, size_t i, p11kms_json *val)
{
    const char *end, *p, *ve;
    size_t n = 0;

    if (arr == NULL || arr->len < 2 || arr->p[0] != '[')
        return 0;
    end = arr->p + arr->len;
    p = skip_ws(arr->p + 1, end);
    while (p < end && *p != ']') {
        ve = skip_value(p, end, 0);
        if (ve == NULL)
            return 0;
        if (n++ == i) {
            val->p = p;
            val->len = (size_t)(ve - p);
            return 1;
        }
        p = skip_ws(ve, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return 0;
}

int p11kms_json_string(const p11kms_json *val, size_t max_len, char **out)
{
    char *buf;
    long n;

    *out = NULL;
    if (val == NULL || val->len < 2 || val->p[0] != '"' || val->p[val->len - 1] != '"')
        return -1;
    buf = malloc(val->len);
    if (buf == NULL)
        return -1;
    n = decode_string(val->p, val->p + val->len, buf);
    if (n < 0 || (size_t)n > max_len) {
        p11kms_secure_free(buf, val->len);
        return -1;
    }
    *out = buf;
    return 0;
}

int p11kms_json_base64(const p11kms_json *val, size_t max_len, uint8_t **out, size_t *out_len)
{
    size_t n, cap;
    uint8_t *buf;
    long got;

    *out = NULL;
    *out_len = 0;
    if (val == NULL || val->len < 2 || val->p[0] != '"' || val->p[val->len - 1] != '"')
        return -1;
    n = val->len - 2;
    /* base64 never needs escapes; refusing them keeps the decoder a plain scan */
    if (n == 0 || memchr(val->p + 1, '\\', n) != NULL || n / 4 * 3 > max_len + 2)
        return -1;
    cap = n / 4 * 3 + 1;
    buf = malloc(cap);
    if (buf == NULL)
        return -1;
    got = p11kms_base64_decode(val->p + 1, n, buf);
    if (got <= 0 || (size_t)got > max_len) {
        p11kms_secure_free(buf, cap);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)got;
    return 0;
}

int p11kms_json_bool(const p11kms_json *val, int *out)
{
    if (val->len == 4 && memcmp(val->p, "true", 4) == 0)
        *out = 1;
    else if (val->len == 5 && memcmp(val->p, "false", 5) == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int p11kms_json_number_text(const p11kms_json *val, char *buf, size_t buf_len)
{
    if (val->len == 0 || val->len >= buf_len || skip_number(val->p, val->p + val->len) == NULL)
        return -1;
    memcpy(buf, val->p, val->len);
    buf[val->len] = 0;
    return 0;
}

int p11kms_json_uint(const p11kms_json *val, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (val == NULL || val->len == 0 || val->len > 20 || (val->p[0] == '0' && val->len > 1))
        return -1;
    for (i = 0; i < val->len; i++) {
        if (val->p[i] < '0' || val->p[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t)(val->p[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(val->p[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

void p11kms_json_print_member(FILE *f, const p11kms_json *obj, const char *name, const char *label)
{
    p11kms_json v;
    char *s = NULL, num[64];
    int b;

    if (!p11kms_json_member(obj, name, &v))
        return;
    if (p11kms_json_string(&v, 1024, &s) == 0)
        fprintf(f, "%s: %s\n", label, s);
    else if (p11kms_json_bool(&v, &b) == 0)
        fprintf(f, "%s: %s\n", label, b ? "true" : "false");
    else if (p11kms_json_number_text(&v, num, sizeof(num)) == 0)
        fprintf(f, "%s: %s\n", label, num);
    free(s);
}
