/* io.c - blocking I/O helpers for the commands and the streaming pipeline: opening the input,
 * whole-buffer reads and writes, reading an encrypted file's header. No shared state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "format.h"
#include "io.h"
#include "tool.h"

int tool_io_open_in(const char *path, int *fd, uint64_t *size)
{
    struct stat st;

    *size = 0;
    if (strcmp(path, "-") == 0) {
        *fd = STDIN_FILENO;
    } else {
        *fd = open(path, O_RDONLY | O_CLOEXEC);
        if (*fd < 0) {
            tool_err("cannot open %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (fstat(*fd, &st) == 0 && S_ISREG(st.st_mode))
        *size = (uint64_t)st.st_size;
    else if (*fd != STDIN_FILENO && fstat(*fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        tool_err("%s is a directory", path);
        close(*fd);
        return -1;
    }
    return 0;
}

void tool_io_close_in(int fd)
{
    if (fd > STDERR_FILENO)
        close(fd);
}

ssize_t tool_io_read_full(int fd, void *buf, size_t n, int stop_fd)
{
    struct pollfd pf[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        /* A reader waiting on a slow pipe also watches stop_fd, so it can be told to stop. */
        if (stop_fd >= 0) {
            if (poll(pf, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            if (pf[1].revents != 0) {
                errno = ECANCELED;
                return -1;
            }
        }
        r = read(fd, (uint8_t *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t tool_io_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = pread(fd, (uint8_t *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int tool_io_write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    ssize_t r;

    while (n > 0) {
        r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

ssize_t tool_io_src_read(const tool_io_src *src, void *buf, size_t n, int stop_fd, char *err,
                         size_t err_len)
{
    ssize_t r;

    if (src->read != NULL)
        return src->read(src->ctx, buf, n, stop_fd, err, err_len);
    r = tool_io_read_full(src->fd, buf, n, stop_fd);
    if (r < 0)
        snprintf(err, err_len, "cannot read the input: %s", strerror(errno));
    return r;
}

int tool_io_sink_write(const tool_io_sink *sink, const void *buf, size_t n, char *err,
                       size_t err_len)
{
    if (sink->write != NULL)
        return sink->write(sink->ctx, buf, n, err, err_len);
    if (tool_io_write_full(sink->fd, buf, n) == 0)
        return 0;
    snprintf(err, err_len, "cannot write the output: %s", strerror(errno));
    return -1;
}

int tool_io_read_header(int fd, const char *path, tool_ff_header *h, size_t *hdr_len)
{
    tool_io_src src = {.fd = fd};

    return tool_io_read_header_src(&src, path, h, hdr_len);
}

/* A source function's line names what it reads already (s3://bucket/key). */
static void report_read(const tool_io_src *src, const char *path, const char *err)
{
    if (src->read != NULL)
        tool_err("%s", err);
    else
        tool_err("%s: %s", path, err);
}

int tool_io_read_header_src(const tool_io_src *src, const char *path, tool_ff_header *h,
                            size_t *hdr_len)
{
    uint8_t fixed[TOOL_FF_FIXED_LEN], *buf = NULL;
    const char *why = "damaged file header";
    char err[512];
    size_t len;
    ssize_t r;
    int ret = -1;

    r = tool_io_src_read(src, fixed, sizeof(fixed), -1, err, sizeof(err));
    if (r < 0) {
        report_read(src, path, err);
        return -1;
    }
    if ((size_t)r < sizeof(fixed)) {
        tool_err("%s: not a p11kms encrypted file (too short)", path);
        return -1;
    }
    len = tool_ff_header_len(fixed, &why);
    if (len == 0) {
        tool_err("%s: %s", path, why);
        return -1;
    }
    buf = malloc(len);
    if (buf == NULL) {
        tool_err("out of memory");
        return -1;
    }
    memcpy(buf, fixed, sizeof(fixed));
    r = tool_io_src_read(src, buf + sizeof(fixed), len - sizeof(fixed), -1, err, sizeof(err));
    if (r < 0) {
        report_read(src, path, err);
        goto out;
    }
    if ((size_t)r != len - sizeof(fixed)) {
        tool_err("%s: the file is truncated (inside its header)", path);
        goto out;
    }
    if (tool_ff_header_parse(buf, len, h, &why) != 0) {
        tool_err("%s: %s", path, why);
        goto out;
    }
    *hdr_len = len;
    ret = 0;
out:
    free(buf);
    return ret;
}
