/* test-module-asym.c - asymmetric local keys through the function list: the private key, public
 * key and certificate objects and their attributes, ECDSA, RSA PKCS#1 v1.5 and PSS signatures
 * checked by OpenSSL against the reference key, verification here, RSA-OAEP both ways, and the
 * mechanisms and parameters a KMS key refuses. */
#include <errno.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rsa.h>
#include "tests/module/asym-keys.h"

static EVP_PKEY *ec_key, *ec384_key, *rsa_key;
static uint8_t *cert_der;
static int cert_der_len;
static uint8_t msg[3000];
static char audit_path[320], ks_dir[320], store_dir[320];

static const char *config(void)
{
    static char text[4096];
    char *ec = asym_write_key("ec.pem", ec_key), *ec384 = asym_write_key("ec384.pem", ec384_key);
    char *rsa = asym_write_key("rsa.pem", rsa_key);
    char *cert = asym_write_cert("ec.crt", ec_key, "p11kms test", &cert_der, &cert_der_len);

    snprintf(audit_path, sizeof(audit_path), "%s/asym-audit.jsonl", p11_tmp());
    snprintf(ks_dir, sizeof(ks_dir), "%s/kill-switch", p11_tmp());
    snprintf(store_dir, sizeof(store_dir), "%s/store", p11_tmp());
    if (mkdir(ks_dir, 0755) != 0) {
        printf("Bail out! mkdir %s: %s\n", ks_dir, strerror(errno));
        exit(99);
    }
    snprintf(text, sizeof(text),
             "{\"audit\": {\"destination\": \"file:%s\"}, \"kill_switch_dir\": \"%s\",\n"
             " \"tokens\": [{\"label\": \"asym\", \"store\": \"%s\", \"keys\": [\n"
             " {\"label\": \"ec\", \"backend\": \"local\", \"type\": \"ec-p256\", \"key_file\": "
             "\"%s\", \"certificate\": \"%s\", \"id\": \"0a0b\"},\n"
             " {\"label\": \"ec384\", \"backend\": \"local\", \"type\": \"ec-p384\", \"key_file\": "
             "\"%s\"},\n"
             " {\"label\": \"rsa\", \"backend\": \"local\", \"type\": \"rsa-2048\", \"key_file\": "
             "\"%s\", \"permissions\": [\"sign\", \"decrypt\"]},\n"
             " {\"label\": \"rsa-sign\", \"backend\": \"local\", \"type\": \"rsa-2048\", "
             "\"key_file\": \"%s\"},\n"
             " {\"label\": \"aes\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}\n"
             "]}]}\n",
             audit_path, ks_dir, store_dir, ec, cert, ec384, rsa, rsa);
    return p11_write("asym.conf", text, 0600);
}

static CK_RV get(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, void *out,
                 CK_ULONG *len)
{
    CK_ATTRIBUTE a = {type, out, *len};
    CK_RV rv = p11->C_GetAttributeValue(s, h, &a, 1);

    *len = a.ulValueLen;
    return rv;
}

static CK_BBOOL get_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = 2;
    CK_ULONG len = sizeof(b);

    return get(s, h, type, &b, &len) == CKR_OK ? b : 2;
}

