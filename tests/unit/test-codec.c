/* test-codec.c - the one base64 and hex of the module, the tool and the tests: RFC 4648 test
 * vectors, every byte value both ways, the canonical-form and alphabet refusals, and UTF-8. */
#include <stdint.h>
#include "tests/test.h"
#include "module/codec.h"

static void test_base64_vectors(void)
{
    /* RFC 4648 section 10 */
    static const char *const v[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char enc[16];
    uint8_t dec[16];
    size_t i;
    long n;
    int good = 1;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        p11kms_base64_encode((const uint8_t *)v[i][0], strlen(v[i][0]), enc);
        good &= strcmp(enc, v[i][1]) == 0 && strlen(enc) == P11KMS_BASE64_LEN(strlen(v[i][0]));
        n = p11kms_base64_decode(v[i][1], strlen(v[i][1]), dec);
        good &= n == (long)strlen(v[i][0]) && memcmp(dec, v[i][0], (size_t)n) == 0;
    }
    ok(good, "RFC 4648 vectors both ways");
}

static void test_base64_all_bytes(void)
{
    uint8_t raw[256], back[256];
    char enc[P11KMS_BASE64_LEN(256) + 1];
    size_t i, len;
    int good = 1;

    for (i = 0; i < 256; i++)
        raw[i] = (uint8_t)(255 - i);
    for (len = 0; len <= 256; len += 1 + len / 3) {
        p11kms_base64_encode(raw, len, enc);
        good &= p11kms_base64_decode(enc, strlen(enc), back) == (long)len &&
                memcmp(raw, back, len) == 0;
    }
    ok(good, "every byte value round-trips at many lengths");
    p11kms_base64_encode((const uint8_t *)"\xfb\xff\xbf", 3, enc);
    ok(strcmp(enc, "+/+/") == 0, "the last two digits are + and /");
}

static void test_base64_refusals(void)
{
    static const char *const bad[] = {
        "Zg=",       /* not a multiple of 4 */
        "Zh==",      /* non-zero bits under the padding */
        "Zm9=",      /* same, one '=' */
        "Z===",      /* too much padding */
        "Zg=a",      /* padding inside */
        "Zm9v Yg==", /* whitespace */
        "Zm9-",      /* the URL-safe alphabet */
        "Zm9_",      "Zm\x80v", "====",
    };
    uint8_t out[16];
    size_t i;
    int refused = 1;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused &= p11kms_base64_decode(bad[i], strlen(bad[i]), out) < 0;
    ok(refused, "malformed, non-canonical and other-alphabet base64 refused");
    ok(p11kms_base64_decode("Zm9v\0Zm9", 8, out) < 0, "an embedded NUL is refused");
}

static void test_hex(void)
{
    uint8_t out[8], raw[3] = {0x00, 0xab, 0xff};
    char enc[7];
    size_t n = 0;
    int i, digits = 1;

    p11kms_hex_encode(raw, 3, enc);
    ok(strcmp(enc, "00abff") == 0, "hex is lowercase");
    ok(p11kms_hex_decode("00ABff", out, sizeof(out), &n) == 0 && n == 3 && memcmp(out, raw, 3) == 0,
       "either case decodes");
    ok(p11kms_hex_decode("abc", out, sizeof(out), &n) != 0, "an odd number of digits");
    ok(p11kms_hex_decode("", out, sizeof(out), &n) != 0, "nothing");
    ok(p11kms_hex_decode("0g", out, sizeof(out), &n) != 0, "a non-digit");
    ok(p11kms_hex_decode("000000000000000000", out, sizeof(out), &n) != 0, "more than fits");
    for (i = 0; i < 256; i++) {
        int want = i >= '0' && i <= '9'   ? i - '0'
                   : i >= 'a' && i <= 'f' ? i - 'a' + 10
                   : i >= 'A' && i <= 'F' ? i - 'A' + 10
                                          : -1;
        digits &= p11kms_hex_digit((char)i) == want;
    }
    ok(digits, "p11kms_hex_digit on every byte value");
}

static void test_utf8(void)
{
    char b[4];

    ok(p11kms_utf8_encode(0x41, b) == 1 && b[0] == 'A', "U+0041 is one byte");
    ok(p11kms_utf8_encode(0xe9, b) == 2 && memcmp(b, "\xc3\xa9", 2) == 0, "U+00E9 two");
    ok(p11kms_utf8_encode(0x20ac, b) == 3 && memcmp(b, "\xe2\x82\xac", 3) == 0, "U+20AC three");
    ok(p11kms_utf8_encode(0x1f600, b) == 4 && memcmp(b, "\xf0\x9f\x98\x80", 4) == 0,
       "U+1F600 four");
}

int main(void)
{
    test_start();
    test_base64_vectors();
    test_base64_all_bytes();
    test_base64_refusals();
    test_hex();
    test_utf8();
    return test_exit_code();
}
