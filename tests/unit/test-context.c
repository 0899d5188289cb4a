/* test-context.c - encryption contexts: every pair rule and bound (+/-1), canonical order and
 * encoding, strict decoding at every truncation, mechanism parameters and "k=v" text. */
#include "context.h"
#include "logcap.h"
#include "tests/test.h"

static p11kms_context *ctx_of(const char *const *kv, size_t n)
{
    p11kms_context *c = NULL;
    size_t i;

    if (p11kms_context_new(&c) != CKR_OK)
        exit(99);
    for (i = 0; i < n; i++)
        if (p11kms_context_add(c, kv[2 * i], strlen(kv[2 * i]), kv[2 * i + 1],
                               strlen(kv[2 * i + 1]), 0) != CKR_OK)
            exit(99);
    return c;
}

static CK_RV add_bytes(p11kms_context *c, const char *k, size_t kl, const char *v, size_t vl)
{
    return p11kms_context_add(c, k, kl, v, vl, 0);
}

static void test_order_and_rules(void)
{
    p11kms_context *c = NULL;
    static const char *const want[] = {"a", "ab", "b", "\xc3\xa9"};
    size_t i;

    is_rv(p11kms_context_new(&c), CKR_OK, "new");
    ok(c != NULL && c->pairs != NULL && c->n == 0, "a new context is empty, pairs not NULL");
    is_rv(add_bytes(c, "\xc3\xa9", 2, "e", 1), CKR_OK, "add a non-ASCII key");
    is_rv(add_bytes(c, "b", 1, "2", 1), CKR_OK, "add b");
    is_rv(add_bytes(c, "ab", 2, "", 0), CKR_OK, "add ab with an empty value");
    is_rv(add_bytes(c, "a", 1, "1", 1), CKR_OK, "add a");
    is_num(c->n, 4, "four pairs");
    for (i = 0; i < 4; i++)
        ok(strcmp(c->pairs[i].key, want[i]) == 0, "canonical order: bytes, shorter prefix first");
    ok(c->pairs[1].value != NULL && c->pairs[1].value[0] == '\0', "empty value is \"\"");
    is_rv(add_bytes(c, "", 0, "x", 1), CKR_MECHANISM_PARAM_INVALID, "empty key refused");
    is_rv(add_bytes(c, NULL, 0, "x", 1), CKR_MECHANISM_PARAM_INVALID, "NULL key refused");
    is_rv(add_bytes(c, "a", 1, "z", 1), CKR_MECHANISM_PARAM_INVALID, "duplicate key refused");
    ok(strcmp(p11kms_context_get(c, "a"), "1") == 0, "refused duplicate left the value alone");
    is_rv(p11kms_context_add(c, "a", 1, "zz", 2, 1), CKR_OK, "replace=1 overwrites");
    ok(strcmp(p11kms_context_get(c, "a"), "zz") == 0, "get returns the new value");
    is_num(c->n, 4, "replacing does not add a pair");
    ok(p11kms_context_get(c, "nope") == NULL, "get of an absent key is NULL");
    is_rv(add_bytes(c, "k\0x", 3, "v", 1), CKR_MECHANISM_PARAM_INVALID, "NUL in key refused");
    is_rv(add_bytes(c, "k", 1, "v\0", 2), CKR_MECHANISM_PARAM_INVALID, "NUL in value refused");
    p11kms_context_free(c);
    p11kms_context_free(NULL);
}

static void test_utf8(void)
{
    static const char *const good[] = {
        "\xc2\x80",     "\xdf\xbf",         "\xe0\xa0\x80",     "\xed\x9f\xbf",  "\xee\x80\x80",
        "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "plain ascii ~",
    };
    static const char *const bad[] = {
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong 2-byte */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong 3-byte, last one */
        "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
        "\xed\xa0\x80",     /* U+D800 surrogate */
        "\xed\xbf\xbf",     /* U+DFFF surrogate */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past the range */
        "\xff",
        "\x80",     /* lone continuation */
        "\xe2\x82", /* truncated */
        "a\xc3",    /* truncated at the end */
        "\xc3\x28", /* bad continuation */
    };
    p11kms_context *c = NULL;
    char what[64];
    size_t i;

    p11kms_context_new(&c);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(what, sizeof(what), "valid UTF-8 #%zu accepted as key and value", i);
        is_rv(p11kms_context_add(c, good[i], strlen(good[i]), good[i], strlen(good[i]), 0), CKR_OK,
              what);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "invalid UTF-8 #%zu refused as key", i);
        is_rv(add_bytes(c, bad[i], strlen(bad[i]), "v", 1), CKR_MECHANISM_PARAM_INVALID, what);
        snprintf(what, sizeof(what), "invalid UTF-8 #%zu refused as value", i);
        is_rv(add_bytes(c, "zz-key", 6, bad[i], strlen(bad[i])), CKR_MECHANISM_PARAM_INVALID, what);
    }
    p11kms_context_free(c);
}

