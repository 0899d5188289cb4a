/* test-aws-wire.c - unit tests of the aws backend's parsers and rules: STS XML, the INI reader,
 * key references, error codes, retry classes and the CK_RV mapping, credential answers; then a
 * seeded mutation run over every parser an AWS answer reaches (the shared JSON reader, base64
 * and times with them). The shared ones alone: tests/net/test-net-wire.c. */
#include <stdint.h>
#include "tests/test.h"
#include "module/backends/aws/aws-client.h"
#include "module/backends/aws/aws-creds.h"
#include "module/backends/aws/aws-ini.h"
#include "module/backends/aws/aws-retry.h"
#include "module/backends/aws/aws-xml.h"
#include "module/codec.h"
#include "module/net/clock.h"
#include "module/net/http.h"
#include "module/net/json.h"
#include "module/secmem.h"

static void test_xml(void)
{
    const char *x = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s&amp;"
                    "&lt;&gt;&quot;&apos;&#65;&#x42;</SecretAccessKey></Credentials></R>";
    char *s = NULL;

    ok(p11kms_aws_xml_text(x, strlen(x), "AccessKeyId", 64, &s) == 0 && strcmp(s, "ASIA1") == 0,
       "XML element text");
    free(s);
    ok(p11kms_aws_xml_text(x, strlen(x), "SecretAccessKey", 64, &s) == 0 &&
           strcmp(s, "s&<>\"'AB") == 0,
       "XML entities and character references");
    free(s);
    ok(p11kms_aws_xml_text(x, strlen(x), "Missing", 64, &s) != 0, "absent element");
    ok(p11kms_aws_xml_text("<a>&bogus;</a>", 14, "a", 64, &s) != 0, "unknown entity refused");
    ok(p11kms_aws_xml_text("<a>x<b/></a>", 12, "a", 64, &s) != 0, "markup inside refused");
    ok(p11kms_aws_xml_text("<a>abc", 6, "a", 64, &s) != 0, "unterminated element refused");
}

static void test_ini(void)
{
    const char *text = "# comment\n; other\n[default]\naws_access_key_id = AKID1\n"
                       "AWS_Secret_Access_Key=secret one \r\n"
                       "[profile   dev]\nregion: eu-west-1\ns3 =\n  max_concurrent_requests = 5\n"
                       "\n[default]\naws_session_token = tok\naws_access_key_id = AKID2\n"
                       "orphan line\n= novalue\n";
    p11kms_aws_ini *ini = NULL;
    char big[64];

    is_rv(p11kms_aws_ini_parse(text, strlen(text), &ini), CKR_OK, "INI parses");
    ok(strcmp(p11kms_aws_ini_get(ini, "default", "aws_access_key_id"), "AKID2") == 0,
       "a repeated section merges, the later value wins");
    ok(strcmp(p11kms_aws_ini_get(ini, "default", "aws_secret_access_key"), "secret one") == 0,
       "keys are lowercased, values trimmed (CRLF too)");
    ok(strcmp(p11kms_aws_ini_get(ini, "profile dev", "region"), "eu-west-1") == 0,
       "':' separates too; section whitespace collapsed");
    ok(strcmp(p11kms_aws_ini_get(ini, "profile dev", "s3"), "\nmax_concurrent_requests = 5") == 0,
       "indented lines continue a value");
    ok(p11kms_aws_ini_get(ini, "profile dev", "max_concurrent_requests") == NULL,
       "a continuation is not a key");
    ok(p11kms_aws_ini_has_section(ini, "profile dev") && !p11kms_aws_ini_has_section(ini, "dev"),
       "sections");
    p11kms_aws_ini_free(ini);
    is_rv(p11kms_aws_ini_parse("k=v\n[s]\n", 8, &ini), CKR_OK, "entries before a section");
    ok(p11kms_aws_ini_get(ini, "", "k") == NULL, "are ignored");
    p11kms_aws_ini_free(ini);
    is_rv(p11kms_aws_ini_parse("", 0, &ini), CKR_OK, "empty text");
    p11kms_aws_ini_free(ini);
    is_rv(p11kms_aws_ini_parse(big, P11KMS_AWS_INI_MAX_BYTES + 1, &ini), CKR_ARGUMENTS_BAD,
          "oversized input refused before reading it");
}

/* Regression: each continuation line copied the whole value so far (a 1 MiB file of them took
 * 20 s). A value now grows in place up to P11KMS_AWS_INI_MAX_VALUE; past that the file is
 * refused. */
