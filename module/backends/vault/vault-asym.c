/* vault-asym.c - asymmetric Vault transit keys (ecdsa-p256/p384/p521, rsa-2048/3072/4096):
 * the key read once (its type, latest version and that version's public key), signatures of a
 * digest (transit/sign, prehashed) and RSA-OAEP SHA-256 decryption (transit/decrypt), both
 * pinned to the version whose public key the core holds. */
/*
 * Locking: vb->asym_lock protects asym_version, spki and spki_len; it is held across the one
 * keys/NAME read, so concurrent first uses wait for it instead of reading twice. Once the
 * version is set it never changes. The client locks its own parts (vault-client.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "keytype.h"
#include "log.h"
#include "net/json.h"
#include "secmem.h"
#include "vault-client.h"
#include "vault-key.h"

#define BODY_MAX (16u * 1024u)
#define PEM_MAX 8192       /* an RSA-4096 public key PEM is about 800 bytes */
#define SIGNATURE_MAX 1024 /* RSA-4096: 512 bytes; ECDSA P-521 DER: 139 */
#define OAEP_PLAINTEXT_MAX 512
#define TYPE_MAX 32

const char *p11kms_vault_asym_type(int key_type)
{
    switch (key_type) {
    case P11KMS_KT_EC_P256:
        return "ecdsa-p256";
    case P11KMS_KT_EC_P384:
        return "ecdsa-p384";
    case P11KMS_KT_EC_P521:
        return "ecdsa-p521";
    case P11KMS_KT_RSA_2048:
        return "rsa-2048";
    case P11KMS_KT_RSA_3072:
        return "rsa-3072";
    case P11KMS_KT_RSA_4096:
        return "rsa-4096";
    default:
        return NULL;
    }
}

/* Vault's hash_algorithm of a signing algorithm's hash. */
static const char *hash_name(int alg)
{
    switch (p11kms_sig_alg_digest_len(alg)) {
    case 32:
        return "sha2-256";
    case 48:
        return "sha2-384";
    case 64:
        return "sha2-512";
    default:
        return NULL;
    }
}

/* data.keys["<latest>"].public_key of a keys/NAME answer, checked against the configured type. */
static CK_RV take_key(vault_backend *vb, const p11kms_net_reply *r)
{
    const char *want = p11kms_vault_asym_type(vb->key_type);
    p11kms_json data, v, keys, entry;
    char *type = NULL, *pem = NULL, ver[24];
    uint64_t latest = 0;
    CK_RV rv = CKR_DEVICE_ERROR;

    if (!p11kms_json_member(&r->root, "data", &data) || !p11kms_json_member(&data, "type", &v) ||
        p11kms_json_string(&v, TYPE_MAX, &type) != 0 ||
        !p11kms_json_member(&data, "latest_version", &v) ||
        p11kms_json_uint(&v, UINT32_MAX, &latest) != 0 || latest == 0) {
        LOG_E("vault: read key %s: answer without data.type and data.latest_version (request "
              "id %s)",
              vb->key_ref, r->request_id);
        goto out;
    }
    if (want == NULL || strcmp(type, want) != 0) {
        LOG_E("vault: %s is a Vault key of type %s, but the configuration says %s (Vault type "
              "%s): refused",
              vb->key_ref, type, p11kms_key_type_get(vb->key_type)->name,
              want != NULL ? want : "none");
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        goto out;
    }
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)latest);
    if (!p11kms_json_member(&data, "keys", &keys) || !p11kms_json_member(&keys, ver, &entry) ||
        !p11kms_json_member(&entry, "public_key", &v) ||
        p11kms_json_string(&v, PEM_MAX, &pem) != 0) {
        LOG_E("vault: read key %s: answer without the public key of version %s (request id %s)",
              vb->key_ref, ver, r->request_id);
        goto out;
    }
    rv = p11kms_pem_public_to_spki(pem, &vb->spki, &vb->spki_len);
    if (rv == CKR_DEVICE_ERROR)
        LOG_E("vault: read key %s: the public key of version %s is not a PEM public key "
              "(request id %s)",
              vb->key_ref, ver, r->request_id);
    if (rv != CKR_OK)
        goto out;
    vb->asym_version = (uint32_t)latest;
    p11kms_vault_key_saw_version(vb, vb->asym_version);
    LOG_D("vault: %s: %s, version %u (request id %s)", vb->key_ref, type, vb->asym_version,
          r->request_id);
