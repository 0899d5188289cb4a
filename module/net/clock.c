/* clock.c - the monotonic clock, sleeping, and ISO 8601 times. No state, no locks. */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>
#include "clock.h"

uint64_t p11kms_net_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void p11kms_net_sleep_ms(unsigned long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

unsigned long p11kms_net_left_ms(uint64_t deadline_ms)
{
    uint64_t now = p11kms_net_now_ms();

    return now < deadline_ms ? (unsigned long)(deadline_ms - now) : 0;
}

static int digits(const char *s, int n, int *out)
{
    int i, v = 0;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int p11kms_net_parse_time(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    long off = 0;
    time_t t;

    if (s == NULL || strlen(s) < 20)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    s += 19;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if ((*s == 'Z' || *s == 'z') && s[1] == 0) {
        off = 0;
    } else if ((*s == '+' || *s == '-') && digits(s + 1, 2, &oh) == 0 && s[3] == ':' &&
               digits(s + 4, 2, &om) == 0 && s[6] == 0) {
        off = (long)(oh * 3600 + om * 60) * (*s == '-' ? -1 : 1);
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    /* callers store 0 as "never expires": a time at or before the epoch is no expiry at all */
    if (t == (time_t)-1 || t - off <= 0)
        return -1;
    *out = t - off;
    return 0;
}
