/* aws-wire.c - the AWS backend's wire formats: secret-safe buffer, bounded JSON reader and
 * writer, base64, STS XML elements, form encoding and ISO 8601 times. No state, no locks.
 * Why not json-c here (the configuration uses it): KMS and credential answers carry secrets
 * (Decrypt's Plaintext, SecretAccessKey, Token). json-c's tokener copies every string into
 * its own buffers and frees them unwiped; this reader works in place on the response, and
 * secrets are decoded straight into buffers that are wiped. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "aws-wire.h"
#include "secmem.h"

void p11kms_aws_sbuf_init(p11kms_aws_sbuf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

static int sbuf_reserve(p11kms_aws_sbuf *b, size_t extra)
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

void p11kms_aws_sbuf_add(p11kms_aws_sbuf *b, const void *p, size_t n)
{
    if (sbuf_reserve(b, n) != 0)
        return;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

void p11kms_aws_sbuf_str(p11kms_aws_sbuf *b, const char *s)
{
    p11kms_aws_sbuf_add(b, s, strlen(s));
}

void p11kms_aws_sbuf_char(p11kms_aws_sbuf *b, char c)
{
    p11kms_aws_sbuf_add(b, &c, 1);
}

static const char hexdig[] = "0123456789abcdef";
static const char hexup[] = "0123456789ABCDEF";

void p11kms_aws_sbuf_json_string(p11kms_aws_sbuf *b, const char *s, size_t n)
{
    size_t i;
    char esc[7];

    p11kms_aws_sbuf_char(b, '"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            p11kms_aws_sbuf_add(b, esc, 2);
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hexdig[c >> 4];
            esc[5] = hexdig[c & 15];
            p11kms_aws_sbuf_add(b, esc, 6);
        } else {
            p11kms_aws_sbuf_char(b, (char)c);
        }
    }
    p11kms_aws_sbuf_char(b, '"');
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void p11kms_aws_sbuf_base64(p11kms_aws_sbuf *b, const uint8_t *p, size_t n)
{
    size_t i;
    char q[4];

    if (n > SIZE_MAX / 2 || sbuf_reserve(b, (n + 2) / 3 * 4) != 0)
        return;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];

        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 63];
        q[2] = b64[(v >> 6) & 63];
        q[3] = b64[v & 63];
        p11kms_aws_sbuf_add(b, q, 4);
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        q[0] = b64[v >> 18];
        q[1] = b64[(v >> 12) & 63];
        q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        q[3] = '=';
        p11kms_aws_sbuf_add(b, q, 4);
    }
    OPENSSL_cleanse(q, sizeof(q));
}

void p11kms_aws_sbuf_form(p11kms_aws_sbuf *b, const char *s)
{
    char esc[3];

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            p11kms_aws_sbuf_char(b, (char)c);
        } else {
            esc[0] = '%';
            esc[1] = hexup[c >> 4];
            esc[2] = hexup[c & 15];
            p11kms_aws_sbuf_add(b, esc, 3);
        }
    }
}

void p11kms_aws_sbuf_hex(p11kms_aws_sbuf *b, const uint8_t *p, size_t n)
{
    size_t i;
    char h[2];

    for (i = 0; i < n; i++) {
        h[0] = hexdig[p[i] >> 4];
        h[1] = hexdig[p[i] & 15];
        p11kms_aws_sbuf_add(b, h, 2);
    }
}

void p11kms_aws_sbuf_wipe(p11kms_aws_sbuf *b)
{
    p11kms_secure_free(b->p, b->cap);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

/* ---- JSON reader: validation by recursive descent, then lookups over the checked text ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
                    if (hexval(p[i]) < 0)
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

    if (depth >= P11KMS_AWS_JSON_MAX_DEPTH)
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

int p11kms_aws_json_parse(const char *text, size_t len, p11kms_aws_json *root)
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

static void put_utf8(char *out, size_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xc0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xe0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*o)++] = (char)(0xf0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
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
            put_utf8(out, &o, cp);
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

int p11kms_aws_json_member(const p11kms_aws_json *obj, const char *name, p11kms_aws_json *val)
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

int p11kms_aws_json_index(const p11kms_aws_json *arr, size_t i, p11kms_aws_json *val)
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

int p11kms_aws_json_string(const p11kms_aws_json *val, size_t max_len, char **out)
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

long p11kms_aws_base64_decode(const char *in, size_t len, uint8_t *out)
{
    size_t i, o = 0;
    int pad = 0, j;
    uint32_t v;
    int d[4];

    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        for (j = 0; j < 4; j++) {
            char c = in[i + j];
            const char *pos;

            if (c == '=' && i + 4 == len && j >= 2) {
                d[j] = 0;
                pad++;
                continue;
            }
            if (pad > 0 || c == 0 || (pos = strchr(b64, c)) == NULL)
                return -1;
            d[j] = (int)(pos - b64);
        }
        v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
        out[o++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)v;
        /* the bits a shortened final group does not use must be zero (canonical form) */
        if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
            return -1;
    }
    return (long)o;
}

