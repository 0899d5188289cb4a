/* test-vault-wire.c - unit tests of the vault backend's answers and rules, without a server:
 * Vault's error texts to codes and CK_RVs, the retry classes of Vault's Go client, the
 * vault:vN: ciphertext form, transit answers (version agreement, plaintext, warnings), login
 * answers (lease, renewal point, capped TTL), sys/health versions, and names and paths. */
#include "tests/test.h"
#include "module/backends/vault/vault-client.h"
#include "module/net/http.h"
#include "module/net/json.h"
#include "module/net/retry.h"
#include "module/secmem.h"

/* The code and CK_RV of an error answer. */
static CK_RV rv_of(long status, const char *body, char *code, size_t code_len)
{
    char msg[256];

    p11kms_vault_error_parse(body, strlen(body), status, code, code_len, msg, sizeof(msg));
    return p11kms_vault_error_rv(code, status);
}

static void test_errors(void)
{
    char code[64], msg[256];

    is_rv(rv_of(400, "{\"errors\":[\"cipher: message authentication failed\"]}\n", code, 64),
          CKR_ENCRYPTED_DATA_INVALID, "wrong context or tampered: ENCRYPTED_DATA_INVALID");
    is_rv(rv_of(400, "{\"errors\":[\"invalid ciphertext: no prefix\"]}", code, 64),
          CKR_ENCRYPTED_DATA_INVALID, "a ciphertext that is not Vault's");
    is_rv(rv_of(400,
                "{\"errors\":[\"ciphertext or signature version is disallowed by policy (too "
                "old)\"]}",
                code, 64),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "below min_decryption_version: KEY_FUNCTION_NOT_PERMITTED");
    ok(strcmp(code, P11KMS_VAULT_E_TOO_OLD) == 0, "named as such in the log line");
    is_rv(
        rv_of(403, "{\"errors\":[\"1 error occurred:\\n\\t* permission denied\\n\\n\"]}", code, 64),
        CKR_KEY_FUNCTION_NOT_PERMITTED, "403 permission denied: KEY_FUNCTION_NOT_PERMITTED");
    is_rv(rv_of(403,
                "{\"errors\":[\"2 errors occurred:\\n\\t* permission denied\\n\\t* invalid "
                "token\\n\\n\"]}",
                code, 64),
          CKR_DEVICE_ERROR, "403 invalid token: no usable token, DEVICE_ERROR");
    ok(strcmp(code, P11KMS_VAULT_E_INVALID_TOKEN) == 0,
       "code: invalid token (the loop re-logs in)");
    is_rv(rv_of(503, "{\"errors\":[\"Vault is sealed\"]}", code, 64), CKR_DEVICE_ERROR,
          "sealed: DEVICE_ERROR");
    ok(strcmp(code, P11KMS_VAULT_E_SEALED) == 0, "code: sealed");
    is_rv(rv_of(404, "{\"errors\":[]}", code, 64), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "404 with no errors (a missing key): KEY_FUNCTION_NOT_PERMITTED");
    is_rv(rv_of(400, "{\"errors\":[\"encryption key not found\"]}", code, 64),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "encryption key not found");
    is_rv(rv_of(400, "{\"errors\":[\"missing 'context' for key derivation; ...\"]}", code, 64),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "a derived key without context");
    is_rv(rv_of(404,
                "{\"errors\":[\"no handler for route \\\"x/encrypt/k\\\". route entry not "
                "found.\"]}",
                code, 64),
          CKR_DEVICE_ERROR, "no such mount: DEVICE_ERROR (a configuration problem)");
    ok(strcmp(code, P11KMS_VAULT_E_NO_ROUTE) == 0, "code: no such mount");
    is_rv(rv_of(500, "<html>proxy error</html>", code, 64), CKR_DEVICE_ERROR,
          "a body that is not Vault's: DEVICE_ERROR");
    ok(strcmp(code, "HTTP 500") == 0, "code: the status");
    {
        const char *many = "{\"errors\":[\"a\\u0001b\\n\\n\\tc\",\"d\",\"e\",\"f\",\"g\"]}";
        const char *long_one = "{\"errors\":[\"0123456789012345678901234567890\"]}";

        p11kms_vault_error_parse(many, strlen(many), 400, code, sizeof(code), msg, sizeof(msg));
        ok(strcmp(msg, "a?b c; d; e; f") == 0,
           "errors joined, whitespace collapsed, controls replaced, at most 4");
        p11kms_vault_error_parse(long_one, strlen(long_one), 400, code, 8, msg, 12);
    }
    ok(strlen(code) < 8 && strlen(msg) < 12, "bounded by the buffers");
}

