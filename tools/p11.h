/* p11.h - the tool's view of a PKCS#11 module: loading it, its tokens (one session each, logged
 * in when a PIN is given), the secret keys they hold, and choosing a key by label or URI. */
#ifndef P11KMS_TOOL_P11_H
#define P11KMS_TOOL_P11_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "tool.h"

typedef struct tool_slot {
    CK_SLOT_ID id;
    CK_SESSION_HANDLE session;
    CK_TOKEN_INFO info;
    char label[33]; /* token label without the padding */
    int logged_in;
    int login_missing; /* the token wants a login and no PIN was given */
} tool_slot;

typedef struct tool_key {
    tool_slot *slot;
    CK_OBJECT_HANDLE handle;
    char *label; /* "" when the object has none */
    uint8_t *id;
    size_t id_len;
    CK_KEY_TYPE key_type;
    CK_BBOOL wrap, unwrap, encrypt, decrypt, extractable;
    /* p11kms KMS keys (CKA_P11KMS_BACKEND readable); the rest are plain module keys. */
    int is_kms;
    char *backend;
    char *kms_key_id;
    CK_ULONG version;
    uint8_t *default_ctx; /* canonical encoding; NULL when absent */
    size_t default_ctx_len;
} tool_key;

typedef struct tool_p11 {
    void *dl;
    CK_FUNCTION_LIST *f;
    int initialized;
    CK_INFO info;
    tool_slot *slots;
    size_t n_slots;
    tool_key *keys;
    size_t n_keys;
} tool_p11;

/* What a key must be able to do to be chosen. */
#define TOOL_NEED_WRAP 0x1u
#define TOOL_NEED_UNWRAP 0x2u

/* Load the module, C_Initialize it, open a session on every token (matching --token), log in
 * where a PIN is available (from --pin-file, $P11KMS_PIN, or pin-value/pin-source in the token
 * or key URI key_spec), and list the secret keys. 0, or -1 after reporting the failure. */
int tool_p11_open(const tool_common *c, const char *key_spec, tool_p11 **out);
void tool_p11_close(tool_p11 *p);

/* List the secret keys visible in s's session into p->keys (keys.c). */
int tool_p11_keys_load(tool_p11 *p, tool_slot *s);

/* Whether k can wrap or unwrap data keys for the tool: a KMS key, or an AES key. */
int tool_key_usable(const tool_key *k, unsigned need);
/* Choose one key: by label, by pkcs11: URI, or (spec NULL) the only usable one. Reports the
 * failure (none, or several: names them) and returns -1. */
int tool_key_select(tool_p11 *p, const char *spec, unsigned need, tool_key **out);
/* A pkcs11: URI naming k (token and object); malloc'd, NULL on failure. */
char *tool_key_uri(const tool_p11 *p, const tool_key *k);
/* "label" or "id=0a0b" for messages; static buffer. */
const char *tool_key_name(const tool_key *k);

/* Read a variable-length attribute: *out malloc'd with a NUL after the value. */
CK_RV tool_attr_alloc(tool_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                      uint8_t **out, size_t *out_len);

#endif