static void test_bounds(void)
{
    p11kms_context *c = NULL;
    char key[8], *big;
    uint8_t *enc = NULL;
    size_t i, len = 0;

    p11kms_context_new(&c);
    for (i = 0; i < P11KMS_CONTEXT_MAX_PAIRS; i++) {
        snprintf(key, sizeof(key), "k%02zu", i);
        if (add_bytes(c, key, strlen(key), "v", 1) != CKR_OK)
            break;
    }
    is_num(i, 64, "64 pairs accepted");
    is_rv(add_bytes(c, "k64", 3, "v", 1), CKR_MECHANISM_PARAM_INVALID, "65th pair refused");
    is_rv(p11kms_context_add(c, "k00", 3, "w", 1, 1), CKR_OK, "replace works at 64 pairs");
    p11kms_context_free(c);

    /* One pair "k" -> value: 2 + 2 + 1 + 2 + L bytes. */
    big = malloc(9000);
    memset(big, 'x', 9000);
    p11kms_context_new(&c);
    is_rv(add_bytes(c, "k", 1, big, 8186), CKR_MECHANISM_PARAM_INVALID,
          "8193-byte encoding refused");
    is_rv(add_bytes(c, "k", 1, big, 8185), CKR_OK, "8192-byte encoding accepted");
    is_num(p11kms_context_encoded_len(c), 8192, "encoded_len is 8192");
    is_rv(p11kms_context_add(c, "k", 1, big, 8186, 1), CKR_MECHANISM_PARAM_INVALID,
          "a replacement that grows past 8192 refused");
    is_num(c->pairs[0].value_len, 8185, "the old value stays");
    is_rv(add_bytes(c, "j", 1, "", 0), CKR_MECHANISM_PARAM_INVALID, "another pair refused");
    is_rv(p11kms_context_encode(c, &enc, &len), CKR_OK, "encode the largest context");
    is_num(len, 8192, "8192 bytes");
    p11kms_context_free(c);
    c = NULL;
    is_rv(p11kms_context_decode(enc, len, &c), CKR_OK, "decode the largest context");
    ok(c != NULL && c->n == 1 && c->pairs[0].value_len == 8185, "largest context round trip");
    p11kms_context_free(c);
    free(enc);
    free(big);
}

