/* test-net-wire.c - unit tests of what every remote backend reads and writes: the JSON reader,
 * the request buffer and its encodings, ISO 8601 times, backoff with jitter and the retry quota,
 * the default retry classes, and the transport's helpers (host policy, response headers). */
#include <stdint.h>
#include "tests/test.h"
#include "module/codec.h"
#include "module/net/clock.h"
#include "module/net/http.h"
#include "module/net/json.h"
#include "module/net/retry.h"
#include "module/net/sbuf.h"
#include "module/secmem.h"

static int json_get_string(const char *doc, const char *name, char **out)
{
    p11kms_json root, v;

    *out = NULL;
    return p11kms_json_parse(doc, strlen(doc), &root) == 0 && p11kms_json_member(&root, name, &v) &&
           p11kms_json_string(&v, 4096, out) == 0;
}

static void test_json(void)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\":01}",
        "{\"a\":\"x}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":tru}",
        "{\"a\":1} x",
        "{\"a\":\"\x01\"}",
        "{'a':1}",
        "{\"a\":-}",
        "{\"a\":1.}",
        "{\"a\":1e}",
        NULL,
    };
    const char *doc =
        " {\"KeyId\": \"arn:x\", \"n\": -1.5e3, \"t\": true, \"f\": false,\n"
        "  \"z\": null, \"o\": {\"in\": [1, {\"k\": \"v\"}, \"s\"]},"
        " \"e\": \"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\", \"K\\u0065y\": \"esc\"} ";
    p11kms_json root, v, o, arr, el;
    char *s = NULL, num[32];
    int b = -1, i, deep_ok;
    char deep[200];

    for (i = 0; bad[i] != NULL; i++) {
        char what[64];

        snprintf(what, sizeof(what), "malformed JSON refused: '%s'", bad[i]);
        ok(p11kms_json_parse(bad[i], strlen(bad[i]), &root) != 0, what);
    }
    ok(p11kms_json_parse(doc, strlen(doc), &root) == 0, "a document with every JSON type");
    ok(p11kms_json_member(&root, "KeyId", &v) && p11kms_json_string(&v, 100, &s) == 0 &&
           strcmp(s, "arn:x") == 0,
       "string member");
    free(s);
    ok(!p11kms_json_member(&root, "in", &v), "nested members are not top-level members");
    ok(p11kms_json_member(&root, "t", &v) && p11kms_json_bool(&v, &b) == 0 && b == 1, "true");
    ok(p11kms_json_member(&root, "n", &v) && p11kms_json_number_text(&v, num, sizeof(num)) == 0 &&
           strcmp(num, "-1.5e3") == 0,
       "number text");
    ok(p11kms_json_member(&root, "z", &v) && p11kms_json_string(&v, 10, &s) != 0,
       "null is not a string");
    ok(p11kms_json_member(&root, "o", &o) && p11kms_json_member(&o, "in", &arr) &&
           p11kms_json_index(&arr, 1, &el) && p11kms_json_member(&el, "k", &v) &&
           p11kms_json_string(&v, 10, &s) == 0 && strcmp(s, "v") == 0,
       "nested object in an array");
    free(s);
    ok(!p11kms_json_index(&arr, 3, &el), "past the end of an array");
    ok(p11kms_json_member(&root, "e", &v) && p11kms_json_string(&v, 100, &s) == 0 &&
           strcmp(s, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80") == 0,
       "escapes, \\u and surrogate pairs decode to UTF-8");
    free(s);
    ok(p11kms_json_member(&root, "e", &v) && p11kms_json_string(&v, 5, &s) != 0,
       "a string longer than the limit is refused");
    ok(p11kms_json_member(&root, "Key", &v) && p11kms_json_string(&v, 10, &s) == 0 &&
           strcmp(s, "esc") == 0,
       "escaped member names match");
    free(s);
    ok(!json_get_string("{\"a\": \"\\ud800\"}", "a", &s), "a lone surrogate is refused");
    ok(!json_get_string("{\"a\": \"x\\u0000y\"}", "a", &s), "an escaped NUL is refused");

    memset(deep, '[', 100);
    strcpy(deep + 100, "]");
    deep[0] = '{';
    deep_ok = p11kms_json_parse(deep, strlen(deep), &root) != 0;
    ok(deep_ok, "nesting beyond the depth bound is refused");
}

