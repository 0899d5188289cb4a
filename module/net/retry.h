/* retry.h - when and how soon a remote call is tried again: retry classes, full-jitter
 * exponential backoff, and a retry quota that keeps an outage from multiplying the load. */
#ifndef P11KMS_NET_RETRY_H
#define P11KMS_NET_RETRY_H

#include <pthread.h>

enum p11kms_net_retry_kind {
    P11KMS_NET_NO_RETRY = 0,
    P11KMS_NET_RETRY_THROTTLE,  /* the service asked us to slow down (429, throttling codes) */
    P11KMS_NET_RETRY_TRANSIENT, /* server faults, timeouts, connection errors */
};

/* The class of an exchange from what every HTTP service means by it: connection failures and
 * timeouts (http_result from http.h) are transient; 429 throttles; 500, 502, 503 and 504 are
 * transient; everything else (2xx included) is final. Backends refine it with their error
 * codes in their classify hook. */
int p11kms_net_retry_default(int http_result, long status);

/* Backoff: before retry number `attempt` (1 = the first retry) wait
 * rand01 * min(base * 2^(attempt-1), cap_ms), base by retry class. */
typedef struct p11kms_net_backoff {
    unsigned long transient_ms;
    unsigned long throttle_ms;
    unsigned long cap_ms;
} p11kms_net_backoff;

/* botocore "standard" mode: 50 ms transient, 1 s throttled, 20 s cap. */
extern const p11kms_net_backoff p11kms_net_backoff_standard;

unsigned long p11kms_net_backoff_ms(const p11kms_net_backoff *b, int kind, int attempt,
                                    double rand01);
/* A uniformly distributed double in [0, 1) from the CSPRNG (0.5 if that fails): the jitter. */
double p11kms_net_rand01(void);

/*
 * The retry quota (botocore standard mode): 500 tokens; a retry costs 5 (10 after a timeout
 * or connection error); a call that succeeds first time returns 1, a call that succeeds after
 * retrying returns what its last retry took. With the quota empty nobody retries, so an
 * outage does not multiply the load. The mutex protects available.
 */
typedef struct p11kms_net_quota {
    pthread_mutex_t lock;
    int available;
} p11kms_net_quota;

void p11kms_net_quota_init(p11kms_net_quota *q);
void p11kms_net_quota_destroy(p11kms_net_quota *q);
/* Take the cost of one retry; returns the cost taken, or 0 when the quota is exhausted. */
int p11kms_net_quota_acquire(p11kms_net_quota *q, int timeout_or_connect);
/* After a success: last_cost is what the final retry took, 0 if the call did not retry. */
void p11kms_net_quota_success(p11kms_net_quota *q, int last_cost);

#endif
