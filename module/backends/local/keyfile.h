/* keyfile.h - the local backend's key files: for envelope keys one key identity with several
 * AES-256 versions (rotation: new wraps use the newest, unwraps the version named in the
 * envelope); for asymmetric keys one EC or RSA private key in PEM. */
#ifndef P11KMS_KEYFILE_H
#define P11KMS_KEYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>
#include "pkcs11/p11kms.h"

#define P11KMS_KEYFILE_KEY_LEN 32
#define P11KMS_KEYFILE_MAX_VERSIONS 1024
#define P11KMS_KEYFILE_MAX_BYTES (256u * 1024u)

typedef struct p11kms_keyfile_version {
    uint32_t version; /* 1, 2, ... strictly increasing in the file */
    uint8_t key[P11KMS_KEYFILE_KEY_LEN];
} p11kms_keyfile_version;

typedef struct p11kms_keyfile {
    char name[33]; /* random identity, 32 lowercase hex digits, written at creation */
    p11kms_keyfile_version *versions; /* sorted by version */
    size_t n;
} p11kms_keyfile;

/* Read a key file. Refuses (CKR_ARGUMENTS_BAD, logged with the path) a file readable or
 * writable by group/others, not a regular file, or malformed. */
CK_RV p11kms_keyfile_load(const char *path, p11kms_keyfile **out);
/* Parse key file text; bounded, fuzzable. origin names the source in log lines. */
CK_RV p11kms_keyfile_parse(const char *text, size_t len, const char *origin, p11kms_keyfile **out);
/* Create a new key file (mode 0600, O_EXCL: never overwrites) with one random version. */
CK_RV p11kms_keyfile_create(const char *path);
/* Append a new random version; the file is rewritten atomically (temp file, fsync, rename)
 * with mode 0600. *new_version gets its number. */
CK_RV p11kms_keyfile_add_version(const char *path, uint32_t *new_version);
/* The newest version, or the given one; NULL when absent. */
const p11kms_keyfile_version *p11kms_keyfile_newest(const p11kms_keyfile *kf);
const p11kms_keyfile_version *p11kms_keyfile_get(const p11kms_keyfile *kf, uint32_t version);
/* Wipes key material and frees. */
void p11kms_keyfile_free(p11kms_keyfile *kf);

/*
 * Asymmetric key files: one unencrypted PEM private key ("PRIVATE KEY", PKCS#8, as p11kms keygen
 * and openssl genpkey write it; OpenSSL's "EC PRIVATE KEY" and "RSA PRIVATE KEY" are read too)
 * of a listed type (keytype.h), under the same file rules as key files.
 */
/* Parse; key_type P11KMS_KT_* the key must be, or -1 for any listed type. Bounded, fuzzable.
 * CKR_ARGUMENTS_BAD (logged without the key), CKR_HOST_MEMORY. */
CK_RV p11kms_keyfile_private_parse(const char *text, size_t len, const char *origin, int key_type,
                                   EVP_PKEY **out);
CK_RV p11kms_keyfile_private_load(const char *path, int key_type, EVP_PKEY **out);
/* Create path (mode 0600, O_EXCL: never overwrites) with a new random key of key_type. */
CK_RV p11kms_keyfile_private_create(const char *path, int key_type);

#endif
