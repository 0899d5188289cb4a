/* test-module-crypt.c - bulk encryption with data keys through the function list: AES-GCM with
 * AAD and AES-CBC-PAD, single and multi-part, the two-call convention, tag and padding failures,
 * checked against OpenSSL computing the same thing independently. */
#include <openssl/evp.h>
#include "tests/module/p11.h"

static CK_OBJECT_HANDLE import_key(CK_SESSION_HANDLE s, const uint8_t *key, CK_ULONG len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE, (void *)key, len}};
    CK_OBJECT_HANDLE h = 0;

    if (p11->C_CreateObject(s, t, 3, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

/* OpenSSL's own AES-256-GCM, to hold the module to an independent result. */
static int ref_gcm(const uint8_t *key, const uint8_t *iv, const uint8_t *aad, int aad_len,
                   const uint8_t *pt, int len, uint8_t *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0, ok_ = c && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) &&
                          EVP_EncryptUpdate(c, NULL, &n, aad, aad_len) &&
                          EVP_EncryptUpdate(c, out, &n, pt, len) &&
                          EVP_EncryptFinal_ex(c, out + n, &f) &&
                          EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + len);
    EVP_CIPHER_CTX_free(c);
    return ok_ ? len + 16 : -1;
}

static void test_gcm(CK_SESSION_HANDLE s)
{
    uint8_t key[32], iv[12], aad[20], pt[1000], ct[1100], ref[1100], back[1100];
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, aad, sizeof(aad), 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_OBJECT_HANDLE k;
    CK_ULONG len, small = 10, part, total;
    int reflen, i;

    for (i = 0; i < 32; i++)
        key[i] = (uint8_t)(i * 7);
    for (i = 0; i < 12; i++)
        iv[i] = (uint8_t)i;
    memset(aad, 'A', sizeof(aad));
    for (i = 0; i < (int)sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 13);
    k = import_key(s, key, 32);
    ok(k != CK_INVALID_HANDLE, "AES-256 data key imported");
    reflen = ref_gcm(key, iv, aad, sizeof(aad), pt, sizeof(pt), ref);

    is_rv(p11->C_EncryptInit(s, &m, k), CKR_OK, "GCM encrypt init");
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_OPERATION_ACTIVE, "second init while active");
    len = 0;
    is_rv(p11->C_Encrypt(s, pt, sizeof(pt), NULL, &len), CKR_OK, "length query");
    is_num(len, sizeof(pt) + 16, "ciphertext plus 16-byte tag");
    is_rv(p11->C_Encrypt(s, pt, sizeof(pt), ct, &small), CKR_BUFFER_TOO_SMALL, "short buffer");
    is_rv(p11->C_Encrypt(s, pt, sizeof(pt), ct, &len), CKR_OK, "GCM encrypt");
    ok((int)len == reflen && memcmp(ct, ref, len) == 0, "same bytes as OpenSSL's own GCM");

    /* multi-part encrypt in odd pieces */
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_OK, "multi-part GCM init");
    total = 0;
    for (i = 0; i < (int)sizeof(pt); i += 333) {
        CK_ULONG n = sizeof(pt) - (CK_ULONG)i < 333 ? sizeof(pt) - (CK_ULONG)i : 333;
        part = sizeof(ct) - total;
        if (p11->C_EncryptUpdate(s, pt + i, n, ct + total, &part) != CKR_OK)
            break;
        total += part;
    }
    part = sizeof(ct) - total;
    is_rv(p11->C_EncryptFinal(s, ct + total, &part), CKR_OK, "multi-part final");
    total += part;
    ok((int)total == reflen && memcmp(ct, ref, total) == 0, "multi-part equals one-shot");

    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "GCM decrypt init");
    len = sizeof(back);
    is_rv(p11->C_Decrypt(s, ct, total, back, &len), CKR_OK, "GCM decrypt");
    ok(len == sizeof(pt) && memcmp(back, pt, len) == 0, "plaintext back");

    ct[5] ^= 1;
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "decrypt init for tampered data");
    len = sizeof(back);
    is_rv(p11->C_Decrypt(s, ct, total, back, &len), CKR_ENCRYPTED_DATA_INVALID,
          "tampered ciphertext refused");
    ct[5] ^= 1;
    aad[0] ^= 1;
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "decrypt init with other AAD");
    len = sizeof(back);
    is_rv(p11->C_Decrypt(s, ct, total, back, &len), CKR_ENCRYPTED_DATA_INVALID,
          "different AAD refused");
    aad[0] ^= 1;
    /* multi-part decrypt: nothing released before the tag is checked */
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "multi-part decrypt init");
    part = sizeof(back);
    is_rv(p11->C_DecryptUpdate(s, ct, 600, back, &part), CKR_OK, "decrypt update");
    is_num(part, 0, "no plaintext before the tag is verified");
    part = sizeof(back);
    is_rv(p11->C_DecryptUpdate(s, ct + 600, total - 600, back, &part), CKR_OK, "decrypt update 2");
    part = sizeof(back);
    is_rv(p11->C_DecryptFinal(s, back, &part), CKR_OK, "decrypt final verifies");
    ok(part == sizeof(pt) && memcmp(back, pt, part) == 0, "all plaintext at final");

    gp.ulTagBits = 50;
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID, "odd tag length refused");
    m.pParameter = NULL;
    m.ulParameterLen = 0;
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_MECHANISM_PARAM_INVALID, "GCM needs parameters");
}

