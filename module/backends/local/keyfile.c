/* keyfile.c - the local backend's key files: strict bounded parsing, loading through one checked
 * descriptor, creation that never overwrites, and rotation by atomic replacement; asymmetric
 * keys as PEM private keys under the same rules. */
/*
 * No shared state. p11kms_keyfile_add_version holds flock(LOCK_EX) on the key file from before
 * it reads until after its rename, so two rotations at once cannot both write version N+1 with
 * different keys (one process could already have wrapped data under the first).
 *
 * Format (module/backends/local/local.md):
 *   p11kms-key-file 1
 *   name <32 lowercase hex digits>
 *   version <n> <standard base64 of 32 bytes>     one line per version, n strictly increasing
 * '#' comment lines and empty lines anywhere; '\n' line ends; nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include "codec.h"
#include "keyfile.h"
#include "keytype.h"
#include "log.h"
#include "secmem.h"

#define MAGIC "p11kms-key-file 1"
#define MAGIC_PREFIX "p11kms-key-file "
#define NAME_PREFIX "name "
#define VERSION_PREFIX "version "
#define NAME_HEX 32
#define KEY_B64 44 /* 32 bytes in standard base64 with its one '=' */
/* "version 4294967295 " + base64 + '\n' */
#define VERSION_LINE_MAX (sizeof(VERSION_PREFIX) + 10 + 1 + KEY_B64 + 1)
#define CREATE_HEADER                                                                              \
    "# p11kms local backend key file: secret key material. Keep it mode 0600, "                    \
    "back it up,\n# and never edit the version lines.\n"
/* How often add_version retries when the file is replaced while it waits for the lock. */
#define LOCK_ATTEMPTS 100

/* Exactly the canonical encoding of 32 bytes: 43 digits and one '=' (codec.c decodes without
 * branching on the key's characters and refuses non-zero pad bits). */
static int decode_key(const char *s, size_t len, uint8_t out[P11KMS_KEYFILE_KEY_LEN])
{
    if (len != KEY_B64 || s[KEY_B64 - 1] != '=')
        return -1;
    /* one '=' decodes to exactly 32 bytes: out never takes more */
    return p11kms_base64_decode(s, len, out) == P11KMS_KEYFILE_KEY_LEN ? 0 : -1;
}

