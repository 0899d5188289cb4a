/* util.c - the two-call convention, padded strings and the handle map.
 * The map uses linear probing with backward-shift deletion, so it never fills with tombstones. */
#include <stdlib.h>
#include <string.h>
#include "util.h"

void p11kms_pad(CK_UTF8CHAR *dst, size_t dst_len, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n > dst_len)
        n = dst_len;
    memset(dst, ' ', dst_len);
    if (n)
        memcpy(dst, src, n);
}

CK_RV p11kms_out_room(CK_BYTE_PTR out, CK_ULONG_PTR out_len, size_t need, int *done)
{
    *done = 1;
    if (out == NULL) {
        *out_len = need;
        return CKR_OK;
    }
    if (*out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    *done = 0;
    return CKR_OK;
}

CK_RV p11kms_out_copy(CK_BYTE_PTR out, CK_ULONG_PTR out_len, const void *src, size_t n)
{
    int done;
    CK_RV rv = p11kms_out_room(out, out_len, n, &done);

    if (done)
        return rv;
    if (n)
        memcpy(out, src, n);
    *out_len = n;
    return CKR_OK;
}

static size_t slot_of(CK_ULONG key, size_t cap)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static int grow(p11kms_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16, i;
    struct p11kms_map_entry *old = m->slots, *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (i = 0; i < m->cap; i++) {
        if (old[i].key != 0) {
            size_t j = slot_of(old[i].key, cap);
            while (slots[j].key != 0)
                j = (j + 1) & (cap - 1);
            slots[j] = old[i];
        }
    }
    free(old);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int p11kms_map_put(p11kms_map *m, CK_ULONG key, void *val)
{
    size_t i;

    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    i = slot_of(key, m->cap);
    while (m->slots[i].key != 0 && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].key == 0)
        m->n++;
    m->slots[i].key = key;
    m->slots[i].val = val;
    return 0;
}

static size_t find(const p11kms_map *m, CK_ULONG key)
{
    size_t i;

    if (m->cap == 0 || key == 0)
        return (size_t)-1;
    i = slot_of(key, m->cap);
    while (m->slots[i].key != 0) {
        if (m->slots[i].key == key)
            return i;
        i = (i + 1) & (m->cap - 1);
    }
    return (size_t)-1;
}

void *p11kms_map_get(const p11kms_map *m, CK_ULONG key)
{
    size_t i = find(m, key);
    return i == (size_t)-1 ? NULL : m->slots[i].val;
}

void *p11kms_map_del(p11kms_map *m, CK_ULONG key)
{
    size_t i = find(m, key), j, mask;
    void *val;

    if (i == (size_t)-1)
        return NULL;
    val = m->slots[i].val;
    mask = m->cap - 1;
    /* Backward-shift: move later members of the probe run into the hole when allowed. */
    j = i;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (m->slots[j].key == 0)
            break;
        home = slot_of(m->slots[j].key, m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->slots[i].key = 0;
    m->slots[i].val = NULL;
    m->n--;
    return val;
}

int p11kms_map_next(const p11kms_map *m, size_t *it, CK_ULONG *key, void **val)
{
    while (*it < m->cap) {
        size_t i = (*it)++;
        if (m->slots[i].key != 0) {
            if (key)
                *key = m->slots[i].key;
            if (val)
                *val = m->slots[i].val;
            return 1;
        }
    }
    return 0;
}

void p11kms_map_clear(p11kms_map *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void p11kms_printable(char *dst, size_t dst_size, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < dst_size && i < 64; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    dst[i] = '\0';
}
