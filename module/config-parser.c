/* config-parser.c - what every part of the configuration reader shares: the field path for the
 * one error line per failure, typed field readers with their bounds, backend options as text,
 * and the template fields. No shared state: each parse has its own parser. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config-parser.h"
#include "config-template.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

#define OPTION_VALUE_MAX 4096

CK_RV p11kms_config_fail(p11kms_config_parser *ps, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    LOG_E("%s: %s: %s", ps->origin, ps->path_len > 0 ? ps->path : "(document)", msg);
    return CKR_ARGUMENTS_BAD;
}

size_t p11kms_config_push_name(p11kms_config_parser *ps, const char *name)
{
    size_t old = ps->path_len;
    char clean[65];

    p11kms_printable(clean, sizeof(clean), name);
    snprintf(ps->path + old, sizeof(ps->path) - old, "%s%s", old > 0 ? "." : "", clean);
    ps->path_len = strlen(ps->path);
    return old;
}

size_t p11kms_config_push_index(p11kms_config_parser *ps, size_t i)
{
    size_t old = ps->path_len;

    snprintf(ps->path + old, sizeof(ps->path) - old, "[%zu]", i);
    ps->path_len = strlen(ps->path);
    return old;
}

void p11kms_config_pop(p11kms_config_parser *ps, size_t old)
{
    ps->path_len = old;
    ps->path[old] = '\0';
}

const char *p11kms_config_type_name(json_object *o)
{
    return json_type_to_name(json_object_get_type(o));
}

/* A string field of min..max bytes, valid UTF-8 without NUL; *s points into the JSON tree. */
CK_RV p11kms_config_string(p11kms_config_parser *ps, json_object *o, size_t min, size_t max,
                           const char **s)
{
    size_t len;

    if (!json_object_is_type(o, json_type_string))
        return p11kms_config_fail(ps, "must be a string, not %s", p11kms_config_type_name(o));
    *s = json_object_get_string(o);
    len = (size_t)json_object_get_string_len(o);
    if (len < min || len > max)
        return p11kms_config_fail(ps, "must be %zu..%zu bytes long, not %zu", min, max, len);
    if (!p11kms_utf8_valid((const uint8_t *)*s, len))
        return p11kms_config_fail(ps, "is not valid UTF-8");
    return CKR_OK;
}

CK_RV p11kms_config_dup_string(p11kms_config_parser *ps, json_object *o, size_t min, size_t max,
                               char **out)
{
    const char *s;
    CK_RV rv = p11kms_config_string(ps, o, min, max, &s);

    if (rv != CKR_OK)
        return rv;
    *out = strdup(s);
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

CK_RV p11kms_config_object(p11kms_config_parser *ps, json_object *o)
{
    if (!json_object_is_type(o, json_type_object))
        return p11kms_config_fail(ps, "must be an object, not %s", p11kms_config_type_name(o));
    return CKR_OK;
}

CK_RV p11kms_config_array(p11kms_config_parser *ps, json_object *o, size_t max)
{
    if (!json_object_is_type(o, json_type_array))
        return p11kms_config_fail(ps, "must be an array, not %s", p11kms_config_type_name(o));
    if (json_object_array_length(o) > max)
        return p11kms_config_fail(ps, "has %zu entries, at most %zu are allowed",
                                  json_object_array_length(o), max);
    return CKR_OK;
}

/* Backend options are text: strings as they are, numbers and booleans as their JSON text. */
CK_RV p11kms_config_option_text(p11kms_config_parser *ps, json_object *o, char **out)
{
    int64_t i;

    switch (json_object_get_type(o)) {
    case json_type_string:
        return p11kms_config_dup_string(ps, o, 0, OPTION_VALUE_MAX, out);
    case json_type_boolean:
        *out = strdup(json_object_get_boolean(o) ? "true" : "false");
        break;
    case json_type_int:
        /* json-c saturates integers it cannot hold: refuse rather than change the value. */
        i = json_object_get_int64(o);
        if (i == INT64_MAX || i == INT64_MIN)
            return p11kms_config_fail(ps, "number out of range");
        *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        break;
    case json_type_double:
        if (!isfinite(json_object_get_double(o)))
            return p11kms_config_fail(ps, "number out of range");
        *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        break;
    default:
        return p11kms_config_fail(ps, "must be a string, number or boolean, not %s",
                                  p11kms_config_type_name(o));
    }
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

int p11kms_config_is_option(const p11kms_backend_ops *ops, const char *name)
{
    size_t i;

    for (i = 0; ops->options != NULL && ops->options[i] != NULL; i++)
        if (strcmp(ops->options[i], name) == 0)
            return 1;
    return 0;
}

CK_RV p11kms_config_unknown_field(p11kms_config_parser *ps, const p11kms_backend_ops *ops,
                                  const char *name)
{
    char list[256] = "", clean[65];
    size_t i, used = 0;

    p11kms_printable(clean, sizeof(clean), name);
    if (ops == NULL)
        return p11kms_config_fail(ps, "unknown field \"%s\"", clean);
    for (i = 0; ops->options != NULL && ops->options[i] != NULL && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "",
                                 ops->options[i]);
    return p11kms_config_fail(ps, "unknown field \"%s\" (backend %s also accepts: %s)", clean,
                              ops->name, list[0] != '\0' ? list : "nothing");
}

const p11kms_backend_ops *p11kms_config_backend(p11kms_config_parser *ps, const char *name,
                                                CK_RV *rv)
{
    const p11kms_backend_ops *ops = p11kms_backend_find(name);
    char clean[65];

    *rv = CKR_OK;
    if (ops == NULL) {
        p11kms_printable(clean, sizeof(clean), name);
        *rv = p11kms_config_fail(ps, "backend %s is not available in this build", clean);
    }
    return ops;
}

CK_RV p11kms_config_bool(p11kms_config_parser *ps, json_object *o, int *out)
{
    if (!json_object_is_type(o, json_type_boolean))
        return p11kms_config_fail(ps, "must be true or false, not %s", p11kms_config_type_name(o));
    *out = json_object_get_boolean(o) ? 1 : 0;
    return CKR_OK;
}

/* "wrap_template" or "unwrap_template" (config-template.c) into wrap or unwrap. */
CK_RV p11kms_config_template_field(p11kms_config_parser *ps, const char *name, json_object *o,
                                   p11kms_attr_template *wrap, p11kms_attr_template *unwrap)
{
    char err[700];
    int u = strcmp(name, "unwrap_template") == 0;

    if (p11kms_config_template(o, u, u ? unwrap : wrap, err, sizeof(err)) != CKR_OK)
        return p11kms_config_fail(ps, "%s", err);
    return CKR_OK;
}
