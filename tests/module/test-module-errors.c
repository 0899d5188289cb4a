/* test-module-errors.c - PKCS#11's rule for every encrypt, decrypt, sign and verify call: an
 * error other than CKR_BUFFER_TOO_SMALL ends the active operation (the next call, even a good
 * one, gets CKR_OPERATION_NOT_INITIALIZED), while a short buffer or a successful length query
 * keeps it. One check per error path, with data keys and with a KMS key. */
#include "tests/module/p11.h"

static CK_OBJECT_HANDLE aes_key(CK_SESSION_HANDLE s, CK_ULONG len, CK_BBOOL sign)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    uint8_t v[32];
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)}, {CKA_VALUE, v, len},
        {CKA_SIGN, &sign, 1},           {CKA_VERIFY, &sign, 1},
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    memset(v, 0x5a, sizeof(v));
    if (p11->C_CreateObject(s, t, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

static uint8_t iv[16], pt[256], buf[8192], buf2[8192];

/* After an error: a call that would have worked finds no operation. */
static void is_over(CK_RV rv, const char *what)
{
    char w[200];

    snprintf(w, sizeof(w), "  ...%s ended the operation", what);
    is_rv(rv, CKR_OPERATION_NOT_INITIALIZED, w);
}

static void test_data_key_encrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16}, cbcpad = {CKM_AES_CBC_PAD, iv, 16};
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    CK_AES_CTR_PARAMS cp = {8, {0}};
    CK_MECHANISM ctr = {CKM_AES_CTR, &cp, sizeof(cp)};
    CK_ULONG len;

    cp.cb[15] = 0xfe; /* 8 counter bits from fe: 32 bytes of room */
    is_rv(p11->C_EncryptInit(s, &cbc, k), CKR_OK, "CBC encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 17, buf, &len), CKR_DATA_LEN_RANGE, "C_Encrypt CBC of 17 bytes");
    len = sizeof(buf);
    is_over(p11->C_Encrypt(s, pt, 16, buf, &len), "C_Encrypt's CKR_DATA_LEN_RANGE");

    is_rv(p11->C_EncryptInit(s, &ecb, k), CKR_OK, "ECB encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, pt, 20, buf, &len), CKR_OK, "ECB update of 20 bytes");
    len = sizeof(buf);
    is_rv(p11->C_EncryptFinal(s, buf, &len), CKR_DATA_LEN_RANGE, "C_EncryptFinal, 4 bytes left");
    len = sizeof(buf);
    is_over(p11->C_EncryptFinal(s, buf, &len), "C_EncryptFinal's CKR_DATA_LEN_RANGE");

    is_rv(p11->C_EncryptInit(s, &ctr, k), CKR_OK, "CTR encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 33, buf, &len), CKR_DATA_LEN_RANGE,
          "C_Encrypt CTR past the counter's wrap");
    len = sizeof(buf);
    is_over(p11->C_Encrypt(s, pt, 16, buf, &len), "the counter overflow");
    is_rv(p11->C_EncryptInit(s, &ctr, k), CKR_OK, "CTR encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, pt, 30, buf, &len), CKR_OK, "CTR update of 30 bytes");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, pt, 3, buf, &len), CKR_DATA_LEN_RANGE,
          "C_EncryptUpdate past the counter's wrap");
    len = sizeof(buf);
    is_over(p11->C_EncryptUpdate(s, pt, 1, buf, &len), "C_EncryptUpdate's counter overflow");

    is_rv(p11->C_EncryptInit(s, &cbcpad, k), CKR_OK, "CBC-PAD encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, pt, 10, buf, &len), CKR_OK, "update");
    is_rv(p11->C_EncryptInit(s, &cbcpad, k), CKR_OPERATION_ACTIVE, "C_EncryptInit while active");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, pt, 6, buf, &len), CKR_OK,
          "  ...a refused init leaves the active operation alone");
    len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 16, buf, &len), CKR_OPERATION_ACTIVE,
          "C_Encrypt after C_EncryptUpdate");
    len = sizeof(buf);
    is_over(p11->C_EncryptFinal(s, buf, &len), "C_Encrypt's CKR_OPERATION_ACTIVE");
}

