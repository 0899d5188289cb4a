/* kat.h - published known-answer vectors for the data-key mechanisms, shared by the unit tests
 * and the module tests: NIST SP 800-38A (ECB, CTR), RFC 3394 and RFC 5649 (AES key wrap),
 * RFC 4493 and NIST SP 800-38B (AES-CMAC). Every value was checked against python3-cryptography
 * (an implementation independent of OpenSSL's EVP code) before it was written here. */
#ifndef P11KMS_TEST_KAT_H
#define P11KMS_TEST_KAT_H

#include "pkcs11/p11kms.h"

/* NIST SP 800-38A appendix F: the plaintext of every example, its keys and counter block. */
#define KAT_SP_PT                                                                                  \
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"                             \
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
#define KAT_SP_K128 "2b7e151628aed2a6abf7158809cf4f3c"
#define KAT_SP_K256 "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
#define KAT_SP_CTR_BLOCK "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

/* A cipher example: iv is the CTR initial counter block ("" for ECB); encrypt and decrypt. */
struct kat_cipher {
    const char *source;
    CK_MECHANISM_TYPE mech;
    const char *key, *iv, *pt, *ct;
};

static const struct kat_cipher kat_ciphers[] = {
    {"SP 800-38A F.1.1/F.1.2 ECB-AES128", CKM_AES_ECB, KAT_SP_K128, "", KAT_SP_PT,
     "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"
     "43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"},
    {"SP 800-38A F.1.5/F.1.6 ECB-AES256", CKM_AES_ECB, KAT_SP_K256, "", KAT_SP_PT,
     "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
     "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"},
    {"SP 800-38A F.5.1/F.5.2 CTR-AES128", CKM_AES_CTR, KAT_SP_K128, KAT_SP_CTR_BLOCK, KAT_SP_PT,
     "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
     "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee"},
    {"SP 800-38A F.5.5/F.5.6 CTR-AES256", CKM_AES_CTR, KAT_SP_K256, KAT_SP_CTR_BLOCK, KAT_SP_PT,
     "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
     "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6"},
};
#define KAT_N_CIPHERS (sizeof(kat_ciphers) / sizeof(kat_ciphers[0]))

/* A key-wrap example with the default IV. */
struct kat_wrap {
    const char *source;
    CK_MECHANISM_TYPE mech;
    const char *kek, *key, *wrapped;
};

#define KAT_3394_KEK128 "000102030405060708090a0b0c0d0e0f"
#define KAT_3394_KEK192 KAT_3394_KEK128 "1011121314151617"
#define KAT_3394_KEK256 KAT_3394_KEK192 "18191a1b1c1d1e1f"
#define KAT_3394_KEY128 "00112233445566778899aabbccddeeff"
#define KAT_3394_KEY192 KAT_3394_KEY128 "0001020304050607"
#define KAT_3394_KEY256 KAT_3394_KEY192 "08090a0b0c0d0e0f"
#define KAT_5649_KEK "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"

static const struct kat_wrap kat_wraps[] = {
    {"RFC 3394 4.1 (128-bit key, 128-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK128, KAT_3394_KEY128,
     "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"},
    {"RFC 3394 4.2 (128-bit key, 192-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK192, KAT_3394_KEY128,
     "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d"},
    {"RFC 3394 4.3 (128-bit key, 256-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK256, KAT_3394_KEY128,
     "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"},
    {"RFC 3394 4.4 (192-bit key, 192-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK192, KAT_3394_KEY192,
     "031d33264e15d33268f24ec260743edce1c6c7ddee725a936ba814915c6762d2"},
    {"RFC 3394 4.5 (192-bit key, 256-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK256, KAT_3394_KEY192,
     "a8f9bc1612c68b3ff6e6f4fbe30e71e4769c8b80a32cb8958cd5d17d6b254da1"},
    {"RFC 3394 4.6 (256-bit key, 256-bit KEK)", CKM_AES_KEY_WRAP, KAT_3394_KEK256, KAT_3394_KEY256,
     "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"},
    {"RFC 5649 6 (20 octets, 192-bit KEK)", CKM_AES_KEY_WRAP_KWP, KAT_5649_KEK,
     "c37b7e6492584340bed12207808941155068f738",
     "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
    {"RFC 5649 6 (7 octets, 192-bit KEK)", CKM_AES_KEY_WRAP_KWP, KAT_5649_KEK, "466f7250617369",
     "afbeb0f07dfbf5419200f2ccb50bb24f"},
};
#define KAT_N_WRAPS (sizeof(kat_wraps) / sizeof(kat_wraps[0]))

/* An AES-CMAC example: the message is the first msg_len bytes of KAT_SP_PT. */
struct kat_mac {
    const char *source;
    const char *key;
    size_t msg_len;
    const char *mac;
};

static const struct kat_mac kat_macs[] = {
    {"RFC 4493 4 example 1 (AES-128, empty)", KAT_SP_K128, 0, "bb1d6929e95937287fa37d129b756746"},
    {"RFC 4493 4 example 2 (AES-128, 16 bytes)", KAT_SP_K128, 16,
     "070a16b46b4d4144f79bdd9dd04a287c"},
    {"RFC 4493 4 example 3 (AES-128, 40 bytes)", KAT_SP_K128, 40,
     "dfa66747de9ae63030ca32611497c827"},
    {"RFC 4493 4 example 4 (AES-128, 64 bytes)", KAT_SP_K128, 64,
     "51f0bebf7e3b9d92fc49741779363cfe"},
    {"SP 800-38B D.3 example 9 (AES-256, empty)", KAT_SP_K256, 0,
     "028962f61b7bf89efc6b551f4667d983"},
    {"SP 800-38B D.3 example 10 (AES-256, 16 bytes)", KAT_SP_K256, 16,
     "28a7023f452e8f82bd4bf28d8c37c35c"},
    {"SP 800-38B D.3 example 11 (AES-256, 40 bytes)", KAT_SP_K256, 40,
     "aaf3d8f1de5640c232f5b169b9c911e6"},
    {"SP 800-38B D.3 example 12 (AES-256, 64 bytes)", KAT_SP_K256, 64,
     "e1992190549f6ed5696a2c056c315410"},
};
#define KAT_N_MACS (sizeof(kat_macs) / sizeof(kat_macs[0]))

#endif
