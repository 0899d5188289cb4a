/* aws-client.h - one AWS KMS key's client: its settings (region, endpoint, timeouts, retries,
 * credentials) from the key configuration and environment, and the signed, retried KMS call. */
#ifndef P11KMS_AWS_CLIENT_H
#define P11KMS_AWS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "aws-creds.h"
#include "aws-retry.h"
#include "aws-service.h"
#include "backend.h"
#include "config.h"
#include "net/call.h"

/* The backend byte of AWS KMS ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_AWS_ENVELOPE_ID 2

#define P11KMS_AWS_DEFAULT_CONNECT_TIMEOUT_MS 5000ul
#define P11KMS_AWS_DEFAULT_REQUEST_TIMEOUT_MS 10000ul
#define P11KMS_AWS_DEFAULT_DEADLINE_MS 30000ul
#define P11KMS_AWS_DEFAULT_MAX_ATTEMPTS 3 /* botocore standard mode */
#define P11KMS_AWS_MAX_RESPONSE (64u * 1024u)

/* Backend configuration fields, NULL-terminated (the backend's options list). */
extern const char *const p11kms_aws_option_names[];

/* A KMS key reference as configured or as found in a blob. */
enum p11kms_aws_keyref_kind {
    P11KMS_AWS_KEY_ARN = 1, /* arn:aws:kms:us-east-1:111122223333:key/1234abcd-... */
    P11KMS_AWS_ALIAS_ARN,   /* arn:aws:kms:us-east-1:111122223333:alias/name */
    P11KMS_AWS_KEY_ID,      /* 1234abcd-12ab-34cd-56ef-1234567890ab, mrk-... */
    P11KMS_AWS_ALIAS_NAME,  /* alias/name */
};

typedef struct p11kms_aws_keyref {
    int kind;
    char partition[32]; /* ARNs only */
    char region[32];    /* ARNs only */
    char account[16];   /* ARNs only */
    char id[256];       /* key id, or alias name without "alias/" */
} p11kms_aws_keyref;

/* 0 and *out filled for a well-formed reference, -1 otherwise. */
int p11kms_aws_keyref_parse(const char *s, p11kms_aws_keyref *out);

/* The key's settings without the network: the profile option, the region (and where it came
 * from) and the endpoint. For the client and for doctor. */
typedef struct p11kms_aws_settings {
    const char *profile; /* the key's "profile", or NULL (the process default) */
    char *region;
    p11kms_net_settings net;
} p11kms_aws_settings;

/* Read and check (logged with kc->origin): CKR_ARGUMENTS_BAD, CKR_HOST_MEMORY. arn_region is
 * the region of the configured key ARN, if any. Reads the config file for the profile's
 * region. */
CK_RV p11kms_aws_settings_read(const p11kms_key_config *kc, const char *arn_region,
                               p11kms_aws_settings *out);
void p11kms_aws_settings_free(p11kms_aws_settings *s);

/* The KMS client of a key (p11kms_aws_client: aws-service.h), built from the key configuration
 * (options) and the environment (p11kms_aws_settings_read). No network. */
CK_RV p11kms_aws_client_new(const p11kms_key_config *kc, const char *arn_region,
                            p11kms_aws_client **out);

/* The deadline of a call that starts now. */
uint64_t p11kms_aws_client_deadline(const p11kms_aws_client *c);

/* The hooks of KMS calls (aws-call.c): SigV4 with credentials from the client's provider,
 * AWS error bodies, the AWS CK_RV mapping. */
extern const p11kms_net_hooks p11kms_aws_hooks;

/* Call TrentService.<op> with a JSON body: sign (fresh credentials each attempt), send, retry
 * what is retryable within the attempts, the retry quota and the deadline. CKR_OK with a 200
 * JSON answer in reply; otherwise one log line ("aws: <op> <what> failed: <code> (HTTP
 * <status>, request id <id>): <message>") and the CK_RV backend.h asks for. */
CK_RV p11kms_aws_call(p11kms_aws_client *c, const char *op, const char *what,
                      const p11kms_sbuf *body, uint64_t deadline_ms, p11kms_net_reply *reply);

/* Self-description (aws-describe.c): quick-mode key references and doctor findings. */
extern const char p11kms_aws_quick_forms[];
int p11kms_aws_quick(const char *value, p11kms_quick_key *out);
void p11kms_aws_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx);

#endif
