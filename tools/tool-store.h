/* tool-store.h - the tool's view of token object stores (docs/store.md): each configured token's
 * directory, the KMS keys that open and seal its files, and a walk over its entries. The store
 * commands work on the files with the module's own store code and backends rather than through
 * PKCS#11: a listing must show the files the module refuses, and PKCS#11 has no call that re-seals
 * every object of a token. */
#ifndef P11KMS_TOOL_STORE_H
#define P11KMS_TOOL_STORE_H

#include "keyset.h"
#include "config.h"
#include "object.h"
#include "store-file.h"

typedef struct tool_store {
    const p11kms_token_config *tc;
    char *dir; /* NULL: the token keeps no objects (why) */
    const char *why;
    long storage; /* index of the storage key in tc->keys, -1: none (why_no_key) */
    char why_no_key[256];
    /* With keys: one key set per configured key (its KMS entries, keyset.h), and the ones that
     * open files (unwrap permission), storage key first - the module's order. */
    p11kms_keyset **keys;
    p11kms_keyset **readers;
    size_t n_readers;
} tool_store;

/* The store of token tc; with_keys also makes its backends (no KMS call yet). 0, or -1 after
 * reporting (out of memory, a key's backend refused its configuration). */
int tool_store_open(const p11kms_token_config *tc, int with_keys, tool_store *st);
void tool_store_close(tool_store *st);

/* One entry of a store directory, as the module would see it. */
typedef struct tool_store_entry {
    const char *name;
    int is_object; /* "<32 hex>.obj" */
    int is_temp;   /* a writer's temporary file */
    p11kms_buf bytes;
    p11kms_store_file f;  /* parsed, when why is NULL */
    p11kms_object *attrs; /* the decoded attributes, when why is NULL */
    off_t size;
    const char *why; /* refused: why (read, parsed and decoded as the module does) */
} tool_store_entry;

/* fn for every entry of st's directory, by name; the directory is read under no lock (a snapshot
 * as a scan would see it). The number of entries, or -1 when the directory cannot be read
 * (reported; a missing one is 0 entries and *missing set). */
int tool_store_walk(tool_store *st, int (*fn)(tool_store *st, tool_store_entry *e, void *arg),
                    void *arg, int *missing);

/* "AES-256 key" / "generic secret (12 bytes)" / "data (11 bytes)". */
const char *tool_store_kind(const p11kms_object *o);
/* Printable text of a byte attribute, cut at max bytes (static buffer per call site ring). */
const char *tool_store_text(const uint8_t *p, size_t n);

#endif
