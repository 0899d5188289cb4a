/* s3-put.c - an S3 object written as a stream: bytes fill part buffers; the first full part that
 * is not the last starts a multipart upload, whose parts go up from a few threads while the next
 * part fills; the end completes it, any failure or signal aborts it. */
/* Locking: mu protects the buffers' states, the part count, the ETags, the upload id, creating,
 * failed/err and the signal state; the bytes of a buffer belong to whoever moved it to its state
 * (the writer filling it, the uploader sending it), so requests run outside the lock. Signals
 * are blocked in every thread of the process and taken by one thread (sigwait). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "net/sbuf.h"
#include "s3-put.h"
#include "tool.h"

#define PUT_BUFS_MAX 5
#define ETAG_MAX 128
#define UPLOAD_ID_MAX 1024

enum { BUF_FREE, BUF_FILLING, BUF_QUEUED, BUF_SENDING };

struct part_buf {
    uint8_t *p; /* allocated on first use */
    size_t len;
    unsigned part_no;
    int state;
};

struct tool_s3_put {
    tool_s3 *s;
    char *bucket;
    char *key;
    p11kms_http_header headers[TOOL_S3_HEADERS_MAX];
    size_t n_headers;
    int no_replace;
    char *owned[2 * TOOL_S3_PUT_META_MAX]; /* x-amz-meta-<name> strings */
    size_t part_size;
    struct part_buf bufs[PUT_BUFS_MAX];
    size_t n_bufs;
    struct part_buf *cur; /* the writer's buffer being filled */
    pthread_t threads[PUT_BUFS_MAX];
    size_t n_threads;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* any change of a buffer's state, failure, the end */
    unsigned parts;    /* parts queued so far */
    char **etags;      /* of part n at n - 1 */
    size_t etags_cap;
    char *upload_id; /* set once the multipart upload exists; freed only by tool_s3_put_end */
    char *q_upload;  /* "uploadId=<escaped>", likewise */
    int settled;     /* completed or aborted: nothing left to abort */
    int creating;    /* CreateMultipartUpload in flight */
    int closing;     /* no more parts: the uploaders end when the queue is empty */
    int failed;
    char err[1536];

    /* the signal guard */
    pthread_t sig_thread;
    int sig_started;
    int sig_handling; /* a signal arrived: its thread aborts the upload and ends the process */
    int finished;     /* the guard is lifted: a signal now is the default action */
    sigset_t old_mask;
};

unsigned tool_s3_put_parts(const tool_s3_put *u)
{
    return u->upload_id != NULL ? u->parts : 0;
}

static void fail_locked(tool_s3_put *u, const char *line)
{
    if (!u->failed) {
        u->failed = 1;
        snprintf(u->err, sizeof(u->err), "%s", line);
    }
    pthread_cond_broadcast(&u->cv);
}

/* ---- the requests ---------------------------------------------------------------------------- */

static int upload_part(tool_s3_put *u, struct part_buf *b, char *etag, char *err, size_t err_len)
{
    p11kms_http_header h[1];
    p11kms_net_reply r;
    char q[UPLOAD_ID_MAX * 3 + 64];
    tool_s3_req rq = {"UploadPart", "PUT", u->bucket, u->key, q, h, 0, b->p, b->len, 4096, 0};
    size_t i;
    int ret = -1;

    snprintf(q, sizeof(q), "partNumber=%u&%s", b->part_no, u->q_upload);
    if (tool_s3_call(u->s, &rq, &r, err, err_len) != 0)
        goto out;
    if (p11kms_http_response_header(&r.resp, "ETag", etag, ETAG_MAX) != 1 || etag[0] == 0) {
        snprintf(err, err_len, "s3://%s/%s: UploadPart %u: the answer has no ETag", u->bucket,
                 u->key, b->part_no);
        goto out;
    }
    /* It goes back into CompleteMultipartUpload's XML as it is. */
    for (i = 0; etag[i] != 0; i++)
        if (etag[i] < 0x20 || etag[i] >= 0x7f || etag[i] == '<' || etag[i] == '>' ||
            etag[i] == '&') {
            snprintf(err, err_len, "s3://%s/%s: UploadPart %u: malformed ETag", u->bucket, u->key,
                     b->part_no);
            goto out;
        }
    ret = 0;
out:
    p11kms_net_reply_clear(&r);
    return ret;
}

