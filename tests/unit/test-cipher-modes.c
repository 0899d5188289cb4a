/* test-cipher-modes.c - the data-key ECB and CTR modes: NIST SP 800-38A known answers, the CTR
 * counter that must not wrap within its bits, parameters, lengths, and every multi-part split
 * against one-shot. */
#include <openssl/evp.h>
#include "tests/unit/cipher-test.h"

/* NIST SP 800-38A appendix F: the plaintext of every example, and the keys. All values below
 * were checked against python3-cryptography before they were written here. */
#define SP_PT                                                                                      \
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"                             \
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
#define SP_K128 "2b7e151628aed2a6abf7158809cf4f3c"
#define SP_K256 "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define SP_CTR_BLOCK "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

static const struct {
    const char *name, *key, *ct;
} ecb_kats[] =
    {
        {"SP 800-38A F.1.1/F.1.2 ECB-AES128", SP_K128,
         "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
         "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"},
        {"SP 800-38A F.1.5/F.1.6 ECB-AES256", SP_K256,
         "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
         "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"},
},
  ctr_kats[] = {
      {"SP 800-38A F.5.1/F.5.2 CTR-AES128", SP_K128,
       "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
       "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"},
      {"SP 800-38A F.5.5/F.5.6 CTR-AES256", SP_K256,
       "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
       "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"},
};

static CK_MECHANISM ctr_mech(CK_AES_CTR_PARAMS *p, const uint8_t cb[16], CK_ULONG bits)
{
    CK_MECHANISM m = {CKM_AES_CTR, p, sizeof(*p)};

    p->ulCounterBits = bits;
    memcpy(p->cb, cb, 16);
    return m;
}

static void test_kats(void)
{
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, ctr;
    CK_AES_CTR_PARAMS cp;
    uint8_t key[32], pt[64], want[64], cb[16], out[MAXBUF];
    size_t i, kl, n;
    char what[128];

    unhex(SP_PT, pt, sizeof(pt));
    unhex(SP_CTR_BLOCK, cb, sizeof(cb));
    for (i = 0; i < 2; i++) {
        kl = unhex(ecb_kats[i].key, key, sizeof(key));
        unhex(ecb_kats[i].ct, want, sizeof(want));
        snprintf(what, sizeof(what), "%s encrypt", ecb_kats[i].name);
        is_rv(oneshot(&ecb, 1, key, kl, pt, 64, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, want, 64) == 0, what);
        snprintf(what, sizeof(what), "%s decrypt", ecb_kats[i].name);
        is_rv(oneshot(&ecb, 0, key, kl, want, 64, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, pt, 64) == 0, what);

        kl = unhex(ctr_kats[i].key, key, sizeof(key));
        unhex(ctr_kats[i].ct, want, sizeof(want));
        ctr = ctr_mech(&cp, cb, 128);
        snprintf(what, sizeof(what), "%s encrypt", ctr_kats[i].name);
        is_rv(oneshot(&ctr, 1, key, kl, pt, 64, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, want, 64) == 0, what);
        snprintf(what, sizeof(what), "%s decrypt", ctr_kats[i].name);
        is_rv(oneshot(&ctr, 0, key, kl, want, 64, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, pt, 64) == 0, what);
        /* The counter block's low byte goes fc..ff: 32 counter bits are plenty. */
        ctr = ctr_mech(&cp, cb, 32);
        snprintf(what, sizeof(what), "%s with 32 counter bits", ctr_kats[i].name);
        is_rv(oneshot(&ctr, 1, key, kl, pt, 64, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, want, 64) == 0, what);
    }
}

/* One AES block of key stream for counter block cb, from OpenSSL directly. */
static void ref_block(const uint8_t *key, const uint8_t cb[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;

    if (c == NULL || !EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, key, NULL) ||
        !EVP_CIPHER_CTX_set_padding(c, 0) || !EVP_EncryptUpdate(c, out, &n, cb, 16) || n != 16) {
        printf("Bail out! reference AES\n");
        exit(99);
    }
    EVP_CIPHER_CTX_free(c);
}

