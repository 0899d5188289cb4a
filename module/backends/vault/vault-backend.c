/* vault-backend.c - the "vault" backend: data keys wrapped by Vault transit encrypt/decrypt
 * with the canonical context encoding bound as a derived key's context (or as associated_data),
 * rewrap inside Vault, key versions from the ciphertexts, and the key's details for
 * diagnostics. Asymmetric keys (sign, RSA decrypt) are in vault-asym.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "backend.h"
#include "log.h"
#include "secmem.h"
#include "vault-client.h"
#include "vault-key.h"

/*
 * Locking: vb->lock protects `latest` and `binding` (what the checks of vault-key.c learned);
 * vb->asym_lock the asymmetric key's pinned version and public key (vault-asym.c).
 * The client's own parts lock themselves (token cache, quota, connection pool), so calls run
 * in parallel.
 */

#define BODY_MAX (64u * 1024u)
#define PREFIX_MAX 18 /* "vault:v" + 10 digits + ":" */

extern const p11kms_backend_ops p11kms_backend_vault_ops;

static int vault_owns(p11kms_backend *be, const p11kms_kms_blob *in)
{
    vault_backend *vb = (vault_backend *)be;

    return in->backend_id == P11KMS_VAULT_ENVELOPE_ID && in->key_ref != NULL &&
           strcmp(in->key_ref, vb->key_ref) == 0;
}

void p11kms_vault_key_saw_version(vault_backend *vb, uint32_t version)
{
    pthread_mutex_lock(&vb->lock);
    if (version > vb->latest)
        vb->latest = version;
    pthread_mutex_unlock(&vb->lock);
}

static void add_b64(p11kms_sbuf *b, const char *name, const uint8_t *p, size_t n)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_str(b, ":\"");
    p11kms_sbuf_base64(b, p, n);
    p11kms_sbuf_char(b, '"');
}

/* The context as Vault binds it: the canonical encoding (docs/envelope.md; the purpose pair
 * included), base64, as "context" or "associated_data". */
static CK_RV add_context(p11kms_sbuf *b, const vault_backend *vb, const p11kms_context *ctx)
{
    static const p11kms_context empty = {NULL, 0};
    uint8_t *enc = NULL;
    size_t enc_len = 0;
    CK_RV rv;

    rv = p11kms_context_encode(ctx != NULL ? ctx : &empty, &enc, &enc_len);
    if (rv != CKR_OK)
        return rv;
    add_b64(b,
            vb->client->st.context_mode == P11KMS_VAULT_CONTEXT_AD ? "associated_data" : "context",
            enc, enc_len);
    free(enc);
    return CKR_OK;
}

static void add_ciphertext(p11kms_sbuf *b, const p11kms_kms_blob *in)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_str(b, "\"ciphertext\":");
    /* checked by p11kms_vault_ct_version: printable ASCII without quotes or backslashes */
    p11kms_sbuf_json_string(b, (const char *)in->ct, in->ct_len);
}

/* A version Vault ignored associated_data in (1.10 to 1.12 say so in a warning): the answer
 * is dropped, and the key refused from now on. */