static void test_writer_and_base64(void)
{
    p11kms_sbuf b;
    uint8_t raw[300], back[300];
    char *s = NULL;
    size_t i, n;
    long got;
    p11kms_json root, v;
    uint8_t *dec = NULL;

    p11kms_sbuf_init(&b, 0);
    p11kms_sbuf_str(&b, "{\"s\":");
    p11kms_sbuf_json_string(&b, "q\"b\\\x01\n\xc3\xa9", 8);
    p11kms_sbuf_str(&b, ",\"b\":\"");
    for (i = 0; i < sizeof(raw); i++)
        raw[i] = (uint8_t)(i * 7 + 3);
    p11kms_sbuf_base64(&b, raw, sizeof(raw));
    p11kms_sbuf_str(&b, "\"}");
    ok(!b.failed, "writer");
    ok(json_get_string(b.p, "s", &s) && strcmp(s, "q\"b\\\x01\n\xc3\xa9") == 0,
       "what the writer escapes the reader restores");
    free(s);
    ok(p11kms_json_parse(b.p, b.len, &root) == 0 && p11kms_json_member(&root, "b", &v) &&
           p11kms_json_base64(&v, 300, &dec, &n) == 0 && n == 300 && memcmp(dec, raw, 300) == 0,
       "base64 round trip of 300 bytes");
    p11kms_secure_free(dec, n);
    ok(p11kms_json_base64(&v, 299, &dec, &n) != 0, "base64 over the size limit is refused");
    p11kms_sbuf_wipe(&b);

    for (n = 0; n <= 5; n++) {
        p11kms_sbuf_init(&b, 0);
        p11kms_sbuf_base64(&b, (const uint8_t *)"hello", n);
        got = p11kms_base64_decode(b.p ? b.p : "", b.len, back);
        ok(got == (long)n && memcmp(back, "hello", n) == 0, "base64 of 0..5 bytes");
        p11kms_sbuf_wipe(&b);
    }
    ok(p11kms_base64_decode("aGVsbG8", 7, back) < 0, "unpadded base64 is refused");
    ok(p11kms_base64_decode("aGVsbG9=", 8, back) < 0, "non-canonical final bits refused");
    ok(p11kms_base64_decode("aG=sbG8=", 8, back) < 0, "padding inside is refused");
    ok(p11kms_base64_decode("aGVs bG8", 8, back) < 0, "whitespace is refused");
    ok(p11kms_base64_decode("aGVsbA==", 8, back) == 4, "two padding characters");

    p11kms_sbuf_init(&b, 10);
    p11kms_sbuf_str(&b, "0123456789");
    ok(!b.failed, "a bounded buffer takes up to its bound");
    p11kms_sbuf_char(&b, 'x');
    ok(b.failed, "and fails past it");
    p11kms_sbuf_wipe(&b);

    p11kms_sbuf_init(&b, 0);
    p11kms_sbuf_form(&b, "arn:aws:iam::1:role/a b+c~");
    ok(strcmp(b.p, "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~") == 0, "form encoding");
    p11kms_sbuf_wipe(&b);
}

static void test_time(void)
{
    time_t t;

    ok(p11kms_net_parse_time("2026-11-23T12:39:45Z", &t) == 0 && t == 1795437585, "ISO 8601 UTC");
    ok(p11kms_net_parse_time("2026-11-23T12:39:45.123Z", &t) == 0 && t == 1795437585,
       "with a fraction");
    ok(p11kms_net_parse_time("2026-11-23T13:39:45+01:00", &t) == 0 && t == 1795437585,
       "with an offset");
    ok(p11kms_net_parse_time("2026-11-23 12:39:45Z", &t) == 0, "a space for T");
    ok(p11kms_net_parse_time("2026-13-23T12:39:45Z", &t) != 0, "month 13 refused");
    ok(p11kms_net_parse_time("2026-11-23T12:39:45", &t) != 0, "no zone refused");
    ok(p11kms_net_parse_time("1795437585", &t) != 0, "epoch seconds refused");
}

