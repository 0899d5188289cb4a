/* secmem.c - the single place secrets are wiped and freed, and plain byte buffers.
 * OPENSSL_cleanse cannot be optimised away, unlike memset before free. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "secmem.h"

void p11kms_secure_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

void p11kms_secure_free_str(char *s)
{
    if (s != NULL)
        p11kms_secure_free(s, strlen(s));
}

void p11kms_buf_wipe(p11kms_buf *b)
{
    p11kms_secure_free(b->data, b->len);
    b->data = NULL;
    b->len = 0;
}

void p11kms_buf_free(p11kms_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

int p11kms_buf_set(p11kms_buf *b, const void *p, size_t n)
{
    b->data = malloc(n ? n : 1);
    if (b->data == NULL) {
        b->len = 0;
        return -1;
    }
    if (n)
        memcpy(b->data, p, n);
    b->len = n;
    return 0;
}