out:
    free(type);
    free(pem);
    return rv;
}

/* The pinned version, reading keys/NAME the first time. With spki, a copy of its public key. */
static CK_RV pinned(vault_backend *vb, uint64_t deadline, uint32_t *version, p11kms_buf *spki)
{
    p11kms_net_reply reply;
    CK_RV rv = CKR_OK;

    memset(&reply, 0, sizeof(reply));
    pthread_mutex_lock(&vb->asym_lock);
    if (vb->asym_version == 0) {
        rv = p11kms_vault_call(vb->client, "read key", vb->key_ref, "GET", vb->keys_path, NULL,
                               deadline, &reply);
        if (rv == CKR_OK)
            rv = take_key(vb, &reply);
    }
    if (rv == CKR_OK) {
        *version = vb->asym_version;
        if (spki != NULL && p11kms_buf_set(spki, vb->spki, vb->spki_len) != 0)
            rv = CKR_HOST_MEMORY;
    }
    pthread_mutex_unlock(&vb->asym_lock);
    p11kms_net_reply_clear(&reply);
    return rv;
}

CK_RV p11kms_vault_public_key(p11kms_backend *be, p11kms_buf *spki)
{
    vault_backend *vb = (vault_backend *)be;
    uint32_t version = 0;

    return pinned(vb, p11kms_vault_client_deadline(vb->client), &version, spki);
}

static void add_string(p11kms_sbuf *b, const char *name, const char *value)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_char(b, ':');
    p11kms_sbuf_json_string(b, value, strlen(value));
}

/* A request parameter an older Vault ignored (it says so in a warning): its answer would not
 * be what PKCS#11 asked for, so it is dropped. */
