/* aws-creds.h - AWS credentials: the SDK resolution chain (environment, web identity, shared
 * files, container, EC2 IMDSv2) behind a shared, thread-safe cache refreshed before expiry. */
#ifndef P11KMS_AWS_CREDS_H
#define P11KMS_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "pkcs11/p11kms.h"
#include "net/http.h"
#include "net/tokcache.h"
#include "net/tokshare.h"

/* Refresh margins (botocore): past the advisory one a refresh is attempted but old
 * credentials stay usable if it fails; past the mandatory one they are not used. */
#define P11KMS_AWS_CREDS_ADVISORY_S (15 * 60)
#define P11KMS_AWS_CREDS_MANDATORY_S (10 * 60)
/* Largest credential-service answer accepted. */
#define P11KMS_AWS_CREDS_MAX_RESPONSE (64u * 1024u)

/* AWS credentials are a p11kms_cred (net/tokcache.h): id is the access key id, secret the
 * secret access key, token the session token of temporary credentials (NULL for long-term
 * keys), expires their Expiration. */

/* Fill from strings (copied); token may be NULL or empty. CKR_HOST_MEMORY, or
 * CKR_GENERAL_ERROR when akid or secret is missing or empty, or a value holds a control
 * character. */
CK_RV p11kms_aws_creds_set(p11kms_cred *c, const char *akid, const char *secret, const char *token,
                           time_t expiration, const char *source);

/* How remote credential sources are reached on behalf of one call. */
typedef struct p11kms_aws_fetch {
    p11kms_http_transport *http;
    const char *ca_file; /* for https sources (STS) */
    const char *region;  /* STS region; may be NULL */
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    int max_attempts;
    uint64_t deadline_ms; /* p11kms_net_now_ms() clock */
} p11kms_aws_fetch;

/* ---- sources (aws-creds-file.c, aws-creds-remote.c). Each sets *applies = 0 when it is not
 * configured (the chain moves on); otherwise it answers CKR_OK with creds, or logs once and
 * fails (CKR_DEVICE_ERROR): a configured source that fails stops the chain, as in the SDKs. */

/* The profile the process uses: explicit (key configuration) or AWS_PROFILE,
 * AWS_DEFAULT_PROFILE, "default". */
const char *p11kms_aws_profile_name(const char *explicit_profile);
/* Paths of the shared files (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, ~/.aws/...);
 * malloc'd, NULL when neither the variable nor HOME is set. */
char *p11kms_aws_credentials_path(void);
char *p11kms_aws_config_path(void);
/* A key of the profile's section in the config file ("[default]" / "[profile NAME]"),
 * malloc'd, or NULL. */
CK_RV p11kms_aws_profile_get(const char *profile, const char *key, char **value);

CK_RV p11kms_aws_creds_from_env(p11kms_cred *out, int *applies);
CK_RV p11kms_aws_creds_from_files(const char *profile, int profile_named, p11kms_cred *out,
                                  int *applies);
CK_RV p11kms_aws_creds_from_web_identity(const char *profile, const p11kms_aws_fetch *f,
                                         p11kms_cred *out, int *applies);
CK_RV p11kms_aws_creds_from_container(const p11kms_aws_fetch *f, p11kms_cred *out, int *applies);
CK_RV p11kms_aws_creds_from_imds(const p11kms_aws_fetch *f, p11kms_cred *out, int *applies);
/* The credential JSON the container endpoint and IMDS answer with (AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS adds Code). Bounded, fuzzable. */
CK_RV p11kms_aws_creds_parse_json(const char *body, size_t len, const char *source,
                                  p11kms_cred *out);
/* STS AssumeRoleWithWebIdentity's XML answer. Bounded, fuzzable. */
CK_RV p11kms_aws_creds_parse_sts(const char *body, size_t len, p11kms_cred *out);

/* ---- the cache (aws-creds.c) ---- */

typedef p11kms_tokshare p11kms_aws_provider;

/* A provider for a profile (NULL: the process default) reaching remote sources through http
 * with these settings. Providers with equal settings are shared (reference counted) so keys
 * of one host fetch credentials once. No I/O here. */
CK_RV p11kms_aws_provider_get(const char *explicit_profile, const char *region, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_aws_provider **out);
void p11kms_aws_provider_put(p11kms_aws_provider *p);
/* Current credentials (a copy the caller clears), resolving or refreshing them if needed
 * within deadline_ms. One refresh runs at a time; other threads wait for it, or keep using
 * credentials still valid past the mandatory margin. CKR_DEVICE_ERROR (logged) when none. */
CK_RV p11kms_aws_provider_creds(p11kms_aws_provider *p, uint64_t deadline_ms, p11kms_cred *out);
/* Drop the cached credentials (the KMS rejected them). */
void p11kms_aws_provider_invalidate(p11kms_aws_provider *p);
/* How many times the chain ran (tests). */
unsigned long p11kms_aws_provider_resolutions(p11kms_aws_provider *p);

#endif
