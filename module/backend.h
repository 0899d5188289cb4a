/* backend.h - the KMS backend function table: what a backend says about itself (name, envelope
 * id, options, key references, configuration checks, doctor hints) and its operations. An
 * instance is bound to one configured KMS key; it never reaches back into sessions or objects.
 * How to add a backend: docs/adding-a-backend.md. */
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

/* A KMS_KEY_ID value read as a key of one backend (quick mode). */
typedef struct p11kms_quick_key {
    const char *key_id;       /* the key_id it stands for: the value or a part of it */
    const char *option;       /* one backend option the form also sets ("key_file"), or NULL */
    const char *option_value; /* its value */
} p11kms_quick_key;

/* What "p11kms doctor" prints for one finding: a status and one line of text (the tool adds
 * which key it is about). Never a secret. */
enum p11kms_doctor_status {
    P11KMS_DOCTOR_OK = 0,
    P11KMS_DOCTOR_WARN,
    P11KMS_DOCTOR_FAIL,
};
typedef void (*p11kms_doctor_step)(void *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
 * Besides the CK_RV, every operation leaves this thread's kms-report.h record: availability
 * fault (a key set fails over to its next KMS) or definitive refusal (it never does), the KMS
 * request id and HTTP status. The net call loop writes it for every remote backend; see
 * docs/adding-a-backend.md section 3.
 * All functions may be called from many threads at once; each backend locks its own state.
 */
/* The asymmetric operations of p11kms_backend_ops (below). */
typedef CK_RV p11kms_sign_digest_fn(p11kms_backend *be, int alg, const uint8_t *digest,
                                    size_t digest_len, p11kms_buf *sig);
typedef CK_RV p11kms_asym_decrypt_fn(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                                     p11kms_buf *pt);

typedef struct p11kms_backend_ops {
    /* ---- what the backend is: needs no instance, no network, no file ---- */
    const char *name;    /* "local", "aws", ... as in the configuration */
    uint8_t envelope_id; /* its byte in envelopes (docs/envelope.md); unique, never renumbered */
    /* Backend-specific configuration fields, NULL-terminated; the reader refuses others. */
    const char *const *options;
    /* Quick mode: the KMS_KEY_ID forms it recognises, as the "use ..." error line lists them
     * ("arn:aws:kms:..., alias/NAME"), and the recogniser: 1 with out filled when value is one
     * of them, 0 otherwise. Forms of different backends must not overlap. NULL: none. */
    const char *quick_forms;
    int (*quick)(const char *value, p11kms_quick_key *out);
    /* Optional: complete and check a key's configuration once its fields are read (a default
     * key_id from an option, rules between fields). kc->key_id may be set (malloc'd). CKR_OK;
     * CKR_ARGUMENTS_BAD with the reason in err (config-key.c logs it with the field path: no
     * logging here, no file access); CKR_HOST_MEMORY. Without it, key_id is required. */
    CK_RV (*check_key)(p11kms_key_config *kc, char *err, size_t err_len);
    /* Optional: "p11kms doctor" findings for a parsed key, without secrets and without the
     * network: where credentials would come from, which endpoint, key files. May read local
     * files; log lines it causes go to the tool's stderr. */
    void (*doctor)(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx);

    /* ---- instances: NULL create means the backend is known but not in this build ---- */

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
     * a caller moving envelopes builds both with p11kms_envelope_kms_context
     * (envelope-seal.h), so the destination carries the purpose pair. A pair this KMS cannot
     * move (another key, another server, a changed context) is declined with
     * CKR_FUNCTION_NOT_SUPPORTED before any call and without a log line above debug: the core
     * then tries another source blob, or opens and seals in the module. */
    CK_RV (*reencrypt)(p11kms_backend *src, const p11kms_context *src_ctx,
                       const p11kms_kms_blob *in, p11kms_backend *dst,
                       const p11kms_context *dst_ctx, p11kms_kms_blob *out);
    /* Optional (NULL): human-readable diagnostics (may call the KMS, e.g. DescribeKey). */
    CK_RV (*describe)(p11kms_backend *be, char **text);

    /* ---- asymmetric keys (kc->key_type EC or RSA): all three, or all NULL when the backend
     * has none (the configuration then refuses such a type). An asymmetric instance is asked
     * only these, describe and destroy; the core caches the public key and does verify and
     * public-key encryption itself. Errors as above; CKR_ENCRYPTED_DATA_INVALID is a ciphertext
     * that does not open. ---- */
    /* The public key, DER SubjectPublicKeyInfo, into spki (may call the KMS). */
    CK_RV (*public_key)(p11kms_backend *be, p11kms_buf *spki);
    /* Sign a digest of p11kms_sig_alg_digest_len(alg) bytes with alg (P11KMS_SIG_*, keytype.h).
     * sig gets what the KMS returns: for ECDSA the DER Ecdsa-Sig-Value (the core makes r||s of
     * it), for RSA the signature (at most the modulus length). */
    p11kms_sign_digest_fn *sign_digest;
    /* RSA-OAEP decryption (P11KMS_OAEP_*): the plaintext into pt (secret). */
    p11kms_asym_decrypt_fn *asym_decrypt;
} p11kms_backend_ops;

/* Every instance starts with this; backends embed it as their first member. */
struct p11kms_backend {
    const p11kms_backend_ops *ops;
    /* The key configuration it was made from (p11kms_backend_new sets it; it outlives the
     * instance): the core reads its envelope policy. NULL for instances made by ops->create. */
    const p11kms_key_config *kc;
};

/* The registry (backend.c): every known backend, in a fixed order. */

/* A backend this build can make instances of, by configuration name; NULL otherwise. */
const p11kms_backend_ops *p11kms_backend_find(const char *name);
/* Any known backend by envelope id (built or not: it names blobs in logs and inspect). */
const p11kms_backend_ops *p11kms_backend_find_id(uint8_t id);
/* The i-th known backend, NULL past the last (built or not). */
const p11kms_backend_ops *p11kms_backend_at(size_t i);
/* The backend a KMS_KEY_ID value names (quick mode), built or not, with out filled; NULL when
 * no backend recognises it. */
const p11kms_backend_ops *p11kms_backend_quick(const char *value, p11kms_quick_key *out);
/* Create the instance for a key configuration; logs and fails for an unknown backend. */
CK_RV p11kms_backend_new(const p11kms_key_config *kc, p11kms_backend **out);
void p11kms_backend_free(p11kms_backend *be);

#endif
