/* config-load.h - reading a configuration: the JSON document (config-doc.c, bounded and
 * fuzzable), the file rules and path order, and the KMS_KEY_ID quick mode (config-load.c).
 * Backend-specific fields and key names are the backends' to judge (backend.h). */
#ifndef P11KMS_CONFIG_LOAD_H
#define P11KMS_CONFIG_LOAD_H

#include <stddef.h>
#include "pkcs11/p11kms.h"
#include "config.h"

/* Where the module looks when $P11KMS_CONFIG names no file. */
#ifndef P11KMS_SYSCONFDIR
#define P11KMS_SYSCONFDIR "/etc"
#endif
#define P11KMS_DEFAULT_CONFIG P11KMS_SYSCONFDIR "/p11kms/p11kms.conf"

/* Parse a configuration document. Unknown fields and bad values give CKR_ARGUMENTS_BAD with
 * one log line naming origin, the field path and the problem. Backend-specific fields are
 * accepted only when the backend lists them (p11kms_backend_find(...)->options). */
CK_RV p11kms_config_parse(const char *text, size_t len, const char *origin, p11kms_config **out);

/* Resolve and load: explicit path (a tool's --config; the module passes NULL) or
 * $P11KMS_CONFIG must exist; otherwise default_path if it exists; otherwise KMS_KEY_ID quick
 * mode; otherwise an empty configuration. A file writable by group/others is refused, and so is
 * one readable by them that holds a literal PIN. Never creates files. */
CK_RV p11kms_config_load(const char *explicit_path, const char *default_path, p11kms_config **out);

/* Quick mode: one token "p11kms" with one key "default" for a KMS_KEY_ID value in a form one
 * backend recognises (its quick_forms, backend.h). CKR_ARGUMENTS_BAD for an unrecognised form,
 * with a line listing every backend's forms. */
CK_RV p11kms_config_quick(const char *kms_key_id, p11kms_config **out);

#endif
