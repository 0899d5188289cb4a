/* stream.h - constant-memory streaming of the chunked file format: a reader thread, worker
 * threads that seal or open chunks, and the calling thread writing chunks back in order. */
#ifndef P11KMS_TOOL_STREAM_H
#define P11KMS_TOOL_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "format.h"
#include "io.h"
#include "progress.h"

/* Encrypt (plaintext in, chunks out) or decrypt (chunks in, verified plaintext out) from in_fd
 * to out_fd. The header is already read or written. Decrypt writes a chunk only after its tag
 * verified, in order, and fails unless the last chunk read is the one sealed as final.
 * Returns 0, or -1 after reporting the failure with tool_err. */
int tool_stream_run(const tool_ff_header *h, const uint8_t key[TOOL_FF_KEY_LEN], int encrypt,
                    int in_fd, int out_fd, tool_progress *progress);

/* The same between any source and sink (io.h): an S3 object read by ranges, an S3 upload. A
 * failing source or sink gives the line that is reported. */
int tool_stream_run_io(const tool_ff_header *h, const uint8_t key[TOOL_FF_KEY_LEN], int encrypt,
                       const tool_io_src *src, const tool_io_sink *sink, tool_progress *progress);

/* Bytes of plaintext a body of body_len bytes (everything after the header) decrypts to, if
 * it is well formed (inspect shows it). */
uint64_t tool_stream_plain_len(uint64_t body_len, uint32_t chunk_size);

/* Worker threads used (for tests and the benchmark report). */
unsigned tool_stream_workers(void);

#endif
