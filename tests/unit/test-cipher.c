/* test-cipher.c - data-key ciphers: GCM and CBC known answers (McGrew-Viega, SP 800-38A),
 * multi-part in every split against one-shot, length functions against real output, errors.
 * ECB and CTR: test-cipher-modes.c, with the helpers shared through cipher-test.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tests/test.h"
#include "module/codec.h"
#include "module/cipher.h"
#include "tests/unit/cipher-test.h"

static CK_MECHANISM gcm_mech(CK_GCM_PARAMS *p, const uint8_t *iv, size_t iv_len, const uint8_t *aad,
                             size_t aad_len, unsigned tag_bits)
{
    CK_MECHANISM m = {CKM_AES_GCM, p, sizeof(*p)};

    memset(p, 0, sizeof(*p));
    p->pIv = (CK_BYTE_PTR)iv;
    p->ulIvLen = iv_len;
    p->ulIvBits = iv_len * 8;
    p->pAAD = (CK_BYTE_PTR)aad;
    p->ulAADLen = aad_len;
    p->ulTagBits = tag_bits;
    return m;
}

struct gcm_kat {
    const char *name, *key, *iv, *pt, *aad, *ct, *tag;
};

#define MV_K128 "feffe9928665731c6d6a8f9467308308"
#define MV_P60                                                                                     \
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6" \
    "b525b16aedf5aa0de657ba637b39"
#define MV_AAD "feedfacedeadbeeffeedfacedeadbeefabaddad2"

/* McGrew-Viega "The Galois/Counter Mode of Operation" test cases, checked against
 * python3-cryptography. */
