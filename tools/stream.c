/* stream.c - the streaming pipeline behind encrypt and decrypt: a ring of chunk slots filled in
 * order, sealed or opened by workers in any order, written in order here. A pipe or a terminal
 * is read by a reader thread; a regular file is read by the workers themselves, each its own
 * chunk at its own offset, so reading runs in parallel and nothing is handed over. */
/* One mutex protects the slot states and the counters; the bytes of a slot belong to whoever
 * moved it to its current state, so the crypto and the I/O run outside the lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "io.h"
#include "stream.h"
#include "tool.h"

#define MAX_WORKERS 4
/* Slot buffers in total stay under this, whatever the chunk size in a header says. */
#define SLOT_BYTES_BUDGET (32u * 1024u * 1024u)

enum { SLOT_FREE, SLOT_FILLED, SLOT_DONE };

struct slot {
    uint8_t *buf;
    size_t len;    /* bytes in buf: the record read, then the record to write */
    size_t in_len; /* input bytes this chunk consumed, for the progress bar */
    uint64_t index;
    int final;
    int state;
};

struct pipeline {
    pthread_mutex_t mu;
    /* One condition per waiter kind, so each change wakes only who can use it. */
    pthread_cond_t slot_free;  /* the reader waits for its next slot */
    pthread_cond_t work_ready; /* workers wait for a filled slot or the end */
    pthread_cond_t chunk_done; /* the writer waits for its next chunk */
    struct slot *slots;
    size_t n_slots;
    size_t record;      /* full-chunk record read from input: plaintext or ciphertext+tag */
    uint64_t next_fill; /* chunks the reader has published */
    uint64_t next_work; /* chunks workers have claimed */
    int reader_done;    /* the final chunk is published, or the reader stopped */
    /* Positional reads (a regular file): the body starts at base; chunk i's record is read at
     * base + i * record. The writer has written chunks below written; the first chunk found
     * final, and the first found past the end of the input (it shrank), once known. */
    int positional;
    uint64_t base;
    uint64_t written;
    uint64_t final_idx;
    uint64_t past_end_idx;
    int failed;
    char err[1024];
    int stop[2]; /* a pipe: written on failure, so a reader waiting for input stops */
    int encrypt;
    const tool_io_src *src;
    const tool_ff_header *h;
    const uint8_t *key;
};

unsigned tool_stream_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > MAX_WORKERS ? MAX_WORKERS : (unsigned)n;
}

uint64_t tool_stream_plain_len(uint64_t body_len, uint32_t chunk_size)
{
    uint64_t record = (uint64_t)chunk_size + TOOL_FF_TAG_LEN;
    uint64_t chunks = body_len / record + (body_len % record ? 1 : 0);

    if (chunks == 0 || body_len < chunks * TOOL_FF_TAG_LEN)
        return 0;
    return body_len - chunks * TOOL_FF_TAG_LEN;
}

static void wake_all_locked(struct pipeline *p)
{
    pthread_cond_broadcast(&p->slot_free);
    pthread_cond_broadcast(&p->work_ready);
    pthread_cond_broadcast(&p->chunk_done);
}

/* Record the first failure and wake everybody; later failures are consequences. Locked. */
static void fail_locked(struct pipeline *p, const char *fmt, ...)
{
    va_list ap;

    if (!p->failed) {
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof(p->err), fmt, ap);
        va_end(ap);
        p->failed = 1;
        if (write(p->stop[1], "x", 1) != 1)
            abort(); /* a fresh pipe with room for a byte */
    }
    wake_all_locked(p);
}

/* The chunk that ends the input is the final one. To know that a full chunk is not the last,
 * one byte more than a record is read; that byte starts the next record. */
