/* http-curl-url.c - the URL policy of the libcurl transport on the URL curl parses (the plain
 * http host rule itself: http.c), and the route of a request given a TLS server name. No
 * state; see http-curl-url.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "http-curl-url.h"
#include "http.h"

/* Enforce the scheme/host policy on the URL curl will actually use (its own parser). Sets
 * *plain when the URL is http, and *pin when its host is a name under .localhost (connected to
 * 127.0.0.1, never resolved). */
int p11kms_curl_url_allowed(const char *url, int policy, int *plain, int *pin, char *err,
                            size_t err_len)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;

    *plain = 0;
    *pin = 0;
    if (u == NULL)
        return 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(err, err_len, "malformed URL");
        goto out;
    }
    if (strcasecmp(scheme, "https") == 0) {
        ok = 1;
    } else if (strcasecmp(scheme, "http") == 0) {
        *plain = 1;
        ok = p11kms_http_plain_host_allowed(host, policy);
        *pin = strlen(host) > 10 && strcasecmp(host + strlen(host) - 10, ".localhost") == 0;
        if (!ok)
            snprintf(err, err_len, "plain http to %s refused (https required)", host);
    } else {
        snprintf(err, err_len, "scheme %s refused", scheme);
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* A request with a server name (http.h): curl is given the URL with the server name as its
 * host, so that SNI and certificate verification use it, and a CONNECT_TO entry that sends the
 * connection to the URL's own host and port; the Host header keeps naming the URL's host.
 * 0 ok (all three malloc'd), -1 with err set. */
int p11kms_curl_server_name_route(const char *url, const char *name, char **route_url,
                                  char **connect_to, char **host_line, char *err, size_t err_len)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *given_port = NULL, *out = NULL;
    size_t n;
    int rc = -1;

    *route_url = *connect_to = *host_line = NULL;
    if (u == NULL || name[0] == 0 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(name)) {
        snprintf(err, err_len, "TLS server name refused");
        goto out;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        snprintf(err, err_len, "malformed URL");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &given_port, 0) != CURLUE_OK)
        given_port = NULL;
    if (curl_url_set(u, CURLUPART_HOST, name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
        snprintf(err, err_len, "TLS server name refused");
        goto out;
    }
    n = strlen(name) + 2 * strlen(port) + strlen(host) + 4;
    *connect_to = malloc(n);
    *route_url = strdup(out);
    *host_line = malloc(strlen(host) + 16);
    if (*connect_to == NULL || *route_url == NULL || *host_line == NULL) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    snprintf(*connect_to, n, "%s:%s:%s:%s", name, port, host, port);
    snprintf(*host_line, strlen(host) + 16, "Host: %s%s%s", host, given_port ? ":" : "",
             given_port ? given_port : "");
    rc = 0;
out:
    if (rc != 0) {
        free(*route_url);
        free(*connect_to);
        free(*host_line);
        *route_url = *connect_to = *host_line = NULL;
    }
    curl_free(out);
    curl_free(host);
    curl_free(port);
    curl_free(given_port);
    if (u != NULL)
        curl_url_cleanup(u);
    return rc;
}
