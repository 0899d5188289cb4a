/* s3-meta.h - the S3 object metadata (x-amz-meta-p11kms-*) that repeats what an encrypted file's
 * header says (format, header length, chunk size, wrapping, key label and ID, KMS keys, context
 * keys), so "p11kms inspect s3://..." needs only a HEAD. Display only: decrypt reads the header. */
#ifndef P11KMS_TOOL_S3_META_H
#define P11KMS_TOOL_S3_META_H

#include <stddef.h>
#include "format.h"
#include "s3-get.h"
#include "s3-put.h"

/* S3's limit on user metadata (names and values); optional fields are left out to fit. */
#define TOOL_S3_META_BYTES_MAX 2048

/* The metadata of an object holding the encrypted file whose header is h (hdr_len bytes), into
 * o's meta fields; the strings are malloc'd into store (free with tool_s3_meta_free). Reports
 * and returns -1. */
typedef struct tool_s3_meta {
    char *values[TOOL_S3_PUT_META_MAX];
} tool_s3_meta;
int tool_s3_meta_build(const tool_ff_header *h, size_t hdr_len, tool_s3_meta *store,
                       tool_s3_put_opts *o);
void tool_s3_meta_free(tool_s3_meta *store);

/* Whether the HEAD answer carries p11kms metadata. */
int tool_s3_meta_present(const tool_s3_get *g);
/* Print what the metadata says, as inspect prints a header. */
void tool_s3_meta_print(const tool_s3_get *g, const char *url);

#endif
