/* vault-client.h - one Vault transit key's client: its settings from the key configuration and
 * the environment (address, namespace, mount, TLS, context mode, authentication), the token
 * source shared by keys that authenticate alike, the transit calls on the shared call loop
 * (net/call.h), and the bounded parsers of Vault's answers. */
#ifndef P11KMS_VAULT_CLIENT_H
#define P11KMS_VAULT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "config.h"
#include "net/call.h"
#include "net/tokcache.h"
#include "net/tokshare.h"

/* The backend byte of Vault ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_VAULT_ENVELOPE_ID 4

/* Vault's Go client: 60 s per request, 2 retries; a PKCS#11 call gets a shorter budget. */
#define P11KMS_VAULT_DEFAULT_CONNECT_TIMEOUT_MS 5000ul
#define P11KMS_VAULT_DEFAULT_REQUEST_TIMEOUT_MS 10000ul
#define P11KMS_VAULT_DEFAULT_DEADLINE_MS 30000ul
#define P11KMS_VAULT_DEFAULT_MAX_ATTEMPTS 3
#define P11KMS_VAULT_MAX_RESPONSE (64u * 1024u)
#define P11KMS_VAULT_NAME_MAX 128 /* a transit key name */
#define P11KMS_VAULT_PATH_MAX 256 /* a mount or namespace path */
#define P11KMS_VAULT_TOKEN_MAX 4096
#define P11KMS_VAULT_DEFAULT_JWT_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"

/* Backend configuration fields, NULL-terminated (the backend's options list). */
extern const char *const p11kms_vault_option_names[];

/* What Vault binds the canonical context encoding as (vault.md). */
enum p11kms_vault_context_mode {
    P11KMS_VAULT_CONTEXT_DERIVED = 0, /* "context": a derived key's HKDF input */
    P11KMS_VAULT_CONTEXT_AD = 1,      /* "associated_data": AEAD AAD (Vault 1.13 and later) */
};

/* Where a token comes from once VAULT_TOKEN and the token file are not set. */
enum p11kms_vault_auth_method {
    P11KMS_VAULT_AUTH_TOKEN = 0, /* no login: VAULT_TOKEN or the token file only */
    P11KMS_VAULT_AUTH_APPROLE,
    P11KMS_VAULT_AUTH_KUBERNETES,
    P11KMS_VAULT_AUTH_CERT,
};

/* A key's settings, read without the network (for the client and for doctor). */
typedef struct p11kms_vault_settings {
    p11kms_net_settings net; /* address, CA, TLS, timeouts, attempts */
    const char *addr_from;   /* "endpoint" or "VAULT_ADDR" */
    char *mount;             /* "transit" */
    char *ns;                /* namespace without a trailing '/', NULL for the root */
    const char *ns_from;     /* "namespace" or "VAULT_NAMESPACE" */
    int context_mode;
    int auth_method;
    char *auth_mount;    /* "approle", "kubernetes", "cert" unless configured */
    char *role_id;       /* AppRole */
    char *secret_id;     /* AppRole, literal (secret), or NULL */
    char *secret_id_env; /* AppRole: "env:NAME" gives NAME */
    char *secret_id_file;
    char *role;       /* Kubernetes */
    char *jwt_file;   /* Kubernetes service-account token file */
    char *cert_role;  /* cert login "name", or NULL */
    char *token_file; /* the configured token file, NULL for ~/.vault-token */
} p11kms_vault_settings;

/* Read and check (logged with kc->origin): CKR_ARGUMENTS_BAD, CKR_HOST_MEMORY. Refuses
 * VAULT_SKIP_VERIFY (TLS is always verified). */
CK_RV p11kms_vault_settings_read(const p11kms_key_config *kc, p11kms_vault_settings *out);
void p11kms_vault_settings_free(p11kms_vault_settings *s);
/* A transit key name as Vault's routes take it; a mount or namespace path (segments of
 * letters, digits, '_', '-', '.', not "." or "..", joined by '/'). 1 when well-formed. */
int p11kms_vault_name_ok(const char *s);
int p11kms_vault_path_ok(const char *s);
/* Rules between a key's fields (check_key): key name, mount, namespace, context mode, the
 * login method and the fields it needs. CKR_OK or CKR_ARGUMENTS_BAD with the reason in err. */
CK_RV p11kms_vault_check_key(p11kms_key_config *kc, char *err, size_t err_len);
/* The Vault transit key type ("ecdsa-p256", "rsa-3072", ...) of a configured asymmetric type
 * (keytype.h), NULL for one transit has no key of (vault-asym.c). */
const char *p11kms_vault_asym_type(int key_type);

/* ---- tokens (vault-auth.c, vault-login.c) ---- */

typedef p11kms_tokshare p11kms_vault_auth;

/* Static text of where a token came from (p11kms_cred.source). */
extern const char p11kms_vault_src_env[];   /* "VAULT_TOKEN" */
extern const char p11kms_vault_src_file[];  /* "the token file" */
extern const char p11kms_vault_src_login[]; /* "login" */