static void test_objects(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, "ec"),
                     pub = asym_find(s, CKO_PUBLIC_KEY, "ec"),
                     crt = asym_find(s, CKO_CERTIFICATE, "ec");
    uint8_t buf[4096], point[200], *der = NULL;
    CK_ULONG len;
    CK_KEY_TYPE kt = 0;
    size_t plen = 0;
    const unsigned char *cp;
    X509 *x;

    ok(priv != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE && crt != CK_INVALID_HANDLE,
       "an EC key with a certificate: one private key, one public key, one certificate");
    ok(asym_find(s, CKO_CERTIFICATE, "ec384") == CK_INVALID_HANDLE,
       "no certificate object without a certificate file");
    len = sizeof(buf);
    is_rv(get(s, priv, CKA_ID, buf, &len), CKR_OK, "CKA_ID of the private key");
    ok(len == 2 && buf[0] == 0x0a && buf[1] == 0x0b, "  ...is the configured id");
    len = sizeof(buf);
    ok(get(s, pub, CKA_ID, buf, &len) == CKR_OK && len == 2 && buf[1] == 0x0b,
       "the public key has the same CKA_ID");
    len = sizeof(buf);
    ok(get(s, crt, CKA_ID, buf, &len) == CKR_OK && len == 2 && buf[1] == 0x0b,
       "the certificate has the same CKA_ID");
    len = sizeof(kt);
    ok(get(s, priv, CKA_KEY_TYPE, &kt, &len) == CKR_OK && kt == CKK_EC, "CKK_EC");
    ok(get_bool(s, priv, CKA_SENSITIVE) == CK_TRUE, "private key sensitive");
    ok(get_bool(s, priv, CKA_EXTRACTABLE) == CK_FALSE, "private key not extractable");
    ok(get_bool(s, priv, CKA_NEVER_EXTRACTABLE) == CK_TRUE, "never extractable");
    ok(get_bool(s, priv, CKA_ALWAYS_SENSITIVE) == CK_TRUE, "always sensitive");
    ok(get_bool(s, priv, CKA_SIGN) == CK_TRUE, "CKA_SIGN from the sign permission");
    ok(get_bool(s, priv, CKA_DECRYPT) == CK_FALSE, "an EC key does not decrypt");
    ok(get_bool(s, pub, CKA_VERIFY) == CK_TRUE, "the public key verifies");
    ok(get_bool(s, priv, CKA_MODIFIABLE) == CK_FALSE &&
           get_bool(s, priv, CKA_COPYABLE) == CK_FALSE &&
           get_bool(s, priv, CKA_DESTROYABLE) == CK_FALSE,
       "private key fixed");
    len = sizeof(buf);
    is_rv(get(s, priv, CKA_VALUE, buf, &len), CKR_ATTRIBUTE_SENSITIVE,
          "CKA_VALUE of the private key is sensitive");
    len = sizeof(buf);
    ok(get(s, pub, CKA_EC_PARAMS, buf, &len) == CKR_OK && len == 10 && buf[0] == 0x06 &&
           buf[9] == 0x07,
       "CKA_EC_PARAMS: the P-256 OID");
    EVP_PKEY_get_octet_string_param(ec_key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                    sizeof(point), &plen);
    len = sizeof(buf);
    ok(get(s, pub, CKA_EC_POINT, buf, &len) == CKR_OK && len == plen + 2 && buf[0] == 0x04 &&
           buf[1] == plen && memcmp(buf + 2, point, plen) == 0,
       "CKA_EC_POINT: the DER OCTET STRING of the key's uncompressed point");
    len = sizeof(buf);
    is_rv(get(s, pub, CKA_MODULUS, buf, &len), CKR_ATTRIBUTE_TYPE_INVALID, "no CKA_MODULUS on EC");
    len = sizeof(buf);
    ok(get(s, crt, CKA_VALUE, buf, &len) == CKR_OK && (int)len == cert_der_len &&
           memcmp(buf, cert_der, len) == 0,
       "certificate CKA_VALUE: the DER certificate");
    cp = cert_der;
    x = d2i_X509(NULL, &cp, cert_der_len);
    plen = (size_t)i2d_X509_NAME(X509_get_subject_name(x), &der);
    len = sizeof(buf);
    ok(get(s, crt, CKA_SUBJECT, buf, &len) == CKR_OK && len == plen && memcmp(buf, der, len) == 0,
       "certificate CKA_SUBJECT: the DER name");
    len = sizeof(buf);
    ok(get(s, crt, CKA_ISSUER, buf, &len) == CKR_OK && len == plen, "certificate CKA_ISSUER");
    len = sizeof(buf);
    ok(get(s, crt, CKA_SERIAL_NUMBER, buf, &len) == CKR_OK && len == 4 && buf[0] == 0x02 &&
           buf[2] == 0x10 && buf[3] == 0x92,
       "certificate CKA_SERIAL_NUMBER: DER INTEGER 4242");
    OPENSSL_free(der);
    X509_free(x);

    priv = asym_find(s, CKO_PRIVATE_KEY, "rsa");
    pub = asym_find(s, CKO_PUBLIC_KEY, "rsa");
    {
        BIGNUM *n = NULL;
        uint8_t nb[512];
        int nl;

        EVP_PKEY_get_bn_param(rsa_key, OSSL_PKEY_PARAM_RSA_N, &n);
        nl = BN_bn2bin(n, nb);
        BN_free(n);
        len = sizeof(buf);
        ok(get(s, pub, CKA_MODULUS, buf, &len) == CKR_OK && (int)len == nl &&
               memcmp(buf, nb, len) == 0,
           "RSA CKA_MODULUS: the key's modulus");
        len = sizeof(buf);
        ok(get(s, pub, CKA_PUBLIC_EXPONENT, buf, &len) == CKR_OK && len == 3 && buf[0] == 1 &&
               buf[2] == 1,
           "RSA CKA_PUBLIC_EXPONENT 65537");
    }
    len = sizeof(buf);
    is_rv(get(s, priv, CKA_PRIVATE_EXPONENT, buf, &len), CKR_ATTRIBUTE_SENSITIVE,
          "RSA CKA_PRIVATE_EXPONENT sensitive");
    len = sizeof(buf);
    is_rv(get(s, priv, CKA_PRIME_1, buf, &len), CKR_ATTRIBUTE_SENSITIVE,
          "RSA CKA_PRIME_1 sensitive");
    ok(get_bool(s, priv, CKA_DECRYPT) == CK_TRUE, "RSA with decrypt permission: CKA_DECRYPT");
    ok(get_bool(s, asym_find(s, CKO_PRIVATE_KEY, "rsa-sign"), CKA_DECRYPT) == CK_FALSE,
       "RSA without it: no CKA_DECRYPT");
}

