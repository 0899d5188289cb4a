/* s3-meta.c - x-amz-meta-p11kms-* of encrypted objects: made from the file header on upload,
 * printed by inspect from a HEAD. Values are printable ASCII with '%', ',' and anything else
 * percent-escaped; lists are comma-separated. No shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "codec.h"
#include "context.h"
#include "envelope.h"
#include "net/sbuf.h"
#include "s3-meta.h"
#include "stream.h"
#include "tool.h"

enum {
    M_FORMAT,
    M_HEADER_LEN,
    M_CHUNK,
    M_WRAP,
    M_KMS_KEYS,
    M_KEY_ID,
    M_CONTEXT_KEYS,
    M_KEY_LABEL,
    M_COUNT
};

/* Names without "x-amz-meta-"; S3 lowercases them. The optional ones last, dropped from the end
 * when the whole would break S3's limit. */
static const char *const names[M_COUNT] = {
    "p11kms-format",   "p11kms-header-length", "p11kms-chunk-size",   "p11kms-wrap",
    "p11kms-kms-keys", "p11kms-key-id",        "p11kms-context-keys", "p11kms-key-label",
};
#define M_REQUIRED 4

static void escape(p11kms_sbuf *b, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] > 0x20 && s[i] < 0x7f && s[i] != '%' && s[i] != ',' && s[i] != '@') {
            p11kms_sbuf_char(b, (char)s[i]);
        } else {
            p11kms_sbuf_char(b, '%');
            p11kms_sbuf_char(b, hex[s[i] >> 4]);
            p11kms_sbuf_char(b, hex[s[i] & 15]);
        }
    }
}

static char *finish(p11kms_sbuf *b)
{
    p11kms_sbuf_char(b, 0);
    if (b->failed) {
        p11kms_sbuf_wipe(b);
        return NULL;
    }
    return b->p;
}

static char *kms_keys(const tool_ff_header *h)
{
    const p11kms_backend_ops *ops;
    p11kms_envelope env;
    p11kms_sbuf b;
    char num[32];
    size_t i;

    memset(&env, 0, sizeof(env));
    p11kms_sbuf_init(&b, 0);
    if (h->wrap_method == TOOL_FF_WRAP_ENVELOPE &&
        p11kms_envelope_parse(h->wrapped, h->wrapped_len, &env) == CKR_OK) {
        for (i = 0; i < env.n; i++) {
            ops = p11kms_backend_find_id(env.blobs[i].backend_id);
            if (i > 0)
                p11kms_sbuf_char(&b, ',');
            if (ops != NULL) {
                p11kms_sbuf_str(&b, ops->name);
            } else {
                snprintf(num, sizeof(num), "backend-%u", env.blobs[i].backend_id);
                p11kms_sbuf_str(&b, num);
            }
            p11kms_sbuf_char(&b, ':');
            escape(&b, (const uint8_t *)env.blobs[i].key_ref, strlen(env.blobs[i].key_ref));
            if (env.blobs[i].key_version > 0) {
                snprintf(num, sizeof(num), "@%lu", (unsigned long)env.blobs[i].key_version);
                p11kms_sbuf_str(&b, num);
            }
        }
    }
    p11kms_envelope_clear(&env);
    return finish(&b);
}

static char *context_keys(const tool_ff_header *h)
{
    p11kms_context *ctx = NULL;
    p11kms_sbuf b;
    size_t i;

    p11kms_sbuf_init(&b, 0);
    if (p11kms_context_decode(h->context, h->context_len, &ctx) == CKR_OK && ctx != NULL)
        for (i = 0; i < ctx->n; i++) {
            if (i > 0)
                p11kms_sbuf_char(&b, ',');
            escape(&b, (const uint8_t *)ctx->pairs[i].key, ctx->pairs[i].key_len);
        }
    p11kms_context_free(ctx);
    return finish(&b);
}

int tool_s3_meta_build(const tool_ff_header *h, size_t hdr_len, tool_s3_meta *store,
                       tool_s3_put_opts *o)
{
    p11kms_sbuf b;
    size_t i, total, n = M_COUNT;

    memset(store, 0, sizeof(*store));
    for (i = 0; i < M_COUNT; i++) {
        p11kms_sbuf_init(&b, 0);
        switch (i) {
        case M_FORMAT:
            p11kms_sbuf_str(&b, "1");
            break;
        case M_HEADER_LEN:
        case M_CHUNK: {
            char num[24];

            snprintf(num, sizeof(num), "%lu",
                     i == M_CHUNK ? (unsigned long)h->chunk_size : (unsigned long)hdr_len);
            p11kms_sbuf_str(&b, num);
            break;
        }
        case M_WRAP:
            p11kms_sbuf_str(&b, h->wrap_method == TOOL_FF_WRAP_ENVELOPE ? "envelope"
                                                                        : "aes-key-wrap-pad");
            break;
        case M_KEY_LABEL:
            escape(&b, (const uint8_t *)h->key_label, strlen(h->key_label));
            break;
        case M_KEY_ID:
            p11kms_sbuf_hex(&b, h->key_id, h->key_id_len);
            break;
        default:
            break;
        }
        if (i == M_KMS_KEYS)
            store->values[i] = kms_keys(h);
        else if (i == M_CONTEXT_KEYS)
            store->values[i] = context_keys(h);
        else
            store->values[i] = finish(&b);
        if (store->values[i] == NULL) {
            tool_s3_meta_free(store);
            tool_err("out of memory");
            return -1;
        }
    }
    for (;;) {
        for (total = 0, i = 0; i < n; i++)
            total += strlen(names[i]) + strlen(store->values[i]);
        if (total <= TOOL_S3_META_BYTES_MAX || n == M_REQUIRED)
            break;
        n--;
    }
    o->n_meta = 0;
    for (i = 0; i < n; i++) {
        if (store->values[i][0] == 0)
            continue; /* an empty field says nothing */
        o->meta_names[o->n_meta] = names[i];
        o->meta_values[o->n_meta] = store->values[i];
        o->n_meta++;
    }
    return 0;
}

