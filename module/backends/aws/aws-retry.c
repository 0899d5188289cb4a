/* aws-retry.c - AWS error bodies, their CK_RV mapping (the one place it is decided for AWS),
 * and which errors botocore's "standard" mode retries. No state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws-retry.h"
#include "net/http.h"
#include "net/json.h"

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
    p11kms_json root, v;
    char *s = NULL;
    const char *c, *e;

    snprintf(code, code_len, "HTTP %ld", status);
    if (message_len > 0)
        message[0] = 0;
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0)
        return;
    if (p11kms_json_member(&root, "__type", &v) && p11kms_json_string(&v, 1024, &s) == 0) {
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
    if ((p11kms_json_member(&root, "message", &v) || p11kms_json_member(&root, "Message", &v)) &&
        p11kms_json_string(&v, 4096, &s) == 0) {
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
    if (http_result != P11KMS_HTTP_OK || (status >= 200 && status < 300))
        return p11kms_net_retry_default(http_result, status);
    if (in_list(code, throttling_codes))
        return P11KMS_NET_RETRY_THROTTLE;
    if (in_list(code, transient_codes) && status != 429)
        return P11KMS_NET_RETRY_TRANSIENT;
    return p11kms_net_retry_default(http_result, status);
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
