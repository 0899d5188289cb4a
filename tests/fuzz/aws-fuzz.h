/* aws-fuzz.h - what the AWS fuzz targets share: the fuzz input cut as a raw HTTP response for
 * the fake transport (tests/fake-http.h), a clean AWS environment, and unlinked files. */
#ifndef P11KMS_FUZZ_AWS_FUZZ_H
#define P11KMS_FUZZ_AWS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tests/fake-http.h"
#include "tests/fuzz/fuzz.h"

static const char fuzz_default_headers[] = "HTTP/1.1 200 OK\r\n"
                                           "x-amzn-RequestId: fuzz-request-0001\r\n"
                                           "Content-Type: application/x-amz-json-1.1\r\n\r\n";

/*
 * Cut an input into a response. An input that starts with "HTTP/" and holds an empty line is a
 * raw response: status line and headers, then the body; a status line without a three-digit
 * code is a malformed response (P11KMS_HTTP_E_OTHER, as curl reports it). Any other input is a
 * body answered with 200 and fuzz_default_headers.
 */
static inline void fuzz_cut_response(const uint8_t *data, size_t size, fake_answer *r)
{
    const char *text = (const char *)data, *sep = NULL, *sp;
    size_t i, first;

    memset(r, 0, sizeof(*r));
    r->hr = P11KMS_HTTP_OK;
    r->status = 200;
    r->sized = 1;
    r->headers = fuzz_default_headers;
    r->headers_len = sizeof(fuzz_default_headers) - 1;
    r->body = text;
    r->body_len = size;
    if (size < 5 || memcmp(text, "HTTP/", 5) != 0)
        return;
    for (i = 0; i + 4 <= size; i++) {
        if (memcmp(text + i, "\r\n\r\n", 4) == 0) {
            sep = text + i + 4;
            break;
        }
    }
    if (sep == NULL)
        return;
    r->headers = text;
    r->headers_len = (size_t)(sep - text);
    r->body = sep;
    r->body_len = size - r->headers_len;
    for (first = 0; text[first] != '\r' && text[first] != '\n'; first++)
        ; /* the block ends in CR LF CR LF, so this stops inside it */
    sp = memchr(text, ' ', first);
    r->status = 0;
    for (i = 1; sp != NULL && i <= 3 && sp[i] >= '0' && sp[i] <= '9'; i++)
        r->status = r->status * 10 + (sp[i] - '0');
    if (sp == NULL || i != 4)
        r->hr = P11KMS_HTTP_E_OTHER;
}

/* Drop every AWS_* variable the process inherited, so no run reads the user's profile, and set
 * the shared files to paths that do not exist (a target may point them elsewhere). */
static inline void fuzz_aws_clean_env(void)
{
    extern char **environ;
    char name[256];
    const char *eq;
    int again = 1;
    size_t i;

    while (again) {
        again = 0;
        for (i = 0; environ[i] != NULL; i++) {
            eq = strchr(environ[i], '=');
            if (strncmp(environ[i], "AWS_", 4) != 0 || eq == NULL ||
                (size_t)(eq - environ[i]) >= sizeof(name))
                continue;
            memcpy(name, environ[i], (size_t)(eq - environ[i]));
            name[eq - environ[i]] = 0;
            unsetenv(name); /* changes environ: scan again */
            again = 1;
            break;
        }
    }
    setenv("AWS_CONFIG_FILE", "/nonexistent/p11kms-fuzz/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/p11kms-fuzz/credentials", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* An unlinked temporary file, reachable as /proc/self/fd/N (path, path_len); its descriptor. */
static inline int fuzz_aws_tmpfile(char *path, size_t path_len)
{
    char tmpl[4096];
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(tmpl, sizeof(tmpl), "%s/p11kms-fuzz.XXXXXX", dir != NULL && *dir ? dir : "/tmp");
    fd = mkstemp(tmpl);
    FUZZ_ASSERT(fd >= 0);
    unlink(tmpl);
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

/* Replace the file's contents. */
static inline void fuzz_aws_rewrite(int fd, const void *data, size_t size)
{
    const uint8_t *p = data;
    size_t done = 0;
    ssize_t n;

    FUZZ_ASSERT(ftruncate(fd, 0) == 0);
    while (done < size) {
        n = pwrite(fd, p + done, size - done, (off_t)done);
        FUZZ_ASSERT(n > 0);
        done += (size_t)n;
    }
}

#endif
