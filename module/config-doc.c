/* config-doc.c - the configuration document: strict JSON (json-c) within bounds, its top level
 * ("log", "backends", "tokens"), tokens and their keys (config-key.c), and the wipe of every
 * string of the tree once read. One error line per failure naming file, field path and
 * problem. Files and quick mode: config-load.c. No shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include "backend.h"
#include "config-load.h"
#include "config-parser.h"
#include "config-template.h"
#include "log.h"
#include "secmem.h"
#include "util.h"

/* Our schema nests six containers deep (root, tokens, token, keys, key, context); json-c
 * admits max_depth - 1 levels, so one spare level. */
#define JSON_MAX_DEPTH 8
#define PIN_ATTEMPTS_MAX 1000
#define STORE_PATH_MAX 4000
#define STORAGE_KEY_MAX 256 /* a key label (config-key.c) */

/* "backends": {"aws": {"region": "..."}}: checked here, merged into keys later. */
static CK_RV parse_backends(p11kms_config_parser *ps, json_object *o)
{
    CK_RV rv = p11kms_config_object(ps, o);
    const p11kms_backend_ops *ops;
    char *text;
    size_t at, at2;

    if (rv != CKR_OK)
        return rv;
    ps->backends = o;
    json_object_object_foreach(o, name, fields)
    {
        at = p11kms_config_push_name(ps, name);
        ops = p11kms_config_backend(ps, name, &rv);
        if (rv == CKR_OK)
            rv = p11kms_config_object(ps, fields);
        if (rv != CKR_OK)
            return rv;
        json_object_object_foreach(fields, field, value)
        {
            at2 = p11kms_config_push_name(ps, field);
            if (!p11kms_config_is_option(ops, field))
                return p11kms_config_unknown_field(ps, ops, field);
            rv = p11kms_config_option_text(ps, value, &text);
            if (rv != CKR_OK)
                return rv;
            p11kms_secure_free_str(text);
            p11kms_config_pop(ps, at2);
        }
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_log(p11kms_config_parser *ps, json_object *o, p11kms_config *cfg)
{
    CK_RV rv = p11kms_config_object(ps, o);
    const char *s;
    size_t at;

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (strcmp(name, "level") == 0) {
            rv = p11kms_config_string(ps, value, 1, 16, &s);
            if (rv != CKR_OK)
                return rv;
            cfg->log_level = p11kms_log_level_parse(s);
            if (cfg->log_level < 0)
                return p11kms_config_fail(ps, "must be one of error, warning, info, debug, none");
        } else if (strcmp(name, "destination") == 0) {
            rv = p11kms_config_string(ps, value, 1, 4096, &s);
            if (rv != CKR_OK)
                return rv;
            if (strcmp(s, "stderr") != 0 && strcmp(s, "syslog") != 0 &&
                strncmp(s, "file:/", 6) != 0)
                return p11kms_config_fail(ps, "must be stderr, syslog or file:/absolute/path");
            free(cfg->log_destination);
            cfg->log_destination = strdup(s);
            if (cfg->log_destination == NULL)
                return CKR_HOST_MEMORY;
        } else {
            return p11kms_config_unknown_field(ps, NULL, name);
        }
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

/* "audit": {"destination": "file:/path" | "syslog", "context_values": false} (docs/audit.md). */
static CK_RV parse_audit(p11kms_config_parser *ps, json_object *o, p11kms_config *cfg)
{
    CK_RV rv = p11kms_config_object(ps, o);
    const char *s;
    size_t at;

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (strcmp(name, "destination") == 0) {
            rv = p11kms_config_string(ps, value, 1, 4096, &s);
            if (rv != CKR_OK)
                return rv;
            if (strcmp(s, "syslog") != 0 && strncmp(s, "file:/", 6) != 0)
                return p11kms_config_fail(ps, "must be syslog or file:/absolute/path");
            free(cfg->audit_destination);
            cfg->audit_destination = strdup(s);
            if (cfg->audit_destination == NULL)
                return CKR_HOST_MEMORY;
        } else if (strcmp(name, "context_values") == 0) {
            rv = p11kms_config_bool(ps, value, &cfg->audit_context_values);
            if (rv != CKR_OK)
                return rv;
        } else {
            return p11kms_config_unknown_field(ps, NULL, name);
        }
        p11kms_config_pop(ps, at);
    }
    if (cfg->audit_destination == NULL)
        return p11kms_config_fail(ps, "destination is required (syslog or file:/path)");
    return CKR_OK;
}

/* "pin": "1234" or "env:NAME"; the value is a secret and never appears in a log line. */
static CK_RV parse_pin(p11kms_config_parser *ps, json_object *o, char **pin, int *literal)
{
    const char *s, *env;
    CK_RV rv = p11kms_config_string(ps, o, 1, P11KMS_PIN_MAX, &s);
    char clean[65];

    if (rv != CKR_OK)
        return rv;
    if (strncmp(s, "env:", 4) == 0) {
        p11kms_printable(clean, sizeof(clean), s + 4);
        if (s[4] == '\0')
            return p11kms_config_fail(ps, "env: needs a variable name");
        env = secure_getenv(s + 4);
        if (env == NULL)
            return p11kms_config_fail(ps, "environment variable %s is not set", clean);
        if (env[0] == '\0' || strlen(env) > P11KMS_PIN_MAX)
            return p11kms_config_fail(ps, "environment variable %s must hold 1..%d bytes", clean,
                                      P11KMS_PIN_MAX);
        s = env;
    } else {
        *literal = 1;
    }
    *pin = strdup(s);
    return *pin != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* "pin_max_attempts": wrong PINs in a row after which C_Login answers CKR_PIN_LOCKED. */
static CK_RV parse_attempts(p11kms_config_parser *ps, json_object *o, unsigned *out)
{
    int64_t n;

    if (!json_object_is_type(o, json_type_int))
        return p11kms_config_fail(ps, "must be an integer, not %s", p11kms_config_type_name(o));
    n = json_object_get_int64(o);
    if (n < 1 || n > PIN_ATTEMPTS_MAX)
        return p11kms_config_fail(ps, "must be 1..%d", PIN_ATTEMPTS_MAX);
    *out = (unsigned)n;
    return CKR_OK;
}

/* "store": "/absolute/directory" or false (no token objects kept). */
static CK_RV parse_store(p11kms_config_parser *ps, json_object *o, p11kms_token_config *tc)
{
    const char *s;
    CK_RV rv;

    if (json_object_is_type(o, json_type_boolean) && !json_object_get_boolean(o)) {
        tc->store_off = 1;
        return CKR_OK;
    }
    if (!json_object_is_type(o, json_type_string))
        return p11kms_config_fail(
            ps, "must be an absolute directory path, or false to keep no token objects");
    rv = p11kms_config_string(ps, o, 1, STORE_PATH_MAX, &s);
    if (rv != CKR_OK)
        return rv;
    if (s[0] != '/')
        return p11kms_config_fail(ps, "must be an absolute directory path (it starts with /)");
    tc->store = strdup(s);
    return tc->store != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV parse_token(p11kms_config_parser *ps, json_object *o, p11kms_token_config *tc)
{
    json_object *jk;
    size_t i, j, n, at, at2;
    CK_RV rv = p11kms_config_object(ps, o);

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (strcmp(name, "label") == 0)
            rv = p11kms_config_dup_string(ps, value, 1, P11KMS_LABEL_MAX, &tc->label);
        else if (strcmp(name, "pin") == 0)
            rv = parse_pin(ps, value, &tc->pin, &tc->pin_literal);
        else if (strcmp(name, "pin_max_attempts") == 0)
            rv = parse_attempts(ps, value, &tc->pin_max_attempts);
        else if (strcmp(name, "store") == 0)
            rv = parse_store(ps, value, tc);
        else if (strcmp(name, "storage_key") == 0)
            rv = p11kms_config_dup_string(ps, value, 1, STORAGE_KEY_MAX, &tc->storage_key);
        else if (p11kms_config_is_template(name))
            rv = p11kms_config_template_field(ps, name, value, &tc->wrap_template,
                                              &tc->unwrap_template);
        else if (strcmp(name, "keys") != 0)
            rv = p11kms_config_unknown_field(ps, NULL, name);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (tc->label == NULL)
        return p11kms_config_fail(ps, "label is required");
    if (tc->pin_max_attempts != 0 && tc->pin == NULL)
        return p11kms_config_fail(ps, "pin_max_attempts without a pin");
    if (!json_object_object_get_ex(o, "keys", &jk))
        return tc->storage_key != NULL
                   ? p11kms_config_fail(ps, "storage_key names a key, and there are none")
                   : CKR_OK;
    at = p11kms_config_push_name(ps, "keys");
    rv = p11kms_config_array(ps, jk, P11KMS_MAX_KEYS_PER_TOKEN);
    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(jk);
    tc->keys = calloc(n + 1, sizeof(*tc->keys));
    if (tc->keys == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at2 = p11kms_config_push_index(ps, i);
        tc->n_keys = i + 1;
        rv = p11kms_config_parse_key(ps, json_object_array_get_idx(jk, i), &tc->keys[i]);
        if (rv != CKR_OK)
            return rv;
        p11kms_key_config_set_token(&tc->keys[i], tc->label);
        if (!p11kms_config_templates_merge(&tc->keys[i], tc))
            return p11kms_config_fail(
                ps, "unwrap_template: with the token's, it would refuse every unwrap");
        for (j = 0; j < i; j++)
            if (strcmp(tc->keys[j].label, tc->keys[i].label) == 0)
                return p11kms_config_fail(ps, "label \"%s\" is already used by keys[%zu]",
                                          tc->keys[i].label, j);
        p11kms_config_pop(ps, at2);
    }
    p11kms_config_pop(ps, at);
    for (i = 0; tc->storage_key != NULL && i < tc->n_keys; i++)
        if (strcmp(tc->keys[i].label, tc->storage_key) == 0)
            break;
    if (tc->storage_key != NULL && i == tc->n_keys) {
        at = p11kms_config_push_name(ps, "storage_key");
        return p11kms_config_fail(ps, "\"%s\" is not the label of one of the token's keys",
                                  tc->storage_key);
    }
    if (tc->storage_key != NULL && p11kms_key_type_is_asym(tc->keys[i].key_type)) {
        at = p11kms_config_push_name(ps, "storage_key");
        return p11kms_config_fail(
            ps, "\"%s\" is an asymmetric key: only AES keys seal stored objects", tc->storage_key);
    }
    return CKR_OK;
}

static CK_RV parse_tokens(p11kms_config_parser *ps, json_object *o, p11kms_config *cfg)
{
    size_t i, j, n, at;
    CK_RV rv = p11kms_config_array(ps, o, P11KMS_MAX_TOKENS);

    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    cfg->tokens = calloc(n + 1, sizeof(*cfg->tokens));
    if (cfg->tokens == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at = p11kms_config_push_index(ps, i);
        cfg->n_tokens = i + 1;
        rv = parse_token(ps, json_object_array_get_idx(o, i), &cfg->tokens[i]);
        if (rv != CKR_OK)
            return rv;
        for (j = 0; j < i; j++)
            if (strcmp(cfg->tokens[j].label, cfg->tokens[i].label) == 0)
                return p11kms_config_fail(ps, "label \"%s\" is already used by tokens[%zu]",
                                          cfg->tokens[i].label, j);
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_root(p11kms_config_parser *ps, json_object *root, p11kms_config *cfg)
{
    json_object *o;
    size_t at;
    CK_RV rv = p11kms_config_object(ps, root);

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(root, name, value)
    {
        if (strcmp(name, "kill_switch_dir") == 0) {
            at = p11kms_config_push_name(ps, name);
            if ((rv = p11kms_config_kill_switch_dir(ps, value, cfg)) != CKR_OK)
                return rv;
            p11kms_config_pop(ps, at);
        } else if (strcmp(name, "log") != 0 && strcmp(name, "backends") != 0 &&
                   strcmp(name, "tokens") != 0 && strcmp(name, "audit") != 0) {
            p11kms_config_push_name(ps, name);
            return p11kms_config_unknown_field(ps, NULL, name);
        }
    }
    /* Fixed order, whatever the document's: keys need the backend defaults. */
    if (json_object_object_get_ex(root, "log", &o)) {
        at = p11kms_config_push_name(ps, "log");
        if ((rv = parse_log(ps, o, cfg)) != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (json_object_object_get_ex(root, "audit", &o)) {
        at = p11kms_config_push_name(ps, "audit");
        if ((rv = parse_audit(ps, o, cfg)) != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (json_object_object_get_ex(root, "backends", &o)) {
        at = p11kms_config_push_name(ps, "backends");
        if ((rv = parse_backends(ps, o)) != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (json_object_object_get_ex(root, "tokens", &o)) {
        at = p11kms_config_push_name(ps, "tokens");
        if ((rv = parse_tokens(ps, o, cfg)) != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

/* 1-based line and column of byte offset off, for syntax error messages. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

/* json-c cuts object keys at an escaped NUL ("a\u0000b" becomes "a"): refuse it outright. */
static size_t find_escaped_nul(const char *text, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && len - i >= 6 && memcmp(text + i + 2, "0000", 4) == 0)
            return i;
        i++; /* skip the escaped character, so "\\u0000" is left alone */
    }
    return len;
}

/* Wipe every string of the parsed tree before json-c frees it: PINs, and backend options that
 * may be credentials. Recursion is bounded by the tokener's depth limit. */
static void wipe_strings(json_object *o)
{
    size_t i;

    switch (json_object_get_type(o)) {
    case json_type_string:
        OPENSSL_cleanse((char *)json_object_get_string(o), (size_t)json_object_get_string_len(o));
        break;
    case json_type_array:
        for (i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
        break;
    case json_type_object: {
        json_object_object_foreach(o, name, value)
        {
            (void)name;
            wipe_strings(value);
        }
        break;
    }
    default:
        break;
    }
}

CK_RV p11kms_config_parse(const char *text, size_t len, const char *origin, p11kms_config **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_config_parser ps = {origin != NULL ? origin : "(config)", "", 0, NULL};
    p11kms_config *cfg = NULL;
    json_tokener *tok = NULL;
    json_object *root = NULL;
    enum json_tokener_error jerr;
    size_t line, col, at;

    *out = NULL;
    if (len > P11KMS_CONFIG_MAX_BYTES) {
        rv = p11kms_config_fail(&ps, "larger than %u bytes", P11KMS_CONFIG_MAX_BYTES);
        goto out;
    }
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        rv = p11kms_config_fail(&ps, "contains a NUL byte");
        goto out;
    }
    at = find_escaped_nul(text, len);
    if (at < len) {
        line_col(text, at, &line, &col);
        rv = p11kms_config_fail(&ps, "line %zu column %zu: \\u0000 is not allowed", line, col);
        goto out;
    }
    cfg = calloc(1, sizeof(*cfg));
    tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (cfg == NULL || tok == NULL)
        goto out;
    cfg->log_level = -1;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, text, (int)len);
    jerr = json_tokener_get_error(tok);
    if (root == NULL || jerr != json_tokener_success || json_tokener_get_parse_end(tok) != len) {
        at = json_tokener_get_parse_end(tok);
        line_col(text, at, &line, &col);
        rv =
            p11kms_config_fail(&ps, "line %zu column %zu: %s", line, col,
                               jerr == json_tokener_continue  ? "unexpected end of document"
                               : jerr == json_tokener_success ? "unexpected text after the document"
                                                              : json_tokener_error_desc(jerr));
        goto out;
    }
    rv = parse_root(&ps, root, cfg);
    if (rv != CKR_OK)
        goto out;
    *out = cfg;
    cfg = NULL;
out:
    wipe_strings(root);
    json_object_put(root);
    /* The tokener's buffer holds the last string it read, which may be a PIN. */
    if (tok != NULL) {
        if (tok->pb != NULL && tok->pb->buf != NULL)
            OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
        json_tokener_free(tok); /* which does not take NULL */
    }
    p11kms_config_free(cfg);
    return rv;
}
