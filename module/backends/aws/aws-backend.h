/* aws-backend.h - what the files of the aws backend's operations share: the instance, the JSON
 * request members, the answer readers and the check that a key ARN the KMS named is the
 * configured key (aws-backend.c); the asymmetric operations live in aws-asym.c. */
#ifndef P11KMS_AWS_BACKEND_H
#define P11KMS_AWS_BACKEND_H

#include <pthread.h>
#include "aws-client.h"
#include "backend.h"

#define P11KMS_AWS_BODY_MAX (64u * 1024u)

extern const p11kms_backend_ops p11kms_backend_aws_ops;

/* Locking: lock protects resolved_arn only (learned from the first Encrypt when the key is
 * configured by alias). */
typedef struct aws_backend {
    p11kms_backend base;
    p11kms_aws_client *client;
    char *key_id; /* as configured: ARN, key id, alias name or alias ARN */
    p11kms_aws_keyref ref;
    pthread_mutex_t lock;
    char *resolved_arn;
} aws_backend;

/* Whether a key ARN the KMS named can be the key this instance is configured with. For an
 * alias the KMS decides which key it names; the ARN must at least be in the same region (and
 * account and partition, when the alias is an ARN). */
int p11kms_aws_arn_fits(const aws_backend *ab, const char *arn);
/* ,"name":"value" and ,"name":"base64" members of a request body (no comma first). */
void p11kms_aws_body_string(p11kms_sbuf *b, const char *name, const char *value);
void p11kms_aws_body_blob(p11kms_sbuf *b, const char *name, const uint8_t *p, size_t n);
/* A string member of the answer, or NULL (logged as a malformed answer by the caller). */
char *p11kms_aws_answer_string(const p11kms_net_reply *r, const char *name, size_t max);
/* A base64 member of at most max bytes, decoded into a malloc'd *p: 1, or 0. */
int p11kms_aws_answer_blob(const p11kms_net_reply *r, const char *name, size_t max, uint8_t **p,
                           size_t *n);

/* The asymmetric operations (aws-asym.c): GetPublicKey, Sign with MessageType DIGEST, Decrypt
 * with RSAES_OAEP_SHA_1 / SHA_256. */
CK_RV p11kms_aws_public_key(p11kms_backend *be, p11kms_buf *spki);
CK_RV p11kms_aws_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest, size_t digest_len,
                             p11kms_buf *sig);
CK_RV p11kms_aws_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                              p11kms_buf *pt);

#endif
