/* settings.h - what every remote backend configures the same way: the endpoint and its CA
 * bundle, connect and request timeouts, attempts and the per-call deadline, read from a key's
 * options and checked once, when the key is configured. */
#ifndef P11KMS_NET_SETTINGS_H
#define P11KMS_NET_SETTINGS_H

#include <stdint.h>
#include "pkcs11/p11kms.h"

/* The configuration fields p11kms_net_settings_read reads: for a backend's options list. */
#define P11KMS_NET_OPTION_NAMES                                                                    \
    "endpoint", "ca_file", "connect_timeout_ms", "request_timeout_ms", "max_attempts", "deadline_ms"

/* The TLS fields p11kms_net_settings_read_tls reads, for a backend's options list. */
#define P11KMS_NET_TLS_OPTION_NAMES "ca_path", "client_cert", "client_key", "tls_server_name"

typedef struct p11kms_net_settings {
    char *url;     /* the endpoint, "scheme://host[:port]/" */
    char *host;    /* its Host header value (the scheme's default port left out) */
    char *ca_file; /* CA bundle for https; NULL: the system's */
    /* p11kms_net_settings_read_tls (NULL when not set): a CA directory, a client certificate
     * and key for mutual TLS, the name the server's certificate must carry (http.h) */
    char *ca_path;
    char *client_cert;
    char *client_key;
    char *tls_server_name;
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms; /* one exchange */
    unsigned long deadline_ms;        /* one PKCS#11 call, retries included */
    int max_attempts;
} p11kms_net_settings;

/* Option lookup: the value of a configuration field, or NULL (a backend passes its key's). */
typedef const char *(*p11kms_net_option)(const void *src, const char *name);

/* Set the defaults, then read connect_timeout_ms (1..600000), request_timeout_ms
 * (1..600000), deadline_ms (1..3600000), max_attempts (1..10) and ca_file (or, when absent,
 * the variable ca_env if set; it must be readable). CKR_ARGUMENTS_BAD with one log line naming
 * origin and the field, or CKR_HOST_MEMORY. */
CK_RV p11kms_net_settings_read(p11kms_net_settings *s, const char *origin, p11kms_net_option get,
                               const void *src, const char *ca_env,
                               unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                               unsigned long deadline_ms, int max_attempts);
/* Where p11kms_net_settings_read_tls looks when a field is not configured: a variable per
 * field (NULL: none), as the service's own clients read them (VAULT_CAPATH ...). */
typedef struct p11kms_net_tls_env {
    const char *ca_path;
    const char *client_cert;
    const char *client_key;
    const char *tls_server_name;
} p11kms_net_tls_env;

/* Read ca_path (a readable directory), client_cert and client_key (readable files; both or
 * neither) and tls_server_name (a DNS name), each from its option or else its variable. A
 * client certificate or a server name with a plain-http endpoint is refused, so call it after
 * p11kms_net_settings_endpoint. CKR_ARGUMENTS_BAD with one log line naming origin and the
 * field (or variable), or CKR_HOST_MEMORY. */
CK_RV p11kms_net_settings_read_tls(p11kms_net_settings *s, const char *origin,
                                   p11kms_net_option get, const void *src,
                                   const p11kms_net_tls_env *env);
/* The endpoint "https://host[:port][/]" (or "http://" to loopback only): no user info, path,
 * query or fragment; IPv6 hosts in brackets. Sets url and host. CKR_ARGUMENTS_BAD (logged
 * naming origin) or CKR_HOST_MEMORY. */
CK_RV p11kms_net_settings_endpoint(p11kms_net_settings *s, const char *origin,
                                   const char *endpoint);
void p11kms_net_settings_free(p11kms_net_settings *s);

/* The deadline (p11kms_net_now_ms() clock) of a call that starts now. */
uint64_t p11kms_net_deadline(const p11kms_net_settings *s);

#endif
