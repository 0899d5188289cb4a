/* kms-report.h - what the last KMS use of this thread came to, beyond its CK_RV: whether a
 * failure was an availability fault (another KMS may serve: the key set fails over) or a
 * definitive refusal (never fail over), the KMS request id and the HTTP status, for the failover
 * decision and the audit trail. A leaf: the net call loop (module/net/call.c) writes it for every
 * remote backend without the backend doing anything; the core (envelope-seal.c) resets it before
 * each backend operation and reads it after. It also carries the deadline of the core's whole
 * call (a key set tries several KMSs within one deadline), which the call loop honours.
 * State: thread-local, no locks (each thread sees only its own). Contract:
 * docs/adding-a-backend.md. */
#ifndef P11KMS_KMS_REPORT_H
#define P11KMS_KMS_REPORT_H

#include <stdint.h>

#define P11KMS_KMS_REQUEST_ID_MAX 128

/* The class of a failed KMS use. Never renumber (tests and the audit trail name them). */
enum p11kms_kms_fault {
    P11KMS_FAULT_NONE = 0,    /* no failure reported (success, or a failure before any call) */
    P11KMS_FAULT_DEFINITIVE,  /* the KMS answered no: wrong context, tampered, access denied,
                               * key disabled, request refused; another KMS must not be asked */
    P11KMS_FAULT_UNAVAILABLE, /* the KMS could not serve: connection error, timeout, 5xx and
                               * throttling after the retries, deadline, a broken answer,
                               * credentials that could not be fetched; another KMS may serve */
};

typedef struct p11kms_kms_report {
    int fault;   /* enum p11kms_kms_fault of the last remote call (or what a backend set) */
    int calls;   /* remote calls since the reset (each may have had several attempts) */
    long status; /* HTTP status of the last answer, 0 when none */
    char request_id[P11KMS_KMS_REQUEST_ID_MAX]; /* of the last answer; "" when none */
} p11kms_kms_report;

/* Monotonic milliseconds (the clock of every deadline, same as the net layer's). */
uint64_t p11kms_kms_now_ms(void);

/* Core: start a backend operation: clear this thread's report (the deadline stays). */
void p11kms_kms_report_reset(void);
/* Core: this thread's report, as the last operation left it. */
const p11kms_kms_report *p11kms_kms_report_last(void);
/* Core: the deadline (monotonic ms) every remote call of this thread must end by; 0: none.
 * Set before a key set's first attempt, cleared (0) after its last. */
void p11kms_kms_call_deadline_set(uint64_t deadline_ms);
/* Net: clamp a call's own deadline to the core's (when set). */
uint64_t p11kms_kms_call_deadline_clamp(uint64_t deadline_ms);

/* Net (or a backend for a failure it finds itself): record one remote call's end: fault class,
 * HTTP status (0: none), request id (NULL or "": none). */
void p11kms_kms_report_call(int fault, long status, const char *request_id);
/* A backend that judged an answer itself (a 200 it cannot read): set the class only. */
void p11kms_kms_report_fault(int fault);

/* "none", "definitive", "unavailable" */
const char *p11kms_kms_fault_name(int fault);

#endif