static void *uploader_main(void *arg)
{
    tool_s3_put *u = arg;
    char etag[ETAG_MAX], err[1536];
    size_t i;

    for (;;) {
        struct part_buf *b = NULL;
        int ok;

        pthread_mutex_lock(&u->mu);
        for (;;) {
            if (u->failed)
                break;
            for (i = 0; i < u->n_bufs; i++)
                if (u->bufs[i].state == BUF_QUEUED &&
                    (b == NULL || u->bufs[i].part_no < b->part_no))
                    b = &u->bufs[i];
            if (b != NULL || u->closing)
                break;
            pthread_cond_wait(&u->cv, &u->mu);
        }
        if (b == NULL) {
            pthread_mutex_unlock(&u->mu);
            return NULL;
        }
        b->state = BUF_SENDING;
        pthread_mutex_unlock(&u->mu);

        ok = upload_part(u, b, etag, err, sizeof(err)) == 0;

        pthread_mutex_lock(&u->mu);
        if (ok) {
            u->etags[b->part_no - 1] = strdup(etag);
            if (u->etags[b->part_no - 1] == NULL)
                fail_locked(u, "out of memory");
        } else {
            fail_locked(u, err);
        }
        b->state = BUF_FREE;
        b->len = 0;
        pthread_cond_broadcast(&u->cv);
        pthread_mutex_unlock(&u->mu);
    }
}

/* CreateMultipartUpload and the uploader threads. Called by the writer with mu not held. */
static int start_multipart(tool_s3_put *u, char *err, size_t err_len)
{
    p11kms_net_reply r;
    tool_s3_req rq = {"CreateMultipartUpload",
                      "POST",
                      u->bucket,
                      u->key,
                      "uploads=",
                      u->headers,
                      u->n_headers,
                      NULL,
                      0,
                      65536,
                      0};
    char *id = NULL, *q = NULL, *eq = NULL;
    size_t i;
    int ret = -1;

    pthread_mutex_lock(&u->mu);
    u->creating = 1;
    pthread_mutex_unlock(&u->mu);
    if (tool_s3_call(u->s, &rq, &r, err, err_len) != 0)
        goto done;
    id = r.resp.body.data != NULL
             ? tool_s3_xml_text((const char *)r.resp.body.data, r.resp.body.len, "UploadId", 0)
             : NULL;
    if (id == NULL || id[0] == 0 || strlen(id) > UPLOAD_ID_MAX) {
        snprintf(err, err_len, "s3://%s/%s: CreateMultipartUpload: the answer has no upload id",
                 u->bucket, u->key);
        goto done;
    }
    eq = tool_s3_query_escape(id);
    q = eq != NULL ? malloc(strlen(eq) + 10) : NULL;
    if (q == NULL) {
        snprintf(err, err_len, "out of memory");
        goto done;
    }
    snprintf(q, strlen(eq) + 10, "uploadId=%s", eq);
    ret = 0;
done:
    pthread_mutex_lock(&u->mu);
    u->creating = 0;
    if (ret == 0) {
        u->upload_id = id;
        u->q_upload = q;
        id = q = NULL;
    }
    pthread_cond_broadcast(&u->cv);
    /* A signal that came meanwhile aborts what was just created; nothing more is sent. */
    if (ret == 0 && u->sig_handling) {
        snprintf(err, err_len, "interrupted");
        ret = -1;
    }
    pthread_mutex_unlock(&u->mu);
    if (ret == 0) {
        for (i = 0; i + 1 < u->n_bufs; i++) {
            if (pthread_create(&u->threads[i], NULL, uploader_main, u) != 0)
                break;
            u->n_threads++;
        }
        if (u->n_threads == 0) {
            snprintf(err, err_len, "cannot start a thread");
            ret = -1;
        }
    }
    p11kms_net_reply_clear(&r);
    free(id);
    free(q);
    free(eq);
    return ret;
}

/* Abort the multipart upload (if there is one), once. Returns 0 or -1 with the reason in err. */
static int abort_upload(tool_s3_put *u, char *err, size_t err_len)
{
    p11kms_net_reply r;
    tool_s3_req rq = {
        "AbortMultipartUpload", "DELETE", u->bucket, u->key, NULL, NULL, 0, NULL, 0, 65536, 1};
    char *q;
    int rc;

    pthread_mutex_lock(&u->mu);
    q = u->q_upload;
    if (u->settled)
        q = NULL;
    u->settled = 1;
    pthread_mutex_unlock(&u->mu);
    if (q == NULL)
        return 0;
    rq.query = q;
    /* 404 NoSuchUpload: already gone (completed or aborted), nothing left either way. */
    rc = tool_s3_call(u->s, &rq, &r, err, err_len);
    p11kms_net_reply_clear(&r);
    return rc < 0 ? -1 : 0;
}

/* ---- the signal guard ------------------------------------------------------------------------ */