static int parse_version_number(const char *s, size_t len, uint32_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0 || len > 10 || s[0] == '0')
        return -1;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int is_name(const char *s, size_t len)
{
    size_t i;

    if (len != NAME_HEX)
        return 0;
    for (i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int starts_with(const char *line, size_t ll, const char *prefix)
{
    size_t pl = strlen(prefix);

    return ll > pl && memcmp(line, prefix, pl) == 0;
}

/* Lines starting with "version ": the array size, counted before parsing. */
static size_t count_versions(const char *text, size_t len)
{
    size_t pos = 0, n = 0;
    const char *nl;

    while (pos < len) {
        n += starts_with(text + pos, len - pos, VERSION_PREFIX);
        nl = memchr(text + pos, '\n', len - pos);
        pos = nl != NULL ? (size_t)(nl - text) + 1 : len;
    }
    return n;
}

/* One "version N KEY" line into kf->versions[kf->n]; logs nothing (never echo a key line). */
static const char *parse_version_line(p11kms_keyfile *kf, const char *line, size_t ll)
{
    p11kms_keyfile_version *v = &kf->versions[kf->n];
    size_t pl = strlen(VERSION_PREFIX);
    const char *num = line + pl, *sp;

    sp = memchr(num, ' ', ll - pl);
    if (sp == NULL || parse_version_number(num, (size_t)(sp - num), &v->version) != 0)
        return "a version number (1..4294967295, no leading zeros) and one space";
    if (kf->n > 0 && v->version <= kf->versions[kf->n - 1].version)
        return "versions in strictly increasing order";
    if (decode_key(sp + 1, ll - (size_t)(sp + 1 - line), v->key) != 0) {
        OPENSSL_cleanse(v->key, sizeof(v->key));
        return "a key of 32 bytes in standard base64 (44 characters)";
    }
    kf->n++;
    return NULL;
}

CK_RV p11kms_keyfile_parse(const char *text, size_t len, const char *origin, p11kms_keyfile **out)
{
    CK_RV rv = CKR_ARGUMENTS_BAD;
    p11kms_keyfile *kf = NULL;
    size_t pos = 0, line_no = 0, cap, ll;
    const char *line, *nl, *want = NULL;
    enum { WANT_MAGIC, WANT_NAME, WANT_VERSIONS } state = WANT_MAGIC;

    *out = NULL;
    if (len > P11KMS_KEYFILE_MAX_BYTES) {
        LOG_E("%s: key file larger than %u bytes", origin, P11KMS_KEYFILE_MAX_BYTES);
        return CKR_ARGUMENTS_BAD;
    }
    if (memchr(text, '\0', len) != NULL || memchr(text, '\r', len) != NULL) {
        LOG_E("%s: key file holds NUL or carriage-return bytes", origin);
        return CKR_ARGUMENTS_BAD;
    }
    cap = count_versions(text, len);
    if (cap > P11KMS_KEYFILE_MAX_VERSIONS) {
        LOG_E("%s: key file has more than %u versions", origin, P11KMS_KEYFILE_MAX_VERSIONS);
        return CKR_ARGUMENTS_BAD;
    }
    kf = calloc(1, sizeof(*kf));
    if (kf == NULL || (kf->versions = calloc(cap ? cap : 1, sizeof(*kf->versions))) == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    while (pos < len && want == NULL) {
        line = text + pos;
        nl = memchr(line, '\n', len - pos);
        ll = nl != NULL ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl != NULL);
        line_no++;
        if (ll == 0 || line[0] == '#')
            continue;
        if (state == WANT_MAGIC) {
            if (ll == strlen(MAGIC) && memcmp(line, MAGIC, ll) == 0)
                state = WANT_NAME;
            else if (starts_with(line, ll, MAGIC_PREFIX))
                want = "format 1 (this key file is of a newer format)";
            else
                want = "the first line \"" MAGIC "\"";
        } else if (state == WANT_NAME) {
            if (starts_with(line, ll, NAME_PREFIX) &&
                is_name(line + strlen(NAME_PREFIX), ll - strlen(NAME_PREFIX))) {
                memcpy(kf->name, line + strlen(NAME_PREFIX), NAME_HEX);
                kf->name[NAME_HEX] = '\0';
                state = WANT_VERSIONS;
            } else {
                want = "\"name\" and 32 lowercase hex digits";
            }
        } else if (starts_with(line, ll, VERSION_PREFIX)) {
            want = parse_version_line(kf, line, ll);
        } else {
            want = "a \"version\" line";
        }
    }
    if (want != NULL) {
        LOG_E("%s: line %zu: malformed key file, expected %s", origin, line_no, want);
        goto out;
    }
    if (kf->n == 0) {
        LOG_E("%s: key file has %s", origin,
              state == WANT_VERSIONS ? "no key version" : "no \"" MAGIC "\" header and name");
        goto out;
    }
    *out = kf;
    kf = NULL;
    rv = CKR_OK;
out:
    p11kms_keyfile_free(kf);
    return rv;
}

void p11kms_keyfile_free(p11kms_keyfile *kf)
{
    if (kf == NULL)
        return;
    if (kf->versions != NULL)
        p11kms_secure_free(kf->versions, kf->n * sizeof(*kf->versions));
    free(kf);
}

const p11kms_keyfile_version *p11kms_keyfile_newest(const p11kms_keyfile *kf)
{
    return kf->n > 0 ? &kf->versions[kf->n - 1] : NULL;
}

const p11kms_keyfile_version *p11kms_keyfile_get(const p11kms_keyfile *kf, uint32_t version)
{
    size_t lo = 0, hi = kf->n, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (kf->versions[mid].version == version)
            return &kf->versions[mid];
        if (kf->versions[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Open and check what we will read: a regular file, private to its owner, not too large. */
static CK_RV open_checked(const char *path, int *fd_out, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    *fd_out = -1;
    if (fd < 0) {
        LOG_E("%s: cannot open the key file: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    if (fstat(fd, st) != 0) {
        LOG_E("%s: cannot stat the key file: %s", path, strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        LOG_E("%s: the key file is not a regular file", path);
    } else if (st->st_mode & 077) {
        LOG_E("%s: refusing a key file open to group or others (mode %04o); chmod 600 it", path,
              (unsigned)(st->st_mode & 07777));
    } else if ((uintmax_t)st->st_size > P11KMS_KEYFILE_MAX_BYTES) {
        LOG_E("%s: the key file is larger than %u bytes", path, P11KMS_KEYFILE_MAX_BYTES);
    } else {
        *fd_out = fd;
        return CKR_OK;
    }
    close(fd);
    return CKR_ARGUMENTS_BAD;
}

/* Read the whole file; *buf (secret, wipe it) holds *len bytes. */
static CK_RV read_all(int fd, const char *path, const struct stat *st, char **buf, size_t *len,
                      size_t *cap)
{
    ssize_t r;

    /* One byte beyond what fstat said, to notice a file that grew meanwhile. */
    *cap = (size_t)st->st_size + 1;
    *len = 0;
    *buf = malloc(*cap);
    if (*buf == NULL)
        return CKR_HOST_MEMORY;
    for (;;) {
        r = read(fd, *buf + *len, *cap - *len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            LOG_E("%s: cannot read the key file: %s", path, strerror(errno));
            return CKR_ARGUMENTS_BAD;
        }
        if (r == 0)
            return CKR_OK;
        *len += (size_t)r;
        if (*len == *cap) {
            LOG_E("%s: the key file changed while being read", path);
            return CKR_ARGUMENTS_BAD;
        }
    }
}

CK_RV p11kms_keyfile_load(const char *path, p11kms_keyfile **out)
{
    CK_RV rv;
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd;

    *out = NULL;
    rv = open_checked(path, &fd, &st);
    if (rv != CKR_OK)
        return rv;
    rv = read_all(fd, path, &st, &buf, &len, &cap);
    if (rv == CKR_OK)
        rv = p11kms_keyfile_parse(buf, len, path, out);
    p11kms_secure_free(buf, cap);
    close(fd);
    return rv;
}

static CK_RV write_all(int fd, const char *path, const char *p, size_t len)
{
    ssize_t w;

    while (len > 0) {
        w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            LOG_E("%s: cannot write: %s", path, strerror(errno));
            return CKR_DEVICE_ERROR;
        }
        p += w;
        len -= (size_t)w;
    }
    return CKR_OK;
}

static CK_RV sync_close(int fd, const char *path)
{
    int failed = fsync(fd) != 0;

    failed |= close(fd) != 0;
    if (failed) {
        LOG_E("%s: cannot flush to disk: %s", path, strerror(errno));
        return CKR_DEVICE_ERROR;
    }
    return CKR_OK;
}

/* Make a create or rename in path's directory durable. */
static CK_RV sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = slash == NULL ? strdup(".") : strndup(path, dir_len);
    CK_RV rv = CKR_HOST_MEMORY;
    int fd;

    if (dir == NULL)
        return rv;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rv = fd >= 0 ? sync_close(fd, dir) : CKR_DEVICE_ERROR;
    if (fd < 0)
        LOG_E("%s: cannot open the directory to flush it: %s", dir, strerror(errno));
    free(dir);
    return rv;
}

/* "version N <base64>\n" for a fresh random key. */
static CK_RV random_version_line(uint32_t version, char line[VERSION_LINE_MAX + 1])
{
    uint8_t key[P11KMS_KEYFILE_KEY_LEN];
    char b64[KEY_B64 + 1];
    CK_RV rv = CKR_GENERAL_ERROR;

    if (RAND_bytes(key, sizeof(key)) != 1) {
        LOG_E("the random generator failed");
        goto out;
    }
    p11kms_base64_encode(key, sizeof(key), b64);
    snprintf(line, VERSION_LINE_MAX + 1, VERSION_PREFIX "%u %s\n", (unsigned)version, b64);
    rv = CKR_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(b64, sizeof(b64));
    return rv;
}

CK_RV p11kms_keyfile_create(const char *path)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    char text[sizeof(CREATE_HEADER) + sizeof(MAGIC) + 64 + VERSION_LINE_MAX];
    char line[VERSION_LINE_MAX + 1];
    uint8_t id[NAME_HEX / 2];
    size_t i, n;
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            LOG_E("%s: already exists; a key file is never overwritten", path);
        else
            LOG_E("%s: cannot create the key file: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    if (RAND_bytes(id, sizeof(id)) != 1) {
        LOG_E("the random generator failed");
        goto out;
    }
    rv = random_version_line(1, line);
    if (rv != CKR_OK)
        goto out;
    n = (size_t)snprintf(text, sizeof(text), "%s%s\n%s", CREATE_HEADER, MAGIC, NAME_PREFIX);
    for (i = 0; i < sizeof(id); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "%02x", id[i]);
    n += (size_t)snprintf(text + n, sizeof(text) - n, "\n%s", line);
    rv = write_all(fd, path, text, n);
    if (rv == CKR_OK) {
        rv = sync_close(fd, path);
        fd = -1;
    }
    if (rv == CKR_OK)
        rv = sync_dir(path);
out:
    if (fd >= 0)
        close(fd);
    if (rv != CKR_OK)
        unlink(path);
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(text, sizeof(text));
    return rv;
}

/* Open the key file and hold its lock, retrying while another rotation replaces it. */
static CK_RV open_locked(const char *path, int *fd, struct stat *st)
{
    struct stat now;
    int attempt;
    CK_RV rv;

    for (attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
        rv = open_checked(path, fd, st);
        if (rv != CKR_OK)
            return rv;
        while (flock(*fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                LOG_E("%s: cannot lock the key file: %s", path, strerror(errno));
                close(*fd);
                return CKR_DEVICE_ERROR;
            }
        }
        /* Still the file at path? Otherwise a rotation replaced it while we waited. */
        if (stat(path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
            return CKR_OK;
        close(*fd);
    }
    LOG_E("%s: the key file keeps being replaced; giving up", path);
    *fd = -1;
    return CKR_DEVICE_ERROR;
}

/* Write text to a fresh private file beside path and rename it over path. */
static CK_RV replace_file(const char *path, const struct stat *st, const char *text, size_t len)
{
    CK_RV rv = CKR_HOST_MEMORY;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + sizeof(".tmp-XXXXXX"));
    int fd = -1, made = 0, renamed = 0;

    if (tmp == NULL)
        return rv;
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp-XXXXXX", sizeof(".tmp-XXXXXX"));
    fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        LOG_E("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    made = 1;
    /* Keep the owner, so the service that reads it still can (needs root for another user). */
    if ((st->st_uid != geteuid() || st->st_gid != getegid()) &&
        fchown(fd, st->st_uid, st->st_gid) != 0) {
        LOG_E("%s: cannot give the new key file the owner %u:%u: %s", path, (unsigned)st->st_uid,
              (unsigned)st->st_gid, strerror(errno));
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    rv = write_all(fd, tmp, text, len);
    if (rv != CKR_OK)
        goto out;
    rv = sync_close(fd, tmp);
    fd = -1;
    if (rv != CKR_OK)
        goto out;
    if (rename(tmp, path) != 0) {
        LOG_E("%s: cannot replace the key file: %s", path, strerror(errno));
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    renamed = 1;
    rv = sync_dir(path);
out:
    if (fd >= 0)
        close(fd);
    if (made && !renamed)
        unlink(tmp);
    free(tmp);
    return rv;
}

CK_RV p11kms_keyfile_add_version(const char *path, uint32_t *new_version)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_keyfile *kf = NULL, *check = NULL;
    char *real = NULL, *buf = NULL, *text = NULL;
    char line[VERSION_LINE_MAX + 1];
    size_t len = 0, cap = 0, text_len = 0, text_cap = 0;
    uint32_t next;
    struct stat st;
    int fd = -1;

    *new_version = 0;
    /* Rotate the file itself, not a symlink to it. */
    real = realpath(path, NULL);
    if (real == NULL) {
        LOG_E("%s: cannot resolve the key file: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    rv = open_locked(real, &fd, &st);
    if (rv != CKR_OK)
        goto out;
    rv = read_all(fd, real, &st, &buf, &len, &cap);
    if (rv == CKR_OK)
        rv = p11kms_keyfile_parse(buf, len, real, &kf);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_ARGUMENTS_BAD;
    next = p11kms_keyfile_newest(kf)->version + 1;
    if (kf->n >= P11KMS_KEYFILE_MAX_VERSIONS || next == 0) {
        LOG_E("%s: the key file has no room for another version", real);
        goto out;
    }
    rv = random_version_line(next, line);
    if (rv != CKR_OK)
        goto out;
    /* The old text kept byte for byte (comments too), the new line appended. */
    text_cap = len + 1 + strlen(line);
    text = malloc(text_cap);
    if (text == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    memcpy(text, buf, len);
    text_len = len;
    if (len > 0 && buf[len - 1] != '\n')
        text[text_len++] = '\n';
    memcpy(text + text_len, line, strlen(line));
    text_len += strlen(line);
    /* Never replace a key file with one that would not load. */
    rv = p11kms_keyfile_parse(text, text_len, real, &check);
    if (rv == CKR_OK)
        rv = replace_file(real, &st, text, text_len);
    if (rv == CKR_OK) {
        *new_version = next;
        LOG_I("%s: added key version %u", real, (unsigned)next);
    }
out:
    if (fd >= 0)
        close(fd); /* releases the lock, after the rename */
    p11kms_keyfile_free(kf);
    p11kms_keyfile_free(check);
    p11kms_secure_free(buf, cap);
    p11kms_secure_free(text, text_cap);
    OPENSSL_cleanse(line, sizeof(line));
    free(real);
    return rv;
}

/* ---- asymmetric keys --------------------------------------------------------------------- */

/* Encrypted keys are refused: a module loaded by any application has no one to ask. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

CK_RV p11kms_keyfile_private_parse(const char *text, size_t len, const char *origin, int key_type,
                                   EVP_PKEY **out)
{
    const p11kms_key_type_info *want = p11kms_key_type_get(key_type), *got;
    CK_RV rv = CKR_ARGUMENTS_BAD;
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;

    *out = NULL;
    if (len == 0 || len > P11KMS_KEYFILE_MAX_BYTES || memchr(text, '\0', len) != NULL) {
        LOG_E("%s: a private key file holds 1..%u bytes of PEM text", origin,
              P11KMS_KEYFILE_MAX_BYTES);
        return rv;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    if (bio == NULL)
        return CKR_HOST_MEMORY;
    pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pk == NULL) {
        LOG_E("%s: no unencrypted PEM private key in the key file", origin);
        goto out;
    }
    got = p11kms_key_type_get(p11kms_key_type_of_pkey(pk));
    if (got == NULL || !p11kms_key_type_is_asym(got->type)) {
        LOG_E("%s: the key file holds a key of a kind p11kms does not sign with (%s)", origin,
              p11kms_key_type_names);
        goto out;
    }
    if (want != NULL && got != want) {
        LOG_E("%s: the key file holds an %s key, the key is configured as %s", origin, got->name,
              want->name);
        goto out;
    }
    *out = pk;
    pk = NULL;
    rv = CKR_OK;
out:
    EVP_PKEY_free(pk);
    BIO_free(bio);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_keyfile_private_load(const char *path, int key_type, EVP_PKEY **out)
{
    CK_RV rv;
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int fd;

    *out = NULL;
    rv = open_checked(path, &fd, &st);
    if (rv != CKR_OK)
        return rv;
    rv = read_all(fd, path, &st, &buf, &len, &cap);
    if (rv == CKR_OK)
        rv = p11kms_keyfile_private_parse(buf, len, path, key_type, out);
    p11kms_secure_free(buf, cap);
    close(fd);
    return rv;
}

CK_RV p11kms_keyfile_private_create(const char *path, int key_type)
{
    const p11kms_key_type_info *t = p11kms_key_type_get(key_type);
    CK_RV rv = CKR_GENERAL_ERROR;
    EVP_PKEY *pk = NULL;
    BIO *bio = NULL;
    char *pem = NULL;
    long pem_len;
    int fd;

    if (t == NULL || !p11kms_key_type_is_asym(key_type))
        return CKR_ARGUMENTS_BAD;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            LOG_E("%s: already exists; a key file is never overwritten", path);
        else
            LOG_E("%s: cannot create the key file: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    pk = t->ckk == CKK_EC ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", t->group)
                          : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)t->bits);
    /* a memory BIO in the secure heap: wiped when freed */
    bio = BIO_new(BIO_s_secmem());
    if (pk == NULL || bio == NULL ||
        PEM_write_bio_PKCS8PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
        LOG_E("%s: cannot make a %s key", path, t->name);
        goto out;
    }
    rv = write_all(fd, path, pem, (size_t)pem_len);
    if (rv == CKR_OK) {
        rv = sync_close(fd, path);
        fd = -1;
    }
    if (rv == CKR_OK)
        rv = sync_dir(path);
out:
    if (fd >= 0)
        close(fd);
    if (rv != CKR_OK)
        unlink(path);
    EVP_PKEY_free(pk);
    BIO_free(bio);
    ERR_clear_error();
    return rv;
}
