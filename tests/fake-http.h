/* fake-http.h - the one scripted HTTP transport of the unit tests and fuzz targets: it records
 * the requests a backend sends and answers from a queue, a default, or a route function (the
 * fuzzers answer with their input), without any network, within the bounds libcurl enforces. */
#ifndef P11KMS_TEST_FAKE_HTTP_H
#define P11KMS_TEST_FAKE_HTTP_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "module/net/http.h"

#define FAKE_MAX 128
#define FAKE_DEFAULT_HEADERS "HTTP/1.1 200 OK\r\nx-amzn-RequestId: fake-req\r\n\r\n"

typedef struct fake_answer {
    int hr;              /* P11KMS_HTTP_*: the exchange's result */
    long status;         /* for P11KMS_HTTP_OK */
    const char *body;    /* NULL: empty */
    const char *headers; /* raw header block; NULL: FAKE_DEFAULT_HEADERS */
    unsigned sleep_ms;   /* before answering */
    int sized;           /* body_len and headers_len give the lengths (binary); 0: C strings */
    size_t body_len;
    size_t headers_len;
} fake_answer;

typedef struct fake_request {
    char method[8];
    char url[512];
    char headers[8192]; /* "Name: value\n" lines as sent */
    char *body;
    size_t body_len;
    unsigned long timeout_ms;
    int policy;
} fake_request;

typedef struct fake_http fake_http;
struct fake_http {
    p11kms_http_transport base;
    pthread_mutex_t lock;
    int record; /* keep copies of the first FAKE_MAX requests in seen[] */
    fake_answer queue[FAKE_MAX];
    size_t n_queue, next;
    fake_answer dflt;
    /* when set, answers every request instead of the queue */
    const fake_answer *(*route)(fake_http *f, const p11kms_http_request *req);
    const void *user; /* for route */
    fake_request seen[FAKE_MAX];
    size_t n_seen;
    unsigned long requests;
    char last_url[512];
};

static void fake_record(fake_http *f, const p11kms_http_request *req)
{
    fake_request *r = &f->seen[f->n_seen++];
    size_t i, used = 0;

    snprintf(r->method, sizeof(r->method), "%s", req->method);
    snprintf(r->url, sizeof(r->url), "%s", req->url);
    r->headers[0] = 0;
    for (i = 0; i < req->n_headers; i++) {
        int n = snprintf(r->headers + used, sizeof(r->headers) - used, "%s: %s\n",
                         req->headers[i].name, req->headers[i].value);
        if (n > 0 && (size_t)n < sizeof(r->headers) - used)
            used += (size_t)n;
    }
    r->body = malloc(req->body_len + 1);
    if (r->body != NULL) {
        memcpy(r->body, req->body ? (const char *)req->body : "", req->body_len);
        r->body[req->body_len] = 0;
    }
    r->body_len = req->body_len;
    r->timeout_ms = req->timeout_ms;
    r->policy = req->policy;
}

static int fake_perform(p11kms_http_transport *t, const p11kms_http_request *req,
                        p11kms_http_response *resp)
{
    fake_http *f = (fake_http *)t;
    fake_answer a;
    size_t body_len, headers_len;
    const char *headers;

    pthread_mutex_lock(&f->lock);
    f->requests++;
    snprintf(f->last_url, sizeof(f->last_url), "%s", req->url);
    if (f->record && f->n_seen < FAKE_MAX)
        fake_record(f, req);
    if (f->route != NULL)
        a = *f->route(f, req);
    else
        a = f->next < f->n_queue ? f->queue[f->next++] : f->dflt;
    pthread_mutex_unlock(&f->lock);
    if (a.sleep_ms)
        usleep(a.sleep_ms * 1000u);
    if (a.hr != P11KMS_HTTP_OK) {
        snprintf(resp->error, sizeof(resp->error), "fake failure %d", a.hr);
        return a.hr;
    }
    headers = a.headers != NULL ? a.headers : FAKE_DEFAULT_HEADERS;
    headers_len = a.sized && a.headers != NULL ? a.headers_len : strlen(headers);
    body_len = a.body == NULL ? 0 : a.sized ? a.body_len : strlen(a.body);
    /* the bounds the libcurl transport enforces */
    if (body_len > req->max_response || headers_len + 1 > P11KMS_HTTP_HEADERS_MAX) {
        snprintf(resp->error, sizeof(resp->error), "response too large");
        return P11KMS_HTTP_E_TOO_LARGE;
    }
    resp->status = a.status;
    /* exact-size copies, NUL-terminated like the libcurl transport's, so that a read past the
     * end shows under the sanitizers */
    resp->body.data = malloc(body_len + 1);
    resp->headers = malloc(headers_len + 1);
    if (resp->body.data == NULL || resp->headers == NULL) {
        p11kms_http_response_clear(resp);
        return P11KMS_HTTP_E_NOMEM;
    }
    if (body_len > 0)
        memcpy(resp->body.data, a.body, body_len);
    resp->body.data[body_len] = 0;
    resp->body.len = body_len;
    memcpy(resp->headers, headers, headers_len);
    resp->headers[headers_len] = 0;
    resp->headers_len = headers_len;
    return P11KMS_HTTP_OK;
}

/* A transport of one's own (the fuzz targets): answers through route, records nothing. */
static inline void
fake_http_init(fake_http *f, const fake_answer *(*route)(fake_http *, const p11kms_http_request *))
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->base.perform = fake_perform;
    f->base.destroy = NULL;
    f->route = route;
}

/* ---- the unit tests' transport: one, queue-driven, recording, installed as the override ---- */

static fake_http fake;

/* Forget what was recorded and queued; the default answer is a connection failure. */
static inline void fake_reset(void)
{
    size_t i;

    pthread_mutex_lock(&fake.lock);
    for (i = 0; i < fake.n_seen; i++)
        free(fake.seen[i].body);
    fake.n_seen = 0;
    fake.n_queue = 0;
    fake.next = 0;
    memset(&fake.dflt, 0, sizeof(fake.dflt));
    fake.dflt.hr = P11KMS_HTTP_E_CONNECT;
    pthread_mutex_unlock(&fake.lock);
}

/* Set it up and make it the transport every backend acquires. */
static inline void fake_init(void)
{
    fake_http_init(&fake, NULL);
    fake.record = 1;
    fake_reset();
    p11kms_http_set_override(&fake.base);
}

static inline void fake_push(int hr, long status, const char *body)
{
    fake_answer *a = &fake.queue[fake.n_queue++];

    memset(a, 0, sizeof(*a));
    a->hr = hr;
    a->status = status;
    a->body = body;
}

/* The value of a header in a recorded request (static buffer), or NULL. */
static inline const char *fake_header(const fake_request *r, const char *name)
{
    static char v[4096];
    size_t n = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strchr(p, '\n');

        if (strncasecmp(p, name, n) == 0 && p[n] == ':' && p[n + 1] == ' ') {
            size_t l = (size_t)(eol - p) - n - 2;
            memcpy(v, p + n + 2, l);
            v[l] = 0;
            return v;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

#endif
