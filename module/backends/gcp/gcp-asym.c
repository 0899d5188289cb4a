/* gcp-asym.c - asymmetric Cloud KMS keys: one CryptoKeyVersion whose algorithm (from
 * getPublicKey) decides what it may do; getPublicKey (PEM, pemCrc32c checked), asymmetricSign of
 * a digest and asymmetricDecrypt (RSA-OAEP), with CRC32C both ways as for encrypt and decrypt.
 * A mechanism the algorithm cannot do is refused before Cloud KMS is asked to sign or decrypt. */
/*
 * Locking: gb->asym_lock guards algorithm, spki and spki_len, and is held across the one
 * getPublicKey call, so concurrent first uses wait for it; once set they never change. Sign and
 * decrypt calls run in parallel (the client locks its own parts).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "gcp-backend.h"
#include "gcp-crc32c.h"
#include "keytype.h"
#include "log.h"
#include "net/clock.h"
#include "secmem.h"

#define BODY_MAX (16u * 1024u)
#define PEM_MAX 8192
#define SIGNATURE_MAX 1024 /* RSA-4096: 512 bytes; ECDSA P-384 DER: 104 */
#define OAEP_PLAINTEXT_MAX 512
#define ALGORITHM_MAX 64

/* What a CryptoKeyVersion algorithm is in PKCS#11 terms: its key type and the one signing
 * (P11KMS_SIG_*) or OAEP (P11KMS_OAEP_*) algorithm it does; 0 for the other. */
struct gcp_algorithm {
    const char *name;
    int key_type;
    int sig;
    int oaep;
};

static const gcp_algorithm algorithms[] = {
    {"EC_SIGN_P256_SHA256", P11KMS_KT_EC_P256, P11KMS_SIG_ECDSA_SHA256, 0},
    {"EC_SIGN_P384_SHA384", P11KMS_KT_EC_P384, P11KMS_SIG_ECDSA_SHA384, 0},
    {"EC_SIGN_SECP256K1_SHA256", P11KMS_KT_EC_SECP256K1, P11KMS_SIG_ECDSA_SHA256, 0},
    {"RSA_SIGN_PSS_2048_SHA256", P11KMS_KT_RSA_2048, P11KMS_SIG_RSA_PSS_SHA256, 0},
    {"RSA_SIGN_PSS_3072_SHA256", P11KMS_KT_RSA_3072, P11KMS_SIG_RSA_PSS_SHA256, 0},
    {"RSA_SIGN_PSS_4096_SHA256", P11KMS_KT_RSA_4096, P11KMS_SIG_RSA_PSS_SHA256, 0},
    {"RSA_SIGN_PSS_4096_SHA512", P11KMS_KT_RSA_4096, P11KMS_SIG_RSA_PSS_SHA512, 0},
    {"RSA_SIGN_PKCS1_2048_SHA256", P11KMS_KT_RSA_2048, P11KMS_SIG_RSA_PKCS1_SHA256, 0},
    {"RSA_SIGN_PKCS1_3072_SHA256", P11KMS_KT_RSA_3072, P11KMS_SIG_RSA_PKCS1_SHA256, 0},
    {"RSA_SIGN_PKCS1_4096_SHA256", P11KMS_KT_RSA_4096, P11KMS_SIG_RSA_PKCS1_SHA256, 0},
    {"RSA_SIGN_PKCS1_4096_SHA512", P11KMS_KT_RSA_4096, P11KMS_SIG_RSA_PKCS1_SHA512, 0},
    {"RSA_DECRYPT_OAEP_2048_SHA256", P11KMS_KT_RSA_2048, 0, P11KMS_OAEP_SHA256},
    {"RSA_DECRYPT_OAEP_3072_SHA256", P11KMS_KT_RSA_3072, 0, P11KMS_OAEP_SHA256},
    {"RSA_DECRYPT_OAEP_4096_SHA256", P11KMS_KT_RSA_4096, 0, P11KMS_OAEP_SHA256},
    {"RSA_DECRYPT_OAEP_2048_SHA1", P11KMS_KT_RSA_2048, 0, P11KMS_OAEP_SHA1},
    {"RSA_DECRYPT_OAEP_3072_SHA1", P11KMS_KT_RSA_3072, 0, P11KMS_OAEP_SHA1},
    {"RSA_DECRYPT_OAEP_4096_SHA1", P11KMS_KT_RSA_4096, 0, P11KMS_OAEP_SHA1},
};

