/* clock.h - time for remote calls: the monotonic clock deadlines are kept on, a sleep that
 * resumes after signals, and the ISO 8601 times credential and token answers carry. */
#ifndef P11KMS_NET_CLOCK_H
#define P11KMS_NET_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds: the clock every deadline of a call is on. */
uint64_t p11kms_net_now_ms(void);
/* Sleep ms milliseconds, resuming after signals. */
void p11kms_net_sleep_ms(unsigned long ms);
/* Milliseconds left until deadline_ms (0 when past it). */
unsigned long p11kms_net_left_ms(uint64_t deadline_ms);

/* ISO 8601 UTC time as services write it ("2026-11-23T12:39:45Z", optional fraction, "Z" or a
 * +hh:mm / -hh:mm offset; 't' or ' ' for 'T'). 0 ok (*out > 0), -1 malformed or not after
 * 1970-01-01T00:00:00Z (0 means "never expires" to the credential cache, so it can never come
 * from a parse). */
int p11kms_net_parse_time(const char *s, time_t *out);

#endif