static void test_backoff_and_quota(void)
{
    p11kms_net_quota q;
    int i, cost;
    unsigned long d;

    is_num(p11kms_net_backoff_ms(&p11kms_net_backoff_standard, P11KMS_NET_RETRY_TRANSIENT, 1, 0.0),
           0, "backoff: rand 0");
    d = p11kms_net_backoff_ms(&p11kms_net_backoff_standard, P11KMS_NET_RETRY_TRANSIENT, 1, 0.999);
    ok(d >= 49 && d < 50, "transient: up to 50 ms on the first retry");
    d = p11kms_net_backoff_ms(&p11kms_net_backoff_standard, P11KMS_NET_RETRY_TRANSIENT, 3, 0.999);
    ok(d >= 199 && d < 200, "doubling: up to 200 ms on the third");
    d = p11kms_net_backoff_ms(&p11kms_net_backoff_standard, P11KMS_NET_RETRY_THROTTLE, 1, 0.999);
    ok(d >= 999 && d < 1000, "throttling: up to 1 s on the first retry");
    d = p11kms_net_backoff_ms(&p11kms_net_backoff_standard, P11KMS_NET_RETRY_THROTTLE, 30, 0.999);
    ok(d >= 19979 && d < 20000, "capped at 20 s");
    for (i = 0; i < 100; i++) {
        double r = p11kms_net_rand01();
        if (r < 0 || r >= 1)
            break;
    }
    is_num(i, 100, "jitter in [0, 1)");

    p11kms_net_quota_init(&q);
    for (i = 0; i < 50; i++)
        if (p11kms_net_quota_acquire(&q, 1) != 10)
            break;
    is_num(i, 50, "the quota holds 50 timeout retries");
    is_num(p11kms_net_quota_acquire(&q, 0), 0, "then no retry at all");
    p11kms_net_quota_success(&q, 0);
    is_num(p11kms_net_quota_acquire(&q, 0), 0, "a first-time success returns 1 token");
    for (i = 0; i < 4; i++)
        p11kms_net_quota_success(&q, 0);
    cost = p11kms_net_quota_acquire(&q, 0);
    is_num(cost, 5, "five successes pay for a retry");
    p11kms_net_quota_success(&q, cost);
    is_num(p11kms_net_quota_acquire(&q, 0), 5, "a retry that succeeded gives its cost back");
    p11kms_net_quota_destroy(&q);
}

static void test_retry_default(void)
{
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 200), P11KMS_NET_NO_RETRY, "200 is final");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 400), P11KMS_NET_NO_RETRY, "400 is final");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 403), P11KMS_NET_NO_RETRY, "403 is final");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 429), P11KMS_NET_RETRY_THROTTLE,
           "429 throttles");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 500), P11KMS_NET_RETRY_TRANSIENT,
           "500 is transient");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 503), P11KMS_NET_RETRY_TRANSIENT,
           "503 is transient");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_OK, 501), P11KMS_NET_NO_RETRY, "501 is final");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_E_CONNECT, 0), P11KMS_NET_RETRY_TRANSIENT,
           "connection failures are transient");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_E_TIMEOUT, 0), P11KMS_NET_RETRY_TRANSIENT,
           "timeouts are transient");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_E_TLS, 0), P11KMS_NET_NO_RETRY,
           "TLS failures are final");
    is_num(p11kms_net_retry_default(P11KMS_HTTP_E_TOO_LARGE, 0), P11KMS_NET_NO_RETRY,
           "an oversized answer is final");
}

