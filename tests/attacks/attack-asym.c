/* attack-asym.c - the private key of an asymmetric KMS key never comes out and signs only what a
 * KMS signs: its private parts cannot be read, searched for, set readable, copied, wrapped or
 * destroyed; it refuses raw RSA, PKCS#1 v1.5 decryption and uses its permissions do not give;
 * and no forged, changed or foreign signature passes C_Verify. The asymmetric keys are local key
 * files whatever P11KMS_ATTACK_BACKEND says (they sit beside that backend's envelope keys). */
#include <openssl/rsa.h>
#include "tests/attacks/attack.h"
#include "tests/module/asym-keys.h"

static EVP_PKEY *ec_key, *other_ec, *rsa_key;

static const char *extra_keys(void)
{
    static char text[2048];
    char *ec = asym_write_key("ec.pem", ec_key), *rsa = asym_write_key("rsa.pem", rsa_key);

    snprintf(text, sizeof(text),
             ",\n  {\"label\": \"ec\", \"backend\": \"local\", \"type\": \"ec-p256\", "
             "\"key_file\": \"%s\"},\n"
             "  {\"label\": \"rsa\", \"backend\": \"local\", \"type\": \"rsa-2048\", "
             "\"key_file\": \"%s\"},\n"
             "  {\"label\": \"rsa-decrypt\", \"backend\": \"local\", \"type\": \"rsa-2048\", "
             "\"key_file\": \"%s\", \"permissions\": [\"decrypt\"]}",
             ec, rsa, rsa);
    return text;
}

static void try_read(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE rsa)
{
    static const CK_ATTRIBUTE_TYPE parts[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1,
                                              CKA_PRIME_2,          CKA_EXPONENT_1,
                                              CKA_EXPONENT_2,       CKA_COEFFICIENT};
    uint8_t v[1024];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
    int all = 1;
    size_t i;

    is_rv(p11->C_GetAttributeValue(s, ec, &a, 1), CKR_ATTRIBUTE_SENSITIVE,
          "CKA_VALUE (the private scalar) of an EC private key is sensitive");
    ok(a.ulValueLen == CK_UNAVAILABLE_INFORMATION, "  ...and no length is given out");
    a.pValue = NULL;
    is_rv(p11->C_GetAttributeValue(s, ec, &a, 1), CKR_ATTRIBUTE_SENSITIVE,
          "  ...nor by a length query");
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        CK_ATTRIBUTE p = {parts[i], v, sizeof(v)};

        all &= p11->C_GetAttributeValue(s, rsa, &p, 1) == CKR_ATTRIBUTE_SENSITIVE &&
               p.ulValueLen == CK_UNAVAILABLE_INFORMATION;
    }
    ok(all, "every private part of an RSA key (d, p, q, dP, dQ, qInv) is sensitive");
}

/* A search that matches the real private exponent would be an oracle for it. */
static void try_find(CK_SESSION_HANDLE s)
{
    BIGNUM *d = NULL;
    uint8_t db[512];
    int dl;
    CK_OBJECT_HANDLE h[4];
    CK_ULONG n = 99;

    EVP_PKEY_get_bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_D, &d);
    dl = BN_bn2bin(d, db);
    BN_clear_free(d);
    {
        CK_ATTRIBUTE t[] = {{CKA_PRIVATE_EXPONENT, db, (CK_ULONG)dl}};

        ok(p11->C_FindObjectsInit(s, t, 1) == CKR_OK && p11->C_FindObjects(s, h, 4, &n) == CKR_OK,
           "C_FindObjects by the true private exponent runs");
        p11->C_FindObjectsFinal(s);
        is_num(n, 0, "  ...and matches nothing: no search oracle for private parts");
    }
    OPENSSL_cleanse(db, sizeof(db));
}

