/* sign-asym.c - the sign/verify family of asymmetric KMS keys: ECDSA (CKM_ECDSA,
 * CKM_ECDSA_SHA256/384/512), RSA PKCS#1 v1.5 (CKM_RSA_PKCS of a DigestInfo, CKM_SHA*_RSA_PKCS)
 * and RSA-PSS (CKM_RSA_PKCS_PSS, CKM_SHA*_RSA_PKCS_PSS, salt as long as the hash). Signing sends
 * one digest to the KMS (hashing mechanisms hash here, part by part); verifying is done here
 * with the public key. Only what a KMS signs is accepted: SHA-256/384/512, PSS salt = hash. */
/*
 * Threads: a state belongs to one session operation. begin_locked takes a reference to the key
 * under g.lock; the KMS call and the public key load run without it.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "asym-codec.h"
#include "asym.h"
#include "log.h"
#include "sign.h"

#define INPUT_MAX 512 /* raw input of the single-digest mechanisms: a DigestInfo, a digest */

enum input_kind {
    IN_ECDSA = 1,  /* CKM_ECDSA: a digest of any hash, 1..64 bytes */
    IN_DIGESTINFO, /* CKM_RSA_PKCS: a DER DigestInfo */
    IN_DIGEST,     /* CKM_RSA_PKCS_PSS: the digest of the parameters' hash */
    IN_HASH,       /* the hashing mechanisms: data, hashed here */
};

typedef struct asym_sign {
    p11kms_asym_key *key;
    const char *mech_name; /* for log lines */
    int input;
    int alg;               /* P11KMS_SIG_*: fixed, or from the DigestInfo (IN_DIGESTINFO) */
    const EVP_MD *md;      /* IN_HASH */
    EVP_MD_CTX *md_ctx;    /* IN_HASH */
    uint8_t in[INPUT_MAX]; /* the raw input (not secret: a digest or a DigestInfo) */
    size_t in_len;
    int too_long;
} asym_sign;

