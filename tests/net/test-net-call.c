/* test-net-call.c - the call loop every remote backend runs through, with a made-up bearer-token
 * service on the fake transport: headers and authorization per attempt, retries by class within
 * attempts and deadline, the retry quota, a rejected token dropped and fetched again once, the
 * hooks' error mapping and request ids in the log, and the plain retried fetch. */
#include <stdint.h>
#include "tests/test.h"
#include "tests/fake-http.h"
#include "tests/unit/logcap.h"
#include "module/kms-report.h"
#include "module/net/call.h"
#include "module/net/clock.h"
#include "module/net/tokcache.h"

#define TOKEN_A "token-a"
#define TOKEN_B "token-b"

/* The made-up service: answers carry {"error": {"code": C, "message": M}} on failure and its
 * request id in X-Request-Id; "stale_token" means the token was rejected. */
typedef struct service {
    p11kms_net_client net;
    p11kms_tokcache tokens;
    int fetches;
    int bearer_expires_in; /* seconds the next fetched token lives */
    int fetch_fails;
} service;

static CK_RV fetch_token(void *ctx, const p11kms_cred *current, uint64_t deadline_ms,
                         p11kms_cred *out)
{
    service *s = ctx;

    (void)current;
    (void)deadline_ms;
    if (s->fetch_fails)
        return CKR_DEVICE_ERROR;
    s->fetches++;
    return p11kms_cred_set(out, NULL, NULL, s->fetches == 1 ? TOKEN_A : TOKEN_B,
                           time(NULL) + s->bearer_expires_in, "test token endpoint");
}

typedef struct bearer {
    p11kms_cred cr;
    char header[128];
} bearer;

static CK_RV authorize(void *ctx, const p11kms_net_request *req, uint64_t deadline_ms,
                       p11kms_net_auth *auth)
{
    service *s = ctx;
    bearer *b = calloc(1, sizeof(*b));
    CK_RV rv;

    (void)req;
    if (b == NULL)
        return CKR_HOST_MEMORY;
    auth->state = b;
    rv = p11kms_tokcache_get(&s->tokens, deadline_ms, &b->cr);
    if (rv != CKR_OK)
        return rv;
    snprintf(b->header, sizeof(b->header), "Bearer %s", b->cr.token);
    auth->headers[auth->n++] = (p11kms_http_header){"Authorization", b->header};
    auth->refreshable = 1;
    return CKR_OK;
}

static void auth_clear(void *ctx, p11kms_net_auth *auth)
{
    bearer *b = auth->state;

    (void)ctx;
    if (b != NULL) {
        p11kms_cred_clear(&b->cr);
        free(b);
    }
}

static void invalidate(void *ctx)
{
    service *s = ctx;

    p11kms_tokcache_invalidate(&s->tokens);
}

static void classify(void *ctx, const p11kms_http_response *resp, p11kms_net_outcome *o)
{
    p11kms_json root, err, v;
    char *s = NULL;

    (void)ctx;
    if (p11kms_json_parse((const char *)resp->body.data, resp->body.len, &root) == 0 &&
        p11kms_json_member(&root, "error", &err)) {
        if (p11kms_json_member(&err, "code", &v) && p11kms_json_string(&v, 64, &s) == 0)
            snprintf(o->code, sizeof(o->code), "%s", s);
        free(s);
        s = NULL;
        if (p11kms_json_member(&err, "message", &v) && p11kms_json_string(&v, 200, &s) == 0)
            snprintf(o->message, sizeof(o->message), "%s", s);
        free(s);
        s = NULL;
        if (p11kms_json_member(&root, "request_id", &v) && p11kms_json_string(&v, 64, &s) == 0)
            snprintf(o->request_id, sizeof(o->request_id), "%s", s);
        free(s);
    }
    o->auth = strcmp(o->code, "stale_token") == 0;
    o->retry = p11kms_net_retry_default(o->hr, o->status);
    if (o->status == 200) /* an error in a 200 (answer_error): a server fault */
        o->retry = P11KMS_NET_RETRY_TRANSIENT;
}

static CK_RV map(void *ctx, const p11kms_net_outcome *o)
{
    (void)ctx;
    if (strcmp(o->code, "bad_ciphertext") == 0)
        return CKR_ENCRYPTED_DATA_INVALID;
    if (o->status == 403)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    return CKR_DEVICE_ERROR;
}