static void try_weaken(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE rsa_dec,
                       CK_OBJECT_HANDLE ec_pub)
{
    CK_ATTRIBUTE flip[] = {
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},
    };
    CK_ATTRIBUTE sign = {CKA_SIGN, &p11_true, sizeof(CK_BBOOL)};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;

    ok(p11->C_SetAttributeValue(s, ec, &flip[0], 1) != CKR_OK, "CKA_SENSITIVE=false refused");
    ok(p11->C_SetAttributeValue(s, ec, &flip[1], 1) != CKR_OK, "CKA_EXTRACTABLE=true refused");
    ok(p11->C_SetAttributeValue(s, rsa_dec, &sign, 1) != CKR_OK,
       "CKA_SIGN=true on a decrypt-only key refused");
    ok(p11->C_SetAttributeValue(s, ec_pub, &sign, 1) != CKR_OK,
       "CKA_SIGN=true on a public key refused");
    ok(p11->C_CopyObject(s, ec, flip, 2, &copy) != CKR_OK,
       "C_CopyObject of a private key into a readable one refused");
    ok(copy == CK_INVALID_HANDLE, "  ...and no object was made");
    ok(p11->C_DestroyObject(s, ec) != CKR_OK, "C_DestroyObject of a private key refused");
    ok(p11->C_DestroyObject(s, ec_pub) != CKR_OK, "C_DestroyObject of its public key refused");
}

static void try_wrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE rsa_pub)
{
    CK_OBJECT_HANDLE kms = p11_find_label(s, "kms"), dk = attack_secret(s, 32, CK_TRUE, CK_TRUE);
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    uint8_t out[8192];
    CK_ULONG len = sizeof(out);

    ok(p11->C_WrapKey(s, &env, kms, ec, out, &len) != CKR_OK,
       "C_WrapKey of a private key under a KMS key refused");
    len = sizeof(out);
    ok(p11->C_WrapKey(s, &kwp, dk, ec, out, &len) != CKR_OK,
       "C_WrapKey of a private key under a data key (AES-KWP) refused");
    len = sizeof(out);
    ok(p11->C_WrapKey(s, &oaep, rsa_pub, dk, out, &len) != CKR_OK,
       "C_WrapKey with an RSA public key refused (no wrapping mechanism for it)");
    len = sizeof(out);
    ok(p11->C_WrapKey(s, &oaep, rsa_pub, ec, out, &len) != CKR_OK,
       "C_WrapKey of a private key under its own kind of public key refused");
}

/* Mechanisms that would turn the private key into a raw RSA oracle or use it beyond its
 * permissions. */
