/* sbuf.h - the growable buffer remote calls are written into (request bodies, canonical
 * requests, signatures): it may hold secrets, so it grows by copy-and-wipe and is wiped at the
 * end, and it writes the encodings requests need (JSON strings, base64, form values, hex). */
#ifndef P11KMS_NET_SBUF_H
#define P11KMS_NET_SBUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A byte buffer that grows by copy-and-wipe (never realloc), stays NUL-terminated, and
 * remembers a failed append (memory, or past max) so callers check once at the end. A finished
 * value that is merely held uses p11kms_buf (secmem.h) instead.
 */
typedef struct p11kms_sbuf {
    char *p;
    size_t len;
    size_t cap;
    size_t max; /* 0: no bound beyond memory */
    int failed;
} p11kms_sbuf;

void p11kms_sbuf_init(p11kms_sbuf *b, size_t max);
void p11kms_sbuf_add(p11kms_sbuf *b, const void *p, size_t n);
void p11kms_sbuf_str(p11kms_sbuf *b, const char *s);
void p11kms_sbuf_char(p11kms_sbuf *b, char c);
/* JSON string literal with quotes; s is UTF-8 (not checked here). */
void p11kms_sbuf_json_string(p11kms_sbuf *b, const char *s, size_t n);
/* Standard base64 with padding. */
void p11kms_sbuf_base64(p11kms_sbuf *b, const uint8_t *p, size_t n);
/* application/x-www-form-urlencoded value (unreserved kept, everything else %XX). */
void p11kms_sbuf_form(p11kms_sbuf *b, const char *s);
/* Lowercase hex. */
void p11kms_sbuf_hex(p11kms_sbuf *b, const uint8_t *p, size_t n);
/* Wipe and free. */
void p11kms_sbuf_wipe(p11kms_sbuf *b);

#endif