/* The token source of keys that authenticate alike (address, namespace, TLS, method and its
 * fields): shared and reference counted, so keys of one Vault log in once. No I/O here. */
CK_RV p11kms_vault_auth_get(const p11kms_vault_settings *s, p11kms_http_transport *http,
                            p11kms_vault_auth **out);
void p11kms_vault_auth_put(p11kms_vault_auth *a);
/* The current token (a copy the caller clears) in Vault's clients' order: VAULT_TOKEN, the
 * token file, then the configured login; login tokens renewed (renew-self) from two thirds
 * of their lease and obtained afresh when renewal stops extending them. CKR_DEVICE_ERROR
 * (logged) when there is none. */
CK_RV p11kms_vault_auth_token(p11kms_vault_auth *a, uint64_t deadline_ms, p11kms_cred *out);
/* Drop the cached token (Vault rejected it): the next use reads or logs in again. */
void p11kms_vault_auth_invalidate(p11kms_vault_auth *a);
/* How many times the token chain ran (tests). */
unsigned long p11kms_vault_auth_fetches(p11kms_vault_auth *a);

/* How the token exchanges of vault-login.c reach Vault, on behalf of one call. */
typedef struct p11kms_vault_fetch {
    p11kms_http_transport *http;
    const p11kms_net_settings *net;
    const char *ns;
    uint64_t deadline_ms;
} p11kms_vault_fetch;

/* A secret file (token file, secret-id file, service-account JWT) without its trailing
 * whitespace; NULL (logged, naming what) when unreadable, empty, binary or over
 * P11KMS_VAULT_TOKEN_MAX bytes; *missing set when it does not exist. Wipe it when done. */
char *p11kms_vault_read_secret_file(const char *path, const char *what, int *missing);
/* Log in with the configured method; out gets the token and its lease (renewable,
 * refresh_at). CKR_DEVICE_ERROR (logged) when Vault refuses or cannot be reached. */
CK_RV p11kms_vault_login(const p11kms_vault_settings *s, const p11kms_vault_fetch *f,
                         p11kms_cred *out);
/* Renew a login token (auth/token/renew-self). *again is set when the lease did not grow
 * (its max TTL capped it, or Vault refused the renewal): log in again. CKR_DEVICE_ERROR
 * when Vault could not be asked. */
CK_RV p11kms_vault_renew(const p11kms_vault_fetch *f, const p11kms_cred *current, p11kms_cred *out,
                         int *again);

/* ---- the client ---- */

typedef struct p11kms_vault_client {
    p11kms_net_client net;    /* address, TLS, timeouts, attempts, transport, quota, hooks */
    p11kms_vault_settings st; /* the rest of the settings (st.net moved into net.settings) */
    p11kms_vault_auth *auth;
    char *origin; /* the key's configuration origin, for log lines */
} p11kms_vault_client;

/* Build from the key configuration and the environment (p11kms_vault_settings_read). No
 * network. */
CK_RV p11kms_vault_client_new(const p11kms_key_config *kc, p11kms_vault_client **out);
void p11kms_vault_client_free(p11kms_vault_client *c);
uint64_t p11kms_vault_client_deadline(const p11kms_vault_client *c);

/* The hooks of Vault calls (vault-call.c): X-Vault-Token from the token source, Vault's error
 * bodies, the retry classes of Vault's Go client, the Vault CK_RV mapping. */
extern const p11kms_net_hooks p11kms_vault_hooks;

/* Call METHOD v1/PATH (PATH relative to the namespace, e.g. "transit/encrypt/k") with the
 * token, X-Vault-Request and the namespace header; retried as Vault's Go client retries,
 * within the attempts, the quota and the deadline. CKR_OK with a 200 JSON answer in reply;
 * otherwise one log line ("vault: <op> <what> failed: ...") and the CK_RV backend.h asks for. */
CK_RV p11kms_vault_call(p11kms_vault_client *c, const char *op, const char *what,
                        const char *method, const char *path, const p11kms_sbuf *body,
                        uint64_t deadline_ms, p11kms_net_reply *reply);
/* GET sys/health without a token: the server's version, as text and its major and minor
 * numbers (unauthenticated, answered by standby and sealed servers too). CKR_OK, or
 * CKR_DEVICE_ERROR (logged). */
CK_RV p11kms_vault_server_version(p11kms_vault_client *c, uint64_t deadline_ms, char *version,
                                  size_t version_len, unsigned *major, unsigned *minor);
/* One request with the token and the namespace, outside the call loop: retried only on
 * connection failures and 5xx, a dead token replaced once, and no log line for an answered
 * refusal, which is an answer to the checks that use it (a key read that the policy denies, a
 * probe Vault is meant to refuse). CKR_OK when Vault answered: *status and code (as
 * p11kms_vault_error_parse gives it; "OK" for 200) say what, and a 200's JSON is in reply
 * (clear it; any other answer leaves reply empty). CKR_DEVICE_ERROR (logged) when Vault could not
 * be reached or there is no token. */