static void try_misuse(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE rsa_dec,
                       CK_OBJECT_HANDLE ec)
{
    CK_MECHANISM x509 = {CKM_RSA_X_509, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0},
                 sha = {CKM_SHA256_RSA_PKCS, NULL, 0}, ecdsa = {CKM_ECDSA, NULL, 0};
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    uint8_t crafted[256], sig[512];
    CK_ULONG len = sizeof(sig);

    is_rv(p11->C_SignInit(s, &x509, rsa), CKR_MECHANISM_INVALID, "raw RSA signing refused");
    is_rv(p11->C_DecryptInit(s, &x509, rsa_dec), CKR_MECHANISM_INVALID,
          "raw RSA decryption refused");
    is_rv(p11->C_DecryptInit(s, &pkcs, rsa_dec), CKR_MECHANISM_INVALID,
          "PKCS#1 v1.5 decryption refused (a padding oracle)");
    /* a would-be ciphertext given to CKM_RSA_PKCS signing: only a DigestInfo is signed */
    memset(crafted, 0x41, sizeof(crafted));
    ok(p11->C_SignInit(s, &pkcs, rsa) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
    is_rv(p11->C_Sign(s, crafted, 100, sig, &len), CKR_DATA_INVALID,
          "CKM_RSA_PKCS signing of bytes that are no DigestInfo refused");
    /* a DigestInfo with extra bytes after the digest */
    {
        static const uint8_t di[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
        memcpy(crafted, di, sizeof(di));
        len = sizeof(sig);
        ok(p11->C_SignInit(s, &pkcs, rsa) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
        is_rv(p11->C_Sign(s, crafted, sizeof(di) + 33, sig, &len), CKR_DATA_INVALID,
              "  ...nor a DigestInfo with a byte too many");
    }
    is_rv(p11->C_SignInit(s, &sha, rsa_dec), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a decrypt-only key does not sign");
    is_rv(p11->C_DecryptInit(s, &oaep, rsa), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a sign-only key does not decrypt");
    is_rv(p11->C_DecryptInit(s, &oaep, ec), CKR_KEY_TYPE_INCONSISTENT,
          "an EC key does not decrypt");
    is_rv(p11->C_SignInit(s, &ecdsa, rsa), CKR_KEY_TYPE_INCONSISTENT, "ECDSA with an RSA key");
    /* CKM_P11KMS_REWRAP opens an envelope in the KMS: an asymmetric key has none, and its KMS
     * decryption must stay RSA-OAEP of exactly one modulus-long ciphertext */
    {
        CK_MECHANISM rw = {CKM_P11KMS_REWRAP, NULL, 0};

        is_rv(p11->C_EncryptInit(s, &rw, rsa_dec), CKR_MECHANISM_INVALID,
              "CKM_P11KMS_REWRAP with an RSA decryption key refused");
        is_rv(p11->C_EncryptInit(s, &rw, ec), CKR_MECHANISM_INVALID,
              "CKM_P11KMS_REWRAP with an EC key refused");
        is_rv(p11->C_DecryptInit(s, &rw, rsa_dec), CKR_MECHANISM_INVALID,
              "  ...nor as a decryption");
    }
    {
        CK_ECDH1_DERIVE_PARAMS dp = {CKD_NULL, 0, NULL, 0, NULL};
        CK_MECHANISM ecdh = {CKM_ECDH1_DERIVE, &dp, sizeof(dp)};
        CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;

        ok(p11->C_DeriveKey(s, &ecdh, ec, NULL, 0, &out) != CKR_OK && out == CK_INVALID_HANDLE,
           "C_DeriveKey (ECDH) with an EC private key refused");
    }
}

/* What must never pass C_Verify. */
static void try_forge(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec_pub, CK_OBJECT_HANDLE rsa_pub,
                      CK_OBJECT_HANDLE ec)
{
    CK_MECHANISM raw = {CKM_ECDSA, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0},
                 sha = {CKM_SHA256_RSA_PKCS, NULL, 0};
    static const uint8_t order[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                      0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
    uint8_t digest[32], sig[512], der[200], *p;
    CK_ULONG len = sizeof(sig);
    size_t dl = sizeof(der), n;
    EVP_PKEY_CTX *ctx;
    ECDSA_SIG *es;
    const BIGNUM *r, *sv;

    memset(digest, 0x33, sizeof(digest));
    /* a real signature of another key */
    ctx = EVP_PKEY_CTX_new(other_ec, NULL);
    EVP_PKEY_sign_init(ctx);
    EVP_PKEY_sign(ctx, der, &dl, digest, 32);
    EVP_PKEY_CTX_free(ctx);
    p = der;
    es = d2i_ECDSA_SIG(NULL, (const unsigned char **)&p, (long)dl);
    ECDSA_SIG_get0(es, &r, &sv);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(sv, sig + 32, 32);
    ECDSA_SIG_free(es);
    ok(p11->C_VerifyInit(s, &raw, ec_pub) == CKR_OK, "C_VerifyInit CKM_ECDSA");
    is_rv(p11->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID,
          "another key's signature does not verify");
    /* r = n, s = 1: out of range */
    memcpy(sig, order, 32);
    memset(sig + 32, 0, 32);
    sig[63] = 1;
    ok(p11->C_VerifyInit(s, &raw, ec_pub) == CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID, "r = n does not verify");
    /* a real signature, then the digest changed */
    len = sizeof(sig);
    ok(p11->C_SignInit(s, &raw, ec) == CKR_OK && p11->C_Sign(s, digest, 32, sig, &len) == CKR_OK,
       "a real signature");
    digest[0] ^= 1;
    ok(p11->C_VerifyInit(s, &raw, ec_pub) == CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID,
          "  ...does not verify over another digest");
    digest[0] ^= 1;
    ok(p11->C_VerifyInit(s, &raw, ec_pub) == CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, digest, 32, sig, 65), CKR_SIGNATURE_LEN_RANGE,
          "  ...nor with a byte appended");

    /* RSA: a signature that is the modulus itself, and all 0xff */
    {
        BIGNUM *mod = NULL;

        EVP_PKEY_get_bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_N, &mod);
        n = (size_t)BN_bn2binpad(mod, sig, 256);
        BN_free(mod);
    }
    ok(n == 256 && p11->C_VerifyInit(s, &sha, rsa_pub) == CKR_OK, "C_VerifyInit SHA256-RSA-PKCS");
    is_rv(p11->C_Verify(s, digest, 32, sig, 256), CKR_SIGNATURE_INVALID,
          "an RSA signature equal to the modulus does not verify");
    memset(sig, 0xff, 256);
    ok(p11->C_VerifyInit(s, &sha, rsa_pub) == CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, digest, 32, sig, 256), CKR_SIGNATURE_INVALID,
          "an RSA signature above the modulus does not verify");
    /* a genuine SHA-1 PKCS#1 signature (made here with the key): CKM_RSA_PKCS does not vouch
     * for SHA-1 DigestInfos */
    {
        static const uint8_t di1[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                      0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
        uint8_t in[35];
        size_t sl = sizeof(sig);

        memcpy(in, di1, sizeof(di1));
        memset(in + sizeof(di1), 0x77, 20);
        ctx = EVP_PKEY_CTX_new(rsa_key, NULL);
        EVP_PKEY_sign_init(ctx);
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
        EVP_PKEY_sign(ctx, sig, &sl, in, sizeof(in));
        EVP_PKEY_CTX_free(ctx);
        ok(p11->C_VerifyInit(s, &pkcs, rsa_pub) == CKR_OK, "C_VerifyInit CKM_RSA_PKCS");
        ok(p11->C_Verify(s, in, sizeof(in), sig, (CK_ULONG)sl) != CKR_OK,
           "a SHA-1 DigestInfo signature is not reported valid");
    }
}

/* On a token with a PIN the private key is a private object: invisible and unusable without
 * login, also through a handle learned while logged in. */
static void try_without_login(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE ec;
    CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};

    ok(attack_init(", \"pin\": \"4321\"", extra_keys()) == CKR_OK, "a token with a PIN");
    p11->C_GetSlotList(CK_TRUE, &slot, &n);
    s = p11_open(slot);
    ok(asym_find(s, CKO_PRIVATE_KEY, "ec") == CK_INVALID_HANDLE,
       "the private key is not found before login");
    ok(asym_find(s, CKO_PUBLIC_KEY, "ec") != CK_INVALID_HANDLE, "  ...its public key is");
    ok(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "4321", 4) == CKR_OK, "C_Login");
    ec = asym_find(s, CKO_PRIVATE_KEY, "ec");
    ok(ec != CK_INVALID_HANDLE, "  ...then it is");
    ok(p11->C_Logout(s) == CKR_OK, "C_Logout");
    ok(p11->C_SignInit(s, &ecdsa, ec) != CKR_OK,
       "signing with the private key's handle after logout refused");
    p11->C_CloseSession(s);
    p11->C_Finalize(NULL);
}

int main(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE ec, ec_pub, rsa, rsa_pub, rsa_dec;

    test_start();
    ec_key = asym_keygen("EC", "prime256v1", 0);
    other_ec = asym_keygen("EC", "prime256v1", 0);
    rsa_key = asym_keygen("RSA", NULL, 2048);
    p11_load();
    is_rv(attack_init(NULL, extra_keys()), CKR_OK, "C_Initialize with asymmetric keys");
    p11->C_GetSlotList(CK_TRUE, &slot, &n);
    s = p11_open(slot);
    ec = asym_find(s, CKO_PRIVATE_KEY, "ec");
    ec_pub = asym_find(s, CKO_PUBLIC_KEY, "ec");
    rsa = asym_find(s, CKO_PRIVATE_KEY, "rsa");
    rsa_pub = asym_find(s, CKO_PUBLIC_KEY, "rsa");
    rsa_dec = asym_find(s, CKO_PRIVATE_KEY, "rsa-decrypt");
    ok(ec && ec_pub && rsa && rsa_pub && rsa_dec, "the asymmetric objects are there");
    try_read(s, ec, rsa);
    try_find(s);
    try_weaken(s, ec, rsa_dec, ec_pub);
    try_wrap(s, ec, rsa_pub);
    try_misuse(s, rsa, rsa_dec, ec);
    try_forge(s, ec_pub, rsa_pub, ec);
    p11->C_CloseSession(s);
    p11->C_Finalize(NULL);
    try_without_login();
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(other_ec);
    EVP_PKEY_free(rsa_key);
    dlclose(p11_dl);
    return test_exit_code();
}
