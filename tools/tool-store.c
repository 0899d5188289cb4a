/* tool-store.c - a token's object store for the tool: its directory and keys from the
 * configuration (the module's rules, store-io.c), and its entries read, parsed and decoded the way
 * the module's scan does - with no KMS call. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "keytype.h"
#include "store-io.h"
#include "tool-store.h"
#include "tool.h"

int tool_store_open(const p11kms_token_config *tc, int with_keys, tool_store *st)
{
    size_t i;

    memset(st, 0, sizeof(*st));
    st->tc = tc;
    st->dir = p11kms_store_dir_for(tc, &st->why);
    if (st->dir == NULL && strcmp(st->why, "out of memory") == 0) {
        tool_err("out of memory");
        return -1;
    }
    st->storage = p11kms_store_storage_key(tc, st->why_no_key, sizeof(st->why_no_key));
    if (!with_keys)
        return 0;
    st->keys = calloc(tc->n_keys + 1, sizeof(*st->keys));
    st->readers = calloc(tc->n_keys + 1, sizeof(*st->readers));
    if (st->keys == NULL || st->readers == NULL) {
        tool_err("out of memory");
        return -1;
    }
    /* Asymmetric keys (NULL here) neither seal nor open stored objects. */
    for (i = 0; i < tc->n_keys; i++)
        if (!p11kms_key_type_is_asym(tc->keys[i].key_type) &&
            p11kms_keyset_new(&tc->keys[i], &st->keys[i]) != CKR_OK) {
            tool_err("token \"%s\": key \"%s\" cannot be used (the line above says why)", tc->label,
                     tc->keys[i].label);
            return -1;
        }
    /* The module's order: the storage key first, then the others that may unwrap. */
    if (st->storage >= 0 && (tc->keys[st->storage].perms & P11KMS_PERM_UNWRAP))
        st->readers[st->n_readers++] = st->keys[st->storage];
    for (i = 0; i < tc->n_keys; i++)
        if ((long)i != st->storage && st->keys[i] != NULL &&
            (tc->keys[i].perms & P11KMS_PERM_UNWRAP))
            st->readers[st->n_readers++] = st->keys[i];
    return 0;
}

void tool_store_close(tool_store *st)
{
    size_t i;

    for (i = 0; st->keys != NULL && i < st->tc->n_keys; i++)
        p11kms_keyset_free(st->keys[i]);
    free(st->keys);
    free(st->readers);
    free(st->dir);
    memset(st, 0, sizeof(*st));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read, parse and decode one object file as the module's scan does (store.c store_load). */
static void load(int dirfd, tool_store_entry *e)
{
    uint8_t id[P11KMS_STORE_ID_LEN];
    p11kms_store_stamp stamp;
    struct stat sb;
    int err;

    if (fstatat(dirfd, e->name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        e->size = sb.st_size;
    p11kms_store_name_id(e->name, id);
    err = p11kms_store_read(dirfd, e->name, &e->bytes, &stamp, &e->why);
    if (err != 0) {
        if (e->why == NULL)
            e->why = strerror(-err);
        return;
    }
    if (p11kms_store_file_parse(e->bytes.data, e->bytes.len, &e->f, &e->why) != CKR_OK)
        return;
    if (memcmp(e->f.id, id, sizeof(id)) != 0) {
        e->why = "it holds another object than its name says (a copied or swapped file)";
        return;
    }
    if (p11kms_store_attrs_decode(&e->f, &e->attrs, &e->why) != CKR_OK && e->why == NULL)
        e->why = "out of memory";
}

int tool_store_walk(tool_store *st, int (*fn)(tool_store *st, tool_store_entry *e, void *arg),
                    void *arg, int *missing)
{
    DIR *d = NULL;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int dirfd = -1, ret = -1;
    uint8_t id[P11KMS_STORE_ID_LEN];

    *missing = 0;
    dirfd = p11kms_store_dir_open(st->dir);
    if (dirfd < 0) {
        if (errno == ENOENT) {
            *missing = 1;
            return 0;
        }
        tool_err("token \"%s\": store %s cannot be read: %s", st->tc->label, st->dir,
                 strerror(errno));
        return -1;
    }
    d = fdopendir(dup(dirfd));
    if (d == NULL) {
        tool_err("token \"%s\": store %s cannot be listed: %s", st->tc->label, st->dir,
                 strerror(errno));
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, ".lock") == 0)
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap ? 2 * cap : 64) * sizeof(*names));
            if (grown == NULL)
                goto out;
            names = grown;
            cap = cap ? 2 * cap : 64;
        }
        names[n] = strdup(de->d_name);
        if (names[n] == NULL)
            goto out;
        n++;
    }
    qsort(names, n, sizeof(*names), name_cmp);
    for (i = 0; i < n; i++) {
        tool_store_entry e;

        memset(&e, 0, sizeof(e));
        e.name = names[i];
        e.is_object = p11kms_store_name_id(names[i], id);
        e.is_temp = p11kms_store_is_temp(names[i]);
        if (e.is_object)
            load(dirfd, &e);
        if (fn(st, &e, arg) != 0)
            i = n; /* stop */
        p11kms_object_free(e.attrs);
        p11kms_buf_free(&e.bytes);
    }
    ret = (int)n;
out:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    close(dirfd);
    return ret;
}

const char *tool_store_kind(const p11kms_object *o)
{
    static __thread char buf[64];

    if (o->kind == P11KMS_OBJ_DATA)
        snprintf(buf, sizeof(buf), "data (%zu bytes)", o->value_len);
    else if (o->key_type == CKK_AES)
        snprintf(buf, sizeof(buf), "AES-%zu key", o->value_len * 8);
    else
        snprintf(buf, sizeof(buf), "generic secret key (%zu bytes)", o->value_len);
    return buf;
}

const char *tool_store_text(const uint8_t *p, size_t n)
{
    static __thread char ring[4][80];
    static __thread int next;
    char *out = ring[next++ % 4];
    size_t i, o = 0;

    for (i = 0; i < n && o + 4 < sizeof(ring[0]); i++)
        out[o++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? (char)p[i] : '?';
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
