/* secmem.h - buffers and the one way secrets are wiped and freed.
 * Everything that held key material, plaintext or credentials goes through these. */
#ifndef P11KMS_SECMEM_H
#define P11KMS_SECMEM_H

#include <stddef.h>
#include <stdint.h>

/* A heap byte buffer. Whether it is secret is decided by how it is released. */
typedef struct p11kms_buf {
    uint8_t *data;
    size_t len;
} p11kms_buf;

/* Wipe (OPENSSL_cleanse) then free; NULL is fine. */
void p11kms_secure_free(void *p, size_t len);
/* Wipe and free a NUL-terminated secret string. */
void p11kms_secure_free_str(char *s);
/* Release a buffer that held a secret, and reset it. */
void p11kms_buf_wipe(p11kms_buf *b);
/* Release a buffer of public data, and reset it. */
void p11kms_buf_free(p11kms_buf *b);
/* Copy n bytes into a fresh buffer (replacing nothing: b must be empty). 0 on success. */
int p11kms_buf_set(p11kms_buf *b, const void *p, size_t n);

#endif