/* What keeps an operation: a length query and a short buffer, at every step. */
static void test_kept(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM cbcpad = {CKM_AES_CBC_PAD, iv, 16};
    CK_ULONG len, small;

    is_rv(p11->C_EncryptInit(s, &cbcpad, k), CKR_OK, "CBC-PAD encrypt init");
    len = 0;
    is_rv(p11->C_Encrypt(s, pt, 40, NULL, &len), CKR_OK, "C_Encrypt length query");
    small = len - 1;
    is_rv(p11->C_Encrypt(s, pt, 40, buf, &small), CKR_BUFFER_TOO_SMALL, "C_Encrypt short buffer");
    is_rv(p11->C_Encrypt(s, pt, 40, buf, &len), CKR_OK, "  ...and the operation went on");
    is_num(len, 48, "48 bytes");

    is_rv(p11->C_EncryptInit(s, &cbcpad, k), CKR_OK, "multi-part init");
    len = 0;
    is_rv(p11->C_EncryptUpdate(s, pt, 40, NULL, &len), CKR_OK, "C_EncryptUpdate length query");
    small = len - 1;
    is_rv(p11->C_EncryptUpdate(s, pt, 40, buf, &small), CKR_BUFFER_TOO_SMALL,
          "C_EncryptUpdate short buffer");
    is_rv(p11->C_EncryptUpdate(s, pt, 40, buf, &len), CKR_OK, "  ...went on");
    len = 0;
    is_rv(p11->C_EncryptFinal(s, NULL, &len), CKR_OK, "C_EncryptFinal length query");
    small = len - 1;
    is_rv(p11->C_EncryptFinal(s, buf, &small), CKR_BUFFER_TOO_SMALL, "C_EncryptFinal short");
    is_rv(p11->C_EncryptFinal(s, buf, &len), CKR_OK, "  ...went on");
    is_over(p11->C_EncryptFinal(s, buf, &len), "a successful C_EncryptFinal");
}

static void test_data_key_decrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16}, cbcpad = {CKM_AES_CBC_PAD, iv, 16};
    CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
    CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_ULONG len, ct_len;

    /* A last block whose padding byte is 0: CBC-PAD refuses it. */
    is_rv(p11->C_EncryptInit(s, &cbc, k), CKR_OK, "CBC encrypt init");
    ct_len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 32, buf, &ct_len), CKR_OK, "32 bytes ending in 0x00");
    is_rv(p11->C_DecryptInit(s, &cbcpad, k), CKR_OK, "CBC-PAD decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt with bad padding");
    len = sizeof(buf2);
    is_over(p11->C_Decrypt(s, buf, 16, buf2, &len), "the bad padding");
    is_rv(p11->C_DecryptInit(s, &cbcpad, k), CKR_OK, "CBC-PAD decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptUpdate(s, buf, ct_len, buf2, &len), CKR_OK, "C_DecryptUpdate");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptFinal(s, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "C_DecryptFinal with bad padding");
    is_over(p11->C_DecryptFinal(s, buf2, &len), "C_DecryptFinal's bad padding");
    is_rv(p11->C_DecryptInit(s, &cbcpad, k), CKR_OK, "CBC-PAD decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_Decrypt(s, buf, 20, buf2, &len), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "C_Decrypt of 20 bytes");
    len = sizeof(buf2);
    is_over(p11->C_Decrypt(s, buf, 32, buf2, &len), "the bad length");

    is_rv(p11->C_EncryptInit(s, &gcm, k), CKR_OK, "GCM encrypt init");
    ct_len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 100, buf, &ct_len), CKR_OK, "GCM encrypt");
    buf[7] ^= 1;
    is_rv(p11->C_DecryptInit(s, &gcm, k), CKR_OK, "GCM decrypt init");
    len = 0;
    is_rv(p11->C_Decrypt(s, buf, ct_len, NULL, &len), CKR_OK, "C_Decrypt length query");
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "C_Decrypt with a tag that fails");
    buf[7] ^= 1;
    len = sizeof(buf2);
    is_over(p11->C_Decrypt(s, buf, ct_len, buf2, &len), "the GCM tag failure");
    is_rv(p11->C_DecryptInit(s, &gcm, k), CKR_OK, "GCM decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptUpdate(s, buf, ct_len - 1, buf2, &len), CKR_OK, "update, tag cut short");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptFinal(s, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "C_DecryptFinal with a tag that fails");
    is_over(p11->C_DecryptFinal(s, buf2, &len), "C_DecryptFinal's tag failure");
    is_rv(p11->C_DecryptInit(s, &gcm, k), CKR_OK, "GCM decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_Decrypt(s, buf, 10, buf2, &len), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "C_Decrypt shorter than the tag");
    len = sizeof(buf2);
    is_over(p11->C_Decrypt(s, buf, ct_len, buf2, &len), "the short ciphertext");
    is_rv(p11->C_DecryptInit(s, &gcm, k), CKR_OK, "GCM decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptUpdate(s, buf, 10, buf2, &len), CKR_OK, "update");
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_OPERATION_ACTIVE,
          "C_Decrypt after C_DecryptUpdate");
    is_over(p11->C_DecryptFinal(s, buf2, &len), "C_Decrypt's CKR_OPERATION_ACTIVE");
}

static void test_kms_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_ULONG len, ct_len;
    static uint8_t big[P11KMS_KMS_PLAINTEXT_MAX + 1];

    is_rv(p11->C_EncryptInit(s, &env, kms), CKR_OK, "KMS encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, big, sizeof(big), buf, &len), CKR_DATA_LEN_RANGE,
          "C_Encrypt of more than the KMS takes");
    len = sizeof(buf);
    is_over(p11->C_Encrypt(s, pt, 10, buf, &len), "the KMS length refusal");
    is_rv(p11->C_EncryptInit(s, &env, kms), CKR_OK, "KMS encrypt init");
    len = sizeof(buf);
    is_rv(p11->C_EncryptUpdate(s, big, sizeof(big), buf, &len), CKR_DATA_LEN_RANGE,
          "C_EncryptUpdate of more than the KMS takes");
    len = sizeof(buf);
    is_over(p11->C_EncryptFinal(s, buf, &len), "C_EncryptUpdate's refusal");

    is_rv(p11->C_EncryptInit(s, &env, kms), CKR_OK, "KMS encrypt init");
    ct_len = sizeof(buf);
    is_rv(p11->C_Encrypt(s, pt, 40, buf, &ct_len), CKR_OK, "KMS encrypt");
    buf[ct_len - 1] ^= 1;
    is_rv(p11->C_DecryptInit(s, &env, kms), CKR_OK, "KMS decrypt init");
    len = 0;
    is_rv(p11->C_Decrypt(s, buf, ct_len, NULL, &len), CKR_OK, "length query, no KMS call");
    len = sizeof(buf2);
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "the KMS refuses a changed envelope");
    buf[ct_len - 1] ^= 1;
    len = sizeof(buf2);
    is_over(p11->C_Decrypt(s, buf, ct_len, buf2, &len), "the KMS refusal");
    is_rv(p11->C_DecryptInit(s, &env, kms), CKR_OK, "KMS decrypt init");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptUpdate(s, buf, 5, buf2, &len), CKR_OK, "update");
    len = sizeof(buf2);
    is_rv(p11->C_DecryptFinal(s, buf2, &len), CKR_ENCRYPTED_DATA_INVALID,
          "C_DecryptFinal of a piece of an envelope");
    is_over(p11->C_DecryptFinal(s, buf2, &len), "C_DecryptFinal's refusal");
    is_rv(p11->C_DecryptInit(s, &env, kms), CKR_OK, "KMS decrypt init");
    len = 1;
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_BUFFER_TOO_SMALL, "a 1-byte buffer");
    len = sizeof(buf2);
    is_rv(p11->C_Decrypt(s, buf, ct_len, buf2, &len), CKR_OK, "  ...kept the operation");
    ok(len == 40 && memcmp(buf2, pt, 40) == 0, "  ...and the plaintext comes back");
}