CK_RV p11kms_vault_ask(p11kms_vault_client *c, const char *method, const char *path,
                       const p11kms_sbuf *body, uint64_t deadline_ms, long *status, char *code,
                       size_t code_len, p11kms_net_reply *reply);

/* ---- answers (vault-wire.c): bounded, no state, fuzzable ---- */

/* Error codes the classify hook gives Vault's error answers (Vault has none of its own:
 * these name what the text says, for log lines and the mapping). */
#define P11KMS_VAULT_E_SEALED "sealed"
#define P11KMS_VAULT_E_INVALID_TOKEN "invalid token"
#define P11KMS_VAULT_E_DENIED "permission denied"
#define P11KMS_VAULT_E_TOO_OLD "ciphertext version below min_decryption_version"
#define P11KMS_VAULT_E_NOT_FOUND "key not found"
#define P11KMS_VAULT_E_NEEDS_CONTEXT "derived key needs context"
#define P11KMS_VAULT_E_BAD_CIPHERTEXT "ciphertext refused"
#define P11KMS_VAULT_E_NO_ROUTE "no such mount"
#define P11KMS_VAULT_E_RATE "rate limited"
#define P11KMS_VAULT_E_CONSISTENCY "index state not present"
#define P11KMS_VAULT_E_NOT_INITIALIZED "not initialized"

/* {"errors": [...]} of an answer with `status`: code (one of the above, else "HTTP <status>")
 * and message (the errors, whitespace collapsed, joined by "; ", printable ASCII). */
void p11kms_vault_error_parse(const char *body, size_t len, long status, char *code,
                              size_t code_len, char *message, size_t message_len);
/* The retry class of Vault's Go client: connection failures, 412, 429 and 5xx except 501. */
int p11kms_vault_retry_kind(int http_result, long status);
/* The CK_RV of a final Vault error (backend.h's contract). */
CK_RV p11kms_vault_error_rv(const char *code, long status);

/* The version of a Vault ciphertext "vault:v<N>:<base64>" (printable, at most
 * P11KMS_BLOB_CT_MAX bytes). 0 ok, -1 not one. */
int p11kms_vault_ct_version(const uint8_t *ct, size_t len, uint32_t *version);
/* The ciphertext of an encrypt or rewrap answer (data.ciphertext, malloc'd) and its version:
 * data.key_version when present (it must agree with the prefix), else the prefix's. 0 ok;
 * -1 with *why set when the answer has none that is usable. */
int p11kms_vault_answer_ciphertext(const p11kms_json *root, uint8_t **ct, size_t *ct_len,
                                   uint32_t *version, const char **why);
/* data.signature of a sign answer, "vault:v<N>:<base64>" (asn1 marshaling: standard base64),
 * decoded (1..max bytes, malloc'd) with its version N; data.key_version, when present, must
 * agree. 0 ok; -1 with *why set. */
int p11kms_vault_answer_signature(const p11kms_json *root, size_t max, uint8_t **sig,
                                  size_t *sig_len, uint32_t *version, const char **why);
/* data.plaintext of a decrypt answer, decoded (1..max bytes, the caller wipes it). 0 or -1. */
int p11kms_vault_answer_plaintext(const p11kms_json *root, size_t max, uint8_t **pt,
                                  size_t *pt_len);
/* request_id of a 200 answer (printable, truncated to buf_len - 1), "" when absent. */
void p11kms_vault_answer_request_id(const p11kms_json *root, char *buf, size_t buf_len);
/* 1 when a warning of the answer says that Vault ignored the request parameter `param`
 * ("Endpoint ignored these unrecognized parameters: [...]"), as Vault before 1.13 does with
 * associated_data. */
int p11kms_vault_answer_ignored(const p11kms_json *root, const char *param);
/* The "auth" block of a login or renew-self answer: out gets the client token, expires
 * (0 when the lease is 0: no expiry), renewable and refresh_at (two thirds into the lease),
 * with source; *lease its lease in seconds; *capped is set when a warning says the max TTL
 * capped the lease. CKR_OK, CKR_HOST_MEMORY, or CKR_DEVICE_ERROR for an unusable answer. */
CK_RV p11kms_vault_auth_parse(const char *body, size_t len, const char *source, time_t now,
                              p11kms_cred *out, uint64_t *lease, int *capped);
/* "version" of a sys/health answer, copied (printable), with its major and minor number
 * ("1.17.6+ent": 1, 17). 0 ok, -1 absent or not a version. */
int p11kms_vault_health_version(const char *body, size_t len, char *version, size_t version_len,
                                unsigned *major, unsigned *minor);

/* ---- self-description (vault-describe.c) ---- */

extern const char p11kms_vault_quick_forms[];
int p11kms_vault_quick(const char *value, p11kms_quick_key *out);
void p11kms_vault_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx);

#endif