static CK_RV ignored_binding(vault_backend *vb, const char *op, const p11kms_net_reply *r)
{
    if (vb->client->st.context_mode != P11KMS_VAULT_CONTEXT_AD ||
        !p11kms_vault_answer_ignored(&r->root, "associated_data"))
        return CKR_OK;
    p11kms_vault_key_refuse(vb, "the server ignored associated_data (Vault before 1.13 does)");
    LOG_E("vault: %s %s: Vault ignored associated_data (request id %s): the answer is dropped "
          "and the key refused, as the context would not be bound (Vault 1.13 or later binds it; "
          "or use a derived key with context_mode derived)",
          op, vb->key_ref, r->request_id);
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

/* A blob's ciphertext as Vault would take it, with a version that agrees with the envelope. */
static CK_RV blob_version(const vault_backend *vb, const char *op, const p11kms_kms_blob *in,
                          uint32_t *version)
{
    if (p11kms_vault_ct_version(in->ct, in->ct_len, version) != 0) {
        LOG_E("vault: %s %s: the envelope holds no Vault ciphertext (vault:v<N>:...)", op,
              vb->key_ref);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    if (in->key_version != 0 && in->key_version != *version) {
        LOG_E("vault: %s %s: the envelope says key version %u but its ciphertext is version %u; "
              "refused",
              op, vb->key_ref, in->key_version, *version);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    return CKR_OK;
}

/* Take the ciphertext of an encrypt or rewrap answer into a blob. */
static CK_RV take_ciphertext(vault_backend *vb, const char *op, const p11kms_net_reply *r,
                             p11kms_kms_blob *out)
{
    const char *why = NULL;
    uint32_t version = 0;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    char *ref;

    if (p11kms_vault_answer_ciphertext(&r->root, &ct, &ct_len, &version, &why) != 0) {
        LOG_E("vault: %s %s: answer with %s (request id %s)", op, vb->key_ref, why, r->request_id);
        return CKR_DEVICE_ERROR;
    }
    ref = strdup(vb->key_ref);
    if (ref == NULL) {
        free(ct);
        return CKR_HOST_MEMORY;
    }
    p11kms_vault_key_saw_version(vb, version);
    out->backend_id = P11KMS_VAULT_ENVELOPE_ID;
    out->key_ref = ref;
    out->key_version = version;
    out->ct = ct;
    out->ct_len = ct_len;
    return CKR_OK;
}

static CK_RV vault_encrypt(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                           size_t pt_len, p11kms_kms_blob *out)
{
    vault_backend *vb = (vault_backend *)be;
    uint64_t deadline = p11kms_vault_client_deadline(vb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (pt_len == 0 || pt_len > P11KMS_KMS_PLAINTEXT_MAX) {
        LOG_E("vault: encrypt %s: %zu bytes; 1 to %d bytes are sent to Vault", vb->key_ref, pt_len,
              P11KMS_KMS_PLAINTEXT_MAX);
        return CKR_DATA_LEN_RANGE;
    }
    rv = p11kms_vault_key_check(vb, NULL, 0, deadline);
    if (rv != CKR_OK)
        goto out;
    p11kms_sbuf_char(&body, '{');
    add_b64(&body, "plaintext", pt, pt_len);
    rv = add_context(&body, vb, ctx);
    p11kms_sbuf_char(&body, '}');
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_vault_call(vb->client, "encrypt", vb->key_ref, "POST", vb->encrypt_path, &body,
                           deadline, &reply);
    if (rv == CKR_OK)
        rv = ignored_binding(vb, "encrypt", &reply);
    if (rv == CKR_OK)
        rv = take_ciphertext(vb, "encrypt", &reply, out);
    if (rv == CKR_OK)
        LOG_D("vault: encrypt %s: %zu bytes under version %u (request id %s)", vb->key_ref, pt_len,
              out->key_version, reply.request_id);
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static CK_RV vault_decrypt(p11kms_backend *be, const p11kms_context *ctx, const p11kms_kms_blob *in,
                           p11kms_buf *pt)
{
    vault_backend *vb = (vault_backend *)be;
    uint64_t deadline = p11kms_vault_client_deadline(vb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint8_t *data = NULL;
    size_t len = 0;
    uint32_t version = 0;
    char what[P11KMS_KEY_REF_MAX + 64];
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    rv = blob_version(vb, "decrypt", in, &version);
    if (rv != CKR_OK)
        goto out;
    rv = p11kms_vault_key_check(vb, in->ct, in->ct_len, deadline);
    if (rv != CKR_OK)
        goto out;
    p11kms_sbuf_char(&body, '{');
    add_ciphertext(&body, in);
    rv = add_context(&body, vb, ctx);
    p11kms_sbuf_char(&body, '}');
    if (rv != CKR_OK)
        goto out;
    /* the version in the log line: a refusal by min_decryption_version names it */
    snprintf(what, sizeof(what), "%s (ciphertext version %u)", vb->key_ref, version);
    rv = p11kms_vault_call(vb->client, "decrypt", what, "POST", vb->decrypt_path, &body, deadline,
                           &reply);
    if (rv == CKR_OK)
        rv = ignored_binding(vb, "decrypt", &reply);
    if (rv != CKR_OK)
        goto out;
    if (p11kms_vault_answer_plaintext(&reply.root, P11KMS_KMS_PLAINTEXT_MAX, &data, &len) != 0) {
        LOG_E("vault: decrypt %s: answer without a usable data.plaintext (request id %s)",
              vb->key_ref, reply.request_id);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    /* Vault answers for the key the path names, and a ciphertext of any other key fails its
     * authentication there: the answer is this key's. */
    pt->data = data;
    pt->len = len;
    data = NULL;
    LOG_D("vault: decrypt %s: %zu bytes, version %u (request id %s)", vb->key_ref, len, version,
          reply.request_id);
    rv = CKR_OK;
out:
    p11kms_secure_free(data, len);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

/* transit/rewrap: the same key's newest version, the plaintext never leaving Vault. */
static CK_RV vault_reencrypt(p11kms_backend *src, const p11kms_context *src_ctx,
                             const p11kms_kms_blob *in, p11kms_backend *dst,
                             const p11kms_context *dst_ctx, p11kms_kms_blob *out)
{
    vault_backend *vb = (vault_backend *)src, *vd = (vault_backend *)dst;
    uint64_t deadline = p11kms_vault_client_deadline(vb->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint32_t version = 0;
    char what[P11KMS_KEY_REF_MAX + 64];
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    /* Declined (backend.h): transit/rewrap moves a ciphertext to the newest version of its own
     * key, on one server, with the same context, and takes no associated_data in any release. */
    if (dst->ops != src->ops || strcmp(vb->key_ref, vd->key_ref) != 0 ||
        strcmp(vb->client->net.settings.url, vd->client->net.settings.url) != 0 ||
        !p11kms_context_equal(src_ctx, dst_ctx) ||
        vb->client->st.context_mode == P11KMS_VAULT_CONTEXT_AD) {
        LOG_D("vault: rewrap %s: not a move transit/rewrap can make; decrypt and encrypt instead",
              vb->key_ref);
        return CKR_FUNCTION_NOT_SUPPORTED;
    }
    rv = blob_version(vb, "rewrap", in, &version);
    if (rv == CKR_OK)
        rv = p11kms_vault_key_check(vb, in->ct, in->ct_len, deadline);
    if (rv != CKR_OK)
        goto out;
    p11kms_sbuf_char(&body, '{');
    add_ciphertext(&body, in);
    rv = add_context(&body, vb, src_ctx);
    p11kms_sbuf_char(&body, '}');
    if (rv != CKR_OK)
        goto out;
    snprintf(what, sizeof(what), "%s (ciphertext version %u)", vb->key_ref, version);
    rv = p11kms_vault_call(vb->client, "rewrap", what, "POST", vb->rewrap_path, &body, deadline,
                           &reply);
    if (rv == CKR_OK)
        rv = take_ciphertext(vb, "rewrap", &reply, out);
    if (rv == CKR_OK)
        LOG_I("vault: rewrap %s: version %u to version %u (request id %s)", vb->key_ref, version,
              out->key_version, reply.request_id);
out:
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static size_t vault_blob_bound(p11kms_backend *be, size_t pt_len)
{
    vault_backend *vb = (vault_backend *)be;
    /* AEAD keys: 12-byte nonce and 16-byte tag around the plaintext, base64; RSA keys answer
     * at most a 4096-bit block */
    size_t raw = pt_len + 28 > 1024 ? pt_len + 28 : 1024;

    return strlen(vb->key_ref) + PREFIX_MAX + 4 * ((raw + 2) / 3);
}

static uint32_t vault_current_version(p11kms_backend *be)
{
    vault_backend *vb = (vault_backend *)be;
    uint32_t v;

    pthread_mutex_lock(&vb->lock);
    v = vb->latest;
    pthread_mutex_unlock(&vb->lock);
    return v;
}

static void vault_destroy(p11kms_backend *be)
{
    vault_backend *vb = (vault_backend *)be;

    if (vb == NULL)
        return;
    p11kms_vault_client_free(vb->client);
    pthread_mutex_destroy(&vb->lock);
    free(vb->name);
    free(vb->key_ref);
    free(vb->encrypt_path);
    free(vb->decrypt_path);
    free(vb->rewrap_path);
    free(vb->keys_path);
    free(vb->sign_path);
    free(vb->spki);
    pthread_mutex_destroy(&vb->asym_lock);
    free(vb);
}

static char *path_of(const char *mount, const char *what, const char *name)
{
    size_t n = strlen(mount) + strlen(what) + strlen(name) + 3;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s/%s", mount, what, name);
    return p;
}

static CK_RV vault_create(const p11kms_key_config *kc, p11kms_backend **out)
{
    vault_backend *vb;
    const char *ns, *mount;
    size_t n;
    CK_RV rv;

    *out = NULL;
    vb = calloc(1, sizeof(*vb));
    if (vb == NULL)
        return CKR_HOST_MEMORY;
    vb->base.ops = &p11kms_backend_vault_ops;
    pthread_mutex_init(&vb->lock, NULL);
    pthread_mutex_init(&vb->asym_lock, NULL);
    vb->key_type = kc->key_type;
    if (kc->key_id == NULL || !p11kms_vault_name_ok(kc->key_id)) {
        LOG_E("%s: key_id \"%s\" is not a Vault transit key name", kc->origin,
              kc->key_id ? kc->key_id : "");
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = p11kms_vault_client_new(kc, &vb->client);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_HOST_MEMORY;
    ns = vb->client->st.ns;
    mount = vb->client->st.mount;
    /* what envelopes record: the key's path below the namespace, so a key of another mount or
     * namespace with the same name is not taken for it */
    n = (ns != NULL ? strlen(ns) + 1 : 0) + strlen(mount) + strlen(kc->key_id) + 2;
    vb->key_ref = malloc(n);
    vb->name = strdup(kc->key_id);
    vb->encrypt_path = path_of(mount, "encrypt", kc->key_id);
    vb->decrypt_path = path_of(mount, "decrypt", kc->key_id);
    vb->rewrap_path = path_of(mount, "rewrap", kc->key_id);
    vb->keys_path = path_of(mount, "keys", kc->key_id);
    vb->sign_path = path_of(mount, "sign", kc->key_id);
    if (vb->key_ref == NULL || vb->name == NULL || vb->encrypt_path == NULL ||
        vb->decrypt_path == NULL || vb->rewrap_path == NULL || vb->keys_path == NULL ||
        vb->sign_path == NULL)
        goto out;
    snprintf(vb->key_ref, n, "%s%s%s/%s", ns != NULL ? ns : "", ns != NULL ? "/" : "", mount,
             kc->key_id);
    if (strlen(vb->key_ref) > P11KMS_KEY_REF_MAX) {
        LOG_E("%s: the key's path %s is longer than an envelope holds", kc->origin, vb->key_ref);
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = CKR_OK;
out:
    if (rv != CKR_OK) {
        vault_destroy(&vb->base);
        return rv;
    }
    *out = &vb->base;
    return CKR_OK;
}

const p11kms_backend_ops p11kms_backend_vault_ops = {
    .name = "vault",
    .envelope_id = P11KMS_VAULT_ENVELOPE_ID,
    .options = p11kms_vault_option_names,
    .quick_forms = p11kms_vault_quick_forms,
    .quick = p11kms_vault_quick,
    .check_key = p11kms_vault_check_key,
    .doctor = p11kms_vault_doctor,
    .create = vault_create,
    .destroy = vault_destroy,
    .encrypt = vault_encrypt,
    .decrypt = vault_decrypt,
    .owns = vault_owns,
    .blob_bound = vault_blob_bound,
    .current_version = vault_current_version,
    .reencrypt = vault_reencrypt,
    .describe = p11kms_vault_key_describe,
    .public_key = p11kms_vault_public_key,
    .sign_digest = p11kms_vault_sign_digest,
    .asym_decrypt = p11kms_vault_asym_decrypt,
};