static CK_RV ignored(vault_backend *vb, const p11kms_net_reply *r, const char *param,
                     const char *why)
{
    if (!p11kms_vault_answer_ignored(&r->root, param))
        return CKR_OK;
    LOG_E("vault: sign %s: this Vault ignored %s (request id %s): %s; the signature is dropped",
          vb->key_ref, param, r->request_id, why);
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

CK_RV p11kms_vault_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest,
                               size_t digest_len, p11kms_buf *sig)
{
    vault_backend *vb = (vault_backend *)be;
    uint64_t deadline = p11kms_vault_client_deadline(vb->client);
    const char *hash = hash_name(alg), *why = NULL;
    int ecdsa = p11kms_sig_alg_is_ecdsa(alg);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint32_t version = 0, got = 0;
    char num[16];
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (hash == NULL || digest_len != p11kms_sig_alg_digest_len(alg) ||
        ecdsa != (p11kms_key_type_get(vb->key_type)->ckk == CKK_EC)) {
        LOG_E("vault: sign %s: no Vault signature for a %zu-byte digest of algorithm %d",
              vb->key_ref, digest_len, alg);
        rv = CKR_GENERAL_ERROR;
        goto out;
    }
    rv = pinned(vb, deadline, &version, NULL);
    if (rv != CKR_OK)
        goto out;
    p11kms_sbuf_str(&body, "{\"input\":\"");
    p11kms_sbuf_base64(&body, digest, digest_len);
    p11kms_sbuf_str(&body, "\",\"prehashed\":true");
    add_string(&body, "hash_algorithm", hash);
    snprintf(num, sizeof(num), "%u", version);
    p11kms_sbuf_str(&body, ",\"key_version\":");
    p11kms_sbuf_str(&body, num);
    if (ecdsa) {
        add_string(&body, "marshaling_algorithm", "asn1"); /* DER: the core makes r||s */
    } else if (p11kms_sig_alg_is_pss(alg)) {
        add_string(&body, "signature_algorithm", "pss");
        add_string(&body, "salt_length", "hash"); /* Vault's default is the longest salt */
    } else {
        add_string(&body, "signature_algorithm", "pkcs1v15");
    }
    p11kms_sbuf_char(&body, '}');
    rv = p11kms_vault_call(vb->client, "sign", vb->key_ref, "POST", vb->sign_path, &body, deadline,
                           &reply);
    if (rv == CKR_OK)
        rv = ignored(vb, &reply, "prehashed", "it would have hashed the digest again");
    if (rv == CKR_OK && p11kms_sig_alg_is_pss(alg))
        rv = ignored(vb, &reply, "salt_length",
                     "its PSS salt is as long as the key allows, not the hash length PKCS#11 "
                     "asks (Vault 1.14 and later take salt_length; or sign with PKCS#1 v1.5)");
    if (rv != CKR_OK)
        goto out;
    if (p11kms_vault_answer_signature(&reply.root, SIGNATURE_MAX, &sig->data, &sig->len, &got,
                                      &why) != 0) {
        LOG_E("vault: sign %s: answer with %s (request id %s)", vb->key_ref, why, reply.request_id);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    if (got != version) {
        LOG_E("vault: sign %s: asked for version %u, the signature is version %u (request id "
              "%s); dropped",
              vb->key_ref, version, got, reply.request_id);
        p11kms_buf_free(sig);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    LOG_D("vault: sign %s with %s, version %u (request id %s)", vb->key_ref, hash, version,
          reply.request_id);
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

/* OAEP may carry an empty message, which Vault answers as "": a one-byte buffer of length 0. */
static int empty_plaintext(const p11kms_json *root, uint8_t **data)
{
    p11kms_json d, v;
    char *s = NULL;
    int empty;

    if (!p11kms_json_member(root, "data", &d) || !p11kms_json_member(&d, "plaintext", &v) ||
        p11kms_json_string(&v, 1, &s) != 0)
        return 0;
    empty = s[0] == 0;
    free(s);
    if (empty)
        *data = calloc(1, 1);
    return empty && *data != NULL;
}

CK_RV p11kms_vault_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                                p11kms_buf *pt)
{
    vault_backend *vb = (vault_backend *)be;
    uint64_t deadline = p11kms_vault_client_deadline(vb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint32_t version = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    char prefix[32];
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (alg != P11KMS_OAEP_SHA256) {
        /* transit decrypts RSA with OAEP, SHA-256 for both the label hash and MGF1: a
         * ciphertext made with SHA-1 would not open there */
        LOG_E("vault: decrypt %s: Vault transit decrypts RSA-OAEP with SHA-256 and MGF1-SHA256 "
              "only; CKM_RSA_PKCS_OAEP with SHA-1 is refused",
              vb->key_ref);
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    if (ct_len == 0 || ct_len > OAEP_PLAINTEXT_MAX) {
        LOG_E("vault: decrypt %s: a %zu-byte RSA ciphertext", vb->key_ref, ct_len);
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    rv = pinned(vb, deadline, &version, NULL);
    if (rv != CKR_OK)
        goto out;
    /* the ciphertext as transit writes its own: "vault:v<N>:" and base64 */
    snprintf(prefix, sizeof(prefix), "vault:v%u:", version);
    p11kms_sbuf_str(&body, "{\"ciphertext\":\"");
    p11kms_sbuf_str(&body, prefix);
    p11kms_sbuf_base64(&body, ct, ct_len);
    p11kms_sbuf_str(&body, "\"}");
    rv = p11kms_vault_call(vb->client, "decrypt", vb->key_ref, "POST", vb->decrypt_path, &body,
                           deadline, &reply);
    if (rv != CKR_OK)
        goto out;
    if (p11kms_vault_answer_plaintext(&reply.root, OAEP_PLAINTEXT_MAX, &data, &len) != 0 &&
        !empty_plaintext(&reply.root, &data)) {
        LOG_E("vault: decrypt %s: answer without a usable data.plaintext (request id %s)",
              vb->key_ref, reply.request_id);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    pt->data = data;
    pt->len = len;
    data = NULL;
    LOG_D("vault: decrypt %s (RSA-OAEP SHA-256, version %u): %zu bytes (request id %s)",
          vb->key_ref, version, len, reply.request_id);
out:
    p11kms_secure_free(data, len);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}