/* The service says some failures in a 2xx body ("<Error>"), as S3 does. */
static int answer_error(void *ctx, const p11kms_net_request *req, const p11kms_http_response *resp)
{
    (void)ctx;
    (void)req;
    return resp->body.len >= 7 && memcmp(resp->body.data, "<Error>", 7) == 0;
}

static const p11kms_net_hooks hooks = {
    .name = "svc",
    .request_id_header = "X-Request-Id",
    .authorize = authorize,
    .auth_clear = auth_clear,
    .invalidate = invalidate,
    .classify = classify,
    .map = map,
    .answer_error = answer_error,
};

static service svc;

static void service_start(int max_attempts, unsigned long deadline_ms)
{
    memset(&svc, 0, sizeof(svc));
    svc.bearer_expires_in = 3600;
    p11kms_tokcache_init(&svc.tokens, "svc", "token", 300, 60, fetch_token, &svc);
    if (p11kms_net_client_init(&svc.net, &hooks, &svc) != CKR_OK) {
        printf("Bail out! no transport\n");
        exit(99);
    }
    svc.net.settings.url = strdup("http://127.0.0.1:9/");
    svc.net.settings.host = strdup("127.0.0.1:9");
    svc.net.settings.connect_timeout_ms = 1000;
    svc.net.settings.request_timeout_ms = 2000;
    svc.net.settings.deadline_ms = deadline_ms;
    svc.net.settings.max_attempts = max_attempts;
    fake_reset();
}

static void service_stop(void)
{
    p11kms_net_client_release(&svc.net);
    p11kms_tokcache_destroy(&svc.tokens);
}

/* One call of "op" with a JSON body; the reply is cleared, its request id copied. */
static CK_RV call(char *request_id, size_t len)
{
    p11kms_http_header h[] = {{"Host", svc.net.settings.host},
                              {"Content-Type", "application/json"}};
    p11kms_net_request req;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    p11kms_json v;
    CK_RV rv;

    p11kms_sbuf_init(&body, 1024);
    p11kms_sbuf_str(&body, "{\"plaintext\": \"c2VjcmV0\"}");
    memset(&req, 0, sizeof(req));
    req.op = "encrypt";
    req.what = "key-1";
    req.method = "POST";
    req.url = svc.net.settings.url;
    req.headers = h;
    req.n_headers = 2;
    req.body = &body;
    req.max_response = 4096;
    rv = p11kms_net_call(&svc.net, &req, p11kms_net_deadline(&svc.net.settings), &reply);
    if (rv == CKR_OK && request_id != NULL)
        snprintf(request_id, len, "%s", reply.request_id);
    if (rv == CKR_OK && !p11kms_json_member(&reply.root, "ciphertext", &v))
        rv = CKR_GENERAL_ERROR; /* the root is the answer's object */
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

#define OK_BODY "{\"ciphertext\": \"Y2lwaGVy\"}"
#define OK_HEADERS "HTTP/1.1 200 OK\r\nX-Request-Id: req-ok-1\r\n\r\n"

static void answer(int hr, long status, const char *body, const char *headers)
{
    fake_answer *a = &fake.queue[fake.n_queue++];

    memset(a, 0, sizeof(*a));
    a->hr = hr;
    a->status = status;
    a->body = body;
    a->headers = headers;
}

static void test_success(void)
{
    char rid[P11KMS_NET_REQUEST_ID_MAX] = "";

    service_start(3, 10000);
    answer(P11KMS_HTTP_OK, 200, OK_BODY, OK_HEADERS);
    is_rv(call(rid, sizeof(rid)), CKR_OK, "a 200 JSON answer");
    ok(strcmp(rid, "req-ok-1") == 0, "its request id from the hook's header");
    is_num(fake.n_seen, 1, "one exchange");
    ok(strcmp(fake.seen[0].method, "POST") == 0 &&
           strcmp(fake.seen[0].url, "http://127.0.0.1:9/") == 0,
       "method and URL as described");
    ok(strcmp(fake.seen[0].headers, "Host: 127.0.0.1:9\nContent-Type: application/json\n"
                                    "Authorization: Bearer " TOKEN_A "\n") == 0,
       "the request's headers first, then the authorization hook's");
    ok(strcmp(fake.seen[0].body, "{\"plaintext\": \"c2VjcmV0\"}") == 0, "the body as written");
    ok(fake.seen[0].timeout_ms > 0 && fake.seen[0].timeout_ms <= 2000,
       "the exchange is bounded by the request timeout");
    answer(P11KMS_HTTP_OK, 200, OK_BODY, OK_HEADERS);
    is_rv(call(NULL, 0), CKR_OK, "a second call");
    is_num(svc.fetches, 1, "reuses the cached token");
    answer(P11KMS_HTTP_OK, 200, "not json", OK_HEADERS);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "a 200 that is not a JSON object is a device error");
    service_stop();
}

