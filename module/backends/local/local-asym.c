/* local-asym.c - the local backend's asymmetric keys: an EC or RSA private key from a PEM key
 * file signs digests (ECDSA, RSA PKCS#1 v1.5 and PSS with the salt as long as the hash, as the
 * KMSs sign) and decrypts RSA-OAEP, with OpenSSL. */
/*
 * Threads: the EVP_PKEY is read-only once loaded and shared by every thread; each call makes its
 * own EVP_PKEY_CTX, so calls run in parallel without a lock.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "local.h"
#include "log.h"

CK_RV p11kms_local_public_key(EVP_PKEY *pk, p11kms_buf *spki)
{
    unsigned char *p;
    int n = i2d_PUBKEY(pk, NULL);

    if (n <= 0)
        return CKR_GENERAL_ERROR;
    spki->data = malloc((size_t)n);
    if (spki->data == NULL)
        return CKR_HOST_MEMORY;
    p = spki->data;
    if (i2d_PUBKEY(pk, &p) != n) {
        p11kms_buf_free(spki);
        return CKR_GENERAL_ERROR;
    }
    spki->len = (size_t)n;
    return CKR_OK;
}

static const EVP_MD *md_named(const char *name)
{
    return name == NULL                  ? NULL
           : strcmp(name, "SHA1") == 0   ? EVP_sha1()
           : strcmp(name, "SHA256") == 0 ? EVP_sha256()
           : strcmp(name, "SHA384") == 0 ? EVP_sha384()
                                         : EVP_sha512();
}

/* Padding and hashes of alg for RSA; ECDSA signs the digest as it is. */
static int sign_setup(EVP_PKEY_CTX *ctx, int alg)
{
    const EVP_MD *md = md_named(p11kms_sig_alg_md(alg));

    if (EVP_PKEY_sign_init(ctx) != 1 || md == NULL)
        return 0;
    if (p11kms_sig_alg_is_ecdsa(alg))
        return 1;
    if (EVP_PKEY_CTX_set_signature_md(ctx, md) != 1)
        return 0;
    if (!p11kms_sig_alg_is_pss(alg))
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
}

CK_RV p11kms_local_sign(EVP_PKEY *pk, const char *key_ref, int alg, const uint8_t *digest,
                        size_t digest_len, p11kms_buf *sig)
{
    EVP_PKEY_CTX *ctx = NULL;
    CK_RV rv = CKR_GENERAL_ERROR;
    size_t len = 0;

    if (digest_len != p11kms_sig_alg_digest_len(alg) ||
        p11kms_sig_alg_is_ecdsa(alg) != (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC)) {
        LOG_E("%s: asked to sign a %zu-byte digest with an algorithm of another key kind", key_ref,
              digest_len);
        return CKR_GENERAL_ERROR;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    if (ctx == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (!sign_setup(ctx, alg) || EVP_PKEY_sign(ctx, NULL, &len, digest, digest_len) != 1)
        goto out;
    sig->data = malloc(len);
    if (sig->data == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (EVP_PKEY_sign(ctx, sig->data, &len, digest, digest_len) != 1) {
        p11kms_buf_free(sig);
        goto out;
    }
    sig->len = len;
    rv = CKR_OK;
out:
    if (rv == CKR_GENERAL_ERROR)
        LOG_E("%s: signing failed", key_ref);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_local_oaep_decrypt(EVP_PKEY *pk, const char *key_ref, int alg, const uint8_t *ct,
                                size_t ct_len, p11kms_buf *pt)
{
    const EVP_MD *md = md_named(p11kms_oaep_alg_md(alg));
    EVP_PKEY_CTX *ctx = NULL;
    CK_RV rv = CKR_GENERAL_ERROR;
    size_t cap = (size_t)EVP_PKEY_get_size(pk), len = cap;

    if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA || md == NULL)
        return CKR_GENERAL_ERROR;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    pt->data = malloc(cap ? cap : 1);
    if (ctx == NULL || pt->data == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (EVP_PKEY_decrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1)
        goto out;
    /* One answer for every way a ciphertext can fail: no padding oracle. */
    if (EVP_PKEY_decrypt(ctx, pt->data, &len, ct, ct_len) != 1) {
        LOG_W("%s: RSA-OAEP ciphertext refused", key_ref);
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    pt->len = len;
    rv = CKR_OK;
out:
    if (rv != CKR_OK) {
        p11kms_secure_free(pt->data, cap);
        pt->data = NULL;
        pt->len = 0;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return rv;
}