static const struct gcm_kat gcm_kats[] = {
    {"MV2", "00000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"},
    {"MV3", MV_K128, "cafebabefacedbaddecaf888", MV_P60 "1aafd255", "",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84"
     "aa051ba30b396a0aac973d58e091473f5985",
     "4d5c2af327cd64a62cf35abd2ba6fab4"},
    {"MV4", MV_K128, "cafebabefacedbaddecaf888", MV_P60, MV_AAD,
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84"
     "aa051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    {"MV5 (8-byte IV)", MV_K128, "cafebabefacedbad", MV_P60, MV_AAD,
     "61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d489"
     "6b424989b5e1ebac0f07c23f4598",
     "3612d2e79e3b0785561be14aaca2fccb"},
    {"MV6 (60-byte IV)", MV_K128,
     "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b"
     "525416aedbf5a0de6a57a637b39b",
     MV_P60, MV_AAD,
     "8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c"
     "7c6fd62875d2aca417034c34aee5",
     "619cc5aefffe0bfa462af43c1699d050"},
    {"MV10 (AES-192)", MV_K128 "feffe9928665731c", "cafebabefacedbaddecaf888", MV_P60, MV_AAD,
     "3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a"
     "3f4718e2448b2fe324d9ccda2710",
     "2519498e80f1478f37ba55bd6d27618c"},
    {"MV14 (AES-256)", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"MV16 (AES-256)", MV_K128 MV_K128, "cafebabefacedbaddecaf888", MV_P60, MV_AAD,
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b105682"
     "8838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

/* The 2.40 drafts' layout without ulIvBits, which some applications still pass. */
typedef struct {
    CK_BYTE_PTR pIv;
    CK_ULONG ulIvLen;
    CK_BYTE_PTR pAAD;
    CK_ULONG ulAADLen;
    CK_ULONG ulTagBits;
} old_gcm_params;

static void test_gcm_kats(void)
{
    size_t i;

    for (i = 0; i < sizeof(gcm_kats) / sizeof(gcm_kats[0]); i++) {
        const struct gcm_kat *t = &gcm_kats[i];
        uint8_t key[32], iv[64], pt[64], aad[32], want[96], out[MAXBUF];
        size_t kl = unhex(t->key, key, sizeof(key)), ivl = unhex(t->iv, iv, sizeof(iv)),
               pl = unhex(t->pt, pt, sizeof(pt));
        size_t al = unhex(t->aad, aad, sizeof(aad)), cl = unhex(t->ct, want, sizeof(want)), n;
        CK_GCM_PARAMS p;
        CK_MECHANISM m = gcm_mech(&p, iv, ivl, al ? aad : NULL, al, 128);
        old_gcm_params op = {iv, ivl, al ? aad : NULL, al, 128};
        CK_MECHANISM om = {CKM_AES_GCM, &op, sizeof(op)};
        char what[128];

        unhex(t->tag, want + cl, sizeof(want) - cl);
        snprintf(what, sizeof(what), "%s encrypt", t->name);
        is_rv(oneshot(&m, 1, key, kl, pt, pl, out, &n), CKR_OK, what);
        is_num(n, cl + 16, what);
        is_mem(out, want, cl + 16, what);
        snprintf(what, sizeof(what), "%s decrypt", t->name);
        is_rv(oneshot(&m, 0, key, kl, want, cl + 16, out, &n), CKR_OK, what);
        ok(n == pl && memcmp(out, pt, pl) == 0, what);
        snprintf(what, sizeof(what), "%s with the parameter layout without ulIvBits", t->name);
        is_rv(oneshot(&om, 1, key, kl, pt, pl, out, &n), CKR_OK, what);
        ok(n == cl + 16 && memcmp(out, want, n) == 0, what);
    }
}

static void test_gcm_tag_lengths(void)
{
    static const unsigned good[] = {32, 64, 96, 104, 112, 120, 128};
    static const unsigned bad[] = {0, 8, 16, 31, 33, 100, 127, 129, 136, 256};
    uint8_t key[16], iv[12], pt[64], aad[20], full[96], out[MAXBUF], back[MAXBUF];
    size_t kl = unhex(gcm_kats[2].key, key, sizeof(key)),
           pl = unhex(gcm_kats[2].pt, pt, sizeof(pt)), cl, n, i;
    size_t al = unhex(MV_AAD, aad, sizeof(aad));
    CK_GCM_PARAMS p;
    CK_MECHANISM m;
    char what[96];

    unhex(gcm_kats[2].iv, iv, sizeof(iv));
    cl = unhex(gcm_kats[2].ct, full, sizeof(full));
    unhex(gcm_kats[2].tag, full + cl, sizeof(full) - cl);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        m = gcm_mech(&p, iv, 12, aad, al, good[i]);
        snprintf(what, sizeof(what), "%u-bit tag is the truncated full tag", good[i]);
        is_rv(oneshot(&m, 1, key, kl, pt, pl, out, &n), CKR_OK, what);
        ok(n == cl + good[i] / 8 && memcmp(out, full, n) == 0, what);
        snprintf(what, sizeof(what), "%u-bit tag decrypts", good[i]);
        is_rv(oneshot(&m, 0, key, kl, out, n, back, &n), CKR_OK, what);
        ok(n == pl && memcmp(back, pt, pl) == 0, what);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p11kms_cipher *c = NULL;
        m = gcm_mech(&p, iv, 12, NULL, 0, bad[i]);
        snprintf(what, sizeof(what), "%u-bit tag refused", bad[i]);
        is_rv(p11kms_cipher_init(&c, &m, 1, key, kl), CKR_MECHANISM_PARAM_INVALID, what);
        ok(c == NULL, "no object on failure");
    }
}

/* IVs of 1..256 bytes; above 128 bytes the module leaves OpenSSL's GCM provider, so the
 * expected values come from a GCM reference checked against python3-cryptography. */
static void test_gcm_iv_lengths(void)
{
    static const struct {
        size_t iv_len;
        const char *ct, *tag;
    } v[] = {
        {1, "091b47afbecdc2b476175feb3088ad14f0c9c3f06d4f80d4755e97257f5dcba54a79949de9",
         "f70deade23f65765d3bdf2554798e244"},
        {128, "c57f367e101515ac380b755ce136d0cde12520553a15807b857a434c5674b53d3b6f94f7c9",
         "595c4a840b30756a86149af33a8e1f9a"},
        {129, "ca40c5727f4da2d334371f7f54b119ffd209090c134989292f75051e082a04a266b48702fd",
         "fdd29be1935da3b0ac6d5eb79c55c69a"},
        {200, "ddbfecb3dee89163708878410e914c495a64e04a49a80a6ab7eb687d6963be6eda70f84481",
         "932d5436312d333d34b7aef6872687c7"},
        {256, "8468b65480e401a640600c859633aba7996645e6258cc6afac72ab4b5b7dc455077ad3120a",
         "24c67f50f33c20076674fe34f1d0df9f"},
    };
    uint8_t key[32], iv[257], pt[37], aad[20], want[64], out[MAXBUF], back[MAXBUF];
    size_t i, n, cl;
    CK_GCM_PARAMS p;
    CK_MECHANISM m;
    p11kms_cipher *c = NULL;
    char what[96];

    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)i;
    for (i = 0; i < sizeof(iv); i++)
        iv[i] = (uint8_t)(i * 7 + 1);
    for (i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(100 + i);
    for (i = 0; i < sizeof(aad); i++)
        aad[i] = (uint8_t)(200 + i);
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cl = unhex(v[i].ct, want, sizeof(want));
        unhex(v[i].tag, want + cl, sizeof(want) - cl);
        m = gcm_mech(&p, iv, v[i].iv_len, aad, sizeof(aad), 128);
        snprintf(what, sizeof(what), "%zu-byte IV encrypt", v[i].iv_len);
        is_rv(oneshot(&m, 1, key, 32, pt, sizeof(pt), out, &n), CKR_OK, what);
        ok(n == cl + 16 && memcmp(out, want, n) == 0, what);
        snprintf(what, sizeof(what), "%zu-byte IV decrypt", v[i].iv_len);
        is_rv(oneshot(&m, 0, key, 32, want, cl + 16, back, &n), CKR_OK, what);
        ok(n == sizeof(pt) && memcmp(back, pt, n) == 0, what);
        out[3] ^= 1;
        snprintf(what, sizeof(what), "%zu-byte IV: tampered ciphertext refused", v[i].iv_len);
        is_rv(oneshot(&m, 0, key, 32, out, cl + 16, back, &n), CKR_ENCRYPTED_DATA_INVALID, what);
    }
    m = gcm_mech(&p, iv, 257, NULL, 0, 128);
    is_rv(p11kms_cipher_init(&c, &m, 1, key, 32), CKR_MECHANISM_PARAM_INVALID, "257-byte IV");
    m = gcm_mech(&p, iv, 0, NULL, 0, 128);
    is_rv(p11kms_cipher_init(&c, &m, 1, key, 32), CKR_MECHANISM_PARAM_INVALID, "empty IV");
    m = gcm_mech(&p, NULL, 12, NULL, 0, 128);
    is_rv(p11kms_cipher_init(&c, &m, 1, key, 32), CKR_MECHANISM_PARAM_INVALID, "NULL IV");
    m = gcm_mech(&p, iv, 12, NULL, 5, 128);
    is_rv(p11kms_cipher_init(&c, &m, 1, key, 32), CKR_MECHANISM_PARAM_INVALID, "NULL AAD, len 5");
    ok(c == NULL, "no object after failed inits");
}