static void test_retries(void)
{
    const char *log;

    service_start(3, 10000);
    answer(P11KMS_HTTP_OK, 503, "{\"error\": {\"code\": \"unavailable\"}}", NULL);
    answer(P11KMS_HTTP_E_CONNECT, 0, NULL, NULL);
    answer(P11KMS_HTTP_OK, 200, OK_BODY, OK_HEADERS);
    is_rv(call(NULL, 0), CKR_OK, "503, a connection failure, then success");
    is_num(fake.n_seen, 3, "three exchanges");
    is_num(svc.net.quota.available, 500 - 5 - 10 + 10,
           "the quota paid for the retries "
           "and got the last one back");

    fake_reset();
    answer(P11KMS_HTTP_OK, 429, "{\"error\": {\"code\": \"slow_down\"}}", NULL);
    answer(P11KMS_HTTP_OK, 500, "{}", NULL);
    answer(P11KMS_HTTP_OK, 502, "{}", NULL);
    answer(P11KMS_HTTP_OK, 200, OK_BODY, NULL);
    logcap_take();
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "still failing after max_attempts");
    is_num(fake.n_seen, 3, "exactly max_attempts exchanges");
    log = logcap_take();
    ok(strstr(log, "svc: encrypt key-1 failed after 3 attempts: HTTP 502 (HTTP 502") != NULL,
       "one error line naming the operation, the key and the last answer");

    fake_reset();
    answer(P11KMS_HTTP_E_TLS, 0, NULL, NULL);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "a TLS failure");
    is_num(fake.n_seen, 1, "is not retried");
    fake_reset();
    answer(P11KMS_HTTP_E_NOMEM, 0, NULL, NULL);
    is_rv(call(NULL, 0), CKR_HOST_MEMORY, "a transport out of memory is CKR_HOST_MEMORY");

    fake_reset();
    answer(P11KMS_HTTP_OK, 400,
           "{\"error\": {\"code\": \"bad_ciphertext\", \"message\": \"nope\"}, "
           "\"request_id\": \"req-body-7\"}",
           "HTTP/1.1 400 Bad\r\n\r\n");
    logcap_take();
    is_rv(call(NULL, 0), CKR_ENCRYPTED_DATA_INVALID, "a final answer maps through the map hook");
    is_num(fake.n_seen, 1, "and is not retried");
    log = logcap_take();
    ok(strstr(log, "svc: encrypt key-1 failed: bad_ciphertext (HTTP 400, request id "
                   "req-body-7): nope") != NULL,
       "one log line: code, status, the request id the body named, message");
    fake_reset();
    answer(P11KMS_HTTP_OK, 403, "{}", NULL);
    is_rv(call(NULL, 0), CKR_KEY_FUNCTION_NOT_PERMITTED, "403 mapped by the backend");
    service_stop();
}

static void test_rejected_token(void)
{
    const char *log;

    service_start(3, 10000);
    answer(P11KMS_HTTP_OK, 401, "{\"error\": {\"code\": \"stale_token\"}}", NULL);
    answer(P11KMS_HTTP_OK, 200, OK_BODY, NULL);
    logcap_take();
    is_rv(call(NULL, 0), CKR_OK, "a rejected token is dropped and the call tried again");
    is_num(svc.fetches, 2, "with a freshly fetched token");
    ok(fake.n_seen == 2 && strstr(fake.seen[1].headers, "Bearer " TOKEN_B) != NULL,
       "the second attempt carries the new token");
    log = logcap_take();
    ok(strstr(log, "credentials rejected (stale_token") != NULL, "and says why");

    fake_reset();
    answer(P11KMS_HTTP_OK, 401, "{\"error\": {\"code\": \"stale_token\"}}", NULL);
    answer(P11KMS_HTTP_OK, 401, "{\"error\": {\"code\": \"stale_token\"}}", NULL);
    answer(P11KMS_HTTP_OK, 200, OK_BODY, NULL);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "but only once per call");
    is_num(fake.n_seen, 2, "two exchanges, not three");
    is_num(svc.fetches, 3, "and the rejected token is not kept");

    fake_reset();
    svc.fetch_fails = 1;
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "no token at all: the call fails");
    is_num(fake.n_seen, 0, "without sending anything");
    service_stop();
}

