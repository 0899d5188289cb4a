/* aws-xml.c - element text of STS's query-protocol answers, with entities and character
 * references decoded; nothing else of XML. No state, no locks. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "aws-xml.h"
#include "codec.h"
#include "secmem.h"

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
        int v = hex ? p11kms_hex_digit(*p) : (isdigit((unsigned char)*p) ? *p - '0' : -1);

        if (v < 0 || digits >= 6)
            return -1;
        cp = cp * (hex ? 16u : 10u) + (uint32_t)v;
    }
    if (p >= end || digits == 0 || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
        return -1;
    *o += p11kms_utf8_encode(cp, out + *o);
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
