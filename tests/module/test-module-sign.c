/* test-module-sign.c - C_Sign* and C_Verify* with AES-CMAC through the function list: single and
 * multi-part, the two-call convention, CKM_AES_CMAC_GENERAL lengths, key rules, and how every
 * result ends (or keeps) the operation. Reference MACs from OpenSSL's EVP_MAC, independently. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include "tests/module/p11.h"

/* An AES data key with the given value, CKA_SIGN and CKA_VERIFY. */
static CK_OBJECT_HANDLE mac_key(CK_SESSION_HANDLE s, const uint8_t *key, CK_ULONG len,
                                CK_BBOOL sign, CK_BBOOL verify, CK_KEY_TYPE kt)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE, (void *)key, len},         {CKA_SIGN, &sign, sizeof(sign)},
        {CKA_VERIFY, &verify, sizeof(verify)},
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (p11->C_CreateObject(s, t, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

static void ref_cmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
                     uint8_t out[16])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[2];
    size_t n = 0;

    p[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                            key_len == 16 ? "AES-128-CBC" : "AES-256-CBC", 0);
    p[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || !EVP_MAC_init(ctx, key, key_len, p) || !EVP_MAC_update(ctx, msg, len) ||
        !EVP_MAC_final(ctx, out, &n, 16) || n != 16) {
        printf("Bail out! reference CMAC\n");
        exit(99);
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

static uint8_t key256[32], msg[1000];

static void test_sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    uint8_t ref[16], sig[64];
    CK_ULONG len = 0, small = 15, i;

    ref_cmac(key256, 32, msg, sizeof(msg), ref);
    is_rv(p11->C_SignInit(s, &m, k), CKR_OK, "C_SignInit CKM_AES_CMAC");
    is_rv(p11->C_SignInit(s, &m, k), CKR_OPERATION_ACTIVE, "a second C_SignInit while active");
    is_rv(p11->C_Sign(s, msg, sizeof(msg), NULL, &len), CKR_OK, "length query");
    is_num(len, 16, "a 16-byte MAC");
    is_rv(p11->C_Sign(s, msg, sizeof(msg), sig, &small), CKR_BUFFER_TOO_SMALL, "15-byte buffer");
    is_num(small, 16, "  ...says 16");
    len = sizeof(sig);
    is_rv(p11->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_OK, "C_Sign after both");
    ok(len == 16 && memcmp(sig, ref, 16) == 0, "the MAC OpenSSL computes");
    is_rv(p11->C_Sign(s, msg, 1, sig, &len), CKR_OPERATION_NOT_INITIALIZED,
          "the operation ended with the MAC");

    is_rv(p11->C_SignInit(s, &m, k), CKR_OK, "multi-part init");
    for (i = 0; i < sizeof(msg); i += 333)
        is_rv(p11->C_SignUpdate(s, msg + i, sizeof(msg) - i < 333 ? sizeof(msg) - i : 333), CKR_OK,
              "C_SignUpdate");
    is_rv(p11->C_SignUpdate(s, NULL, 0), CKR_OK, "an empty part");
    len = 0;
    is_rv(p11->C_SignFinal(s, NULL, &len), CKR_OK, "C_SignFinal length query");
    is_num(len, 16, "16 bytes");
    len = sizeof(sig);
    memset(sig, 0, sizeof(sig));
    is_rv(p11->C_SignFinal(s, sig, &len), CKR_OK, "C_SignFinal");
    ok(len == 16 && memcmp(sig, ref, 16) == 0, "multi-part equals one-shot");
    is_rv(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED, "final ended it");

    is_rv(p11->C_SignInit(s, &m, k), CKR_OK, "init for a mixed sequence");
    is_rv(p11->C_SignUpdate(s, msg, 10), CKR_OK, "update");
    len = sizeof(sig);
    is_rv(p11->C_Sign(s, msg, 10, sig, &len), CKR_OPERATION_ACTIVE,
          "C_Sign cannot finish a multi-part operation");
    is_rv(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED,
          "  ...and the refusal ended it");

    is_rv(p11->C_SignInit(s, &m, k), CKR_OK, "init to cancel");
    is_rv(p11v3->C_SessionCancel(s, CKF_SIGN), CKR_OK, "C_SessionCancel(CKF_SIGN)");
    is_rv(p11->C_SignUpdate(s, msg, 1), CKR_OPERATION_NOT_INITIALIZED, "cancelled");
    is_rv(p11->C_SignFinal(s, NULL, &len), CKR_OPERATION_NOT_INITIALIZED,
          "C_SignFinal without init");
}

static void test_general(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_ULONG want, bad[] = {0, 17, 64};
    CK_MECHANISM m = {CKM_AES_CMAC_GENERAL, &want, sizeof(want)};
    CK_MECHANISM wrong_size = {CKM_AES_CMAC_GENERAL, &want, 4};
    CK_MECHANISM no_param = {CKM_AES_CMAC_GENERAL, NULL, 0};
    CK_MECHANISM cmac_param = {CKM_AES_CMAC, &want, sizeof(want)};
    uint8_t ref[16], sig[16];
    CK_ULONG len, i;
    int fine = 1;

    ref_cmac(key256, 32, msg, 100, ref);
    for (want = 1; want <= 16; want++) {
        len = sizeof(sig);
        fine &= p11->C_SignInit(s, &m, k) == CKR_OK &&
                p11->C_Sign(s, msg, 100, sig, &len) == CKR_OK && len == want &&
                memcmp(sig, ref, want) == 0;
        fine &= p11->C_VerifyInit(s, &m, k) == CKR_OK &&
                p11->C_Verify(s, msg, 100, ref, want) == CKR_OK;
    }
    ok(fine, "CKM_AES_CMAC_GENERAL of 1..16 bytes: the leftmost bytes of the MAC, verified");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        want = bad[i];
        is_rv(p11->C_SignInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID, "MAC length out of range");
    }
    want = 8;
    is_rv(p11->C_SignInit(s, &wrong_size, k), CKR_MECHANISM_PARAM_INVALID,
          "parameter of a wrong size");
    is_rv(p11->C_SignInit(s, &no_param, k), CKR_MECHANISM_PARAM_INVALID,
          "CKM_AES_CMAC_GENERAL needs its length");
    is_rv(p11->C_VerifyInit(s, &cmac_param, k), CKR_MECHANISM_PARAM_INVALID,
          "CKM_AES_CMAC takes no parameter");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "verify 8 bytes");
    is_rv(p11->C_Verify(s, msg, 100, ref, 16), CKR_SIGNATURE_LEN_RANGE,
          "a full MAC where 8 bytes were asked");
}

