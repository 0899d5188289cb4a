/* call.h - one remote operation with what every backend needs around the HTTP exchange: an
 * authorization hook per attempt (sign it, or add a cached token), retries by class within the
 * attempts, the retry quota and the call's deadline, one refetch of rejected credentials, a
 * JSON answer, and one log line per failure with the remote error code and request id. */
#ifndef P11KMS_NET_CALL_H
#define P11KMS_NET_CALL_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "http.h"
#include "json.h"
#include "kms-report.h"
#include "retry.h"
#include "sbuf.h"
#include "settings.h"

#define P11KMS_NET_CODE_MAX 96
#define P11KMS_NET_MESSAGE_MAX 256
#define P11KMS_NET_REQUEST_ID_MAX 128
#define P11KMS_NET_REQUEST_HEADERS_MAX 16 /* a request's own headers */
#define P11KMS_NET_AUTH_HEADERS_MAX 4     /* headers an authorization hook adds */

/* One remote operation, as the backend describes it. */
typedef struct p11kms_net_request {
    const char *op;   /* for log lines and hooks: "Encrypt", "transit/encrypt" */
    const char *what; /* what it acts on, for log lines: the key reference */
    const char *method;
    const char *url;
    const p11kms_http_header *headers; /* sent as given, before the authorization ones */
    size_t n_headers;                  /* at most P11KMS_NET_REQUEST_HEADERS_MAX */
    const p11kms_sbuf *body;           /* NULL: none; a failed buffer is CKR_HOST_MEMORY */
    const uint8_t *data;               /* without body: bytes sent as they are (not copied) */
    size_t data_len;
    size_t max_response; /* body bytes accepted */
    /* 0: the answer is a 200 with a JSON object. 1: any 2xx, its body kept as it came (XML,
     * bytes, nothing) for the caller to read. */
    int raw;
} p11kms_net_request;

/* What one exchange came to: for the retry decision, the CK_RV and the log line. */
typedef struct p11kms_net_outcome {
    int hr;      /* http.h result */
    long status; /* HTTP status when hr is P11KMS_HTTP_OK */
    int retry;   /* enum p11kms_net_retry_kind */
    int auth;    /* the service rejected the credentials (they are dropped and fetched again) */
    /* Optional, for an answer classify marks P11KMS_NET_NO_RETRY: P11KMS_FAULT_UNAVAILABLE
     * when the service says it cannot serve now (sealed, key material unreachable) although a
     * retry here is pointless; left NONE it is a definitive refusal (kms-report.h). Retryable
     * answers that exhaust the retries are availability faults without it. */
    int fault;
    char code[P11KMS_NET_CODE_MAX];       /* the service's error code, printable */
    char message[P11KMS_NET_MESSAGE_MAX]; /* its message, printable; may be empty */
    char request_id[P11KMS_NET_REQUEST_ID_MAX];
} p11kms_net_outcome;

/* What an authorization hook adds to one attempt. */
typedef struct p11kms_net_auth {
    p11kms_http_header headers[P11KMS_NET_AUTH_HEADERS_MAX];
    size_t n;
    int refreshable; /* if the service rejects them, fresh credentials may differ (temporary
                      * keys, tokens): the call drops them and tries once more at once */
    void *state;     /* the hook's (a signature, a copied token), released by auth_clear */
} p11kms_net_auth;

/* Authorize one attempt of req: add headers to auth (a signature over the request and its
 * headers, a bearer token). May get credentials from a p11kms_tokcache within deadline_ms.
 * Logs its own failures; CKR_OK or the CK_RV the call ends with. */
typedef CK_RV p11kms_net_authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                                   p11kms_net_auth *auth);

/* The hooks a backend gives its client; ctx is the backend's. */
typedef struct p11kms_net_hooks {
    const char *name;                /* log line prefix: "aws" */
    const char *request_id_header;   /* response header naming the request; NULL: none */
    p11kms_net_authorize *authorize; /* optional (see above) */
    /* Release what authorize kept in auth (wipe secrets). Required with authorize. */
    void (*auth_clear)(void *ctx, p11kms_net_auth *auth);
    /* Optional. Drop the credentials the service rejected (outcome.auth set by classify). */
    void (*invalidate)(void *ctx);
    /* Read an answer other than 200. o arrives with hr, status, request_id (from the header)
     * and code "HTTP <status>"; the hook sets code and message (printable ASCII: they go into
     * log lines), retry, auth, and request_id if the body carries it. */
    void (*classify)(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o);
    /* The CK_RV of an answered failure that is final (backend.h's contract). */
    CK_RV (*map)(void *ctx, const p11kms_net_outcome *o);
    /* Optional, raw requests: whether a 2xx answer is an error in disguise (a service that
     * reports some failures in a 200 body). Such an answer goes to classify like any other. */
    int (*answer_error)(void *ctx, const p11kms_net_request *req, const p11kms_http_response *resp);
} p11kms_net_hooks;

