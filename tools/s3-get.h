/* s3-get.h - reading an S3 object as a stream (the source of "p11kms decrypt s3://... OUT" and of
 * inspect): a HEAD for its size, ETag and metadata, then ranged GETs of that very version
 * (If-Match), a few ahead in flight, handed on in order. */
#ifndef P11KMS_TOOL_S3_GET_H
#define P11KMS_TOOL_S3_GET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "s3.h"

#define TOOL_S3_RANGE (4u << 20) /* bytes of one ranged GET */
#define TOOL_S3_GET_AHEAD 4      /* ranged GETs in flight or waiting to be read */

typedef struct tool_s3_get tool_s3_get;

/* HEAD bucket/key (no body is read yet). Reports (no such bucket or object, access denied, ...)
 * and returns -1. */
int tool_s3_get_open(tool_s3 *s, const char *bucket, const char *key, tool_s3_get **out);
/* The object's size in bytes. */
uint64_t tool_s3_get_size(const tool_s3_get *g);
/* A header of the HEAD answer (x-amz-meta-..., x-amz-server-side-encryption), copied into buf;
 * 1 found, 0 absent or too long. */
int tool_s3_get_header(const tool_s3_get *g, const char *name, char *buf, size_t buf_len);
/* The source for the streaming pipeline (ctx: the tool_s3_get): the object's bytes in order.
 * The first call starts the fetcher threads. */
ssize_t tool_s3_get_read(void *ctx, void *buf, size_t n, int stop_fd, char *err, size_t err_len);
/* Stop the fetchers and free g (NULL is fine). */
void tool_s3_get_close(tool_s3_get *g);

/* GETs sent (for tests). */
unsigned tool_s3_get_requests(const tool_s3_get *g);

#endif
