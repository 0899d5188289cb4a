/* asym.c - an asymmetric KMS key as the core holds it: its configuration, key type, backend
 * instance and certificate, the public half fetched once from the backend, and the mechanisms it
 * allows. Below the objects: it knows nothing of sessions or the object map. */
/*
 * Threads (see asym.h): the public half is loaded under the key's own mutex, never under
 * g.lock, since the backend may call the KMS; readers check have_public (acquire) and read the
 * fixed fields.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "asym.h"
#include "audit.h"
#include "kms-report.h"
#include "log.h"

#define SPKI_MAX 4096

p11kms_asym_key *p11kms_asym_key_ref(p11kms_asym_key *k)
{
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
    return k;
}

void p11kms_asym_key_put(p11kms_asym_key *k)
{
    if (k == NULL || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1)
        return;
    p11kms_keyset_free(k->keyset);
    p11kms_cert_free(k->cert);
    EVP_PKEY_free(k->pub);
    free(k->spki);
    free(k->modulus);
    free(k->exponent);
    free(k->ec_point);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

CK_RV p11kms_asym_key_new(const p11kms_key_config *kc, p11kms_asym_key **out)
{
    p11kms_asym_key *k = calloc(1, sizeof(*k));
    const p11kms_key_type_info *ct;
    CK_RV rv;

    *out = NULL;
    if (k == NULL)
        return CKR_HOST_MEMORY;
    atomic_init(&k->refs, 1);
    atomic_init(&k->have_public, 0);
    pthread_mutex_init(&k->lock, NULL);
    k->kcfg = kc;
    k->type = p11kms_key_type_get(kc->key_type);
    if (kc->certificate != NULL) {
        rv = p11kms_cert_load(kc->certificate, &k->cert);
        if (rv != CKR_OK)
            goto out;
        if (k->cert->key_type != kc->key_type) {
            ct = p11kms_key_type_get(k->cert->key_type);
            LOG_E("%s: the certificate %s holds %s key, the key is configured as %s", kc->origin,
                  kc->certificate, ct != NULL ? ct->name : "another kind of", k->type->name);
            rv = CKR_ARGUMENTS_BAD;
            goto out;
        }
    }
    rv = p11kms_keyset_new(kc, &k->keyset);
    if (rv == CKR_OK)
        k->backend = p11kms_keyset_primary(k->keyset);
out:
    if (rv == CKR_OK)
        *out = k;
    else
        p11kms_asym_key_put(k);
    return rv;
}

uint64_t p11kms_asym_use_begin(void)
{
    p11kms_kms_report_reset();
    p11kms_kms_call_deadline_set(0); /* no key-set deadline: one KMS key */
    return p11kms_kms_now_ms();
}

void p11kms_asym_use_end(const p11kms_asym_key *k, const char *op, CK_RV rv, uint64_t t0)
{
    p11kms_audit_event ev;

    if (!p11kms_audit_on())
        return;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.kc = k->kcfg;
    ev.backend = k->backend->ops->name;
    ev.kms_key = k->kcfg->key_id;
    ev.role = p11kms_keyset_role(k->keyset, 0);
    ev.rv = rv;
    ev.report = p11kms_kms_report_last();
    ev.latency_ms = p11kms_kms_now_ms() - t0;
    p11kms_audit_record(&ev);
}

void p11kms_asym_use_refused(const p11kms_asym_key *k, const char *op, CK_RV rv)
{
    p11kms_audit_event ev;

    if (!p11kms_audit_on())
        return;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.kc = k->kcfg;
    ev.rv = rv;
    ev.outcome = "refused";
    p11kms_audit_record(&ev);
}

/* ---- the public half ------------------------------------------------------------------- */

/* A big-endian copy of an RSA parameter of pk. */
static int bn_param(const EVP_PKEY *pk, const char *name, uint8_t **out, size_t *len)
{
    BIGNUM *bn = NULL;
    int n, ok = 0;

    if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1 || (n = BN_num_bytes(bn)) <= 0)
        goto out;
    *out = malloc((size_t)n);
    if (*out == NULL || BN_bn2bin(bn, *out) != n)
        goto out;
    *len = (size_t)n;
    ok = 1;
out:
    BN_free(bn);
    return ok;
}

/* CKA_EC_POINT: DER OCTET STRING around the uncompressed point, taken from the DER
 * SubjectPublicKeyInfo's BIT STRING rather than asked of the EVP_PKEY: in a process where an
 * engine is the default for EC (openssl req/s_server -engine pkcs11), a decoded key is a legacy
 * engine key whose parameters cannot be read. */
static int ec_point(const uint8_t *spki, size_t spki_len, uint8_t **out, size_t *len)
{
    const unsigned char *p = spki;
    X509_PUBKEY *xp = d2i_X509_PUBKEY(NULL, &p, (long)spki_len);
    const unsigned char *point = NULL;
    int n = 0, at = 0, ok = 0;

    if (xp == NULL || X509_PUBKEY_get0_param(NULL, &point, &n, NULL, xp) != 1 || n < 3 ||
        n > 1 + 2 * 66 || point[0] != 0x04)
        goto out;
    *out = malloc((size_t)n + 3);
    if (*out == NULL)
        goto out;
    (*out)[at++] = 0x04;
    if (n >= 0x80)
        (*out)[at++] = 0x81;
    (*out)[at++] = (uint8_t)n;
    memcpy(*out + at, point, (size_t)n);
    *len = (size_t)(at + n);
    ok = 1;
out:
    X509_PUBKEY_free(xp);
    return ok;
}