static const struct {
    CK_MECHANISM_TYPE mech;
    const char *name;
    CK_KEY_TYPE ckk;
    int input;
    int alg; /* for ECDSA the hash only: the curve decides what the KMS signs */
} mechs[] = {
    {CKM_ECDSA, "CKM_ECDSA", CKK_EC, IN_ECDSA, 0},
    {CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256", CKK_EC, IN_HASH, P11KMS_SIG_ECDSA_SHA256},
    {CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384", CKK_EC, IN_HASH, P11KMS_SIG_ECDSA_SHA384},
    {CKM_ECDSA_SHA512, "CKM_ECDSA_SHA512", CKK_EC, IN_HASH, P11KMS_SIG_ECDSA_SHA512},
    {CKM_RSA_PKCS, "CKM_RSA_PKCS", CKK_RSA, IN_DIGESTINFO, 0},
    {CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS", CKK_RSA, IN_HASH, P11KMS_SIG_RSA_PKCS1_SHA256},
    {CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS", CKK_RSA, IN_HASH, P11KMS_SIG_RSA_PKCS1_SHA384},
    {CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS", CKK_RSA, IN_HASH, P11KMS_SIG_RSA_PKCS1_SHA512},
    {CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS", CKK_RSA, IN_DIGEST, 0},
    {CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS", CKK_RSA, IN_HASH,
     P11KMS_SIG_RSA_PSS_SHA256},
    {CKM_SHA384_RSA_PKCS_PSS, "CKM_SHA384_RSA_PKCS_PSS", CKK_RSA, IN_HASH,
     P11KMS_SIG_RSA_PSS_SHA384},
    {CKM_SHA512_RSA_PKCS_PSS, "CKM_SHA512_RSA_PKCS_PSS", CKK_RSA, IN_HASH,
     P11KMS_SIG_RSA_PSS_SHA512},
};
#define N_MECHS (sizeof(mechs) / sizeof(mechs[0]))

static int find_mech(CK_MECHANISM_TYPE mech)
{
    size_t i;

    for (i = 0; i < N_MECHS; i++)
        if (mechs[i].mech == mech)
            return (int)i;
    return -1;
}

static int asym_owns(CK_MECHANISM_TYPE mech)
{
    return find_mech(mech) >= 0;
}

static const EVP_MD *md_of(int alg)
{
    switch (p11kms_sig_alg_digest_len(alg)) {
    case 32:
        return EVP_sha256();
    case 48:
        return EVP_sha384();
    default:
        return EVP_sha512();
    }
}

/* CK_RSA_PKCS_PSS_PARAMS as the KMS signs: SHA-256/384/512, MGF1 with the same hash, a salt as
 * long as the hash; for a hashing mechanism, its own hash. The PSS algorithm, or 0. */
static int pss_alg(const CK_MECHANISM *mech, int hashing_alg)
{
    static const struct {
        CK_MECHANISM_TYPE hash;
        CK_RSA_PKCS_MGF_TYPE mgf;
        CK_ULONG len;
        int alg;
    } ok[] = {
        {CKM_SHA256, CKG_MGF1_SHA256, 32, P11KMS_SIG_RSA_PSS_SHA256},
        {CKM_SHA384, CKG_MGF1_SHA384, 48, P11KMS_SIG_RSA_PSS_SHA384},
        {CKM_SHA512, CKG_MGF1_SHA512, 64, P11KMS_SIG_RSA_PSS_SHA512},
    };
    const CK_RSA_PKCS_PSS_PARAMS *p = mech->pParameter;
    size_t i;

    if (p == NULL || mech->ulParameterLen != sizeof(*p))
        return 0;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (p->hashAlg == ok[i].hash && p->mgf == ok[i].mgf && p->sLen == ok[i].len &&
            (hashing_alg == 0 || hashing_alg == ok[i].alg))
            return ok[i].alg;
    return 0;
}

static void asym_end(void *state)
{
    asym_sign *st = state;

    if (st == NULL)
        return;
    EVP_MD_CTX_free(st->md_ctx);
    p11kms_asym_key_put(st->key);
    OPENSSL_cleanse(st, sizeof(*st));
    free(st);
}

static CK_RV asym_begin_locked(const CK_MECHANISM *mech, const p11kms_object *key, int sign,
                               void **state)
{
    int i = find_mech(mech->mechanism), alg;
    int pss = mech->mechanism == CKM_RSA_PKCS_PSS || mechs[i].alg >= P11KMS_SIG_RSA_PSS_SHA256;
    asym_sign *st;

    (void)sign; /* CKA_SIGN / CKA_VERIFY: sign.c (public keys never sign, private never verify) */
    *state = NULL;
    alg = mechs[i].alg;
    if (pss) {
        alg = pss_alg(mech, mechs[i].alg);
        if (alg == 0) {
            LOG_W("%s: RSA-PSS parameters must name SHA-256, SHA-384 or SHA-512 (the "
                  "mechanism's own hash), MGF1 with the same hash, and a salt as long as the "
                  "hash: what the KMS signs",
                  mechs[i].name);
            return CKR_MECHANISM_PARAM_INVALID;
        }
    } else if (mech->pParameter != NULL || mech->ulParameterLen != 0) {
        return CKR_MECHANISM_PARAM_INVALID;
    }
    if (key->asym == NULL ||
        (key->kind != P11KMS_OBJ_PRIVATE_KEY && key->kind != P11KMS_OBJ_PUBLIC_KEY) ||
        key->key_type != mechs[i].ckk)
        return CKR_KEY_TYPE_INCONSISTENT;
    st = calloc(1, sizeof(*st));
    if (st == NULL)
        return CKR_HOST_MEMORY;
    st->key = p11kms_asym_key_ref(key->asym);
    st->mech_name = mechs[i].name;
    st->input = mechs[i].input;
    st->alg = alg;
    if (st->input == IN_HASH)
        st->md = md_of(alg);
    *state = st;
    return CKR_OK;
}

static CK_RV asym_start(void *state)
{
    asym_sign *st = state;

    if (st->input == IN_HASH) {
        st->md_ctx = EVP_MD_CTX_new();
        if (st->md_ctx == NULL)
            return CKR_HOST_MEMORY;
        if (EVP_DigestInit_ex(st->md_ctx, st->md, NULL) != 1) {
            ERR_clear_error();
            return CKR_GENERAL_ERROR;
        }
    }
    return CKR_OK;
}

static size_t asym_length(const void *state)
{
    return ((const asym_sign *)state)->key->type->sig_len;
}

static CK_RV asym_update(void *state, const uint8_t *data, size_t len)
{
    asym_sign *st = state;

    if (st->input == IN_HASH) {
        if (EVP_DigestUpdate(st->md_ctx, data, len) != 1) {
            ERR_clear_error();
            return CKR_GENERAL_ERROR;
        }
        return CKR_OK;
    }
    /* The single-digest mechanisms take their input whole; pieces are joined, up to a bound
     * no valid input reaches. */
    if (len > INPUT_MAX - st->in_len) {
        st->too_long = 1;
        return CKR_DATA_LEN_RANGE;
    }
    memcpy(st->in + st->in_len, data, len);
    st->in_len += len;
    return CKR_OK;
}

/* The digest to sign or verify, and the algorithm; for ECDSA already fitted to the curve. */
static CK_RV digest_of(asym_sign *st, uint8_t out[64], size_t *out_len, int *alg)
{
    const p11kms_key_type_info *kt = st->key->type;
    const uint8_t *d = st->in, *di;
    unsigned int n = 0;
    size_t len = st->in_len;
    uint8_t hashed[EVP_MAX_MD_SIZE];

    *alg = st->alg;
    switch (st->input) {
    case IN_HASH:
        if (EVP_DigestFinal_ex(st->md_ctx, hashed, &n) != 1) {
            ERR_clear_error();
            return CKR_GENERAL_ERROR;
        }
        d = hashed;
        len = n;
        break;
    case IN_DIGESTINFO:
        *alg = p11kms_digestinfo_parse(st->in, st->in_len, &di);
        if (*alg == 0) {
            LOG_W("CKM_RSA_PKCS: the input is not a DER DigestInfo of SHA-256, SHA-384 or "
                  "SHA-512 (%zu bytes): refused, the KMS signs only those",
                  st->in_len);
            return CKR_DATA_INVALID;
        }
        d = di;
        len = p11kms_sig_alg_digest_len(*alg);
        break;
    case IN_DIGEST:
        if (len != p11kms_sig_alg_digest_len(st->alg))
            return CKR_DATA_LEN_RANGE;
        break;
    default:
        break;
    }
    if (kt->ckk != CKK_EC) {
        memcpy(out, d, len);
        *out_len = len;
        return CKR_OK;
    }
    /* ECDSA: whatever the hash, the KMS signs the curve's digest length (keytype.h). */
    if (p11kms_ecdsa_fit_digest(d, len, kt->ec_digest_len, kt->bits, out) != 0)
        return CKR_DATA_LEN_RANGE;
    *out_len = kt->ec_digest_len;
    *alg = kt->ec_digest_len == 32   ? P11KMS_SIG_ECDSA_SHA256
           : kt->ec_digest_len == 48 ? P11KMS_SIG_ECDSA_SHA384
                                     : P11KMS_SIG_ECDSA_SHA512;
    return CKR_OK;
}

static CK_RV asym_sign_final(void *state, uint8_t *sig)
{
    asym_sign *st = state;
    const p11kms_asym_key *k = st->key;
    size_t sig_len = k->type->sig_len, dlen = 0;
    p11kms_buf got = {NULL, 0};
    uint8_t digest[64];
    uint64_t t0;
    int alg = 0;
    CK_RV rv;

    if (st->too_long)
        return CKR_DATA_LEN_RANGE;
    rv = digest_of(st, digest, &dlen, &alg);
    if (rv != CKR_OK)
        goto out;
    t0 = p11kms_asym_use_begin();
    rv = k->backend->ops->sign_digest(k->backend, alg, digest, dlen, &got);
    p11kms_asym_use_end(k, "sign", rv, t0);
    LOG_I("KMS sign with %s key \"%s\" (%s): %s", k->backend->ops->name, k->kcfg->label,
          st->mech_name, p11kms_rv_name(rv));
    if (rv != CKR_OK)
        goto out;
    rv = CKR_DEVICE_ERROR;
    if (k->type->ckk == CKK_EC) {
        if (p11kms_ecdsa_der_to_raw(got.data, got.len, sig_len / 2, sig) != 0) {
            LOG_E("%s: the ECDSA signature of key \"%s\" is not DER for its curve", k->kcfg->origin,
                  k->kcfg->label);
            goto out;
        }
    } else {
        /* RSA signatures are modulus-sized integers: a shorter one gets its leading zeros */
        if (got.len == 0 || got.len > sig_len) {
            LOG_E("%s: the RSA signature of key \"%s\" is %zu bytes, not %zu", k->kcfg->origin,
                  k->kcfg->label, got.len, sig_len);
            goto out;
        }
        memset(sig, 0, sig_len - got.len);
        memcpy(sig + (sig_len - got.len), got.data, got.len);
    }
    rv = CKR_OK;
out:
    p11kms_buf_free(&got);
    return rv;
}

/* Set up ctx to verify st's algorithm: padding and hashes for RSA. */
static int verify_setup(EVP_PKEY_CTX *ctx, int alg)
{
    const EVP_MD *md;

    if (EVP_PKEY_verify_init(ctx) != 1)
        return 0;
    if (p11kms_sig_alg_is_ecdsa(alg))
        return 1; /* the fitted digest as it is, like the KMS signs it */
    md = md_of(alg);
    if (EVP_PKEY_CTX_set_signature_md(ctx, md) != 1)
        return 0;
    if (!p11kms_sig_alg_is_pss(alg))
        return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
}

static CK_RV asym_verify_final(void *state, const uint8_t *sig)
{
    asym_sign *st = state;
    const p11kms_asym_key *k = st->key;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t digest[64], *der = NULL;
    const uint8_t *s = sig;
    size_t dlen = 0, s_len = k->type->sig_len;
    int alg = 0;
    CK_RV rv;

    if (st->too_long)
        return CKR_DATA_LEN_RANGE;
    rv = digest_of(st, digest, &dlen, &alg);
    if (rv != CKR_OK)
        return rv;
    rv = p11kms_asym_public(st->key);
    if (rv != CKR_OK)
        return rv;
    if (k->type->ckk == CKK_EC) {
        if (p11kms_ecdsa_raw_to_der(sig, s_len, &der, &s_len) != 0)
            return CKR_HOST_MEMORY;
        s = der;
    }
    rv = CKR_HOST_MEMORY;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pub, NULL);
    if (ctx == NULL)
        goto out;
    rv = CKR_GENERAL_ERROR;
    if (!verify_setup(ctx, alg))
        goto out;
    rv = EVP_PKEY_verify(ctx, s, s_len, digest, dlen) == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
out:
    EVP_PKEY_CTX_free(ctx);
    free(der);
    ERR_clear_error();
    return rv;
}

const p11kms_sign_family p11kms_sign_asym = {
    .name = "asymmetric",
    .owns = asym_owns,
    .begin_locked = asym_begin_locked,
    .start = asym_start,
    .length = asym_length,
    .update = asym_update,
    .sign = asym_sign_final,
    .verify = asym_verify_final,
    .end = asym_end,
};