static void test_cbc_kats(void)
{
    static const char *sp_p = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
                              "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
    static const struct {
        const char *name, *key, *ct;
    } sp[] = {
        {"SP 800-38A F.2.1 CBC-AES128", "2b7e151628aed2a6abf7158809cf4f3c",
         "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
         "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"},
        {"SP 800-38A F.2.5 CBC-AES256",
         "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
         "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
         "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
    };
    /* PKCS#7-padded prefixes of the SP 800-38A plaintext, python3-cryptography. */
    static const struct {
        size_t n;
        const char *ct;
    } pad[] = {
        {0, "7e9248e5d829ca7593f0c549db2f5b8c"},
        {5, "117fb057f4728629cee1de6a7afe3370"},
        {16, "f58c4c04d6e5f1ba779eabfb5f7bfbd6485a5c81519cf378fa36d42b8547edc0"},
        {33, "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
             "36ef6256aad173030b87c30292b05684"},
    };
    uint8_t iv[16], key[32], pt[64], want[80], out[MAXBUF];
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, sizeof(iv)}, cbcpad = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    size_t i, kl, cl, n;
    char what[96];

    unhex("000102030405060708090a0b0c0d0e0f", iv, sizeof(iv));
    unhex(sp_p, pt, sizeof(pt));
    for (i = 0; i < 2; i++) {
        kl = unhex(sp[i].key, key, sizeof(key));
        cl = unhex(sp[i].ct, want, sizeof(want));
        snprintf(what, sizeof(what), "%s encrypt", sp[i].name);
        is_rv(oneshot(&cbc, 1, key, kl, pt, 64, out, &n), CKR_OK, what);
        ok(n == cl && memcmp(out, want, cl) == 0, what);
        snprintf(what, sizeof(what), "%s decrypt", sp[i].name);
        is_rv(oneshot(&cbc, 0, key, kl, want, cl, out, &n), CKR_OK, what);
        ok(n == 64 && memcmp(out, pt, 64) == 0, what);
    }
    for (i = 0; i < sizeof(pad) / sizeof(pad[0]); i++) {
        cl = unhex(pad[i].ct, want, sizeof(want));
        snprintf(what, sizeof(what), "CBC-PAD AES-256 of %zu bytes encrypt", pad[i].n);
        is_rv(oneshot(&cbcpad, 1, key, kl, pt, pad[i].n, out, &n), CKR_OK, what);
        ok(n == cl && memcmp(out, want, cl) == 0, what);
        snprintf(what, sizeof(what), "CBC-PAD AES-256 of %zu bytes decrypt", pad[i].n);
        is_rv(oneshot(&cbcpad, 0, key, kl, want, cl, out, &n), CKR_OK, what);
        ok(n == pad[i].n && memcmp(out, pt, n) == 0, what);
    }
}

