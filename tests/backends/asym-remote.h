/* asym-remote.h - for module tests of asymmetric keys held by a KMS test server (Vault, Google
 * Cloud KMS): the reference public key read from a PEM file the test script fetched with an
 * independent client, and checks through the function list that hold the module to it - the
 * objects' public attributes, signatures verified by OpenSSL with the reference key, verification
 * and RSA-OAEP decryption. */
#ifndef P11KMS_TEST_ASYM_REMOTE_H
#define P11KMS_TEST_ASYM_REMOTE_H

#include <stdarg.h>
#include <openssl/rsa.h>
#include "tests/module/asym-keys.h"

/* A test line's text (one of a few rotating buffers). */
static inline const char *ar_what(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *ar_what(const char *fmt, ...)
{
    static char text[4][200];
    static int next;
    char *t = text[next++ % 4];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t, sizeof(text[0]), fmt, ap);
    va_end(ap);
    return t;
}

/* The public key in $dir/name.pem (PEM SubjectPublicKeyInfo), or NULL with a failed check. */
static inline EVP_PKEY *ar_public(const char *dir, const char *name)
{
    char path[512];
    EVP_PKEY *pk = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
    f = fopen(path, "r");
    if (f != NULL) {
        pk = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
    }
    ok(pk != NULL, ar_what("the reference public key %s (fetched by the test script)", name));
    return pk;
}

static inline CK_RV ar_get(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                           void *out, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {type, out, *len};
    CK_RV rv = p11->C_GetAttributeValue(s, h, &a, 1);

    *len = a.ulValueLen;
    return rv;
}

static inline CK_BBOOL ar_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type)
{
    CK_BBOOL b = 2;
    CK_ULONG len = sizeof(b);

    return ar_get(s, h, type, &b, &len) == CKR_OK ? b : 2;
}

/* The private and public key objects of label hold ref: key type, sensitivity, CKA_SIGN and
 * CKA_DECRYPT as the permissions say, CKA_PUBLIC_KEY_INFO, and CKA_EC_POINT or CKA_MODULUS. */
static inline void ar_objects(CK_SESSION_HANDLE s, const char *label, EVP_PKEY *ref, int sign,
                              int decrypt)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, label),
                     pub = asym_find(s, CKO_PUBLIC_KEY, label);
    int ec = EVP_PKEY_get_base_id(ref) == EVP_PKEY_EC;
    uint8_t buf[4096], want[4096], *p = want, id1[64], id2[64];
    CK_ULONG len, l1 = sizeof(id1), l2 = sizeof(id2);
    CK_KEY_TYPE kt = 0;
    size_t wl = 0;
    int n;

    ok(priv != CK_INVALID_HANDLE && pub != CK_INVALID_HANDLE,
       ar_what("%s: a private and a public key", label));
    ok(ar_get(s, priv, CKA_ID, id1, &l1) == CKR_OK && ar_get(s, pub, CKA_ID, id2, &l2) == CKR_OK &&
           l1 == l2 && memcmp(id1, id2, l1) == 0,
       "  ...with the same CKA_ID");
    len = sizeof(kt);
    ok(ar_get(s, priv, CKA_KEY_TYPE, &kt, &len) == CKR_OK && kt == (ec ? CKK_EC : CKK_RSA),
       ec ? "  ...CKK_EC" : "  ...CKK_RSA");
    ok(ar_bool(s, priv, CKA_SENSITIVE) == CK_TRUE &&
           ar_bool(s, priv, CKA_EXTRACTABLE) == CK_FALSE &&
           ar_bool(s, priv, CKA_NEVER_EXTRACTABLE) == CK_TRUE,
       "  ...sensitive, never extractable");
    ok(ar_bool(s, priv, CKA_SIGN) == (sign ? CK_TRUE : CK_FALSE) &&
           ar_bool(s, priv, CKA_DECRYPT) == (decrypt ? CK_TRUE : CK_FALSE),
       ar_what("  ...CKA_SIGN %d, CKA_DECRYPT %d from the permissions", sign, decrypt));
    len = sizeof(buf);
    is_rv(ar_get(s, priv, ec ? CKA_VALUE : CKA_PRIVATE_EXPONENT, buf, &len),
          CKR_ATTRIBUTE_SENSITIVE, "  ...its private part is sensitive");
    n = i2d_PUBKEY(ref, &p);
    len = sizeof(buf);
    ok(n > 0 && ar_get(s, pub, CKA_PUBLIC_KEY_INFO, buf, &len) == CKR_OK && len == (CK_ULONG)n &&
           memcmp(buf, want, len) == 0,
       "  ...CKA_PUBLIC_KEY_INFO is the KMS's public key");
    len = sizeof(buf);
    if (ec) {
        EVP_PKEY_get_octet_string_param(ref, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, want, sizeof(want),
                                        &wl);
        ok(ar_get(s, pub, CKA_EC_POINT, buf, &len) == CKR_OK && len > wl &&
               memcmp(buf + len - wl, want, wl) == 0 && buf[0] == 0x04,
           "  ...CKA_EC_POINT: its point");
    } else {
        BIGNUM *bn = NULL;

        EVP_PKEY_get_bn_param(ref, OSSL_PKEY_PARAM_RSA_N, &bn);
        wl = (size_t)BN_bn2bin(bn, want);
        BN_free(bn);
        ok(ar_get(s, pub, CKA_MODULUS, buf, &len) == CKR_OK && len == wl &&
               memcmp(buf, want, wl) == 0,
           "  ...CKA_MODULUS: its modulus");
    }
}

