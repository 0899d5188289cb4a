/* http-curl.c - the libcurl transport behind http.h (the only file that includes curl): a pool
 * of easy handles that keep TLS connections alive across calls and threads, and the URL policy
 * on the URL curl parses (the host rule itself: http.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include "fork.h"
#include "http.h"
#include "log.h"

/*
 * Locking: pool_lock protects the idle handle stack (and the fork generation it belongs to);
 * each share_locks[i] protects one kind of data in the curl share (DNS cache, TLS sessions);
 * default_lock protects the process-wide transport and its references; live_lock the list of
 * live transports; orphan_lock the list of what forked children inherited. Order: default_lock,
 * live_lock, a transport's pool_lock, its share_locks, orphan_lock. The fork handler takes them
 * all in that order before fork(), so a child finds every one free and the pools consistent.
 *
 * Why a pool of easy handles and not CURL_LOCK_DATA_CONNECT: libcurl documents that sharing
 * one connection cache between concurrent threads is not safe. Each easy handle keeps its own
 * live connection instead; a thread takes the most recently returned handle, so consecutive
 * calls reuse its connection, and N concurrent threads hold about N connections. DNS results
 * and TLS sessions are shared (those locks are supported), so a new handle resumes TLS.
 */

#define POOL_MAX 32
#define BODY_INITIAL 4096

typedef struct curl_transport {
    p11kms_http_transport base;
    pthread_mutex_t pool_lock;
    CURL *idle[POOL_MAX];
    size_t n_idle;
    unsigned generation; /* p11kms_fork_generation() of the process the pool belongs to */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    atomic_ulong requests;
    atomic_ulong connections;
    struct curl_transport *next_live; /* live_lock */
} curl_transport;

/* What the write and header callbacks collect for one exchange. */
typedef struct exchange {
    CURL *h;
    p11kms_http_response *resp;
    size_t body_cap;
    size_t max_body;
    size_t headers_cap;
    int too_large;
    int too_large_headers; /* the headers, not the body */
    int nomem;
} exchange;

/* What a forked child inherited and must neither use nor clean up (cleanup would send TLS
 * close_notify on the parent's sockets). Kept reachable here, on purpose, for the child's life;
 * orphan_lock protects the list. */
typedef struct orphans {
    CURLSH *share;
    CURL *handles[POOL_MAX];
    size_t n;
    struct orphans *next;
} orphans;
static orphans *fork_orphans;
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static p11kms_http_transport *default_transport;  /* protected by default_lock */
static unsigned default_generation;               /* protected by default_lock */
static p11kms_http_transport *parent_transport;   /* protected by default_lock */
static unsigned long default_refs;                /* protected by default_lock */
static p11kms_http_transport *override_transport; /* protected by default_lock */

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static curl_transport *live; /* protected by live_lock */

static void http_fork_prepare(void)
{
    curl_transport *ct;
    size_t i;

    pthread_mutex_lock(&default_lock);
    pthread_mutex_lock(&live_lock);
    for (ct = live; ct != NULL; ct = ct->next_live) {
        pthread_mutex_lock(&ct->pool_lock);
        for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_lock(&ct->share_locks[i]);
    }
    pthread_mutex_lock(&orphan_lock);
}

/* The parent goes on; the child finds the pools as they were and replaces them on first use
 * (handle_get), leaving the parent's connections alone. */
static void http_fork_release(void)
{
    curl_transport *ct;
    size_t i;

    pthread_mutex_unlock(&orphan_lock);
    for (ct = live; ct != NULL; ct = ct->next_live) {
        for (i = CURL_LOCK_DATA_LAST; i > 0; i--)
            pthread_mutex_unlock(&ct->share_locks[i - 1]);
        pthread_mutex_unlock(&ct->pool_lock);
    }
    pthread_mutex_unlock(&live_lock);
    pthread_mutex_unlock(&default_lock);
}

