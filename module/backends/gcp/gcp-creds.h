/* gcp-creds.h - Google credentials for Cloud KMS: Application Default Credentials (a key's own
 * credentials file, GOOGLE_APPLICATION_CREDENTIALS, the gcloud well-known file, the GCE/GKE
 * metadata server) turned into OAuth access tokens, behind a shared, thread-safe cache. */
#ifndef P11KMS_GCP_CREDS_H
#define P11KMS_GCP_CREDS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "pkcs11/p11kms.h"
#include "net/http.h"
#include "net/tokcache.h"

/* Refresh margins: past the advisory one (google-auth-library's eager refresh, 5 min) a refresh
 * is attempted but the cached token stays usable if it fails; past the mandatory one
 * (google-auth's 3 min 45 s) it is not used without a refresh. */
#define P11KMS_GCP_TOKEN_ADVISORY_S (5 * 60)
#define P11KMS_GCP_TOKEN_MANDATORY_S 225
/* Largest token-endpoint answer and credential file accepted. */
#define P11KMS_GCP_CREDS_MAX_RESPONSE (64u * 1024u)
#define P11KMS_GCP_CREDFILE_MAX (64u * 1024u)
/* The scope p11kms asks for: Cloud KMS only, so a leaked token opens nothing else. An STS token
 * that is exchanged again by impersonation gets cloud-platform, which the IAM credentials call
 * needs (as Google's libraries ask). */
#define P11KMS_GCP_SCOPE "https://www.googleapis.com/auth/cloudkms"
#define P11KMS_GCP_SCOPE_CLOUD_PLATFORM "https://www.googleapis.com/auth/cloud-platform"
#define P11KMS_GCP_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define P11KMS_GCP_METADATA_DEFAULT_HOST "169.254.169.254"
/* Lifetime asked of a service-account assertion and of an impersonated token. */
#define P11KMS_GCP_TOKEN_LIFETIME_S 3600

/* A Google access token is a p11kms_cred (net/tokcache.h): token is the access token, expires
 * its expiry, and id the quota project its credential file names (public; NULL when none),
 * so a refresh that reads a changed file changes both together. */

/* ---- credential files (gcp-creds-file.c) ---- */

enum p11kms_gcp_cred_type {
    P11KMS_GCP_SERVICE_ACCOUNT = 1, /* "service_account": a key file */
    P11KMS_GCP_AUTHORIZED_USER,     /* "authorized_user": a refresh token (gcloud's ADC file) */
    P11KMS_GCP_EXTERNAL_ACCOUNT,    /* "external_account": workload identity federation */
};

/* A parsed credential file; the secret fields are wiped by p11kms_gcp_credfile_clear. */
typedef struct p11kms_gcp_credfile {
    int type; /* enum p11kms_gcp_cred_type */
    char *quota_project;
    char *token_uri; /* service account, authorized user; external account: token_url */
    /* service_account */
    char *client_email;
    char *private_key_id; /* may be NULL */
    char *private_key;    /* secret: PKCS#8 PEM */
    /* authorized_user */
    char *client_id;
    char *client_secret; /* secret */
    char *refresh_token; /* secret */
    /* external_account, with a file credential source */
    char *audience;
    char *subject_token_type;
    char *source_file;       /* where the subject token is, read at every refresh */
    char *source_field;      /* JSON format: the field holding the token; NULL: text format */
    char *impersonation_url; /* service_account_impersonation_url, or NULL */
} p11kms_gcp_credfile;

/* "service account", "authorized user", "external account". */
const char *p11kms_gcp_cred_type_name(int type);
/* Parse a credential file's text (what = its path, for log lines): CKR_OK, or
 * CKR_DEVICE_ERROR with one log line naming the file and the problem (an unsupported type or
 * credential source says so). Bounded, fuzzable. */
CK_RV p11kms_gcp_credfile_parse(const char *text, size_t len, const char *what,
                                p11kms_gcp_credfile *out);
/* Read (at most P11KMS_GCP_CREDFILE_MAX bytes, the buffer wiped) and parse a file. */
CK_RV p11kms_gcp_credfile_read(const char *path, p11kms_gcp_credfile *out);
void p11kms_gcp_credfile_clear(p11kms_gcp_credfile *f);

/* Where ADC looks, without the network. */
enum p11kms_gcp_adc_source {
    P11KMS_GCP_ADC_OPTION = 1, /* the key's credentials_file */
    P11KMS_GCP_ADC_ENV,        /* GOOGLE_APPLICATION_CREDENTIALS */
    P11KMS_GCP_ADC_WELL_KNOWN, /* $CLOUDSDK_CONFIG or ~/.config/gcloud, ADC file */
    P11KMS_GCP_ADC_METADATA,   /* the GCE/GKE metadata server */
};
/* The credential file ADC uses (malloc'd path and its source), or *path NULL and the source
 * P11KMS_GCP_ADC_METADATA when no file applies. A named file is used even when it is missing
 * (reading it then fails, as in Google's libraries); the well-known file only if it exists.
 * CKR_HOST_MEMORY. */
