/* test-cipher-modes.c - the data-key ECB and CTR modes: NIST SP 800-38A known answers, the CTR
 * counter that must not wrap within its bits, parameters, lengths, and every multi-part split
 * against one-shot. */
#include <openssl/evp.h>
#include "tests/kat.h"
#include "tests/unit/cipher-test.h"

static CK_MECHANISM ctr_mech(CK_AES_CTR_PARAMS *p, const uint8_t cb[16], CK_ULONG bits)
{
    CK_MECHANISM m = {CKM_AES_CTR, p, sizeof(*p)};

    p->ulCounterBits = bits;
    memcpy(p->cb, cb, 16);
    return m;
}

/* SP 800-38A F.1 and F.5 (tests/kat.h), both directions; CTR also with 32 counter bits, which
 * the example's counter block (low byte fc..ff) never wraps. */
static void test_kats(void)
{
    uint8_t key[32], iv[16], pt[64], ct[64], out[MAXBUF];
    CK_AES_CTR_PARAMS cp;
    CK_MECHANISM m;
    size_t i, kl, pl, n;
    char what[128];

    for (i = 0; i < KAT_N_CIPHERS; i++) {
        const struct kat_cipher *v = &kat_ciphers[i];

        kl = unhex(v->key, key, sizeof(key));
        unhex(v->iv, iv, sizeof(iv));
        pl = unhex(v->pt, pt, sizeof(pt));
        unhex(v->ct, ct, sizeof(ct));
        if (v->mech == CKM_AES_ECB)
            m = (CK_MECHANISM){CKM_AES_ECB, NULL, 0};
        else
            m = ctr_mech(&cp, iv, 128);
        snprintf(what, sizeof(what), "%s encrypt", v->source);
        is_rv(oneshot(&m, 1, key, kl, pt, pl, out, &n), CKR_OK, what);
        ok(n == pl && memcmp(out, ct, pl) == 0, what);
        snprintf(what, sizeof(what), "%s decrypt", v->source);
        is_rv(oneshot(&m, 0, key, kl, ct, pl, out, &n), CKR_OK, what);
        ok(n == pl && memcmp(out, pt, pl) == 0, what);
        if (v->mech != CKM_AES_CTR)
            continue;
        m = ctr_mech(&cp, iv, 32);
        snprintf(what, sizeof(what), "%s with 32 counter bits", v->source);
        is_rv(oneshot(&m, 1, key, kl, pt, pl, out, &n), CKR_OK, what);
        ok(n == pl && memcmp(out, ct, pl) == 0, what);
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
