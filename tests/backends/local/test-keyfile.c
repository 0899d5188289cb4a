/* test-keyfile.c - the local key file: strict parsing (every rule), permission refusal,
 * creation that never overwrites, and rotation that is atomic, locked and keeps the old text. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "tests/test.h"
#include "tests/unit/logcap.h"
#include "tests/unit/tmpdir.h"
#include "module/backends/local/keyfile.h"

#define K0 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define K1 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" /* bytes 32..63 */
#define NAME "0123456789abcdef0123456789abcdef"
#define HEAD "p11kms-key-file 1\nname " NAME "\n"

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) != 0) {
        perror(path);
        exit(99);
    }
    close(fd);
}

static void write_text(const char *path, const char *text)
{
    write_file(path, text, strlen(text), 0600);
}

static char *read_text(const char *path, size_t *len)
{
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    *len = n > 0 ? (size_t)n : 0;
    buf[*len] = '\0';
    return buf;
}

static CK_RV parse(const char *text, p11kms_keyfile **kf)
{
    return p11kms_keyfile_parse(text, strlen(text), "test-origin", kf);
}

static void test_parse_good(void)
{
    p11kms_keyfile *kf = NULL;
    uint8_t k0[32], k1[32];
    size_t i;

    for (i = 0; i < 32; i++) {
        k0[i] = (uint8_t)i;
        k1[i] = (uint8_t)(32 + i);
    }
    is_rv(parse(HEAD "version 1 " K0 "\n", &kf), CKR_OK, "minimal key file");
    ok(kf != NULL && strcmp(kf->name, NAME) == 0 && kf->n == 1, "name and one version");
    ok(kf != NULL && kf->versions[0].version == 1 && memcmp(kf->versions[0].key, k0, 32) == 0,
       "base64 decoded");
    p11kms_keyfile_free(kf);

    is_rv(parse("# comment\n\n" HEAD "\n# between\nversion 3 " K0 "\n\nversion 7 " K1, &kf), CKR_OK,
          "comments, blank lines, gaps, no final newline");
    ok(kf != NULL && kf->n == 2, "two versions");
    if (kf != NULL) {
        ok(p11kms_keyfile_newest(kf)->version == 7, "newest is 7");
        ok(p11kms_keyfile_get(kf, 3) == &kf->versions[0], "get 3");
        ok(p11kms_keyfile_get(kf, 7) != NULL && memcmp(p11kms_keyfile_get(kf, 7)->key, k1, 32) == 0,
           "get 7 has its key");
        ok(p11kms_keyfile_get(kf, 1) == NULL && p11kms_keyfile_get(kf, 5) == NULL &&
               p11kms_keyfile_get(kf, 8) == NULL && p11kms_keyfile_get(kf, 0) == NULL,
           "absent versions");
    }
    p11kms_keyfile_free(kf);
    is_rv(parse(HEAD "version 4294967295 " K0 "\n", &kf), CKR_OK, "largest version number");
    p11kms_keyfile_free(kf);
    p11kms_keyfile_free(NULL);
}

