/* main.c - replay driver for the fuzz targets when libFuzzer is not linked (make check): runs
 * each seed, then a fixed number of deterministic mutations of it, and reports TAP per seed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tests/fuzz/fuzz.h"
#include "tests/test.h"

#define REPLAY_MAX_INPUT (8u * 1024u * 1024u)
#define DEFAULT_MUTATIONS 200

static uint64_t rng_state;

/* xorshift64*: the same mutations on every run and machine. */
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t below(size_t n)
{
    return n == 0 ? 0 : (size_t)(rng() % n);
}

/* Bytes that matter to our formats: lengths, boundaries, JSON and UTF-8 punctuation. */
static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x09, 0x20, 0x22, 0x2c, 0x3d,
                                      0x3a, 0x5b, 0x5c, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xbf, 0xc0,
                                      0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};

/* Apply one to three random edits to buf (capacity cap) holding *len bytes. */
static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    int edits = 1 + (int)below(3);
    size_t at, n;

    while (edits-- > 0) {
        at = below(*len);
        switch (below(7)) {
        case 0: /* flip a bit */
            if (*len > 0)
                buf[at] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* set an interesting byte */
            if (*len > 0)
                buf[at] = interesting[below(sizeof(interesting))];
            break;
        case 2: /* truncate */
            *len = below(*len + 1);
            break;
        case 3: /* insert a byte */
            if (*len < cap) {
                memmove(buf + at + 1, buf + at, *len - at);
                buf[at] = (uint8_t)rng();
                (*len)++;
            }
            break;
        case 4: /* delete a run */
            n = below(*len - at + 1);
            memmove(buf + at, buf + at + n, *len - at - n);
            *len -= n;
            break;
        case 5: /* duplicate a run */
            n = below(*len - at + 1);
            if (n > 0 && *len + n <= cap) {
                memmove(buf + at + n, buf + at, *len - at);
                *len += n;
            }
            break;
        default: /* add or subtract a small value (lengths and counts) */
            if (*len > 0)
                buf[at] = (uint8_t)(buf[at] + (int)below(9) - 4);
            break;
        }
    }
}

static uint8_t *read_all(FILE *f, size_t *len)
{
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t n;

    if (buf == NULL)
        return NULL;
    n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    *len = n;
    return buf;
}

static unsigned long mutations(void)
{
    const char *s = getenv("P11KMS_FUZZ_MUTATIONS");

    return s != NULL ? strtoul(s, NULL, 10) : DEFAULT_MUTATIONS;
}

static void run_seed(const char *name, const uint8_t *seed, size_t len)
{
    unsigned long i, n = mutations();
    size_t cap = len * 2 + 64, mlen;
    uint8_t *copy, *work = malloc(cap);
    char what[600];
    const char *p;

    /* Each seed mutated the same way whatever order the files come in. */
    rng_state = 0x9e3779b97f4a7c15ULL;
    for (p = name; *p; p++)
        rng_state = (rng_state ^ (uint8_t)*p) * 0x100000001b3ULL;
    if (rng_state == 0)
        rng_state = 1;

    /* An exact-size heap copy, so a read one past the end is caught by the sanitizers. */
    copy = malloc(len > 0 ? len : 1);
    memcpy(copy, seed, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    for (i = 0; i < n && work != NULL; i++) {
        memcpy(work, seed, len);
        mlen = len;
        mutate(work, &mlen, cap);
        copy = malloc(mlen > 0 ? mlen : 1);
        memcpy(copy, work, mlen);
        LLVMFuzzerTestOneInput(copy, mlen);
        free(copy);
    }
    free(work);
    snprintf(what, sizeof(what), "%s (%zu bytes, %lu mutations)", name, len, n);
    ok(1, what);
}

static int run_file(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    uint8_t *buf;
    size_t len = 0;

    if (f == NULL) {
        printf("# %s: %s\n", path, strerror(errno));
        return 0;
    }
    buf = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    if (buf == NULL)
        return 0;
    run_seed(path, buf, len);
    free(buf);
    return 1;
}

static int skip_dots(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Every file of a directory, in name order; the number run. */
static int run_dir(const char *dir)
{
    struct dirent **names = NULL;
    char path[4096];
    int i, n = scandir(dir, &names, skip_dots, alphasort), done = 0;

    for (i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        done += run_file(path);
        free(names[i]);
    }
    free(names);
    return done;
}

static int run_path(const char *path)
{
    struct stat st;

    if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return run_dir(path);
    return run_file(path);
}

int main(int argc, char **argv)
{
    char dir[4096];
    const char *base = strrchr(argv[0], '/');
    int i, done = 0;

    test_start();
    if (argc > 1) {
        for (i = 1; i < argc; i++)
            done += run_path(argv[i]);
    } else {
        /* make check: the seed corpus named after the program, fuzz-NAME -> corpus/NAME. */
        base = base != NULL ? base + 1 : argv[0];
        if (strncmp(base, "lt-", 3) == 0)
            base += 3;
        if (strncmp(base, "fuzz-", 5) == 0)
            base += 5;
        snprintf(dir, sizeof(dir), "%s/%s", P11KMS_FUZZ_CORPUS, base);
        done = run_dir(dir);
        if (done == 0)
            printf("# no seeds in %s\n", dir);
    }
    ok(done > 0, "at least one input was run");
    return test_exit_code();
}
