/* s3-get.c - an S3 object read as a stream: a HEAD, then ranged GETs of the version the HEAD saw
 * (If-Match its ETag) fetched a few ahead by threads into a small ring and handed to the reader
 * in order. Nothing here is trusted: the pipeline verifies every chunk before it is written. */
/* Locking: mu protects the ring's states, the next range to fetch, failed/err and stopping; the
 * reply in a slot belongs to whoever moved the slot to its state (a fetcher while FETCHING, the
 * reader while READY). A byte on the notify pipe wakes a reader waiting in poll() with the
 * pipeline's stop descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "s3-get.h"
#include "tool.h"

#define ETAG_MAX 128

enum { SLOT_FREE, SLOT_FETCHING, SLOT_READY };

struct range_slot {
    uint64_t index; /* range number */
    p11kms_net_reply reply;
    int state;
};

struct tool_s3_get {
    tool_s3 *s;
    char *bucket;
    char *key;
    p11kms_net_reply head;
    uint64_t size;
    char etag[ETAG_MAX];
    uint64_t n_ranges;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* a slot became free, or stopping */
    struct range_slot slots[TOOL_S3_GET_AHEAD];
    pthread_t threads[TOOL_S3_GET_AHEAD];
    size_t n_threads;
    int started;
    uint64_t next_fetch; /* the next range a fetcher claims */
    int stopping;
    int failed;
    char err[1536];
    unsigned gets;
    int notify[2];

    /* the reader's position (reader only) */
    uint64_t offset;
};

uint64_t tool_s3_get_size(const tool_s3_get *g)
{
    return g->size;
}

unsigned tool_s3_get_requests(const tool_s3_get *g)
{
    return g->gets;
}

int tool_s3_get_header(const tool_s3_get *g, const char *name, char *buf, size_t buf_len)
{
    return p11kms_http_response_header(&g->head.resp, name, buf, buf_len);
}

static void wake_reader(tool_s3_get *g)
{
    /* A full pipe already wakes the reader: the byte is not needed then. */
    if (write(g->notify[1], "x", 1) < 0 && errno != EAGAIN)
        return;
}

static void *fetcher_main(void *arg)
{
    tool_s3_get *g = arg;
    char range[64], err[1536];
    p11kms_http_header h[2] = {{"Range", range}, {"If-Match", g->etag}};
    tool_s3_req rq = {"GetObject", "GET", g->bucket, g->key, NULL, h, 2, NULL, 0, 0, 0};

    for (;;) {
        struct range_slot *slot;
        uint64_t idx, first, last;
        int ok;

        pthread_mutex_lock(&g->mu);
        for (;;) {
            if (g->stopping || g->failed || g->next_fetch >= g->n_ranges) {
                pthread_mutex_unlock(&g->mu);
                return NULL;
            }
            slot = &g->slots[g->next_fetch % TOOL_S3_GET_AHEAD];
            if (slot->state == SLOT_FREE)
                break;
            pthread_cond_wait(&g->cv, &g->mu);
        }
        idx = g->next_fetch++;
        slot->index = idx;
        slot->state = SLOT_FETCHING;
        g->gets++;
        pthread_mutex_unlock(&g->mu);

        first = idx * TOOL_S3_RANGE;
        last = first + TOOL_S3_RANGE - 1 < g->size - 1 ? first + TOOL_S3_RANGE - 1 : g->size - 1;
        snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, first, last);
        rq.max_response = (size_t)(last - first + 1);
        ok = tool_s3_call(g->s, &rq, &slot->reply, err, sizeof(err)) == 0;
        /* Exactly the bytes asked for, or the object is not what the HEAD said. */
        if (ok && (slot->reply.resp.status != 206 ||
                   slot->reply.resp.body.len != (size_t)(last - first + 1))) {
            snprintf(err, sizeof(err),
                     "s3://%s/%s: GetObject %s: the answer is not that range (HTTP %ld, %zu "
                     "bytes)",
                     g->bucket, g->key, range, slot->reply.resp.status, slot->reply.resp.body.len);
            ok = 0;
        }

        pthread_mutex_lock(&g->mu);
        if (ok) {
            slot->state = SLOT_READY;
        } else {
            p11kms_net_reply_clear(&slot->reply);
            slot->state = SLOT_FREE;
            if (!g->failed) {
                g->failed = 1;
                snprintf(g->err, sizeof(g->err), "%s", err);
            }
            pthread_cond_broadcast(&g->cv);
        }
        pthread_mutex_unlock(&g->mu);
        wake_reader(g);
    }
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == 0)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

