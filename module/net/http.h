/* http.h - the small HTTP request/response interface the KMS backends talk through, with a
 * swappable transport: libcurl in http-curl.c (the only file that includes curl), fakes in tests.
 */
#ifndef P11KMS_HTTP_H
#define P11KMS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "secmem.h"

/* Response headers kept per exchange (bytes); more is an error, never truncation. */
#define P11KMS_HTTP_HEADERS_MAX 16384u

typedef struct p11kms_http_header {
    const char *name;
    const char *value; /* no CR or LF; the transport refuses a request that has one */
} p11kms_http_header;

/* Which plain-http destinations a request may use. https always verifies the peer. */
enum p11kms_http_policy {
    /* https anywhere; plain http only to loopback (127.0.0.0/8, ::1, localhost) */
    P11KMS_HTTP_POLICY_DEFAULT = 0,
    /* also plain http to the link-local cloud metadata and container credential addresses
     * (169.254.169.254, 169.254.170.2, 169.254.170.23, fd00:ec2::254, fd00:ec2::23) */
    P11KMS_HTTP_POLICY_METADATA = 1,
};

typedef struct p11kms_http_request {
    const char *method; /* "GET", "HEAD", "POST", "PUT", "DELETE" (HEAD reads no body) */
    const char *url;
    const p11kms_http_header *headers; /* sent exactly as given (a Host header replaces curl's) */
    size_t n_headers;
    const uint8_t *body; /* may be NULL with body_len 0 */
    size_t body_len;
    const char *ca_file;     /* CA bundle for https; NULL: the system default */
    const char *ca_path;     /* directory of hashed CA certificates (c_rehash), or NULL */
    const char *client_cert; /* PEM certificate https presents (mutual TLS), or NULL */
    const char *client_key;  /* its PEM private key (NULL: in client_cert's file) */
    /* The name the server's certificate must carry, sent as SNI, instead of the URL's host;
     * the connection still goes to the URL's host and port, whose Host header is sent. https
     * only (plain http with a server name is P11KMS_HTTP_E_REFUSED). NULL: the URL's host. */
    const char *server_name;
    unsigned long connect_timeout_ms; /* > 0 */
    unsigned long timeout_ms;         /* the whole exchange; > 0 */
    size_t max_response;              /* body bytes accepted; more is P11KMS_HTTP_E_TOO_LARGE */
    int policy;                       /* enum p11kms_http_policy */
} p11kms_http_request;

typedef struct p11kms_http_response {
    long status;     /* HTTP status when the result is P11KMS_HTTP_OK */
    p11kms_buf body; /* may hold secrets: p11kms_http_response_clear wipes it */
    char *headers;   /* raw header lines of the final response, NUL-terminated; may be NULL */
    size_t headers_len;
    char error[160]; /* transport failure text for log lines (never request data) */
} p11kms_http_response;

/* Transport results. Only P11KMS_HTTP_OK carries a response; the others say why not. */
enum p11kms_http_result {
    P11KMS_HTTP_OK = 0,
    P11KMS_HTTP_E_CONNECT,   /* resolve/connect failed, connection dropped: retryable */
    P11KMS_HTTP_E_TIMEOUT,   /* connect or request timeout: retryable */
    P11KMS_HTTP_E_TLS,       /* peer verification or TLS setup failed: not retryable */
    P11KMS_HTTP_E_TOO_LARGE, /* response body or headers over the bounds (ours or libcurl's) */
    P11KMS_HTTP_E_REFUSED,   /* URL malformed or not allowed by the policy, bad header */
    P11KMS_HTTP_E_NOMEM,
    P11KMS_HTTP_E_OTHER,
};

typedef struct p11kms_http_transport p11kms_http_transport;
struct p11kms_http_transport {
    /* Perform one exchange; thread-safe. Returns an enum p11kms_http_result. resp must be
     * zeroed by the caller and is cleared by it with p11kms_http_response_clear. */
    int (*perform)(p11kms_http_transport *t, const p11kms_http_request *req,
                   p11kms_http_response *resp);
    /* Release the transport (NULL for transports their creator owns). */
    void (*destroy)(p11kms_http_transport *t);
};

/* The process-wide transport backends share (one connection pool for all keys). Created on
 * first acquire (no network), destroyed on the last release. An override, if set, is
 * returned instead and never destroyed here. */
p11kms_http_transport *p11kms_http_acquire(void);
void p11kms_http_release(p11kms_http_transport *t);
/* Tests and fuzzers: make acquire return t (NULL restores libcurl). Set it before backends
 * are created; the caller keeps ownership. */
void p11kms_http_set_override(p11kms_http_transport *t);

/* A new libcurl transport: a pool of easy handles that keep their connections alive across
 * calls and threads, sharing DNS and TLS sessions. NULL on allocation failure. */
p11kms_http_transport *p11kms_http_curl_new(void);
/* Counters of a libcurl transport (for tests and the benchmark): exchanges performed and
 * connections opened. Zeros for other transports. */
void p11kms_http_curl_stats(p11kms_http_transport *t, unsigned long *requests,
                            unsigned long *connections);

/* Whether plain http to this host is allowed by the policy (host as in a URL, IPv6 in
 * brackets or not). */
int p11kms_http_plain_host_allowed(const char *host, int policy);

/* The value of a response header (case-insensitive name, value trimmed), copied into buf;
 * 1 when found, 0 when absent or longer than buf_len - 1. */
int p11kms_http_response_header(const p11kms_http_response *resp, const char *name, char *buf,
                                size_t buf_len);
/* Wipe and free the body, free the headers, reset. */
void p11kms_http_response_clear(p11kms_http_response *resp);
/* "connection failed" etc., for log lines. */
const char *p11kms_http_result_name(int result);
/* The CK_RV a transport result stands for, for every backend alike: CKR_HOST_MEMORY only when
 * this process ran out of memory; a remote fault (unreachable, TLS, an answer over the bounds)
 * is CKR_DEVICE_ERROR. */
CK_RV p11kms_http_result_rv(int result);

#endif
