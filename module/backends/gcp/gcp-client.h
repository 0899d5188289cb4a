/* gcp-client.h - one Cloud KMS key's client: its settings (endpoint, timeouts, retries, quota
 * project, credentials) from the key configuration and environment, and the authorized,
 * retried REST call; plus what the backend says about itself (key names, doctor). */
#ifndef P11KMS_GCP_CLIENT_H
#define P11KMS_GCP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "config.h"
#include "gcp-creds.h"
#include "net/call.h"

/* The backend byte of Cloud KMS ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_GCP_ENVELOPE_ID 3

#define P11KMS_GCP_DEFAULT_ENDPOINT "https://cloudkms.googleapis.com"
#define P11KMS_GCP_ENDPOINT_ENV "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDKMS" /* gcloud's */
#define P11KMS_GCP_CA_ENV "CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE"             /* gcloud's */
#define P11KMS_GCP_QUOTA_ENV "GOOGLE_CLOUD_QUOTA_PROJECT"                  /* google-auth's */
#define P11KMS_GCP_DEFAULT_CONNECT_TIMEOUT_MS 5000ul
#define P11KMS_GCP_DEFAULT_REQUEST_TIMEOUT_MS 10000ul
#define P11KMS_GCP_DEFAULT_DEADLINE_MS 30000ul
/* Google's client config retries until its deadline rather than a count; five attempts fit in
 * the default deadline with its backoff. */
#define P11KMS_GCP_DEFAULT_MAX_ATTEMPTS 5
/* Answers that fail the CRC32C checks are discarded and the request sent again, at most this
 * many answers per call (and within its deadline). */
#define P11KMS_GCP_INTEGRITY_ATTEMPTS 3
#define P11KMS_GCP_MAX_RESPONSE (256u * 1024u)
/* Longest key name accepted (it is the envelope's key_ref and part of every URL). */
#define P11KMS_GCP_NAME_MAX 1024

/* Backend configuration fields, NULL-terminated (the backend's options list). */
extern const char *const p11kms_gcp_option_names[];

/* Whether s is projects/P/locations/L/keyRings/R/cryptoKeys/K with every id non-empty, made of
 * [A-Za-z0-9._:-], not "." or "..", and the whole at most P11KMS_GCP_NAME_MAX bytes: safe to
 * put in a URL path as it is. strict 0 checks only the shape (quick mode recognition). */
int p11kms_gcp_key_name_ok(const char *s, int strict);

/* Rules between a key's fields (check_key, gcp-keyname.c): an envelope key names a CryptoKey;
 * an asymmetric key one CryptoKeyVersion (key_id ".../cryptoKeyVersions/N", or the CryptoKey and
 * "key_version": "N"), of a type Cloud KMS has. CKR_OK or CKR_ARGUMENTS_BAD with err. */
CK_RV p11kms_gcp_check_key(p11kms_key_config *kc, char *err, size_t err_len);

/* The key's settings without the network, for the client and for doctor. */
typedef struct p11kms_gcp_settings {
    const char *credentials_file; /* the key's "credentials_file", or NULL (ADC) */
    const char *quota_project;    /* configured or GOOGLE_CLOUD_QUOTA_PROJECT; NULL: the file's */
    const char *endpoint_source;  /* "configuration", the variable's name, or "default" */
    p11kms_net_settings net;
} p11kms_gcp_settings;

/* Read and check (logged with kc->origin): CKR_ARGUMENTS_BAD, CKR_HOST_MEMORY. */
CK_RV p11kms_gcp_settings_read(const p11kms_key_config *kc, p11kms_gcp_settings *out);
void p11kms_gcp_settings_free(p11kms_gcp_settings *s);

typedef struct p11kms_gcp_client {
    p11kms_net_client net; /* endpoint, timeouts, attempts, transport, quota, hooks */
    p11kms_gcp_provider *creds;
    char *quota_project; /* configured; NULL: the credential file's, if any */
    char *origin;        /* the key's configuration origin, for log lines */
} p11kms_gcp_client;

/* Build from the key configuration and the environment. No network, no file read. */
CK_RV p11kms_gcp_client_new(const p11kms_key_config *kc, p11kms_gcp_client **out);
void p11kms_gcp_client_free(p11kms_gcp_client *c);
/* The deadline of a call that starts now. */
uint64_t p11kms_gcp_client_deadline(const p11kms_gcp_client *c);

/* The hooks of KMS calls (gcp-call.c): a bearer token (and quota project) from the client's
 * provider, google.rpc.Status error bodies, the Cloud KMS CK_RV mapping. */
extern const p11kms_net_hooks p11kms_gcp_hooks;

/* The code, message and retry class of a Cloud KMS error answer (status and body), as the
 * classify hook reads them; whether it rejected the credentials. Bounded, fuzzable. */
void p11kms_gcp_error_parse(const char *body, size_t len, long status, p11kms_net_outcome *o);
/* The CK_RV of a final error (backend.h's contract); INVALID_ARGUMENT is
 * CKR_ENCRYPTED_DATA_INVALID (a refused ciphertext: encrypt turns it into a device error). */
CK_RV p11kms_gcp_error_rv(const p11kms_net_outcome *o);

/* "POST /v1/{name}:{verb}" (or GET of the name when body is NULL) through the shared call loop.
 * CKR_OK with a 200 JSON answer in reply; otherwise one log line ("gcp: <op> <name> failed:
 * <STATUS> (HTTP <status>, request id <id>): <message>") and the CK_RV backend.h asks for. */
CK_RV p11kms_gcp_call(p11kms_gcp_client *c, const char *op, const char *name, const char *verb,
                      const p11kms_sbuf *body, uint64_t deadline_ms, p11kms_net_reply *reply);

/* Self-description (gcp-describe.c): quick-mode key names and doctor findings. */
extern const char p11kms_gcp_quick_forms[];
int p11kms_gcp_quick(const char *value, p11kms_quick_key *out);
void p11kms_gcp_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx);

#endif
