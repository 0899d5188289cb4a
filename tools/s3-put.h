/* s3-put.h - writing an S3 object as a stream (the sink of "p11kms encrypt IN s3://..."): one
 * PutObject when everything fits in a part, else a multipart upload with a few parts in flight,
 * aborted on any failure and on SIGINT/SIGTERM/SIGHUP/SIGQUIT, so no partial object is ever
 * visible. */
#ifndef P11KMS_TOOL_S3_PUT_H
#define P11KMS_TOOL_S3_PUT_H

#include <stddef.h>
#include <stdint.h>
#include "io.h"
#include "s3.h"

#define TOOL_S3_PART_MIN (6u << 20)    /* bytes of every part but the last (S3: >= 5 MiB) */
#define TOOL_S3_PARTS_MAX 10000        /* S3's limit on parts in one upload */
#define TOOL_S3_PUT_BUDGET (24u << 20) /* bytes of part buffers in all */
#define TOOL_S3_PUT_META_MAX 8

typedef struct tool_s3_put tool_s3_put;

typedef struct tool_s3_put_opts {
    const char *sse;         /* x-amz-server-side-encryption ("aws:kms", "AES256") or NULL */
    const char *sse_kms_key; /* x-amz-server-side-encryption-aws-kms-key-id or NULL */
    /* x-amz-meta-* pairs (names without the prefix; values printable ASCII) */
    const char *meta_names[TOOL_S3_PUT_META_MAX];
    const char *meta_values[TOOL_S3_PUT_META_MAX];
    size_t n_meta;
    uint64_t size_hint; /* the input's size when known (parts grow to fit 10,000), else 0 */
    size_t min_part;    /* at least (and rounded to) this: the record size; 0: none */
    int no_replace;     /* If-None-Match: * (an object that exists meanwhile is not replaced) */
} tool_s3_put_opts;

/* Prepare the upload of bucket/key (no request yet) and guard it against signals from here on:
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT abort a multipart upload in progress and then end the
 * process as the signal would have. Reports and returns -1. */
int tool_s3_put_begin(tool_s3 *s, const char *bucket, const char *key, const tool_s3_put_opts *o,
                      tool_s3_put **out);
/* The sink for the streaming pipeline (ctx: the tool_s3_put). */
int tool_s3_put_write(void *ctx, const void *buf, size_t n, char *err, size_t err_len);
/* Send the rest and make the object visible: PutObject, or the last part and
 * CompleteMultipartUpload. Reports and returns -1 (the upload is aborted). */
int tool_s3_put_finish(tool_s3_put *u);
/* Abort whatever was started (safe after finish, or on NULL), free u and lift the guard. */
void tool_s3_put_end(tool_s3_put *u);

/* Parts the upload was sent in (0: a single PutObject), for tests and the benchmark's report. */
unsigned tool_s3_put_parts(const tool_s3_put *u);

#endif