static void test_deadline_and_body(void)
{
    p11kms_net_request req;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    const char *log;

    service_start(10, 300);
    fake.dflt.hr = P11KMS_HTTP_OK;
    fake.dflt.status = 429;
    fake.dflt.body = "{\"error\": {\"code\": \"slow_down\"}}";
    logcap_take();
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "throttled until the deadline");
    log = logcap_take();
    ok(strstr(log, "deadline of 300 ms reached") != NULL, "the log names the deadline");
    ok(fake.n_seen < 10, "it gave up before max_attempts");

    p11kms_sbuf_init(&body, 4);
    p11kms_sbuf_str(&body, "12345");
    memset(&req, 0, sizeof(req));
    req.op = "encrypt";
    req.what = "key-1";
    req.method = "POST";
    req.url = svc.net.settings.url;
    req.body = &body;
    req.max_response = 10;
    fake_reset();
    is_rv(p11kms_net_call(&svc.net, &req, p11kms_net_deadline(&svc.net.settings), &reply),
          CKR_HOST_MEMORY, "a body that could not be written is CKR_HOST_MEMORY");
    is_num(fake.n_seen, 0, "and nothing is sent");
    p11kms_sbuf_wipe(&body);

    req.body = NULL;
    answer(P11KMS_HTTP_OK, 200, OK_BODY, NULL);
    is_rv(p11kms_net_call(&svc.net, &req, p11kms_net_deadline(&svc.net.settings), &reply),
          CKR_DEVICE_ERROR, "an answer over max_response");
    is_num(fake.n_seen, 1, "is refused by the transport and not retried");
    service_stop();
}

/* A raw request (bytes out, any 2xx back, no JSON) and how a failure is described to callers
 * that report it themselves. */
static CK_RV raw_call(const char *method, p11kms_net_reply *reply)
{
    static const uint8_t data[] = {0, 1, 2, 0xff, '<'};
    p11kms_http_header h[] = {{"Host", svc.net.settings.host}};
    p11kms_net_request req;

    memset(&req, 0, sizeof(req));
    req.op = "put";
    req.what = "object-1";
    req.method = method;
    req.url = svc.net.settings.url;
    req.headers = h;
    req.n_headers = 1;
    req.data = data;
    req.data_len = sizeof(data);
    req.max_response = 4096;
    req.raw = 1;
    return p11kms_net_call(&svc.net, &req, p11kms_net_deadline(&svc.net.settings), reply);
}

