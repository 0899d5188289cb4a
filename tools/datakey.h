/* datakey.h - data keys through PKCS#11: generated, wrapped and unwrapped in the module with a KMS
 * key (CKM_P11KMS_ENVELOPE and a context) or an AES key (CKM_AES_KEY_WRAP_PAD); the context
 * options. */
#ifndef P11KMS_TOOL_DATAKEY_H
#define P11KMS_TOOL_DATAKEY_H

#include "context.h"
#include "p11.h"

#define TOOL_DATA_KEY_LEN 32

/* The mechanism that wraps with k: CKM_P11KMS_ENVELOPE binding ctx for a KMS key (also what
 * C_Encrypt of a small secret uses), CKM_AES_KEY_WRAP_PAD for a plain AES key. params and
 * *pairs (malloc'd; free it) must outlive the use of mech. */
CK_RV tool_dk_mechanism(const tool_key *k, const p11kms_context *ctx, CK_MECHANISM *mech,
                        CK_P11KMS_ENVELOPE_PARAMS *params, CK_P11KMS_CONTEXT_PAIR **pairs);
/* A fresh AES-256 session key in k's session. sensitive=0 when the tool needs its value. */
CK_RV tool_dk_generate(tool_p11 *p, const tool_key *k, int sensitive, CK_OBJECT_HANDLE *out);
/* Wrap dk under k. KMS keys bind ctx (the whole context: the tool merges defaults itself);
 * plain AES keys cannot bind a context and ignore it. *out malloc'd. */
CK_RV tool_dk_wrap(tool_p11 *p, const tool_key *k, const p11kms_context *ctx, CK_OBJECT_HANDLE dk,
                   uint8_t **out, size_t *out_len);
/* Unwrap blob under k into a session key (sensitive, or readable when sensitive=0). */
CK_RV tool_dk_unwrap(tool_p11 *p, const tool_key *k, const p11kms_context *ctx, const uint8_t *blob,
                     size_t len, int sensitive, CK_OBJECT_HANDLE *out);
/* What is known about the key that wrapped a blob, to try the likely keys first. */
typedef struct tool_hint {
    const char *label; /* CKA_LABEL recorded in a file header, or NULL */
    const uint8_t *id; /* CKA_ID recorded in a file header */
    size_t id_len;
    const char *kms_ref;    /* KMS key reference from the envelope, or NULL */
    int kind;               /* 1: KMS keys only, 0: plain AES keys only, -1: either */
    const tool_key *prefer; /* tried first: the key that unwrapped the previous blob */
} tool_hint;

/* Unwrap blob with key, or (key NULL) with each usable key in turn, likeliest first, until one
 * succeeds. With merge, ctx holds the user's pairs and each key binds them over its own default
 * context (plain AES keys are skipped when there are pairs); without, ctx is bound as it is.
 * *used gets the key that succeeded, or the likeliest one that failed (NULL when no key could
 * even be tried: CKR_KEY_HANDLE_INVALID). The caller reports failures. */
CK_RV tool_dk_unwrap_any(tool_p11 *p, tool_key *key, const tool_hint *hint,
                         const p11kms_context *ctx, int merge, const uint8_t *blob, size_t len,
                         int sensitive, tool_key **used, CK_OBJECT_HANDLE *out);
/* Move a wrapped-key envelope to its KMS key's current KMS key(s) and version inside the module
 * (CKM_P11KMS_REWRAP: the KMS's own re-encrypt where it can, the data key never in the tool),
 * with key, or (key NULL) each KMS key that may wrap and unwrap, likeliest first. user: the
 * caller's pairs over each key's default context. *out malloc'd; *used as tool_dk_unwrap_any. */
CK_RV tool_dk_rewrap_any(tool_p11 *p, tool_key *key, const tool_hint *hint,
                         const p11kms_context *user, const uint8_t *blob, size_t len,
                         tool_key **used, uint8_t **out, size_t *out_len);
/* One envelope holding every blob of the n envelopes env[i] (all version 2, same purpose; at
 * most 8 blobs in all), for a file wrapped under several keys. *out malloc'd. Reports and
 * returns -1 on failure. */
int tool_dk_merge(uint8_t *const *env, const size_t *len, size_t n, uint8_t **out, size_t *out_len);
/* Read a non-sensitive data key's value (exactly TOOL_DATA_KEY_LEN bytes). */
CK_RV tool_dk_value(tool_p11 *p, const tool_key *k, CK_OBJECT_HANDLE dk,
                    uint8_t out[TOOL_DATA_KEY_LEN]);
void tool_dk_destroy(tool_p11 *p, const tool_key *k, CK_OBJECT_HANDLE dk);

/* Add one "--context KEY=VALUE" (split at the first '='); creates *ctx on first use.
 * Reports and returns -1 for a malformed or duplicate pair. */
int tool_ctx_add_arg(p11kms_context **ctx, const char *arg);
/* The context a wrap with k binds: k's configured default context with the user's pairs on
 * top (a user pair replaces a default one with the same key). user may be NULL. */
int tool_ctx_effective(const tool_key *k, const p11kms_context *user, p11kms_context **out);
/* "k=v, k2=v2" (or "(empty)") for display; malloc'd. */
char *tool_ctx_text(const p11kms_context *ctx);

#endif
