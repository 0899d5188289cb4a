/* fuzz-vault-json.c - fuzz target for Vault's answers: the input is a body (as Vault or something
 * pretending to be it sends one) read by every parser of vault-wire.c: the error document, the
 * ciphertext of encrypt and rewrap answers, the plaintext of decrypt answers, the signature of
 * sign answers, the request id and warnings, the auth block of login and renew-self answers, the
 * sys/health version, and the vault:vN: ciphertext form. Each output is checked against what
 * its contract promises. */
#include <ctype.h>
#include <string.h>
#include "module/backends/vault/vault-client.h"
#include "module/net/json.h"
#include "secmem.h"
#include "tests/fuzz/fuzz.h"

static int printable(const char *s)
{
    for (; *s; s++)
        if (!isprint((unsigned char)*s))
            return 0;
    return 1;
}

static void fuzz_error(const char *body, size_t len)
{
    static const long statuses[] = {400, 403, 404, 412, 429, 500, 501, 503};
    char code[64], message[256];
    size_t i;
    CK_RV rv;

    for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        p11kms_vault_error_parse(body, len, statuses[i], code, sizeof(code), message,
                                 sizeof(message));
        FUZZ_ASSERT(strlen(code) < sizeof(code) && strlen(message) < sizeof(message));
        FUZZ_ASSERT(code[0] != 0 && printable(code) && printable(message));
        rv = p11kms_vault_error_rv(code, statuses[i]);
        FUZZ_ASSERT(rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_KEY_FUNCTION_NOT_PERMITTED ||
                    rv == CKR_DEVICE_ERROR);
    }
}

static void fuzz_answer(const char *body, size_t len)
{
    p11kms_json root;
    const char *why = NULL;
    uint8_t *ct = NULL, *pt = NULL, *sig = NULL;
    size_t ct_len = 0, pt_len = 0, sig_len = 0;
    uint32_t version = 0, prefix = 0;
    char rid[64];

    if (p11kms_json_parse(body, len, &root) != 0)
        return;
    if (p11kms_vault_answer_ciphertext(&root, &ct, &ct_len, &version, &why) == 0) {
        /* a usable ciphertext is one Vault would take back, with the version it names */
        FUZZ_ASSERT(ct != NULL && p11kms_vault_ct_version(ct, ct_len, &prefix) == 0);
        FUZZ_ASSERT(prefix == version && ct_len <= P11KMS_BLOB_CT_MAX);
        free(ct);
    } else {
        FUZZ_ASSERT(why != NULL && ct == NULL);
    }
    if (p11kms_vault_answer_plaintext(&root, P11KMS_KMS_PLAINTEXT_MAX, &pt, &pt_len) == 0) {
        FUZZ_ASSERT(pt != NULL && pt_len >= 1 && pt_len <= P11KMS_KMS_PLAINTEXT_MAX);
        p11kms_secure_free(pt, pt_len);
    }
    if (p11kms_vault_answer_signature(&root, 1024, &sig, &sig_len, &version, &why) == 0) {
        FUZZ_ASSERT(sig != NULL && sig_len >= 1 && sig_len <= 1024);
        free(sig);
    } else {
        FUZZ_ASSERT(why != NULL && sig == NULL);
    }
    p11kms_vault_answer_request_id(&root, rid, sizeof(rid));
    FUZZ_ASSERT(strlen(rid) < sizeof(rid) && printable(rid));
    (void)p11kms_vault_answer_ignored(&root, "associated_data");
}

static void fuzz_auth(const char *body, size_t len)
{
    p11kms_cred c;
    uint64_t lease = 0;
    int capped = 0;
    CK_RV rv;

    memset(&c, 0, sizeof(c));
    rv = p11kms_vault_auth_parse(body, len, p11kms_vault_src_login, 1000000, &c, &lease, &capped);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_HOST_MEMORY);
    if (rv == CKR_OK) {
        FUZZ_ASSERT(c.token != NULL && c.token[0] != 0 &&
                    strlen(c.token) <= P11KMS_VAULT_TOKEN_MAX);
        FUZZ_ASSERT(lease == 0 ? c.expires == 0 : c.expires > 1000000);
        FUZZ_ASSERT(c.refresh_at == 0 || (c.refresh_at >= 1000000 && c.refresh_at <= c.expires));
    }
    p11kms_cred_clear(&c);
}

static void fuzz_health(const char *body, size_t len)
{
    char v[32];
    unsigned major = 0, minor = 0;

    if (p11kms_vault_health_version(body, len, v, sizeof(v), &major, &minor) == 0)
        FUZZ_ASSERT(strlen(v) < sizeof(v) && printable(v));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body;
    uint32_t version = 0;

    fuzz_quiet_log();
    body = malloc(size + 1);
    FUZZ_ASSERT(body != NULL);
    memcpy(body, data, size);
    body[size] = 0;
    fuzz_error(body, size);
    fuzz_answer(body, size);
    fuzz_auth(body, size);
    fuzz_health(body, size);
    if (p11kms_vault_ct_version(data, size, &version) == 0)
        FUZZ_ASSERT(size > 9 && memcmp(data, "vault:v", 7) == 0);
    free(body);
    return 0;
}