/* Sign with the module, check with OpenSSL: ECDSA over a SHA-256 digest and CKM_ECDSA_SHA256. */
static void test_ecdsa(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, "ec"),
                     pub = asym_find(s, CKO_PUBLIC_KEY, "ec");
    CK_MECHANISM raw = {CKM_ECDSA, NULL, 0}, sha = {CKM_ECDSA_SHA256, NULL, 0};
    uint8_t digest[32], sig[200], der[200];
    CK_ULONG len = 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ec_key, NULL);
    int dl;

    EVP_Digest(msg, sizeof(msg), digest, NULL, EVP_sha256(), NULL);
    is_rv(p11->C_SignInit(s, &raw, priv), CKR_OK, "C_SignInit CKM_ECDSA");
    is_rv(p11->C_Sign(s, digest, 32, NULL, &len), CKR_OK, "length query");
    is_num(len, 64, "  ...64 bytes (r || s)");
    is_rv(p11->C_Sign(s, digest, 32, sig, &len), CKR_OK, "C_Sign CKM_ECDSA");
    dl = asym_raw_to_der(sig, 32, der, sizeof(der));
    EVP_PKEY_verify_init(ctx);
    ok(EVP_PKEY_verify(ctx, der, dl, digest, 32) == 1, "  ...OpenSSL verifies it with the key");

    is_rv(p11->C_SignInit(s, &sha, priv), CKR_OK, "C_SignInit CKM_ECDSA_SHA256");
    is_rv(p11->C_SignUpdate(s, msg, 1000), CKR_OK, "C_SignUpdate");
    is_rv(p11->C_SignUpdate(s, msg + 1000, sizeof(msg) - 1000), CKR_OK, "C_SignUpdate");
    len = sizeof(sig);
    is_rv(p11->C_SignFinal(s, sig, &len), CKR_OK, "C_SignFinal");
    dl = asym_raw_to_der(sig, 32, der, sizeof(der));
    ok(len == 64 && EVP_PKEY_verify(ctx, der, dl, digest, 32) == 1,
       "  ...multi-part ECDSA-SHA256 verifies with OpenSSL");

    is_rv(p11->C_VerifyInit(s, &sha, pub), CKR_OK, "C_VerifyInit with the public key");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, 64), CKR_OK, "C_Verify: valid");
    sig[10] ^= 1;
    is_rv(p11->C_VerifyInit(s, &sha, pub), CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, 64), CKR_SIGNATURE_INVALID,
          "C_Verify: a changed signature is invalid");
    is_rv(p11->C_VerifyInit(s, &sha, pub), CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, 63), CKR_SIGNATURE_LEN_RANGE,
          "C_Verify: a short signature");
    memset(sig, 0, 64);
    is_rv(p11->C_VerifyInit(s, &raw, pub), CKR_OK, "C_VerifyInit CKM_ECDSA");
    is_rv(p11->C_Verify(s, digest, 32, sig, 64), CKR_SIGNATURE_INVALID,
          "C_Verify: r = s = 0 is invalid");
    EVP_PKEY_CTX_free(ctx);

    /* P-384 signs a SHA-256 digest as the KMS would: padded to 48 bytes, the same integer */
    priv = asym_find(s, CKO_PRIVATE_KEY, "ec384");
    ctx = EVP_PKEY_CTX_new(ec384_key, NULL);
    len = sizeof(sig);
    ok(p11->C_SignInit(s, &raw, priv) == CKR_OK && p11->C_Sign(s, digest, 32, sig, &len) == CKR_OK,
       "P-384 CKM_ECDSA of a SHA-256 digest");
    dl = asym_raw_to_der(sig, 48, der, sizeof(der));
    EVP_PKEY_verify_init(ctx);
    ok(len == 96 && EVP_PKEY_verify(ctx, der, dl, digest, 32) == 1,
       "  ...96 bytes, OpenSSL verifies it over the SHA-256 digest");
    EVP_PKEY_CTX_free(ctx);
}

