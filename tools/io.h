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

struct tool_ff_header;
/* Read and parse the header of an encrypted file from fd, leaving fd at the first chunk.
 * Reports (naming path) and returns -1 for anything but a well-formed header. */
int tool_io_read_header(int fd, const char *path, struct tool_ff_header *h, size_t *hdr_len);

#endif