static void test_parse_bad(void)
{
    static const struct {
        const char *what, *text;
    } bad[] = {
        {"empty", ""},
        {"only comments", "# a\n# b\n"},
        {"no header", "name " NAME "\nversion 1 " K0 "\n"},
        {"newer format", "p11kms-key-file 2\nname " NAME "\nversion 1 " K0 "\n"},
        {"header with trailing space", "p11kms-key-file 1 \nname " NAME "\nversion 1 " K0 "\n"},
        {"no name", "p11kms-key-file 1\nversion 1 " K0 "\n"},
        {"upper-case name", "p11kms-key-file 1\nname 0123456789ABCDEF0123456789abcdef\n"},
        {"short name", "p11kms-key-file 1\nname 0123456789abcdef0123456789abcde\n"},
        {"long name", "p11kms-key-file 1\nname " NAME "0\nversion 1 " K0 "\n"},
        {"no version", HEAD},
        {"version 0", HEAD "version 0 " K0 "\n"},
        {"leading zero", HEAD "version 01 " K0 "\n"},
        {"version too large", HEAD "version 4294967296 " K0 "\n"},
        {"negative version", HEAD "version -1 " K0 "\n"},
        {"version not a number", HEAD "version x " K0 "\n"},
        {"decreasing versions", HEAD "version 2 " K0 "\nversion 1 " K1 "\n"},
        {"repeated version", HEAD "version 1 " K0 "\nversion 1 " K1 "\n"},
        {"key of 43 characters", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n"},
        {"key without padding", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n"},
        {"key of 31 bytes", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n"},
        {"key of 33 bytes", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n"},
        {"non-zero pad bits", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n"},
        {"base64url digits", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd_h8=\n"},
        {"bad digit", HEAD "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd*h8=\n"},
        {"trailing space", HEAD "version 1 " K0 " \n"},
        {"two spaces", HEAD "version 1  " K0 "\n"},
        {"tab", HEAD "version\t1 " K0 "\n"},
        {"indented comment", HEAD " # x\nversion 1 " K0 "\n"},
        {"CRLF", "p11kms-key-file 1\r\nname " NAME "\r\nversion 1 " K0 "\r\n"},
        {"second name", HEAD "version 1 " K0 "\nname " NAME "\n"},
        {"unknown line", HEAD "version 1 " K0 "\nfoo\n"},
        {"version without key", HEAD "version 1\n"},
    };
    p11kms_keyfile *kf = NULL;
    const char *log;
    char what[96];
    size_t i;
    int leaked = 0, unlogged = 0, unnamed = 0;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(what, sizeof(what), "refused: %s", bad[i].what);
        is_rv(parse(bad[i].text, &kf), CKR_ARGUMENTS_BAD, what);
        ok(kf == NULL, "no result");
        log = logcap_take();
        unlogged += logcap_count(log, "error") != 1;
        unnamed += strstr(log, "test-origin") == NULL;
        leaked += strstr(log, "AAECAwQF") != NULL || strstr(log, "ICEiIyQl") != NULL;
    }
    is_num(unlogged, 0, "each refusal logs one error line");
    is_num(unnamed, 0, "each names the origin");
    is_num(leaked, 0, "no log line shows key text");
    log = (parse(HEAD "version 1 " K0 "\nversion 1 " K1 "\n", &kf), logcap_take());
    ok(strstr(log, "line 4") != NULL, "the error names the line");

    is_rv(p11kms_keyfile_parse(HEAD "version 1 " K0 "\n\0", strlen(HEAD) + 56, "t", &kf),
          CKR_ARGUMENTS_BAD, "NUL byte refused");
    logcap_take();
}

static void test_parse_bounds(void)
{
    size_t cap = P11KMS_KEYFILE_MAX_BYTES + 64, n, v;
    char *text = malloc(cap);
    p11kms_keyfile *kf = NULL;

    n = (size_t)snprintf(text, cap, HEAD);
    for (v = 1; v <= P11KMS_KEYFILE_MAX_VERSIONS; v++)
        n += (size_t)snprintf(text + n, cap - n, "version %zu %s\n", v, K0);
    is_rv(p11kms_keyfile_parse(text, n, "t", &kf), CKR_OK, "1024 versions accepted");
    ok(kf != NULL && kf->n == 1024 && p11kms_keyfile_get(kf, 777) != NULL, "all of them");
    p11kms_keyfile_free(kf);
    kf = NULL;
    n += (size_t)snprintf(text + n, cap - n, "version %zu %s\n", v, K0);
    is_rv(p11kms_keyfile_parse(text, n, "t", &kf), CKR_ARGUMENTS_BAD, "1025 versions refused");
    memset(text, '#', cap);
    text[0] = '\n';
    is_rv(p11kms_keyfile_parse(text, P11KMS_KEYFILE_MAX_BYTES + 1, "t", &kf), CKR_ARGUMENTS_BAD,
          "larger than 256 KiB refused");
    ok(kf == NULL, "no result");
    free(text);
    logcap_take();
}

static void test_load(void)
{
    static const char good[] = HEAD "version 1 " K0 "\n";
    static const mode_t refused[] = {0640, 0604, 0660, 0644, 0601, 0610, 0666};
    p11kms_keyfile *kf = NULL;
    const char *p = path_of("load.key"), *log;
    char what[64];
    size_t i;

    write_text(p, good);
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "mode 0600 loads");
    ok(kf != NULL && kf->n == 1 && strcmp(kf->name, NAME) == 0, "content");
    p11kms_keyfile_free(kf);
    chmod(p, 0400);
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "mode 0400 loads");
    p11kms_keyfile_free(kf);
    logcap_take();
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        chmod(p, refused[i]);
        snprintf(what, sizeof(what), "mode %04o refused", (unsigned)refused[i]);
        is_rv(p11kms_keyfile_load(p, &kf), CKR_ARGUMENTS_BAD, what);
        ok(kf == NULL, "no result");
        log = logcap_take();
        snprintf(what, sizeof(what), "mode %04o", (unsigned)refused[i]);
        ok(logcap_count(log, "error") == 1 && strstr(log, p) != NULL && strstr(log, what) != NULL,
           "the error line names the path and the mode");
    }
    chmod(p, 0600);
    is_rv(p11kms_keyfile_load(dir, &kf), CKR_ARGUMENTS_BAD, "a directory refused");
    is_rv(p11kms_keyfile_load(path_of("missing.key"), &kf), CKR_ARGUMENTS_BAD, "missing file");
    ok(strstr(logcap_take(), "missing.key") != NULL, "named in the log");
    ok(symlink(p, path_of("link.key")) == 0, "symlink");
    is_rv(p11kms_keyfile_load(path_of("link.key"), &kf), CKR_OK, "a symlink to a good file loads");
    p11kms_keyfile_free(kf);
    write_text(p, "p11kms-key-file 1\n");
    is_rv(p11kms_keyfile_load(p, &kf), CKR_ARGUMENTS_BAD, "malformed file");
    ok(strstr(logcap_take(), p) != NULL, "malformed: the path is the origin");
}

static void test_create(void)
{
    p11kms_keyfile *a = NULL, *b = NULL;
    const char *p = path_of("new.key"), *q = path_of("new2.key");
    char before[256];
    struct stat st;
    size_t len;

    umask(022);
    is_rv(p11kms_keyfile_create(p), CKR_OK, "create");
    ok(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600, "mode 0600");
    is_rv(p11kms_keyfile_load(p, &a), CKR_OK, "the new file loads");
    ok(a != NULL && a->n == 1 && a->versions[0].version == 1 && strlen(a->name) == 32,
       "one version, a 32-digit name");
    snprintf(before, sizeof(before), "%s", read_text(p, &len));
    is_rv(p11kms_keyfile_create(p), CKR_ARGUMENTS_BAD, "create over an existing file refused");
    ok(strstr(logcap_take(), "never overwritten") != NULL, "and says why");
    ok(strcmp(read_text(p, &len), before) == 0, "the existing file is untouched");
    is_rv(p11kms_keyfile_create(q), CKR_OK, "create another");
    is_rv(p11kms_keyfile_load(q, &b), CKR_OK, "load it");
    ok(a != NULL && b != NULL && strcmp(a->name, b->name) != 0 &&
           memcmp(a->versions[0].key, b->versions[0].key, 32) != 0,
       "random name and key each time");
    ok(symlink(path_of("target-of-dangling"), path_of("dangling.key")) == 0, "symlink");
    is_rv(p11kms_keyfile_create(path_of("dangling.key")), CKR_ARGUMENTS_BAD,
          "create through a dangling symlink refused");
    ok(access(path_of("target-of-dangling"), F_OK) != 0, "and nothing created behind it");
    is_rv(p11kms_keyfile_create(path_of("no-such-dir/x.key")), CKR_ARGUMENTS_BAD,
          "create in a missing directory");
    p11kms_keyfile_free(a);
    p11kms_keyfile_free(b);
    logcap_take();
}

static int count_temp_files(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp-") != NULL;
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_add_version(void)
{
    static const char orig[] = "# my comment\n" HEAD "\nversion 1 " K0; /* no final newline */
    p11kms_keyfile *kf = NULL;
    const char *p = path_of("rot.key"), *text;
    struct stat before, after;
    uint32_t v = 0;
    size_t len;

    write_text(p, orig);
    stat(p, &before);
    is_rv(p11kms_keyfile_add_version(p, &v), CKR_OK, "add a version");
    is_num(v, 2, "version 2");
    stat(p, &after);
    ok((after.st_mode & 07777) == 0600, "still mode 0600");
    ok(after.st_ino != before.st_ino, "replaced by rename, not rewritten in place");
    text = read_text(p, &len);
    ok(len > strlen(orig) && memcmp(text, orig, strlen(orig)) == 0 && text[strlen(orig)] == '\n',
       "the old text is kept byte for byte (comments too)");
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "loads");
    ok(kf != NULL && kf->n == 2 && kf->versions[0].key[31] == 31 && kf->versions[1].version == 2,
       "version 1 unchanged, version 2 added");
    ok(kf != NULL && memcmp(kf->versions[0].key, kf->versions[1].key, 32) != 0, "a new key");
    p11kms_keyfile_free(kf);
    is_num(count_temp_files(), 0, "no temporary file left");

    /* Through a symlink: the target rotates, the link stays. */
    ok(symlink("rot.key", path_of("rot-link.key")) == 0, "symlink");
    is_rv(p11kms_keyfile_add_version(path_of("rot-link.key"), &v), CKR_OK, "add through a link");
    is_num(v, 3, "version 3");
    ok(lstat(path_of("rot-link.key"), &after) == 0 && S_ISLNK(after.st_mode), "link kept");
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "target loads");
    ok(kf != NULL && kf->n == 3, "target has 3 versions");
    p11kms_keyfile_free(kf);

    /* Refusals leave the file as it was. */
    chmod(p, 0644);
    text = read_text(p, &len);
    is_rv(p11kms_keyfile_add_version(p, &v), CKR_ARGUMENTS_BAD, "mode 0644 refused");
    is_num(v, 0, "no version number");
    chmod(p, 0600);
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "still loads");
    ok(kf != NULL && kf->n == 3, "still 3 versions");
    p11kms_keyfile_free(kf);
    write_text(p, HEAD "version 4294967295 " K0 "\n");
    is_rv(p11kms_keyfile_add_version(p, &v), CKR_ARGUMENTS_BAD, "no version after 4294967295");
    write_text(p, HEAD "version 1 " K0 "\nversion x\n");
    is_rv(p11kms_keyfile_add_version(p, &v), CKR_ARGUMENTS_BAD, "malformed file refused");
    is_rv(p11kms_keyfile_add_version(path_of("none.key"), &v), CKR_ARGUMENTS_BAD, "missing");
    is_num(count_temp_files(), 0, "no temporary file left after refusals");
    logcap_take();
}

