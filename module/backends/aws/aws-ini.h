/* aws-ini.h - the AWS shared credentials and config files: a bounded INI reader with the
 * configparser rules the SDKs use (sections, "key = value", full-line comments, continuations). */
#ifndef P11KMS_AWS_INI_H
#define P11KMS_AWS_INI_H

#include <stddef.h>
#include "pkcs11/p11kms.h"

#define P11KMS_AWS_INI_MAX_BYTES (1024u * 1024u)
#define P11KMS_AWS_INI_MAX_ENTRIES 4096u
/* One value with its continuation lines: credentials and settings are short. */
#define P11KMS_AWS_INI_MAX_VALUE (64u * 1024u)

typedef struct p11kms_aws_ini p11kms_aws_ini;

/* Parse text. Section names are trimmed with inner whitespace runs collapsed to one space
 * ("profile  x" == "profile x"); keys are trimmed and lowercased; values trimmed. A repeated
 * key or section merges, the later value winning. Lines that are neither a section, an entry
 * nor a comment, and entries before any section, are ignored (as a lenient configparser).
 * CKR_OK, CKR_HOST_MEMORY, or CKR_ARGUMENTS_BAD for input over the bounds above. */
CK_RV p11kms_aws_ini_parse(const char *text, size_t len, p11kms_aws_ini **out);
/* Read and parse a file. A missing file is CKR_OK with *out = NULL; an unreadable one, or one
 * over a bound above, is CKR_ARGUMENTS_BAD (one log line with the path, bound and line). */
CK_RV p11kms_aws_ini_load(const char *path, p11kms_aws_ini **out);
/* The value of key in section, or NULL. */
const char *p11kms_aws_ini_get(const p11kms_aws_ini *ini, const char *section, const char *key);
int p11kms_aws_ini_has_section(const p11kms_aws_ini *ini, const char *section);
/* Wipes every value (they may be secret keys) and frees. */
void p11kms_aws_ini_free(p11kms_aws_ini *ini);

#endif