static void test_raw(void)
{
    p11kms_net_reply reply;

    service_start(3, 10000);
    answer(P11KMS_HTTP_OK, 204, NULL, "HTTP/1.1 204 No Content\r\nX-Request-Id: r-204\r\n\r\n");
    is_rv(raw_call("PUT", &reply), CKR_OK, "raw: a 204 without a body succeeds");
    ok(reply.end == P11KMS_NET_END_OK && reply.outcome.status == 204 && reply.attempts == 1,
       "raw: the reply says how it ended");
    ok(fake.n_seen == 1 && fake.seen[0].body_len == 5 &&
           memcmp(fake.seen[0].body, "\0\1\2\377<", 5) == 0,
       "raw: the data is sent as it is");
    p11kms_net_reply_clear(&reply);

    fake_reset();
    answer(P11KMS_HTTP_OK, 206, "<not json>", NULL);
    is_rv(raw_call("GET", &reply), CKR_OK, "raw: a 206 with a body that is not JSON");
    ok(reply.resp.body.len == 10 && memcmp(reply.resp.body.data, "<not json>", 10) == 0,
       "raw: the body is kept as it came");
    p11kms_net_reply_clear(&reply);

    fake_reset();
    answer(P11KMS_HTTP_OK, 200, "<Error>", NULL);
    answer(P11KMS_HTTP_OK, 200, "<Result/>", NULL);
    is_rv(raw_call("POST", &reply), CKR_OK, "raw: a 200 the hook calls an error is retried");
    is_num(fake.n_seen, 2, "raw: two exchanges");
    ok(reply.resp.body.len == 9, "raw: the second answer is the reply");
    p11kms_net_reply_clear(&reply);

    fake_reset();
    answer(P11KMS_HTTP_OK, 403,
           "{\"error\": {\"code\": \"denied\", \"message\": \"no\"}, \"request_id\": \"r-9\"}",
           NULL);
    is_rv(raw_call("PUT", &reply), CKR_KEY_FUNCTION_NOT_PERMITTED, "raw: a final error");
    ok(reply.end == P11KMS_NET_END_ANSWER && reply.outcome.status == 403 &&
           strcmp(reply.outcome.code, "denied") == 0 && strcmp(reply.outcome.message, "no") == 0 &&
           strcmp(reply.outcome.request_id, "r-9") == 0 && reply.resp.body.data == NULL,
       "raw: the failure's outcome is kept, the answer is not");

    fake_reset();
    fake.dflt.hr = P11KMS_HTTP_E_CONNECT;
    is_rv(raw_call("PUT", &reply), CKR_DEVICE_ERROR, "raw: no connection");
    ok(reply.end == P11KMS_NET_END_TRANSPORT && reply.outcome.hr == P11KMS_HTTP_E_CONNECT &&
           reply.attempts == 3 && strstr(reply.outcome.message, "fake failure") != NULL,
       "raw: the transport failure, its text and the attempts are kept");

    fake_reset();
    svc.fetch_fails = 1;
    p11kms_tokcache_invalidate(&svc.tokens);
    is_rv(raw_call("PUT", &reply), CKR_DEVICE_ERROR, "raw: no token");
    ok(reply.end == P11KMS_NET_END_AUTHORIZE && fake.n_seen == 0,
       "raw: the authorization hook's failure is named");
    service_stop();
}

/* The failover contract (kms-report.h): every outcome says availability fault or definitive
 * refusal, with the request id and status, without the backend doing anything. */
static void expect_fault(int fault, long status, const char *rid, const char *what)
{
    const p11kms_kms_report *r = p11kms_kms_report_last();

    ok(r->fault == fault && r->status == status && strcmp(r->request_id, rid) == 0, what);
    if (r->fault != fault || r->status != status || strcmp(r->request_id, rid) != 0)
        diag("fault %s status %ld request id \"%s\"", p11kms_kms_fault_name(r->fault), r->status,
             r->request_id);
}

