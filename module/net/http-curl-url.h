/* http-curl-url.h - the URLs the libcurl transport (http-curl.c) sends requests to, read with
 * curl's own URL parser so the policy holds for exactly what curl will connect to. Private to
 * module/net/; no state. */
#ifndef P11KMS_HTTP_CURL_URL_H
#define P11KMS_HTTP_CURL_URL_H

#include <stddef.h>

/* Enforce the scheme/host policy on the URL curl will actually use (its own parser). Sets
 * *plain when the URL is http, and *pin when its host is a name under .localhost (connected to
 * 127.0.0.1, never resolved). */
int p11kms_curl_url_allowed(const char *url, int policy, int *plain, int *pin, char *err,
                            size_t err_len);

/* A request with a server name (http.h): curl is given the URL with the server name as its
 * host, so that SNI and certificate verification use it, and a CONNECT_TO entry that sends the
 * connection to the URL's own host and port; the Host header keeps naming the URL's host.
 * 0 ok (all three malloc'd), -1 with err set. */
int p11kms_curl_server_name_route(const char *url, const char *name, char **route_url,
                                  char **connect_to, char **host_line, char *err, size_t err_len);

#endif
