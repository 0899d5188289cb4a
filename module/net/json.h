/* aws-wire.h - the wire formats the AWS backend reads and writes: a secret-safe growable
 * buffer, a bounded JSON reader and writer, base64, STS's XML elements, form encoding, dates. */
#ifndef P11KMS_AWS_WIRE_H
#define P11KMS_AWS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Nesting a JSON document may have before it is refused. */
#define P11KMS_AWS_JSON_MAX_DEPTH 16

/*
 * A growable byte buffer that may hold secrets: it grows by copy-and-wipe (never realloc),
 * stays NUL-terminated, and remembers a failed append so callers check once at the end.
 */
typedef struct p11kms_aws_sbuf {
    char *p;
    size_t len;
    size_t cap;
    size_t max; /* 0: no bound beyond memory */
    int failed;
} p11kms_aws_sbuf;

void p11kms_aws_sbuf_init(p11kms_aws_sbuf *b, size_t max);
void p11kms_aws_sbuf_add(p11kms_aws_sbuf *b, const void *p, size_t n);
void p11kms_aws_sbuf_str(p11kms_aws_sbuf *b, const char *s);
void p11kms_aws_sbuf_char(p11kms_aws_sbuf *b, char c);
/* JSON string literal with quotes; s is UTF-8 (not checked here). */
void p11kms_aws_sbuf_json_string(p11kms_aws_sbuf *b, const char *s, size_t n);
/* Standard base64 with padding. */
void p11kms_aws_sbuf_base64(p11kms_aws_sbuf *b, const uint8_t *p, size_t n);
/* application/x-www-form-urlencoded value (unreserved kept, everything else %XX). */
void p11kms_aws_sbuf_form(p11kms_aws_sbuf *b, const char *s);
void p11kms_aws_sbuf_hex(p11kms_aws_sbuf *b, const uint8_t *p, size_t n);
/* Wipe and free. */
void p11kms_aws_sbuf_wipe(p11kms_aws_sbuf *b);

/* A JSON value inside a larger text (no copy). */
typedef struct p11kms_aws_json {
    const char *p;
    size_t len;
} p11kms_aws_json;

/* Check that text is exactly one JSON object (whitespace around it allowed), bounded in depth;
 * 0 and *root set on success, -1 otherwise. */
int p11kms_aws_json_parse(const char *text, size_t len, p11kms_aws_json *root);
/* Member of an object by exact name: 1 found, 0 absent or obj not an object. */
int p11kms_aws_json_member(const p11kms_aws_json *obj, const char *name, p11kms_aws_json *val);
/* The i-th element of an array: 1 found, 0 past the end or not an array. */
int p11kms_aws_json_index(const p11kms_aws_json *arr, size_t i, p11kms_aws_json *val);
/* A string value decoded (escapes, \u surrogates) into a malloc'd NUL-terminated copy that the
 * caller frees (p11kms_secure_free_str when secret). 0 ok, -1 not a string / bad escape /
 * embedded NUL / longer than max_len. */
int p11kms_aws_json_string(const p11kms_aws_json *val, size_t max_len, char **out);
/* A base64 string value decoded into a malloc'd buffer (caller wipes when secret).
 * 0 ok, -1 not a string, bad base64, empty, or more than max_len bytes. */
int p11kms_aws_json_base64(const p11kms_aws_json *val, size_t max_len, uint8_t **out,
                           size_t *out_len);
/* true/false: 0 ok, -1 otherwise. */
int p11kms_aws_json_bool(const p11kms_aws_json *val, int *out);
/* A number value copied as text (for display), 0 ok, -1 not a number or too long. */
int p11kms_aws_json_number_text(const p11kms_aws_json *val, char *buf, size_t buf_len);

/* Strict standard base64 (padding required, no whitespace). out must hold (len / 4) * 3
 * bytes. Returns the decoded length, or -1. */
long p11kms_aws_base64_decode(const char *in, size_t len, uint8_t *out);

/* The text of the first <name>...</name> element inside xml[0..len) (no attributes on the
 * tag), with the five predefined entities and numeric character references decoded, as a
 * malloc'd string. 0 ok, -1 absent or malformed or longer than max_len. */
int p11kms_aws_xml_text(const char *xml, size_t len, const char *name, size_t max_len, char **out);
/* Narrow xml to the inside of the first <name>...</name>: 0 ok, -1 absent. */
int p11kms_aws_xml_element(const char *xml, size_t len, const char *name, const char **inner,
                           size_t *inner_len);

/* ISO 8601 UTC time as AWS writes it ("2026-11-23T12:39:45Z", optional fraction, "Z" or a
 * +hh:mm / -hh:mm offset). 0 ok (*out > 0), -1 malformed or not after 1970-01-01T00:00:00Z
 * (0 means "never expires" to the credential cache, so it can never come from a parse). */
int p11kms_aws_parse_time(const char *s, time_t *out);

#endif
