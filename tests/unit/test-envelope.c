/* test-envelope.c - the envelope format: version 2 exact bytes with its purpose byte, version 1
 * still parsed, two-call encoding, round trips, every bound (+/-1), refusal at every truncation
 * and of trailing bytes, and the debug line. */
#include "envelope.h"
#include "logcap.h"
#include "tests/test.h"

static void set_blob(p11kms_kms_blob *b, uint8_t id, const char *ref, uint32_t version,
                     size_t ct_len, uint8_t fill)
{
    b->backend_id = id;
    b->key_ref = ref != NULL ? strdup(ref) : NULL;
    b->key_version = version;
    b->ct_len = ct_len;
    b->ct = ct_len > 0 ? malloc(ct_len) : NULL;
    if (b->ct != NULL)
        memset(b->ct, fill, ct_len);
}

static uint8_t *encode(const p11kms_envelope *e, size_t *len)
{
    uint8_t *out;

    *len = 0;
    if (p11kms_envelope_encode(e, NULL, len) != CKR_BUFFER_TOO_SMALL)
        return NULL;
    out = malloc(*len);
    if (p11kms_envelope_encode(e, out, len) != CKR_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_exact_bytes(void)
{
    static const uint8_t want[] = {'P',
                                   'K',
                                   'M',
                                   'S',
                                   2,
                                   P11KMS_PURPOSE_WRAPPED_KEY,
                                   2,
                                   /* blob 1 */ 2,
                                   0,
                                   3,
                                   'a',
                                   'r',
                                   'n',
                                   0,
                                   0,
                                   0,
                                   7,
                                   0,
                                   0,
                                   0,
                                   2,
                                   0xee,
                                   0xee,
                                   /* blob 2 */ 1,
                                   0,
                                   1,
                                   'k',
                                   0x01,
                                   0x02,
                                   0x03,
                                   0x04,
                                   0,
                                   0,
                                   0,
                                   1,
                                   0x11};
    p11kms_envelope e = {0}, p;
    uint8_t buf[64];
    size_t len;

    set_blob(&e.blobs[0], 2, "arn", 7, 2, 0xee);
    set_blob(&e.blobs[1], 1, "k", 0x01020304, 1, 0x11);
    e.n = 2;
    e.purpose = P11KMS_PURPOSE_WRAPPED_KEY;
    is_num(p11kms_envelope_encoded_len(&e), sizeof(want), "encoded_len");
    len = 0;
    is_rv(p11kms_envelope_encode(&e, NULL, &len), CKR_BUFFER_TOO_SMALL, "NULL out: length query");
    is_num(len, sizeof(want), "length query gives the size");
    len = sizeof(want) - 1;
    is_rv(p11kms_envelope_encode(&e, buf, &len), CKR_BUFFER_TOO_SMALL, "one byte short");
    is_num(len, sizeof(want), "short buffer: size needed");
    len = sizeof(buf);
    is_rv(p11kms_envelope_encode(&e, buf, &len), CKR_OK, "encode");
    is_num(len, sizeof(want), "bytes written");
    is_mem(buf, want, sizeof(want), "exact bytes: version 2, purpose, big-endian fields");

    is_rv(p11kms_envelope_parse(want, sizeof(want), &p), CKR_OK, "parse");
    is_num(p.version, 2, "version 2");
    is_num(p.purpose, P11KMS_PURPOSE_WRAPPED_KEY, "purpose: wrapped key");
    ok(strcmp(p11kms_envelope_purpose_name(&p), "wrapped key") == 0, "purpose name");
    is_num(p.n, 2, "two blobs");
    ok(p.blobs[0].backend_id == 2 && strcmp(p.blobs[0].key_ref, "arn") == 0 &&
           p.blobs[0].key_version == 7 && p.blobs[0].ct_len == 2 && p.blobs[0].ct[1] == 0xee,
       "blob 1 fields");
    ok(p.blobs[1].backend_id == 1 && strcmp(p.blobs[1].key_ref, "k") == 0 &&
           p.blobs[1].key_version == 0x01020304 && p.blobs[1].ct_len == 1 &&
           p.blobs[1].ct[0] == 0x11,
       "blob 2 fields");
    ok(p.blobs[0].ct != e.blobs[0].ct, "parse copies");
    p11kms_envelope_clear(&p);
    is_num(p.n, 0, "clear resets");
    is_num(p.version, 0, "clear resets the version");
    p11kms_envelope_clear(&p);

    e.purpose = P11KMS_PURPOSE_DATA;
    len = sizeof(buf);
    is_rv(p11kms_envelope_encode(&e, buf, &len), CKR_OK, "encode a data envelope");
    ok(len == sizeof(want) && buf[5] == P11KMS_PURPOSE_DATA &&
           memcmp(buf + 6, want + 6, sizeof(want) - 6) == 0,
       "only the purpose byte differs");
    is_rv(p11kms_envelope_parse(buf, len, &p), CKR_OK, "parse it");
    ok(p.purpose == P11KMS_PURPOSE_DATA && strcmp(p11kms_envelope_purpose_name(&p), "data") == 0,
       "purpose: data");
    p11kms_envelope_clear(&p);

    e.purpose = P11KMS_PURPOSE_STORED_OBJECT;
    len = sizeof(buf);
    is_rv(p11kms_envelope_encode(&e, buf, &len), CKR_OK, "encode a stored object's envelope");
    ok(len == sizeof(want) && buf[5] == 3, "purpose byte 3");
    is_rv(p11kms_envelope_parse(buf, len, &p), CKR_OK, "parse it");
    ok(p.purpose == P11KMS_PURPOSE_STORED_OBJECT &&
           strcmp(p11kms_envelope_purpose_name(&p), "stored object") == 0,
       "purpose: stored object");
    p11kms_envelope_clear(&p);
    p11kms_envelope_clear(&e);
}

/* Version 1 (no purpose byte) still parses; the encoder writes it back as version 2. */
static void test_version_1(void)
{
    static const uint8_t v1[] = {'P', 'K', 'M', 'S', 1, 1, 1, 0, 1,    'k',
                                 0,   0,   0,   3,   0, 0, 0, 2, 0xab, 0xcd};
    p11kms_envelope p;
    uint8_t buf[64];
    size_t len = sizeof(buf);

    is_rv(p11kms_envelope_parse(v1, sizeof(v1), &p), CKR_OK, "a version 1 envelope parses");
    is_num(p.version, 1, "version 1");
    is_num(p.purpose, P11KMS_PURPOSE_UNKNOWN, "purpose not recorded");
    ok(strcmp(p11kms_envelope_purpose_name(&p), "v1/unknown") == 0, "purpose name v1/unknown");
    ok(p.n == 1 && strcmp(p.blobs[0].key_ref, "k") == 0 && p.blobs[0].key_version == 3 &&
           p.blobs[0].ct_len == 2 && p.blobs[0].ct[1] == 0xcd,
       "blob fields");
    is_num(p11kms_envelope_encoded_len(&p), 0, "no purpose: the encoder will not guess one");
    is_rv(p11kms_envelope_encode(&p, buf, &len), CKR_GENERAL_ERROR, "not encoded");
    p.purpose = P11KMS_PURPOSE_WRAPPED_KEY;
    len = sizeof(buf);
    is_rv(p11kms_envelope_encode(&p, buf, &len), CKR_OK, "with a purpose it encodes");
    ok(len == sizeof(v1) + 1 && buf[4] == 2 && buf[5] == P11KMS_PURPOSE_WRAPPED_KEY &&
           memcmp(buf + 6, v1 + 5, sizeof(v1) - 5) == 0,
       "as version 2: the same blobs after the purpose byte");
    p.purpose = 4;
    is_num(p11kms_envelope_encoded_len(&p), 0, "purpose 4 is not encoded");
    p11kms_envelope_clear(&p);
}

static void test_truncation_and_trailing(void)
{
    p11kms_envelope e = {0}, p;
    uint8_t *enc, *longer;
    size_t len, cut, i;
    int bad = 0, not_cleared = 0;

    for (i = 0; i < 3; i++)
        set_blob(&e.blobs[i], (uint8_t)(i + 1), "projects/p/locations/l", (uint32_t)i, 40, 0x5a);
    e.n = 3;
    e.purpose = P11KMS_PURPOSE_DATA;
    enc = encode(&e, &len);
    ok(enc != NULL, "encode three blobs");
    for (cut = 0; cut < len; cut++) {
        if (p11kms_envelope_parse(enc, cut, &p) != CKR_WRAPPED_KEY_INVALID)
            bad++;
        if (p.n != 0 || p.blobs[0].key_ref != NULL)
            not_cleared++;
    }
    is_num(bad, 0, "every truncation is CKR_WRAPPED_KEY_INVALID");
    is_num(not_cleared, 0, "a refused parse leaves the envelope empty");
    longer = malloc(len + 1);
    memcpy(longer, enc, len);
    longer[len] = 0;
    is_rv(p11kms_envelope_parse(longer, len + 1, &p), CKR_WRAPPED_KEY_INVALID,
          "a trailing byte is refused");
    is_rv(p11kms_envelope_parse(NULL, 0, &p), CKR_WRAPPED_KEY_INVALID, "NULL refused");
    is_rv(p11kms_envelope_parse(enc, len, &p), CKR_OK, "the full encoding parses");
    p11kms_envelope_clear(&p);
    free(longer);
    free(enc);
    p11kms_envelope_clear(&e);
}

/* Parse a one-blob envelope built by hand, with the given field values; version 2 has a
 * purpose byte after the version, version 1 (and any other) none. */
static CK_RV parse_one(uint8_t magic0, uint8_t version, uint8_t purpose, uint8_t count, uint8_t id,
                       size_t ref_len, uint8_t ref_fill, size_t ct_len)
{
    size_t hdr = version == 2 ? 7 : 6, len = hdr + 11 + ref_len + ct_len, off = 0;
    uint8_t *b = calloc(1, len);
    p11kms_envelope p;
    CK_RV rv;

    memcpy(b, "PKMS", 4);
    b[0] = magic0;
    b[4] = version;
    if (version == 2)
        b[5] = purpose;
    b[hdr - 1] = count;
    off = hdr;
    b[off++] = id;
    b[off++] = (uint8_t)(ref_len >> 8);
    b[off++] = (uint8_t)ref_len;
    memset(b + off, ref_fill, ref_len);
    off += ref_len + 4;
    b[off++] = (uint8_t)(ct_len >> 24);
    b[off++] = (uint8_t)(ct_len >> 16);
    b[off++] = (uint8_t)(ct_len >> 8);
    b[off++] = (uint8_t)ct_len;
    rv = p11kms_envelope_parse(b, len, &p);
    if (rv == CKR_OK &&
        (p.n != 1 || strlen(p.blobs[0].key_ref) != ref_len || p.blobs[0].ct_len != ct_len ||
         p.version != version || p.purpose != (version == 2 ? purpose : P11KMS_PURPOSE_UNKNOWN)))
        rv = CKR_GENERAL_ERROR;
    p11kms_envelope_clear(&p);
    free(b);
    return rv;
}

static void test_parse_bounds(void)
{
    const CK_RV bad = CKR_WRAPPED_KEY_INVALID;
    const uint8_t key = P11KMS_PURPOSE_WRAPPED_KEY, data = P11KMS_PURPOSE_DATA;

    is_rv(parse_one('P', 2, key, 1, 1, 1, 'k', 1), CKR_OK, "smallest envelope");
    is_rv(parse_one('P', 2, data, 1, 1, 1, 'k', 1), CKR_OK, "smallest data envelope");
    is_rv(parse_one('P', 2, P11KMS_PURPOSE_STORED_OBJECT, 1, 1, 1, 'k', 1), CKR_OK,
          "smallest stored-object envelope");
    is_rv(parse_one('P', 1, 0, 1, 1, 1, 'k', 1), CKR_OK, "smallest version 1 envelope");
    is_rv(parse_one('X', 2, key, 1, 1, 1, 'k', 1), bad, "bad magic");
    is_rv(parse_one('P', 0, 0, 1, 1, 1, 'k', 1), bad, "version 0");
    is_rv(parse_one('P', 3, 0, 1, 1, 1, 'k', 1), bad, "version 3");
    is_rv(parse_one('P', 2, 0, 1, 1, 1, 'k', 1), bad, "purpose 0");
    is_rv(parse_one('P', 2, 4, 1, 1, 1, 'k', 1), bad, "purpose 4");
    is_rv(parse_one('P', 2, 255, 1, 1, 1, 'k', 1), bad, "purpose 255");
    is_rv(parse_one('P', 2, key, 0, 1, 1, 'k', 1), bad, "count 0");
    is_rv(parse_one('P', 2, key, 2, 1, 1, 'k', 1), bad, "count 2 with one blob");
    is_rv(parse_one('P', 2, key, 9, 1, 1, 'k', 1), bad, "count 9");
    is_rv(parse_one('P', 1, 0, 9, 1, 1, 'k', 1), bad, "version 1, count 9");
    is_rv(parse_one('P', 2, key, 1, 0, 1, 'k', 1), bad, "backend id 0");
    is_rv(parse_one('P', 2, key, 1, 255, 1, 'k', 1), CKR_OK, "backend id 255");
    is_rv(parse_one('P', 2, key, 1, 1, 0, 'k', 1), bad, "key_ref_len 0");
    is_rv(parse_one('P', 2, key, 1, 1, 2048, 'k', 1), CKR_OK, "key_ref_len 2048");
    is_rv(parse_one('P', 2, key, 1, 1, 2049, 'k', 1), bad, "key_ref_len 2049");
    is_rv(parse_one('P', 1, 0, 1, 1, 2049, 'k', 1), bad, "version 1, key_ref_len 2049");
    is_rv(parse_one('P', 2, key, 1, 1, 3, 0, 1), bad, "NUL in key_ref");
    is_rv(parse_one('P', 2, key, 1, 1, 3, 0x80, 1), bad, "key_ref not UTF-8");
    is_rv(parse_one('P', 2, key, 1, 1, 1, 'k', 0), bad, "ct_len 0");
    is_rv(parse_one('P', 2, key, 1, 1, 1, 'k', 8192), CKR_OK, "ct_len 8192");
    is_rv(parse_one('P', 2, key, 1, 1, 1, 'k', 8193), bad, "ct_len 8193");
    is_rv(parse_one('P', 1, 0, 1, 1, 1, 'k', 8193), bad, "version 1, ct_len 8193");
}

static void test_max_blobs(void)
{
    p11kms_envelope e = {0}, p;
    uint8_t *enc;
    size_t len, i;

    for (i = 0; i < P11KMS_ENVELOPE_MAX_BLOBS; i++)
        set_blob(&e.blobs[i], (uint8_t)(i + 1), "\xc3\xa9t\xc3\xa9", (uint32_t)i, 8192, 0x33);
    e.n = P11KMS_ENVELOPE_MAX_BLOBS;
    e.purpose = P11KMS_PURPOSE_WRAPPED_KEY;
    enc = encode(&e, &len);
    ok(enc != NULL, "8 blobs of 8192 bytes encode");
    is_num(len, 7 + 8 * (11 + 5 + 8192), "size of the largest envelope shape");
    is_rv(p11kms_envelope_parse(enc, len, &p), CKR_OK, "and parse");
    is_num(p.n, 8, "eight blobs back");
    ok(strcmp(p.blobs[7].key_ref, "\xc3\xa9t\xc3\xa9") == 0 && p.blobs[7].key_version == 7,
       "last blob intact");
    p11kms_envelope_clear(&p);
    free(enc);
    p11kms_envelope_clear(&e);
}

static void test_encode_bounds(void)
{
    p11kms_envelope e = {0};
    uint8_t buf[16];
    size_t len = sizeof(buf);
    char *ref = malloc(2050);

    e.purpose = P11KMS_PURPOSE_DATA;
    is_num(p11kms_envelope_encoded_len(&e), 0, "no blobs: breaks a bound");
    is_rv(p11kms_envelope_encode(&e, buf, &len), CKR_GENERAL_ERROR, "no blobs: not encoded");
    e.n = 9;
    is_num(p11kms_envelope_encoded_len(&e), 0, "nine blobs");
    e.n = 1;
    set_blob(&e.blobs[0], 1, NULL, 0, 1, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "NULL key_ref");
    p11kms_kms_blob_clear(&e.blobs[0]);
    set_blob(&e.blobs[0], 1, "", 0, 1, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "empty key_ref");
    p11kms_kms_blob_clear(&e.blobs[0]);
    memset(ref, 'r', 2049);
    ref[2049] = '\0';
    set_blob(&e.blobs[0], 1, ref, 0, 1, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "2049-byte key_ref");
    e.blobs[0].key_ref[2048] = '\0';
    is_num(p11kms_envelope_encoded_len(&e), 7 + 11 + 2048 + 1, "2048-byte key_ref");
    e.purpose = P11KMS_PURPOSE_UNKNOWN;
    is_num(p11kms_envelope_encoded_len(&e), 0, "no purpose");
    e.purpose = P11KMS_PURPOSE_DATA;
    p11kms_kms_blob_clear(&e.blobs[0]);
    set_blob(&e.blobs[0], 1, "\xed\xa0\x80", 0, 1, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "surrogate in key_ref");
    p11kms_kms_blob_clear(&e.blobs[0]);
    set_blob(&e.blobs[0], 0, "k", 0, 1, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "backend id 0");
    p11kms_kms_blob_clear(&e.blobs[0]);
    set_blob(&e.blobs[0], 1, "k", 0, 8193, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "8193-byte ct");
    len = 0;
    is_rv(p11kms_envelope_encode(&e, NULL, &len), CKR_GENERAL_ERROR,
          "a bound-breaking envelope is an error even for a length query");
    p11kms_kms_blob_clear(&e.blobs[0]);
    set_blob(&e.blobs[0], 1, "k", 0, 0, 0);
    is_num(p11kms_envelope_encoded_len(&e), 0, "empty ct");
    p11kms_envelope_clear(&e);
    free(ref);
}

static void test_debug_line(void)
{
    static const uint8_t env[] = {'P', 'K', 'M', 'S', 2, 1, 1, 1, 0, 1,
                                  'k', 0,   0,   0,   0, 0, 0, 0, 9};
    static const uint8_t purpose[] = {'P', 'K', 'M', 'S', 2, 7, 1};
    p11kms_envelope p;
    const char *log;

    logcap_take();
    is_rv(p11kms_envelope_parse(env, sizeof(env), &p), CKR_WRAPPED_KEY_INVALID,
          "ct_len 9 with no ct bytes");
    log = logcap_take();
    is_num(logcap_count(log, "debug"), 1, "one debug line");
    ok(strstr(log, "truncated in ciphertext") != NULL, "the line names the defect");
    if (!ok(strstr(log, "offset 19 of 19") != NULL, "the line names the offset"))
        diag("log: %s", log);
    is_num(logcap_count(log, "error"), 0, "no error line: a bad envelope is the caller's");
    is_rv(p11kms_envelope_parse(purpose, sizeof(purpose), &p), CKR_WRAPPED_KEY_INVALID,
          "purpose 7");
    log = logcap_take();
    if (!ok(strstr(log, "unknown purpose") != NULL && strstr(log, "offset 6 of 7") != NULL,
            "the line names the purpose defect and its offset"))
        diag("log: %s", log);
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_DEBUG);
    test_exact_bytes();
    test_version_1();
    test_truncation_and_trailing();
    test_parse_bounds();
    test_max_blobs();
    test_encode_bounds();
    test_debug_line();
    return test_exit_code();
}