/* OpenSSL's verdict on an RSA signature of msg with SHA-256: pss or PKCS#1 v1.5. */
static int rsa_ok(const uint8_t *sig, size_t len, int pss)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int r = EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, rsa_key) == 1 &&
            (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1)) &&
            EVP_DigestVerify(md, sig, len, msg, sizeof(msg)) == 1;

    EVP_MD_CTX_free(md);
    return r;
}

static void test_rsa_sign(CK_SESSION_HANDLE s)
{
    static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                        0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    static const uint8_t di_sha1[] = {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                      0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14};
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, "rsa"),
                     pub = asym_find(s, CKO_PUBLIC_KEY, "rsa");
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0}, sha = {CKM_SHA256_RSA_PKCS, NULL, 0},
                 pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)},
                 rawpss = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)};
    uint8_t di[64], sig[512], sig2[512];
    CK_ULONG len = sizeof(sig), len2 = sizeof(sig2);

    ok(p11->C_SignInit(s, &sha, priv) == CKR_OK &&
           p11->C_Sign(s, msg, sizeof(msg), sig, &len) == CKR_OK,
       "CKM_SHA256_RSA_PKCS signs");
    ok(len == 256 && rsa_ok(sig, len, 0), "  ...256 bytes, OpenSSL verifies PKCS#1 v1.5 SHA-256");
    memcpy(di, di_sha256, sizeof(di_sha256));
    EVP_Digest(msg, sizeof(msg), di + sizeof(di_sha256), NULL, EVP_sha256(), NULL);
    ok(p11->C_SignInit(s, &pkcs, priv) == CKR_OK &&
           p11->C_Sign(s, di, sizeof(di_sha256) + 32, sig2, &len2) == CKR_OK,
       "CKM_RSA_PKCS of a SHA-256 DigestInfo signs");
    ok(len2 == len && memcmp(sig, sig2, len) == 0, "  ...the same signature (deterministic)");
    memcpy(di, di_sha1, sizeof(di_sha1));
    len2 = sizeof(sig2);
    ok(p11->C_SignInit(s, &pkcs, priv) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
    is_rv(p11->C_Sign(s, di, sizeof(di_sha1) + 20, sig2, &len2), CKR_DATA_INVALID,
          "CKM_RSA_PKCS of a SHA-1 DigestInfo refused (the KMS signs SHA-2 only)");
    len2 = sizeof(sig2);
    ok(p11->C_SignInit(s, &pkcs, priv) == CKR_OK, "C_SignInit CKM_RSA_PKCS");
    is_rv(p11->C_Sign(s, msg, 51, sig2, &len2), CKR_DATA_INVALID,
          "CKM_RSA_PKCS of arbitrary bytes refused: no raw RSA through the KMS");

    is_rv(p11->C_VerifyInit(s, &sha, pub), CKR_OK, "C_VerifyInit SHA256-RSA-PKCS");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, len), CKR_OK, "  ...C_Verify: valid");
    sig[100] ^= 0x40;
    is_rv(p11->C_VerifyInit(s, &sha, pub), CKR_OK, "C_VerifyInit");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, len), CKR_SIGNATURE_INVALID,
          "  ...a changed signature is invalid");

    len = sizeof(sig);
    ok(p11->C_SignInit(s, &pss, priv) == CKR_OK &&
           p11->C_Sign(s, msg, sizeof(msg), sig, &len) == CKR_OK,
       "CKM_SHA256_RSA_PKCS_PSS signs");
    ok(len == 256 && rsa_ok(sig, len, 1), "  ...OpenSSL verifies RSA-PSS SHA-256 salt 32");
    is_rv(p11->C_VerifyInit(s, &pss, pub), CKR_OK, "C_VerifyInit PSS");
    is_rv(p11->C_Verify(s, msg, sizeof(msg), sig, len), CKR_OK, "  ...C_Verify: valid");
    EVP_Digest(msg, sizeof(msg), di, NULL, EVP_sha256(), NULL);
    is_rv(p11->C_VerifyInit(s, &rawpss, pub), CKR_OK, "C_VerifyInit CKM_RSA_PKCS_PSS");
    is_rv(p11->C_Verify(s, di, 32, sig, len), CKR_OK, "  ...verifies over the digest");
    pp.sLen = 20;
    is_rv(p11->C_SignInit(s, &pss, priv), CKR_MECHANISM_PARAM_INVALID,
          "PSS with a 20-byte salt refused (the KMS salts with the hash length)");
    pp.sLen = 32;
    pp.mgf = CKG_MGF1_SHA1;
    is_rv(p11->C_SignInit(s, &pss, priv), CKR_MECHANISM_PARAM_INVALID,
          "PSS with MGF1-SHA1 refused");
    pp.mgf = CKG_MGF1_SHA384;
    pp.hashAlg = CKM_SHA384;
    pp.sLen = 48;
    is_rv(p11->C_SignInit(s, &pss, priv), CKR_MECHANISM_PARAM_INVALID,
          "CKM_SHA256_RSA_PKCS_PSS with SHA-384 parameters refused");
    pss.pParameter = NULL;
    is_rv(p11->C_SignInit(s, &pss, priv), CKR_MECHANISM_PARAM_INVALID, "PSS without parameters");
}