int tool_s3_get_open(tool_s3 *s, const char *bucket, const char *key, tool_s3_get **out)
{
    tool_s3_get *g;
    p11kms_net_reply r;
    char len[32];
    int rc;

    *out = NULL;
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        tool_err("out of memory");
        return -1;
    }
    g->notify[0] = g->notify[1] = -1;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->s = s;
    g->bucket = strdup(bucket);
    g->key = strdup(key);
    if (g->bucket == NULL || g->key == NULL || pipe2(g->notify, O_CLOEXEC | O_NONBLOCK) != 0) {
        tool_err("out of memory");
        goto fail;
    }
    rc = tool_s3_request(s, "HeadObject", "HEAD", bucket, key, NULL, NULL, 0, NULL, 0, 0, 1,
                         &g->head);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        /* A HEAD cannot say which is missing: the bucket's own HEAD does. */
        rc = tool_s3_request(s, "HeadBucket", "HEAD", bucket, NULL, NULL, NULL, 0, NULL, 0, 0, 1,
                             &r);
        p11kms_net_reply_clear(&r);
        if (rc == 1)
            tool_err("s3://%s/%s: no such bucket", bucket, key);
        else if (rc == 0)
            tool_err("s3://%s/%s: no such object", bucket, key);
        goto fail;
    }
    if (p11kms_http_response_header(&g->head.resp, "Content-Length", len, sizeof(len)) != 1 ||
        parse_u64(len, &g->size) != 0) {
        tool_err("s3://%s/%s: HeadObject: the answer has no size", bucket, key);
        goto fail;
    }
    if (p11kms_http_response_header(&g->head.resp, "ETag", g->etag, sizeof(g->etag)) != 1 ||
        g->etag[0] == 0) {
        tool_err("s3://%s/%s: HeadObject: the answer has no ETag", bucket, key);
        goto fail;
    }
    g->n_ranges = g->size / TOOL_S3_RANGE + (g->size % TOOL_S3_RANGE ? 1 : 0);
    *out = g;
    return 0;
fail:
    tool_s3_get_close(g);
    return -1;
}

static int start(tool_s3_get *g, char *err, size_t err_len)
{
    size_t i, want = g->n_ranges < TOOL_S3_GET_AHEAD ? (size_t)g->n_ranges : TOOL_S3_GET_AHEAD;

    g->started = 1;
    for (i = 0; i < want; i++) {
        if (pthread_create(&g->threads[i], NULL, fetcher_main, g) != 0)
            break;
        g->n_threads++;
    }
    if (want > 0 && g->n_threads == 0) {
        snprintf(err, err_len, "cannot start a thread");
        return -1;
    }
    return 0;
}

/* Wait for the range the reader needs, or a failure, or stop_fd. 0 when READY. */
static int wait_ready(tool_s3_get *g, struct range_slot *slot, uint64_t idx, int stop_fd, char *err,
                      size_t err_len)
{
    struct pollfd pf[2] = {{g->notify[0], POLLIN, 0}, {stop_fd, POLLIN, 0}};
    char drain[64];
    int ready, failed;

    for (;;) {
        pthread_mutex_lock(&g->mu);
        ready = slot->state == SLOT_READY && slot->index == idx;
        failed = g->failed;
        if (failed && !ready)
            snprintf(err, err_len, "%s", g->err);
        pthread_mutex_unlock(&g->mu);
        if (ready)
            return 0;
        if (failed)
            return -1;
        if (poll(pf, stop_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) {
            snprintf(err, err_len, "poll: %s", strerror(errno));
            return -1;
        }
        if (stop_fd >= 0 && pf[1].revents != 0) {
            snprintf(err, err_len, "stopped");
            return -1;
        }
        while (read(g->notify[0], drain, sizeof(drain)) > 0)
            ;
    }
}

ssize_t tool_s3_get_read(void *ctx, void *buf, size_t n, int stop_fd, char *err, size_t err_len)
{
    tool_s3_get *g = ctx;
    uint8_t *out = buf;
    size_t got = 0;

    if (!g->started && start(g, err, err_len) != 0)
        return -1;
    while (got < n && g->offset < g->size) {
        uint64_t idx = g->offset / TOOL_S3_RANGE, at = g->offset % TOOL_S3_RANGE;
        struct range_slot *slot = &g->slots[idx % TOOL_S3_GET_AHEAD];
        size_t take, have;

        if (wait_ready(g, slot, idx, stop_fd, err, err_len) != 0)
            return -1;
        have = slot->reply.resp.body.len - (size_t)at;
        take = n - got < have ? n - got : have;
        memcpy(out + got, slot->reply.resp.body.data + at, take);
        got += take;
        g->offset += take;
        if (take == have) {
            p11kms_net_reply_clear(&slot->reply);
            pthread_mutex_lock(&g->mu);
            slot->state = SLOT_FREE;
            pthread_cond_broadcast(&g->cv);
            pthread_mutex_unlock(&g->mu);
        }
    }
    return (ssize_t)got;
}

void tool_s3_get_close(tool_s3_get *g)
{
    size_t i;

    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    for (i = 0; i < g->n_threads; i++)
        pthread_join(g->threads[i], NULL);
    for (i = 0; i < TOOL_S3_GET_AHEAD; i++)
        p11kms_net_reply_clear(&g->slots[i].reply);
    p11kms_net_reply_clear(&g->head);
    if (g->notify[0] >= 0)
        close(g->notify[0]);
    if (g->notify[1] >= 0)
        close(g->notify[1]);
    free(g->bucket);
    free(g->key);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