static void test_ini_continuations(void)
{
    const char *head = "[default]\nk=v\n";
    size_t n, lines, cap = P11KMS_AWS_INI_MAX_BYTES;
    char *text = malloc(cap);
    p11kms_aws_ini *ini = NULL;
    const char *v;

    if (!ok(text != NULL, "memory for a 1 MiB file"))
        return;
    /* just under the bound: "v" then lines * "\nx" */
    lines = (P11KMS_AWS_INI_MAX_VALUE - 1) / 2;
    n = strlen(head);
    memcpy(text, head, n);
    for (; n + 3 <= cap && lines-- > 0; n += 3)
        memcpy(text + n, " x\n", 3);
    is_rv(p11kms_aws_ini_parse(text, n, &ini), CKR_OK, "a value of many continuation lines");
    v = p11kms_aws_ini_get(ini, "default", "k");
    is_num(v ? strlen(v) : 0, 1 + (P11KMS_AWS_INI_MAX_VALUE - 1) / 2 * 2,
           "keeps every line, up to the value bound");
    ok(v != NULL && strncmp(v, "v\nx\nx\n", 6) == 0 && strcmp(v + strlen(v) - 2, "\nx") == 0,
       "joined with newlines, each line trimmed");
    p11kms_aws_ini_free(ini);
    ini = NULL;

    /* the fuzzer's input: continuation lines to the file bound */
    for (; n + 3 <= cap; n += 3)
        memcpy(text + n, " x\n", 3);
    is_rv(p11kms_aws_ini_parse(text, n, &ini), CKR_ARGUMENTS_BAD,
          "a 1 MiB file of continuation lines is refused (value over 64 KiB)");
    ok(ini == NULL, "with nothing returned");
    free(text);
}

static void test_keyref(void)
{
    p11kms_aws_keyref r;

    ok(p11kms_aws_keyref_parse("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab", &r) == 0 &&
           r.kind == P11KMS_AWS_KEY_ARN && strcmp(r.region, "us-east-1") == 0 &&
           strcmp(r.account, "111122223333") == 0 && strcmp(r.id, "1234abcd-12ab") == 0,
       "key ARN");
    ok(p11kms_aws_keyref_parse("arn:aws-cn:kms:cn-north-1:1:alias/a/b_c-d", &r) == 0 &&
           r.kind == P11KMS_AWS_ALIAS_ARN && strcmp(r.partition, "aws-cn") == 0 &&
           strcmp(r.id, "a/b_c-d") == 0,
       "alias ARN");
    ok(p11kms_aws_keyref_parse("mrk-1234abcd", &r) == 0 && r.kind == P11KMS_AWS_KEY_ID, "key id");
    ok(p11kms_aws_keyref_parse("alias/p11kms-test", &r) == 0 && r.kind == P11KMS_AWS_ALIAS_NAME,
       "alias name");
    ok(p11kms_aws_keyref_parse("arn:aws:s3:us-east-1:1:key/x", &r) != 0, "another service");
    ok(p11kms_aws_keyref_parse("arn:aws:kms:us-east-1:1:grant/x", &r) != 0, "another resource");
    ok(p11kms_aws_keyref_parse("arn:aws:kms:us-east-1:12a:key/x", &r) != 0, "account digits");
    ok(p11kms_aws_keyref_parse("alias/", &r) != 0, "empty alias");
    ok(p11kms_aws_keyref_parse("key id with spaces", &r) != 0, "spaces");
    ok(p11kms_aws_keyref_parse("", &r) != 0, "empty");
}

