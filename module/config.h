/* config.h - the configuration as typed structs: tokens, their keys, backend options, templates.
 * Reading one (JSON document, files, KMS_KEY_ID quick mode): config-load.h. */
#ifndef P11KMS_CONFIG_H
#define P11KMS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "context.h"
#include "keytype.h"

#define P11KMS_CONFIG_MAX_BYTES (4u * 1024u * 1024u)
#define P11KMS_MAX_TOKENS 64
#define P11KMS_MAX_KEYS_PER_TOKEN 4096
#define P11KMS_LABEL_MAX 32 /* CKA_LABEL of keys may be longer; token labels are 32 bytes */
#define P11KMS_ID_MAX 64
#define P11KMS_PIN_MAX 256

#define P11KMS_PERM_WRAP 0x1u
#define P11KMS_PERM_UNWRAP 0x2u
#define P11KMS_PERM_ENCRYPT 0x4u
#define P11KMS_PERM_DECRYPT 0x8u
#define P11KMS_PERM_ALL 0xfu   /* the default of an envelope (aes) key */
#define P11KMS_PERM_SIGN 0x10u /* asymmetric keys only, with decrypt; their default */

/* CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE contents: boolean and CK_ULONG attributes only (the
 * ones the attribute table marks P11KMS_AF_TEMPLATE), each type at most once. Booleans are 0/1. */
#define P11KMS_TEMPLATE_MAX 20
typedef struct p11kms_attr_template {
    size_t n;
    struct p11kms_template_entry {
        CK_ATTRIBUTE_TYPE type;
        CK_ULONG value;
    } a[P11KMS_TEMPLATE_MAX];
} p11kms_attr_template;

/* A backend-specific setting, kept as text; the backend validates it. Numbers and booleans
 * from the JSON arrive in their JSON text form ("30", "true"). */
typedef struct p11kms_option {
    char *name;
    char *value;
} p11kms_option;

/* The opt-in unwrap cache of a key (unwrap-cache.h); max_age_s 0: no cache (the default). */
typedef struct p11kms_unwrap_cache_config {
    unsigned max_age_s;   /* an entry's life from the KMS call that filled it */
    unsigned max_uses;    /* unwraps an entry serves before it goes; 0: no limit */
    unsigned max_entries; /* entries of this key, least recently used dropped first */
} p11kms_unwrap_cache_config;

typedef struct p11kms_key_config {
    char *label;       /* CKA_LABEL */
    char *backend;     /* "local", "aws", "gcp", "vault" */
    char *key_id;      /* the backend's key reference (ARN, alias, name, "insecure-test-key") */
    unsigned perms;    /* P11KMS_PERM_* */
    int key_type;      /* P11KMS_KT_* ("type"; P11KMS_KT_AES unless configured) */
    char *certificate; /* asymmetric keys: X.509 certificate file (PEM or DER), or NULL */
    p11kms_context *context; /* default context; empty, never NULL */
    /* C_Decrypt opens version-1 envelopes, which do not say whether they hold a wrapped key
     * (docs/envelope.md); false unless configured. */
    int decrypt_v1_envelopes;
    uint8_t id[P11KMS_ID_MAX]; /* CKA_ID */
    size_t id_len;
    p11kms_option *options; /* backend-specific fields, key's own first, then backend defaults */
    size_t n_options;
    p11kms_attr_template wrap_template;   /* a key must match it to be wrapped by this key */
    p11kms_attr_template unwrap_template; /* forced onto every key this key unwraps */
    char *origin; /* where it was declared, for log lines: "/etc/p11kms/p11kms.conf
                     tokens[0].keys[2]" */
    /* "unwrap_cache" (config-ops.c) */
    p11kms_unwrap_cache_config unwrap_cache;
    const char *token; /* the token's label (not owned); NULL in unit tests of one key */

    /* Key set (README "Several keys"): "kms": [{backend, key_id, options...}, ...]. Each entry
     * is a key configuration of its own (backend, key_id, options, origin; label, permissions,
     * context and decrypt_v1_envelopes copied from this key). n_kms == 0: the single
     * backend/key_id form, and this key is its own one entry; with entries, backend and key_id
     * here are copies of the first entry's (for CKA_ID, logs, the doctor). */
    struct p11kms_key_config *kms;
    size_t n_kms;
    int wrap_any; /* "wrap_policy": "any" (a blob per entry that succeeded) rather than "all" */
    /* "deadline_ms" of a key set: the whole PKCS#11 call, across its entries; 0: none (each
     * entry's own deadline bounds its part). */
    unsigned long set_deadline_ms;
    /* "previous": decrypt-only entries (rotation): opened, never wrapped under. */
    struct p11kms_key_config *previous;
    size_t n_previous;
    /* "accepted_contexts": old default contexts still opened when a call uses the default
     * context (tried after the current one); never used for wrapping. */
    p11kms_context **accepted_contexts;
    size_t n_accepted_contexts;
} p11kms_key_config;

/* Entries a key set may name, current or previous: an envelope holds at most 8 blobs. */
#define P11KMS_KEYSET_ENTRIES_MAX 8

typedef struct p11kms_token_config {
    char *label;
    char *pin;                 /* NULL: no login required; secret, wiped on free */
    int pin_literal;           /* the PIN is written in the document (not "env:NAME") */
    unsigned pin_max_attempts; /* wrong PINs before CKR_PIN_LOCKED; 0: no lockout */
    p11kms_key_config *keys;
    size_t n_keys;
    /* Defaults merged into each key's templates (an attribute the key sets itself wins). */
    p11kms_attr_template wrap_template, unwrap_template;
    /* The object store (docs/store.md): "store" is its directory (NULL: the per-user default),
     * store_off for "store": false; "storage_key" the label of the key that seals stored
     * objects (NULL: the token's only key). */
    char *store;
    int store_off;
    char *storage_key;
} p11kms_token_config;

typedef struct p11kms_config {
    char *path;    /* file it came from; NULL in quick mode or with no config */
    int log_level; /* -1: not set */
    char *log_destination;
    /* "audit": where the audit trail goes ("file:/path" or "syslog"; NULL: none) and whether
     * its records carry context values (keys only otherwise). docs/audit.md. */
    char *audit_destination;
    int audit_context_values;
    p11kms_token_config *tokens;
    size_t n_tokens;
    /* "kill_switch_dir" (config-ops.c, killswitch.h): NULL the default directory, "" none. */
    char *kill_switch_dir;
} p11kms_config;

/* The rules a key's "type" brings (config-keytype.c), once its fields are read: the default
 * permissions (all four for aes, sign for asymmetric keys), which permissions and fields the
 * type takes, and whether the key's backend (named backend) has asymmetric keys (backend_asym).
 * CKR_OK, or
 * CKR_ARGUMENTS_BAD with the reason in err. */
CK_RV p11kms_config_key_kind(p11kms_key_config *kc, int backend_asym, const char *backend,
                             char *err, size_t err_len);

/* The value of a backend option, or NULL. */
const char *p11kms_key_config_option(const p11kms_key_config *kc, const char *name);

/* Name the token a key (and its entries) belongs to, for the audit trail. */
void p11kms_key_config_set_token(p11kms_key_config *kc, const char *token);

/* Free a configuration, wiping its secrets (PINs, backend options). NULL is fine. */
void p11kms_config_free(p11kms_config *c);

#endif
