/* test.h - a tiny TAP producer for C tests: each check prints one "ok"/"not ok" line and the
 * plan is printed at exit, so automake's tap-driver counts every assertion. */
#ifndef P11KMS_TEST_H
#define P11KMS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_count;
static int test_failed;

static void test_plan_at_exit(void)
{
    printf("1..%d\n", test_count);
    fflush(stdout);
}

/* Call once at the start of main. */
static inline void test_start(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    atexit(test_plan_at_exit);
}

static inline int test_ok(int cond, const char *file, int line, const char *what)
{
    test_count++;
    if (cond) {
        printf("ok %d - %s\n", test_count, what);
    } else {
        test_failed++;
        printf("not ok %d - %s (%s:%d)\n", test_count, what, file, line);
    }
    return cond;
}

static inline void test_skip(const char *why)
{
    test_count++;
    printf("ok %d # SKIP %s\n", test_count, why);
}

static inline int test_exit_code(void)
{
    return test_failed ? 1 : 0;
}

#define ok(cond, what) test_ok(!!(cond), __FILE__, __LINE__, (what))

/* Compare CK_RV values and print both by value on failure. */
#define is_rv(got, want, what)                                                                     \
    do {                                                                                           \
        unsigned long g_ = (unsigned long)(got), w_ = (unsigned long)(want);                       \
        if (!test_ok(g_ == w_, __FILE__, __LINE__, (what)))                                        \
            printf("#   got 0x%lx, want 0x%lx\n", g_, w_);                                         \
    } while (0)

#define is_num(got, want, what)                                                                    \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (!test_ok(g_ == w_, __FILE__, __LINE__, (what)))                                        \
            printf("#   got %lld, want %lld\n", g_, w_);                                           \
    } while (0)

#define is_mem(a, b, n, what) ok(memcmp((a), (b), (n)) == 0, (what))

#define diag(...)                                                                                  \
    do {                                                                                           \
        printf("# ");                                                                              \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

#endif