static void *reader_main(void *arg)
{
    struct pipeline *p = arg;
    uint64_t idx;
    uint8_t carry = 0;
    char why[1024];
    int have_carry = 0, stop;

    for (idx = 0;; idx++) {
        struct slot *s = &p->slots[idx % p->n_slots];
        size_t len = 0;
        ssize_t r;
        int final;

        pthread_mutex_lock(&p->mu);
        while (s->state != SLOT_FREE && !p->failed)
            pthread_cond_wait(&p->slot_free, &p->mu);
        stop = p->failed;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;

        if (have_carry)
            s->buf[len++] = carry;
        r = tool_io_src_read(p->src, s->buf + len, p->record + 1 - len, p->stop[0], why,
                             sizeof(why));
        pthread_mutex_lock(&p->mu);
        if (r < 0) {
            fail_locked(p, "%s", why);
            pthread_mutex_unlock(&p->mu);
            break;
        }
        len += (size_t)r;
        final = len <= p->record;
        if (!final) {
            carry = s->buf[p->record];
            have_carry = 1;
            len = p->record;
        }
        if (idx > TOOL_FF_MAX_CHUNKS) {
            fail_locked(p, "the input is too large for this chunk size");
        } else if (!p->encrypt && final && len < TOOL_FF_TAG_LEN) {
            fail_locked(p, "the file is truncated (chunk %llu is incomplete)",
                        (unsigned long long)idx);
        } else {
            s->len = len;
            s->in_len = len;
            s->index = idx;
            s->final = final;
            s->state = SLOT_FILLED;
            p->next_fill = idx + 1;
            pthread_cond_signal(&p->work_ready);
        }
        stop = final || p->failed;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
    }
    pthread_mutex_lock(&p->mu);
    p->reader_done = 1;
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The next chunk the reader thread filled, or NULL when there is none left (or a failure). */
static struct slot *claim_filled(struct pipeline *p)
{
    struct slot *s = NULL;

    pthread_mutex_lock(&p->mu);
    while (!p->failed && p->next_work >= p->next_fill && !p->reader_done)
        pthread_cond_wait(&p->work_ready, &p->mu);
    if (!p->failed && p->next_work < p->next_fill) {
        s = &p->slots[p->next_work % p->n_slots];
        p->next_work++;
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Positional input: claim the next chunk and wait until its slot is free (the chunk n_slots
 * before it is written). The slot, or NULL when the input is known to end before this chunk or
 * on a failure. */
static struct slot *claim_positional(struct pipeline *p)
{
    struct slot *s = NULL;
    uint64_t idx;

    pthread_mutex_lock(&p->mu);
    if (p->failed || p->next_work > p->final_idx)
        goto out;
    idx = p->next_work++;
    while (!p->failed && idx <= p->final_idx && idx >= p->written + p->n_slots)
        pthread_cond_wait(&p->slot_free, &p->mu);
    if (!p->failed && idx <= p->final_idx) {
        s = &p->slots[idx % p->n_slots];
        s->index = idx;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return s;
}

/* Read chunk s->index of a regular file into its slot: as the reader thread does, one byte
 * more than a record is asked for, to know whether the chunk is the last. The count read (at
 * most record + 1), or -1 with errno set. */
static ssize_t fetch_positional(struct pipeline *p, struct slot *s)
{
    return tool_io_pread_full(p->src->fd, s->buf, p->record + 1, p->base + s->index * p->record);
}

/* Read chunk s->index of positional input and publish what it is. The slot, or NULL when it is
 * past the end of the input or on a failure. */
static struct slot *read_positional(struct pipeline *p, struct slot *s)
{
    uint64_t idx = s->index;
    ssize_t r = fetch_positional(p, s);
    int err = errno, final;
    size_t len = r > 0 ? (size_t)r : 0;

    pthread_mutex_lock(&p->mu);
    final = len <= p->record;
    if (r < 0) {
        fail_locked(p, "cannot read the input: %s", strerror(err));
    } else if (final && len == 0 && idx > 0) {
        /* Past the end: chunk idx - 1 was the last (it ended exactly at a record), or the input
         * shrank while it was read, which the writer reports when it gets here. */
        if (idx < p->past_end_idx)
            p->past_end_idx = idx;
        pthread_cond_broadcast(&p->chunk_done);
    } else if (idx > TOOL_FF_MAX_CHUNKS) {
        fail_locked(p, "the input is too large for this chunk size");
    } else if (!p->encrypt && final && len < TOOL_FF_TAG_LEN) {
        fail_locked(p, "the file is truncated (chunk %llu is incomplete)", (unsigned long long)idx);
    } else {
        s->len = final ? len : p->record;
        s->in_len = s->len;
        s->final = final;
        s->state = SLOT_FILLED;
        if (final && idx < p->final_idx) {
            p->final_idx = idx;
            pthread_cond_broadcast(&p->slot_free); /* workers waiting past it give up */
        }
        pthread_mutex_unlock(&p->mu);
        return s;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Seal or open slot s in place: 1 done, 0 the cipher failed (for open: the tag did not
 * verify). */
static int crypt_slot(struct pipeline *p, tool_ff_cipher *c, struct slot *s)
{
    size_t pt_len;
    int ok;

    if (p->encrypt) {
        ok = tool_ff_seal(c, s->index, s->final, s->buf, s->len) == 0;
        if (ok)
            s->len += TOOL_FF_TAG_LEN;
    } else {
        ok = tool_ff_open(c, s->index, s->final, s->buf, s->len, &pt_len) == 0;
        if (ok)
            s->len = pt_len;
    }
    return ok;
}

static void *worker_main(void *arg)
{
    struct pipeline *p = arg;
    tool_ff_cipher c;
    struct slot *s;
    int ok;

    if (tool_ff_cipher_init(&c, p->h, p->key, p->encrypt) != 0) {
        pthread_mutex_lock(&p->mu);
        fail_locked(p, "cannot set up AES-256-GCM");
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    for (;;) {
        if (p->positional) {
            s = claim_positional(p);
            if (s != NULL)
                s = read_positional(p, s);
        } else {
            s = claim_filled(p);
        }
        if (s == NULL)
            break;
        ok = crypt_slot(p, &c, s);

        pthread_mutex_lock(&p->mu);
        if (!ok && p->encrypt)
            fail_locked(p, "encryption of chunk %llu failed", (unsigned long long)s->index);
        else if (!ok && s->final)
            fail_locked(p,
                        "the file is damaged or was tampered with: its last chunk (%llu) does "
                        "not verify as the last (cut short, extended or altered)",
                        (unsigned long long)s->index);
        else if (!ok)
            fail_locked(p, "the file is damaged or was tampered with: chunk %llu does not verify",
                        (unsigned long long)s->index);
        else
            s->state = SLOT_DONE;
        pthread_cond_signal(&p->chunk_done);
        pthread_mutex_unlock(&p->mu);
    }
    tool_ff_cipher_free(&c);
    return NULL;
}

/* The calling thread writes the chunks in order, each only after it was sealed or verified. */
static void write_in_order(struct pipeline *p, const tool_io_sink *sink, tool_progress *progress)
{
    uint64_t idx, consumed = 0;
    char why[1024];

    for (idx = 0;; idx++) {
        struct slot *s = &p->slots[idx % p->n_slots];
        int final, stop;

        pthread_mutex_lock(&p->mu);
        while ((s->state != SLOT_DONE || s->index != idx) && !p->failed) {
            if (idx >= p->past_end_idx) {
                fail_locked(p, "the input shrank while it was being read");
                break;
            }
            pthread_cond_wait(&p->chunk_done, &p->mu);
        }
        stop = p->failed;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return;

        final = s->final;
        if (tool_io_sink_write(sink, s->buf, s->len, why, sizeof(why)) != 0) {
            pthread_mutex_lock(&p->mu);
            fail_locked(p, "%s", why);
            pthread_mutex_unlock(&p->mu);
            return;
        }
        consumed += s->in_len;
        tool_progress_update(progress, consumed);

        pthread_mutex_lock(&p->mu);
        s->state = SLOT_FREE;
        p->written = idx + 1;
        /* positional workers may wait for different slots: wake them all */
        if (p->positional)
            pthread_cond_broadcast(&p->slot_free);
        else
            pthread_cond_signal(&p->slot_free);
        pthread_mutex_unlock(&p->mu);
        if (final)
            return;
    }
}

/* Whether in_fd is a regular file read from *base on (its current offset, after any header). */
static int positional_input(int in_fd, uint64_t *base)
{
    struct stat st;
    off_t off;

    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    off = lseek(in_fd, 0, SEEK_CUR);
    if (off < 0)
        return 0;
    *base = (uint64_t)off;
    return 1;
}

int tool_stream_run(const tool_ff_header *h, const uint8_t key[TOOL_FF_KEY_LEN], int encrypt,
                    int in_fd, int out_fd, tool_progress *progress)
{
    tool_io_src src = {.fd = in_fd};
    tool_io_sink sink = {.fd = out_fd};

    return tool_stream_run_io(h, key, encrypt, &src, &sink, progress);
}

int tool_stream_run_io(const tool_ff_header *h, const uint8_t key[TOOL_FF_KEY_LEN], int encrypt,
                       const tool_io_src *src, const tool_io_sink *sink, tool_progress *progress)
{
    struct pipeline p;
    pthread_t reader, workers[MAX_WORKERS];
    unsigned n_workers = tool_stream_workers(), started = 0, i;
    int rv = -1;
    size_t cap;

    memset(&p, 0, sizeof(p));
    if (pipe2(p.stop, O_CLOEXEC) != 0) {
        tool_err("cannot create a pipe: %s", strerror(errno));
        return -1;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.slot_free, NULL);
    pthread_cond_init(&p.work_ready, NULL);
    pthread_cond_init(&p.chunk_done, NULL);
    p.encrypt = encrypt;
    p.src = src;
    p.h = h;
    p.key = key;
    p.record = h->chunk_size + (encrypt ? 0 : TOOL_FF_TAG_LEN);
    p.final_idx = UINT64_MAX;
    p.past_end_idx = UINT64_MAX;
    p.positional = src->read == NULL && positional_input(src->fd, &p.base);
    cap = (size_t)h->chunk_size + TOOL_FF_TAG_LEN + 1;
    p.n_slots = 2 * n_workers + 2;
    if (p.n_slots * cap > SLOT_BYTES_BUDGET)
        p.n_slots = SLOT_BYTES_BUDGET / cap < 3 ? 3 : SLOT_BYTES_BUDGET / cap;
    p.slots = calloc(p.n_slots, sizeof(*p.slots));
    if (p.slots == NULL) {
        tool_err("out of memory");
        goto out;
    }
    for (i = 0; i < p.n_slots; i++) {
        p.slots[i].buf = malloc(cap);
        if (p.slots[i].buf == NULL) {
            tool_err("out of memory");
            goto out;
        }
    }

    if (!p.positional && pthread_create(&reader, NULL, reader_main, &p) != 0) {
        tool_err("cannot start a thread");
        goto out;
    }
    for (i = 0; i < n_workers; i++) {
        if (pthread_create(&workers[i], NULL, worker_main, &p) != 0)
            break;
        started++;
    }
    if (started == 0) {
        pthread_mutex_lock(&p.mu);
        fail_locked(&p, "cannot start a thread");
        pthread_mutex_unlock(&p.mu);
    } else {
        write_in_order(&p, sink, progress);
    }

    for (i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    if (!p.positional)
        pthread_join(reader, NULL);

    tool_progress_end(progress);
    if (p.failed) {
        tool_err("%s", p.err);
        goto out;
    }
    rv = 0;
out:
    if (p.slots != NULL) {
        for (i = 0; i < p.n_slots; i++)
            if (p.slots[i].buf != NULL) {
                OPENSSL_cleanse(p.slots[i].buf, cap); /* plaintext passed through here */
                free(p.slots[i].buf);
            }
        free(p.slots);
    }
    pthread_cond_destroy(&p.slot_free);
    pthread_cond_destroy(&p.work_ready);
    pthread_cond_destroy(&p.chunk_done);
    pthread_mutex_destroy(&p.mu);
    close(p.stop[0]);
    close(p.stop[1]);
    return rv;
}