static void test_verify(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    uint8_t ref[16], bad[16];
    size_t i;
    int all = 1;

    ref_cmac(key256, 32, msg, sizeof(msg), ref);
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), ref, 16), CKR_OK, "the right MAC verifies");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), ref, 16), CKR_OPERATION_NOT_INITIALIZED,
          "C_Verify ended the operation");
    for (i = 0; i < 16; i++) {
        memcpy(bad, ref, 16);
        bad[i] ^= 0x01;
        all &= p11->C_VerifyInit(s, &m, k) == CKR_OK &&
               p11->C_Verify(s, msg, sizeof(msg), bad, 16) == CKR_SIGNATURE_INVALID &&
               p11->C_Verify(s, msg, sizeof(msg), ref, 16) == CKR_OPERATION_NOT_INITIALIZED;
    }
    ok(all, "a MAC with any one bit changed is CKR_SIGNATURE_INVALID, and ends the operation");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "init");
    is_rv(p11->C_Verify(s, msg, sizeof(msg) - 1, ref, 16), CKR_SIGNATURE_INVALID,
          "other data: invalid");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "init");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), ref, 15), CKR_SIGNATURE_LEN_RANGE,
          "a 15-byte MAC: CKR_SIGNATURE_LEN_RANGE");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), ref, 16), CKR_OPERATION_NOT_INITIALIZED,
          "  ...which ended the operation");

    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "multi-part verify");
    is_rv(p11->C_VerifyUpdate(s, msg, 400), CKR_OK, "C_VerifyUpdate");
    is_rv(p11->C_VerifyUpdate(s, msg + 400, sizeof(msg) - 400), CKR_OK, "C_VerifyUpdate");
    is_rv(p11->C_VerifyFinal(s, ref, 16), CKR_OK, "C_VerifyFinal");
    is_rv(p11->C_VerifyFinal(s, ref, 16), CKR_OPERATION_NOT_INITIALIZED, "ended");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "multi-part verify, wrong MAC");
    is_rv(p11->C_VerifyUpdate(s, msg, sizeof(msg)), CKR_OK, "C_VerifyUpdate");
    is_rv(p11->C_VerifyFinal(s, bad, 16), CKR_SIGNATURE_INVALID, "C_VerifyFinal refuses");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "update then one-shot");
    is_rv(p11->C_VerifyUpdate(s, msg, 5), CKR_OK, "C_VerifyUpdate");
    is_rv(p11->C_Verify(s, msg, 5, ref, 16), CKR_OPERATION_ACTIVE,
          "C_Verify cannot finish a multi-part operation");
    is_rv(p11->C_VerifyFinal(s, ref, 16), CKR_OPERATION_NOT_INITIALIZED, "  ...and it ended");
    is_rv(p11->C_VerifyInit(s, &m, k), CKR_OK, "init to cancel");
    is_rv(p11v3->C_SessionCancel(s, CKF_VERIFY), CKR_OK, "C_SessionCancel(CKF_VERIFY)");
    is_rv(p11->C_VerifyFinal(s, ref, 16), CKR_OPERATION_NOT_INITIALIZED, "cancelled");
}

