/* kms-report.c - this thread's report of its last KMS use and the core's call deadline
 * (kms-report.h). State: thread-local only; no locks. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "kms-report.h"

static __thread p11kms_kms_report report;
static __thread uint64_t call_deadline_ms;

uint64_t p11kms_kms_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void p11kms_kms_report_reset(void)
{
    memset(&report, 0, sizeof(report));
}

const p11kms_kms_report *p11kms_kms_report_last(void)
{
    return &report;
}

void p11kms_kms_call_deadline_set(uint64_t deadline_ms)
{
    call_deadline_ms = deadline_ms;
}

uint64_t p11kms_kms_call_deadline_clamp(uint64_t deadline_ms)
{
    if (call_deadline_ms != 0 && call_deadline_ms < deadline_ms)
        return call_deadline_ms;
    return deadline_ms;
}

void p11kms_kms_report_call(int fault, long status, const char *request_id)
{
    report.calls++;
    report.fault = fault;
    report.status = status;
    snprintf(report.request_id, sizeof(report.request_id), "%s",
             request_id != NULL ? request_id : "");
}

void p11kms_kms_report_fault(int fault)
{
    report.fault = fault;
}

const char *p11kms_kms_fault_name(int fault)
{
    switch (fault) {
    case P11KMS_FAULT_DEFINITIVE:
        return "definitive";
    case P11KMS_FAULT_UNAVAILABLE:
        return "unavailable";
    default:
        return "none";
    }
}
