/* test-http.c - the libcurl transport (net/http-curl.c) against test-http-server.py:
 * connection reuse across calls, threads and fork, TLS peer verification, response bounds,
 * timeouts, the plain-http policy and header checks. Run by test-http.sh. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/test.h"
#include "module/net/clock.h"
#include "module/net/json.h"
#include "module/net/sbuf.h"
#include "module/net/http.h"

static p11kms_http_transport *t;
static int http_port, https_port;
static const char *ca, *other_ca;

static int get(const char *url, const char *method, const p11kms_http_header *h, size_t nh,
               const char *body, size_t body_len, const char *cafile, unsigned long timeout_ms,
               size_t max, p11kms_http_response *r)
{
    p11kms_http_request req;

    memset(&req, 0, sizeof(req));
    memset(r, 0, sizeof(*r));
    req.method = method;
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    req.body = (const uint8_t *)body;
    req.body_len = body_len;
    req.ca_file = cafile;
    req.connect_timeout_ms = 2000;
    req.timeout_ms = timeout_ms ? timeout_ms : 10000;
    req.max_response = max ? max : 65536;
    return t->perform(t, &req, r);
}

static char *url(int tls, const char *host, const char *path)
{
    static __thread char u[8][128]; /* per thread: the workers build URLs at once */
    static __thread int n;
    char *p = u[n++ % 8];

    snprintf(p, 128, "%s://%s:%d%s", tls ? "https" : "http", host, tls ? https_port : http_port,
             path);
    return p;
}

/* An answer with oversized headers is the server's fault: a device error, never a report that
 * this process ran out of memory. Two limits: ours (P11KMS_HTTP_HEADERS_MAX, all header lines)
 * and libcurl's own on one header line (100 KiB in 7.88, which it reports as out of memory). */
