/* test-aws-fake.h - a scripted HTTP transport for aws unit tests: it records every request the
 * backend sends and answers from a queue (or a default), without any network. */
#ifndef P11KMS_TEST_AWS_FAKE_H
#define P11KMS_TEST_AWS_FAKE_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "module/http.h"

#define FAKE_MAX 128

typedef struct fake_answer {
    int hr;           /* P11KMS_HTTP_* */
    long status;      /* for P11KMS_HTTP_OK */
    const char *body; /* copied */
    const char *headers;
    unsigned sleep_ms; /* before answering */
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

typedef struct fake_transport {
    p11kms_http_transport base;
    pthread_mutex_t lock;
    fake_answer queue[FAKE_MAX];
    size_t n_queue, next;
    fake_answer dflt;
    fake_request seen[FAKE_MAX];
    size_t n_seen;
} fake_transport;

static fake_transport fake;

static int fake_perform(p11kms_http_transport *t, const p11kms_http_request *req,
                        p11kms_http_response *resp)
{
    fake_transport *f = (fake_transport *)t;
    fake_answer a;
    size_t i, used = 0;

    pthread_mutex_lock(&f->lock);
    if (f->n_seen < FAKE_MAX) {
        fake_request *r = &f->seen[f->n_seen++];

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
        memcpy(r->body, req->body ? (const char *)req->body : "", req->body_len);
        r->body[req->body_len] = 0;
        r->body_len = req->body_len;
        r->timeout_ms = req->timeout_ms;
        r->policy = req->policy;
    }
    a = f->next < f->n_queue ? f->queue[f->next++] : f->dflt;
    pthread_mutex_unlock(&f->lock);
    if (a.sleep_ms)
        usleep(a.sleep_ms * 1000u);
    resp->status = a.status;
    if (a.hr != P11KMS_HTTP_OK) {
        snprintf(resp->error, sizeof(resp->error), "fake failure %d", a.hr);
        return a.hr;
    }
    p11kms_buf_set(&resp->body, a.body ? a.body : "", (a.body ? strlen(a.body) : 0) + 1);
    resp->body.len--;
    resp->headers =
        strdup(a.headers ? a.headers : "HTTP/1.1 200 OK\r\nx-amzn-RequestId: fake-req\r\n\r\n");
    resp->headers_len = strlen(resp->headers);
    return P11KMS_HTTP_OK;
}

static inline void fake_reset(void)
{
    size_t i;

    pthread_mutex_lock(&fake.lock);
    for (i = 0; i < fake.n_seen; i++)
        free(fake.seen[i].body);
    fake.n_seen = 0;
    fake.n_queue = 0;
    fake.next = 0;
    fake.dflt.hr = P11KMS_HTTP_E_CONNECT;
    fake.dflt.status = 0;
    fake.dflt.body = NULL;
    fake.dflt.headers = NULL;
    fake.dflt.sleep_ms = 0;
    pthread_mutex_unlock(&fake.lock);
}

static inline void fake_init(void)
{
    pthread_mutex_init(&fake.lock, NULL);
    fake.base.perform = fake_perform;
    fake.base.destroy = NULL;
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