static void test_cbc_pad(CK_SESSION_HANDLE s)
{
    uint8_t key[16] = "0123456789abcdef", iv[16] = "fedcba9876543210";
    uint8_t pt[37], ct[64], back[64];
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    CK_MECHANISM bad = {CKM_AES_CBC_PAD, iv, 8};
    CK_OBJECT_HANDLE k = import_key(s, key, 16);
    CK_ULONG len = sizeof(ct), blen = sizeof(back);
    uint8_t ref[64];
    int n = 0, f = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    memset(pt, 'p', sizeof(pt));
    EVP_EncryptInit_ex(c, EVP_aes_128_cbc(), NULL, key, iv);
    EVP_EncryptUpdate(c, ref, &n, pt, sizeof(pt));
    EVP_EncryptFinal_ex(c, ref + n, &f);
    EVP_CIPHER_CTX_free(c);
    is_rv(p11->C_EncryptInit(s, &bad, k), CKR_MECHANISM_PARAM_INVALID, "8-byte IV refused");
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_OK, "CBC-PAD init (AES-128)");
    is_rv(p11->C_Encrypt(s, pt, sizeof(pt), ct, &len), CKR_OK, "CBC-PAD encrypt");
    ok(len == 48 && (int)len == n + f && memcmp(ct, ref, len) == 0, "PKCS#7 padded, as OpenSSL");
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "CBC-PAD decrypt init");
    is_rv(p11->C_Decrypt(s, ct, len, back, &blen), CKR_OK, "CBC-PAD decrypt");
    ok(blen == sizeof(pt) && memcmp(back, pt, blen) == 0, "plaintext back");
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "decrypt init for a bad length");
    blen = sizeof(back);
    is_rv(p11->C_Decrypt(s, ct, 47, back, &blen), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "not a block multiple");
}

static void test_key_rules(CK_SESSION_HANDLE s)
{
    uint8_t key[32] = {0}, iv[16] = {0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE, key, 32},
                        {CKA_ENCRYPT, &p11_false, 1}};
    CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, 16};
    CK_OBJECT_HANDLE k = 0;

    is_rv(p11->C_CreateObject(s, t, 4, &k), CKR_OK, "key that may not encrypt");
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_KEY_FUNCTION_NOT_PERMITTED, "CKA_ENCRYPT false");
    is_rv(p11->C_DecryptInit(s, &m, k), CKR_OK, "but decrypts");
    is_rv(p11->C_EncryptInit(s, &m, 424242), CKR_KEY_HANDLE_INVALID, "unknown key handle");
    m.mechanism = CKM_DES3_CBC;
    is_rv(p11->C_EncryptInit(s, &m, k), CKR_MECHANISM_INVALID, "unknown mechanism");
    {
        uint8_t buf[16];
        CK_ULONG l = sizeof(buf);
        is_rv(p11->C_EncryptFinal(s, buf, &l), CKR_OPERATION_NOT_INITIALIZED,
              "final without init");
    }
}

int main(void)
{
    CK_SESSION_HANDLE s;

    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize");
    s = p11_open(0);
    test_gcm(s);
    test_cbc_pad(s);
    test_key_rules(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