/* One C_Sign; CK_RV, signature in sig. */
static inline CK_RV ar_sign(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                            const uint8_t *in, CK_ULONG in_len, uint8_t *sig, CK_ULONG *sig_len)
{
    CK_RV rv = p11->C_SignInit(s, m, key);

    return rv != CKR_OK ? rv : p11->C_Sign(s, (uint8_t *)in, in_len, sig, sig_len);
}

static inline CK_RV ar_verify(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
                              const uint8_t *in, CK_ULONG in_len, const uint8_t *sig,
                              CK_ULONG sig_len)
{
    CK_RV rv = p11->C_VerifyInit(s, m, key);

    return rv != CKR_OK ? rv : p11->C_Verify(s, (uint8_t *)in, in_len, (uint8_t *)sig, sig_len);
}

/* OpenSSL's verdict on a PKCS#11 signature over digest (md's length) with ref: ECDSA r||s, or
 * RSA PKCS#1 v1.5, or RSA-PSS with the salt as long as the hash (pss). */
static inline int ar_openssl_ok(EVP_PKEY *ref, const EVP_MD *md, int pss, const uint8_t *digest,
                                const uint8_t *sig, size_t sig_len)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ref, NULL);
    uint8_t der[300];
    int ok = 0, dl;

    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1)
        goto out;
    if (EVP_PKEY_get_base_id(ref) == EVP_PKEY_EC) {
        dl = asym_raw_to_der(sig, sig_len / 2, der, sizeof(der));
        ok = dl > 0 &&
             EVP_PKEY_verify(ctx, der, (size_t)dl, digest, (size_t)EVP_MD_get_size(md)) == 1;
        goto out;
    }
    if (EVP_PKEY_CTX_set_signature_md(ctx, md) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) != 1 ||
        (pss && EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, EVP_MD_get_size(md)) != 1))
        goto out;
    ok = EVP_PKEY_verify(ctx, sig, sig_len, digest, (size_t)EVP_MD_get_size(md)) == 1;
out:
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

/* C_Sign of msg with a hashing mechanism (CKM_ECDSA_SHA*, CKM_SHA*_RSA_PKCS[_PSS]) by label's
 * private key, checked by OpenSSL with ref and by C_Verify with the public key; a changed
 * signature fails C_Verify. 1 when all held. */
