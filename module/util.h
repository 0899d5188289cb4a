/* util.h - small shared helpers: the two-call length convention, space-padded info strings,
 * and a handle map (CK_ULONG -> pointer) for sessions and objects. */
#ifndef P11KMS_UTIL_H
#define P11KMS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

/* Copy a string into a fixed PKCS#11 field, padded with spaces, never NUL-terminated. */
void p11kms_pad(CK_UTF8CHAR *dst, size_t dst_len, const char *src);

/*
 * The two-call length convention, coded once. For a result of `need` bytes:
 *  - out == NULL: *out_len = need, *done = 1, returns CKR_OK (a length query);
 *  - *out_len < need: *out_len = need, *done = 1, returns CKR_BUFFER_TOO_SMALL;
 *  - otherwise *done = 0 and CKR_OK: the caller writes the result and sets *out_len.
 */
CK_RV p11kms_out_room(CK_BYTE_PTR out, CK_ULONG_PTR out_len, size_t need, int *done);
/* p11kms_out_room + memcpy + *out_len = n. */
CK_RV p11kms_out_copy(CK_BYTE_PTR out, CK_ULONG_PTR out_len, const void *src, size_t n);

/* Open-addressing map from non-zero CK_ULONG handles to pointers; not thread-safe. */
typedef struct p11kms_map {
    struct p11kms_map_entry {
        CK_ULONG key;
        void *val;
    } *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} p11kms_map;

int p11kms_map_put(p11kms_map *m, CK_ULONG key, void *val); /* 0, or -1 out of memory */
void *p11kms_map_get(const p11kms_map *m, CK_ULONG key);
void *p11kms_map_del(p11kms_map *m, CK_ULONG key); /* returns the removed value or NULL */
/* Iterate: size_t it = 0; while (p11kms_map_next(m, &it, &key, &val)) ... (no changes meanwhile) */
int p11kms_map_next(const p11kms_map *m, size_t *it, CK_ULONG *key, void **val);
void p11kms_map_clear(p11kms_map *m);

/* Copy s for a log line: at most 64 bytes, anything unprintable as '?'. */
void p11kms_printable(char *dst, size_t dst_size, const char *s);

#endif