static void test_encode_decode(void)
{
    static const char *const kv[] = {"b", "2", "a", "1", "ab", ""};
    static const uint8_t want[] = {0,   3,   0, 1, 'a', 0, 1,   '1', 0, 2,
                                   'a', 'b', 0, 0, 0,   1, 'b', 0,   1, '2'};
    static const uint8_t empty[] = {0, 0};
    p11kms_context *c = ctx_of(kv, 3), *d = NULL, *e = NULL;
    uint8_t *enc = NULL, buf[64];
    size_t len = 0, cut;
    char what[80];
    int fails = 0;

    is_rv(p11kms_context_encode(c, &enc, &len), CKR_OK, "encode");
    is_num(len, sizeof(want), "encoded length");
    is_num(p11kms_context_encoded_len(c), sizeof(want), "encoded_len agrees");
    ok(len == sizeof(want) && memcmp(enc, want, len) == 0, "canonical bytes, sorted");
    is_rv(p11kms_context_decode(enc, len, &d), CKR_OK, "decode");
    ok(p11kms_context_equal(c, d), "round trip equal");
    for (cut = 0; cut < len; cut++)
        if (p11kms_context_decode(enc, cut, &e) != CKR_MECHANISM_PARAM_INVALID || e != NULL)
            fails++;
    is_num(fails, 0, "every truncation refused");
    memcpy(buf, enc, len);
    buf[len] = 0;
    is_rv(p11kms_context_decode(buf, len + 1, &e), CKR_MECHANISM_PARAM_INVALID,
          "trailing byte refused");
    free(enc);

    is_rv(p11kms_context_decode(empty, 2, &e), CKR_OK, "00 00 is the empty context");
    ok(e != NULL && e->n == 0, "decoded empty context has no pairs");
    p11kms_context_free(e);
    e = NULL;
    is_rv(p11kms_context_decode(NULL, 0, &e), CKR_MECHANISM_PARAM_INVALID, "no bytes refused");

    {
        const uint8_t unsorted[] = {0, 2, 0, 1, 'b', 0, 0, 0, 1, 'a', 0, 0};
        const uint8_t dup[] = {0, 2, 0, 1, 'a', 0, 0, 0, 1, 'a', 0, 0};
        const uint8_t emptykey[] = {0, 1, 0, 0, 0, 1, 'v'};
        const uint8_t badutf[] = {0, 1, 0, 1, 'a', 0, 2, 0xc0, 0x80};
        const uint8_t nul[] = {0, 1, 0, 1, 0, 0, 0};
        const uint8_t count65[] = {0, 65};
        is_rv(p11kms_context_decode(unsorted, sizeof(unsorted), &e), CKR_MECHANISM_PARAM_INVALID,
              "unsorted keys refused");
        is_rv(p11kms_context_decode(dup, sizeof(dup), &e), CKR_MECHANISM_PARAM_INVALID,
              "duplicate keys refused");
        is_rv(p11kms_context_decode(emptykey, sizeof(emptykey), &e), CKR_MECHANISM_PARAM_INVALID,
              "empty key refused");
        is_rv(p11kms_context_decode(badutf, sizeof(badutf), &e), CKR_MECHANISM_PARAM_INVALID,
              "overlong UTF-8 refused");
        is_rv(p11kms_context_decode(nul, sizeof(nul), &e), CKR_MECHANISM_PARAM_INVALID,
              "NUL key refused");
        is_rv(p11kms_context_decode(count65, sizeof(count65), &e), CKR_MECHANISM_PARAM_INVALID,
              "count 65 refused");
    }
    {
        /* 64 pairs decode; the same bytes with count 65 do not. */
        uint8_t many[2 + 64 * 7 + 7];
        size_t i, off = 2;
        for (i = 0; i < 65; i++) {
            uint8_t p[7] = {0, 2, (uint8_t)('A' + i / 26), (uint8_t)('a' + i % 26), 0, 1, 'v'};
            memcpy(many + off, p, 7);
            off += 7;
        }
        many[0] = 0;
        many[1] = 64;
        is_rv(p11kms_context_decode(many, 2 + 64 * 7, &e), CKR_OK, "64 pairs decode");
        p11kms_context_free(e);
        e = NULL;
        many[1] = 65;
        is_rv(p11kms_context_decode(many, sizeof(many), &e), CKR_MECHANISM_PARAM_INVALID,
              "65 pairs refused");
    }
    {
        uint8_t *huge = calloc(1, 8193);
        huge[1] = 1;
        huge[3] = 1;
        huge[4] = 'k';
        huge[5] = 0x1f;
        huge[6] = 0xfa; /* value length 8186: 8193 bytes in all */
        memset(huge + 7, 'x', 8186);
        is_rv(p11kms_context_decode(huge, 8193, &e), CKR_MECHANISM_PARAM_INVALID,
              "8193-byte encoding refused");
        free(huge);
    }
    snprintf(what, sizeof(what), "decode leaves *out NULL on failure");
    ok(e == NULL, what);

    ok(!p11kms_context_equal(c, e), "context differs from NULL");
    is_rv(p11kms_context_copy(c, &e), CKR_OK, "copy");
    ok(p11kms_context_equal(c, e) && e != c, "copy is equal");
    p11kms_context_add(e, "a", 1, "x", 1, 1);
    ok(!p11kms_context_equal(c, e), "a changed value makes them differ");
    p11kms_context_free(e);
    is_rv(p11kms_context_copy(NULL, &e), CKR_OK, "copy of NULL");
    ok(e != NULL && e->n == 0, "copy of NULL is empty");
    p11kms_context_free(e);
    p11kms_context_free(c);
    p11kms_context_free(d);
}