static void test_multipart(void)
{
    uint8_t key[32], iv[200], aad[40], pt[80];
    CK_GCM_PARAMS p;
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16}, cbcpad = {CKM_AES_CBC_PAD, iv, 16}, gcm;
    size_t i, lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 64, 79};

    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 3);
    for (i = 0; i < sizeof(iv); i++)
        iv[i] = (uint8_t)(i ^ 0x5a);
    for (i = 0; i < sizeof(aad); i++)
        aad[i] = (uint8_t)(i + 9);
    for (i = 0; i < sizeof(pt); i++)
        pt[i] = (uint8_t)(i * 11 + 1);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        gcm = gcm_mech(&p, iv, 12, aad, sizeof(aad), 128);
        check_splits("GCM AES-256", &gcm, key, 32, pt, lens[i]);
        gcm = gcm_mech(&p, iv, 12, NULL, 0, 96);
        check_splits("GCM AES-128 96-bit tag", &gcm, key, 16, pt, lens[i]);
        gcm = gcm_mech(&p, iv, 200, aad, 7, 128);
        check_splits("GCM AES-192 200-byte IV", &gcm, key, 24, pt, lens[i]);
        check_splits("CBC-PAD AES-256", &cbcpad, key, 32, pt, lens[i]);
        check_splits("CBC-PAD AES-128", &cbcpad, key, 16, pt, lens[i]);
        if (lens[i] % 16 == 0)
            check_splits("CBC AES-256", &cbc, key, 32, pt, lens[i]);
    }
}