static const gcp_algorithm *algorithm_named(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
        if (strcmp(algorithms[i].name, name) == 0)
            return &algorithms[i];
    return NULL;
}

/* How a signing or OAEP algorithm is spoken of in log lines. */
static const char *sig_name(int sig)
{
    static const char *const names[] = {"?",
                                        "ECDSA with SHA-256",
                                        "ECDSA with SHA-384",
                                        "ECDSA with SHA-512",
                                        "RSA PKCS#1 v1.5 with SHA-256",
                                        "RSA PKCS#1 v1.5 with SHA-384",
                                        "RSA PKCS#1 v1.5 with SHA-512",
                                        "RSA-PSS with SHA-256",
                                        "RSA-PSS with SHA-384",
                                        "RSA-PSS with SHA-512"};

    return sig > 0 && sig < (int)(sizeof(names) / sizeof(names[0])) ? names[sig] : "?";
}

/* The answer's name must be the configured version: 0, or -1 (logged). */
static int answer_name(const gcp_backend *gb, const char *op, const p11kms_json *root)
{
    p11kms_json v;
    char *name = NULL;
    int same;

    if (!p11kms_json_member(root, "name", &v))
        return 0; /* optional in the publicKey and asymmetricDecrypt answers */
    same = p11kms_json_string(&v, P11KMS_KEY_REF_MAX, &name) == 0 &&
           strcmp(name, gb->version_name) == 0;
    if (!same)
        LOG_E("gcp: %s %s: Cloud KMS answered for %s, not for this version", op, gb->version_name,
              name != NULL ? name : "(unreadable)");
    free(name);
    return same ? 0 : -1;
}

/* A getPublicKey answer: 0 with the algorithm and public key taken, 1 an integrity failure
 * (*why), -1 wrong in itself (logged), -2 out of memory, -3 a version this key cannot be (an
 * algorithm of another key type, or one no mechanism maps to; logged). */
static int take_public(gcp_backend *gb, const p11kms_net_reply *r, const char **why)
{
    const p11kms_key_type_info *want = p11kms_key_type_get(gb->key_type), *got;
    const gcp_algorithm *alg;
    p11kms_json v;
    char *pem = NULL, *name = NULL;
    uint32_t crc = 0;
    int rc = -1;
    CK_RV rv;

    if (answer_name(gb, "getPublicKey", &r->root) != 0)
        goto out;
    if (!p11kms_json_member(&r->root, "algorithm", &v) ||
        p11kms_json_string(&v, ALGORITHM_MAX, &name) != 0) {
        LOG_E("gcp: getPublicKey %s: answer without an algorithm", gb->version_name);
        goto out;
    }
    alg = algorithm_named(name);
    if (alg == NULL) {
        LOG_E("gcp: %s is %s, which no PKCS#11 mechanism here maps to (EC_SIGN_P256_SHA256, "
              "EC_SIGN_P384_SHA384, EC_SIGN_SECP256K1_SHA256, RSA_SIGN_PSS_*, RSA_SIGN_PKCS1_*, "
              "RSA_DECRYPT_OAEP_*_SHA256 and _SHA1 do)",
              gb->version_name, name);
        rc = -3;
        goto out;
    }
    got = p11kms_key_type_get(alg->key_type);
    if (alg->key_type != gb->key_type) {
        LOG_E("gcp: %s is %s (type %s), but the configuration says %s: refused", gb->version_name,
              name, got->name, want->name);
        rc = -3;
        goto out;
    }
    rc = 1;
    if (!p11kms_json_member(&r->root, "pem", &v) || p11kms_json_string(&v, PEM_MAX, &pem) != 0) {
        *why = "no usable pem";
        goto out;
    }
    if (p11kms_gcp_answer_crc(&r->root, "pemCrc32c", &crc) != 0 ||
        crc != p11kms_gcp_crc32c((const uint8_t *)pem, strlen(pem))) {
        *why = "the pem does not match its pemCrc32c";
        goto out;
    }
    rv = p11kms_pem_public_to_spki(pem, &gb->spki, &gb->spki_len);
    if (rv != CKR_OK) {
        if (rv == CKR_DEVICE_ERROR)
            LOG_E("gcp: getPublicKey %s: the pem is not a PEM public key", gb->version_name);
        rc = rv == CKR_HOST_MEMORY ? -2 : -1;
        goto out;
    }
    gb->algorithm = alg;
    LOG_D("gcp: %s: %s", gb->version_name, name);
    rc = 0;
out:
    free(pem);
    free(name);
    return rc;
}

