/* logcap.h - unit-test helper: send the module log to a temporary file and read back the lines
 * written since the last look, so tests can assert what an error line names. */
#ifndef P11KMS_TEST_LOGCAP_H
#define P11KMS_TEST_LOGCAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"

static char logcap_path[64];
static long logcap_seen;
static char logcap_text[16384];

/* Start capturing at the given level; the file is removed at exit. */
static void logcap_remove(void)
{
    p11kms_log_reset();
    if (logcap_path[0] != '\0')
        unlink(logcap_path);
}

static inline void logcap_start(int level)
{
    char dest[80];
    int fd;

    strcpy(logcap_path, "/tmp/p11kms-logcap-XXXXXX");
    fd = mkstemp(logcap_path);
    if (fd < 0) {
        perror("mkstemp");
        exit(99);
    }
    close(fd);
    atexit(logcap_remove);
    snprintf(dest, sizeof(dest), "file:%s", logcap_path);
    if (p11kms_log_configure(level, dest) != 0) {
        fprintf(stderr, "cannot log to %s\n", logcap_path);
        exit(99);
    }
}

/* The log text written since the previous call (NUL-terminated, possibly truncated). */
static inline const char *logcap_take(void)
{
    FILE *f = fopen(logcap_path, "r");
    size_t n = 0;

    logcap_text[0] = '\0';
    if (f == NULL)
        return logcap_text;
    if (fseek(f, logcap_seen, SEEK_SET) == 0)
        n = fread(logcap_text, 1, sizeof(logcap_text) - 1, f);
    logcap_text[n] = '\0';
    fseek(f, 0, SEEK_END);
    logcap_seen = ftell(f);
    fclose(f);
    return logcap_text;
}

/* How many lines of the given level ("error", "debug", ...) text holds. */
static inline int logcap_count(const char *text, const char *level)
{
    char needle[32];
    const char *p = text;
    int n = 0;

    snprintf(needle, sizeof(needle), ": %s: ", level);
    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

#endif