static void test_fault_classes(void)
{
    uint64_t t0;

    service_start(2, 10000);
    p11kms_kms_report_reset();
    answer(P11KMS_HTTP_OK, 200, OK_BODY, OK_HEADERS);
    is_rv(call(NULL, 0), CKR_OK, "success");
    expect_fault(P11KMS_FAULT_NONE, 200, "req-ok-1", "success: no fault, status and request id");
    is_num(p11kms_kms_report_last()->calls, 1, "one call counted");

    fake_reset();
    answer(P11KMS_HTTP_OK, 503, "{}", "HTTP/1.1 503 x\r\nX-Request-Id: r-503\r\n\r\n");
    answer(P11KMS_HTTP_OK, 503, "{}", "HTTP/1.1 503 x\r\nX-Request-Id: r-503b\r\n\r\n");
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "5xx after the retries");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 503, "r-503b", "5xx after retries: unavailable");
    is_num(p11kms_kms_report_last()->calls, 2, "calls count since the reset");

    fake_reset();
    answer(P11KMS_HTTP_OK, 429, "{}", NULL);
    answer(P11KMS_HTTP_OK, 429, "{}", NULL);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "throttled after the retries");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 429, "", "throttling after retries: unavailable");

    fake_reset();
    answer(P11KMS_HTTP_E_CONNECT, 0, NULL, NULL);
    answer(P11KMS_HTTP_E_TIMEOUT, 0, NULL, NULL);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "connection error then timeout");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 0, "", "transport failures: unavailable");

    fake_reset();
    answer(P11KMS_HTTP_E_TLS, 0, NULL, NULL);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "TLS failure");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 0, "", "an endpoint failing TLS: unavailable");

    fake_reset();
    answer(P11KMS_HTTP_OK, 200, "not json", OK_HEADERS);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "a broken 200");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 200, "req-ok-1", "a broken answer: unavailable");

    fake_reset();
    answer(P11KMS_HTTP_OK, 400,
           "{\"error\": {\"code\": \"bad_ciphertext\"}, \"request_id\": \"req-b\"}", NULL);
    is_rv(call(NULL, 0), CKR_ENCRYPTED_DATA_INVALID, "tampered / wrong context");
    expect_fault(P11KMS_FAULT_DEFINITIVE, 400, "req-b", "a refused ciphertext: definitive");
    fake_reset();
    answer(P11KMS_HTTP_OK, 403, "{}", NULL);
    is_rv(call(NULL, 0), CKR_KEY_FUNCTION_NOT_PERMITTED, "access denied");
    expect_fault(P11KMS_FAULT_DEFINITIVE, 403, "", "access denied: definitive");

    fake_reset();
    svc.fetch_fails = 1;
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "no credentials to be had");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 0, "", "credentials not fetched: unavailable");
    svc.fetch_fails = 0;

    /* The core's call deadline bounds the call's own (a key set's one deadline). */
    fake_reset();
    fake.dflt.hr = P11KMS_HTTP_OK;
    fake.dflt.status = 429;
    fake.dflt.body = "{}";
    svc.net.settings.max_attempts = 50;
    t0 = p11kms_kms_now_ms();
    p11kms_kms_call_deadline_set(t0 + 250);
    is_rv(call(NULL, 0), CKR_DEVICE_ERROR, "throttled under a core deadline of 250 ms");
    p11kms_kms_call_deadline_set(0);
    ok(p11kms_kms_now_ms() - t0 < 5000, "ended by the core's deadline, not its own 10 s");
    expect_fault(P11KMS_FAULT_UNAVAILABLE, 429, "", "deadline: unavailable");
    service_stop();
}

static void test_fetch(void)
{
    p11kms_http_request req;
    p11kms_http_response resp;
    int hr;

    fake_reset();
    answer(P11KMS_HTTP_OK, 500, "", NULL);
    answer(P11KMS_HTTP_E_TIMEOUT, 0, NULL, NULL);
    answer(P11KMS_HTTP_OK, 200, "token", NULL);
    memset(&req, 0, sizeof(req));
    memset(&resp, 0, sizeof(resp));
    req.method = "GET";
    req.url = "http://127.0.0.1:9/token";
    req.max_response = 100;
    hr = p11kms_net_fetch(&fake.base, &req, "svc", 1000, 1000, 3, p11kms_net_now_ms() + 10000,
                          &resp);
    ok(hr == P11KMS_HTTP_OK && resp.status == 200 && resp.body.len == 5,
       "fetch: a 500 and a timeout retried, then the answer");
    is_num(fake.n_seen, 3, "three exchanges");
    p11kms_http_response_clear(&resp);

    fake_reset();
    answer(P11KMS_HTTP_OK, 404, "", NULL);
    hr = p11kms_net_fetch(&fake.base, &req, "svc", 1000, 1000, 3, p11kms_net_now_ms() + 10000,
                          &resp);
    ok(hr == P11KMS_HTTP_OK && resp.status == 404 && fake.n_seen == 1,
       "fetch: a 404 is the caller's to judge, not retried");
    p11kms_http_response_clear(&resp);

    fake_reset();
    hr = p11kms_net_fetch(&fake.base, &req, "svc", 1000, 1000, 3, p11kms_net_now_ms() - 1, &resp);
    ok(hr == P11KMS_HTTP_E_TIMEOUT && fake.n_seen == 0, "fetch: nothing after the deadline");
    p11kms_http_response_clear(&resp);
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_INFO);
    fake_init();
    test_success();
    test_retries();
    test_rejected_token();
    test_deadline_and_body();
    test_raw();
    test_fault_classes();
    test_fetch();
    fake_reset();
    p11kms_http_set_override(NULL);
    return test_exit_code();
}
