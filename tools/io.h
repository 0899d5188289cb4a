/* io.h - plain blocking I/O helpers shared by the commands: opening the input ("-" is stdin),
 * whole-buffer reads and writes across short reads and EINTR, reading a file header. */
#ifndef P11KMS_TOOL_IO_H
#define P11KMS_TOOL_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Open IN; *size gets its size when it is a regular file, else 0. Reports and returns -1. */
int tool_io_open_in(const char *path, int *fd, uint64_t *size);
void tool_io_close_in(int fd);
/* Read until n bytes or end of input: bytes read, or -1 (errno set). With stop_fd >= 0, gives
 * up with ECANCELED as soon as stop_fd becomes readable, even while fd has nothing to read. */
ssize_t tool_io_read_full(int fd, void *buf, size_t n, int stop_fd);
/* Write all n bytes: 0, or -1 (errno set). */
int tool_io_write_full(int fd, const void *buf, size_t n);

/* Read up to n bytes at offset off of a regular file, retrying short reads until n or the end of
 * the file: the count read, or -1 with errno set. Leaves the file offset alone. */
ssize_t tool_io_pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Where the streaming pipeline reads from and writes to: a file descriptor, or functions (an
 * S3 object read by ranges, an S3 multipart upload). A function that fails puts the one line
 * that says why into err (without "p11kms: "); the pipeline reports it. */
typedef struct tool_io_src {
    int fd; /* used when read is NULL */
    /* Read until n bytes or the end of the input: bytes read, or -1. Gives up (-1) as soon as
     * stop_fd (if >= 0) becomes readable. */
    ssize_t (*read)(void *ctx, void *buf, size_t n, int stop_fd, char *err, size_t err_len);
    void *ctx;
} tool_io_src;

typedef struct tool_io_sink {
    int fd; /* used when write is NULL */
    /* Take all n bytes: 0, or -1. */
    int (*write)(void *ctx, const void *buf, size_t n, char *err, size_t err_len);
    void *ctx;
} tool_io_sink;

ssize_t tool_io_src_read(const tool_io_src *src, void *buf, size_t n, int stop_fd, char *err,
                         size_t err_len);
int tool_io_sink_write(const tool_io_sink *sink, const void *buf, size_t n, char *err,
                       size_t err_len);

struct tool_ff_header;
/* Read and parse the header of an encrypted file from fd, leaving fd at the first chunk.
 * Reports (naming path) and returns -1 for anything but a well-formed header. */
int tool_io_read_header(int fd, const char *path, struct tool_ff_header *h, size_t *hdr_len);
/* The same from any source. */
int tool_io_read_header_src(const tool_io_src *src, const char *path, struct tool_ff_header *h,
                            size_t *hdr_len);

#endif
