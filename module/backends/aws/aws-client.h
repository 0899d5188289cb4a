/* aws-client.h - one AWS KMS key's client: its settings (region, endpoint, timeouts, retries,
 * credentials) from the key configuration and environment, and the signed, retried KMS call. */
#ifndef P11KMS_AWS_CLIENT_H
#define P11KMS_AWS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "aws-creds.h"
#include "aws-retry.h"
#include "aws-wire.h"
#include "config.h"
#include "http.h"

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

typedef struct p11kms_aws_client {
    char *region;
    char *url;  /* endpoint, ending in "/" */
    char *host; /* Host header: host[:port], default port omitted */
    char *ca_file;
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    unsigned long deadline_ms; /* per PKCS#11 call */
    int max_attempts;
    p11kms_http_transport *http;
    p11kms_aws_provider *creds;
    p11kms_aws_quota quota;
    char *origin; /* the key's configuration origin, for log lines */
} p11kms_aws_client;

/* Build from the key configuration (options) and the environment. arn_region is the region
 * of the configured key ARN, if any. Reads the config file for the profile's region; no
 * network. CKR_ARGUMENTS_BAD (logged with kc->origin) for a bad or incomplete setting. */
CK_RV p11kms_aws_client_new(const p11kms_key_config *kc, const char *arn_region,
                            p11kms_aws_client **out);
void p11kms_aws_client_free(p11kms_aws_client *c);

/* The deadline of a call that starts now. */
uint64_t p11kms_aws_client_deadline(const p11kms_aws_client *c);

/* A 200 answer, parsed. */
typedef struct p11kms_aws_reply {
    p11kms_http_response resp; /* body may hold a plaintext: cleared with wipe */
    p11kms_aws_json root;
    char request_id[128];
} p11kms_aws_reply;

/* Call TrentService.<op> with a JSON body: sign (fresh credentials each attempt), send, retry
 * what is retryable within the attempts, the retry quota and the deadline. CKR_OK with a 200
 * JSON answer in reply; otherwise one log line ("aws: <op> <what>: <code> (HTTP <status>,
 * request id <id>): <message>") and the CK_RV backend.h asks for. */
CK_RV p11kms_aws_call(p11kms_aws_client *c, const char *op, const char *what,
                      const p11kms_aws_sbuf *body, uint64_t deadline_ms, p11kms_aws_reply *reply);
void p11kms_aws_reply_clear(p11kms_aws_reply *r);

#endif