/* unguard's wake-up call to the signal thread: a real-time signal nobody else sends. */
#define WAKE_SIGNAL SIGRTMIN

static void guarded_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGQUIT);
    sigaddset(set, WAKE_SIGNAL);
}

static void *signal_main(void *arg)
{
    tool_s3_put *u = arg;
    sigset_t set;
    char err[1536];
    int sig;

    guarded_set(&set);
    for (;;) {
        while ((sig = sigwaitinfo(&set, NULL)) < 0)
            ;
        pthread_mutex_lock(&u->mu);
        if (u->finished) {
            pthread_mutex_unlock(&u->mu);
            /* unguard's wake-up call ends this thread; another signal, come as the guard was
             * lifted, is made pending again and delivered when the mask is restored. */
            if (sig != WAKE_SIGNAL)
                kill(getpid(), sig);
            return NULL;
        }
        if (sig != WAKE_SIGNAL)
            break;
        pthread_mutex_unlock(&u->mu);
    }
    u->sig_handling = 1;
    fail_locked(u, "interrupted");
    /* An upload being created is aborted once it exists. */
    while (u->creating)
        pthread_cond_wait(&u->cv, &u->mu);
    pthread_mutex_unlock(&u->mu);
    if (abort_upload(u, err, sizeof(err)) != 0)
        tool_err("%s (interrupted; the upload holds no visible object)", err);
    signal(sig, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    /* The default action of these signals ends the process; a handler another part installed
     * would not: end it as the signal would have. */
    _exit(128 + sig);
}

static int guard(tool_s3_put *u)
{
    sigset_t set;

    guarded_set(&set);
    if (pthread_sigmask(SIG_BLOCK, &set, &u->old_mask) != 0)
        return -1;
    if (pthread_create(&u->sig_thread, NULL, signal_main, u) != 0) {
        pthread_sigmask(SIG_SETMASK, &u->old_mask, NULL);
        return -1;
    }
    u->sig_started = 1;
    return 0;
}

/* Lift the guard: a signal being handled ends the process in its thread (wait for it). */
static void unguard(tool_s3_put *u)
{
    int handling;

    if (!u->sig_started)
        return;
    pthread_mutex_lock(&u->mu);
    handling = u->sig_handling;
    u->finished = 1;
    pthread_mutex_unlock(&u->mu);
    if (handling)
        for (;;)
            pause();
    /* Not pthread_cancel: a thread cancelled in sigwait trips AddressSanitizer's thread exit. */
    pthread_kill(u->sig_thread, WAKE_SIGNAL);
    pthread_join(u->sig_thread, NULL);
    u->sig_started = 0;
    /* A signal that arrived after the guard was lifted is delivered as it unblocks. */
    pthread_sigmask(SIG_SETMASK, &u->old_mask, NULL);
}

/* ---- the sink -------------------------------------------------------------------------------- */

static size_t part_size_for(const tool_s3_put_opts *o)
{
    uint64_t p = TOOL_S3_PART_MIN, mib = 1u << 20;

    /* Known inputs get parts that fit in S3's 10,000 (a few spare for the header and tags). */
    if (o->size_hint / (TOOL_S3_PARTS_MAX - 16) + 1 > p)
        p = o->size_hint / (TOOL_S3_PARTS_MAX - 16) + 1;
    if (o->min_part > p)
        p = o->min_part;
    return (size_t)((p + mib - 1) / mib * mib);
}

static int add_header(tool_s3_put *u, const char *name, const char *value)
{
    if (u->n_headers == TOOL_S3_HEADERS_MAX)
        return -1;
    u->headers[u->n_headers++] = (p11kms_http_header){name, value};
    return 0;
}

int tool_s3_put_begin(tool_s3 *s, const char *bucket, const char *key, const tool_s3_put_opts *o,
                      tool_s3_put **out)
{
    tool_s3_put *u;
    size_t i, n;

    *out = NULL;
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        goto nomem;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    u->s = s;
    u->bucket = strdup(bucket);
    u->key = strdup(key);
    if (u->bucket == NULL || u->key == NULL)
        goto nomem;
    u->part_size = part_size_for(o);
    u->no_replace = o->no_replace;
    u->n_bufs = TOOL_S3_PUT_BUDGET / u->part_size;
    if (u->n_bufs < 2)
        u->n_bufs = 2;
    if (u->n_bufs > PUT_BUFS_MAX)
        u->n_bufs = PUT_BUFS_MAX;
    u->etags_cap = 0;
    if (add_header(u, "Content-Type", "application/octet-stream") != 0)
        goto nomem;
    for (i = 0; i < o->n_meta && i < TOOL_S3_PUT_META_MAX; i++) {
        n = strlen(o->meta_names[i]) + 12;
        u->owned[2 * i] = malloc(n);
        u->owned[2 * i + 1] = strdup(o->meta_values[i]);
        if (u->owned[2 * i] == NULL || u->owned[2 * i + 1] == NULL)
            goto nomem;
        snprintf(u->owned[2 * i], n, "x-amz-meta-%s", o->meta_names[i]);
        if (add_header(u, u->owned[2 * i], u->owned[2 * i + 1]) != 0)
            goto nomem;
    }
    if ((o->sse != NULL && add_header(u, "x-amz-server-side-encryption", o->sse) != 0) ||
        (o->sse_kms_key != NULL &&
         add_header(u, "x-amz-server-side-encryption-aws-kms-key-id", o->sse_kms_key) != 0))
        goto nomem;
    if (guard(u) != 0) {
        tool_err("cannot start a thread");
        tool_s3_put_end(u);
        return -1;
    }
    *out = u;
    return 0;
nomem:
    tool_err("out of memory");
    tool_s3_put_end(u);
    return -1;
}

/* A buffer to fill: a free one, waiting while all are queued or sending. NULL on failure. */
static struct part_buf *take_buffer(tool_s3_put *u, char *err, size_t err_len)
{
    struct part_buf *b = NULL;
    size_t i;

    pthread_mutex_lock(&u->mu);
    for (;;) {
        if (u->failed) {
            snprintf(err, err_len, "%s", u->err);
            break;
        }
        for (i = 0; i < u->n_bufs && b == NULL; i++)
            if (u->bufs[i].state == BUF_FREE)
                b = &u->bufs[i];
        if (b != NULL)
            break;
        pthread_cond_wait(&u->cv, &u->mu);
    }
    if (b != NULL)
        b->state = BUF_FILLING;
    pthread_mutex_unlock(&u->mu);
    if (b != NULL && b->p == NULL && (b->p = malloc(u->part_size)) == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    return b;
}

/* Hand the writer's full buffer to the uploaders as the next part. */
static int queue_part(tool_s3_put *u, char *err, size_t err_len)
{
    char **e;
    int ret = -1;

    pthread_mutex_lock(&u->mu);
    if (u->failed) {
        snprintf(err, err_len, "%s", u->err);
        goto out;
    }
    if (u->parts == TOOL_S3_PARTS_MAX) {
        fail_locked(u, "the input is too large for S3's 10,000 parts");
        snprintf(err, err_len,
                 "s3://%s/%s: the input is too large for S3's 10,000 parts of %zu "
                 "MiB",
                 u->bucket, u->key, u->part_size >> 20);
        goto out;
    }
    if (u->parts == u->etags_cap) {
        size_t cap = u->etags_cap ? 2 * u->etags_cap : 64;

        e = realloc(u->etags, cap * sizeof(*e));
        if (e == NULL) {
            fail_locked(u, "out of memory");
            snprintf(err, err_len, "out of memory");
            goto out;
        }
        memset(e + u->etags_cap, 0, (cap - u->etags_cap) * sizeof(*e));
        u->etags = e;
        u->etags_cap = cap;
    }
    u->cur->part_no = ++u->parts;
    u->cur->state = BUF_QUEUED;
    u->cur = NULL;
    pthread_cond_broadcast(&u->cv);
    ret = 0;
out:
    pthread_mutex_unlock(&u->mu);
    return ret;
}

int tool_s3_put_write(void *ctx, const void *buf, size_t n, char *err, size_t err_len)
{
    tool_s3_put *u = ctx;
    const uint8_t *p = buf;
    size_t take;

    while (n > 0) {
        if (u->cur == NULL && (u->cur = take_buffer(u, err, err_len)) == NULL)
            return -1;
        if (u->cur->len == u->part_size) {
            /* A full part and more to come: it is not the last, so it goes up as a part. */
            if (u->upload_id == NULL && start_multipart(u, err, err_len) != 0) {
                pthread_mutex_lock(&u->mu);
                fail_locked(u, err);
                pthread_mutex_unlock(&u->mu);
                return -1;
            }
            if (queue_part(u, err, err_len) != 0)
                return -1;
            continue;
        }
        take = u->part_size - u->cur->len;
        if (take > n)
            take = n;
        memcpy(u->cur->p + u->cur->len, p, take);
        u->cur->len += take;
        p += take;
        n -= take;
    }
    return 0;
}

static const p11kms_http_header if_none_match = {"If-None-Match", "*"};

static int put_single(tool_s3_put *u)
{
    p11kms_http_header h[TOOL_S3_HEADERS_MAX + 1];
    p11kms_net_reply r;
    tool_s3_req rq = {"PutObject",
                      "PUT",
                      u->bucket,
                      u->key,
                      NULL,
                      h,
                      u->n_headers,
                      u->cur != NULL ? u->cur->p : NULL,
                      u->cur != NULL ? u->cur->len : 0,
                      65536,
                      0};
    int rc;

    memcpy(h, u->headers, u->n_headers * sizeof(h[0]));
    if (u->no_replace)
        h[rq.n_headers++] = if_none_match;
    rc = tool_s3_call(u->s, &rq, &r, u->err, sizeof(u->err));
    p11kms_net_reply_clear(&r);
    return rc;
}

static int complete(tool_s3_put *u)
{
    p11kms_net_reply r;
    tool_s3_req rq = {"CompleteMultipartUpload",
                      "POST",
                      u->bucket,
                      u->key,
                      u->q_upload,
                      &if_none_match,
                      u->no_replace ? 1 : 0,
                      NULL,
                      0,
                      65536,
                      0};
    p11kms_sbuf x;
    char num[16];
    unsigned i;
    int rc = -1;

    p11kms_sbuf_init(&x, 0);
    p11kms_sbuf_str(&x,
                    "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (i = 0; i < u->parts; i++) {
        snprintf(num, sizeof(num), "%u", i + 1);
        p11kms_sbuf_str(&x, "<Part><PartNumber>");
        p11kms_sbuf_str(&x, num);
        p11kms_sbuf_str(&x, "</PartNumber><ETag>");
        p11kms_sbuf_str(&x, u->etags[i]);
        p11kms_sbuf_str(&x, "</ETag></Part>");
    }
    p11kms_sbuf_str(&x, "</CompleteMultipartUpload>");
    if (x.failed) {
        snprintf(u->err, sizeof(u->err), "out of memory");
        goto out;
    }
    rq.data = (const uint8_t *)x.p;
    rq.data_len = x.len;
    rc = tool_s3_call(u->s, &rq, &r, u->err, sizeof(u->err));
    p11kms_net_reply_clear(&r);
out:
    p11kms_sbuf_wipe(&x);
    return rc;
}

/* Let the uploaders finish the queue (or stop at a failure) and end. */
static void drain(tool_s3_put *u)
{
    size_t i;

    pthread_mutex_lock(&u->mu);
    u->closing = 1;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    for (i = 0; i < u->n_threads; i++)
        pthread_join(u->threads[i], NULL);
    u->n_threads = 0;
}

int tool_s3_put_finish(tool_s3_put *u)
{
    char err[1536];
    int failed;

    pthread_mutex_lock(&u->mu);
    failed = u->failed;
    pthread_mutex_unlock(&u->mu);
    if (failed) {
        tool_err("%s", u->err);
        return -1;
    }
    if (u->upload_id == NULL) {
        if (put_single(u) != 0)
            goto fail;
        return 0;
    }
    if (u->cur != NULL && u->cur->len > 0 && queue_part(u, err, sizeof(err)) != 0)
        goto fail;
    drain(u);
    if (u->failed || complete(u) != 0)
        goto fail;
    pthread_mutex_lock(&u->mu);
    u->settled = 1; /* nothing to abort now */
    pthread_mutex_unlock(&u->mu);
    return 0;
fail:
    pthread_mutex_lock(&u->mu);
    u->failed = 1;
    pthread_mutex_unlock(&u->mu);
    drain(u);
    if (abort_upload(u, err, sizeof(err)) != 0)
        tool_err("%s; and the upload could not be aborted: %s", u->err, err);
    else
        tool_err("%s", u->err);
    return -1;
}

void tool_s3_put_end(tool_s3_put *u)
{
    char err[1536];
    size_t i;

    if (u == NULL)
        return;
    pthread_mutex_lock(&u->mu);
    fail_locked(u, "stopped");
    pthread_mutex_unlock(&u->mu);
    drain(u);
    if (abort_upload(u, err, sizeof(err)) != 0)
        tool_err("the upload could not be aborted: %s", err);
    unguard(u);
    for (i = 0; i < PUT_BUFS_MAX; i++)
        free(u->bufs[i].p); /* ciphertext only */
    for (i = 0; i < u->etags_cap; i++)
        free(u->etags[i]);
    free(u->etags);
    for (i = 0; i < 2 * TOOL_S3_PUT_META_MAX; i++)
        free(u->owned[i]);
    free(u->upload_id);
    free(u->q_upload);
    free(u->bucket);
    free(u->key);
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}
