/* doctor.h - the steps "p11kms doctor" reports: one line each, with a status word, counted so
 * the exit status says whether anything failed. */
#ifndef P11KMS_TOOL_DOCTOR_H
#define P11KMS_TOOL_DOCTOR_H

#include "config.h"

enum doctor_status { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL, DOCTOR_SKIP };

typedef struct doctor {
    unsigned checks;
    unsigned failures;
    unsigned warnings;
} doctor;

void doctor_step(doctor *d, enum doctor_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Each token's object store: directory, storage key, every file parses; deep: each opens with
 * the token's keys (one KMS Decrypt per object; doctor-store.c). */
void doctor_store(doctor *d, const p11kms_config *cfg, int deep);

#endif
