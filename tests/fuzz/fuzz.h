/* fuzz.h - what every fuzz target shares: the libFuzzer entry point (run by libFuzzer, or by
 * main.c over the seed corpus in make check) and the log set-up that keeps formatting exercised. */
#ifndef P11KMS_FUZZ_H
#define P11KMS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every log line is formatted (a bad format argument shows under the sanitizers) and then
 * dropped, so a long run does not fill the test log. */
static inline void fuzz_quiet_log(void)
{
    static int done;

    if (!done) {
        p11kms_log_configure(P11KMS_LOG_DEBUG, "file:/dev/null");
        done = 1;
    }
}

/* An invariant a target checks: a violation is a crash, which both drivers report. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#endif