int p11kms_aws_json_base64(const p11kms_aws_json *val, size_t max_len, uint8_t **out,
                           size_t *out_len)
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
    got = p11kms_aws_base64_decode(val->p + 1, n, buf);
    if (got <= 0 || (size_t)got > max_len) {
        p11kms_secure_free(buf, cap);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)got;
    return 0;
}

int p11kms_aws_json_bool(const p11kms_aws_json *val, int *out)
{
    if (val->len == 4 && memcmp(val->p, "true", 4) == 0)
        *out = 1;
    else if (val->len == 5 && memcmp(val->p, "false", 5) == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

int p11kms_aws_json_number_text(const p11kms_aws_json *val, char *buf, size_t buf_len)
{
    if (val->len == 0 || val->len >= buf_len || skip_number(val->p, val->p + val->len) == NULL)
        return -1;
    memcpy(buf, val->p, val->len);
    buf[val->len] = 0;
    return 0;
}

/* ---- XML: only what STS's query-protocol answers need: element text by tag name ---- */

static const char *find_mem(const char *h, size_t hlen, const char *n, size_t nlen)
{
    size_t i;

    if (nlen == 0 || nlen > hlen)
        return NULL;
    for (i = 0; i + nlen <= hlen; i++)
        if (h[i] == n[0] && memcmp(h + i, n, nlen) == 0)
            return h + i;
    return NULL;
}

int p11kms_aws_xml_element(const char *xml, size_t len, const char *name, const char **inner,
                           size_t *inner_len)
{
    char open[80], close[82];
    size_t nlen = strlen(name);
    const char *s, *e;

    if (nlen == 0 || nlen > 64)
        return -1;
    open[0] = '<';
    memcpy(open + 1, name, nlen);
    open[nlen + 1] = '>';
    close[0] = '<';
    close[1] = '/';
    memcpy(close + 2, name, nlen);
    close[nlen + 2] = '>';
    s = find_mem(xml, len, open, nlen + 2);
    if (s == NULL)
        return -1;
    s += nlen + 2;
    e = find_mem(s, len - (size_t)(s - xml), close, nlen + 3);
    if (e == NULL)
        return -1;
    *inner = s;
    *inner_len = (size_t)(e - s);
    return 0;
}

static int xml_entity(const char **pp, const char *end, char *out, size_t *o)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    const char *p = *pp + 1;
    uint32_t cp = 0;
    size_t i;
    int digits = 0, hex;

    for (i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
        size_t n = strlen(ents[i].name);

        if ((size_t)(end - p) >= n && memcmp(p, ents[i].name, n) == 0) {
            out[(*o)++] = ents[i].c;
            *pp = p + n;
            return 0;
        }
    }
    if (p >= end || *p != '#')
        return -1;
    p++;
    hex = p < end && *p == 'x';
    if (hex)
        p++;
    for (; p < end && *p != ';'; p++, digits++) {
        int v = hex ? hexval(*p) : (isdigit((unsigned char)*p) ? *p - '0' : -1);

        if (v < 0 || digits >= 6)
            return -1;
        cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
    }
    if (p >= end || digits == 0 || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        return -1;
    put_utf8(out, o, cp);
    *pp = p + 1;
    return 0;
}

int p11kms_aws_xml_text(const char *xml, size_t len, const char *name, size_t max_len, char **out)
{
    const char *s, *p, *end;
    size_t n, o = 0;
    char *buf;

    *out = NULL;
    if (p11kms_aws_xml_element(xml, len, name, &s, &n) != 0)
        return -1;
    /* an entity never decodes to more bytes than it is written with */
    buf = malloc(n + 1);
    if (buf == NULL)
        return -1;
    end = s + n;
    for (p = s; p < end;) {
        if (*p == '<' || *p == 0)
            goto bad;
        if (*p == '&') {
            if (xml_entity(&p, end, buf, &o) != 0)
                goto bad;
        } else {
            buf[o++] = *p++;
        }
    }
    if (o > max_len)
        goto bad;
    buf[o] = 0;
    *out = buf;
    return 0;
bad:
    p11kms_secure_free(buf, n + 1);
    return -1;
}

/* ---- time ---- */

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int p11kms_aws_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    long off = 0;
    time_t t;

    if (s == NULL || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    s += 19;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == 0) {
        off = 0;
    } else if ((*s == '+' || *s == '-') && digits(s + 1, 2, &oh) == 0 && s[3] == ':' &&
               digits(s + 4, 2, &om) == 0 && s[6] == 0) {
        off = (long)(oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* callers store 0 as "never expires": a time at or before the epoch is no expiry at all */
    if (t == (time_t)-1 || t - off <= 0)
        return -1;
    *out = t - off;
    return 0;
}
