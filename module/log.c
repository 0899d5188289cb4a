/* log.c - one sink for all module log lines: stderr (default), syslog or an append-only file.
 * The sink is chosen once at C_Initialize; writers take a small lock only around the write. */
/*
 * Locking: sink_lock protects sink, log_fd and the syslog openlog state. It is the innermost
 * lock of the module (code holding any other lock may log), and its fork handler takes it
 * before fork() so that a child never inherits it held by a thread that was writing a line.
 * The threshold is atomic: every log macro reads it without the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include "fork.h"
#include "log.h"

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
enum { SINK_STDERR, SINK_SYSLOG, SINK_FILE };
static int sink = SINK_STDERR;
static int log_fd = -1;

atomic_int p11kms_log_threshold = P11KMS_LOG_WARNING;

static void sink_fork_lock(void)
{
    pthread_mutex_lock(&sink_lock);
}

static void sink_fork_unlock(void)
{
    pthread_mutex_unlock(&sink_lock);
}

static p11kms_fork_handler sink_fork = {.rank = P11KMS_FORK_RANK_LOG,
                                        .prepare = sink_fork_lock,
                                        .parent = sink_fork_unlock,
                                        .child = sink_fork_unlock};

__attribute__((constructor)) static void sink_fork_register(void)
{
    p11kms_fork_register(&sink_fork);
}

static const char *const level_names[] = {"none", "error", "warning", "info", "debug"};

int p11kms_log_level_parse(const char *s)
{
    int i;

    if (s == NULL)
        return -1;
    for (i = 0; i <= P11KMS_LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (s[0] >= '0' && s[0] <= '4' && s[1] == '\0')
        return s[0] - '0';
    return -1;
}

static void close_sink_locked(void)
{
    if (sink == SINK_FILE && log_fd >= 0)
        close(log_fd);
    if (sink == SINK_SYSLOG)
        closelog();
    log_fd = -1;
    sink = SINK_STDERR;
}

int p11kms_log_configure(int level, const char *dest)
{
    int ret = 0;

    pthread_mutex_lock(&sink_lock);
    close_sink_locked();
    if (level >= 0 && level <= P11KMS_LOG_DEBUG)
        atomic_store_explicit(&p11kms_log_threshold, level, memory_order_relaxed);
    if (dest == NULL || strcmp(dest, "stderr") == 0) {
        sink = SINK_STDERR;
    } else if (strcmp(dest, "syslog") == 0) {
        openlog("p11kms", LOG_PID, LOG_USER);
        sink = SINK_SYSLOG;
    } else if (strncmp(dest, "file:", 5) == 0 && dest[5] == '/') {
        log_fd = open(dest + 5, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (log_fd >= 0)
            sink = SINK_FILE;
        else
            ret = -1;
    } else {
        ret = -1;
    }
    pthread_mutex_unlock(&sink_lock);
    if (ret != 0)
        LOG_E("log destination \"%s\" unusable (want stderr, syslog or file:/absolute/path); "
              "logging to stderr",
              dest);
    return ret;
}

void p11kms_log_reset(void)
{
    pthread_mutex_lock(&sink_lock);
    close_sink_locked();
    atomic_store_explicit(&p11kms_log_threshold, P11KMS_LOG_WARNING, memory_order_relaxed);
    pthread_mutex_unlock(&sink_lock);
}

static int syslog_priority(int level)
{
    switch (level) {
    case P11KMS_LOG_ERROR:
        return LOG_ERR;
    case P11KMS_LOG_WARNING:
        return LOG_WARNING;
    case P11KMS_LOG_INFO:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

void p11kms_log_write(int level, const char *file, int line, const char *func, const char *fmt,
                      ...)
{
    char msg[1024];
    char out[1200];
    const char *base = strrchr(file, '/');
    va_list ap;
    int n;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One line per message: a newline in a message would let input forge log lines. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    base = base ? base + 1 : file;
    if (level < P11KMS_LOG_ERROR || level > P11KMS_LOG_DEBUG)
        level = P11KMS_LOG_DEBUG;

    pthread_mutex_lock(&sink_lock);
    if (sink == SINK_SYSLOG) {
        syslog(syslog_priority(level), "%s: %s (%s:%d %s)", level_names[level], msg, base, line,
               func);
    } else {
        char stamp[32] = "";
        if (sink == SINK_FILE) {
            struct timespec ts;
            struct tm tm;
            clock_gettime(CLOCK_REALTIME, &ts);
            gmtime_r(&ts.tv_sec, &tm);
            strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
        }
        n = snprintf(out, sizeof(out), "%sp11kms[%ld]: %s: %s (%s:%d %s)\n", stamp,
                     (long)getpid(), level_names[level], msg, base, line, func);
        if (n > (int)sizeof(out) - 1)
            n = (int)sizeof(out) - 1;
        if (n > 0) {
            ssize_t w = write(sink == SINK_FILE ? log_fd : STDERR_FILENO, out, (size_t)n);
            (void)w;
        }
    }
    pthread_mutex_unlock(&sink_lock);
}
