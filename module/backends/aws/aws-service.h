/* aws-service.h - what the rest of p11kms reuses of the AWS backend (the tool's S3 client): a
 * client for any AWS service on the shared remote layer, with the backend's region and endpoint
 * rules, credential chain, SigV4 signing and AWS error classes. Outside module/backends/aws/
 * only this header may be included (tests/test-layers.sh holds the tool to it). */
#ifndef P11KMS_AWS_SERVICE_H
#define P11KMS_AWS_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "aws-creds.h"
#include "aws-retry.h"
#include "aws-xml.h"
#include "net/call.h"

/* A client of one AWS service: the KMS backend makes one per key, the tool one for S3. The net
 * client's settings hold the endpoint ("scheme://host[:port]/") and its Host value. Read-only
 * after setup; the quota and the credential provider lock themselves. */
typedef struct p11kms_aws_client {
    p11kms_net_client net; /* endpoint, timeouts, attempts, transport, quota, hooks */
    char *region;
    const char *service;     /* SigV4 signing name: "kms", "s3" */
    int normalize_path;      /* SigV4 path normalisation: every service but S3 */
    int endpoint_configured; /* the endpoint was given (configuration, AWS_ENDPOINT_URL*) */
    p11kms_aws_provider *creds;
    char *origin; /* for log lines: the key's configuration origin, "s3" */
} p11kms_aws_client;

/* What a service client is built from; NULL strings mean "not given". */
typedef struct p11kms_aws_service_opts {
    const char *service;    /* SigV4 signing name, also the default endpoint's host prefix */
    const char *service_id; /* the suffix of AWS_ENDPOINT_URL_<ID>: "KMS", "S3" */
    const char *region;     /* explicit region (else AWS_REGION, AWS_DEFAULT_REGION, profile) */
    const char *endpoint;   /* explicit endpoint (else AWS_ENDPOINT_URL_<ID>, AWS_ENDPOINT_URL) */
    const char *profile;    /* explicit profile (else AWS_PROFILE, AWS_DEFAULT_PROFILE) */
    const char *origin;
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms; /* one exchange */
    unsigned long deadline_ms;        /* one call, retries included */
    int max_attempts;
} p11kms_aws_service_opts;

/* Build a client (no network): region and endpoint by the KMS backend's rules, the CA bundle
 * from AWS_CA_BUNDLE, the shared credential provider of the profile, and hooks, whose
 * authorize, auth_clear and invalidate must be the three below (ctx: the client); classify and
 * map are the service's own. CKR_ARGUMENTS_BAD (one log line naming origin: no region, a bad
 * endpoint), CKR_HOST_MEMORY. */
CK_RV p11kms_aws_service_open(const p11kms_aws_service_opts *o, const p11kms_net_hooks *hooks,
                              p11kms_aws_client **out);
void p11kms_aws_client_free(p11kms_aws_client *c);

/* The hooks every AWS client signs with: SigV4 of the request URL's path and query and of the
 * signed headers, with fresh credentials from the client's provider each attempt. A request
 * carrying X-Amz-Content-SHA256 has that value signed as the payload hash (S3); others have
 * their body hashed. */
CK_RV p11kms_aws_authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                           p11kms_net_auth *auth);
void p11kms_aws_auth_clear(void *ctx, p11kms_net_auth *auth);
void p11kms_aws_invalidate(void *ctx);

/* The region and endpoint rules on their own (doctor, tests). Region: explicit, then the key
 * ARN's, AWS_REGION, AWS_DEFAULT_REGION, the profile's "region"; none is logged with
 * missing_hint (how to give one). *out malloc'd. */
CK_RV p11kms_aws_region_resolve(const char *explicit_region, const char *arn_region,
                                const char *profile, const char *origin, const char *missing_hint,
                                char **out);
/* Endpoint: explicit, then AWS_ENDPOINT_URL_<service_id>, AWS_ENDPOINT_URL (both ignored with
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else https://<service>[-fips].<region>.amazonaws.com
 * (.com.cn in China). Fills net's url and host; *configured says whether it was given. */
CK_RV p11kms_aws_endpoint_resolve(const char *service, const char *service_id,
                                  const char *explicit_endpoint, const char *region,
                                  const char *origin, p11kms_net_settings *net, int *configured);

#endif
