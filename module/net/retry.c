/* retry.c - retry classes, backoff with jitter and the retry quota. The quota's mutex guards
 * its count; nothing else here has state. */
#include <stdint.h>
#include <openssl/rand.h>
#include "http.h"
#include "retry.h"

#define QUOTA_MAX 500
#define RETRY_COST 5
#define TIMEOUT_RETRY_COST 10

const p11kms_net_backoff p11kms_net_backoff_standard = {50ul, 1000ul, 20000ul};

int p11kms_net_retry_default(int http_result, long status)
{
    switch (http_result) {
    case P11KMS_HTTP_OK:
        break;
    case P11KMS_HTTP_E_CONNECT:
    case P11KMS_HTTP_E_TIMEOUT:
        return P11KMS_NET_RETRY_TRANSIENT;
    default:
        return P11KMS_NET_NO_RETRY;
    }
    if (status == 429)
        return P11KMS_NET_RETRY_THROTTLE;
    if (status == 500 || status == 502 || status == 503 || status == 504)
        return P11KMS_NET_RETRY_TRANSIENT;
    return P11KMS_NET_NO_RETRY;
}

unsigned long p11kms_net_backoff_ms(const p11kms_net_backoff *b, int kind, int attempt,
                                    double rand01)
{
    unsigned long scale = kind == P11KMS_NET_RETRY_THROTTLE ? b->throttle_ms : b->transient_ms;
    unsigned long cap;

    if (attempt < 1)
        attempt = 1;
    if (rand01 < 0 || rand01 >= 1)
        rand01 = 0.5;
    /* 2^(attempt-1) grows past any cap quickly; stop shifting before overflow */
    cap = attempt > 20 || scale > (b->cap_ms >> (attempt - 1)) ? b->cap_ms : scale << (attempt - 1);
    if (cap > b->cap_ms)
        cap = b->cap_ms;
    return (unsigned long)(rand01 * (double)cap);
}

double p11kms_net_rand01(void)
{
    uint64_t r;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        return 0.5;
    return (double)(r >> 11) / 9007199254740992.0; /* 53 random bits / 2^53 */
}

void p11kms_net_quota_init(p11kms_net_quota *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->available = QUOTA_MAX;
}

void p11kms_net_quota_destroy(p11kms_net_quota *q)
{
    pthread_mutex_destroy(&q->lock);
}

int p11kms_net_quota_acquire(p11kms_net_quota *q, int timeout_or_connect)
{
    int cost = timeout_or_connect ? TIMEOUT_RETRY_COST : RETRY_COST;

    pthread_mutex_lock(&q->lock);
    if (q->available < cost)
        cost = 0;
    else
        q->available -= cost;
    pthread_mutex_unlock(&q->lock);
    return cost;
}

void p11kms_net_quota_success(p11kms_net_quota *q, int last_cost)
{
    pthread_mutex_lock(&q->lock);
    q->available += last_cost > 0 ? last_cost : 1;
    if (q->available > QUOTA_MAX)
        q->available = QUOTA_MAX;
    pthread_mutex_unlock(&q->lock);
}