static void test_oaep(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, "rsa"),
                     pub = asym_find(s, CKO_PUBLIC_KEY, "rsa"),
                     signonly = asym_find(s, CKO_PRIVATE_KEY, "rsa-sign");
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)}, pkcs = {CKM_RSA_PKCS, NULL, 0};
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(rsa_key, NULL);
    uint8_t ct[512], pt[512], secret[32];
    size_t ct_len = sizeof(ct), pt_len = sizeof(pt);
    CK_ULONG len;

    memset(secret, 0x5a, sizeof(secret));
    EVP_PKEY_encrypt_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256());
    EVP_PKEY_encrypt(ctx, ct, &ct_len, secret, sizeof(secret));
    len = sizeof(pt);
    is_rv(p11_crypt(s, 0, &oaep, priv, ct, ct_len, pt, &len), CKR_OK,
          "RSA-OAEP SHA-256 decrypt of OpenSSL's ciphertext");
    ok(len == 32 && memcmp(pt, secret, 32) == 0, "  ...the plaintext");
    ct[5] ^= 1;
    len = sizeof(pt);
    is_rv(p11_crypt(s, 0, &oaep, priv, ct, ct_len, pt, &len), CKR_ENCRYPTED_DATA_INVALID,
          "a changed ciphertext does not open");
    len = sizeof(pt);
    is_rv(p11_crypt(s, 0, &oaep, priv, ct, ct_len - 1, pt, &len), CKR_ENCRYPTED_DATA_LEN_RANGE,
          "a short ciphertext is refused before the KMS");
    len = sizeof(ct);
    is_rv(p11_crypt(s, 1, &oaep, pub, secret, sizeof(secret), ct, &len), CKR_OK,
          "RSA-OAEP encrypt with the public key");
    EVP_PKEY_decrypt_init(ctx);
    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256());
    ok(EVP_PKEY_decrypt(ctx, pt, &pt_len, ct, len) == 1 && pt_len == 32 &&
           memcmp(pt, secret, 32) == 0,
       "  ...OpenSSL decrypts it with the key");
    op.hashAlg = CKM_SHA_1;
    op.mgf = CKG_MGF1_SHA1;
    len = sizeof(ct);
    ok(p11_crypt(s, 1, &oaep, pub, secret, sizeof(secret), ct, &len) == CKR_OK,
       "OAEP SHA-1 encrypt");
    pt_len = sizeof(pt);
    ok(p11_crypt(s, 0, &oaep, priv, ct, len, pt, &pt_len) == CKR_OK && pt_len == 32 &&
           memcmp(pt, secret, 32) == 0,
       "  ...and decrypt round trip");
    op.pSourceData = (void *)"abc";
    op.ulSourceDataLen = 3;
    is_rv(p11->C_DecryptInit(s, &oaep, priv), CKR_MECHANISM_PARAM_INVALID,
          "OAEP with a label refused (the KMS decrypts without one)");
    op.pSourceData = NULL;
    op.ulSourceDataLen = 0;
    op.mgf = CKG_MGF1_SHA256;
    is_rv(p11->C_DecryptInit(s, &oaep, priv), CKR_MECHANISM_PARAM_INVALID,
          "OAEP with mixed hashes refused");
    is_rv(p11->C_DecryptInit(s, &pkcs, priv), CKR_MECHANISM_INVALID,
          "PKCS#1 v1.5 decryption refused: no padding oracle");
    op.mgf = CKG_MGF1_SHA1;
    is_rv(p11->C_DecryptInit(s, &oaep, signonly), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key without the decrypt permission does not decrypt");
    is_rv(p11->C_EncryptInit(s, &oaep, priv), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "the private key object does not encrypt");
    is_rv(p11->C_DecryptInit(s, &oaep, pub), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "the public key object does not decrypt");
    EVP_PKEY_CTX_free(ctx);
}