void tool_s3_meta_free(tool_s3_meta *store)
{
    size_t i;

    for (i = 0; i < TOOL_S3_PUT_META_MAX; i++) {
        free(store->values[i]);
        store->values[i] = NULL;
    }
}

/* ---- inspect --------------------------------------------------------------------------------- */

static int meta(const tool_s3_get *g, const char *name, char *buf, size_t len)
{
    char full[64];

    snprintf(full, sizeof(full), "x-amz-meta-%s", name);
    return tool_s3_get_header(g, full, buf, len);
}

int tool_s3_meta_present(const tool_s3_get *g)
{
    char v[16];

    return meta(g, "p11kms-format", v, sizeof(v)) == 1;
}

/* Print a value with its escapes undone and anything unprintable as '?'. */
static void print_unescaped(const char *s, size_t n)
{
    size_t i;
    int hi, lo, c;

    for (i = 0; i < n; i++) {
        c = (unsigned char)s[i];
        if (c == '%' && i + 2 < n && (hi = p11kms_hex_digit(s[i + 1])) >= 0 &&
            (lo = p11kms_hex_digit(s[i + 2])) >= 0) {
            c = hi << 4 | lo;
            i += 2;
        }
        putchar(c >= 0x20 && c < 0x7f ? c : '?');
    }
}

static void print_list(const char *label, const char *v, const char *sep)
{
    const char *p = v, *e;

    printf("%s", label);
    for (;;) {
        e = strchr(p, ',');
        print_unescaped(p, e != NULL ? (size_t)(e - p) : strlen(p));
        if (e == NULL)
            break;
        printf("%s", sep);
        p = e + 1;
    }
    printf("\n");
}

/* "aws:arn...@3,vault:k" as inspect prints envelope blobs: "kms key:    aws arn..., version 3". */
static void print_kms_keys(const char *v)
{
    const char *p = v, *e, *colon, *at;
    size_t n;

    for (;;) {
        e = strchr(p, ',');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        colon = memchr(p, ':', n);
        at = memchr(p, '@', n);
        printf("kms key:    ");
        if (colon != NULL) {
            print_unescaped(p, (size_t)(colon - p));
            printf(" ");
            print_unescaped(colon + 1, (size_t)((at != NULL ? at : p + n) - colon - 1));
            if (at != NULL) {
                printf(", version ");
                print_unescaped(at + 1, (size_t)(p + n - at - 1));
            }
        } else {
            print_unescaped(p, n);
        }
        printf("\n");
        if (e == NULL)
            break;
        p = e + 1;
    }
}

void tool_s3_meta_print(const tool_s3_get *g, const char *url)
{
    char v[2048], chunk[24], hlen[24];
    unsigned long cs = 0, hl = 0;
    uint64_t size = tool_s3_get_size(g);

    printf("object:     %s, %llu bytes (from its metadata: the body was not read)\n", url,
           (unsigned long long)size);
    if (meta(g, "p11kms-header-length", hlen, sizeof(hlen)) == 1)
        hl = strtoul(hlen, NULL, 10);
    if (meta(g, "p11kms-format", v, sizeof(v)) == 1) {
        printf("format:     p11kms encrypted file, version ");
        print_unescaped(v, strlen(v));
        printf(", header %lu bytes\n", hl);
    }
    if (meta(g, "p11kms-chunk-size", chunk, sizeof(chunk)) == 1) {
        cs = strtoul(chunk, NULL, 10);
        printf("cipher:     AES-256-GCM, %lu-byte chunks\n", cs);
    }
    if (cs >= TOOL_FF_CHUNK_MIN && cs <= TOOL_FF_CHUNK_MAX && hl > 0 && size > hl)
        printf("plaintext:  %llu bytes if intact\n",
               (unsigned long long)tool_stream_plain_len(size - hl, (uint32_t)cs));
    if (meta(g, "p11kms-wrap", v, sizeof(v)) == 1)
        printf("wrapped by: %s\n", strcmp(v, "envelope") == 0 ? "a KMS key (CKM_P11KMS_ENVELOPE)"
                                   : strcmp(v, "aes-key-wrap-pad") == 0
                                       ? "an AES key (CKM_AES_KEY_WRAP_PAD)"
                                       : "something this version does not know");
    if (meta(g, "p11kms-key-label", v, sizeof(v)) == 1)
        print_list("key label:  ", v, ",");
    if (meta(g, "p11kms-key-id", v, sizeof(v)) == 1)
        print_list("key id:     ", v, ",");
    if (meta(g, "p11kms-context-keys", v, sizeof(v)) == 1)
        print_list("context:    keys ", v, ", ");
    if (meta(g, "p11kms-kms-keys", v, sizeof(v)) == 1)
        print_kms_keys(v);
    if (tool_s3_get_header(g, "x-amz-server-side-encryption", v, sizeof(v)) == 1) {
        printf("s3 sse:     ");
        print_unescaped(v, strlen(v));
        if (tool_s3_get_header(g, "x-amz-server-side-encryption-aws-kms-key-id", v, sizeof(v)) ==
            1) {
            printf(", key ");
            print_unescaped(v, strlen(v));
        }
        printf("\n");
    }
}