static void test_big_headers(void)
{
    static const struct {
        const char *path, *what;
    } cases[] = {
        {"/bigheader?n=20000", "headers over P11KMS_HTTP_HEADERS_MAX"},
        {"/bigheader?n=300000", "a header line over libcurl's own limit"},
    };
    p11kms_http_response r;
    size_t i;
    int hr;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hr = get(url(0, "127.0.0.1", cases[i].path), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r);
        is_num(hr, P11KMS_HTTP_E_TOO_LARGE, cases[i].what);
        is_rv(p11kms_http_result_rv(hr), CKR_DEVICE_ERROR, "  ...is CKR_DEVICE_ERROR");
        ok(strstr(r.error, "too large") != NULL, "  ...and says so");
        ok(r.body.data == NULL, "  ...with no body");
        p11kms_http_response_clear(&r);
    }
    is_num(get(url(0, "127.0.0.1", "/bigheader?n=8000"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_OK, "headers within the bound are fine");
    p11kms_http_response_clear(&r);
    is_rv(p11kms_http_result_rv(P11KMS_HTTP_E_NOMEM), CKR_HOST_MEMORY,
          "only our own allocation failure is CKR_HOST_MEMORY");
}

/* The echoed request: a header's value (NULL when absent) or a number. */
static char *echo_header(const p11kms_http_response *r, const char *name)
{
    p11kms_json root, hs, v;
    char *s = NULL;

    if (p11kms_json_parse((const char *)r->body.data, r->body.len, &root) != 0 ||
        !p11kms_json_member(&root, "headers", &hs) || !p11kms_json_member(&hs, name, &v) ||
        p11kms_json_string(&v, 4096, &s) != 0)
        return NULL;
    return s;
}

static long echo_num(const p11kms_http_response *r, const char *name)
{
    p11kms_json root, v;
    char num[32];

    if (p11kms_json_parse((const char *)r->body.data, r->body.len, &root) != 0 ||
        !p11kms_json_member(&root, name, &v) || p11kms_json_number_text(&v, num, sizeof(num)) != 0)
        return -1;
    return atol(num);
}

static long server_connections(int tls)
{
    p11kms_http_response r;
    long n = -1;

    if (get(url(tls, "127.0.0.1", "/connections"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r) ==
        P11KMS_HTTP_OK)
        n = echo_num(&r, "connections");
    p11kms_http_response_clear(&r);
    return n;
}

static void test_requests(void)
{
    p11kms_http_header h[] = {{"Content-Type", "application/x-amz-json-1.1"},
                              {"Host", "kms.example.test:443"},
                              {"X-Empty", ""}};
    p11kms_http_response r;
    char body[4096], v[32], *s;

    memset(body, 'x', sizeof(body));
    is_num(get(url(0, "127.0.0.1", "/echo"), "POST", h, 3, body, sizeof(body), NULL, 0, 0, &r),
           P11KMS_HTTP_OK, "POST over plain http to loopback");
    is_num(r.status, 200, "status 200");
    ok(r.body.data[r.body.len] == 0, "the body is NUL-terminated for the parsers");
    is_num(echo_num(&r, "body_len"), 4096, "the 4 KiB body arrived");
    s = echo_header(&r, "expect");
    ok(s == NULL, "no Expect: 100-continue (it would cost a round trip and break signatures)");
    free(s);
    s = echo_header(&r, "accept");
    ok(s == NULL, "no Accept header nobody asked for");
    free(s);
    s = echo_header(&r, "host");
    ok(s && strcmp(s, "kms.example.test:443") == 0, "the given Host is sent as is");
    free(s);
    s = echo_header(&r, "x-empty");
    ok(s && strcmp(s, "") == 0, "an empty header value is sent");
    free(s);
    s = echo_header(&r, "user-agent");
    ok(s && strncmp(s, "p11kms/", 7) == 0, "User-Agent names p11kms");
    free(s);
    ok(p11kms_http_response_header(&r, "X-TEST", v, sizeof(v)) && strcmp(v, "yes") == 0,
       "response headers are kept");
    p11kms_http_response_clear(&r);

    is_num(get(url(0, "127.0.0.1", "/echo"), "PUT", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_OK, "PUT without a body");
    s = echo_header(&r, "content-type");
    ok(s == NULL, "no form content type added to a body-less PUT");
    free(s);
    s = echo_header(&r, "content-length");
    ok(s && strcmp(s, "0") == 0, "Content-Length: 0");
    free(s);
    p11kms_http_response_clear(&r);

    is_num(get(url(0, "127.0.0.1", "/big?n=65536"), "GET", NULL, 0, NULL, 0, NULL, 0, 65536, &r),
           P11KMS_HTTP_OK, "a body of exactly the bound");
    is_num(r.body.len, 65536, "complete");
    p11kms_http_response_clear(&r);
    is_num(get(url(0, "127.0.0.1", "/big?n=100000"), "GET", NULL, 0, NULL, 0, NULL, 0, 65536, &r),
           P11KMS_HTTP_E_TOO_LARGE, "a larger body is refused");
    ok(r.body.data == NULL, "and no partial body is returned");
    p11kms_http_response_clear(&r);
    test_big_headers();
    is_num(get(url(0, "127.0.0.1", "/slow"), "GET", NULL, 0, NULL, 0, NULL, 300, 0, &r),
           P11KMS_HTTP_E_TIMEOUT, "a slow answer times out");
    p11kms_http_response_clear(&r);
    is_num(get("http://127.0.0.1:1/", "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_E_CONNECT, "a closed port: connection failure");
    p11kms_http_response_clear(&r);
}

static void test_policy(void)
{
    p11kms_http_header bad1[] = {{"X-A", "v\r\nInjected: 1"}}, bad2[] = {{"X:B", "v"}};
    p11kms_http_response r;
    p11kms_http_request req;

    is_num(get("http://10.0.0.1/", "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r), P11KMS_HTTP_E_REFUSED,
           "plain http off loopback is refused before connecting");
    ok(strstr(r.error, "refused") != NULL, "with a reason");
    is_num(get("http://169.254.169.254/", "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_E_REFUSED, "metadata addresses need the metadata policy");
    is_num(get("ftp://127.0.0.1/", "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r), P11KMS_HTTP_E_REFUSED,
           "other schemes are refused");
    is_num(get("not a url", "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r), P11KMS_HTTP_E_REFUSED,
           "malformed URLs are refused");
    is_num(get(url(0, "127.0.0.1", "/echo"), "GET", bad1, 1, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_E_REFUSED, "a header value with CR LF is refused");
    is_num(get(url(0, "127.0.0.1", "/echo"), "GET", bad2, 1, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_E_REFUSED, "a header name with ':' is refused");
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = url(0, "127.0.0.1", "/echo");
    req.connect_timeout_ms = 1000;
    req.timeout_ms = 1000;
    req.max_response = 1 << 16;
    req.policy = P11KMS_HTTP_POLICY_METADATA;
    memset(&r, 0, sizeof(r));
    is_num(t->perform(t, &req, &r), P11KMS_HTTP_OK, "loopback is allowed under either policy");
    p11kms_http_response_clear(&r);
}

static void test_tls(void)
{
    p11kms_http_response r;

    is_num(get(url(1, "localhost", "/echo"), "GET", NULL, 0, NULL, 0, ca, 0, 0, &r), P11KMS_HTTP_OK,
           "https with the right CA bundle");
    p11kms_http_response_clear(&r);
    is_num(get(url(1, "localhost", "/echo"), "GET", NULL, 0, NULL, 0, other_ca, 0, 0, &r),
           P11KMS_HTTP_E_TLS, "https with another CA: the peer is not trusted");
    p11kms_http_response_clear(&r);
    is_num(get(url(1, "localhost", "/echo"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_E_TLS, "https with the system CAs: a self-signed peer is refused");
    p11kms_http_response_clear(&r);
    is_num(get(url(1, "127.0.0.1", "/echo"), "GET", NULL, 0, NULL, 0, ca, 0, 0, &r),
           P11KMS_HTTP_E_TLS, "a certificate for another name is refused");
    p11kms_http_response_clear(&r);
    is_num(get(url(1, "localhost", "/echo"), "GET", NULL, 0, NULL, 0, "/nonexistent.pem", 0, 0, &r),
           P11KMS_HTTP_E_TLS, "a missing CA bundle fails closed");
    p11kms_http_response_clear(&r);
}

static void test_reuse(void)
{
    p11kms_http_response r;
    unsigned long req0, conn0, req1, conn1;
    long before, after;
    int i, fails = 0;

    before = server_connections(0);
    p11kms_http_curl_stats(t, &req0, &conn0);
    for (i = 0; i < 20; i++) {
        if (get(url(0, "127.0.0.1", "/echo"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r) !=
            P11KMS_HTTP_OK)
            fails++;
        p11kms_http_response_clear(&r);
    }
    after = server_connections(0);
    p11kms_http_curl_stats(t, &req1, &conn1);
    is_num(fails, 0, "20 requests");
    is_num(after - before, 0, "all on the kept-alive connection (no new one)");
    is_num(req1 - req0, 21, "the transport counted the requests");
    is_num(conn1 - conn0, 0, "and no new connection");

    before = server_connections(1);
    for (i = 0; i < 10; i++) {
        get(url(1, "localhost", "/echo"), "GET", NULL, 0, NULL, 0, ca, 0, 0, &r);
        p11kms_http_response_clear(&r);
    }
    after = server_connections(1);
    ok(after - before <= 2, "10 https requests: one TLS handshake (not one per call)");
}

static void *worker(void *arg)
{
    p11kms_http_response r;
    long i, fails = 0;

    (void)arg;
    for (i = 0; i < 25; i++) {
        if (get(url(0, "127.0.0.1", "/echo"), "POST", NULL, 0, "{}", 2, NULL, 0, 0, &r) !=
                P11KMS_HTTP_OK ||
            r.status != 200)
            fails++;
        p11kms_http_response_clear(&r);
    }
    return (void *)fails;
}

static void test_threads_and_fork(void)
{
    pthread_t th[4];
    long before, after, fails = 0, i;
    p11kms_http_response r;
    pid_t pid;
    int status = -1;

    before = server_connections(0);
    for (i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (i = 0; i < 4; i++) {
        void *v;
        pthread_join(th[i], &v);
        fails += (long)v;
    }
    after = server_connections(0);
    is_num(fails, 0, "4 threads x 25 requests through one transport");
    diag("%ld new connections for 4 threads", after - before);
    ok(after - before <= 4, "at most one connection per concurrent thread");

    /* after fork the child must not use the parent's connections (one TLS/TCP stream, two
     * writers): it opens its own; the parent keeps its own afterwards */
    before = server_connections(0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int rc = get(url(0, "127.0.0.1", "/echo"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r);

        _exit(rc == P11KMS_HTTP_OK && r.status == 200 ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    is_num(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "the child's request works");
    is_num(server_connections(0) - before, 1, "on a connection of its own");
    before = server_connections(0);
    is_num(get(url(0, "127.0.0.1", "/echo"), "GET", NULL, 0, NULL, 0, NULL, 0, 0, &r),
           P11KMS_HTTP_OK, "the parent's next request works");
    p11kms_http_response_clear(&r);
    is_num(server_connections(0) - before, 0, "on its kept-alive connection");
}

static void test_shared(void)
{
    p11kms_http_transport *a = p11kms_http_acquire(), *b = p11kms_http_acquire();
    p11kms_http_transport fake = {NULL, NULL};

    ok(a != NULL && a == b, "backends share one transport");
    p11kms_http_release(b);
    p11kms_http_release(a);
    p11kms_http_set_override(&fake);
    ok(p11kms_http_acquire() == &fake, "an override replaces it (tests, fuzzers)");
    p11kms_http_release(&fake);
    p11kms_http_set_override(NULL);
    a = p11kms_http_acquire();
    ok(a != NULL && a != &fake, "and can be removed");
    p11kms_http_release(a);
}

int main(void)
{
    const char *hp = getenv("TEST_HTTP_PORT"), *sp = getenv("TEST_HTTPS_PORT");

    ca = getenv("TEST_CA");
    other_ca = getenv("TEST_OTHER_CA");
    if (hp == NULL || sp == NULL || ca == NULL || other_ca == NULL) {
        printf("1..0 # SKIP run through test-http.sh\n");
        return 0;
    }
    http_port = atoi(hp);
    https_port = atoi(sp);
    test_start();
    t = p11kms_http_curl_new();
    ok(t != NULL, "a libcurl transport");
    test_requests();
    test_policy();
    test_tls();
    test_reuse();
    test_threads_and_fork();
    t->destroy(t);
    test_shared();
    return test_exit_code();
}