static void test_refusals(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE ec = asym_find(s, CKO_PRIVATE_KEY, "ec"),
                     ecpub = asym_find(s, CKO_PUBLIC_KEY, "ec"),
                     rsa = asym_find(s, CKO_PRIVATE_KEY, "rsa"), aes = p11_find_label(s, "aes");
    CK_OBJECT_HANDLE rsapub = asym_find(s, CKO_PUBLIC_KEY, "rsa");
    CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0}, sha = {CKM_SHA256_RSA_PKCS, NULL, 0},
                 x509 = {CKM_RSA_X_509, NULL, 0}, cmac = {CKM_AES_CMAC, NULL, 0},
                 rewrap = {CKM_P11KMS_REWRAP, NULL, 0};

    is_rv(p11->C_SignInit(s, &ecdsa, ecpub), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "the public key does not sign");
    is_rv(p11->C_VerifyInit(s, &ecdsa, ec), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "the private key object does not verify");
    is_rv(p11->C_SignInit(s, &ecdsa, rsa), CKR_KEY_TYPE_INCONSISTENT, "ECDSA with an RSA key");
    is_rv(p11->C_SignInit(s, &sha, ec), CKR_KEY_TYPE_INCONSISTENT, "RSA with an EC key");
    is_rv(p11->C_SignInit(s, &ecdsa, aes), CKR_KEY_TYPE_INCONSISTENT, "ECDSA with an AES KMS key");
    ok(p11->C_SignInit(s, &cmac, ec) != CKR_OK, "CMAC with an EC key refused");
    is_rv(p11->C_SignInit(s, &x509, rsa), CKR_MECHANISM_INVALID, "raw RSA (CKM_RSA_X_509)");
    /* CKM_P11KMS_REWRAP moves envelopes of an AES KMS key; an asymmetric key has none. */
    is_rv(p11->C_EncryptInit(s, &rewrap, rsa), CKR_MECHANISM_INVALID,
          "CKM_P11KMS_REWRAP with an RSA private key is refused");
    is_rv(p11->C_EncryptInit(s, &rewrap, rsapub), CKR_MECHANISM_INVALID,
          "CKM_P11KMS_REWRAP with an RSA public key is refused");
    is_rv(p11->C_EncryptInit(s, &rewrap, ec), CKR_MECHANISM_INVALID,
          "CKM_P11KMS_REWRAP with an EC private key is refused");
}

