/* store-io.h - the object store's directory on disk (docs/store.md): where it is and which key
 * seals it, reading one
 * object file safely (never through a symlink, only regular files, bounded), atomic writes
 * (temporary file, fsync, rename, fsync of the directory) and the writers' lock. Shared by the
 * module and the p11kms tool; no shared state. */
#ifndef P11KMS_STORE_IO_H
#define P11KMS_STORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include "pkcs11/p11kms.h"
#include "config.h"
#include "secmem.h"

/* What identifies one version of a file or of the directory: a rename or rewrite changes it. */
typedef struct p11kms_store_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
} p11kms_store_stamp;

int p11kms_store_stamp_equal(const p11kms_store_stamp *a, const p11kms_store_stamp *b);
void p11kms_store_stamp_of(const struct stat *st, p11kms_store_stamp *out);

/* The token's store directory: "store" from the configuration, else
 * $XDG_DATA_HOME/p11kms/<label> (an absolute $XDG_DATA_HOME), else $HOME/.local/share/p11kms/
 * <label>, the label percent-encoded outside [A-Za-z0-9._-] (and a leading '.'). NULL with *why
 * when persistence is off or no home is known. Reads the environment only, never the disk. */
char *p11kms_store_dir_for(const p11kms_token_config *tc, const char **why);

/* Which of the token's keys seals new stored objects: its index in tc->keys ("storage_key", else
 * the only AES key; asymmetric keys never do), or -1 with why (none, several and no storage_key,
 * no wrap permission, an asymmetric key named). */
long p11kms_store_storage_key(const p11kms_token_config *tc, char *why, size_t why_size);

/* Open the directory for the calls below: a descriptor, or -1 with errno. */
int p11kms_store_dir_open(const char *dir);

/* stat of dir/name without following a symlink: 0, or -errno. */
int p11kms_store_stat(int dirfd, const char *name, p11kms_store_stamp *st);

/*
 * Read dir/name: a regular file (a symlink, FIFO, device or directory is refused without being
 * opened for reading... or followed), at most P11KMS_STORE_FILE_MAX bytes (a longer one is refused
 * before it is read). 0 with *out (public bytes) and *st; -ENOENT when it is gone; another
 * negative errno, or -EINVAL with *why for a file that is not one the store reads.
 */
int p11kms_store_read(int dirfd, const char *name, p11kms_buf *out, p11kms_store_stamp *st,
                      const char **why);

/* Replace dir/name by data atomically: a temporary ".<name>.tmp.<pid>.<random>" written,
 * fsync'd, renamed over name, and the directory fsync'd. 0 with *st (the new file's stamp), or
 * a negative errno (the temporary file removed). */
int p11kms_store_write(int dirfd, const char *name, const uint8_t *data, size_t len,
                       p11kms_store_stamp *st);

/* Create dir and its missing parents, mode 0700. 0, or a negative errno with where naming the
 * path that failed. */
int p11kms_store_mkdir(const char *dir, char *where, size_t where_size);

/* The writers' lock: "<dir>/.lock", created when missing, flock'd exclusively (other processes,
 * and other descriptors of this one, wait). A descriptor, or a negative errno. */
int p11kms_store_lock(int dirfd);
/* The names lock, "<dir>/.names": held exclusively by a writer around the rename that puts a
 * file in place, shared by a scan around its readdir, so a listing never misses a name that is
 * being renamed over (readdir is unspecified for entries changed meanwhile). Held for
 * microseconds, never across a KMS call. The fd (p11kms_store_unlock releases it), or -1 when
 * the lock file cannot be had (a read-only store: listed without it). */
int p11kms_store_names_lock(int dirfd, int exclusive);
void p11kms_store_unlock(int fd);

/* The CK_RV for a failed write: CKR_DEVICE_MEMORY when the disk or quota is full, else
 * CKR_DEVICE_ERROR. */
CK_RV p11kms_store_errno_rv(int err);

/* Whether name is a writer's temporary file (".<hex>.obj.tmp.<pid>.<rand>"). */
int p11kms_store_is_temp(const char *name);

#endif