/* Rotations from several processes at once: each gets its own version, none is lost. */
static void test_concurrent_rotation(void)
{
    enum { PROCS = 6, EACH = 5 };
    const char *p = path_of("conc.key");
    p11kms_keyfile *kf = NULL;
    pid_t pids[PROCS];
    int i, j, status, failed = 0, loads_ok = 1;
    uint32_t v;

    unlink(p);
    if (p11kms_keyfile_create(p) != CKR_OK) {
        ok(0, "create for the concurrency test");
        return;
    }
    for (i = 0; i < PROCS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            for (j = 0; j < EACH; j++)
                if (p11kms_keyfile_add_version(p, &v) != CKR_OK)
                    _exit(1);
            _exit(0);
        }
    }
    /* Meanwhile every load sees a whole file. */
    for (j = 0; j < 200; j++) {
        if (p11kms_keyfile_load(p, &kf) != CKR_OK)
            loads_ok = 0;
        p11kms_keyfile_free(kf);
        kf = NULL;
    }
    for (i = 0; i < PROCS; i++)
        if (waitpid(pids[i], &status, 0) != pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            failed++;
    is_num(failed, 0, "every rotating process succeeded");
    ok(loads_ok, "concurrent loads always saw a complete key file");
    is_rv(p11kms_keyfile_load(p, &kf), CKR_OK, "final load");
    ok(kf != NULL && kf->n == 1 + PROCS * EACH &&
           p11kms_keyfile_newest(kf)->version == 1 + PROCS * EACH,
       "versions 1..31, none lost to a race");
    p11kms_keyfile_free(kf);
    is_num(count_temp_files(), 0, "no temporary file left");
}

int main(void)
{
    test_start();
    snprintf(dir, sizeof(dir), "%s", "/tmp/p11kms-keyfile-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 99;
    }
    atexit(remove_dir);
    logcap_start(P11KMS_LOG_WARNING);
    test_parse_good();
    test_parse_bad();
    test_parse_bounds();
    test_load();
    test_create();
    test_add_version();
    test_concurrent_rotation();
    return test_exit_code();
}