static p11kms_fork_handler http_fork = {.rank = P11KMS_FORK_RANK_HTTP,
                                        .prepare = http_fork_prepare,
                                        .parent = http_fork_release,
                                        .child = http_fork_release};

__attribute__((constructor)) static void http_fork_register(void)
{
    p11kms_fork_register(&http_fork);
}

/* curl_global_init once per process, never curl_global_cleanup: the host application may use
 * curl itself, and cleanup would pull global state out from under it (and from under us). */
static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
    curl_transport *ct = userp;

    (void)h;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&ct->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
    curl_transport *ct = userp;

    (void)h;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&ct->share_locks[data]);
}

static CURLSH *share_new(curl_transport *ct)
{
    CURLSH *sh = curl_share_init();

    if (sh == NULL)
        return NULL;
    if (curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_USERDATA, ct) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        curl_share_cleanup(sh);
        return NULL;
    }
    return sh;
}

/* Keep the parent's handles and share of a transport reachable in fork_orphans. */
static void orphan_locked(curl_transport *ct)
{
    orphans *o = calloc(1, sizeof(*o));

    if (o == NULL)
        return;
    o->share = ct->share;
    memcpy(o->handles, ct->idle, ct->n_idle * sizeof(ct->idle[0]));
    o->n = ct->n_idle;
    pthread_mutex_lock(&orphan_lock);
    o->next = fork_orphans;
    fork_orphans = o;
    pthread_mutex_unlock(&orphan_lock);
}

/* Take an idle handle (the most recently used one: its connection is the warmest) or make a
 * new one. After fork() the child must not touch the parent's connections (a TLS stream
 * cannot be shared by two processes): the handles and share become fork_orphans. */
static CURL *handle_get(curl_transport *ct, CURLSH **share)
{
    CURL *h = NULL;
    unsigned generation = p11kms_fork_generation();

    pthread_mutex_lock(&ct->pool_lock);
    if (ct->generation != generation) {
        orphan_locked(ct);
        ct->n_idle = 0;
        ct->share = share_new(ct);
        ct->generation = generation;
    }
    if (ct->n_idle > 0)
        h = ct->idle[--ct->n_idle];
    *share = ct->share;
    pthread_mutex_unlock(&ct->pool_lock);
    if (h == NULL)
        h = curl_easy_init();
    return h;
}

