/* aws-retry.h - what an AWS answer means: the error code and message of a JSON error body, the
 * CK_RV it maps to, whether it is retryable (net/retry.h classes) and whether it rejects the
 * credentials. */
#ifndef P11KMS_AWS_RETRY_H
#define P11KMS_AWS_RETRY_H

#include <stddef.h>
#include "pkcs11/p11kms.h"
#include "net/retry.h"

/* The error of a non-2xx JSON 1.1 answer, as botocore reads it: "__type" with anything up to
 * '#' and from ':' removed, "message" or "Message". code falls back to "HTTP <status>"; both are
 * printable ASCII (other bytes become '?'), safe for log lines. */
void p11kms_aws_error_parse(const char *body, size_t len, long status, char *code, size_t code_len,
                            char *message, size_t message_len);

/* Retry class (enum p11kms_net_retry_kind) of an exchange: http_result from http.h, and for
 * answered requests the HTTP status and the error code (may be NULL): botocore's throttling
 * and transient codes, then p11kms_net_retry_default. */
int p11kms_aws_retry_kind(int http_result, long status, const char *code);

/* The CK_RV a final (not retried, or retries exhausted) AWS error maps to, per backend.h. */
CK_RV p11kms_aws_error_rv(const char *code, long status);

/* Whether the error says the credentials themselves are stale or rejected (the cache is
 * dropped so the next call fetches fresh ones). */
int p11kms_aws_error_is_auth(const char *code);

#endif