static void test_key_rules(CK_SESSION_HANDLE s)
{
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0}, ecb = {CKM_AES_ECB, NULL, 0};
    CK_OBJECT_HANDLE sign_only = mac_key(s, key256, 32, CK_TRUE, CK_FALSE, CKK_AES);
    CK_OBJECT_HANDLE verify_only = mac_key(s, key256, 32, CK_FALSE, CK_TRUE, CKK_AES);
    CK_OBJECT_HANDLE generic = mac_key(s, key256, 32, CK_TRUE, CK_TRUE, CKK_GENERIC_SECRET);
    CK_OBJECT_HANDLE kms = p11_find_label(s, "default");
    CK_OBJECT_HANDLE plain = p11_data_key(s, 32);
    uint8_t sig[16];
    CK_ULONG len = sizeof(sig);

    ok(sign_only && verify_only && generic && kms && plain, "keys for the rules");
    is_rv(p11->C_SignInit(s, &m, plain), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a data key has no CKA_SIGN by default");
    is_rv(p11->C_VerifyInit(s, &m, plain), CKR_KEY_FUNCTION_NOT_PERMITTED, "...nor CKA_VERIFY");
    is_rv(p11->C_SignInit(s, &m, verify_only), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a verify-only key cannot sign");
    is_rv(p11->C_VerifyInit(s, &m, sign_only), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a sign-only key cannot verify");
    is_rv(p11->C_SignInit(s, &m, sign_only), CKR_OK, "a sign-only key signs");
    is_rv(p11->C_Sign(s, msg, 10, sig, &len), CKR_OK, "C_Sign");
    is_rv(p11->C_VerifyInit(s, &m, verify_only), CKR_OK, "a verify-only key verifies");
    is_rv(p11->C_Verify(s, msg, 10, sig, len), CKR_OK, "what the sign-only key signed");
    is_rv(p11->C_SignInit(s, &m, generic), CKR_KEY_TYPE_INCONSISTENT,
          "CMAC with a generic secret refused");
    is_rv(p11->C_SignInit(s, &m, kms), CKR_KEY_TYPE_INCONSISTENT, "CMAC with a KMS key refused");
    is_rv(p11->C_SignInit(s, &ecb, sign_only), CKR_MECHANISM_INVALID,
          "C_SignInit with an encryption mechanism");
    is_rv(p11->C_SignInit(s, &m, 424242), CKR_KEY_HANDLE_INVALID, "unknown key handle");
    is_rv(p11->C_Sign(s, msg, 10, sig, &len), CKR_OPERATION_NOT_INITIALIZED,
          "no operation after failed inits");
    is_rv(p11->C_Verify(s, msg, 10, NULL, 16), CKR_ARGUMENTS_BAD, "a NULL signature");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k;
    size_t i;

    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize");
    s = p11_open(0);
    for (i = 0; i < sizeof(key256); i++)
        key256[i] = (uint8_t)(i * 9 + 4);
    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 31);
    k = mac_key(s, key256, 32, CK_TRUE, CK_TRUE, CKK_AES);
    ok(k != CK_INVALID_HANDLE, "AES-256 key with CKA_SIGN and CKA_VERIFY");
    test_sign(s, k);
    test_general(s, k);
    test_verify(s, k);
    test_key_rules(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
