/* switch-check-bench.c - make bench: what one kill switch check costs (module/killswitch.h), in
 * nanoseconds, next to the coarse clock read it contains: the module's own code, linked
 * directly, on a configuration with one token and key and a readable switch directory.
 * Usage: switch-check-bench CONFIG (bench/ops-bench.sh writes it). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "config-load.h"
#include "killswitch.h"

#define CALLS 20000000L

static double elapsed_ns(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e9 + (double)(b->tv_nsec - a->tv_nsec);
}

int main(int argc, char **argv)
{
    p11kms_config *cfg = NULL;
    struct timespec a, b, t;
    long i, refused = 0;
    double check_ns, clock_ns;

    if (argc != 2 || p11kms_config_load(argv[1], NULL, &cfg) != CKR_OK || cfg->n_tokens == 0 ||
        cfg->tokens[0].n_keys == 0 || p11kms_killswitch_setup(cfg) != CKR_OK) {
        fprintf(stderr, "usage: switch-check-bench CONFIG (one token with a key)\n");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < CALLS; i++)
        refused += p11kms_killswitch_check(&cfg->tokens[0].keys[0]) != CKR_OK;
    clock_gettime(CLOCK_MONOTONIC, &b);
    check_ns = elapsed_ns(&a, &b) / (double)CALLS;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < CALLS; i++)
        clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    clock_gettime(CLOCK_MONOTONIC, &b);
    clock_ns = elapsed_ns(&a, &b) / (double)CALLS;
    printf("check_ns=%.1f coarse_clock_ns=%.1f refused=%ld\n", check_ns, clock_ns, refused);
    p11kms_killswitch_teardown();
    p11kms_config_free(cfg);
    return 0;
}