static void test_errors_and_retries(void)
{
    char code[P11KMS_NET_CODE_MAX], msg[P11KMS_NET_MESSAGE_MAX];
    const char *b1 = "{\"__type\": \"com.amazonaws.kms#NotFoundException:http://x\", "
                     "\"Message\": \"no\\nsuch key\"}";

    p11kms_aws_error_parse(b1, strlen(b1), 400, code, sizeof(code), msg, sizeof(msg));
    ok(strcmp(code, "NotFoundException") == 0, "__type prefix and suffix stripped");
    ok(strcmp(msg, "no?such key") == 0, "Message read, control bytes neutralised");
    p11kms_aws_error_parse("<html>", 6, 502, code, sizeof(code), msg, sizeof(msg));
    ok(strcmp(code, "HTTP 502") == 0 && msg[0] == 0, "no JSON: the status names the error");

    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 400, "ThrottlingException"),
           P11KMS_NET_RETRY_THROTTLE, "ThrottlingException throttles");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 400, "LimitExceededException"),
           P11KMS_NET_RETRY_THROTTLE, "LimitExceededException throttles");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 429, "HTTP 429"), P11KMS_NET_RETRY_THROTTLE,
           "429 throttles");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 503, "HTTP 503"), P11KMS_NET_RETRY_TRANSIENT,
           "503 is transient");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 500, "KMSInternalException"),
           P11KMS_NET_RETRY_TRANSIENT, "KMSInternalException (500) is transient");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 501, "HTTP 501"), P11KMS_NET_NO_RETRY,
           "501 is final");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_E_CONNECT, 0, NULL), P11KMS_NET_RETRY_TRANSIENT,
           "connection failures are transient");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_E_TIMEOUT, 0, NULL), P11KMS_NET_RETRY_TRANSIENT,
           "timeouts are transient");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_E_TLS, 0, NULL), P11KMS_NET_NO_RETRY,
           "TLS failures are final");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 400, "InvalidCiphertextException"),
           P11KMS_NET_NO_RETRY, "InvalidCiphertextException is final");
    is_num(p11kms_aws_retry_kind(P11KMS_HTTP_OK, 400, "AccessDeniedException"), P11KMS_NET_NO_RETRY,
           "AccessDeniedException is final");

    is_rv(p11kms_aws_error_rv("InvalidCiphertextException", 400), CKR_ENCRYPTED_DATA_INVALID,
          "InvalidCiphertext -> CKR_ENCRYPTED_DATA_INVALID (WRAPPED_KEY_INVALID on unwrap)");
    is_rv(p11kms_aws_error_rv("IncorrectKeyException", 400), CKR_ENCRYPTED_DATA_INVALID,
          "IncorrectKey -> CKR_ENCRYPTED_DATA_INVALID");
    is_rv(p11kms_aws_error_rv("AccessDeniedException", 400), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "AccessDenied -> CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_rv(p11kms_aws_error_rv("DisabledException", 400), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "Disabled -> CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_rv(p11kms_aws_error_rv("KMSInvalidStateException", 400), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "pending deletion -> CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_rv(p11kms_aws_error_rv("InvalidClientTokenId", 403), CKR_DEVICE_ERROR,
          "rejected credentials -> CKR_DEVICE_ERROR, even on 403");
    is_rv(p11kms_aws_error_rv("HTTP 403", 403), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an unnamed 403 -> CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_rv(p11kms_aws_error_rv("ThrottlingException", 400), CKR_DEVICE_ERROR,
          "throttling that outlived its retries -> CKR_DEVICE_ERROR");
    ok(p11kms_aws_error_is_auth("ExpiredTokenException") &&
           !p11kms_aws_error_is_auth("AccessDeniedException"),
       "credential errors are told apart from permission errors");
}

static void test_credential_answers(void)
{
    const char *imds = "{\"Code\": \"Success\", \"LastUpdated\": \"2026-11-23T12:00:00Z\", "
                       "\"Type\": \"AWS-HMAC\", \"AccessKeyId\": \"ASIA1\", "
                       "\"SecretAccessKey\": \"s/1+\", \"Token\": \"t==\", "
                       "\"Expiration\": \"2026-11-23T13:00:00Z\"}";
    const char *sts = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                      "<Credentials><SessionToken>tok&amp;en</SessionToken>"
                      "<SecretAccessKey>sec</SecretAccessKey>"
                      "<Expiration>2026-11-23T13:00:00Z</Expiration>"
                      "<AccessKeyId>ASIA2</AccessKeyId></Credentials>"
                      "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    p11kms_cred c;

    is_rv(p11kms_aws_creds_parse_json(imds, strlen(imds), "IMDS", &c), CKR_OK, "IMDS answer");
    ok(strcmp(c.id, "ASIA1") == 0 && strcmp(c.secret, "s/1+") == 0 && strcmp(c.token, "t==") == 0 &&
           c.expires == 1795438800,
       "its fields");
    p11kms_cred_clear(&c);
    is_rv(p11kms_aws_creds_parse_json("{\"Code\": \"Failure\", \"AccessKeyId\": \"a\", "
                                      "\"SecretAccessKey\": \"b\"}",
                                      64, "IMDS", &c),
          CKR_DEVICE_ERROR, "an IMDS Code other than Success is refused");
    is_rv(p11kms_aws_creds_parse_json("{\"AccessKeyId\": \"a\"}", 21, "x", &c), CKR_DEVICE_ERROR,
          "no secret: refused");
    is_rv(p11kms_aws_creds_parse_json("{\"AccessKeyId\": \"a\\nb\", \"SecretAccessKey\": \"b\"}",
                                      49, "x", &c),
          CKR_DEVICE_ERROR, "a control character in a key is refused (header injection)");
    is_rv(p11kms_aws_creds_parse_sts(sts, strlen(sts), &c), CKR_OK, "STS answer");
    ok(strcmp(c.id, "ASIA2") == 0 && strcmp(c.token, "tok&en") == 0,
       "its fields, entities decoded");
    p11kms_cred_clear(&c);
    is_rv(p11kms_aws_creds_parse_sts("<ErrorResponse/>", 16, &c), CKR_DEVICE_ERROR,
          "an STS error document is not credentials");
}

/* A seeded mutation run: every parser gets thousands of damaged inputs; under the sanitizer
 * build any out-of-bounds read or leak fails the test. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static int fuzz_json_ok, fuzz_json_bad;
static long fuzz_b64_longest;

static void fuzz_one(const char *seed, size_t n)
{
    char buf[1024];
    size_t len = n < sizeof(buf) ? n : sizeof(buf) - 1, i, edits = 1 + next_rand() % 4;
    p11kms_json root, v;
    p11kms_cred c;
    p11kms_aws_ini *ini = NULL;
    char *s = NULL, code[96], msg[128];
    uint8_t bin[sizeof(buf) / 4 * 3]; /* the most base64 decodes to from buf */
    uint8_t *d = NULL;
    long got;
    size_t dl = 0;
    time_t t;

    memcpy(buf, seed, len);
    for (i = 0; i < edits && len > 0; i++) {
        size_t at = next_rand() % len;

        switch (next_rand() % 3) {
        case 0:
            buf[at] = (char)next_rand();
            break;
        case 1:
            len = at;
            break;
        default:
            if (len + 1 < sizeof(buf)) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = "{}[]\",:\\u0<>&;#=\n "[next_rand() % 19];
                len++;
            }
        }
    }
    buf[len] = 0;
    if (p11kms_json_parse(buf, len, &root) != 0) {
        fuzz_json_bad++;
    } else {
        fuzz_json_ok++;
        if (p11kms_json_member(&root, "KeyId", &v) && p11kms_json_string(&v, 512, &s) == 0)
            free(s);
        if (p11kms_json_member(&root, "Plaintext", &v) && p11kms_json_base64(&v, 512, &d, &dl) == 0)
            p11kms_secure_free(d, dl);
        if (p11kms_json_member(&root, "a", &v) && p11kms_json_index(&v, 1, &v))
            p11kms_json_bool(&v, (int *)&dl);
    }
    p11kms_aws_error_parse(buf, len, 400, code, sizeof(code), msg, sizeof(msg));
    if (p11kms_aws_creds_parse_json(buf, len, "fuzz", &c) == CKR_OK)
        p11kms_cred_clear(&c);
    if (p11kms_aws_creds_parse_sts(buf, len, &c) == CKR_OK)
        p11kms_cred_clear(&c);
    if (p11kms_aws_xml_text(buf, len, "a", 512, &s) == 0)
        free(s);
    if (p11kms_aws_ini_parse(buf, len, &ini) == CKR_OK) {
        p11kms_aws_ini_get(ini, "default", "region");
        p11kms_aws_ini_free(ini);
    }
    p11kms_net_parse_time(buf, &t);
    got = p11kms_base64_decode(buf, len & ~(size_t)3, bin);
    if (got > fuzz_b64_longest)
        fuzz_b64_longest = got;
}

