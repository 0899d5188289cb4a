/* aws-sigv4.h - AWS Signature Version 4 for request headers: canonical request, string to sign,
 * signing key and the Authorization header value, checked against the official test suites. */
#ifndef P11KMS_AWS_SIGV4_H
#define P11KMS_AWS_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "pkcs11/p11kms.h"
#include "net/http.h"

#define P11KMS_AWS_AMZ_DATE_LEN 16 /* "YYYYMMDDTHHMMSSZ" */

typedef struct p11kms_aws_signer {
    const char *access_key_id;
    const char *secret_access_key; /* secret */
    const char *region;
    const char *service;  /* "kms", "sts" */
    const char *amz_date; /* the X-Amz-Date value the request carries */
    int normalize_path;   /* 1 for every service but S3 */
} p11kms_aws_signer;

typedef struct p11kms_aws_sig_request {
    const char *method;
    const char *path;  /* as sent, before encoding: "/" for KMS */
    const char *query; /* without the '?', NULL or "" when none */
    /* Every header the request carries that is to be signed: Host and X-Amz-Date at least,
     * X-Amz-Security-Token when there is one. Names are matched case-insensitively; repeated
     * names are joined in order. User-Agent, Expect and a few hop-by-hop headers are never
     * signed (as botocore), so passing them is harmless. */
    const p11kms_http_header *headers;
    size_t n_headers;
    const uint8_t *body;
    size_t body_len;
    /* S3: the X-Amz-Content-SHA256 value the request carries (the body's hex SHA-256, or
     * "UNSIGNED-PAYLOAD" over TLS), signed in place of hashing body. NULL: hash body. */
    const char *payload_hash;
} p11kms_aws_sig_request;

typedef struct p11kms_aws_sig {
    char *authorization;     /* the Authorization header value */
    char *canonical_request; /* may contain a session token: secret */
    char *string_to_sign;
} p11kms_aws_sig;

/* Sign. CKR_OK, CKR_HOST_MEMORY, CKR_ARGUMENTS_BAD (no host or x-amz-date header, malformed
 * date). out is cleared first; p11kms_aws_sig_clear wipes it. */
CK_RV p11kms_aws_sigv4_sign(const p11kms_aws_signer *s, const p11kms_aws_sig_request *req,
                            p11kms_aws_sig *out);
void p11kms_aws_sig_clear(p11kms_aws_sig *sig);

/* The X-Amz-Date value for a time (UTC); buf holds P11KMS_AWS_AMZ_DATE_LEN + 1 bytes. */
void p11kms_aws_amz_date(time_t t, char *buf);

#endif
