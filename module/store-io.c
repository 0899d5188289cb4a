/* store-io.c - the object store on disk: the directory's default place, safe reads of one object
 * file (lstat first: nothing but a regular file is ever opened; O_NOFOLLOW; size bounded before
 * reading), atomic replacement by rename, the writers' flock. No shared state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/rand.h>
#include "store-file.h"
#include "keytype.h"
#include "store-io.h"

#define NAMES_LOCK_NAME ".names" /* see p11kms_store_names_lock */
#define LOCK_NAME ".lock"
#define TEMP_MARK ".tmp."

int p11kms_store_stamp_equal(const p11kms_store_stamp *a, const p11kms_store_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

void p11kms_store_stamp_of(const struct stat *st, p11kms_store_stamp *out)
{
    memset(out, 0, sizeof(*out));
    out->dev = st->st_dev;
    out->ino = st->st_ino;
    out->size = st->st_size;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* The label as one path component: bytes outside [A-Za-z0-9._-], and a leading '.', as %XX, so
 * two labels never share a directory and none climbs out of it. */
static void label_component(const char *label, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)label;
    size_t i, o = 0;

    for (i = 0; p[i] != '\0'; i++) {
        int plain = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                    (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_' ||
                    (p[i] == '.' && i > 0);
        if (plain) {
            out[o++] = (char)p[i];
        } else {
            out[o++] = '%';
            out[o++] = hex[p[i] >> 4];
            out[o++] = hex[p[i] & 15];
        }
    }
    out[o] = '\0';
}

char *p11kms_store_dir_for(const p11kms_token_config *tc, const char **why)
{
    const char *base = secure_getenv("XDG_DATA_HOME"), *home = secure_getenv("HOME");
    char component[3 * P11KMS_LABEL_MAX + 1], *dir = NULL;
    size_t len;

    *why = NULL;
    if (tc->store_off) {
        *why = "the token's configuration says \"store\": false";
        return NULL;
    }
    if (tc->store != NULL) {
        dir = strdup(tc->store);
        if (dir == NULL)
            *why = "out of memory";
        return dir;
    }
    if (strlen(tc->label) > P11KMS_LABEL_MAX) {
        *why = "the token label is too long";
        return NULL;
    }
    label_component(tc->label, component);
    /* The XDG base directory rules: a relative $XDG_DATA_HOME is ignored. */
    if (base != NULL && base[0] == '/') {
        len = strlen(base) + strlen("/p11kms/") + strlen(component) + 1;
        dir = malloc(len);
        if (dir != NULL)
            snprintf(dir, len, "%s/p11kms/%s", base, component);
    } else if (home != NULL && home[0] == '/') {
        len = strlen(home) + strlen("/.local/share/p11kms/") + strlen(component) + 1;
        dir = malloc(len);
        if (dir != NULL)
            snprintf(dir, len, "%s/.local/share/p11kms/%s", home, component);
    } else {
        *why = "no \"store\" is configured and neither $XDG_DATA_HOME nor $HOME names a directory";
        return NULL;
    }
    if (dir == NULL)
        *why = "out of memory";
    return dir;
}

long p11kms_store_storage_key(const p11kms_token_config *tc, char *why, size_t why_size)
{
    long found = -1;
    size_t i, n_sym = 0;

    /* Asymmetric keys sign and decrypt; they never seal a stored object's file key. */
    for (i = 0; i < tc->n_keys; i++)
        if (!p11kms_key_type_is_asym(tc->keys[i].key_type)) {
            n_sym++;
            if (tc->storage_key == NULL ? n_sym == 1
                                        : strcmp(tc->keys[i].label, tc->storage_key) == 0)
                found = (long)i;
        }
    if (tc->storage_key == NULL && n_sym != 1)
        found = -1;
    if (found >= 0 && !(tc->keys[found].perms & P11KMS_PERM_WRAP)) {
        snprintf(why, why_size,
                 "its storage key \"%.64s\" lacks the wrap permission that seals stored objects",
                 tc->keys[found].label);
        return -1;
    }
    if (found >= 0)
        return found;
    if (tc->storage_key != NULL)
        snprintf(why, why_size,
                 "its storage key \"%.64s\" is not one of its AES KMS keys (only they seal stored "
                 "objects)",
                 tc->storage_key);
    else if (n_sym == 0)
        snprintf(why, why_size, "it has no AES KMS key to seal them");
    else
        snprintf(why, why_size,
                 "it has %zu AES KMS keys and no \"storage_key\" in its configuration names the "
                 "one that seals them",
                 n_sym);
    return -1;
}

int p11kms_store_dir_open(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int p11kms_store_stat(int dirfd, const char *name, p11kms_store_stamp *st)
{
    struct stat sb;

    if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    p11kms_store_stamp_of(&sb, st);
    return 0;
}

static const char *kind_of(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link, which the store never follows";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode) || S_ISSOCK(mode))
        return "a FIFO or socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "not a regular file";
}

int p11kms_store_read(int dirfd, const char *name, p11kms_buf *out, p11kms_store_stamp *st,
                      const char **why)
{
    struct stat before, after;
    uint8_t *buf = NULL;
    size_t len = 0;
    ssize_t r;
    int fd = -1, err = 0, replaced = 0;

    out->data = NULL;
    out->len = 0;
    *why = NULL;
again:
    /* Look before opening: opening a FIFO or a device can block or have effects. */
    if (fstatat(dirfd, name, &before, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    if (!S_ISREG(before.st_mode)) {
        *why = kind_of(before.st_mode);
        return -EINVAL;
    }
    if ((uintmax_t)before.st_size > P11KMS_STORE_FILE_MAX) {
        *why = "larger than a stored object can be";
        return -EINVAL;
    }
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        err = -errno;
        if (err == -ELOOP) {
            *why = kind_of(S_IFLNK);
            err = -EINVAL;
        }
        goto out;
    }
    /* What was opened is what was looked at (no swap in between). Writers replace a file by
     * renaming a new one over it: a regular file that is a newer inode than the one looked at
     * is such a write landing in between, so look again (a few times: writers are serialised
     * and each write is one rename). */
    if (fstat(fd, &after) == 0 && S_ISREG(after.st_mode) && after.st_dev == before.st_dev &&
        after.st_ino != before.st_ino && ++replaced < 16) {
        close(fd);
        fd = -1;
        goto again;
    }
    if (fstat(fd, &after) != 0 || !S_ISREG(after.st_mode) || after.st_ino != before.st_ino ||
        after.st_dev != before.st_dev || (uintmax_t)after.st_size > P11KMS_STORE_FILE_MAX) {
        *why = "replaced while being opened";
        err = -EINVAL;
        goto out;
    }
    /* One byte more than the size says, to notice a file that grew meanwhile. */
    buf = malloc((size_t)after.st_size + 1);
    if (buf == NULL) {
        err = -ENOMEM;
        goto out;
    }
    for (;;) {
        r = read(fd, buf + len, (size_t)after.st_size + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = -errno;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > (size_t)after.st_size) {
            *why = "changed while being read";
            err = -EINVAL;
            goto out;
        }
    }
    p11kms_store_stamp_of(&after, st);
    out->data = buf;
    out->len = len;
    buf = NULL;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return err;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int p11kms_store_write(int dirfd, const char *name, const uint8_t *data, size_t len,
                       p11kms_store_stamp *st)
{
    char tmp[P11KMS_STORE_NAME_LEN + 64];
    uint8_t rnd[4];
    struct stat sb;
    int fd, err = 0;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    /* A leading dot and the mark: every reader skips it (p11kms_store_name_id). */
    snprintf(tmp, sizeof(tmp), ".%s" TEMP_MARK "%ld.%02x%02x%02x%02x", name, (long)getpid(), rnd[0],
             rnd[1], rnd[2], rnd[3]);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    err = write_all(fd, data, len);
    if (err == 0 && fsync(fd) != 0)
        err = -errno;
    if (err == 0) {
        int names = p11kms_store_names_lock(dirfd, 1);

        if (renameat(dirfd, tmp, dirfd, name) != 0)
            err = -errno;
        p11kms_store_unlock(names);
    }
    if (err != 0) {
        unlinkat(dirfd, tmp, 0);
        close(fd);
        return err;
    }
    /* The renamed file's own stamp (a rename may change its ctime). */
    if (fstat(fd, &sb) == 0)
        p11kms_store_stamp_of(&sb, st);
    else
        memset(st, 0, sizeof(*st));
    close(fd);
    /* The rename itself reaches the disk. */
    if (fsync(dirfd) != 0 && errno != EINVAL)
        return -errno;
    return 0;
}

int p11kms_store_mkdir(const char *dir, char *where, size_t where_size)
{
    char path[4096];
    struct stat sb;
    size_t i, len = strlen(dir);

    snprintf(where, where_size, "%s", dir);
    if (len == 0 || len >= sizeof(path) || dir[0] != '/')
        return -EINVAL;
    memcpy(path, dir, len + 1);
    /* Each missing component in turn; existing ones are left as they are. */
    for (i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            snprintf(where, where_size, "%s", path);
            return -errno;
        }
        path[i] = i < len ? '/' : '\0';
    }
    if (stat(dir, &sb) != 0)
        return -errno;
    if (!S_ISDIR(sb.st_mode))
        return -ENOTDIR;
    return 0;
}

int p11kms_store_lock(int dirfd)
{
    int fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    return fd;
}

int p11kms_store_names_lock(int dirfd, int exclusive)
{
    int fd = openat(dirfd, NAMES_LOCK_NAME,
                    (exclusive ? O_RDWR | O_CREAT : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC, 0600);

    if (fd < 0)
        return -1;
    while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

void p11kms_store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

CK_RV p11kms_store_errno_rv(int err)
{
    if (err < 0)
        err = -err;
    return err == ENOSPC || err == EDQUOT ? CKR_DEVICE_MEMORY : CKR_DEVICE_ERROR;
}

int p11kms_store_is_temp(const char *name)
{
    return name[0] == '.' && strstr(name, TEMP_MARK) != NULL;
}