/* Lifetimes and lease durations (Vault lease_duration, OAuth expires_in) as whole numbers. */
static void test_json_uint(void)
{
    const char *doc = "{\"a\": 3600, \"z\": 0, \"neg\": -1, \"f\": 1.5, \"e\": 1e3, "
                      "\"lead\": 01, \"big\": 18446744073709551615, "
                      "\"over\": 18446744073709551616, \"s\": \"60\"}";
    p11kms_json root, v;
    uint64_t n = 7;

    if (!ok(p11kms_json_parse(doc, strlen(doc), &root) != 0, "a leading zero is not JSON"))
        return;
    doc = "{\"a\": 3600, \"z\": 0, \"neg\": -1, \"f\": 1.5, \"e\": 1e3, "
          "\"big\": 18446744073709551615, \"over\": 18446744073709551616, \"s\": \"60\"}";
    ok(p11kms_json_parse(doc, strlen(doc), &root) == 0, "parses");
    ok(p11kms_json_member(&root, "a", &v) && p11kms_json_uint(&v, 86400, &n) == 0 && n == 3600,
       "a whole number");
    ok(p11kms_json_member(&root, "z", &v) && p11kms_json_uint(&v, 10, &n) == 0 && n == 0, "zero");
    ok(p11kms_json_member(&root, "a", &v) && p11kms_json_uint(&v, 3599, &n) != 0,
       "over the caller's bound");
    ok(p11kms_json_member(&root, "neg", &v) && p11kms_json_uint(&v, 10, &n) != 0, "negative");
    ok(p11kms_json_member(&root, "f", &v) && p11kms_json_uint(&v, 10, &n) != 0, "fraction");
    ok(p11kms_json_member(&root, "e", &v) && p11kms_json_uint(&v, 10000, &n) != 0, "exponent");
    ok(p11kms_json_member(&root, "big", &v) && p11kms_json_uint(&v, UINT64_MAX, &n) == 0 &&
           n == UINT64_MAX,
       "the largest 64-bit value");
    ok(p11kms_json_member(&root, "over", &v) && p11kms_json_uint(&v, UINT64_MAX, &n) != 0,
       "one more overflows and is refused");
    ok(p11kms_json_member(&root, "s", &v) && p11kms_json_uint(&v, 100, &n) != 0,
       "a string is not a number");
}

static void test_http_helpers(void)
{
    p11kms_http_response r;
    char v[64];

    ok(p11kms_http_plain_host_allowed("127.0.0.1", 0), "127.0.0.1 is loopback");
    ok(p11kms_http_plain_host_allowed("127.9.8.7", 0), "127/8 is loopback");
    ok(p11kms_http_plain_host_allowed("[::1]", 0), "[::1] is loopback");
    ok(p11kms_http_plain_host_allowed("bucket.localhost", 0),
       "a name under .localhost is loopback");
    ok(!p11kms_http_plain_host_allowed("localhost.example.com", 0) &&
           !p11kms_http_plain_host_allowed("xlocalhost", 0) &&
           !p11kms_http_plain_host_allowed(".localhost", 0),
       "names that only contain localhost are not");
    ok(p11kms_http_plain_host_allowed("LOCALHOST", 0), "localhost");
    ok(!p11kms_http_plain_host_allowed("10.0.0.1", 0), "10.0.0.1 is not");
    ok(!p11kms_http_plain_host_allowed("kms.example.com", 0), "names are not");
    ok(!p11kms_http_plain_host_allowed("169.254.169.254", 0), "IMDS needs the metadata policy");
    ok(p11kms_http_plain_host_allowed("169.254.169.254", 1), "IMDS with it");
    ok(p11kms_http_plain_host_allowed("[fd00:ec2:0::23]", 1), "EKS agent (IPv6, any spelling)");
    ok(!p11kms_http_plain_host_allowed("169.254.1.1", 1), "other link-local addresses are not");

    memset(&r, 0, sizeof(r));
    r.headers = strdup("HTTP/1.1 200 OK\r\nX-Amzn-RequestId:  abc-1 \r\nContent-Length: 0\r\n\r\n");
    r.headers_len = strlen(r.headers);
    ok(p11kms_http_response_header(&r, "x-amzn-requestid", v, sizeof(v)) && strcmp(v, "abc-1") == 0,
       "response headers: case-insensitive, trimmed");
    ok(!p11kms_http_response_header(&r, "x-amzn-request", v, sizeof(v)), "no prefix matches");
    ok(!p11kms_http_response_header(&r, "x-amzn-requestid", v, 3), "too long for the buffer");
    p11kms_http_response_clear(&r);
}

int main(void)
{
    test_start();
    test_json();
    test_writer_and_base64();
    test_time();
    test_backoff_and_quota();
    test_retry_default();
    test_json_uint();
    test_http_helpers();
    return test_exit_code();
}
