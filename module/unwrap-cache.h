/* unwrap-cache.h - the opt-in unwrap cache (the AWS Encryption SDK's caching model): key values
 * a KMS unwrapped, kept a bounded time and number of uses so hot records skip the KMS call. */
#ifndef P11KMS_UNWRAP_CACHE_H
#define P11KMS_UNWRAP_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "context.h"
#include "secmem.h"

/*
 * Off unless a key configures "unwrap_cache" (config.h). Only C_UnwrapKey uses it: it holds
 * data keys, which the application gets as objects whose attributes the module still rules
 * (the unwrap template, sensitivity), never C_Decrypt's plaintext.
 *
 * An entry is found by SHA-256 over the key's identity (backend, key_id, label), the whole
 * envelope and the canonical encoding of the context the KMS would bind (the application's
 * and the purpose pair), so a different key, envelope, or context never hits: what the KMS
 * would refuse, the cache cannot give. Each configured key has its own entries: at most
 * max_entries (least recently used dropped first), each served at most max_uses times and for
 * max_age_s seconds after the KMS call that filled it. Values are wiped when they go; the kill
 * switch, C_Finalize and fork() (in the child) drop them at once.
 */
#define P11KMS_UNWRAP_CACHE_DIGEST 32

/* Whether kc caches unwraps. */
int p11kms_unwrap_cache_enabled(const p11kms_key_config *kc);
/* Look an unwrap up: 1 with the key value in *pt (a copy: wipe it) on a hit; 0 on a miss with
 * digest set for p11kms_unwrap_cache_put; -1 when no digest could be made (out of memory: go
 * to the KMS, cache nothing). One debug line with the key's hits and misses. */
int p11kms_unwrap_cache_get(const p11kms_key_config *kc, const uint8_t *envelope, size_t len,
                            const p11kms_context *bound, uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST],
                            p11kms_buf *pt);
/* Keep the value the KMS unwrapped for digest (copied; a failure to copy only skips it). */
void p11kms_unwrap_cache_put(const p11kms_key_config *kc,
                             const uint8_t digest[P11KMS_UNWRAP_CACHE_DIGEST], const uint8_t *pt,
                             size_t pt_len);
/* Drop (wipe) kc's entries; NULL: every key's. */
void p11kms_unwrap_cache_forget(const p11kms_key_config *kc);

#endif