/* The version's algorithm, asking getPublicKey the first time; with spki, a copy of its public
 * key. Under asym_lock. */
static CK_RV loaded(gcp_backend *gb, uint64_t deadline, const gcp_algorithm **alg, p11kms_buf *spki)
{
    p11kms_net_reply reply;
    char path[P11KMS_KEY_REF_MAX + 16];
    const char *why = NULL;
    int answers, rc;
    CK_RV rv = CKR_OK;

    memset(&reply, 0, sizeof(reply));
    snprintf(path, sizeof(path), "%s/publicKey", gb->version_name);
    pthread_mutex_lock(&gb->asym_lock);
    for (answers = 1; gb->algorithm == NULL; answers++) {
        rv = p11kms_gcp_call(gb->client, "GetPublicKey", path, NULL, NULL, deadline, &reply);
        if (rv != CKR_OK) {
            if (rv == CKR_ENCRYPTED_DATA_INVALID)
                rv = CKR_DEVICE_ERROR; /* no ciphertext here to be refused */
            break;
        }
        rc = take_public(gb, &reply, &why);
        p11kms_net_reply_clear(&reply);
        if (rc == 0)
            break;
        if (rc < 0) {
            rv = rc == -2   ? CKR_HOST_MEMORY
                 : rc == -3 ? CKR_KEY_FUNCTION_NOT_PERMITTED
                            : CKR_DEVICE_ERROR;
            break;
        }
        if (!p11kms_gcp_may_retry(gb, answers, deadline)) {
            LOG_E("gcp: getPublicKey %s failed: %s (answer %d discarded; no more tries)",
                  gb->version_name, why, answers);
            rv = CKR_DEVICE_ERROR;
            break;
        }
        LOG_W("gcp: getPublicKey %s: %s; answer %d discarded, asking again", gb->version_name, why,
              answers);
    }
    if (rv == CKR_OK) {
        *alg = gb->algorithm;
        if (spki != NULL && p11kms_buf_set(spki, gb->spki, gb->spki_len) != 0)
            rv = CKR_HOST_MEMORY;
    }
    pthread_mutex_unlock(&gb->asym_lock);
    p11kms_net_reply_clear(&reply);
    return rv;
}

CK_RV p11kms_gcp_public_key(p11kms_backend *be, p11kms_buf *spki)
{
    gcp_backend *gb = (gcp_backend *)be;
    const gcp_algorithm *alg = NULL;

    return loaded(gb, p11kms_gcp_client_deadline(gb->client), &alg, spki);
}

