/* codec.h - base64 and hex, the one copy the module, the tool and the tests use; both run in
 * time independent of the bytes (they carry data keys, plaintexts and key files). And the UTF-8
 * bytes of a code point, for the parsers that decode escapes. */
#ifndef P11KMS_CODEC_H
#define P11KMS_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Characters p11kms_base64_encode writes for n bytes (no NUL). */
#define P11KMS_BASE64_LEN(n) (((n) + 2) / 3 * 4)
/* Bytes p11kms_base64_decode may write for len characters. */
#define P11KMS_BASE64_DECODED_MAX(len) ((len) / 4 * 3)

/* Standard base64 (RFC 4648 section 4) with padding: P11KMS_BASE64_LEN(n) characters and a NUL
 * into out. */
void p11kms_base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict decoding: standard alphabet, padding required, no whitespace, and the canonical form
 * only (the unused bits of a short last group are zero), so each byte string has exactly one
 * accepted spelling. out holds P11KMS_BASE64_DECODED_MAX(len) bytes. Returns the decoded
 * length, or -1 (out may then hold partial output: wipe it if it was secret). */
long p11kms_base64_decode(const char *in, size_t len, uint8_t *out);

/* The value of a hex digit (either case), or -1. */
int p11kms_hex_digit(char c);
/* Lowercase hex: 2 * n characters and a NUL into out. */
void p11kms_hex_encode(const uint8_t *in, size_t n, char *out);
/* A NUL-terminated string of an even number (at least 2) of hex digits, either case, into out
 * (room for max bytes). 0 and *out_len set, or -1. */
int p11kms_hex_decode(const char *hex, uint8_t *out, size_t max, size_t *out_len);

/* The UTF-8 encoding of cp (at most U+10FFFF, not a surrogate: the caller checks) into out:
 * 1 to 4 bytes, no NUL. Returns the number of bytes. */
size_t p11kms_utf8_encode(uint32_t cp, char *out);

#endif