static void test_retry(void)
{
    static const long retried[] = {412, 429, 500, 502, 503, 504};
    static const long final[] = {400, 403, 404, 405, 501};
    size_t i;
    int all = 1;

    for (i = 0; i < sizeof(retried) / sizeof(retried[0]); i++)
        all &= p11kms_vault_retry_kind(P11KMS_HTTP_OK, retried[i]) != P11KMS_NET_NO_RETRY;
    ok(all, "412, 429 and 5xx but 501 are retried (Vault's Go client)");
    all = 1;
    for (i = 0; i < sizeof(final) / sizeof(final[0]); i++)
        all &= p11kms_vault_retry_kind(P11KMS_HTTP_OK, final[i]) == P11KMS_NET_NO_RETRY;
    ok(all, "4xx and 501 are final");
    ok(p11kms_vault_retry_kind(P11KMS_HTTP_OK, 429) == P11KMS_NET_RETRY_THROTTLE,
       "429 is throttling");
    ok(p11kms_vault_retry_kind(P11KMS_HTTP_E_CONNECT, 0) != P11KMS_NET_NO_RETRY &&
           p11kms_vault_retry_kind(P11KMS_HTTP_E_TIMEOUT, 0) != P11KMS_NET_NO_RETRY,
       "connection failures and timeouts are retried");
}

static void test_ciphertexts(void)
{
    static const char *const bad[] = {
        "vault:v:AAAA",          "vault:v1",       "vault:v1:",   "vault:1:AAAA",
        "vault:v12345678901:AA", "vault:v1:AA\"A", "Vault:v1:AA", "vault:v4294967296:AA"};
    const char *good = "vault:v42:AbC+/==";
    p11kms_json root;
    uint8_t *ct = NULL, *pt = NULL;
    size_t ct_len = 0, pt_len = 0, i;
    uint32_t v = 0;
    const char *why = NULL, *a;
    int all = 1;

    ok(p11kms_vault_ct_version((const uint8_t *)good, strlen(good), &v) == 0 && v == 42,
       "vault:v42:... is version 42");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        all &= p11kms_vault_ct_version((const uint8_t *)bad[i], strlen(bad[i]), &v) != 0;
    ok(all, "malformed forms, quotes and versions past 32 bits are refused");

    a = "{\"request_id\":\"r-1\",\"data\":{\"ciphertext\":\"vault:v3:AAAA\",\"key_version\":3},"
        "\"warnings\":null}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_ciphertext(&root, &ct, &ct_len, &v, &why) == 0 && v == 3 &&
           ct_len == 13 && memcmp(ct, "vault:v3:AAAA", 13) == 0,
       "an encrypt answer: ciphertext and version");
    free(ct);
    ct = NULL;
    a = "{\"data\":{\"ciphertext\":\"vault:v3:AAAA\",\"key_version\":2}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_ciphertext(&root, &ct, &ct_len, &v, &why) != 0 && why != NULL &&
           ct == NULL,
       "key_version that disagrees with the prefix is refused");
    a = "{\"data\":{\"ciphertext\":\"vault:v5:AAAA\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_ciphertext(&root, &ct, &ct_len, &v, &why) == 0 && v == 5,
       "no key_version (Vault before 1.5): the prefix's");
    free(ct);
    ct = NULL;
    a = "{\"data\":{\"plaintext\":\"ZGF0YQ==\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_plaintext(&root, 4096, &pt, &pt_len) == 0 && pt_len == 4 &&
           memcmp(pt, "data", 4) == 0,
       "a decrypt answer's plaintext");
    p11kms_secure_free(pt, pt_len);
    pt = NULL;
    a = "{\"data\":{\"plaintext\":\"\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_plaintext(&root, 4096, &pt, &pt_len) != 0,
       "an empty plaintext is refused (data keys are never empty)");
    a = "{\"data\":{\"plaintext\":\"ZGF0YQ==\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_plaintext(&root, 3, &pt, &pt_len) != 0,
       "a plaintext over the bound is refused");
    a = "{\"data\":{},\"warnings\":[\"Endpoint ignored these unrecognized parameters: "
        "[associated_data]\"]}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_ignored(&root, "associated_data") &&
           !p11kms_vault_answer_ignored(&root, "context"),
       "Vault 1.10-1.12's warning about associated_data is seen");
}