/* The kill switch (docs/kill-switch.md) stops RSA-OAEP decryption by an asymmetric key as it
 * stops unwraps, within its period; signing and public-key encryption go on. */
static CK_RV oaep_decrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const uint8_t *ct,
                          size_t ct_len)
{
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    uint8_t pt[512];
    CK_ULONG len = sizeof(pt);

    return p11_crypt(s, 0, &oaep, priv, (uint8_t *)ct, ct_len, pt, &len);
}

/* Decrypt until the result is want, for up to 5 s (the switch's period is 250 ms). */
static CK_RV oaep_until(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv, const uint8_t *ct,
                        size_t ct_len, CK_RV want)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    CK_RV rv = CKR_GENERAL_ERROR;
    int i;

    for (i = 0; i < 100 && (rv = oaep_decrypt(s, priv, ct, ct_len)) != want; i++)
        nanosleep(&ts, NULL);
    return rv;
}

static int switch_file(const char *name, int on)
{
    char path[700];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", ks_dir, name);
    if (!on)
        return unlink(path) == 0;
    f = fopen(path, "w");
    return f != NULL && fputs("on by the test\n", f) >= 0 && fclose(f) == 0;
}

static void test_kill_switch(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, "rsa"),
                     pub = asym_find(s, CKO_PUBLIC_KEY, "rsa"),
                     ec = asym_find(s, CKO_PRIVATE_KEY, "ec");
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)}, sha = {CKM_SHA256_RSA_PKCS, NULL, 0},
                 ecdsa = {CKM_ECDSA_SHA256, NULL, 0};
    uint8_t secret[32], ct[512], sig[512];
    CK_ULONG ct_len = sizeof(ct), len;
    const char *sw[] = {"asym+rsa", "asym"};
    size_t i;

    memset(secret, 0x33, sizeof(secret));
    is_rv(p11_crypt(s, 1, &oaep, pub, secret, sizeof(secret), ct, &ct_len), CKR_OK,
          "kill switch: a ciphertext for the RSA key");
    is_rv(oaep_decrypt(s, priv, ct, ct_len), CKR_OK, "  ...decrypts while the switch is off");
    for (i = 0; i < 2; i++) {
        ok(switch_file(sw[i], 1), i == 0 ? "the key's switch on" : "the token's switch on");
        is_rv(oaep_until(s, priv, ct, ct_len, CKR_KEY_FUNCTION_NOT_PERMITTED),
              CKR_KEY_FUNCTION_NOT_PERMITTED, "  ...RSA-OAEP decryption stops");
        len = sizeof(sig);
        ok(p11->C_SignInit(s, &sha, priv) == CKR_OK &&
               p11->C_Sign(s, msg, sizeof(msg), sig, &len) == CKR_OK,
           "  ...the same RSA key still signs");
        len = sizeof(sig);
        ok(p11->C_SignInit(s, &ecdsa, ec) == CKR_OK &&
               p11->C_Sign(s, msg, sizeof(msg), sig, &len) == CKR_OK,
           "  ...the EC key still signs");
        len = sizeof(sig);
        is_rv(p11_crypt(s, 1, &oaep, pub, secret, sizeof(secret), sig, &len), CKR_OK,
              "  ...public-key encryption goes on");
        ok(switch_file(sw[i], 0), "  ...switch off");
        is_rv(oaep_until(s, priv, ct, ct_len, CKR_OK), CKR_OK, "  ...decryption resumes");
    }
    ok(p11_file_count(audit_path, "\"op\":\"decrypt\",\"token\":\"asym\",\"key\":\"rsa\"") >= 1 &&
           p11_file_count(audit_path, "\"outcome\":\"refused\",\"rv\":\"CKR_KEY_FUNCTION_NOT_"
                                      "PERMITTED\"") >= 1,
       "the audit trail records the decryptions the switch refused");
}

/* A token of asymmetric keys and one AES key: that AES key is its storage key (asymmetric keys
 * never seal stored objects), and token objects persist. */