static inline int ar_sign_checked(CK_SESSION_HANDLE s, const char *label, EVP_PKEY *ref,
                                  CK_MECHANISM_TYPE mech, const EVP_MD *md, int pss,
                                  const uint8_t *msg, size_t msg_len, const char *what)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, label),
                     pub = asym_find(s, CKO_PUBLIC_KEY, label);
    CK_MECHANISM_TYPE hash = EVP_MD_get_size(md) == 32   ? CKM_SHA256
                             : EVP_MD_get_size(md) == 48 ? CKM_SHA384
                                                         : CKM_SHA512;
    CK_RSA_PKCS_MGF_TYPE mgf = hash == CKM_SHA256   ? CKG_MGF1_SHA256
                               : hash == CKM_SHA384 ? CKG_MGF1_SHA384
                                                    : CKG_MGF1_SHA512;
    CK_RSA_PKCS_PSS_PARAMS pp = {hash, mgf, (CK_ULONG)EVP_MD_get_size(md)};
    CK_MECHANISM m = {mech, pss ? &pp : NULL, pss ? sizeof(pp) : 0};
    uint8_t sig[1024], digest[64];
    CK_ULONG len = sizeof(sig);
    int good;

    EVP_Digest(msg, msg_len, digest, NULL, md, NULL);
    is_rv(ar_sign(s, &m, priv, msg, msg_len, sig, &len), CKR_OK, ar_what("%s: C_Sign", what));
    good = ar_openssl_ok(ref, md, pss, digest, sig, len);
    ok(good, "  ...OpenSSL verifies it with the KMS's public key");
    is_rv(ar_verify(s, &m, pub, msg, msg_len, sig, len), CKR_OK, "  ...C_Verify: valid");
    sig[len / 2] ^= 0x10;
    is_rv(ar_verify(s, &m, pub, msg, msg_len, sig, len), CKR_SIGNATURE_INVALID,
          "  ...a changed signature is invalid");
    return good;
}

/* RSA-OAEP (SHA-256, MGF1-SHA256) of a secret by OpenSSL with ref, decrypted by label's private
 * key through the module; a C_Encrypt with the public key object opens the same way. */
static inline void ar_oaep(CK_SESSION_HANDLE s, const char *label, EVP_PKEY *ref)
{
    CK_OBJECT_HANDLE priv = asym_find(s, CKO_PRIVATE_KEY, label),
                     pub = asym_find(s, CKO_PUBLIC_KEY, label);
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ref, NULL);
    uint8_t ct[512], pt[512], secret[32];
    size_t ct_len = sizeof(ct);
    CK_ULONG len = sizeof(pt), clen = sizeof(ct);

    memset(secret, 0xa5, sizeof(secret));
    secret[0] = 1;
    ok(ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
           EVP_PKEY_encrypt(ctx, ct, &ct_len, secret, sizeof(secret)) == 1,
       ar_what("%s: OpenSSL encrypts to the KMS's public key (OAEP SHA-256)", label));
    is_rv(p11_crypt(s, 0, &oaep, priv, ct, ct_len, pt, &len), CKR_OK,
          "  ...C_Decrypt CKM_RSA_PKCS_OAEP in the KMS");
    ok(len == sizeof(secret) && memcmp(pt, secret, len) == 0, "  ...the plaintext");
    is_rv(p11_crypt(s, 1, &oaep, pub, secret, sizeof(secret), ct, &clen), CKR_OK,
          "  ...C_Encrypt with the public key object");
    len = sizeof(pt);
    ok(p11_crypt(s, 0, &oaep, priv, ct, clen, pt, &len) == CKR_OK && len == sizeof(secret) &&
           memcmp(pt, secret, len) == 0,
       "  ...and the KMS opens it");
    EVP_PKEY_CTX_free(ctx);
}

#endif