static void test_auth(void)
{
    const char *a = "{\"auth\":{\"client_token\":\"hvs.abc\",\"lease_duration\":3600,"
                    "\"renewable\":true},\"warnings\":null}";
    const char *capped = "{\"auth\":{\"client_token\":\"hvs.abc\",\"lease_duration\":60,"
                         "\"renewable\":true},\"warnings\":[\"TTL of \\\"4h\\\" exceeded the "
                         "effective max_ttl of \\\"1m\\\"; TTL value is capped accordingly\"]}";
    p11kms_cred c;
    uint64_t lease = 0;
    int cap = 0;
    char v[32];
    unsigned major = 0, minor = 0;

    memset(&c, 0, sizeof(c));
    is_rv(p11kms_vault_auth_parse(a, strlen(a), p11kms_vault_src_login, 1000, &c, &lease, &cap),
          CKR_OK, "a login answer");
    ok(strcmp(c.token, "hvs.abc") == 0 && lease == 3600 && c.expires == 4600 && c.renewable &&
           c.refresh_at == 3400 && !cap,
       "token, lease, expiry, renewable, renewal due at two thirds");
    p11kms_cred_clear(&c);
    is_rv(p11kms_vault_auth_parse(capped, strlen(capped), p11kms_vault_src_login, 1000, &c, &lease,
                                  &cap),
          CKR_OK, "a renewal capped by the max TTL");
    ok(cap && lease == 60, "is seen as capped");
    p11kms_cred_clear(&c);
    a = "{\"auth\":{\"client_token\":\"\",\"lease_duration\":60}}";
    is_rv(p11kms_vault_auth_parse(a, strlen(a), p11kms_vault_src_login, 1000, &c, &lease, &cap),
          CKR_DEVICE_ERROR, "an empty token is refused");
    p11kms_cred_clear(&c);
    a = "{\"auth\":null}";
    is_rv(p11kms_vault_auth_parse(a, strlen(a), p11kms_vault_src_login, 1000, &c, &lease, &cap),
          CKR_DEVICE_ERROR, "no auth block is refused");
    p11kms_cred_clear(&c);

    a = "{\"sealed\":false,\"version\":\"1.17.6+ent\"}";
    ok(p11kms_vault_health_version(a, strlen(a), v, sizeof(v), &major, &minor) == 0 && major == 1 &&
           minor == 17 && strcmp(v, "1.17.6+ent") == 0,
       "sys/health version 1.17.6+ent");
    a = "{\"version\":\"banana\"}";
    ok(p11kms_vault_health_version(a, strlen(a), v, sizeof(v), &major, &minor) != 0,
       "a version that is not one is refused");
}

