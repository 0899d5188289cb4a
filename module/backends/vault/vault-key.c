/* vault-key.c - what a Vault backend instance checks about its key before it relies on it: that
 * Vault binds the context it sends (a derived key, or a server that binds associated_data),
 * once per instance; and the key's details for diagnostics. Locking: vault-key.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "net/json.h"
#include "secmem.h"
#include "util.h"
#include "vault-key.h"

/* base64 of "p11kms derivation probe": encrypted without a context, which only a key that is
 * not derived accepts (Vault answers a derived key "missing 'context' for key derivation"). */
#define PROBE_PLAINTEXT "cDExa21zIGRlcml2YXRpb24gcHJvYmU="
#define BODY_MAX (64u * 1024u)

static void mark_checked(vault_backend *vb)
{
    pthread_mutex_lock(&vb->lock);
    if (vb->binding == VAULT_BINDING_UNKNOWN)
        vb->binding = VAULT_BINDING_CHECKED;
    pthread_mutex_unlock(&vb->lock);
}

void p11kms_vault_key_refuse(vault_backend *vb, const char *reason)
{
    pthread_mutex_lock(&vb->lock);
    vb->binding = VAULT_BINDING_REFUSED;
    snprintf(vb->refusal, sizeof(vb->refusal), "%s", reason);
    pthread_mutex_unlock(&vb->lock);
}