static void handle_put(curl_transport *ct, CURL *h)
{
    pthread_mutex_lock(&ct->pool_lock);
    if (ct->generation == p11kms_fork_generation() && ct->n_idle < POOL_MAX) {
        ct->idle[ct->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&ct->pool_lock);
    if (h != NULL)
        curl_easy_cleanup(h);
}

/* Grow the body buffer without leaving copies of a secret in freed memory (no realloc): by
 * doubling, or to exactly need bytes. */
static int body_reserve(exchange *x, size_t need, int exact)
{
    p11kms_buf *b = &x->resp->body;
    size_t cap = x->body_cap ? x->body_cap : BODY_INITIAL;
    uint8_t *p;

    if (need <= x->body_cap)
        return 0;
    if (exact)
        cap = need;
    while (cap < need)
        cap *= 2;
    if (cap > x->max_body + 1)
        cap = x->max_body + 1;
    p = malloc(cap);
    if (p == NULL)
        return -1;
    if (b->len > 0)
        memcpy(p, b->data, b->len);
    p11kms_secure_free(b->data, x->body_cap);
    b->data = p;
    x->body_cap = cap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    p11kms_buf *b = &x->resp->body;
    size_t n = size * nmemb;
    curl_off_t cl = -1;

    if (n > x->max_body || b->len > x->max_body - n) {
        x->too_large = 1;
        return 0;
    }
    /* A large answer of announced length (an object range) gets its buffer at once instead of
     * growing through copies. */
    if (x->body_cap == 0 &&
        curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
        cl > BODY_INITIAL && (curl_off_t)x->max_body >= cl &&
        body_reserve(x, (size_t)cl + 1, 1) != 0) {
        x->nomem = 1;
        return 0;
    }
    if (body_reserve(x, b->len + n + 1, 0) != 0) {
        x->nomem = 1;
        return 0;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0; /* parsers get a terminated buffer for free */
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    exchange *x = userp;
    p11kms_http_response *r = x->resp;
    size_t n = size * nmemb;
    char *p;

    /* A new status line starts a new response (after 1xx): keep only the last one's headers. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        r->headers_len = 0;
    if (r->headers_len + n + 1 > P11KMS_HTTP_HEADERS_MAX) {
        x->too_large = 1;
        x->too_large_headers = 1;
        return 0;
    }
    if (r->headers_len + n + 1 > x->headers_cap) {
        size_t cap = x->headers_cap ? x->headers_cap * 2 : 1024;

        while (cap < r->headers_len + n + 1)
            cap *= 2;
        if (cap > P11KMS_HTTP_HEADERS_MAX)
            cap = P11KMS_HTTP_HEADERS_MAX;
        p = realloc(r->headers, cap);
        if (p == NULL) {
            x->nomem = 1;
            return 0;
        }
        r->headers = p;
        x->headers_cap = cap;
    }
    memcpy(r->headers + r->headers_len, data, n);
    r->headers_len += n;
    r->headers[r->headers_len] = 0;
    return n;
}

/* Enforce the scheme/host policy on the URL curl will actually use (its own parser). Sets
 * *plain when the URL is http, and *pin when its host is a name under .localhost (connected to
 * 127.0.0.1, never resolved). */
static int url_allowed(const char *url, int policy, int *plain, int *pin, char *err, size_t err_len)
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
static int server_name_route(const char *url, const char *name, char **route_url, char **connect_to,
                             char **host_line, char *err, size_t err_len)
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

static int header_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return 0;
    return 1;
}

/* Wipe header lines before freeing them: they carry Authorization and session tokens. */
static void slist_wipe_free(struct curl_slist *l)
{
    struct curl_slist *i;

    for (i = l; i != NULL; i = i->next)
        OPENSSL_cleanse(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

static int build_headers(const p11kms_http_request *req, const char *host_line,
                         struct curl_slist **out)
{
    struct curl_slist *l = NULL, *n;
    int has_ctype = 0, has_host = 0;
    size_t i, len;
    char *line;

    /* "Expect:" stops curl adding "Expect: 100-continue" (an extra round trip, and a header
     * the signature must not cover); "Accept:" drops a header nobody needs. */
    static const char *const fixed[] = {"Expect:", "Accept:", NULL};

    for (i = 0; fixed[i] != NULL; i++) {
        n = curl_slist_append(l, fixed[i]);
        if (n == NULL)
            goto fail;
        l = n;
    }
    for (i = 0; i < req->n_headers; i++) {
        const p11kms_http_header *h = &req->headers[i];

        if (!header_ok(h->name) || !header_ok(h->value) || h->name[0] == 0 ||
            strchr(h->name, ':') != NULL) {
            slist_wipe_free(l);
            return P11KMS_HTTP_E_REFUSED;
        }
        if (strcasecmp(h->name, "Content-Type") == 0)
            has_ctype = 1;
        if (strcasecmp(h->name, "Host") == 0)
            has_host = 1;
        len = strlen(h->name) + strlen(h->value) + 3;
        line = malloc(len);
        if (line == NULL)
            goto fail;
        /* "Name;" is curl's way to send a header with an empty value */
        if (h->value[0] == 0)
            snprintf(line, len, "%s;", h->name);
        else
            snprintf(line, len, "%s: %s", h->name, h->value);
        n = curl_slist_append(l, line);
        p11kms_secure_free(line, len);
        if (n == NULL)
            goto fail;
        l = n;
    }
    if (host_line != NULL && !has_host) {
        /* with a server name, curl would name it in Host: the address is what was asked */
        n = curl_slist_append(l, host_line);
        if (n == NULL)
            goto fail;
        l = n;
    }
    if (!has_ctype) {
        /* no form content type that nobody asked for (curl adds one to POST) */
        n = curl_slist_append(l, "Content-Type:");
        if (n == NULL)
            goto fail;
        l = n;
    }
    *out = l;
    return P11KMS_HTTP_OK;
fail:
    slist_wipe_free(l);
    return P11KMS_HTTP_E_NOMEM;
}

/* Whether the request went out: what curl fails on after that comes from the answer. */
static int request_sent(CURL *h)
{
    long sent = 0;

    return curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0;
}

static int map_curl_error(CURLcode cc, const exchange *x, CURL *h)
{
    if (x->too_large)
        return P11KMS_HTTP_E_TOO_LARGE;
    if (x->nomem)
        return P11KMS_HTTP_E_NOMEM;
    /* libcurl reports an answer header line over its own limit (CURL_MAX_HTTP_HEADER, 100 KiB
     * in 7.88) as CURLE_OUT_OF_MEMORY. Once the request is out, that is the server's doing,
     * not this process running out of memory (our own allocations set x->nomem). */
    if (cc == CURLE_OUT_OF_MEMORY && request_sent(h))
        return P11KMS_HTTP_E_TOO_LARGE;
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return P11KMS_HTTP_E_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return P11KMS_HTTP_E_CONNECT;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
        return P11KMS_HTTP_E_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return P11KMS_HTTP_E_REFUSED;
    case CURLE_OUT_OF_MEMORY:
        return P11KMS_HTTP_E_NOMEM;
    default:
        return P11KMS_HTTP_E_OTHER;
    }
}

#define SETOPT(h, opt, val)                                                                        \
    do {                                                                                           \
        if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK)                                       \
            goto setopt_failed;                                                                    \
    } while (0)

static int curl_perform(p11kms_http_transport *t, const p11kms_http_request *req,
                        p11kms_http_response *resp)
{
    curl_transport *ct = (curl_transport *)t;
    struct curl_slist *hdrs = NULL, *connect_to = NULL;
    char *sn_url = NULL, *sn_connect = NULL, *sn_host = NULL;
    CURLSH *share = NULL;
    CURL *h = NULL;
    CURLcode cc;
    exchange x;
    long status = 0, nconn = 0;
    int plain = 0, pin = 0;
    int rc = P11KMS_HTTP_E_OTHER;

    memset(&x, 0, sizeof(x));
    x.resp = resp;
    x.max_body = req->max_response;
    resp->status = 0;
    resp->error[0] = 0;

    if (global_rc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "libcurl initialisation failed");
        return P11KMS_HTTP_E_OTHER;
    }
    if (!url_allowed(req->url, req->policy, &plain, &pin, resp->error, sizeof(resp->error)))
        return P11KMS_HTTP_E_REFUSED;
    if (req->server_name != NULL) {
        if (plain) {
            snprintf(resp->error, sizeof(resp->error), "a TLS server name needs https");
            return P11KMS_HTTP_E_REFUSED;
        }
        if (server_name_route(req->url, req->server_name, &sn_url, &sn_connect, &sn_host,
                              resp->error, sizeof(resp->error)) != 0)
            return P11KMS_HTTP_E_REFUSED;
        connect_to = curl_slist_append(NULL, sn_connect);
        if (connect_to == NULL) {
            rc = P11KMS_HTTP_E_NOMEM;
            goto out;
        }
    }
    rc = build_headers(req, sn_host, &hdrs);
    if (rc != P11KMS_HTTP_OK) {
        snprintf(resp->error, sizeof(resp->error), "request header refused");
        goto out;
    }
    h = handle_get(ct, &share);
    if (h == NULL || share == NULL) {
        rc = P11KMS_HTTP_E_NOMEM;
        goto out;
    }
    x.h = h;
    /* Reset keeps the handle's live connections, DNS and TLS session caches. */
    curl_easy_reset(h);
    SETOPT(h, CURLOPT_SHARE, share);
    SETOPT(h, CURLOPT_URL, sn_url != NULL ? sn_url : req->url);
    if (connect_to != NULL)
        SETOPT(h, CURLOPT_CONNECT_TO, connect_to);
#if LIBCURL_VERSION_NUM >= 0x075500
    SETOPT(h, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
#else
    SETOPT(h, CURLOPT_PROTOCOLS, plain ? CURLPROTO_HTTP : CURLPROTO_HTTPS);
#endif
    SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(h, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->ca_file != NULL)
        SETOPT(h, CURLOPT_CAINFO, req->ca_file);
    if (req->ca_path != NULL)
        SETOPT(h, CURLOPT_CAPATH, req->ca_path);
    if (req->client_cert != NULL) {
        SETOPT(h, CURLOPT_SSLCERT, req->client_cert);
        SETOPT(h, CURLOPT_SSLCERTTYPE, "PEM");
        SETOPT(h, CURLOPT_SSLKEY, req->client_key != NULL ? req->client_key : req->client_cert);
        SETOPT(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    /* HTTP/1.1 as the cloud SDKs speak it: a signed Host header is sent as is. */
    SETOPT(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    SETOPT(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(h, CURLOPT_USERAGENT, "p11kms/" PACKAGE_VERSION);
    /* Loopback and metadata endpoints never go through a proxy (the SDKs do the same). */
    if (plain)
        SETOPT(h, CURLOPT_PROXY, "");
    if (pin) {
        /* plain http only: a server name (the other user of connect_to) needs https */
        connect_to = curl_slist_append(NULL, "::127.0.0.1:");
        if (connect_to == NULL) {
            rc = P11KMS_HTTP_E_NOMEM;
            goto out;
        }
        SETOPT(h, CURLOPT_CONNECT_TO, connect_to);
    }
    SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
    SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, CURLOPT_WRITEDATA, &x);
    SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, CURLOPT_HEADERDATA, &x);
    if (strcmp(req->method, "GET") == 0) {
        SETOPT(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        SETOPT(h, CURLOPT_NOBODY, 1L);
    } else {
        /* POST semantics carry the body for PUT too; the custom verb renames the request */
        SETOPT(h, CURLOPT_POST, 1L);
        SETOPT(h, CURLOPT_POSTFIELDS, req->body != NULL ? (const char *)req->body : "");
        SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(req->method, "POST") != 0)
            SETOPT(h, CURLOPT_CUSTOMREQUEST, req->method);
    }

    cc = curl_easy_perform(h);
    atomic_fetch_add(&ct->requests, 1);
    if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn) == CURLE_OK && nconn > 0)
        atomic_fetch_add(&ct->connections, (unsigned long)nconn);
    if (cc != CURLE_OK) {
        rc = map_curl_error(cc, &x, h);
        snprintf(resp->error, sizeof(resp->error), "%s",
                 rc != P11KMS_HTTP_E_TOO_LARGE ? curl_easy_strerror(cc)
                 : x.too_large_headers         ? "response headers too large"
                                               : "response too large");
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    rc = P11KMS_HTTP_OK;
    goto out;

setopt_failed:
    snprintf(resp->error, sizeof(resp->error), "libcurl option refused");
    rc = P11KMS_HTTP_E_OTHER;
out:
    if (h != NULL) {
        /* Drop our pointers (header list, body, callbacks) before the handle goes idle. */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
        handle_put(ct, h);
    }
    slist_wipe_free(hdrs);
    curl_slist_free_all(connect_to);
    free(sn_url);
    free(sn_connect);
    free(sn_host);
    if (rc != P11KMS_HTTP_OK) {
        /* A failed exchange returns no partial body. */
        p11kms_secure_free(resp->body.data, x.body_cap);
        resp->body.data = NULL;
        resp->body.len = 0;
    } else if (resp->body.data == NULL) {
        /* An empty body is still a terminated buffer for the parsers. */
        if (p11kms_buf_set(&resp->body, "", 1) != 0) {
            rc = P11KMS_HTTP_E_NOMEM;
        } else {
            resp->body.len = 0;
        }
    }
    return rc;
}

static void live_add(curl_transport *ct)
{
    pthread_mutex_lock(&live_lock);
    ct->next_live = live;
    live = ct;
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(curl_transport *ct)
{
    curl_transport **p;

    pthread_mutex_lock(&live_lock);
    for (p = &live; *p != NULL; p = &(*p)->next_live) {
        if (*p == ct) {
            *p = ct->next_live;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

static void curl_destroy(p11kms_http_transport *t)
{
    curl_transport *ct = (curl_transport *)t;
    size_t i;

    if (ct == NULL)
        return;
    live_remove(ct);
    if (ct->generation == p11kms_fork_generation()) {
        for (i = 0; i < ct->n_idle; i++)
            curl_easy_cleanup(ct->idle[i]);
        if (ct->share != NULL)
            curl_share_cleanup(ct->share);
    } else {
        orphan_locked(ct);
    }
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&ct->share_locks[i]);
    pthread_mutex_destroy(&ct->pool_lock);
    free(ct);
}

p11kms_http_transport *p11kms_http_curl_new(void)
{
    curl_transport *ct;
    size_t i;

    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        LOG_E("libcurl initialisation failed: %s", curl_easy_strerror(global_rc));
        return NULL;
    }
    ct = calloc(1, sizeof(*ct));
    if (ct == NULL)
        return NULL;
    ct->base.perform = curl_perform;
    ct->base.destroy = curl_destroy;
    pthread_mutex_init(&ct->pool_lock, NULL);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&ct->share_locks[i], NULL);
    atomic_init(&ct->requests, 0);
    atomic_init(&ct->connections, 0);
    ct->generation = p11kms_fork_generation();
    live_add(ct);
    ct->share = share_new(ct);
    if (ct->share == NULL) {
        curl_destroy(&ct->base);
        return NULL;
    }
    return &ct->base;
}

void p11kms_http_curl_stats(p11kms_http_transport *t, unsigned long *requests,
                            unsigned long *connections)
{
    *requests = 0;
    *connections = 0;
    if (t == NULL || t->perform != curl_perform)
        return;
    *requests = atomic_load(&((curl_transport *)t)->requests);
    *connections = atomic_load(&((curl_transport *)t)->connections);
}

p11kms_http_transport *p11kms_http_acquire(void)
{
    p11kms_http_transport *t;

    /* libcurl's global initialisation first, outside default_lock (fork.h). */
    pthread_once(&global_once, global_init);
    pthread_mutex_lock(&default_lock);
    if (override_transport != NULL) {
        t = override_transport;
    } else {
        /* A forked child starts its own (the parent's locks may be held for good); the
         * parent's stays reachable, unused, like the rest of the state the child inherited. */
        if (default_transport != NULL && default_generation != p11kms_fork_generation()) {
            parent_transport = default_transport;
            default_transport = NULL;
            default_refs = 0;
        }
        if (default_transport == NULL) {
            default_transport = p11kms_http_curl_new();
            default_generation = p11kms_fork_generation();
        }
        t = default_transport;
        if (t != NULL)
            default_refs++;
    }
    pthread_mutex_unlock(&default_lock);
    return t;
}

void p11kms_http_release(p11kms_http_transport *t)
{
    p11kms_http_transport *gone = NULL;

    if (t == NULL)
        return;
    pthread_mutex_lock(&default_lock);
    if (t == default_transport && default_refs > 0 && --default_refs == 0) {
        gone = default_transport;
        default_transport = NULL;
    }
    pthread_mutex_unlock(&default_lock);
    if (gone != NULL)
        gone->destroy(gone);
}

void p11kms_http_set_override(p11kms_http_transport *t)
{
    pthread_mutex_lock(&default_lock);
    override_transport = t;
    pthread_mutex_unlock(&default_lock);
}
