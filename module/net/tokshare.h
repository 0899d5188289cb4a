/* tokshare.h - token caches shared process-wide by every backend instance that reaches a service
 * with the same settings, so all keys of a host resolve their credentials once and refresh them
 * one at a time (tokcache.h). Entries are found by their settings, reference counted, and never
 * used in a forked child: an entry inherited across fork() is passed over and the child makes
 * its own (its cache's lock may be held for good). */
#ifndef P11KMS_NET_TOKSHARE_H
#define P11KMS_NET_TOKSHARE_H

#include "http.h"
#include "tokcache.h"

#define P11KMS_TOKSHARE_STRINGS 3

/* The settings an entry is shared by; what the strings mean is the service's (AWS: profile,
 * region, CA file; Google: credentials file, CA file; Vault: every setting a token depends on,
 * in one string). NULL strings are allowed. */
typedef struct p11kms_tokshare_key {
    const char *str[P11KMS_TOKSHARE_STRINGS];
    unsigned long connect_timeout_ms;
    unsigned long request_timeout_ms;
    int max_attempts;
    p11kms_http_transport *http;
} p11kms_tokshare_key;

/* A service's kind of entry: its cache's names and margins, and the hook that fetches; the
 * hook's ctx is the entry (p11kms_tokshare *): its key, with copies of the strings, and its
 * state. */
typedef struct p11kms_tokshare_class {
    const char *name; /* "aws" */
    const char *what; /* "credentials" */
    long advisory_s;
    long mandatory_s;
    p11kms_tokcache_fetch fetch;
    int secret_key; /* the key strings may hold a secret: wiped when the entry goes */
    /* Optional: what else a new entry keeps for the hook, made from get's arg under the
     * registry's lock (no I/O; NULL is no memory), and freed with the entry. */
    void *(*state_new)(const void *arg);
    void (*state_free)(void *state);
} p11kms_tokshare_class;

typedef struct p11kms_tokshare {
    const p11kms_tokshare_class *cls; /* immutable */
    p11kms_tokshare_key key;          /* immutable; the strings owned */
    void *state;                      /* the service's (state_new), or NULL */
    p11kms_tokcache cache;
    unsigned long refs;           /* the registry's lock */
    struct p11kms_tokshare *next; /* the registry's lock */
} p11kms_tokshare;

/* The entry of cls for these settings, made (no I/O; state from arg) when there is none in this
 * process yet; a reference the caller puts back. CKR_HOST_MEMORY only. */
CK_RV p11kms_tokshare_get(const p11kms_tokshare_class *cls, const p11kms_tokshare_key *key,
                          const void *arg, p11kms_tokshare **out);
/* Drop a reference; the last one frees the entry and its cache. NULL is ignored. */
void p11kms_tokshare_put(p11kms_tokshare *s);

#endif
