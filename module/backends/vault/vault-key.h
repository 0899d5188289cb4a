/* vault-key.h - a Vault backend instance (one configured transit key) as vault-backend.c and
 * vault-key.c share it: its paths and what the checks learned about the key. */
#ifndef P11KMS_VAULT_KEY_H
#define P11KMS_VAULT_KEY_H

#include <pthread.h>
#include <stdint.h>
#include "backend.h"
#include "vault-client.h"

/* Whether Vault binds what this key sends (vault.md, "Context binding"). */
enum vault_binding {
    VAULT_BINDING_UNKNOWN = 0,
    VAULT_BINDING_CHECKED = 1,  /* a derived key, or a server that binds associated_data */
    VAULT_BINDING_REFUSED = -1, /* Vault would drop the context: every call is refused */
};

typedef struct vault_backend {
    p11kms_backend base;
    p11kms_vault_client *client;
    char *name;    /* the transit key name (key_id) */
    char *key_ref; /* "[namespace/]mount/name": what envelopes record */
    char *encrypt_path, *decrypt_path, *rewrap_path, *keys_path; /* relative to v1/ */
    char *sign_path;                                             /* asymmetric keys */
    int key_type;         /* the configured type (keytype.h): AES for envelope keys */
    pthread_mutex_t lock; /* protects the fields below */
    uint32_t latest;      /* newest key version seen (keys/NAME, answers), 0 until known */
    int binding;          /* enum vault_binding */
    char refusal[160];    /* why it is refused, for the log line of every refused call */

    /* Asymmetric keys (vault-asym.c): the version whose public key the core holds, read once
     * from keys/NAME under asym_lock (held across that read, so it happens once), then fixed:
     * every signature and decryption uses it. */
    pthread_mutex_t asym_lock;
    uint32_t asym_version; /* 0 until read */
    uint8_t *spki;         /* that version's public key, DER SubjectPublicKeyInfo */
    size_t spki_len;
} vault_backend;

/* Before a call that sends the context: make sure Vault binds it (a derived key in derived
 * mode, read from keys/NAME or else probed with the operation at hand, ct being the
 * ciphertext of a decrypt or rewrap, NULL for encrypt; a server that binds associated_data in
 * that mode). Known answers are kept for the instance's life. CKR_OK, or the CK_RV of the
 * refusal (logged): CKR_KEY_FUNCTION_NOT_PERMITTED when Vault would drop the context. */
CK_RV p11kms_vault_key_check(vault_backend *vb, const uint8_t *ct, size_t ct_len,
                             uint64_t deadline_ms);
/* Refuse the key from now on (the reason goes into every later refusal's log line). */
void p11kms_vault_key_refuse(vault_backend *vb, const char *reason);
/* A version seen in an answer: the newest becomes CKA_P11KMS_KEY_VERSION. */
void p11kms_vault_key_saw_version(vault_backend *vb, uint32_t version);
/* Asymmetric keys (vault-asym.c): the backend table's public_key, sign_digest and
 * asym_decrypt. */
CK_RV p11kms_vault_public_key(p11kms_backend *be, p11kms_buf *spki);
CK_RV p11kms_vault_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest,
                               size_t digest_len, p11kms_buf *sig);
CK_RV p11kms_vault_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                                p11kms_buf *pt);
/* The backend's describe: keys/NAME, the server version and what the checks found. */
CK_RV p11kms_vault_key_describe(p11kms_backend *be, char **text);

#endif