/* Run from_mechanism, expecting a refusal with exactly one error line naming the rule. */
static void refused(const CK_MECHANISM *m, const p11kms_context *deflt, const char *rule,
                    const char *what)
{
    p11kms_context *out = (p11kms_context *)1;
    const char *log;

    logcap_take();
    is_rv(p11kms_context_from_mechanism(m, deflt, &out), CKR_MECHANISM_PARAM_INVALID, what);
    ok(out == NULL, "no context on failure");
    log = logcap_take();
    is_num(logcap_count(log, "error"), 1, "exactly one error line");
    if (!ok(strstr(log, rule) != NULL, rule))
        diag("log: %s", log);
}

static void test_mechanism(void)
{
    static const char *const dkv[] = {"app", "billing", "env", "prod"};
    p11kms_context *deflt = ctx_of(dkv, 2), *out = NULL;
    CK_P11KMS_CONTEXT_PAIR pairs[65];
    CK_P11KMS_ENVELOPE_PARAMS p = {1, pairs, 2, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_BYTE iv[8] = {0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP_PAD, iv, sizeof(iv)};
    static const uint8_t enc_empty[] = {0, 0};
    static const uint8_t enc_one[] = {0, 1, 0, 1, 'x', 0, 1, 'y'};
    static const uint8_t enc_bad[] = {0, 1, 0, 1, 'x'};
    CK_MECHANISM em = {CKM_P11KMS_ENVELOPE_ENCODED, NULL, 0};
    size_t i;

    pairs[0] = (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "y", 1};
    pairs[1] = (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR) "env", 3, (CK_UTF8CHAR_PTR) "dev", 3};

    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "two pairs");
    ok(out->n == 2 && strcmp(p11kms_context_get(out, "env"), "dev") == 0 &&
           p11kms_context_get(out, "app") == NULL,
       "without the merge flag the given pairs are the whole context");
    p11kms_context_free(out);

    p.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "merge");
    ok(out->n == 3 && strcmp(p11kms_context_get(out, "app"), "billing") == 0 &&
           strcmp(p11kms_context_get(out, "env"), "dev") == 0 &&
           strcmp(p11kms_context_get(out, "x"), "y") == 0,
       "merge: defaults kept, given pairs override");
    ok(strcmp(p11kms_context_get(deflt, "env"), "prod") == 0, "the default is not modified");
    p11kms_context_free(out);

    p.ulContextCount = 0;
    p.flags = 0;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "zero pairs");
    ok(out->n == 0, "zero pairs is the empty context, not the default");
    p11kms_context_free(out);
    p.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    p.pContext = NULL;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "zero pairs, merge, NULL");
    ok(p11kms_context_equal(out, deflt), "zero pairs with merge is the default");
    p11kms_context_free(out);
    p.pContext = pairs;

    m.pParameter = NULL;
    m.ulParameterLen = 0;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "NULL parameter");
    ok(p11kms_context_equal(out, deflt) && out != deflt, "NULL parameter: copy of default");
    p11kms_context_free(out);
    m.pParameter = &p;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "length 0");
    ok(p11kms_context_equal(out, deflt), "ulParameterLen 0: default");
    p11kms_context_free(out);
    is_rv(p11kms_context_from_mechanism(&kw, deflt, &out), CKR_OK, "AES key wrap pad with IV");
    ok(p11kms_context_equal(out, deflt), "other mechanisms: default (their param is an IV)");
    p11kms_context_free(out);
    is_rv(p11kms_context_from_mechanism(&kw, NULL, &out), CKR_OK, "no default");
    ok(out != NULL && out->n == 0, "a NULL default is the empty context");
    p11kms_context_free(out);

    p.flags = 0;
    p.ulContextCount = 2;
    m.ulParameterLen = sizeof(p) - 1;
    refused(&m, deflt, "ulParameterLen", "size - 1 refused");
    m.ulParameterLen = sizeof(p) + 1;
    refused(&m, deflt, "ulParameterLen", "size + 1 refused");
    m.ulParameterLen = sizeof(p);
    p.ulVersion = 0;
    refused(&m, deflt, "ulVersion", "version 0 refused");
    p.ulVersion = 2;
    refused(&m, deflt, "ulVersion", "version 2 refused");
    p.ulVersion = 1;
    p.flags = 2;
    refused(&m, deflt, "flags", "unknown flag refused");
    p.flags = 0;
    p.pContext = NULL;
    refused(&m, deflt, "pContext is NULL", "NULL pContext with pairs refused");
    p.pContext = pairs;
    pairs[0].pKey = NULL;
    refused(&m, deflt, "pKey is NULL", "NULL pKey refused");
    pairs[0].pKey = (CK_UTF8CHAR_PTR) "x";
    pairs[0].pValue = NULL;
    refused(&m, deflt, "pValue is NULL", "NULL pValue refused");
    pairs[0].ulValueLen = 0;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "NULL pValue, length 0");
    ok(strcmp(p11kms_context_get(out, "x"), "") == 0, "gives an empty value");
    p11kms_context_free(out);
    pairs[0].pValue = (CK_UTF8CHAR_PTR) "y";
    pairs[0].ulValueLen = 1;
    pairs[1].ulKeyLen = 0;
    refused(&m, deflt, "empty", "empty key refused");
    pairs[1] = pairs[0];
    refused(&m, deflt, "twice", "duplicate given keys refused");
    p.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    refused(&m, deflt, "twice", "duplicate given keys refused with merge too");
    p.flags = 0;
    pairs[1] =
        (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR) "\xed\xa0\x80", 3, (CK_UTF8CHAR_PTR) "v", 1};
    refused(&m, deflt, "UTF-8", "surrogate key refused");
    for (i = 0; i < 65; i++) {
        static char keys[65][4];
        snprintf(keys[i], sizeof(keys[i]), "%03zu", i);
        pairs[i] = (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR)keys[i], 3, NULL, 0};
    }
    p.ulContextCount = 64;
    is_rv(p11kms_context_from_mechanism(&m, deflt, &out), CKR_OK, "64 given pairs");
    p11kms_context_free(out);
    p.ulContextCount = 65;
    refused(&m, deflt, "64 pairs", "65 given pairs refused");
    p.ulContextCount = 64;
    p.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    refused(&m, deflt, "64 pairs", "64 given + 2 default pairs refused");

    is_rv(p11kms_context_from_mechanism(&em, deflt, &out), CKR_OK, "ENCODED NULL");
    ok(p11kms_context_equal(out, deflt), "ENCODED NULL: default");
    p11kms_context_free(out);
    em.pParameter = (CK_VOID_PTR)enc_empty;
    em.ulParameterLen = 0;
    is_rv(p11kms_context_from_mechanism(&em, deflt, &out), CKR_OK, "ENCODED empty");
    ok(p11kms_context_equal(out, deflt), "ENCODED length 0: default");
    p11kms_context_free(out);
    em.ulParameterLen = 2;
    is_rv(p11kms_context_from_mechanism(&em, deflt, &out), CKR_OK, "ENCODED 00 00");
    ok(out->n == 0, "ENCODED 00 00: the empty context");
    p11kms_context_free(out);
    em.pParameter = (CK_VOID_PTR)enc_one;
    em.ulParameterLen = sizeof(enc_one);
    is_rv(p11kms_context_from_mechanism(&em, deflt, &out), CKR_OK, "ENCODED one pair");
    ok(out->n == 1 && strcmp(p11kms_context_get(out, "x"), "y") == 0, "ENCODED decoded");
    p11kms_context_free(out);
    em.pParameter = (CK_VOID_PTR)enc_bad;
    em.ulParameterLen = sizeof(enc_bad);
    refused(&em, deflt, "truncated", "ENCODED truncated refused");
    em.ulParameterLen = 1;
    refused(&em, deflt, "shorter than", "ENCODED 1 byte refused");
    p11kms_context_free(deflt);
}

