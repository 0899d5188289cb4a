/* attack-asym-remote.c - asymmetric keys held by a remote KMS (Vault transit, Cloud KMS) give
 * nothing more than local ones: their private parts cannot be read, set readable, copied,
 * wrapped or destroyed; no mechanism makes the KMS a raw RSA or PKCS#1 v1.5 decryption oracle,
 * sign bytes that are no digest, use a weaker hash than asked, or serve a use the permissions
 * do not give; and nothing forged passes C_Verify. Runs with P11KMS_ATTACK_BACKEND vault or gcp
 * (run-attacks-vault.sh, run-attacks-gcp.sh); elsewhere it has nothing to attack. */
#include "tests/attacks/attack.h"
#include "tests/module/asym-keys.h"

/* The three remote keys, on the backend under attack: ec (sign), rsa (sign), rsa-decrypt. */
static const char *extra_keys(void)
{
    static char text[2048];
    const char *ring = getenv("P11KMS_GCP_KEY_RING");

    if (strcmp(attack_backend(), "vault") == 0) {
        snprintf(text, sizeof(text),
                 ",\n  {\"label\": \"ec\", \"backend\": \"vault\", \"type\": \"ec-p256\", "
                 "\"key_id\": \"p11kms-ec256\"},\n"
                 "  {\"label\": \"rsa\", \"backend\": \"vault\", \"type\": \"rsa-2048\", "
                 "\"key_id\": \"p11kms-rsa2048\"},\n"
                 "  {\"label\": \"rsa-decrypt\", \"backend\": \"vault\", \"type\": \"rsa-2048\", "
                 "\"key_id\": \"p11kms-rsa2048\", \"permissions\": [\"decrypt\"]}");
        return text;
    }
    if (ring == NULL) {
        printf("Bail out! P11KMS_ATTACK_BACKEND=gcp needs tests/backends/gcp/gcp-env.sh\n");
        exit(1);
    }
    snprintf(text, sizeof(text),
             ",\n  {\"label\": \"ec\", \"backend\": \"gcp\", \"type\": \"ec-p256\", "
             "\"key_id\": \"%s/cryptoKeys/p11kms-sign-p256/cryptoKeyVersions/1\"},\n"
             "  {\"label\": \"rsa\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
             "\"key_id\": \"%s/cryptoKeys/p11kms-sign-rsa2048/cryptoKeyVersions/1\"},\n"
             "  {\"label\": \"rsa-decrypt\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
             "\"key_id\": \"%s/cryptoKeys/p11kms-decrypt-rsa2048/cryptoKeyVersions/1\", "
             "\"permissions\": [\"decrypt\"]}",
             ring, ring, ring);
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
          "CKA_VALUE of a KMS-held EC private key is sensitive");
    for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        CK_ATTRIBUTE p = {parts[i], v, sizeof(v)};

        all &= p11->C_GetAttributeValue(s, rsa, &p, 1) == CKR_ATTRIBUTE_SENSITIVE &&
               p.ulValueLen == CK_UNAVAILABLE_INFORMATION;
    }
    ok(all, "every private part of a KMS-held RSA key is sensitive");
}

static void try_weaken(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE rsa_dec)
{
    CK_ATTRIBUTE flip[] = {
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},
    };
    CK_ATTRIBUTE sign = {CKA_SIGN, &p11_true, sizeof(CK_BBOOL)};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE kms = p11_find_label(s, "kms");
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t out[8192];
    CK_ULONG len = sizeof(out);

    ok(p11->C_SetAttributeValue(s, ec, &flip[0], 1) != CKR_OK, "CKA_SENSITIVE=false refused");
    ok(p11->C_SetAttributeValue(s, ec, &flip[1], 1) != CKR_OK, "CKA_EXTRACTABLE=true refused");
    ok(p11->C_SetAttributeValue(s, rsa_dec, &sign, 1) != CKR_OK,
       "CKA_SIGN=true on a decrypt-only key refused");
    ok(p11->C_CopyObject(s, ec, flip, 2, &copy) != CKR_OK && copy == CK_INVALID_HANDLE,
       "C_CopyObject of a private key into a readable one refused");
    ok(p11->C_WrapKey(s, &env, kms, ec, out, &len) != CKR_OK,
       "C_WrapKey of a KMS-held private key refused");
    ok(p11->C_DestroyObject(s, ec) != CKR_OK, "C_DestroyObject of a private key refused");
}

