/* aws-retry.c - AWS error bodies, their CK_RV mapping (the one place it is decided), and the
 * retry rules and numbers of botocore's "standard" mode. The quota's mutex guards its count. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include "aws-retry.h"
#include "aws-wire.h"
#include "http.h"
#include "secmem.h"

#define QUOTA_MAX 500
#define RETRY_COST 5
#define TIMEOUT_RETRY_COST 10
#define MAX_BACKOFF_MS 20000ul

/* Copy printable ASCII only: error texts end up in log lines. */
static void copy_printable(char *dst, size_t dst_len, const char *src, size_t n)
{
    size_t i;

    if (dst_len == 0)
        return;
    if (n > dst_len - 1)
        n = dst_len - 1;
    for (i = 0; i < n; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[n] = 0;
}

void p11kms_aws_error_parse(const char *body, size_t len, long status, char *code, size_t code_len,
                            char *message, size_t message_len)
{
    p11kms_aws_json root, v;
    char *s = NULL;
    const char *c, *e;

    snprintf(code, code_len, "HTTP %ld", status);
    if (message_len > 0)
        message[0] = 0;
    if (body == NULL || p11kms_aws_json_parse(body, len, &root) != 0)
        return;
    if (p11kms_aws_json_member(&root, "__type", &v) && p11kms_aws_json_string(&v, 1024, &s) == 0) {
        c = strrchr(s, '#');
        c = c ? c + 1 : s;
        e = strchr(c, ':');
        if (e == NULL)
            e = c + strlen(c);
        if (e > c)
            copy_printable(code, code_len, c, (size_t)(e - c));
        free(s);
        s = NULL;
    }
    if ((p11kms_aws_json_member(&root, "message", &v) ||
         p11kms_aws_json_member(&root, "Message", &v)) &&
        p11kms_aws_json_string(&v, 4096, &s) == 0) {
        copy_printable(message, message_len, s, strlen(s));
        free(s);
    }
}

static int in_list(const char *code, const char *const *list)
{
    size_t i;

    if (code == NULL)
        return 0;
    for (i = 0; list[i] != NULL; i++)
        if (strcmp(code, list[i]) == 0)
            return 1;
    return 0;
}

static const char *const throttling_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    NULL,
};

static const char *const transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    NULL,
};

int p11kms_aws_retry_kind(int http_result, long status, const char *code)
{
    switch (http_result) {
    case P11KMS_HTTP_OK:
        break;
    case P11KMS_HTTP_E_CONNECT:
    case P11KMS_HTTP_E_TIMEOUT:
        return P11KMS_AWS_RETRY_TRANSIENT;
    default:
        return P11KMS_AWS_NO_RETRY;
    }
    if (status >= 200 && status < 300)
        return P11KMS_AWS_NO_RETRY;
    if (in_list(code, throttling_codes) || status == 429)
        return P11KMS_AWS_RETRY_THROTTLE;
    if (in_list(code, transient_codes) || status == 500 || status == 502 || status == 503 ||
        status == 504)
        return P11KMS_AWS_RETRY_TRANSIENT;
    return P11KMS_AWS_NO_RETRY;
}

CK_RV p11kms_aws_error_rv(const char *code, long status)
{
    /* the KMS refused the ciphertext: wrong context, tampered, made by another key */
    static const char *const bad_ciphertext[] = {"InvalidCiphertextException",
                                                 "IncorrectKeyException", NULL};
    /* the caller may not use this key this way, or the key cannot be used at all now */
    static const char *const not_permitted[] = {
        "AccessDeniedException",
        "AccessDenied",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
        "NotFoundException",
        "InvalidGrantTokenException",
        "InvalidGrantIdException",
        "UnsupportedOperationException",
        "KMSInvalidMacException",
        NULL,
    };

    if (in_list(code, bad_ciphertext))
        return CKR_ENCRYPTED_DATA_INVALID;
    if (in_list(code, not_permitted))
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    /* rejected credentials are "no usable credentials", a device problem, even on a 403 */
    if (p11kms_aws_error_is_auth(code))
        return CKR_DEVICE_ERROR;
    if (status == 403)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    /* credentials rejected, throttling or server faults that outlived their retries, request
     * rejected as malformed, unknown errors: the KMS as a device did not do the job */
    return CKR_DEVICE_ERROR;
}

int p11kms_aws_error_is_auth(const char *code)
{
    static const char *const auth[] = {
        "ExpiredTokenException",
        "ExpiredToken",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidAccessKeyId",
        "AuthFailure",
        NULL,
    };

    return in_list(code, auth);
}

unsigned long p11kms_aws_backoff_ms(int kind, int attempt, double rand01)
{
    unsigned long scale = kind == P11KMS_AWS_RETRY_THROTTLE ? 1000ul : 50ul;
    unsigned long cap;

    if (attempt < 1)
        attempt = 1;
    if (rand01 < 0 || rand01 >= 1)
        rand01 = 0.5;
    /* 2^(attempt-1) grows past the 20 s cap quickly; stop shifting before overflow */
    cap = attempt > 20 ? MAX_BACKOFF_MS : scale << (attempt - 1);
    if (cap > MAX_BACKOFF_MS)
        cap = MAX_BACKOFF_MS;
    return (unsigned long)(rand01 * (double)cap);
}

double p11kms_aws_rand01(void)
{
    uint64_t r;

    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        return 0.5;
    return (double)(r >> 11) / 9007199254740992.0; /* 53 random bits / 2^53 */
}

uint64_t p11kms_aws_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void p11kms_aws_sleep_ms(unsigned long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void p11kms_aws_quota_init(p11kms_aws_quota *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->available = QUOTA_MAX;
}

void p11kms_aws_quota_destroy(p11kms_aws_quota *q)
{
    pthread_mutex_destroy(&q->lock);
}

int p11kms_aws_quota_acquire(p11kms_aws_quota *q, int timeout_or_connect)
{
    int cost = timeout_or_connect ? TIMEOUT_RETRY_COST : RETRY_COST;

    pthread_mutex_lock(&q->lock);
    if (q->available < cost) {
        cost = 0;
    } else {
        q->available -= cost;
    }
    pthread_mutex_unlock(&q->lock);
    return cost;
}

void p11kms_aws_quota_success(p11kms_aws_quota *q, int last_cost)
{
    pthread_mutex_lock(&q->lock);
    q->available += last_cost > 0 ? last_cost : 1;
    if (q->available > QUOTA_MAX)
        q->available = QUOTA_MAX;
    pthread_mutex_unlock(&q->lock);
}
