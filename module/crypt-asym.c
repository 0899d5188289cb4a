/* crypt-asym.c - RSA-OAEP with asymmetric KMS keys: decryption by the KMS (private key
 * objects; stopped by the kill switch), encryption here with OpenSSL (public key objects). */
/*
 * Threads: an operation belongs to one session operation; it holds a reference to the key,
 * taken at begin (the caller holds g.lock to keep the object's key alive meanwhile). The KMS call
 * and the public key load run without g.lock.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "asym.h"
#include "crypt-asym.h"
#include "killswitch.h"
#include "log.h"

struct p11kms_crypt_asym {
    p11kms_asym_key *key;
    int encrypt;
    int alg; /* P11KMS_OAEP_* */
};

/* CK_RSA_PKCS_OAEP_PARAMS the KMS decrypts with: SHA-1 or SHA-256, MGF1 on the same hash, an
 * empty label (source CKZ_DATA_SPECIFIED, or 0 as some callers leave it). 0 otherwise. */
static int oaep_alg(const CK_MECHANISM *mech)
{
    const CK_RSA_PKCS_OAEP_PARAMS *p = mech->pParameter;

    if (p == NULL || mech->ulParameterLen != sizeof(*p))
        return 0;
    if ((p->source != CKZ_DATA_SPECIFIED && p->source != 0) || p->ulSourceDataLen != 0)
        return 0;
    if (p->hashAlg == CKM_SHA_1 && p->mgf == CKG_MGF1_SHA1)
        return P11KMS_OAEP_SHA1;
    if (p->hashAlg == CKM_SHA256 && p->mgf == CKG_MGF1_SHA256)
        return P11KMS_OAEP_SHA256;
    return 0;
}

CK_RV p11kms_crypt_asym_begin(const CK_MECHANISM *mech, p11kms_asym_key *k, int permitted,
                              int encrypt, p11kms_crypt_asym **out)
{
    p11kms_crypt_asym *a;
    int alg;

    *out = NULL;
    if (mech->mechanism != CKM_RSA_PKCS_OAEP) {
        LOG_W("an asymmetric KMS key encrypts and decrypts with CKM_RSA_PKCS_OAEP only, not "
              "mechanism 0x%lx",
              (unsigned long)mech->mechanism);
        return CKR_MECHANISM_INVALID;
    }
    alg = oaep_alg(mech);
    if (alg == 0) {
        LOG_W("CKM_RSA_PKCS_OAEP: the parameters must name SHA-1 or SHA-256 with MGF1 on the "
              "same hash and no label: what the KMS decrypts");
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (k->type->ckk != CKK_RSA)
        return CKR_KEY_TYPE_INCONSISTENT;
    if (!permitted)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    a = calloc(1, sizeof(*a));
    if (a == NULL)
        return CKR_HOST_MEMORY;
    a->key = p11kms_asym_key_ref(k);
    a->encrypt = encrypt;
    a->alg = alg;
    *out = a;
    return CKR_OK;
}

CK_RV p11kms_crypt_asym_start(p11kms_crypt_asym *a)
{
    return a->encrypt ? p11kms_asym_public(a->key) : CKR_OK;
}

/* RFC 8017 7.1.1: k - 2 hLen - 2 bytes at most. */
static size_t max_plaintext(const p11kms_crypt_asym *a)
{
    return a->key->type->sig_len - 2 * p11kms_oaep_alg_digest_len(a->alg) - 2;
}

size_t p11kms_crypt_asym_bound(const p11kms_crypt_asym *a, size_t in_len)
{
    (void)in_len;
    return a->encrypt ? a->key->type->sig_len : max_plaintext(a);
}

static CK_RV encrypt_here(p11kms_crypt_asym *a, const uint8_t *in, size_t in_len, p11kms_buf *out)
{
    const EVP_MD *md = a->alg == P11KMS_OAEP_SHA1 ? EVP_sha1() : EVP_sha256();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, a->key->pub, NULL);
    size_t len = a->key->type->sig_len;
    CK_RV rv = CKR_HOST_MEMORY;

    if (ctx == NULL || (out->data = malloc(len)) == NULL)
        goto out;
    rv = CKR_GENERAL_ERROR;
    if (EVP_PKEY_encrypt_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) != 1 ||
        EVP_PKEY_encrypt(ctx, out->data, &len, in, in_len) != 1)
        goto out;
    out->len = len;
    rv = CKR_OK;
out:
    if (rv != CKR_OK)
        p11kms_buf_free(out);
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_crypt_asym_run(p11kms_crypt_asym *a, const uint8_t *in, size_t in_len, p11kms_buf *out)
{
    const p11kms_asym_key *k = a->key;
    uint64_t t0;
    CK_RV rv;

    if (a->encrypt) {
        if (in_len > max_plaintext(a))
            return CKR_DATA_LEN_RANGE;
        return encrypt_here(a, in, in_len, out);
    }
    /* A ciphertext is exactly the modulus length: nothing else goes to the KMS. */
    if (in_len != k->type->sig_len)
        return CKR_ENCRYPTED_DATA_LEN_RANGE;
    /* The kill switch (killswitch.h) stops decryption by an asymmetric key as it stops unwraps;
     * signing goes on, as wrapping does. */
    rv = p11kms_killswitch_check(k->kcfg);
    if (rv != CKR_OK) {
        p11kms_asym_use_refused(k, "decrypt", rv);
        return rv;
    }
    t0 = p11kms_asym_use_begin();
    rv = k->backend->ops->asym_decrypt(k->backend, a->alg, in, in_len, out);
    p11kms_asym_use_end(k, "decrypt", rv, t0);
    LOG_I("KMS decrypt (RSA-OAEP) with %s key \"%s\": %s", k->backend->ops->name, k->kcfg->label,
          p11kms_rv_name(rv));
    /* Again after the KMS call, which may have outlasted the switch being turned on. */
    if (rv == CKR_OK && (rv = p11kms_killswitch_check(k->kcfg)) != CKR_OK) {
        p11kms_buf_wipe(out);
        p11kms_asym_use_refused(k, "decrypt", rv);
        return rv;
    }
    if (rv == CKR_OK && out->len > max_plaintext(a)) {
        LOG_E("%s: key \"%s\": the KMS answered with %zu bytes, more than RSA-OAEP holds",
              k->kcfg->origin, k->kcfg->label, out->len);
        p11kms_buf_wipe(out);
        rv = CKR_DEVICE_ERROR;
    }
    return rv;
}

void p11kms_crypt_asym_free(p11kms_crypt_asym *a)
{
    if (a == NULL)
        return;
    p11kms_asym_key_put(a->key);
    free(a);
}