/* Counter blocks that end right below the wrap of their counter bits. */
static void test_counter_wrap(void)
{
    static const struct {
        CK_ULONG bits;
        const char *cb;
        size_t room; /* blocks before the counter bits wrap */
    } v[] = {
        {1, "00000000000000000000000000000000", 2},   {1, "00000000000000000000000000000001", 1},
        {8, "000102030405060708090a0b0c0d0efe", 2},   {8, "000102030405060708090a0b0c0d0e00", 256},
        {16, "0000000000000000000000000000fffd", 3},  {32, "00000000000000000000000effffffff", 1},
        {64, "0000000000000000fffffffffffffffe", 2},  {65, "0000000000000001ffffffffffffffff", 1},
        {100, "0000000fffffffffffffffffffffffff", 1}, {128, "fffffffffffffffffffffffffffffffd", 3},
    };
    static uint8_t in[4096 + 16], out[4096 + 16];
    uint8_t key[16] = {9}, cb[16], want[16];
    CK_AES_CTR_PARAMS p;
    CK_MECHANISM m;
    p11kms_cipher *c = NULL;
    size_t i, n, total;
    char what[128];
    CK_RV rv;

    memset(in, 0, sizeof(in));
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t room = v[i].room * 16 > 4096 ? 4096 : v[i].room * 16;

        unhex(v[i].cb, cb, sizeof(cb));
        m = ctr_mech(&p, cb, v[i].bits);
        snprintf(what, sizeof(what), "%lu counter bits from %s: %zu bytes fit",
                 (unsigned long)v[i].bits, v[i].cb, room);
        is_rv(oneshot(&m, 1, key, 16, in, room, out, &n), CKR_OK, what);
        ref_block(key, cb, want);
        ok(n == room && memcmp(out, want, 16) == 0, "  ...and the first block is E(cb)");
        if (v[i].room * 16 > 4096)
            continue;
        snprintf(what, sizeof(what), "%lu counter bits from %s: one byte more refused",
                 (unsigned long)v[i].bits, v[i].cb);
        is_rv(oneshot(&m, 1, key, 16, in, room + 1, out, &n), CKR_DATA_LEN_RANGE, what);
        is_rv(oneshot(&m, 0, key, 16, in, room + 1, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
              "  ...and as ciphertext");
    }

    /* Multi-part: 8 counter bits from fe leave two blocks, used up in odd pieces. */
    unhex("000102030405060708090a0b0c0d0efe", cb, sizeof(cb));
    m = ctr_mech(&p, cb, 8);
    is_rv(p11kms_cipher_init(&c, &m, 1, key, 16), CKR_OK, "CTR init");
    total = 0;
    rv = p11kms_cipher_update(c, in, 5, out, &n);
    total += n;
    if (rv == CKR_OK)
        rv = p11kms_cipher_update(c, in, 20, out + total, &n);
    total += n;
    if (rv == CKR_OK)
        rv = p11kms_cipher_update(c, in, 7, out + total, &n);
    total += n;
    is_rv(rv, CKR_OK, "32 bytes in parts of 5, 20, 7");
    is_num(total, 32, "all 32 out");
    is_rv(p11kms_cipher_update(c, in, 0, out, &n), CKR_OK, "an empty part still fits");
    is_rv(p11kms_cipher_update(c, in, 1, out, &n), CKR_DATA_LEN_RANGE, "the 33rd byte refused");
    is_num(n, 0, "  ...with no output");
    is_rv(p11kms_cipher_final(c, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "  ...and the operation is over");
    p11kms_cipher_free(c);
}

static void test_params_and_lengths(void)
{
    uint8_t key[32] = {1}, cb[16] = {2}, in[64] = {3}, out[MAXBUF];
    CK_AES_CTR_PARAMS p;
    CK_MECHANISM ecb_iv = {CKM_AES_ECB, cb, 16}, ecb_len = {CKM_AES_ECB, NULL, 16};
    CK_MECHANISM ctr_null = {CKM_AES_CTR, NULL, sizeof(p)}, ctr_short = {CKM_AES_CTR, &p, 16};
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, ctr;
    p11kms_cipher *c = NULL;
    size_t n;

    is_rv(p11kms_cipher_init(&c, &ecb_iv, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "ECB takes no IV");
    is_rv(p11kms_cipher_init(&c, &ecb_len, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "ECB: a parameter length without a parameter");
    is_rv(p11kms_cipher_init(&c, &ctr_null, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "CTR needs CK_AES_CTR_PARAMS");
    is_rv(p11kms_cipher_init(&c, &ctr_short, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "CTR parameter of a wrong size");
    ctr = ctr_mech(&p, cb, 0);
    is_rv(p11kms_cipher_init(&c, &ctr, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "0 counter bits refused");
    ctr = ctr_mech(&p, cb, 129);
    is_rv(p11kms_cipher_init(&c, &ctr, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "129 counter bits refused");
    is_rv(p11kms_cipher_init(&c, &ecb, 1, key, 20), CKR_KEY_SIZE_RANGE, "ECB with a 20-byte key");
    ok(c == NULL, "nothing allocated on failed init");

    is_rv(oneshot(&ecb, 1, key, 32, in, 17, out, &n), CKR_DATA_LEN_RANGE, "ECB encrypt 17 bytes");
    is_rv(oneshot(&ecb, 0, key, 32, in, 31, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "ECB decrypt 31 bytes");
    is_rv(oneshot(&ecb, 1, key, 32, in, 0, out, &n), CKR_OK, "ECB of nothing");
    is_num(n, 0, "  ...is nothing");
    is_rv(p11kms_cipher_init(&c, &ecb, 0, key, 32), CKR_OK, "ECB decrypt init");
    is_num(p11kms_cipher_oneshot_len(c, 48), 48, "ECB one-shot length is the input length");
    is_rv(p11kms_cipher_update(c, in, 20, out, &n), CKR_OK, "ECB update 20 bytes");
    is_num(n, 16, "one block out, 4 held");
    is_num(p11kms_cipher_final_len(c), 0, "ECB final_len 0");
    is_rv(p11kms_cipher_final(c, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "ECB final with 4 bytes held");
    is_rv(p11kms_cipher_update(c, in, 16, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "the failed operation is over");
    ctr = ctr_mech(&p, cb, 128);
    is_rv(p11kms_cipher_reinit(c, &ctr, 1, key, 24), CKR_OK, "the object reinitialised for CTR");
    is_num(p11kms_cipher_oneshot_len(c, 77), 77, "CTR output is the input length");
    is_num(p11kms_cipher_update_len(c, 3), 3, "CTR update length is the input length");
    is_num(p11kms_cipher_final_len(c), 0, "CTR final writes nothing");
    p11kms_cipher_free(c);
}

static void test_splits(void)
{
    uint8_t key[32], cb[16], pt[80];
    CK_AES_CTR_PARAMS p;
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, ctr;
    size_t i, lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 64, 79};

    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 5 + 3);
    for (i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 17 + 2);
    /* Low counter byte fa with 8 bits: 6 blocks of room, 79 bytes need 5. */
    memset(cb, 0x11, sizeof(cb));
    cb[15] = 0xfa;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        ctr = ctr_mech(&p, cb, 8);
        check_splits("CTR AES-256 8-bit counter", &ctr, key, 32, pt, lens[i]);
        ctr = ctr_mech(&p, cb, 128);
        check_splits("CTR AES-128", &ctr, key, 16, pt, lens[i]);
        if (lens[i] % 16 == 0) {
            check_splits("ECB AES-256", &ecb, key, 32, pt, lens[i]);
            check_splits("ECB AES-192", &ecb, key, 24, pt, lens[i]);
        }
    }
}

int main(void)
{
    test_start();
    test_kats();
    test_counter_wrap();
    test_params_and_lengths();
    test_splits();
    return test_exit_code();
}