CK_RV p11kms_gcp_adc_file(const char *explicit_file, char **path, int *source);
/* "credentials_file", "GOOGLE_APPLICATION_CREDENTIALS", "the gcloud file", "metadata server". */
const char *p11kms_gcp_adc_source_name(int source);
/* The gcloud well-known file's path (malloc'd), NULL without CLOUDSDK_CONFIG and HOME. */
char *p11kms_gcp_well_known_path(void);
/* "http://HOST[:PORT]" of the metadata server (GCE_METADATA_HOST, else 169.254.169.254),
 * malloc'd; NULL for a value that is not a plain host[:port]. */
char *p11kms_gcp_metadata_base(void);
/* Whether METADATA_SERVER_DETECTION=none switches the metadata server off. */
int p11kms_gcp_metadata_disabled(void);

/* ---- tokens from the sources (gcp-creds-remote.c) ---- */

/* How token endpoints are reached on behalf of one call. */
typedef struct p11kms_gcp_fetch {
    p11kms_http_transport *http;
    const char *ca_file; /* for https endpoints */
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    int max_attempts;
    uint64_t deadline_ms; /* p11kms_net_now_ms() clock */
} p11kms_gcp_fetch;

/* A token for a parsed file (service account: RS256 assertion at token_uri; authorized user:
 * refresh-token grant; external account: the subject token at STS, then impersonation when the
 * file asks). Logs once and fails with CKR_DEVICE_ERROR. */
CK_RV p11kms_gcp_token_from_file(const p11kms_gcp_credfile *f, const p11kms_gcp_fetch *x,
                                 p11kms_cred *out);
/* A token from the metadata server (Metadata-Flavor: Google sent and required back). *applies
 * is 0 when no metadata server answered at all (not on GCE): the chain then has nothing. */
CK_RV p11kms_gcp_token_from_metadata(const p11kms_gcp_fetch *x, p11kms_cred *out, int *applies);

/* Answers, bounded and fuzzable: {"access_token", "expires_in", "token_type"} of the OAuth,
 * STS and metadata endpoints; {"accessToken", "expireTime"} of generateAccessToken. CKR_OK or
 * CKR_DEVICE_ERROR (not logged: the caller names the endpoint). now is the wall clock. */
CK_RV p11kms_gcp_token_parse(const char *body, size_t len, const char *source, time_t now,
                             p11kms_cred *out);
CK_RV p11kms_gcp_impersonated_parse(const char *body, size_t len, p11kms_cred *out);
/* The "error" and "error_description" of an OAuth error answer, printable (empty when absent). */
void p11kms_gcp_oauth_error(const char *body, size_t len, char *code, size_t code_len, char *desc,
                            size_t desc_len);

/* ---- the service-account assertion (gcp-jwt.c) ---- */

/* An RS256-signed JWT (unpadded base64url, RFC 7515): header {"alg":"RS256","typ":"JWT"[,"kid"]},
 * claims {"iss", "scope", "aud", "iat": now, "exp": now + 3600}. *out malloc'd, secret (a
 * bearer credential until it expires): free with p11kms_secure_free_str. CKR_OK,
 * CKR_DEVICE_ERROR (not an RSA private key: logged), CKR_HOST_MEMORY. */
CK_RV p11kms_gcp_jwt_assertion(const char *pem, const char *kid, const char *iss, const char *scope,
                               const char *aud, time_t now, char **out);

/* ---- the cache (gcp-creds.c) ---- */

typedef struct p11kms_gcp_provider p11kms_gcp_provider;

/* A provider for an explicit credentials file (NULL: ADC) reaching token endpoints through
 * http with these settings. Providers with equal settings are shared (reference counted), so
 * the keys of a process fetch one token. No I/O here. */
CK_RV p11kms_gcp_provider_get(const char *credentials_file, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_gcp_provider **out);
void p11kms_gcp_provider_put(p11kms_gcp_provider *p);
/* The current token (a copy the caller clears), fetched or refreshed first if needed within
 * deadline_ms. CKR_DEVICE_ERROR (logged) when none can be had. */
CK_RV p11kms_gcp_provider_token(p11kms_gcp_provider *p, uint64_t deadline_ms, p11kms_cred *out);
/* Drop the cached token (Cloud KMS rejected it). */
void p11kms_gcp_provider_invalidate(p11kms_gcp_provider *p);
/* How many times a token was fetched (tests). */
unsigned long p11kms_gcp_provider_fetches(p11kms_gcp_provider *p);

#endif
