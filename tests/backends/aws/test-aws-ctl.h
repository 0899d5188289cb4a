/* test-aws-ctl.h - for module tests against a loopback test server: its control API (faults,
 * counters, config, request log) over libcurl. The AWS and Google test servers share this
 * control shape; CTL_CONTROL_ENV names the variable holding the control URL (AWS's by
 * default). */
#ifndef P11KMS_TEST_AWS_CTL_H
#define P11KMS_TEST_AWS_CTL_H

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CTL_CONTROL_ENV
#define CTL_CONTROL_ENV "P11KMS_AWS_CONTROL"
#endif

typedef struct ctl_buf {
    char *p;
    size_t len;
} ctl_buf;

static inline size_t ctl_write(char *d, size_t s, size_t n, void *u)
{
    ctl_buf *b = u;
    char *np = realloc(b->p, b->len + s * n + 1);

    if (np == NULL)
        return 0;
    b->p = np;
    memcpy(b->p + b->len, d, s * n);
    b->len += s * n;
    b->p[b->len] = 0;
    return s * n;
}

/* METHOD /_control PATH [JSON]; the parsed answer (json_object_put it), NULL on failure.
 * One kept-alive handle, so control requests do not show up as new connections in the
 * server's counters (which the connection-reuse checks read). */
static CURL *ctl_handle;

static inline void ctl_close(void)
{
    if (ctl_handle != NULL)
        curl_easy_cleanup(ctl_handle);
    ctl_handle = NULL;
}

static inline json_object *ctl(const char *method, const char *path, const char *json)
{
    const char *base = getenv(CTL_CONTROL_ENV);
    char url[512];
    ctl_buf b = {NULL, 0};
    struct curl_slist *h = NULL;
    json_object *o = NULL;
    long status = 0;
    CURL *c;

    if (base == NULL)
        return NULL;
    snprintf(url, sizeof(url), "%s%s", base, path);
    if (ctl_handle == NULL)
        ctl_handle = curl_easy_init();
    c = ctl_handle;
    if (c == NULL)
        return NULL;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (json != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    }
    if (curl_easy_perform(c) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status < 400 &&
        b.p != NULL)
        o = json_tokener_parse(b.p);
    else
        printf("# control %s %s failed: HTTP %ld %s\n", method, path, status, b.p ? b.p : "");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    free(b.p);
    return o;
}

static inline void ctl_do(const char *method, const char *path, const char *json)
{
    json_object *o = ctl(method, path, json);

    if (o == NULL) {
        printf("Bail out! control request %s %s failed\n", method, path);
        exit(1);
    }
    json_object_put(o);
}

/* Requests the server counted for an operation (Encrypt, sts, imds-token, ...). */
static inline long ctl_count(const char *op)
{
    json_object *o = ctl("GET", "/counters", NULL), *r, *v;
    long n = -1;

    if (o != NULL && json_object_object_get_ex(o, "requests", &r))
        n = json_object_object_get_ex(r, op, &v) ? (long)json_object_get_int64(v) : 0;
    json_object_put(o);
    return n;
}

/*
 * The server counts a request when it reads it but records the answer (status, error code,
 * request log) just after sending it, so a reading taken right after a call can miss that
 * call. Wait until every counted request is recorded (the number of requests counted equals
 * the request log's last sequence number), for at most about 5 s (a request that is still
 * being delayed by a fault holds it back that long). Not a timing assertion: the wait only
 * orders the reading after the server's bookkeeping.
 */
static inline long ctl_last_seq(void)
{
    json_object *o = ctl("GET", "/requests", NULL), *arr, *v;
    long seq = 0;
    size_t n;

    if (o != NULL && json_object_object_get_ex(o, "requests", &arr) &&
        (n = json_object_array_length(arr)) > 0 &&
        json_object_object_get_ex(json_object_array_get_idx(arr, n - 1), "seq", &v))
        seq = (long)json_object_get_int64(v);
    json_object_put(o);
    return seq;
}

static inline void ctl_settle(void)
{
    json_object *o, *r;
    long counted;
    int i;

    for (i = 0; i < 250; i++) {
        counted = 0;
        o = ctl("GET", "/counters", NULL);
        if (o != NULL && json_object_object_get_ex(o, "requests", &r)) {
            json_object_object_foreach(r, k, v)
            {
                (void)k;
                counted += (long)json_object_get_int64(v);
            }
        }
        json_object_put(o);
        if (counted == ctl_last_seq())
            return;
        usleep(20000);
    }
}

/* A top-level counter (connections, signature_failures, ...) or errors[code] when code.
 * Counters of answers (not connections) are read after ctl_settle(). */
static inline long ctl_stat(const char *name, const char *code)
{
    json_object *o, *r, *v;
    long n = -1;

    if (strcmp(name, "connections") != 0)
        ctl_settle();
    o = ctl("GET", "/counters", NULL);

    if (o != NULL && json_object_object_get_ex(o, name, &r)) {
        if (code == NULL)
            n = (long)json_object_get_int64(r);
        else
            n = json_object_object_get_ex(r, code, &v) ? (long)json_object_get_int64(v) : 0;
    }
    json_object_put(o);
    return n;
}

/* Queue a fault: op, kind, count, extra JSON members (", \"delay_ms\": 3000") or "". */
static inline void ctl_fault(const char *op, const char *kind, int count, const char *extra)
{
    char body[512];

    snprintf(body, sizeof(body), "{\"op\": \"%s\", \"kind\": \"%s\", \"count\": %d%s}", op, kind,
             count, extra ? extra : "");
    ctl_do("POST", "/faults", body);
}

static inline void ctl_clear_faults(void)
{
    ctl_do("DELETE", "/faults", NULL);
}

/* The last request-log entry (json_object_put it), NULL when none. */
static inline json_object *ctl_last_request(void)
{
    json_object *o, *arr, *last = NULL;
    size_t n;

    ctl_settle();
    o = ctl("GET", "/requests", NULL);

    if (o != NULL && json_object_object_get_ex(o, "requests", &arr) &&
        (n = json_object_array_length(arr)) > 0)
        last = json_object_get(json_object_array_get_idx(arr, n - 1));
    json_object_put(o);
    return last;
}

static inline const char *json_str(json_object *o, const char *name)
{
    json_object *v;

    return o != NULL && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "";
}

#endif