/* An asymmetricSign answer: 0 with the signature taken, 1 an integrity failure, -1 wrong. */
static int take_signature(const gcp_backend *gb, const p11kms_net_reply *r, p11kms_buf *sig,
                          const char **why)
{
    p11kms_json v;
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t crc = 0;

    if (answer_name(gb, "asymmetricSign", &r->root) != 0)
        return -1;
    if (!p11kms_gcp_answer_flag(&r->root, "verifiedDigestCrc32c")) {
        *why = "Cloud KMS did not verify the digest's CRC32C";
        return 1;
    }
    if (!p11kms_json_member(&r->root, "signature", &v) ||
        p11kms_json_base64(&v, SIGNATURE_MAX, &data, &len) != 0) {
        *why = "no usable signature";
        return 1;
    }
    if (p11kms_gcp_answer_crc(&r->root, "signatureCrc32c", &crc) != 0 ||
        crc != p11kms_gcp_crc32c(data, len)) {
        free(data);
        *why = "the signature does not match its signatureCrc32c";
        return 1;
    }
    sig->data = data;
    sig->len = len;
    return 0;
}

CK_RV p11kms_gcp_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest, size_t digest_len,
                             p11kms_buf *sig)
{
    gcp_backend *gb = (gcp_backend *)be;
    uint64_t deadline = p11kms_gcp_client_deadline(gb->client);
    const gcp_algorithm *ka = NULL;
    const char *why = NULL, *hash;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    char path[P11KMS_KEY_REF_MAX + 1];
    int answers, rc;
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    hash = digest_len == 32 ? "sha256" : digest_len == 48 ? "sha384" : "sha512";
    if (digest_len != p11kms_sig_alg_digest_len(alg) || digest_len == 0) {
        LOG_E("gcp: asymmetricSign %s: a %zu-byte digest for %s", gb->version_name, digest_len,
              sig_name(alg));
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    rv = loaded(gb, deadline, &ka, NULL);
    if (rv != CKR_OK)
        goto out;
    if (ka->sig != alg) {
        if (ka->sig == 0)
            LOG_E("gcp: %s is %s: it decrypts and does not sign; refused", gb->version_name,
                  ka->name);
        else
            LOG_E("gcp: %s is %s: it signs %s only, not %s; refused before Cloud KMS is asked",
                  gb->version_name, ka->name, sig_name(ka->sig), sig_name(alg));
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        goto out;
    }
    p11kms_sbuf_str(&body, "{\"digest\":{\"");
    p11kms_sbuf_str(&body, hash);
    p11kms_sbuf_str(&body, "\":\"");
    p11kms_sbuf_base64(&body, digest, digest_len);
    p11kms_sbuf_str(&body, "\"}");
    p11kms_gcp_add_crc(&body, "digestCrc32c", p11kms_gcp_crc32c(digest, digest_len));
    p11kms_sbuf_char(&body, '}');
    snprintf(path, sizeof(path), "%s", gb->version_name);
    for (answers = 1;; answers++) {
        rv = p11kms_gcp_call(gb->client, "AsymmetricSign", path, "asymmetricSign", &body, deadline,
                             &reply);
        if (rv != CKR_OK) {
            if (rv == CKR_ENCRYPTED_DATA_INVALID)
                rv = CKR_DEVICE_ERROR; /* a refused digest is not a refused ciphertext */
            goto out;
        }
        rc = take_signature(gb, &reply, sig, &why);
        p11kms_net_reply_clear(&reply);
        if (rc == 0)
            break;
        if (rc < 0) {
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        if (!p11kms_gcp_may_retry(gb, answers, deadline)) {
            LOG_E("gcp: asymmetricSign %s failed: %s (answer %d discarded; no more tries)",
                  gb->version_name, why, answers);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        LOG_W("gcp: asymmetricSign %s: %s; answer %d discarded, asking again", gb->version_name,
              why, answers);
    }
    LOG_D("gcp: asymmetricSign %s (%s)", gb->version_name, ka->name);
    rv = CKR_OK;
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

/* An asymmetricDecrypt answer: 0 with the plaintext taken, 1 an integrity failure, -1 wrong. */
static int take_plaintext(const gcp_backend *gb, const p11kms_net_reply *r, p11kms_buf *pt,
                          const char **why)
{
    p11kms_json v;
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t crc = 0;
    char *s = NULL;

    if (answer_name(gb, "asymmetricDecrypt", &r->root) != 0)
        return -1;
    if (!p11kms_gcp_answer_flag(&r->root, "verifiedCiphertextCrc32c")) {
        *why = "Cloud KMS did not verify the ciphertext's CRC32C";
        return 1;
    }
    /* proto3 leaves an empty plaintext out; its CRC32C (0) is still there */
    if (!p11kms_json_member(&r->root, "plaintext", &v)) {
        data = calloc(1, 1);
    } else if (p11kms_json_base64(&v, OAEP_PLAINTEXT_MAX, &data, &len) != 0) {
        if (p11kms_json_string(&v, 1, &s) == 0 && s[0] == 0)
            data = calloc(1, 1);
        free(s);
        if (data == NULL) {
            *why = "no usable plaintext";
            return 1;
        }
    }
    if (data == NULL) {
        *why = "no memory";
        return 1;
    }
    if (p11kms_gcp_answer_crc(&r->root, "plaintextCrc32c", &crc) != 0 ||
        crc != p11kms_gcp_crc32c(data, len)) {
        p11kms_secure_free(data, len);
        *why = "the plaintext does not match its plaintextCrc32c";
        return 1;
    }
    pt->data = data;
    pt->len = len;
    return 0;
}

CK_RV p11kms_gcp_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                              p11kms_buf *pt)
{
    gcp_backend *gb = (gcp_backend *)be;
    uint64_t deadline = p11kms_gcp_client_deadline(gb->client);
    const gcp_algorithm *ka = NULL;
    const char *why = NULL;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    char path[P11KMS_KEY_REF_MAX + 1];
    int answers, rc;
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (ct_len == 0 || ct_len > OAEP_PLAINTEXT_MAX) {
        LOG_E("gcp: asymmetricDecrypt %s: a %zu-byte RSA ciphertext", gb->version_name, ct_len);
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    rv = loaded(gb, deadline, &ka, NULL);
    if (rv != CKR_OK)
        goto out;
    if (ka->oaep != alg) {
        if (ka->oaep == 0) {
            LOG_E("gcp: %s is %s: it signs and does not decrypt; refused", gb->version_name,
                  ka->name);
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        } else {
            LOG_E("gcp: %s is %s: CKM_RSA_PKCS_OAEP must name %s with MGF1 on it; refused "
                  "before Cloud KMS is asked",
                  gb->version_name, ka->name, ka->oaep == P11KMS_OAEP_SHA1 ? "SHA-1" : "SHA-256");
            rv = CKR_MECHANISM_PARAM_INVALID;
        }
        goto out;
    }
    p11kms_sbuf_char(&body, '{');
    p11kms_gcp_add_bytes(&body, "ciphertext", ct, ct_len);
    p11kms_gcp_add_crc(&body, "ciphertextCrc32c", p11kms_gcp_crc32c(ct, ct_len));
    p11kms_sbuf_char(&body, '}');
    snprintf(path, sizeof(path), "%s", gb->version_name);
    for (answers = 1;; answers++) {
        rv = p11kms_gcp_call(gb->client, "AsymmetricDecrypt", path, "asymmetricDecrypt", &body,
                             deadline, &reply);
        if (rv != CKR_OK)
            goto out; /* INVALID_ARGUMENT: "Decryption failed.", a ciphertext that does not open */
        rc = take_plaintext(gb, &reply, pt, &why);
        p11kms_net_reply_clear(&reply); /* wipes the answer, plaintext and all */
        if (rc == 0)
            break;
        if (rc < 0) {
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        if (!p11kms_gcp_may_retry(gb, answers, deadline)) {
            LOG_E("gcp: asymmetricDecrypt %s failed: %s (answer %d discarded; no more tries)",
                  gb->version_name, why, answers);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        LOG_W("gcp: asymmetricDecrypt %s: %s; answer %d discarded, asking again", gb->version_name,
              why, answers);
    }
    LOG_D("gcp: asymmetricDecrypt %s (%s): %zu bytes", gb->version_name, ka->name, pt->len);
    rv = CKR_OK;
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}