static void test_errors(void)
{
    uint8_t key[32] = {1}, iv[16] = {2}, in[64] = {3}, out[MAXBUF], ct[MAXBUF];
    CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16}, cbcpad = {CKM_AES_CBC_PAD, iv, 16};
    CK_MECHANISM ofb = {CKM_AES_OFB, NULL, 0}, nullp = {CKM_AES_CBC, NULL, 16};
    CK_MECHANISM shortiv = {CKM_AES_CBC_PAD, iv, 8}, gcmnull = {CKM_AES_GCM, NULL, 0};
    CK_GCM_PARAMS p;
    CK_MECHANISM gcm = gcm_mech(&p, iv, 12, NULL, 0, 128), gcmlen = {CKM_AES_GCM, &p, 44};
    static const size_t bad_keys[] = {0, 1, 15, 17, 23, 25, 31, 33, 64};
    p11kms_cipher *c = NULL;
    size_t i, n, ct_len;
    char what[64];

    ok(p11kms_cipher_supports(CKM_AES_GCM) && p11kms_cipher_supports(CKM_AES_CBC) &&
           p11kms_cipher_supports(CKM_AES_CBC_PAD) && p11kms_cipher_supports(CKM_AES_ECB) &&
           p11kms_cipher_supports(CKM_AES_CTR),
       "supports GCM, CBC, CBC-PAD, ECB, CTR");
    ok(!p11kms_cipher_supports(CKM_AES_OFB) && !p11kms_cipher_supports(CKM_AES_KEY_WRAP) &&
           !p11kms_cipher_supports(CKM_AES_CMAC) && !p11kms_cipher_supports(CKM_P11KMS_ENVELOPE),
       "does not claim OFB, key wrap, CMAC, the envelope");
    is_rv(p11kms_cipher_init(&c, &ofb, 1, key, 32), CKR_MECHANISM_INVALID, "OFB refused");
    is_rv(p11kms_cipher_init(&c, NULL, 1, key, 32), CKR_MECHANISM_INVALID, "NULL mechanism");
    is_rv(p11kms_cipher_init(&c, &nullp, 1, key, 32), CKR_MECHANISM_PARAM_INVALID, "CBC NULL IV");
    is_rv(p11kms_cipher_init(&c, &shortiv, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "CBC 8-byte IV");
    is_rv(p11kms_cipher_init(&c, &gcmnull, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "GCM without parameter");
    is_rv(p11kms_cipher_init(&c, &gcmlen, 1, key, 32), CKR_MECHANISM_PARAM_INVALID,
          "GCM parameter of a wrong size");
    for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        snprintf(what, sizeof(what), "%zu-byte key refused", bad_keys[i]);
        is_rv(p11kms_cipher_init(&c, &gcm, 1, key, bad_keys[i]), CKR_KEY_SIZE_RANGE, what);
    }
    is_rv(p11kms_cipher_init(&c, &gcm, 1, NULL, 32), CKR_KEY_SIZE_RANGE, "NULL key");
    ok(c == NULL, "nothing allocated on failed init");

    /* CBC without padding: whole blocks only. */
    is_rv(oneshot(&cbc, 1, key, 32, in, 17, out, &n), CKR_DATA_LEN_RANGE, "CBC encrypt 17 bytes");
    is_rv(oneshot(&cbc, 0, key, 32, in, 31, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "CBC decrypt 31 bytes");
    is_rv(p11kms_cipher_init(&c, &cbc, 1, key, 32), CKR_OK, "CBC init");
    is_rv(p11kms_cipher_update(c, in, 20, out, &n), CKR_OK, "CBC update 20 bytes");
    is_num(n, 16, "one block out, 4 bytes held");
    is_num(p11kms_cipher_final_len(c), 0, "CBC final_len 0");
    is_rv(p11kms_cipher_final(c, out, &n), CKR_DATA_LEN_RANGE, "CBC final with 4 bytes held");
    is_rv(p11kms_cipher_final(c, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "the failed operation is over");
    p11kms_cipher_free(c);
    c = NULL;

    /* CBC-PAD decryption: length and padding. */
    is_rv(oneshot(&cbcpad, 0, key, 32, in, 0, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "CBC-PAD decrypt of nothing");
    is_rv(oneshot(&cbcpad, 0, key, 32, in, 20, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "CBC-PAD decrypt of 20 bytes");
    /* A last block whose padding is wrong: encrypt without padding a block ending in 0x00. */
    memset(in, 0x41, sizeof(in));
    in[47] = 0;
    is_rv(oneshot(&cbc, 1, key, 32, in, 48, ct, &ct_len), CKR_OK, "CBC encrypt 48 bytes");
    memset(out, 0xee, sizeof(out));
    is_rv(oneshot(&cbcpad, 0, key, 32, ct, ct_len, out, &n), CKR_ENCRYPTED_DATA_INVALID,
          "CBC-PAD decrypt with bad padding");
    for (i = 0; i < 32 && out[i] == 0; i++)
        ;
    is_num(i, 32, "the blocks before the bad padding are wiped");
    in[47] = 17;
    oneshot(&cbc, 1, key, 32, in, 48, ct, &ct_len);
    is_rv(oneshot(&cbcpad, 0, key, 32, ct, ct_len, out, &n), CKR_ENCRYPTED_DATA_INVALID,
          "CBC-PAD padding byte 17 refused");
    in[47] = 2;
    in[46] = 3;
    oneshot(&cbc, 1, key, 32, in, 48, ct, &ct_len);
    is_rv(oneshot(&cbcpad, 0, key, 32, ct, ct_len, out, &n), CKR_ENCRYPTED_DATA_INVALID,
          "CBC-PAD inconsistent padding refused");
    in[46] = 2;
    oneshot(&cbc, 1, key, 32, in, 48, ct, &ct_len);
    is_rv(oneshot(&cbcpad, 0, key, 32, ct, ct_len, out, &n), CKR_OK, "CBC-PAD 02 02 accepted");
    is_num(n, 46, "two padding bytes removed");

    /* GCM decryption: the tag guards every byte. */
    is_rv(oneshot(&gcm, 1, key, 32, in, 40, ct, &ct_len), CKR_OK, "GCM encrypt");
    for (i = 0; i < ct_len; i += 7) {
        int wiped = 1;
        size_t k;
        ct[i] ^= 0x80;
        memset(out, 0xee, sizeof(out));
        if (oneshot(&gcm, 0, key, 32, ct, ct_len, out, &n) != CKR_ENCRYPTED_DATA_INVALID)
            break;
        for (k = 0; k < 40; k++)
            wiped &= out[k] == 0;
        ct[i] ^= 0x80;
        if (!wiped)
            break;
    }
    ok(i >= ct_len, "GCM: any flipped bit refused and the output wiped");
    is_rv(oneshot(&gcm, 0, key, 32, ct, 15, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "GCM decrypt shorter than the tag");
    is_rv(oneshot(&gcm, 0, key, 16, ct, ct_len, out, &n), CKR_ENCRYPTED_DATA_INVALID,
          "GCM decrypt with another key");
    /* Multi-part: update releases nothing, final checks the tag. */
    is_rv(p11kms_cipher_init(&c, &gcm, 0, key, 32), CKR_OK, "GCM decrypt init");
    ct[3] ^= 1;
    memset(out, 0xee, sizeof(out));
    is_rv(p11kms_cipher_update(c, ct, ct_len, out, &n), CKR_OK, "GCM decrypt update");
    ok(n == 0 && out[0] == 0xee, "update writes nothing");
    is_num(p11kms_cipher_final_len(c), 40, "final_len is the plaintext length");
    is_rv(p11kms_cipher_final(c, out, &n), CKR_ENCRYPTED_DATA_INVALID, "final refuses the tag");
    ok(n == 0 && out[0] == 0 && out[39] == 0, "final wiped what it decrypted");
    ct[3] ^= 1;
    is_rv(p11kms_cipher_update(c, ct, 5, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "update after a failed final");
    is_rv(p11kms_cipher_oneshot(c, ct, ct_len, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "one-shot after a failed final");
    is_rv(p11kms_cipher_reinit(c, &gcm, 0, key, 32), CKR_OK, "reinit after the failure");
    is_rv(p11kms_cipher_oneshot(c, ct, ct_len, out, &n), CKR_OK, "and the object works again");
    ok(n == 40 && memcmp(out, in, 40) == 0, "plaintext back");
    is_rv(p11kms_cipher_reinit(c, &gcm, 1, key, 32), CKR_OK, "reinit encrypt");
    is_rv(p11kms_cipher_update(c, in, 5, out, &n), CKR_OK, "update");
    is_rv(p11kms_cipher_oneshot(c, in, 5, out, &n), CKR_OPERATION_ACTIVE,
          "one-shot after update refused");
    is_rv(p11kms_cipher_reinit(c, &ofb, 1, key, 32), CKR_MECHANISM_INVALID, "bad reinit");
    is_rv(p11kms_cipher_update(c, in, 5, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "a failed reinit leaves no operation");
    p11kms_cipher_free(c);
    p11kms_cipher_free(NULL);
}

/* The 64 MiB bound on what GCM decryption buffers before its tag is checked. */
static void test_gcm_buffer_bound(void)
{
    uint8_t key[32] = {0}, iv[12] = {0}, out[16];
    CK_GCM_PARAMS p;
    CK_MECHANISM gcm = gcm_mech(&p, iv, 12, NULL, 0, 128);
    size_t chunk = 1024 * 1024, i, n;
    uint8_t *big = calloc(1, chunk);
    p11kms_cipher *c = NULL;
    CK_RV rv = CKR_OK;

    is_rv(p11kms_cipher_init(&c, &gcm, 0, key, 32), CKR_OK, "GCM decrypt init");
    for (i = 0; i < 64 && rv == CKR_OK; i++)
        rv = p11kms_cipher_update(c, big, chunk, out, &n);
    is_rv(rv, CKR_OK, "64 MiB buffered");
    is_rv(p11kms_cipher_update(c, big, 1, out, &n), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "one byte more refused");
    is_rv(p11kms_cipher_update(c, big, 1, out, &n), CKR_OPERATION_NOT_INITIALIZED,
          "and the operation is over");
    p11kms_cipher_free(c);
    free(big);
}

/* Reusing one object across mechanisms, key sizes and IV lengths gives the fresh results. */
static void test_reinit(void)
{
    uint8_t k[32], iv[64], pt[50], want[MAXBUF], out[MAXBUF];
    CK_GCM_PARAMS ps[4]; /* each mechanism keeps its own parameter */
    CK_MECHANISM m[6];
    size_t kl[6] = {32, 32, 16, 32, 24, 32}, i, round, n, wn;
    p11kms_cipher *c = NULL;
    int same = 1;

    for (i = 0; i < sizeof(k); i++)
        k[i] = (uint8_t)(0xa0 + i);
    for (i = 0; i < sizeof(iv); i++)
        iv[i] = (uint8_t)i;
    memset(pt, 0x33, sizeof(pt));
    m[0] = gcm_mech(&ps[0], iv, 12, NULL, 0, 128);
    m[1] = gcm_mech(&ps[1], iv, 16, iv, 20, 128);
    m[2] = gcm_mech(&ps[2], iv, 12, NULL, 0, 64);
    m[3] = (CK_MECHANISM){CKM_AES_CBC_PAD, iv, 16};
    m[4] = gcm_mech(&ps[3], iv, 60, NULL, 0, 128);
    m[5] = (CK_MECHANISM){CKM_AES_CBC, iv, 16};
    is_rv(p11kms_cipher_init(&c, &m[0], 1, k, 32), CKR_OK, "init");
    for (round = 0; round < 3; round++) {
        for (i = 0; i < 6; i++) {
            int enc = (int)((i + round) % 2);
            size_t len = m[i].mechanism == CKM_AES_CBC ? 48 : 50;
            uint8_t in[MAXBUF];

            /* Decryption input: a fresh encryption of pt. */
            if (!enc)
                oneshot(&m[i], 1, k, kl[i], pt, len, in, &len);
            else
                memcpy(in, pt, len);
            oneshot(&m[i], enc, k, kl[i], in, len, want, &wn);
            if (p11kms_cipher_reinit(c, &m[i], enc, k, kl[i]) != CKR_OK ||
                p11kms_cipher_oneshot(c, in, len, out, &n) != CKR_OK || n != wn ||
                memcmp(out, want, n) != 0)
                same = 0;
        }
    }
    ok(same, "reinit through GCM/CBC, 128/192/256-bit keys, IV lengths 12/16/60");

    /* The object keeps the key schedule for the same key and direction: another key, or the
     * other direction (AES decryption has its own schedule), must not reuse it. */
    {
        uint8_t k2[32], ct[MAXBUF];
        size_t ct_len;
        int fine = 1;

        memcpy(k2, k, sizeof(k2));
        k2[31] ^= 1;
        for (i = 0; i < 6; i++) {
            size_t len = m[i].mechanism == CKM_AES_CBC ? 48 : 50;

            oneshot(&m[i], 1, k2, kl[i], pt, len, want, &wn);
            fine &= p11kms_cipher_reinit(c, &m[i], 1, k, kl[i]) == CKR_OK &&
                    p11kms_cipher_oneshot(c, pt, len, ct, &ct_len) == CKR_OK;
            fine &= p11kms_cipher_reinit(c, &m[i], 1, k2, kl[i]) == CKR_OK &&
                    p11kms_cipher_oneshot(c, pt, len, out, &n) == CKR_OK && n == wn &&
                    memcmp(out, want, n) == 0;
            fine &= p11kms_cipher_reinit(c, &m[i], 1, k, kl[i]) == CKR_OK &&
                    p11kms_cipher_oneshot(c, pt, len, out, &n) == CKR_OK && n == ct_len &&
                    memcmp(out, ct, n) == 0;
            fine &= p11kms_cipher_reinit(c, &m[i], 0, k, kl[i]) == CKR_OK &&
                    p11kms_cipher_oneshot(c, ct, ct_len, out, &n) == CKR_OK && n == len &&
                    memcmp(out, pt, n) == 0;
        }
        ok(fine, "same object: key A, key B, key A again, then decrypt with A");
    }
    p11kms_cipher_free(c);
}

static void test_in_place(void)
{
    uint8_t key[32] = {7}, iv[12] = {8}, buf[64 + 16], orig[64];
    CK_GCM_PARAMS p;
    CK_MECHANISM gcm = gcm_mech(&p, iv, 12, NULL, 0, 128);
    size_t n;

    memset(orig, 0x5c, sizeof(orig));
    memcpy(buf, orig, sizeof(orig));
    is_rv(oneshot(&gcm, 1, key, 32, buf, 64, buf, &n), CKR_OK, "GCM encrypt in place");
    is_rv(oneshot(&gcm, 0, key, 32, buf, n, buf, &n), CKR_OK, "GCM decrypt in place");
    ok(n == 64 && memcmp(buf, orig, 64) == 0, "in-place round trip");
}

int main(void)
{
    test_start();
    test_gcm_kats();
    test_gcm_tag_lengths();
    test_gcm_iv_lengths();
    test_cbc_kats();
    test_multipart();
    test_errors();
    test_gcm_buffer_bound();
    test_reinit();
    test_in_place();
    return test_exit_code();
}
