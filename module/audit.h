/* audit.h - the audit trail: one JSON line per KMS use (docs/audit.md), to an append-only file
 * or syslog, for shipping to a SIEM next to the KMS's own audit (CloudTrail, Vault audit, Cloud
 * Audit Logs). Never a secret: no key value, plaintext, token or credential reaches it; context
 * values only when configured. Off unless the configuration's "audit" names a destination. */
#ifndef P11KMS_AUDIT_H
#define P11KMS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "config.h"
#include "context.h"
#include "kms-report.h"

/* One KMS use, as envelope-seal.c saw it (or an open the module answered itself). */
typedef struct p11kms_audit_event {
    const char *op; /* "wrap", "unwrap", "encrypt", "decrypt", "sign", "store-seal", "store-open",
                       "rewrap" */
    const p11kms_key_config *kc;     /* the configured key (token, label) */
    const char *backend;             /* the entry's backend name */
    const char *kms_key;             /* the KMS key reference the blob names or the entry has */
    const char *role;                /* "current" or "previous" */
    const p11kms_context *ctx;       /* the application's context (the reserved pair aside) */
    int context_accepted;            /* 0: the call's; n: the key's accepted_contexts[n-1] */
    CK_RV rv;                        /* the backend's */
    const p11kms_kms_report *report; /* fault class, request id, HTTP status */
    uint64_t latency_ms;
    /* NULL: from rv and report; else set by the module when no KMS was asked ("cache-hit",
     * "refused" by the kill switch) */
    const char *outcome;
} p11kms_audit_event;

/* Open the configured destination (C_Initialize, before any call). CKR_OK when none is
 * configured; CKR_GENERAL_ERROR (logged) when the file cannot be opened: the module refuses to
 * start rather than run without its audit trail. */
CK_RV p11kms_audit_open(const p11kms_config *cfg);
/* Close it (C_Finalize). */
void p11kms_audit_close(void);
/* Whether records are written (callers skip their timing work otherwise). */
int p11kms_audit_on(void);
/* Write one record (one write(2) of one line; safe from many threads and after fork). */
void p11kms_audit_record(const p11kms_audit_event *ev);
/* The record as text without the newline, into buf (for tests and the writer). Returns the
 * length, or 0 when it does not fit. */
size_t p11kms_audit_format(const p11kms_audit_event *ev, int context_values, char *buf, size_t len);

#endif
