/* audit.c - the audit trail's writer (audit.h): records formatted as one JSON line each and
 * written with one write(2) on an O_APPEND descriptor (lines of concurrent threads and
 * processes never interleave) or one syslog(3) call.
 * State: dest_fd, dest_syslog and context_values are set by p11kms_audit_open in C_Initialize
 * (under init.c's init_lock, before the module goes live) and cleared by p11kms_audit_close in
 * C_Finalize after every call has left; calls only read them. No lock of its own, so a forked
 * child inherits nothing it could deadlock on. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include "audit.h"
#include "log.h"

static int dest_fd = -1;
static int dest_syslog;
static int context_values;

CK_RV p11kms_audit_open(const p11kms_config *cfg)
{
    const char *d = cfg->audit_destination;

    p11kms_audit_close();
    if (d == NULL)
        return CKR_OK;
    context_values = cfg->audit_context_values;
    if (strcmp(d, "syslog") == 0) {
        dest_syslog = 1;
        return CKR_OK;
    }
    dest_fd = open(d + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (dest_fd < 0) {
        LOG_E("audit destination %s cannot be opened (%s): the module does not start without "
              "its configured audit trail",
              d, strerror(errno));
        return CKR_GENERAL_ERROR;
    }
    return CKR_OK;
}

void p11kms_audit_close(void)
{
    if (dest_fd >= 0)
        close(dest_fd);
    dest_fd = -1;
    dest_syslog = 0;
    context_values = 0;
}

int p11kms_audit_on(void)
{
    return dest_fd >= 0 || dest_syslog;
}

/* An appender that stops at the end of its buffer and remembers it did. */
typedef struct jbuf {
    char *p;
    size_t len, used;
    int full;
} jbuf;

static void put(jbuf *b, const char *s, size_t n)
{
    if (b->full || b->len - b->used <= n) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->used, s, n);
    b->used += n;
    b->p[b->used] = '\0';
}

static void putf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(jbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        b->full = 1;
    else
        put(b, tmp, (size_t)n);
}

/* A JSON string: quotes, backslashes and control bytes escaped; other bytes as they are (every
 * string here is UTF-8 checked where it enters the module). */
static void put_str(jbuf *b, const char *s, size_t n)
{
    size_t i;

    put(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            putf(b, "\\u%04x", c);
        } else {
            put(b, (const char *)&s[i], 1);
        }
    }
    put(b, "\"", 1);
}

static void put_field(jbuf *b, const char *name, const char *value)
{
    putf(b, ",\"%s\":", name);
    if (value == NULL)
        put(b, "null", 4);
    else
        put_str(b, value, strlen(value));
}

static const char *outcome(const p11kms_audit_event *ev)
{
    if (ev->outcome != NULL)
        return ev->outcome;
    if (ev->rv == CKR_OK)
        return "ok";
    if (ev->report != NULL && ev->report->fault == P11KMS_FAULT_UNAVAILABLE)
        return "unavailable";
    if (ev->report != NULL && ev->report->fault == P11KMS_FAULT_DEFINITIVE)
        return "refused";
    /* failures without a remote answer: the local backend's refusals, memory */
    return ev->rv == CKR_ENCRYPTED_DATA_INVALID || ev->rv == CKR_KEY_FUNCTION_NOT_PERMITTED
               ? "refused"
               : "error";
}

size_t p11kms_audit_format(const p11kms_audit_event *ev, int with_values, char *buf, size_t len)
{
    jbuf b = {buf, len, 0, 0};
    struct timespec ts;
    struct tm tm;
    char when[32];
    size_t i;

    if (len == 0)
        return 0;
    buf[0] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    putf(&b, "{\"time\":\"%s.%03ldZ\"", when, ts.tv_nsec / 1000000L);
    put_field(&b, "op", ev->op);
    put_field(&b, "token", ev->kc->token);
    put_field(&b, "key", ev->kc->label);
    put_field(&b, "backend", ev->backend);
    put_field(&b, "kms_key", ev->kms_key);
    put_field(&b, "entry", ev->role);
    put(&b, ",\"context_keys\":[", 17);
    for (i = 0; ev->ctx != NULL && i < ev->ctx->n; i++) {
        if (i > 0)
            put(&b, ",", 1);
        put_str(&b, ev->ctx->pairs[i].key, ev->ctx->pairs[i].key_len);
    }
    put(&b, "]", 1);
    if (with_values) {
        put(&b, ",\"context\":{", 12);
        for (i = 0; ev->ctx != NULL && i < ev->ctx->n; i++) {
            if (i > 0)
                put(&b, ",", 1);
            put_str(&b, ev->ctx->pairs[i].key, ev->ctx->pairs[i].key_len);
            put(&b, ":", 1);
            put_str(&b, ev->ctx->pairs[i].value, ev->ctx->pairs[i].value_len);
        }
        put(&b, "}", 1);
    }
    putf(&b, ",\"context_accepted\":%d", ev->context_accepted);
    put_field(&b, "outcome", outcome(ev));
    put_field(&b, "rv", p11kms_rv_name(ev->rv));
    put_field(&b, "fault",
              p11kms_kms_fault_name(ev->report != NULL ? ev->report->fault : P11KMS_FAULT_NONE));
    put_field(&b, "request_id",
              ev->report != NULL && ev->report->request_id[0] ? ev->report->request_id : NULL);
    putf(&b, ",\"http_status\":%ld", ev->report != NULL ? ev->report->status : 0L);
    putf(&b, ",\"latency_ms\":%llu", (unsigned long long)ev->latency_ms);
    putf(&b, ",\"pid\":%ld}", (long)getpid());
    return b.full ? 0 : b.used;
}

void p11kms_audit_record(const p11kms_audit_event *ev)
{
    /* Keys, labels and references are bounded (2 KiB each); a context's encoding is at most
     * 8 KiB, and escaping may grow a byte to six. */
    size_t cap = 16384 + 6 * (size_t)P11KMS_CONTEXT_MAX_ENCODED, n;
    char *buf;
    ssize_t w;

    if (!p11kms_audit_on())
        return;
    buf = malloc(cap);
    if (buf == NULL) {
        LOG_E("audit: out of memory, a record of %s with key \"%s\" was not written", ev->op,
              ev->kc->label);
        return;
    }
    n = p11kms_audit_format(ev, context_values, buf, cap - 1);
    if (n == 0) {
        LOG_E("audit: a record of %s with key \"%s\" did not fit", ev->op, ev->kc->label);
    } else if (dest_syslog) {
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", buf);
    } else {
        buf[n++] = '\n';
        w = write(dest_fd, buf, n);
        if (w < 0 || (size_t)w != n)
            LOG_E("audit: writing a record failed (%s)", w < 0 ? strerror(errno) : "short write");
    }
    free(buf);
}