static void test_names(void)
{
    ok(p11kms_vault_name_ok("my-key") && p11kms_vault_name_ok("a") &&
           p11kms_vault_name_ok("k.v@x_1"),
       "transit key names");
    ok(!p11kms_vault_name_ok("") && !p11kms_vault_name_ok("-k") && !p11kms_vault_name_ok("k/x") &&
           !p11kms_vault_name_ok("k?") && !p11kms_vault_name_ok("k-"),
       "names Vault's routes would not take are refused");
    ok(p11kms_vault_path_ok("transit") && p11kms_vault_path_ok("team/transit-2"),
       "mount and namespace paths");
    ok(!p11kms_vault_path_ok("a//b") && !p11kms_vault_path_ok("../sys") &&
           !p11kms_vault_path_ok("a/./b") && !p11kms_vault_path_ok("a b"),
       "empty, dot and dot-dot segments refused (no path escapes)");
}

/* Asymmetric keys: sign answers, and the 500 keysutil gives an RSA ciphertext that does not open.
 */
static void test_asym(void)
{
    p11kms_json root;
    const char *a, *why = NULL;
    uint8_t *sig = NULL;
    size_t len = 0;
    uint32_t ver = 0;
    char code[64];

    is_rv(rv_of(500,
                "{\"errors\":[\"1 error occurred:\\n\\t* failed to RSA decrypt the "
                "ciphertext: crypto/rsa: decryption error\\n\\n\"]}",
                code, 64),
          CKR_ENCRYPTED_DATA_INVALID, "an RSA ciphertext that does not open (500): refused data");
    ok(strcmp(code, P11KMS_VAULT_E_BAD_CIPHERTEXT) == 0, "  ...named as a refused ciphertext");
    is_rv(rv_of(400,
                "{\"errors\":[\"requested version for signing is less than the minimum "
                "encryption key version\"]}",
                code, 64),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "signing with a version below min_encryption_version: KEY_FUNCTION_NOT_PERMITTED");
    is_rv(rv_of(400, "{\"errors\":[\"signing key not found\"]}", code, 64),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "signing with a missing key: KEY_FUNCTION_NOT_PERMITTED");
    is_rv(rv_of(500, "{\"errors\":[\"1 error occurred:\\n\\t* internal error\\n\\n\"]}", code, 64),
          CKR_DEVICE_ERROR, "  ...another 500 stays a device error");
    a = "{\"data\":{\"signature\":\"vault:v3:MEUCIQD/\",\"key_version\":3}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 1024, &sig, &len, &ver, &why) == 0 && len == 6 &&
           sig[0] == 0x30 && sig[5] == 0xff && ver == 3,
       "a sign answer: the signature bytes and version 3");
    free(sig);
    sig = NULL;
    a = "{\"data\":{\"signature\":\"vault:v3:MEUCIQD/\",\"key_version\":2}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 1024, &sig, &len, &ver, &why) != 0 && sig == NULL,
       "a key_version that disagrees with the prefix is refused");
    a = "{\"data\":{\"signature\":\"vault:v1:MEUCIQD_\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 1024, &sig, &len, &ver, &why) != 0,
       "URL-safe base64 (jws marshaling) is refused: asn1 was asked");
    a = "{\"data\":{\"signature\":\"vault:v1:MEUCIQD/\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 5, &sig, &len, &ver, &why) != 0,
       "a signature over the bound is refused");
    a = "{\"data\":{\"signature\":\"MEUCIQD/\"}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 1024, &sig, &len, &ver, &why) != 0,
       "a signature without the vault:v<N>: prefix is refused");
    a = "{\"data\":{}}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_signature(&root, 1024, &sig, &len, &ver, &why) != 0,
       "an answer without a signature is refused");
    a = "{\"data\":{},\"warnings\":[\"Endpoint ignored these unrecognized parameters: "
        "[prehashed salt_length]\"]}";
    ok(p11kms_json_parse(a, strlen(a), &root) == 0 &&
           p11kms_vault_answer_ignored(&root, "salt_length") &&
           p11kms_vault_answer_ignored(&root, "prehashed") &&
           !p11kms_vault_answer_ignored(&root, "key_version"),
       "the warning of a Vault that ignored salt_length is seen");
}

int main(void)
{
    test_start();
    test_errors();
    test_asym();
    test_retry();
    test_ciphertexts();
    test_auth();
    test_names();
    return test_exit_code();
}