static CK_RV refuse_not_derived(vault_backend *vb, const char *how)
{
    p11kms_vault_key_refuse(vb, "the key is not derived: Vault ignores context on it");
    LOG_E("vault: %s is not a derived key (%s): Vault would ignore the context, so neither the "
          "context nor what an envelope holds would be bound; refused. Create the key with "
          "derived=true, or give this key context_mode associated_data (Vault 1.13 or later)",
          vb->key_ref, how);
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

/* associated_data: the server must be one that binds it (1.13 and later). */
static CK_RV check_server(vault_backend *vb, uint64_t deadline_ms)
{
    char version[64], reason[160];
    unsigned major = 0, minor = 0;
    CK_RV rv;

    rv = p11kms_vault_server_version(vb->client, deadline_ms, version, sizeof(version), &major,
                                     &minor);
    if (rv != CKR_OK)
        return rv;
    if (major > 1 || (major == 1 && minor >= 13)) {
        LOG_D("vault: %s: Vault %s binds associated_data", vb->key_ref, version);
        mark_checked(vb);
        return CKR_OK;
    }
    snprintf(reason, sizeof(reason), "Vault %s does not bind associated_data (1.13 and later do)",
             version);
    p11kms_vault_key_refuse(vb, reason);
    LOG_E("vault: %s: %s: refused rather than sending a context Vault would drop. Use a derived "
          "key with context_mode derived, or upgrade Vault",
          vb->key_ref, reason);
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}

/* Ask Vault itself: an encrypt without a context (or a decrypt of the ciphertext at hand
 * without one) is refused with "missing 'context'" by a derived key only. */
static CK_RV probe(vault_backend *vb, const uint8_t *ct, size_t ct_len, uint64_t deadline_ms)
{
    char code[P11KMS_NET_CODE_MAX];
    p11kms_net_reply reply;
    p11kms_sbuf body;
    long status = 0;
    CK_RV rv;

    p11kms_sbuf_init(&body, BODY_MAX);
    p11kms_sbuf_char(&body, '{');
    if (ct == NULL) {
        p11kms_sbuf_str(&body, "\"plaintext\":\"" PROBE_PLAINTEXT "\"");
    } else {
        p11kms_sbuf_str(&body, "\"ciphertext\":");
        p11kms_sbuf_json_string(&body, (const char *)ct, ct_len);
    }
    p11kms_sbuf_char(&body, '}');
    rv = p11kms_vault_ask(vb->client, "POST", ct == NULL ? vb->encrypt_path : vb->decrypt_path,
                          &body, deadline_ms, &status, code, sizeof(code), &reply);
    p11kms_sbuf_wipe(&body);
    if (rv != CKR_OK)
        return rv;
    if (status == 200) {
        p11kms_net_reply_clear(&reply); /* a decrypt's answer holds the plaintext: wiped */
        return refuse_not_derived(vb, ct == NULL ? "it encrypts without a context"
                                                 : "it decrypts without a context");
    }
    p11kms_net_reply_clear(&reply);
    if (strcmp(code, P11KMS_VAULT_E_NEEDS_CONTEXT) == 0) {
        LOG_D("vault: %s is a derived key (probe)", vb->key_ref);
        mark_checked(vb);
        return CKR_OK;
    }
    /* Refusals that say nothing about derivation and that the call itself meets the same way
     * (context cannot help a key that ignores it): a missing key, which encrypt may create
     * derived with the create capability; a ciphertext Vault refuses before looking at the
     * context. The call goes ahead and the check waits for the next one. */
    if (strcmp(code, P11KMS_VAULT_E_NOT_FOUND) == 0 ||
        (ct != NULL && (strcmp(code, P11KMS_VAULT_E_BAD_CIPHERTEXT) == 0 ||
                        strcmp(code, P11KMS_VAULT_E_TOO_OLD) == 0)))
        return CKR_OK;
    if (status == 403) {
        LOG_E("vault: cannot tell whether %s is a derived key: reading %s and a %s without a "
              "context were both denied (%s); grant read on %s",
              vb->key_ref, vb->keys_path, ct == NULL ? "encrypt" : "decrypt", code, vb->keys_path);
        return strcmp(code, P11KMS_VAULT_E_INVALID_TOKEN) == 0 ? CKR_DEVICE_ERROR
                                                               : CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    LOG_E("vault: cannot tell whether %s is a derived key: %s (HTTP %ld)", vb->key_ref, code,
          status);
    return p11kms_vault_error_rv(code, status);
}

/* derived: read keys/NAME (which also gives the latest version); without read on it, probe. */
static CK_RV check_derived(vault_backend *vb, const uint8_t *ct, size_t ct_len,
                           uint64_t deadline_ms)
{
    char code[P11KMS_NET_CODE_MAX];
    p11kms_net_reply reply;
    p11kms_json data, v;
    uint64_t latest = 0;
    long status = 0;
    int derived = 0;
    CK_RV rv;

    rv = p11kms_vault_ask(vb->client, "GET", vb->keys_path, NULL, deadline_ms, &status, code,
                          sizeof(code), &reply);
    if (rv != CKR_OK)
        return rv;
    if (status == 200) {
        if (!p11kms_json_member(&reply.root, "data", &data) ||
            !p11kms_json_member(&data, "derived", &v) || p11kms_json_bool(&v, &derived) != 0) {
            LOG_E("vault: GET %s: answer without data.derived (request id %s)", vb->keys_path,
                  reply.request_id);
            p11kms_net_reply_clear(&reply);
            return CKR_DEVICE_ERROR;
        }
        if (p11kms_json_member(&data, "latest_version", &v) &&
            p11kms_json_uint(&v, UINT32_MAX, &latest) == 0)
            p11kms_vault_key_saw_version(vb, (uint32_t)latest);
        p11kms_net_reply_clear(&reply);
        if (!derived)
            return refuse_not_derived(vb, "keys/NAME says derived: false");
        LOG_D("vault: %s is a derived key, latest version %llu", vb->key_ref,
              (unsigned long long)latest);
        mark_checked(vb);
        return CKR_OK;
    }
    if (strcmp(code, P11KMS_VAULT_E_NOT_FOUND) == 0)
        return CKR_OK; /* as in probe(): the call meets it, or creates a derived key */
    if (strcmp(code, P11KMS_VAULT_E_DENIED) == 0)
        return probe(vb, ct, ct_len, deadline_ms);
    LOG_E("vault: cannot read %s to check that it is a derived key: %s (HTTP %ld)", vb->keys_path,
          code, status);
    return p11kms_vault_error_rv(code, status);
}

CK_RV p11kms_vault_key_check(vault_backend *vb, const uint8_t *ct, size_t ct_len,
                             uint64_t deadline_ms)
{
    char refusal[sizeof(vb->refusal)];
    int state;

    pthread_mutex_lock(&vb->lock);
    state = vb->binding;
    memcpy(refusal, vb->refusal, sizeof(refusal));
    pthread_mutex_unlock(&vb->lock);
    if (state == VAULT_BINDING_CHECKED)
        return CKR_OK;
    if (state == VAULT_BINDING_REFUSED) {
        LOG_E("vault: %s refused: %s", vb->key_ref, refusal);
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (vb->client->st.context_mode == P11KMS_VAULT_CONTEXT_AD)
        return check_server(vb, deadline_ms);
    return check_derived(vb, ct, ct_len, deadline_ms);
}

/* One member of keys/NAME's data as text, if present. */
static void field(FILE *f, const p11kms_json *data, const char *name, const char *label)
{
    p11kms_json v;
    char *s = NULL, num[64];
    int b;

    if (!p11kms_json_member(data, name, &v))
        return;
    if (p11kms_json_string(&v, 256, &s) == 0) {
        char clean[80];

        p11kms_printable(clean, sizeof(clean), s);
        fprintf(f, "%s: %s\n", label, clean);
    } else if (p11kms_json_bool(&v, &b) == 0) {
        fprintf(f, "%s: %s\n", label, b ? "true" : "false");
    } else if (p11kms_json_number_text(&v, num, sizeof(num)) == 0) {
        fprintf(f, "%s: %s\n", label, num);
    }
    free(s);
}

CK_RV p11kms_vault_key_describe(p11kms_backend *be, char **text)
{
    static const char *const methods[] = {"token", "approle", "kubernetes", "cert"};
    vault_backend *vb = (vault_backend *)be;
    p11kms_vault_client *c = vb->client;
    uint64_t deadline = p11kms_vault_client_deadline(c);
    p11kms_net_reply reply;
    p11kms_json data;
    char version[64] = "unknown", *buf = NULL;
    unsigned major = 0, minor = 0;
    size_t len = 0;
    FILE *f = NULL;
    int binding;
    CK_RV rv;

    *text = NULL;
    if (p11kms_vault_server_version(c, deadline, version, sizeof(version), &major, &minor) !=
        CKR_OK)
        snprintf(version, sizeof(version), "unknown (sys/health failed)");
    rv =
        p11kms_vault_call(c, "read key", vb->key_ref, "GET", vb->keys_path, NULL, deadline, &reply);
    if (rv != CKR_OK)
        return rv;
    if (!p11kms_json_member(&reply.root, "data", &data)) {
        LOG_E("vault: read key %s: answer without data (request id %s)", vb->key_ref,
              reply.request_id);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    rv = CKR_HOST_MEMORY;
    f = open_memstream(&buf, &len);
    if (f == NULL)
        goto out;
    pthread_mutex_lock(&vb->lock);
    binding = vb->binding;
    pthread_mutex_unlock(&vb->lock);
    fprintf(f, "backend: vault\nkey: %s\naddress: %s\nserver version: %s\nnamespace: %s\n",
            vb->key_ref, c->net.settings.url, version, c->st.ns != NULL ? c->st.ns : "(root)");
    fprintf(f, "mount: %s\nname: %s\ncontext mode: %s\nauth method: %s\n", c->st.mount, vb->name,
            c->st.context_mode == P11KMS_VAULT_CONTEXT_AD ? "associated_data" : "derived",
            methods[c->st.auth_method]);
    field(f, &data, "type", "type");
    field(f, &data, "derived", "derived");
    field(f, &data, "latest_version", "latest version");
    field(f, &data, "min_decryption_version", "min decryption version");
    field(f, &data, "min_encryption_version", "min encryption version");
    field(f, &data, "supports_encryption", "supports encryption");
    field(f, &data, "supports_decryption", "supports decryption");
    field(f, &data, "deletion_allowed", "deletion allowed");
    field(f, &data, "exportable", "exportable");
    field(f, &data, "auto_rotate_period", "auto rotate period (s)");
    fprintf(f, "context binding: %s\nrequest id: %s\n",
            binding == VAULT_BINDING_CHECKED   ? "checked"
            : binding == VAULT_BINDING_REFUSED ? "refused"
                                               : "not checked yet",
            reply.request_id[0] ? reply.request_id : "none");
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    *text = buf;
    buf = NULL;
    rv = CKR_OK;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    p11kms_net_reply_clear(&reply);
    return rv;
}
