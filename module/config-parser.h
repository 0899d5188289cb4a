/* config-parser.h - the configuration reader's shared parts (config-doc.c, config-key.c): the
 * parser's field path, which every error line names, and the typed readers of JSON fields with
 * their bounds. Each reader logs one line naming origin, path and problem, and returns
 * CKR_ARGUMENTS_BAD (or CKR_HOST_MEMORY). */
#ifndef P11KMS_CONFIG_PARSER_H
#define P11KMS_CONFIG_PARSER_H

#include <stddef.h>
#include <json-c/json.h>
#include "pkcs11/p11kms.h"
#include "backend.h"
#include "config.h"

/* Parser state: the origin and the JSON path of the field being read, for the error line. */
typedef struct p11kms_config_parser {
    const char *origin;
    char path[256];
    size_t path_len;
    json_object *backends; /* the document's "backends" object, or NULL */
} p11kms_config_parser;

/* Log "origin: path: message" and return CKR_ARGUMENTS_BAD. */
CK_RV p11kms_config_fail(p11kms_config_parser *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Enter a field (name, made printable) or an array index; each returns what p11kms_config_pop
 * takes to leave it again. */
size_t p11kms_config_push_name(p11kms_config_parser *ps, const char *name);
size_t p11kms_config_push_index(p11kms_config_parser *ps, size_t i);
void p11kms_config_pop(p11kms_config_parser *ps, size_t old);
/* "string", "object", ...: a JSON value's type, for error lines. */
const char *p11kms_config_type_name(json_object *o);

/* A string field of min..max bytes, valid UTF-8 without NUL; *s points into the JSON tree. */
CK_RV p11kms_config_string(p11kms_config_parser *ps, json_object *o, size_t min, size_t max,
                           const char **s);
/* The same, copied (malloc). */
CK_RV p11kms_config_dup_string(p11kms_config_parser *ps, json_object *o, size_t min, size_t max,
                               char **out);
CK_RV p11kms_config_object(p11kms_config_parser *ps, json_object *o);
/* An array of at most max entries. */
CK_RV p11kms_config_array(p11kms_config_parser *ps, json_object *o, size_t max);
CK_RV p11kms_config_bool(p11kms_config_parser *ps, json_object *o, int *out);

/* The backend a configuration names, when this build has it; otherwise NULL with *rv the
 * failure (logged). */
const p11kms_backend_ops *p11kms_config_backend(p11kms_config_parser *ps, const char *name,
                                                CK_RV *rv);
/* Whether a backend accepts a field as one of its options. */
int p11kms_config_is_option(const p11kms_backend_ops *ops, const char *name);
/* Refuse an unknown field, listing what the backend (when not NULL) would accept. */
CK_RV p11kms_config_unknown_field(p11kms_config_parser *ps, const p11kms_backend_ops *ops,
                                  const char *name);
/* A backend option's value as text (malloc): strings as they are, numbers and booleans as their
 * JSON text. */
CK_RV p11kms_config_option_text(p11kms_config_parser *ps, json_object *o, char **out);
/* "wrap_template" or "unwrap_template" (config-template.c) of a token or key into wrap or
 * unwrap. */
CK_RV p11kms_config_template_field(p11kms_config_parser *ps, const char *name, json_object *o,
                                   p11kms_attr_template *wrap, p11kms_attr_template *unwrap);

/* One key (config-key.c): its fields, the document's backend defaults, the backend's own
 * checks and the CKA_ID default; kc->origin names file and path. */
CK_RV p11kms_config_parse_key(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc);

/* Operational fields (config-ops.c): the document's "kill_switch_dir", a key's "unwrap_cache". */
CK_RV p11kms_config_kill_switch_dir(p11kms_config_parser *ps, json_object *o, p11kms_config *cfg);
CK_RV p11kms_config_unwrap_cache(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc);

#endif