/* Keys beginning with "p11kms:" in any letter case belong to p11kms: refused on every path an
 * application, configuration or tool context takes; only the core's reserved pair gets in. */
static void test_reserved(void)
{
    static const char *const reserved[] = {"p11kms:purpose", "P11KMS:Purpose", "p11KMS:x",
                                           "p11kms:"};
    static const char *const fine[] = {"p11kms", "p11kms-purpose", "xp11kms:purpose", "p11km:s",
                                       "p11kms\xef\xbc\x9apurpose"};
    static const uint8_t enc_reserved[] = {0,   1,   0,   14,  'p', '1', '1', 'k',
                                           'm', 's', ':', 'p', 'u', 'r', 'p', 'o',
                                           's', 'e', 0,   4,   'd', 'a', 't', 'a'};
    static const char *const dkv[] = {"app", "billing"};
    p11kms_context *c = NULL, *deflt = ctx_of(dkv, 1), *out = NULL;
    p11kms_context_view view;
    CK_P11KMS_CONTEXT_PAIR pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS p = {1, pairs, 2, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_MECHANISM em = {CKM_P11KMS_ENVELOPE_ENCODED, (void *)enc_reserved, sizeof(enc_reserved)};
    char what[96], key[8];
    size_t i;

    p11kms_context_new(&c);
    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        ok(p11kms_context_key_reserved(reserved[i], strlen(reserved[i])), reserved[i]);
        snprintf(what, sizeof(what), "reserved key %s refused", reserved[i]);
        is_rv(add_bytes(c, reserved[i], strlen(reserved[i]), "wrapped-key", 11),
              CKR_MECHANISM_PARAM_INVALID, what);
    }
    for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        snprintf(what, sizeof(what), "key %zu without the exact prefix is the application's", i);
        ok(!p11kms_context_key_reserved(fine[i], strlen(fine[i])), what);
        is_rv(add_bytes(c, fine[i], strlen(fine[i]), "v", 1), CKR_OK, what);
    }
    ok(!p11kms_context_key_reserved("p11kms:purpose", 6), "a length shorter than the prefix");
    p11kms_context_free(c);

    pairs[0] = (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "y", 1};
    pairs[1] = (CK_P11KMS_CONTEXT_PAIR){(CK_UTF8CHAR_PTR) "P11KMS:Purpose", 14,
                                        (CK_UTF8CHAR_PTR) "wrapped-key", 11};
    refused(&m, deflt, "reserved for p11kms", "CK_P11KMS_ENVELOPE_PARAMS with a reserved key");
    p.flags = P11KMS_FLAG_MERGE_DEFAULT_CONTEXT;
    refused(&m, deflt, "reserved for p11kms", "...also when merged with the default context");
    refused(&em, deflt, "reserved for p11kms", "CKM_P11KMS_ENVELOPE_ENCODED with a reserved key");
    is_rv(p11kms_context_decode(enc_reserved, sizeof(enc_reserved), &out),
          CKR_MECHANISM_PARAM_INVALID, "decode refuses a reserved key");
    is_rv(p11kms_context_parse_text("a=1,p11kms:purpose=data", &out), CKR_MECHANISM_PARAM_INVALID,
          "text refuses a reserved key");

    /* The core's own pair: on top of a full application context, without a copy. */
    is_rv(p11kms_context_view_reserved(deflt, "p11kms:purpose", "data", &view), CKR_OK,
          "the reserved pair is added by the core");
    ok(view.ctx.n == 2 && strcmp(p11kms_context_get(&view.ctx, "p11kms:purpose"), "data") == 0,
       "application pairs plus the reserved pair");
    ok(view.ctx.pairs[0].key == deflt->pairs[0].key, "the application's strings are borrowed");
    is_num(deflt->n, 1, "the application context is not modified");
    is_rv(p11kms_context_view_reserved(NULL, "p11kms:purpose", "wrapped-key", &view), CKR_OK,
          "NULL is the empty context");
    ok(view.ctx.n == 1, "only the reserved pair");
    is_rv(p11kms_context_copy(&view.ctx, &out), CKR_MECHANISM_PARAM_INVALID,
          "a bound context is not an application context: it cannot be copied as one");
    is_rv(p11kms_context_view_reserved(deflt, "app2", "x", &view), CKR_GENERAL_ERROR,
          "the core adds only reserved keys that way");
    ok(view.ctx.n == 0, "nothing made");
    p11kms_context_free(deflt);

    p11kms_context_new(&c);
    add_bytes(c, "a", 1, "1", 1);
    add_bytes(c, "z", 1, "2", 1);
    is_rv(p11kms_context_view_reserved(c, "p11kms:purpose", "data", &view), CKR_OK,
          "a reserved pair between two application pairs");
    ok(view.ctx.n == 3 && strcmp(view.ctx.pairs[0].key, "a") == 0 &&
           strcmp(view.ctx.pairs[1].key, "p11kms:purpose") == 0 &&
           strcmp(view.ctx.pairs[2].key, "z") == 0,
       "...in canonical order");
    {
        p11kms_context *copy = NULL;
        uint8_t *ev = NULL, *ec = NULL;
        size_t lv = 0, lc = 0;
        /* The same pairs built the owning way: the encodings (local AAD) must be identical. */
        p11kms_context_new(&copy);
        add_bytes(copy, "a", 1, "1", 1);
        add_bytes(copy, "z", 1, "2", 1);
        copy->pairs = realloc(copy->pairs, 3 * sizeof(*copy->pairs));
        memmove(copy->pairs + 2, copy->pairs + 1, sizeof(*copy->pairs));
        copy->pairs[1] = view.ctx.pairs[1];
        copy->n = 3;
        is_rv(p11kms_context_encode(&view.ctx, &ev, &lv), CKR_OK, "the view encodes");
        is_rv(p11kms_context_encode(copy, &ec, &lc), CKR_OK, "the reference encodes");
        ok(lv == lc && memcmp(ev, ec, lv) == 0, "...to the same canonical bytes");
        free(ev);
        free(ec);
        copy->pairs[1].key = NULL; /* borrowed: not freed by the context */
        copy->pairs[1].value = NULL;
        p11kms_context_free(copy);
    }
    p11kms_context_free(c);

    p11kms_context_new(&c);
    for (i = 0; i < P11KMS_CONTEXT_MAX_PAIRS; i++) {
        snprintf(key, sizeof(key), "k%02zu", i);
        add_bytes(c, key, strlen(key), "v", 1);
    }
    is_rv(p11kms_context_view_reserved(c, "p11kms:purpose", "wrapped-key", &view), CKR_OK,
          "64 application pairs still leave room for the reserved one");
    ok(view.ctx.n == 65, "65 pairs go to the KMS");
    {
        uint8_t *enc = NULL;
        size_t len = 0;
        is_rv(p11kms_context_encode(&view.ctx, &enc, &len), CKR_OK, "and encode (local AAD)");
        free(enc);
    }
    p11kms_context_free(c);

    p11kms_context_new(&c);
    {
        char *big = malloc(8186);
        memset(big, 'x', 8185);
        big[8185] = '\0';
        is_rv(add_bytes(c, "k", 1, big, 8185), CKR_OK, "an 8192-byte application context");
        free(big);
    }
    is_rv(p11kms_context_view_reserved(c, "p11kms:purpose", "wrapped-key", &view), CKR_OK,
          "the reserved pair fits on top of 8192 bytes");
    is_num(p11kms_context_encoded_len(&view.ctx), 8192 + 4 + 14 + 11, "8221 bytes in all");
    p11kms_context_free(c);
}

