/* context.h - encryption-context pairs: validation, the canonical byte encoding documented in
 * pkcs11/p11kms.h, and conversion from the vendor mechanism parameters. */
#ifndef P11KMS_CONTEXT_H
#define P11KMS_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

typedef struct p11kms_context_pair {
    char *key; /* NUL-terminated copy; key_len excludes the NUL */
    size_t key_len;
    char *value; /* NUL-terminated copy */
    size_t value_len;
} p11kms_context_pair;

/* Pairs kept sorted by key (canonical order); never NULL once created. */
typedef struct p11kms_context {
    p11kms_context_pair *pairs;
    size_t n;
} p11kms_context;

/*
 * Context keys beginning with "p11kms:" (any letter case: AWS IAM compares
 * kms:EncryptionContext:KEY condition keys without case) belong to p11kms. The core adds
 * "p11kms:purpose" to what it sends the KMS for version-2 envelopes (docs/envelope.md), and a
 * stored object's identity ("p11kms:object", "p11kms:token", "p11kms:attrs", docs/store.md); an
 * application, configuration or tool context holding such a key is refused. The reserved pairs
 * come on top of the application's limits of 64 pairs and 8192 bytes.
 */
#define P11KMS_CONTEXT_RESERVED_PREFIX "p11kms:"
#define P11KMS_CONTEXT_RESERVED_PAIRS 4
#define P11KMS_CONTEXT_RESERVED_PAIR_MAX 96 /* encoded bytes of one reserved pair */
#define P11KMS_CONTEXT_RESERVED_BYTES                                                              \
    (P11KMS_CONTEXT_RESERVED_PAIRS * P11KMS_CONTEXT_RESERVED_PAIR_MAX)
int p11kms_context_key_reserved(const char *key, size_t key_len);

/* An application's context plus the core's reserved pairs, made without copying anything: it
 * borrows app's strings and the constant pairs and lives on the caller's stack (the wrap and
 * unwrap hot path allocates nothing for it). Valid while app lives; never freed. */
typedef struct p11kms_context_view {
    p11kms_context ctx;
    p11kms_context_pair pairs[P11KMS_CONTEXT_MAX_PAIRS + P11KMS_CONTEXT_RESERVED_PAIRS];
} p11kms_context_view;
/* view = app (NULL: empty) plus the reserved pair key=value: the one way a reserved key enters
 * a context. CKR_GENERAL_ERROR when key is not reserved, the pair is too long or already there. */
CK_RV p11kms_context_view_reserved(const p11kms_context *app, const char *key, const char *value,
                                   p11kms_context_view *view);
/* The same with n reserved pairs keys[i]=values[i] (app may hold reserved pairs already). */
CK_RV p11kms_context_view_reserved_n(const p11kms_context *app, const char *const *keys,
                                     const char *const *values, size_t n,
                                     p11kms_context_view *view);

/* All functions return CKR_OK, CKR_HOST_MEMORY, or CKR_MECHANISM_PARAM_INVALID for a context
 * that breaks a rule (empty/duplicate/reserved key, bad UTF-8, too many pairs, too long). */
CK_RV p11kms_context_new(p11kms_context **out);
void p11kms_context_free(p11kms_context *c);
CK_RV p11kms_context_copy(const p11kms_context *src, p11kms_context **out);
/* Insert keeping canonical order; replace=1 overwrites an existing key, else duplicate fails. */
CK_RV p11kms_context_add(p11kms_context *c, const char *key, size_t key_len, const char *value,
                         size_t value_len, int replace);
const char *p11kms_context_get(const p11kms_context *c, const char *key);
int p11kms_context_equal(const p11kms_context *a, const p11kms_context *b);

/* Canonical encoding: *out malloc'd. */
CK_RV p11kms_context_encode(const p11kms_context *c, uint8_t **out, size_t *out_len);
size_t p11kms_context_encoded_len(const p11kms_context *c);
/* Strict decode: the input must be exactly one canonical encoding. */
CK_RV p11kms_context_decode(const uint8_t *in, size_t len, p11kms_context **out);

/* The context a mechanism parameter asks for: NULL/empty parameter -> copy of deflt;
 * CKM_P11KMS_ENVELOPE -> CK_P11KMS_ENVELOPE_PARAMS (ulParameterLen must be its size);
 * CKM_P11KMS_ENVELOPE_ENCODED -> canonical encoding. */
CK_RV p11kms_context_from_mechanism(const CK_MECHANISM *mech, const p11kms_context *deflt,
                                    p11kms_context **out);

/* "k=v,k2=v2" (',' and '=' and '\' escaped with '\') -> context; for env/CLI convenience. */
CK_RV p11kms_context_parse_text(const char *text, p11kms_context **out);

#endif
