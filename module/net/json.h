/* json.h - the bounded JSON reader for answers from remote services (KMS answers, credential
 * and token endpoints): in place, depth-bounded, with secrets decoded into buffers the caller
 * wipes. Requests are written with sbuf.h. */
#ifndef P11KMS_NET_JSON_H
#define P11KMS_NET_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Nesting a JSON document may have before it is refused. */
#define P11KMS_JSON_MAX_DEPTH 16

/* A JSON value inside a larger text (no copy). */
typedef struct p11kms_json {
    const char *p;
    size_t len;
} p11kms_json;

/* Check that text is exactly one JSON object (whitespace around it allowed), bounded in depth;
 * 0 and *root set on success, -1 otherwise. */
int p11kms_json_parse(const char *text, size_t len, p11kms_json *root);
/* Member of an object by exact name: 1 found, 0 absent or obj not an object. */
int p11kms_json_member(const p11kms_json *obj, const char *name, p11kms_json *val);
/* The i-th element of an array: 1 found, 0 past the end or not an array. */
int p11kms_json_index(const p11kms_json *arr, size_t i, p11kms_json *val);
/* A string value decoded (escapes, \u surrogates) into a malloc'd NUL-terminated copy that the
 * caller frees (p11kms_secure_free_str when secret). 0 ok, -1 not a string / bad escape /
 * embedded NUL / longer than max_len. */
int p11kms_json_string(const p11kms_json *val, size_t max_len, char **out);
/* A base64 string value decoded into a malloc'd buffer (caller wipes when secret).
 * 0 ok, -1 not a string, bad base64, empty, or more than max_len bytes. */
int p11kms_json_base64(const p11kms_json *val, size_t max_len, uint8_t **out, size_t *out_len);
/* true/false: 0 ok, -1 otherwise. */
int p11kms_json_bool(const p11kms_json *val, int *out);
/* A number value copied as text (for display), 0 ok, -1 not a number or too long. */
int p11kms_json_number_text(const p11kms_json *val, char *buf, size_t buf_len);
/* For diagnostics (a backend's describe): "label: value\n" to f when obj has member name and it
 * is a string (at most 1 KiB), a boolean or a number; nothing otherwise. */
void p11kms_json_print_member(FILE *f, const p11kms_json *obj, const char *name, const char *label);
/* A whole number without sign, fraction or exponent, at most max (lifetimes in seconds, lease
 * durations): 0 ok, -1 otherwise. */
int p11kms_json_uint(const p11kms_json *val, uint64_t max, uint64_t *out);

#endif