static void test_store(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE_LEN, &len, sizeof(len)},
                        {CKA_TOKEN, &yes, 1},
                        {CKA_ENCRYPT, &yes, 1},
                        {CKA_LABEL, "kept", 4}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    char cmd[400];

    is_rv(p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), &h), CKR_OK,
          "a token key on a token whose only AES key is among asymmetric keys");
    snprintf(cmd, sizeof(cmd), "test \"$(ls '%s' | grep -c -v '^\\.')\" = 1", store_dir);
    ok(system(cmd) == 0, "  ...one file in the token's store");
    ok(p11_file_count(audit_path, "\"op\":\"store-seal\",\"token\":\"asym\",\"key\":\"aes\"") == 1,
       "  ...sealed by the AES key");
}

/* Asymmetric keys a KMS cannot hold as configured, and an asymmetric key is one KMS key: such
 * configurations stop C_Initialize (the config reader's one line says why). */
static void test_refused_configs(void)
{
    static const char *const bad[][2] = {
        {"{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"type\": "
         "\"ec-p256\", \"backend\": \"gcp\", \"key_id\": "
         "\"projects/p/locations/global/keyRings/r/cryptoKeys/k\"}]}]}",
         "an EC key on Google Cloud KMS naming a CryptoKey, not a version, stops C_Initialize"},
        {"{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"type\": "
         "\"ec-secp256k1\", \"backend\": \"vault\", \"key_id\": \"k\"}]}]}",
         "a secp256k1 key on Vault (transit has none) stops C_Initialize"},
        {"{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"type\": "
         "\"ec-p256\", \"kms\": [{\"backend\": \"local\", \"key_file\": \"/a.pem\"}, "
         "{\"backend\": \"local\", \"key_file\": \"/b.pem\"}]}]}]}",
         "an asymmetric key set of two KMS keys stops C_Initialize"},
        {"{\"tokens\": [{\"label\": \"t\", \"storage_key\": \"k\", \"keys\": [{\"label\": "
         "\"k\", \"type\": \"ec-p256\", \"backend\": \"local\", \"key_file\": \"/a.pem\"}, "
         "{\"label\": \"aes\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}",
         "a storage_key naming an asymmetric key stops C_Initialize"},
        {"{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"type\": "
         "\"rsa-2048\", \"backend\": \"local\", \"key_file\": \"/a.pem\", "
         "\"unwrap_cache\": {\"max_age_s\": 60}}]}]}",
         "an unwrap_cache on an asymmetric key stops C_Initialize"},
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_rv(p11_init_config(p11_write("refused.conf", bad[i][0], 0600)), CKR_ARGUMENTS_BAD,
              bad[i][1]);
}

int main(void)
{
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE s;
    size_t i;

    test_start();
    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (uint8_t)(i * 7);
    ec_key = asym_keygen("EC", "prime256v1", 0);
    ec384_key = asym_keygen("EC", "secp384r1", 0);
    rsa_key = asym_keygen("RSA", NULL, 2048);
    p11_load();
    is_rv(p11_init_config(config()), CKR_OK, "C_Initialize with asymmetric local keys");
    is_rv(p11->C_GetSlotList(CK_TRUE, &slot, &n), CKR_OK, "slot");
    s = p11_open(slot);
    test_objects(s);
    test_ecdsa(s);
    test_rsa_sign(s);
    test_oaep(s);
    test_refusals(s);
    test_kill_switch(s);
    test_store(s);
    /* Every signature and decryption by a KMS key is a KMS use in the audit trail. */
    ok(p11_file_count(audit_path, "\"op\":\"sign\",\"token\":\"asym\",\"key\":\"ec\","
                                  "\"backend\":\"local\"") >= 2,
       "the audit trail records the EC key's signatures");
    ok(p11_file_count(audit_path, "\"op\":\"decrypt\",\"token\":\"asym\",\"key\":\"rsa\"") >= 2,
       "...and the RSA key's decryptions");
    ok(p11_file_count(audit_path, "\"op\":\"decrypt\",\"token\":\"asym\",\"key\":\"rsa\","
                                  "\"backend\":\"local\",\"kms_key\":\"") >= 1 &&
           p11_file_count(audit_path, "\"outcome\":\"refused\"") >= 1,
       "...with the KMS key and the outcome of a changed ciphertext");
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    test_refused_configs();
    EVP_PKEY_free(ec_key);
    EVP_PKEY_free(ec384_key);
    EVP_PKEY_free(rsa_key);
    OPENSSL_free(cert_der);
    dlclose(p11_dl);
    return test_exit_code();
}