static void test_sign_verify(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
    uint8_t mac[16];
    CK_ULONG len = sizeof(mac), small = 3;

    is_rv(p11->C_SignInit(s, &cmac, k), CKR_OK, "sign init");
    is_rv(p11->C_SignUpdate(s, pt, 10), CKR_OK, "update");
    is_rv(p11->C_Sign(s, pt, 10, mac, &len), CKR_OPERATION_ACTIVE, "C_Sign after C_SignUpdate");
    is_over(p11->C_SignFinal(s, mac, &len), "C_Sign's CKR_OPERATION_ACTIVE");
    is_rv(p11->C_SignInit(s, &cmac, k), CKR_OK, "sign init");
    is_rv(p11->C_SignFinal(s, mac, &small), CKR_BUFFER_TOO_SMALL, "C_SignFinal short buffer");
    is_rv(p11->C_SignFinal(s, mac, &len), CKR_OK, "  ...kept the operation");
    is_rv(p11->C_VerifyInit(s, &cmac, k), CKR_OK, "verify init");
    is_rv(p11->C_VerifyFinal(s, mac, 15), CKR_SIGNATURE_LEN_RANGE, "C_VerifyFinal, 15 bytes");
    is_over(p11->C_VerifyFinal(s, mac, 16), "C_VerifyFinal's CKR_SIGNATURE_LEN_RANGE");
    is_rv(p11->C_VerifyInit(s, &cmac, k), CKR_OK, "verify init");
    mac[0] ^= 1;
    is_rv(p11->C_VerifyFinal(s, mac, 16), CKR_SIGNATURE_INVALID, "C_VerifyFinal, changed MAC");
    is_over(p11->C_VerifyFinal(s, mac, 16), "C_VerifyFinal's CKR_SIGNATURE_INVALID");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k, mk, kms;
    size_t i;

    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize");
    s = p11_open(0);
    for (i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i % 16 == 15 && i < 32 ? 0 : i + 1);
    memset(iv, 0x24, sizeof(iv));
    k = aes_key(s, 32, CK_FALSE);
    mk = aes_key(s, 16, CK_TRUE);
    kms = p11_find_label(s, "default");
    ok(k && mk && kms, "keys");
    test_data_key_encrypt(s, k);
    test_kept(s, k);
    test_data_key_decrypt(s, k);
    test_kms_key(s, kms);
    test_sign_verify(s, mk);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