static void text_ok(const char *text, const char *const *kv, size_t n, const char *what)
{
    p11kms_context *c = NULL, *want = ctx_of(kv, n);

    is_rv(p11kms_context_parse_text(text, &c), CKR_OK, what);
    ok(p11kms_context_equal(c, want), what);
    p11kms_context_free(c);
    p11kms_context_free(want);
}

static void text_bad(const char *text, const char *what)
{
    p11kms_context *c = (p11kms_context *)1;

    logcap_take();
    is_rv(p11kms_context_parse_text(text, &c), CKR_MECHANISM_PARAM_INVALID, what);
    ok(c == NULL, "no context on failure");
    is_num(logcap_count(logcap_take(), "error"), 1, "one error line");
}

static void test_text(void)
{
    static const char *const two[] = {"a", "1", "b", "2"};
    static const char *const esc[] = {"k,1", "v=2\\"};
    static const char *const emptyval[] = {"a", ""};
    static const char *const utf[] = {"caf\xc3\xa9", "\xe2\x82\xac"};

    text_ok("a=1,b=2", two, 2, "two pairs");
    text_ok("b=2,a=1", two, 2, "order does not matter");
    text_ok("k\\,1=v\\=2\\\\", esc, 1, "escapes");
    text_ok("a=", emptyval, 1, "empty value");
    text_ok("caf\xc3\xa9=\xe2\x82\xac", utf, 1, "UTF-8");
    text_ok("", NULL, 0, "empty text is the empty context");
    text_ok(NULL, NULL, 0, "NULL text is the empty context");
    text_bad("a", "no '='");
    text_bad("a=1,,b=2", "empty item");
    text_bad("a=1,", "trailing comma");
    text_bad(",a=1", "leading comma");
    text_bad("=v", "empty key");
    text_bad("a=b=c", "unescaped '=' in value");
    text_bad("a\\x=1", "unknown escape");
    text_bad("a=1\\", "trailing backslash");
    text_bad("a=1,a=2", "duplicate key");
    text_bad("a=\xc0\x80", "bad UTF-8");
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_ERROR);
    test_order_and_rules();
    test_utf8();
    test_bounds();
    test_encode_decode();
    test_mechanism();
    test_reserved();
    test_text();
    return test_exit_code();
}
