/* aws-retry.h - what an AWS answer means: the error code and message of a JSON error body, the
 * CK_RV it maps to, whether it is retryable, and botocore "standard" mode backoff and quota. */
#ifndef P11KMS_AWS_RETRY_H
#define P11KMS_AWS_RETRY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

#define P11KMS_AWS_CODE_MAX 96
#define P11KMS_AWS_MESSAGE_MAX 256

enum p11kms_aws_retry_kind {
    P11KMS_AWS_NO_RETRY = 0,
    P11KMS_AWS_RETRY_THROTTLE,  /* throttling codes, HTTP 429: backoff scale 1 s */
    P11KMS_AWS_RETRY_TRANSIENT, /* 500/502/503/504, timeouts, connection errors: scale 50 ms */
};

/* The error of a non-2xx JSON 1.1 answer, as botocore reads it: "__type" with anything up to
 * '#' and from ':' removed, "message" or "Message". code falls back to "HTTP <status>"; both are
 * printable ASCII (other bytes become '?'), safe for log lines. */
void p11kms_aws_error_parse(const char *body, size_t len, long status, char *code, size_t code_len,
                            char *message, size_t message_len);

/* Retry class of an exchange: http_result from http.h, and for answered requests the HTTP
 * status and the error code (may be NULL). */
int p11kms_aws_retry_kind(int http_result, long status, const char *code);

/* The CK_RV a final (not retried, or retries exhausted) AWS error maps to, per backend.h. */
CK_RV p11kms_aws_error_rv(const char *code, long status);

/* Whether the error says the credentials themselves are stale or rejected (the cache is
 * dropped so the next call fetches fresh ones). */
int p11kms_aws_error_is_auth(const char *code);

/* Delay before retry number `attempt` (1 = the first retry):
 * rand01 * min(scale * 2^(attempt-1), 20 s), rand01 in [0, 1). */
unsigned long p11kms_aws_backoff_ms(int kind, int attempt, double rand01);
/* A uniformly distributed double in [0, 1) from the CSPRNG (0.5 if that fails). */
double p11kms_aws_rand01(void);

/* Monotonic milliseconds (deadlines), and a sleep that resumes after signals. */
uint64_t p11kms_aws_now_ms(void);
void p11kms_aws_sleep_ms(unsigned long ms);

/*
 * The retry quota (botocore standard mode): 500 tokens; a retry costs 5 (10 after a timeout
 * or connection error); a call that succeeds first time returns 1, a call that succeeds after
 * retrying returns what its last retry took. With the quota empty nobody retries, so an
 * outage does not multiply the load. The mutex protects available.
 */
typedef struct p11kms_aws_quota {
    pthread_mutex_t lock;
    int available;
} p11kms_aws_quota;

void p11kms_aws_quota_init(p11kms_aws_quota *q);
void p11kms_aws_quota_destroy(p11kms_aws_quota *q);
/* Take the cost of one retry; returns the cost taken, or 0 when the quota is exhausted. */
int p11kms_aws_quota_acquire(p11kms_aws_quota *q, int timeout_or_connect);
/* After a success: last_cost is what the final retry took, 0 if the call did not retry. */
void p11kms_aws_quota_success(p11kms_aws_quota *q, int last_cost);

#endif
