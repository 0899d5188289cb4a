/* store-file.h - one stored object's file (docs/store.md): the bounded, fuzzable encoder and
 * parser of its layout and of the attribute encoding the attribute table defines. No KMS, no I/O,
 * no shared state. */
#ifndef P11KMS_STORE_FILE_H
#define P11KMS_STORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "object.h"
#include "secmem.h"

#define P11KMS_STORE_MAGIC "\x89PKMSO\r\n" /* 8 bytes */
#define P11KMS_STORE_MAGIC_LEN 8
#define P11KMS_STORE_VERSION 1
#define P11KMS_STORE_FILE_KEY_LEN 32 /* AES-256-GCM key of the secret part */
#define P11KMS_STORE_IV_LEN 12
#define P11KMS_STORE_TAG_LEN 16
/* Fixed fields before the attributes: magic, version, kind, flags, id, generation, value
 * length, usage history, attribute length. */
#define P11KMS_STORE_HEADER_LEN 48
#define P11KMS_STORE_ID_OFFSET 12 /* where the object id sits in the header */
#define P11KMS_STORE_ATTRS_MAX (48u * 1024u)
#define P11KMS_STORE_VALUE_MAX (64u * 1024u) /* the longest data object value */
#define P11KMS_STORE_ENVELOPE_MAX (16u * 1024u)
/* A file is never longer: anything bigger is refused before it is read. */
#define P11KMS_STORE_FILE_MAX                                                                      \
    (P11KMS_STORE_HEADER_LEN + P11KMS_STORE_ATTRS_MAX + 4 + P11KMS_STORE_ENVELOPE_MAX +            \
     P11KMS_STORE_IV_LEN + P11KMS_STORE_VALUE_MAX + P11KMS_STORE_TAG_LEN)

/* The kind byte. Never renumber. */
enum p11kms_store_kind {
    P11KMS_STORE_KIND_SECRET_KEY = 1, /* a data key (P11KMS_OBJ_DATA_KEY) */
    P11KMS_STORE_KIND_DATA = 2,       /* a CKO_DATA object (P11KMS_OBJ_DATA) */
};

/* A parsed file: fixed fields copied out, everything else pointing into the parsed bytes. */
typedef struct p11kms_store_file {
    uint8_t kind; /* enum p11kms_store_kind */
    uint8_t id[P11KMS_STORE_ID_LEN];
    uint64_t generation; /* 1 when created, one more at every C_SetAttributeValue */
    uint32_t value_len;  /* CKA_VALUE's length (the secret part's plaintext) */
    uint32_t usage_history;
    /* The authenticated prefix: header and attributes, the GCM additional data, and what the
     * KMS context's p11kms:attrs hashes. */
    const uint8_t *prefix;
    size_t prefix_len;
    const uint8_t *attrs;
    size_t attrs_len;
    const uint8_t *envelope; /* the sealed file key: a p11kms envelope (purpose 3) */
    size_t envelope_len;
    const uint8_t *iv;
    const uint8_t *ct; /* value_len bytes */
    const uint8_t *tag;
} p11kms_store_file;

/* The object kind of a file kind, or 0. */
int p11kms_store_kind_object(uint8_t kind);

/* Parse a whole file: every length checked before use, fixed fields in range, no trailing
 * bytes. CKR_OK, or CKR_DEVICE_ERROR with *defect naming the problem (no log line: the caller
 * knows which file it was). The attributes are decoded separately. */
CK_RV p11kms_store_file_parse(const uint8_t *in, size_t len, p11kms_store_file *f,
                              const char **defect);

/* The authenticated prefix for object o (a data key or data object, its value present or not):
 * header with id, generation, the value's length and usage history, then o's persistent
 * attributes in table order. *out is public data (attributes are not secret). */
CK_RV p11kms_store_prefix_encode(const p11kms_object *o, const uint8_t id[P11KMS_STORE_ID_LEN],
                                 uint64_t generation, p11kms_buf *out);

/* A new object of the file's kind with the attributes, usage history and value length of f
 * (value NULL: sealed). Checks what the module relies on: every persistent attribute of the
 * kind once and in table order, values in range, the key type and length, the wrap/decrypt
 * separation. CKR_DEVICE_ERROR with *defect, or CKR_HOST_MEMORY. */
CK_RV p11kms_store_attrs_decode(const p11kms_store_file *f, p11kms_object **out,
                                const char **defect);

/* The whole file: prefix, then the envelope's length and bytes, IV, ciphertext (as long as the
 * prefix's value length says) and tag. */
CK_RV p11kms_store_file_assemble(const uint8_t *prefix, size_t prefix_len, const uint8_t *env,
                                 size_t env_len, const uint8_t iv[P11KMS_STORE_IV_LEN],
                                 const uint8_t *ct, size_t ct_len,
                                 const uint8_t tag[P11KMS_STORE_TAG_LEN], p11kms_buf *out);

/* File names: "<32 hex digits>.obj" for an object id; whether a name is one (and its id). */
#define P11KMS_STORE_NAME_LEN (2 * P11KMS_STORE_ID_LEN + 4)
void p11kms_store_file_name(const uint8_t id[P11KMS_STORE_ID_LEN],
                            char out[P11KMS_STORE_NAME_LEN + 1]);
int p11kms_store_name_id(const char *name, uint8_t id[P11KMS_STORE_ID_LEN]);

#endif