static void test_mutations(void)
{
    char b64[1021];
    const char *const seeds[] = {
        "{\"KeyId\": \"arn:aws:kms:us-east-1:1:key/x\", \"Plaintext\": \"aGVsbG8=\", "
        "\"a\": [true, false]}",
        "{\"__type\": \"x#ThrottlingException:y\", \"message\": \"m\\u00e9\\ud83d\\ude00\"}",
        "{\"Code\": \"Success\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"S\", "
        "\"Token\": \"T\", \"Expiration\": \"2026-11-23T13:00:00Z\"}",
        "<R><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>&amp;&#65;</SecretAccessKey>"
        "<SessionToken>T</SessionToken><Expiration>2026-11-23T13:00:00Z</Expiration>"
        "</Credentials><a>x</a></R>",
        "[default]\nregion = us-east-1\n  cont\n[profile x]\nk: v\n# c\n",
        "2026-11-23T13:00:00.5+01:00",
        b64,
    };
    size_t i;
    int round;

    /* the longest base64 the mutator's buffer holds: 1020 characters, 765 bytes */
    for (i = 0; i + 4 < sizeof(b64); i += 4)
        memcpy(b64 + i, "QUJD", 4);
    b64[i] = 0;
    for (round = 0; round < 3000; round++)
        for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
            fuzz_one(seeds[i], strlen(seeds[i]));
    diag("mutated JSON: %d parsed, %d refused", fuzz_json_ok, fuzz_json_bad);
    ok(fuzz_json_ok > 100 && fuzz_json_bad > 100,
       "21,000 mutated inputs through every parser, both accepted and refused ones");
    /* regression: the decode went into a 96-byte array and overflowed it */
    diag("longest base64 decode: %ld bytes", fuzz_b64_longest);
    ok(fuzz_b64_longest > 96 && fuzz_b64_longest <= 765,
       "base64 of up to 1020 characters decodes into a buffer sized for it");
}

int main(void)
{
    test_start();
    test_xml();
    test_ini();
    test_ini_continuations();
    test_keyref();
    test_errors_and_retries();
    test_credential_answers();
    test_mutations();
    return test_exit_code();
}
