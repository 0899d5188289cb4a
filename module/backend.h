/* backend.h - the KMS backend function table (local, aws, gcp, vault). A backend instance is
 * bound to one configured KMS key; it never reaches back into sessions or objects. */
#ifndef P11KMS_BACKEND_H
#define P11KMS_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "config.h"
#include "context.h"
#include "envelope.h"
#include "secmem.h"

typedef struct p11kms_backend p11kms_backend;

/*
 * Return values every backend uses, so the callers map them once:
 *   CKR_OK
 *   CKR_ENCRYPTED_DATA_INVALID  the KMS refused the ciphertext: wrong context, tampered, other key
 *                               (C_UnwrapKey turns it into CKR_WRAPPED_KEY_INVALID)
 *   CKR_KEY_FUNCTION_NOT_PERMITTED  access denied, key disabled or pending deletion
 *   CKR_DATA_LEN_RANGE          plaintext too large for the KMS
 *   CKR_DEVICE_ERROR            KMS unreachable, retries or deadline exhausted, bad response,
 *                               no credentials
 *   CKR_HOST_MEMORY, CKR_GENERAL_ERROR
 * Each failure is logged once by the backend, with the KMS error code and request id.
 * All functions may be called from many threads at once; each backend locks its own state.
 */
typedef struct p11kms_backend_ops {
    const char *name; /* "local", "aws", ... as in the configuration */
    uint8_t id;       /* enum p11kms_backend_id */
    /* Backend-specific configuration fields, NULL-terminated; config.c rejects others. */
    const char *const *options;

    /* Build an instance from its configuration: validate, read local files the key needs.
     * No network, no file creation. CKR_ARGUMENTS_BAD (logged, naming kc->origin) on bad config. */
    CK_RV (*create)(const p11kms_key_config *kc, p11kms_backend **out);
    void (*destroy)(p11kms_backend *be);

    /* Encrypt pt under the key's current version, binding ctx. Fills out->backend_id,
     * key_ref, key_version, ct (all malloc'd; p11kms_kms_blob_clear frees). */
    CK_RV (*encrypt)(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                     size_t pt_len, p11kms_kms_blob *out);
    /* Decrypt a blob this backend made (owns() true) with ctx; plaintext into pt (secret). */
    CK_RV (*decrypt)(p11kms_backend *be, const p11kms_context *ctx, const p11kms_kms_blob *in,
                     p11kms_buf *pt);
    /* Whether a blob names this instance's KMS key (an alias may have resolved to an ARN). */
    int (*owns)(p11kms_backend *be, const p11kms_kms_blob *in);
    /* Upper bound of strlen(key_ref) + ct_len that encrypt can produce for pt_len bytes,
     * without calling the KMS (the two-call length convention). */
    size_t (*blob_bound)(p11kms_backend *be, size_t pt_len);
    /* Key version new encryptions use, if known without a KMS call; 0 otherwise. */
    uint32_t (*current_version)(p11kms_backend *be);
    /* Optional (NULL): re-encrypt in the KMS to dst (same backend type) without exposing the
     * plaintext here (AWS ReEncrypt, Vault rewrap). src_ctx and dst_ctx are what the KMS binds:
     * a caller moving envelopes builds both with p11kms_envelope_kms_context (wrap.h), so the
     * destination carries the purpose pair. */
    CK_RV (*reencrypt)(p11kms_backend *src, const p11kms_context *src_ctx,
                       const p11kms_kms_blob *in, p11kms_backend *dst,
                       const p11kms_context *dst_ctx, p11kms_kms_blob *out);
    /* Optional (NULL): human-readable diagnostics (may call the KMS, e.g. DescribeKey). */
    CK_RV (*describe)(p11kms_backend *be, char **text);
} p11kms_backend_ops;

/* Every instance starts with this; backends embed it as their first member. */
struct p11kms_backend {
    const p11kms_backend_ops *ops;
    /* The key configuration it was made from (p11kms_backend_new sets it; it outlives the
     * instance): the core reads its envelope policy. NULL for instances made by ops->create. */
    const p11kms_key_config *kc;
};

const p11kms_backend_ops *p11kms_backend_find(const char *name);
const p11kms_backend_ops *p11kms_backend_find_id(uint8_t id);
/* Create the instance for a key configuration; logs and fails for an unknown backend. */
CK_RV p11kms_backend_new(const p11kms_key_config *kc, p11kms_backend **out);
void p11kms_backend_free(p11kms_backend *be);

extern const p11kms_backend_ops p11kms_backend_local_ops;

#endif
