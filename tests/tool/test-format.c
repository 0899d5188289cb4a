/* test-format.c - the tool's file format with a raw data key, no module: header round trip and
 * bounds, and the streaming pipeline refusing truncated, reordered, tampered and extended files. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "tests/test.h"
#include "tools/format.h"
#include "tools/stream.h"

#define CHUNK 1024u

static char dir[] = "/tmp/p11kms-test-format-XXXXXX";
static uint8_t key[TOOL_FF_KEY_LEN];

static char *path_of(const char *name)
{
    static char p[256];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static void write_file(const char *name, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path_of(name), "wb");

    if (f == NULL || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
}

static uint8_t *read_file(const char *name, size_t *len)
{
    FILE *f = fopen(path_of(name), "rb");
    uint8_t *buf;
    long n;

    if (f == NULL)
        abort();
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || (n && fread(buf, 1, (size_t)n, f) != (size_t)n))
        abort();
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void make_header(tool_ff_header *h)
{
    static uint8_t ctx[] = {0, 1, 0, 3, 'a', 'p', 'p', 0, 1, 'x'};
    static uint8_t wrapped[] = {1, 2, 3, 4, 5, 6, 7, 8};

    memset(h, 0, sizeof(*h));
    h->wrap_method = TOOL_FF_WRAP_ENVELOPE;
    h->chunk_size = CHUNK;
    RAND_bytes(h->prefix, sizeof(h->prefix));
    h->key_label = strdup("default");
    h->key_id = malloc(2);
    memcpy(h->key_id, "\x01\x02", 2);
    h->key_id_len = 2;
    h->context = malloc(sizeof(ctx));
    memcpy(h->context, ctx, sizeof(ctx));
    h->context_len = sizeof(ctx);
    h->wrapped = malloc(sizeof(wrapped));
    memcpy(h->wrapped, wrapped, sizeof(wrapped));
    h->wrapped_len = sizeof(wrapped);
}

/* Run the pipeline between two files; the header is passed separately as the tool does. */
static int run(const tool_ff_header *h, int encrypt, const char *in, const char *out, off_t skip)
{
    tool_progress prog;
    int ifd, ofd, rv;

    ifd = open(path_of(in), O_RDONLY);
    ofd = open(path_of(out), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (ifd < 0 || ofd < 0 || lseek(ifd, skip, SEEK_SET) != skip)
        abort();
    tool_progress_start(&prog, "test", 0, 0);
    rv = tool_stream_run(h, key, encrypt, ifd, ofd, &prog);
    close(ifd);
    close(ofd);
    return rv;
}

static void test_header(void)
{
    tool_ff_header h, p;
    uint8_t *enc, *bad;
    size_t len;
    const char *why = "";

    make_header(&h);
    ok(tool_ff_header_encode(&h, &enc, &len) == 0, "header encodes");
    ok(tool_ff_header_len(enc, &why) == len, "header length read from the fixed part");
    ok(tool_ff_header_parse(enc, len, &p, &why) == 0, "header parses");
    ok(strcmp(p.key_label, "default") == 0 && p.key_id_len == 2 && p.context_len == 10 &&
           p.wrapped_len == 8 && p.chunk_size == CHUNK && p.wrap_method == TOOL_FF_WRAP_ENVELOPE,
       "parsed fields equal the encoded ones");
    is_mem(p.hash, h.hash, TOOL_FF_HASH_LEN, "both sides compute the same header hash");
    is_mem(p.prefix, h.prefix, TOOL_FF_PREFIX_LEN, "nonce prefix survives");
    tool_ff_header_clear(&p);

    ok(tool_ff_header_parse(enc, len - 1, &p, &why) != 0, "short header refused");
    bad = malloc(len + 1);
    memcpy(bad, enc, len);
    bad[0] ^= 1;
    ok(tool_ff_header_len(bad, &why) == 0 && strstr(why, "not a p11kms") != NULL,
       "bad magic refused as not our file");
    memcpy(bad, enc, len);
    bad[8] = 2;
    ok(tool_ff_header_len(bad, &why) == 0 && strstr(why, "version") != NULL,
       "unknown version refused");
    memcpy(bad, enc, len);
    bad[16] = 0x7f; /* chunk size far above the maximum */
    ok(tool_ff_header_len(bad, &why) == 0, "chunk size out of range refused");
    memcpy(bad, enc, len);
    bad[TOOL_FF_FIXED_LEN + 1] = 200; /* label length runs past the header */
    ok(tool_ff_header_parse(bad, len, &p, &why) != 0, "field length past the end refused");
    memcpy(bad, enc, len);
    bad[len] = 0;
    bad[15]++; /* header length one more, with a trailing byte */
    ok(tool_ff_header_parse(bad, len + 1, &p, &why) != 0, "trailing bytes in the header refused");
    free(bad);
    free(enc);

    free(h.key_label);
    h.key_label = malloc(300);
    memset(h.key_label, 'a', 299);
    h.key_label[299] = 0;
    ok(tool_ff_header_encode(&h, &enc, &len) != 0, "over-long label refused at encode");
    tool_ff_header_clear(&h);
}

/* Encrypt n bytes, check the body layout, decrypt, compare. */
static void round_trip(size_t n)
{
    tool_ff_header h;
    uint8_t *pt = malloc(n + 1), *back, *hdr;
    size_t back_len, ct_len, hdr_len, chunks = n / CHUNK + 1;
    char what[128];

    if (n % CHUNK == 0 && n > 0)
        chunks = n / CHUNK;
    RAND_bytes(pt, (int)n + 1);
    write_file("pt", pt, n);
    make_header(&h);
    if (tool_ff_header_encode(&h, &hdr, &hdr_len) != 0)
        abort();
    free(hdr);
    snprintf(what, sizeof(what), "%zu bytes: encrypt", n);
    ok(run(&h, 1, "pt", "ct", 0) == 0, what);
    free(read_file("ct", &ct_len));
    snprintf(what, sizeof(what), "%zu bytes: %zu chunks of at most %u bytes plus tags", n, chunks,
             CHUNK);
    is_num(ct_len, n + chunks * TOOL_FF_TAG_LEN, what);
    is_num(tool_stream_plain_len(ct_len, CHUNK), n, "plaintext length derived from body length");
    snprintf(what, sizeof(what), "%zu bytes: decrypt", n);
    ok(run(&h, 0, "ct", "back", 0) == 0, what);
    back = read_file("back", &back_len);
    snprintf(what, sizeof(what), "%zu bytes: round trip is exact", n);
    ok(back_len == n && memcmp(back, pt, n) == 0, what);
    free(back);
    free(pt);
    tool_ff_header_clear(&h);
}

/* Decrypting the modified body "bad" must fail and write no more than the verified chunks
 * before the first damaged one (max_out bytes). */
static void refused(const tool_ff_header *h, const uint8_t *body, size_t len, size_t max_out,
                    const char *what)
{
    uint8_t *out;
    size_t out_len;

    write_file("bad", body, len);
    ok(run(h, 0, "bad", "out", 0) != 0, what);
    out = read_file("out", &out_len);
    ok(out_len <= max_out, "  ...and nothing unverified was written");
    free(out);
}

static void test_attacks(void)
{
    tool_ff_header h, h2;
    uint8_t pt[3 * CHUNK + 100], *ct, *m, *hdr;
    size_t ct_len, hdr_len, rec = CHUNK + TOOL_FF_TAG_LEN;

    RAND_bytes(pt, sizeof(pt));
    write_file("pt", pt, sizeof(pt));
    make_header(&h);
    if (tool_ff_header_encode(&h, &hdr, &hdr_len) != 0)
        abort();
    free(hdr);
    ok(run(&h, 1, "pt", "ct", 0) == 0, "four-chunk file encrypts");
    ct = read_file("ct", &ct_len);
    is_num(ct_len, 4 * TOOL_FF_TAG_LEN + sizeof(pt), "four chunks written");
    m = malloc(ct_len + rec);

    memcpy(m, ct, ct_len);
    m[rec + 5] ^= 0x40;
    refused(&h, m, ct_len, CHUNK, "flipped bit in chunk 1 refused");
    memcpy(m, ct, ct_len);
    m[ct_len - 1] ^= 1;
    refused(&h, m, ct_len, 3 * CHUNK, "flipped bit in the last tag refused");
    refused(&h, ct, 3 * rec, 3 * CHUNK, "truncated at a chunk boundary refused");
    refused(&h, ct, ct_len - 1, 3 * CHUNK, "truncated by one byte refused");
    refused(&h, ct, 0, 0, "body cut off entirely refused");
    refused(&h, ct, 10, 0, "body shorter than a tag refused");
    memcpy(m, ct, rec);
    memcpy(m + rec, ct + 2 * rec, ct_len - 2 * rec);
    refused(&h, m, ct_len - rec, CHUNK, "dropped middle chunk refused");
    memcpy(m, ct, ct_len);
    memcpy(m + rec, ct + 2 * rec, rec);
    memcpy(m + 2 * rec, ct + rec, rec);
    refused(&h, m, ct_len, CHUNK, "swapped chunks refused");
    memcpy(m, ct, ct_len);
    memcpy(m + ct_len, ct, rec);
    refused(&h, m, ct_len + rec, 3 * CHUNK, "chunk appended after the last refused");
    memcpy(m, ct, ct_len);
    m[ct_len] = 0;
    refused(&h, m, ct_len + 1, 3 * CHUNK, "one byte appended refused");

    /* Any change to the header changes its hash, which every chunk binds. */
    make_header(&h2);
    memcpy(h2.prefix, h.prefix, TOOL_FF_PREFIX_LEN);
    h2.context[9] = 'y';
    if (tool_ff_header_encode(&h2, &hdr, &hdr_len) != 0)
        abort();
    free(hdr);
    refused(&h2, ct, ct_len, 0, "changed context in the header refused");
    tool_ff_header_clear(&h2);

    free(m);
    free(ct);
    tool_ff_header_clear(&h);
}

int main(void)
{
    static const size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 7 * CHUNK + 77};
    size_t i;

    test_start();
    if (mkdtemp(dir) == NULL)
        return 99;
    RAND_bytes(key, sizeof(key));
    test_header();
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        round_trip(sizes[i]);
    test_attacks();
    unlink(path_of("pt"));
    unlink(path_of("ct"));
    unlink(path_of("back"));
    unlink(path_of("bad"));
    unlink(path_of("out"));
    rmdir(dir);
    return test_exit_code();
}