/* A client of one remote service for one key: its settings, the shared transport, the retry
 * quota (its mutex protects it; everything else is read-only after setup), the hooks. */
typedef struct p11kms_net_client {
    p11kms_net_settings settings;
    p11kms_http_transport *http;
    p11kms_net_quota quota;
    const p11kms_net_backoff *backoff;
    const p11kms_net_hooks *hooks;
    void *ctx;
} p11kms_net_client;

/* Set up c (settings and hooks are the caller's to fill before or after): acquires the shared
 * transport (no network). CKR_HOST_MEMORY. */
CK_RV p11kms_net_client_init(p11kms_net_client *c, const p11kms_net_hooks *hooks, void *ctx);
/* Release the transport and the quota, and free the settings. */
void p11kms_net_client_release(p11kms_net_client *c);

/* How a call ended, for callers that report failures in their own words (the tool). */
enum p11kms_net_end {
    P11KMS_NET_END_OK = 0,
    P11KMS_NET_END_ANSWER,    /* the service answered with an error: outcome */
    P11KMS_NET_END_TRANSPORT, /* no answer (outcome.hr), retries exhausted or not retryable */
    P11KMS_NET_END_AUTHORIZE, /* the authorize hook failed (no usable credentials, memory) */
    P11KMS_NET_END_DEADLINE,  /* the call's deadline came first; outcome: the last attempt */
    P11KMS_NET_END_QUOTA,     /* the retry quota was exhausted; outcome: the last attempt */
    P11KMS_NET_END_LOCAL,     /* memory, or a 200 whose JSON is malformed */
};

/* The answer: a 200 with a JSON object body, parsed in place (raw requests: any 2xx, body not
 * parsed). After a failure only end, outcome and attempts are set. */
typedef struct p11kms_net_reply {
    p11kms_http_response resp; /* the body may hold a plaintext: cleared with a wipe */
    p11kms_json root;
    char request_id[P11KMS_NET_REQUEST_ID_MAX];
    int end;                    /* enum p11kms_net_end */
    p11kms_net_outcome outcome; /* of the last exchange (hr, status, code, message, id) */
    int attempts;
} p11kms_net_reply;

/* Perform req: authorize each attempt, send, classify, retry what is retryable within the
 * attempts, the quota and deadline_ms; a rejection of refreshable credentials drops them and
 * tries once more at once. CKR_OK with the 200 answer in reply; otherwise one log line
 * ("<name>: <op> <what> failed: <code> (HTTP <status>, request id <id>): <message>") and the
 * CK_RV the map hook gives (transport failures and exhausted retries: CKR_DEVICE_ERROR).
 * Every outcome is also reported to this thread's kms-report.h record (fault class, status,
 * request id), and deadline_ms is clamped to the core's call deadline there: a backend using
 * this loop fulfils the failover contract without code of its own. */
CK_RV p11kms_net_call(p11kms_net_client *c, const p11kms_net_request *req, uint64_t deadline_ms,
                      p11kms_net_reply *reply);
void p11kms_net_reply_clear(p11kms_net_reply *r);

/* A plain exchange for credential and token endpoints (no authorization hook, no JSON, no
 * quota): retried on connection failures, timeouts, 429 and 500/502/503/504 (standard backoff)
 * up to attempts, each try within timeout_ms and all within deadline_ms. Returns the http.h
 * result; the last response (maybe an error status) is left in resp for the caller to judge.
 * log_name prefixes the line logged before each retry. */
int p11kms_net_fetch(p11kms_http_transport *http, const p11kms_http_request *req,
                     const char *log_name, unsigned long connect_timeout_ms,
                     unsigned long timeout_ms, int attempts, uint64_t deadline_ms,
                     p11kms_http_response *resp);

#endif
