/* log.h - the module's one logging macro family: level and destination are read once at
 * C_Initialize (P11KMS_LOG, config); lines go to stderr, syslog or a file. Never log secrets. */
#ifndef P11KMS_LOG_H
#define P11KMS_LOG_H

#include <stdatomic.h>
#include "pkcs11/pkcs11-3.0.h"

enum p11kms_log_level {
    P11KMS_LOG_NONE = 0,
    P11KMS_LOG_ERROR = 1,
    P11KMS_LOG_WARNING = 2,
    P11KMS_LOG_INFO = 3,
    P11KMS_LOG_DEBUG = 4,
};

extern atomic_int p11kms_log_threshold; /* read without a lock by every macro below */

void p11kms_log_write(int level, const char *file, int line, const char *func, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));

#define P11KMS_LOG_AT(lvl, ...)                                                                    \
    do {                                                                                           \
        if ((lvl) <= atomic_load_explicit(&p11kms_log_threshold, memory_order_relaxed))            \
            p11kms_log_write((lvl), __FILE__, __LINE__, __func__, __VA_ARGS__);                    \
    } while (0)
#define LOG_E(...) P11KMS_LOG_AT(P11KMS_LOG_ERROR, __VA_ARGS__)
#define LOG_W(...) P11KMS_LOG_AT(P11KMS_LOG_WARNING, __VA_ARGS__)
#define LOG_I(...) P11KMS_LOG_AT(P11KMS_LOG_INFO, __VA_ARGS__)
#define LOG_D(...) P11KMS_LOG_AT(P11KMS_LOG_DEBUG, __VA_ARGS__)

/* Parse "error|warning|info|debug|none" (or 0-4); -1 when unknown. */
int p11kms_log_level_parse(const char *s);
/* Set level and destination ("stderr", "syslog", "file:/path"); NULL dest keeps stderr.
 * Returns 0, or -1 when the destination cannot be used (the log stays on stderr). */
int p11kms_log_configure(int level, const char *dest);
/* Back to the default (warnings to stderr), closing a log file. */
void p11kms_log_reset(void);

/* "CKR_WRAPPED_KEY_INVALID" etc.; a hex string for unknown values (static buffer per thread). */
const char *p11kms_rv_name(CK_RV rv);

#endif