/* Check what the backend gave and fill k's public half from it. */
static CK_RV take_public(p11kms_asym_key *k, const p11kms_buf *spki)
{
    const unsigned char *p = spki->data;
    EVP_PKEY *pk = NULL, *cert_pk = NULL;
    const p11kms_key_type_info *got;
    unsigned char *q;
    CK_RV rv = CKR_DEVICE_ERROR;
    int n;

    if (spki->len == 0 || spki->len > SPKI_MAX ||
        (pk = d2i_PUBKEY(NULL, &p, (long)spki->len)) == NULL || p != spki->data + spki->len) {
        LOG_E("%s: the public key of key \"%s\" is not a DER SubjectPublicKeyInfo", k->kcfg->origin,
              k->kcfg->label);
        goto out;
    }
    got = p11kms_key_type_get(p11kms_key_type_of_pkey(pk));
    if (got == NULL || got != k->type) {
        LOG_E("%s: key \"%s\" is configured as %s but its public key is %s", k->kcfg->origin,
              k->kcfg->label, k->type->name, got != NULL ? got->name : "of another kind");
        goto out;
    }
    if (k->cert != NULL) {
        p = k->cert->spki;
        cert_pk = d2i_PUBKEY(NULL, &p, (long)k->cert->spki_len);
        if (cert_pk == NULL || EVP_PKEY_eq(pk, cert_pk) != 1) {
            LOG_E("%s: the certificate %s does not hold the public key of key \"%s\"",
                  k->kcfg->origin, k->kcfg->certificate, k->kcfg->label);
            goto out;
        }
    }
    rv = CKR_HOST_MEMORY;
    n = i2d_PUBKEY(pk, NULL);
    if (n <= 0 || (k->spki = malloc((size_t)n)) == NULL)
        goto out;
    q = k->spki;
    if (i2d_PUBKEY(pk, &q) != n)
        goto out;
    k->spki_len = (size_t)n;
    if (k->type->ckk == CKK_RSA) {
        if (!bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &k->modulus, &k->modulus_len) ||
            !bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &k->exponent, &k->exponent_len))
            goto out;
    } else if (!ec_point(k->spki, k->spki_len, &k->ec_point, &k->ec_point_len)) {
        goto out;
    }
    k->pub = pk;
    pk = NULL;
    rv = CKR_OK;
out:
    if (rv != CKR_OK) {
        free(k->spki);
        free(k->modulus);
        free(k->exponent);
        free(k->ec_point);
        k->spki = k->modulus = k->exponent = k->ec_point = NULL;
    }
    EVP_PKEY_free(pk);
    EVP_PKEY_free(cert_pk);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_asym_public(p11kms_asym_key *k)
{
    p11kms_buf spki = {NULL, 0};
    CK_RV rv = CKR_OK;

    if (atomic_load_explicit(&k->have_public, memory_order_acquire))
        return CKR_OK;
    /* One fetch at a time: whoever waits here finds it done. */
    pthread_mutex_lock(&k->lock);
    if (atomic_load_explicit(&k->have_public, memory_order_relaxed))
        goto out;
    rv = k->backend->ops->public_key(k->backend, &spki);
    if (rv == CKR_OK)
        rv = take_public(k, &spki);
    if (rv == CKR_OK) {
        atomic_store_explicit(&k->have_public, 1, memory_order_release);
        LOG_D("%s: public key of \"%s\" loaded (%zu bytes)", k->kcfg->origin, k->kcfg->label,
              k->spki_len);
    }
out:
    pthread_mutex_unlock(&k->lock);
    p11kms_buf_free(&spki);
    return rv;
}

static const CK_MECHANISM_TYPE ec_mechs[] = {CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384,
                                             CKM_ECDSA_SHA512};
/* RSA: the signing ones, then OAEP */
static const CK_MECHANISM_TYPE rsa_mechs[] = {
    CKM_RSA_PKCS,      CKM_SHA256_RSA_PKCS,     CKM_SHA384_RSA_PKCS,     CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS,  CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
    CKM_RSA_PKCS_OAEP,
};
#define RSA_SIGN_MECHS 8

int p11kms_asym_attr_from_public(CK_ATTRIBUTE_TYPE type)
{
    return type == CKA_MODULUS || type == CKA_PUBLIC_EXPONENT || type == CKA_EC_POINT ||
           type == CKA_PUBLIC_KEY_INFO;
}

const CK_MECHANISM_TYPE *p11kms_asym_mechanisms(const p11kms_asym_key *k, size_t *n)
{
    const p11kms_key_config *kc = k->kcfg;
    int sign = (kc->perms & P11KMS_PERM_SIGN) != 0,
        decrypt = (kc->perms & P11KMS_PERM_DECRYPT) != 0;

    if (k->type->ckk == CKK_EC) {
        *n = sign ? sizeof(ec_mechs) / sizeof(ec_mechs[0]) : 0;
        return ec_mechs;
    }
    *n = (sign ? RSA_SIGN_MECHS : 0) + (decrypt ? 1 : 0);
    return sign ? rsa_mechs : rsa_mechs + RSA_SIGN_MECHS;
}