/* Ways to make the KMS decrypt or sign as something it must not be. */
static void try_misuse(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE rsa_dec)
{
    static const uint8_t di_sha1[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                      0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
    CK_MECHANISM x509 = {CKM_RSA_X_509, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0},
                 sha1 = {CKM_SHA1_RSA_PKCS, NULL, 0}, sha = {CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0},
                            op1 = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)},
                 oaep1 = {CKM_RSA_PKCS_OAEP, &op1, sizeof(op1)};
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 0};
    CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};
    uint8_t crafted[256], out[512];
    CK_ULONG len = sizeof(out);

    is_rv(p11->C_SignInit(s, &x509, rsa), CKR_MECHANISM_INVALID, "raw RSA signing refused");
    is_rv(p11->C_DecryptInit(s, &x509, rsa_dec), CKR_MECHANISM_INVALID,
          "raw RSA decryption refused");
    is_rv(p11->C_DecryptInit(s, &pkcs, rsa_dec), CKR_MECHANISM_INVALID,
          "PKCS#1 v1.5 decryption refused (a padding oracle in the KMS)");
    memset(crafted, 0x41, sizeof(crafted));
    ok(p11->C_SignInit(s, &pkcs, rsa) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
    is_rv(p11->C_Sign(s, crafted, 100, out, &len), CKR_DATA_INVALID,
          "CKM_RSA_PKCS of bytes that are no DigestInfo: the KMS is not asked to sign them");
    memcpy(crafted, di_sha1, sizeof(di_sha1));
    len = sizeof(out);
    ok(p11->C_SignInit(s, &pkcs, rsa) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
    is_rv(p11->C_Sign(s, crafted, sizeof(di_sha1) + 20, out, &len), CKR_DATA_INVALID,
          "  ...nor a SHA-1 DigestInfo (no SHA-1 signature from the KMS)");
    ok(p11->C_SignInit(s, &sha1, rsa) != CKR_OK, "CKM_SHA1_RSA_PKCS refused");
    is_rv(p11->C_SignInit(s, &pss, rsa), CKR_MECHANISM_PARAM_INVALID,
          "PSS with an empty salt refused (the KMS salts with the hash length)");
    is_rv(p11->C_SignInit(s, &sha, rsa_dec), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a decrypt-only key does not sign");
    is_rv(p11->C_DecryptInit(s, &oaep, rsa), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a sign-only key does not decrypt");
    /* the KMS decrypts with one OAEP hash: another one is refused before it is asked */
    memset(crafted, 0x22, sizeof(crafted));
    crafted[0] = 0;
    len = sizeof(out);
    is_rv(p11_crypt(s, 0, &oaep1, rsa_dec, crafted, 256, out, &len), CKR_MECHANISM_PARAM_INVALID,
          "OAEP with SHA-1 for a key the KMS opens with SHA-256 refused");
    len = sizeof(out);
    is_rv(p11_crypt(s, 0, &oaep, rsa_dec, crafted, 255, out, &len), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "a ciphertext shorter than the modulus never reaches the KMS");
}

static void try_forge(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE ec, CK_OBJECT_HANDLE ec_pub,
                      CK_OBJECT_HANDLE rsa, CK_OBJECT_HANDLE rsa_pub)
{
    CK_MECHANISM raw = {CKM_ECDSA, NULL, 0}, sha = {CKM_SHA256_RSA_PKCS, NULL, 0};
    uint8_t digest[32], sig[512], msg[64];
    CK_ULONG len = sizeof(sig);

    memset(digest, 0x5c, sizeof(digest));
    ok(p11->C_SignInit(s, &raw, ec) == CKR_OK && p11->C_Sign(s, digest, 32, sig, &len) == CKR_OK,
       "a real signature by the KMS");
    digest[31] ^= 1;
    ok(p11->C_VerifyInit(s, &raw, ec_pub) == CKR_OK, "C_VerifyInit CKM_ECDSA");
    is_rv(p11->C_Verify(s, digest, 32, sig, len), CKR_SIGNATURE_INVALID,
          "  ...does not verify over another digest");
    memset(msg, 'm', sizeof(msg));
    len = sizeof(sig);
    ok(p11->C_SignInit(s, &sha, rsa) == CKR_OK &&
           p11->C_Sign(s, msg, sizeof(msg), sig, &len) == CKR_OK,
       "a real RSA signature by the KMS");
    sig[len - 1] ^= 1;
    ok(p11->C_VerifyInit(s, &sha, rsa_pub) == CKR_OK, "C_VerifyInit SHA256-RSA-PKCS");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, len), CKR_SIGNATURE_INVALID,
          "  ...changed in its last bit does not verify");
    memset(sig, 0xff, len);
    ok(p11->C_VerifyInit(s, &sha, rsa_pub) == CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, len), CKR_SIGNATURE_INVALID,
          "an RSA signature above the modulus does not verify");
}

int main(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE ec, ec_pub, rsa, rsa_pub, rsa_dec;

    if (strcmp(attack_backend(), "vault") != 0 && strcmp(attack_backend(), "gcp") != 0) {
        printf("1..0 # SKIP its keys live on the Vault and Cloud KMS test servers (backend %s)\n",
               attack_backend());
        return 0;
    }
    test_start();
    p11_load();
    is_rv(attack_init(NULL, extra_keys()), CKR_OK, "C_Initialize with KMS-held asymmetric keys");
    p11->C_GetSlotList(CK_TRUE, &slot, &n);
    s = p11_open(slot);
    ec = asym_find(s, CKO_PRIVATE_KEY, "ec");
    ec_pub = asym_find(s, CKO_PUBLIC_KEY, "ec");
    rsa = asym_find(s, CKO_PRIVATE_KEY, "rsa");
    rsa_pub = asym_find(s, CKO_PUBLIC_KEY, "rsa");
    rsa_dec = asym_find(s, CKO_PRIVATE_KEY, "rsa-decrypt");
    ok(ec && ec_pub && rsa && rsa_pub && rsa_dec, "the asymmetric objects are there");
    try_read(s, ec, rsa);
    try_weaken(s, ec, rsa_dec);
    try_misuse(s, rsa, rsa_dec);
    try_forge(s, ec, ec_pub, rsa, rsa_pub);
    p11->C_CloseSession(s);
    p11->C_Finalize(NULL);
    dlclose(p11_dl);
    return test_exit_code();
}
