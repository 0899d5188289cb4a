/* b64.h - standard base64 (RFC 4648, with padding) for the wrapped keys and data keys that
 * wrap, unwrap, rewrap and inspect print and read (the module's codec, allocated). */
#ifndef P11KMS_TOOL_B64_H
#define P11KMS_TOOL_B64_H

#include <stddef.h>
#include <stdint.h>

/* NUL-terminated encoding; malloc'd, NULL when out of memory. */
char *tool_b64_encode(const uint8_t *in, size_t len);
/* Strict decoding of text[0..len) (surrounding whitespace ignored); *out malloc'd.
 * -1 for anything that is not canonical padded base64. */
int tool_b64_decode(const char *text, size_t len, uint8_t **out, size_t *out_len);

#endif
