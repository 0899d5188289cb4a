/* config.c - the JSON configuration (json-c) into typed structs: bounded parsing with one error
 * line per failure naming file, field path and problem. Files and quick mode: config-load.c.
 * No shared state: each call works on its own parser and result. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "backend.h"
#include "codec.h"
#include "config.h"
#include "config-template.h"
#include "log.h"
#include "secmem.h"
#include "utf8.h"
#include "util.h"

/* Our schema nests six containers deep (root, tokens, token, keys, key, context); json-c
 * admits max_depth - 1 levels, so one spare level. */
#define JSON_MAX_DEPTH 8
#define KEY_LABEL_MAX 256
#define OPTION_VALUE_MAX 4096
#define DEFAULT_ID_LEN 8
#define PIN_ATTEMPTS_MAX 1000

/* Parser state: the origin and the JSON path of the field being read, for the error line. */
typedef struct parser {
    const char *origin;
    char path[256];
    size_t path_len;
    json_object *backends; /* the document's "backends" object, or NULL */
} parser;

static CK_RV fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static CK_RV fail(parser *ps, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    LOG_E("%s: %s: %s", ps->origin, ps->path_len > 0 ? ps->path : "(document)", msg);
    return CKR_ARGUMENTS_BAD;
}

static size_t push_name(parser *ps, const char *name)
{
    size_t old = ps->path_len;
    char clean[65];

    p11kms_printable(clean, sizeof(clean), name);
    snprintf(ps->path + old, sizeof(ps->path) - old, "%s%s", old > 0 ? "." : "", clean);
    ps->path_len = strlen(ps->path);
    return old;
}

static size_t push_index(parser *ps, size_t i)
{
    size_t old = ps->path_len;

    snprintf(ps->path + old, sizeof(ps->path) - old, "[%zu]", i);
    ps->path_len = strlen(ps->path);
    return old;
}

static void pop(parser *ps, size_t old)
{
    ps->path_len = old;
    ps->path[old] = '\0';
}

static const char *type_name(json_object *o)
{
    return json_type_to_name(json_object_get_type(o));
}

/* A string field of min..max bytes, valid UTF-8 without NUL; *s points into the JSON tree. */
static CK_RV get_string(parser *ps, json_object *o, size_t min, size_t max, const char **s)
{
    size_t len;

    if (!json_object_is_type(o, json_type_string))
        return fail(ps, "must be a string, not %s", type_name(o));
    *s = json_object_get_string(o);
    len = (size_t)json_object_get_string_len(o);
    if (len < min || len > max)
        return fail(ps, "must be %zu..%zu bytes long, not %zu", min, max, len);
    if (!p11kms_utf8_valid((const uint8_t *)*s, len))
        return fail(ps, "is not valid UTF-8");
    return CKR_OK;
}

static CK_RV dup_string(parser *ps, json_object *o, size_t min, size_t max, char **out)
{
    const char *s;
    CK_RV rv = get_string(ps, o, min, max, &s);

    if (rv != CKR_OK)
        return rv;
    *out = strdup(s);
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV check_object(parser *ps, json_object *o)
{
    if (!json_object_is_type(o, json_type_object))
        return fail(ps, "must be an object, not %s", type_name(o));
    return CKR_OK;
}

static CK_RV check_array(parser *ps, json_object *o, size_t max)
{
    if (!json_object_is_type(o, json_type_array))
        return fail(ps, "must be an array, not %s", type_name(o));
    if (json_object_array_length(o) > max)
        return fail(ps, "has %zu entries, at most %zu are allowed", json_object_array_length(o),
                    max);
    return CKR_OK;
}

/* Backend options are text: strings as they are, numbers and booleans as their JSON text. */
static CK_RV option_text(parser *ps, json_object *o, char **out)
{
    int64_t i;

    switch (json_object_get_type(o)) {
    case json_type_string:
        return dup_string(ps, o, 0, OPTION_VALUE_MAX, out);
    case json_type_boolean:
        *out = strdup(json_object_get_boolean(o) ? "true" : "false");
        break;
    case json_type_int:
        /* json-c saturates integers it cannot hold: refuse rather than change the value. */
        i = json_object_get_int64(o);
        if (i == INT64_MAX || i == INT64_MIN)
            return fail(ps, "number out of range");
        *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        break;
    case json_type_double:
        if (!isfinite(json_object_get_double(o)))
            return fail(ps, "number out of range");
        *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        break;
    default:
        return fail(ps, "must be a string, number or boolean, not %s", type_name(o));
    }
    return *out != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

static int is_option(const p11kms_backend_ops *ops, const char *name)
{
    size_t i;

    for (i = 0; ops->options != NULL && ops->options[i] != NULL; i++)
        if (strcmp(ops->options[i], name) == 0)
            return 1;
    return 0;
}

static CK_RV unknown_field(parser *ps, const p11kms_backend_ops *ops, const char *name)
{
    char list[256] = "", clean[65];
    size_t i, used = 0;

    p11kms_printable(clean, sizeof(clean), name);
    if (ops == NULL)
        return fail(ps, "unknown field \"%s\"", clean);
    for (i = 0; ops->options != NULL && ops->options[i] != NULL && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "",
                                 ops->options[i]);
    return fail(ps, "unknown field \"%s\" (backend %s also accepts: %s)", clean, ops->name,
                list[0] != '\0' ? list : "nothing");
}

static const p11kms_backend_ops *find_backend(parser *ps, const char *name, CK_RV *rv)
{
    const p11kms_backend_ops *ops = p11kms_backend_find(name);
    char clean[65];

    *rv = CKR_OK;
    if (ops == NULL) {
        p11kms_printable(clean, sizeof(clean), name);
        *rv = fail(ps, "backend %s is not available in this build", clean);
    }
    return ops;
}

/* "backends": {"aws": {"region": "..."}}: checked here, merged into keys later. */
static CK_RV parse_backends(parser *ps, json_object *o)
{
    CK_RV rv = check_object(ps, o);
    const p11kms_backend_ops *ops;
    char *text;
    size_t at, at2;

    if (rv != CKR_OK)
        return rv;
    ps->backends = o;
    json_object_object_foreach(o, name, fields)
    {
        at = push_name(ps, name);
        ops = find_backend(ps, name, &rv);
        if (rv == CKR_OK)
            rv = check_object(ps, fields);
        if (rv != CKR_OK)
            return rv;
        json_object_object_foreach(fields, field, value)
        {
            at2 = push_name(ps, field);
            if (!is_option(ops, field))
                return unknown_field(ps, ops, field);
            rv = option_text(ps, value, &text);
            if (rv != CKR_OK)
                return rv;
            p11kms_secure_free_str(text);
            pop(ps, at2);
        }
        pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_log(parser *ps, json_object *o, p11kms_config *cfg)
{
    CK_RV rv = check_object(ps, o);
    const char *s;
    size_t at;

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = push_name(ps, name);
        if (strcmp(name, "level") == 0) {
            rv = get_string(ps, value, 1, 16, &s);
            if (rv != CKR_OK)
                return rv;
            cfg->log_level = p11kms_log_level_parse(s);
            if (cfg->log_level < 0)
                return fail(ps, "must be one of error, warning, info, debug, none");
        } else if (strcmp(name, "destination") == 0) {
            rv = get_string(ps, value, 1, 4096, &s);
            if (rv != CKR_OK)
                return rv;
            if (strcmp(s, "stderr") != 0 && strcmp(s, "syslog") != 0 &&
                strncmp(s, "file:/", 6) != 0)
                return fail(ps, "must be stderr, syslog or file:/absolute/path");
            free(cfg->log_destination);
            cfg->log_destination = strdup(s);
            if (cfg->log_destination == NULL)
                return CKR_HOST_MEMORY;
        } else {
            return unknown_field(ps, NULL, name);
        }
        pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_permissions(parser *ps, json_object *o, unsigned *perms)
{
    /* bit j is names[j] (P11KMS_PERM_*) */
    static const char *const names[] = {"wrap", "unwrap", "encrypt", "decrypt", "sign"};
    CK_RV rv = check_array(ps, o, 5);
    const char *s;
    size_t i, j, n, at;

    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    if (n == 0)
        return fail(ps, "must not be empty");
    *perms = 0;
    for (i = 0; i < n; i++) {
        at = push_index(ps, i);
        rv = get_string(ps, json_object_array_get_idx(o, i), 1, 16, &s);
        if (rv != CKR_OK)
            return rv;
        for (j = 0; j < 5 && strcmp(s, names[j]) != 0; j++)
            ;
        if (j == 5)
            return fail(ps, "must be one of wrap, unwrap, encrypt, decrypt, sign");
        if (*perms & (1u << j))
            return fail(ps, "\"%s\" is listed twice", s);
        *perms |= 1u << j;
        pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_context(parser *ps, json_object *o, p11kms_context *ctx)
{
    CK_RV rv = check_object(ps, o);
    const char *v;
    size_t at, klen;

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = push_name(ps, name);
        klen = strlen(name);
        if (klen == 0)
            return fail(ps, "context keys must not be empty");
        if (!p11kms_utf8_valid((const uint8_t *)name, klen))
            return fail(ps, "context key is not valid UTF-8");
        if (p11kms_context_key_reserved(name, klen))
            return fail(ps, "context keys beginning with \"p11kms:\" (in any letter case) are "
                            "reserved: p11kms binds them itself (docs/envelope.md)");
        if (ctx->n >= P11KMS_CONTEXT_MAX_PAIRS)
            return fail(ps, "more than %d context pairs", P11KMS_CONTEXT_MAX_PAIRS);
        rv = get_string(ps, value, 0, P11KMS_CONTEXT_MAX_ENCODED, &v);
        if (rv != CKR_OK)
            return rv;
        rv = p11kms_context_add(ctx, name, klen, v, strlen(v), 0);
        if (rv == CKR_MECHANISM_PARAM_INVALID)
            return fail(ps, "the context's canonical encoding would exceed %d bytes",
                        P11KMS_CONTEXT_MAX_ENCODED);
        if (rv != CKR_OK)
            return rv;
        pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_bool(parser *ps, json_object *o, int *out)
{
    if (!json_object_is_type(o, json_type_boolean))
        return fail(ps, "must be true or false, not %s", type_name(o));
    *out = json_object_get_boolean(o) ? 1 : 0;
    return CKR_OK;
}

static CK_RV parse_id(parser *ps, json_object *o, p11kms_key_config *kc)
{
    const char *s;
    CK_RV rv = get_string(ps, o, 2, 2 * P11KMS_ID_MAX, &s);

    if (rv != CKR_OK)
        return rv;
    if (p11kms_hex_decode(s, kc->id, sizeof(kc->id), &kc->id_len) != 0)
        return fail(ps, "must be an even number of hex digits");
    return CKR_OK;
}

/* "wrap_template" or "unwrap_template" (config-template.c) into wrap or unwrap. */
static CK_RV parse_template(parser *ps, const char *name, json_object *o,
                            p11kms_attr_template *wrap, p11kms_attr_template *unwrap)
{
    char err[700];
    int u = strcmp(name, "unwrap_template") == 0;

    if (p11kms_config_template(o, u, u ? unwrap : wrap, err, sizeof(err)) != CKR_OK)
        return fail(ps, "%s", err);
    return CKR_OK;
}

static CK_RV add_option(p11kms_key_config *kc, const char *name, char *value)
{
    kc->options[kc->n_options].name = strdup(name);
    kc->options[kc->n_options].value = value;
    kc->n_options++;
    return kc->options[kc->n_options - 1].name != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* The "backends" defaults for kc's backend that the key did not set itself. */
static CK_RV merge_defaults(parser *ps, p11kms_key_config *kc)
{
    json_object *fields;
    char *text;
    CK_RV rv;

    if (ps->backends == NULL || !json_object_object_get_ex(ps->backends, kc->backend, &fields))
        return CKR_OK;
    json_object_object_foreach(fields, field, value)
    {
        if (p11kms_key_config_option(kc, field) != NULL)
            continue;
        /* Already validated by parse_backends; converting again cannot fail but OOM. */
        rv = option_text(ps, value, &text);
        if (rv == CKR_OK)
            rv = add_option(kc, field, text);
        if (rv != CKR_OK)
            return rv;
    }
    return CKR_OK;
}

/* CKA_ID default: the first 8 bytes of SHA-256(backend NUL key_id NUL label). */
static CK_RV default_id(p11kms_key_config *kc)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    CK_RV rv = CKR_HOST_MEMORY;

    if (h == NULL)
        goto out;
    rv = CKR_GENERAL_ERROR;
    if (EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(h, kc->backend, strlen(kc->backend) + 1) != 1 ||
        EVP_DigestUpdate(h, kc->key_id, strlen(kc->key_id) + 1) != 1 ||
        EVP_DigestUpdate(h, kc->label, strlen(kc->label)) != 1 ||
        EVP_DigestFinal_ex(h, md, &md_len) != 1 || md_len < DEFAULT_ID_LEN)
        goto out;
    memcpy(kc->id, md, DEFAULT_ID_LEN);
    kc->id_len = DEFAULT_ID_LEN;
    rv = CKR_OK;
out:
    EVP_MD_CTX_free(h);
    return rv;
}

/* What every key needs after its fields are read: the backend's own rules, id, origin. */
static CK_RV finish_key(parser *ps, const p11kms_backend_ops *ops, p11kms_key_config *kc)
{
    char err[256];
    CK_RV rv;

    if (ops->check_key != NULL) {
        rv = ops->check_key(kc, err, sizeof(err));
        if (rv == CKR_ARGUMENTS_BAD)
            return fail(ps, "%s", err);
        if (rv != CKR_OK)
            return rv;
    }
    if (kc->key_id == NULL)
        return fail(ps, "key_id is required");
    if (kc->id_len == 0) {
        rv = default_id(kc);
        if (rv != CKR_OK)
            return rv;
    }
    kc->origin = malloc(strlen(ps->origin) + 1 + ps->path_len + 1);
    if (kc->origin == NULL)
        return CKR_HOST_MEMORY;
    sprintf(kc->origin, "%s %s", ps->origin, ps->path);
    return CKR_OK;
}

/* "type": "aes" (default), "ec-p256", "rsa-3072", ... (keytype.h) */
static CK_RV parse_type(parser *ps, json_object *o, p11kms_key_config *kc)
{
    const p11kms_key_type_info *t;
    const char *s;
    CK_RV rv = get_string(ps, o, 1, 32, &s);

    if (rv != CKR_OK)
        return rv;
    t = p11kms_key_type_by_name(s);
    if (t == NULL)
        return fail(ps, "must be one of %s", p11kms_key_type_names);
    kc->key_type = t->type;
    return CKR_OK;
}

static CK_RV parse_key(parser *ps, json_object *o, p11kms_key_config *kc)
{
    const p11kms_backend_ops *ops;
    json_object *jb;
    size_t at, n_opts = 0;
    char *text, err[256];
    CK_RV rv = check_object(ps, o);

    if (rv != CKR_OK)
        return rv;
    kc->perms = 0; /* none given yet: the type's default (config-keytype.c) */
    rv = p11kms_context_new(&kc->context);
    if (rv != CKR_OK)
        return rv;
    /* The backend first: it decides which other fields exist. */
    if (!json_object_object_get_ex(o, "backend", &jb))
        return fail(ps, "backend is required");
    at = push_name(ps, "backend");
    rv = dup_string(ps, jb, 1, 64, &kc->backend);
    if (rv != CKR_OK)
        return rv;
    ops = find_backend(ps, kc->backend, &rv);
    if (rv != CKR_OK)
        return rv;
    pop(ps, at);
    while (ops->options != NULL && ops->options[n_opts] != NULL)
        n_opts++;
    kc->options = calloc(n_opts + 1, sizeof(*kc->options));
    if (kc->options == NULL)
        return CKR_HOST_MEMORY;

    json_object_object_foreach(o, name, value)
    {
        at = push_name(ps, name);
        if (strcmp(name, "backend") == 0)
            rv = CKR_OK;
        else if (strcmp(name, "label") == 0)
            rv = dup_string(ps, value, 1, KEY_LABEL_MAX, &kc->label);
        else if (strcmp(name, "key_id") == 0)
            rv = dup_string(ps, value, 1, P11KMS_KEY_REF_MAX, &kc->key_id);
        else if (strcmp(name, "permissions") == 0)
            rv = parse_permissions(ps, value, &kc->perms);
        else if (strcmp(name, "context") == 0)
            rv = parse_context(ps, value, kc->context);
        else if (strcmp(name, "id") == 0)
            rv = parse_id(ps, value, kc);
        else if (strcmp(name, "decrypt_v1_envelopes") == 0)
            rv = parse_bool(ps, value, &kc->decrypt_v1_envelopes);
        else if (strcmp(name, "type") == 0)
            rv = parse_type(ps, value, kc);
        else if (strcmp(name, "certificate") == 0)
            rv = dup_string(ps, value, 1, 4096, &kc->certificate);
        else if (p11kms_config_is_template(name))
            rv = parse_template(ps, name, value, &kc->wrap_template, &kc->unwrap_template);
        else if (!is_option(ops, name))
            rv = unknown_field(ps, ops, name);
        else if ((rv = option_text(ps, value, &text)) == CKR_OK)
            rv = add_option(kc, name, text);
        if (rv != CKR_OK)
            return rv;
        pop(ps, at);
    }
    if (kc->label == NULL)
        return fail(ps, "label is required");
    if (p11kms_config_key_kind(kc, ops->sign_digest != NULL, err, sizeof(err)) != CKR_OK)
        return fail(ps, "%s", err);
    if (kc->decrypt_v1_envelopes)
        LOG_W("%s %s: decrypt_v1_envelopes is true: C_Decrypt with key \"%s\" opens version-1 "
              "envelopes, and a version-1 wrapped key would come out in the clear; turn it off "
              "once the old data is re-encrypted (docs/envelope.md)",
              ps->origin, ps->path, kc->label);
    rv = merge_defaults(ps, kc);
    if (rv != CKR_OK)
        return rv;
    return finish_key(ps, ops, kc);
}

/* "pin": "1234" or "env:NAME"; the value is a secret and never appears in a log line. */
static CK_RV parse_pin(parser *ps, json_object *o, char **pin, int *literal)
{
    const char *s, *env;
    CK_RV rv = get_string(ps, o, 1, P11KMS_PIN_MAX, &s);
    char clean[65];

    if (rv != CKR_OK)
        return rv;
    if (strncmp(s, "env:", 4) == 0) {
        p11kms_printable(clean, sizeof(clean), s + 4);
        if (s[4] == '\0')
            return fail(ps, "env: needs a variable name");
        env = secure_getenv(s + 4);
        if (env == NULL)
            return fail(ps, "environment variable %s is not set", clean);
        if (env[0] == '\0' || strlen(env) > P11KMS_PIN_MAX)
            return fail(ps, "environment variable %s must hold 1..%d bytes", clean, P11KMS_PIN_MAX);
        s = env;
    } else {
        *literal = 1;
    }
    *pin = strdup(s);
    return *pin != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

/* "pin_max_attempts": wrong PINs in a row after which C_Login answers CKR_PIN_LOCKED. */
static CK_RV parse_attempts(parser *ps, json_object *o, unsigned *out)
{
    int64_t n;

    if (!json_object_is_type(o, json_type_int))
        return fail(ps, "must be an integer, not %s", type_name(o));
    n = json_object_get_int64(o);
    if (n < 1 || n > PIN_ATTEMPTS_MAX)
        return fail(ps, "must be 1..%d", PIN_ATTEMPTS_MAX);
    *out = (unsigned)n;
    return CKR_OK;
}

static CK_RV parse_token(parser *ps, json_object *o, p11kms_token_config *tc)
{
    json_object *jk;
    size_t i, j, n, at, at2;
    CK_RV rv = check_object(ps, o);

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = push_name(ps, name);
        if (strcmp(name, "label") == 0)
            rv = dup_string(ps, value, 1, P11KMS_LABEL_MAX, &tc->label);
        else if (strcmp(name, "pin") == 0)
            rv = parse_pin(ps, value, &tc->pin, &tc->pin_literal);
        else if (strcmp(name, "pin_max_attempts") == 0)
            rv = parse_attempts(ps, value, &tc->pin_max_attempts);
        else if (p11kms_config_is_template(name))
            rv = parse_template(ps, name, value, &tc->wrap_template, &tc->unwrap_template);
        else if (strcmp(name, "keys") != 0)
            rv = unknown_field(ps, NULL, name);
        if (rv != CKR_OK)
            return rv;
        pop(ps, at);
    }
    if (tc->label == NULL)
        return fail(ps, "label is required");
    if (tc->pin_max_attempts != 0 && tc->pin == NULL)
        return fail(ps, "pin_max_attempts without a pin");
    if (!json_object_object_get_ex(o, "keys", &jk))
        return CKR_OK;
    at = push_name(ps, "keys");
    rv = check_array(ps, jk, P11KMS_MAX_KEYS_PER_TOKEN);
    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(jk);
    tc->keys = calloc(n + 1, sizeof(*tc->keys));
    if (tc->keys == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at2 = push_index(ps, i);
        tc->n_keys = i + 1;
        rv = parse_key(ps, json_object_array_get_idx(jk, i), &tc->keys[i]);
        if (rv != CKR_OK)
            return rv;
        if (!p11kms_config_templates_merge(&tc->keys[i], tc))
            return fail(ps, "unwrap_template: with the token's, it would refuse every unwrap");
        for (j = 0; j < i; j++)
            if (strcmp(tc->keys[j].label, tc->keys[i].label) == 0)
                return fail(ps, "label \"%s\" is already used by keys[%zu]", tc->keys[i].label, j);
        pop(ps, at2);
    }
    pop(ps, at);
    return CKR_OK;
}

static CK_RV parse_tokens(parser *ps, json_object *o, p11kms_config *cfg)
{
    size_t i, j, n, at;
    CK_RV rv = check_array(ps, o, P11KMS_MAX_TOKENS);

    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    cfg->tokens = calloc(n + 1, sizeof(*cfg->tokens));
    if (cfg->tokens == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at = push_index(ps, i);
        cfg->n_tokens = i + 1;
        rv = parse_token(ps, json_object_array_get_idx(o, i), &cfg->tokens[i]);
        if (rv != CKR_OK)
            return rv;
        for (j = 0; j < i; j++)
            if (strcmp(cfg->tokens[j].label, cfg->tokens[i].label) == 0)
                return fail(ps, "label \"%s\" is already used by tokens[%zu]", cfg->tokens[i].label,
                            j);
        pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_root(parser *ps, json_object *root, p11kms_config *cfg)
{
    json_object *o;
    size_t at;
    CK_RV rv = check_object(ps, root);

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(root, name, value)
    {
        if (strcmp(name, "log") != 0 && strcmp(name, "backends") != 0 &&
            strcmp(name, "tokens") != 0) {
            push_name(ps, name);
            return unknown_field(ps, NULL, name);
        }
        (void)value;
    }
    /* Fixed order, whatever the document's: keys need the backend defaults. */
    if (json_object_object_get_ex(root, "log", &o)) {
        at = push_name(ps, "log");
        if ((rv = parse_log(ps, o, cfg)) != CKR_OK)
            return rv;
        pop(ps, at);
    }
    if (json_object_object_get_ex(root, "backends", &o)) {
        at = push_name(ps, "backends");
        if ((rv = parse_backends(ps, o)) != CKR_OK)
            return rv;
        pop(ps, at);
    }
    if (json_object_object_get_ex(root, "tokens", &o)) {
        at = push_name(ps, "tokens");
        if ((rv = parse_tokens(ps, o, cfg)) != CKR_OK)
            return rv;
        pop(ps, at);
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
    parser ps = {origin != NULL ? origin : "(config)", "", 0, NULL};
    p11kms_config *cfg = NULL;
    json_tokener *tok = NULL;
    json_object *root = NULL;
    enum json_tokener_error jerr;
    size_t line, col, at;

    *out = NULL;
    if (len > P11KMS_CONFIG_MAX_BYTES) {
        rv = fail(&ps, "larger than %u bytes", P11KMS_CONFIG_MAX_BYTES);
        goto out;
    }
    if (text == NULL || memchr(text, '\0', len) != NULL) {
        rv = fail(&ps, "contains a NUL byte");
        goto out;
    }
    at = find_escaped_nul(text, len);
    if (at < len) {
        line_col(text, at, &line, &col);
        rv = fail(&ps, "line %zu column %zu: \\u0000 is not allowed", line, col);
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
        rv = fail(&ps, "line %zu column %zu: %s", line, col,
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

const char *p11kms_key_config_option(const p11kms_key_config *kc, const char *name)
{
    size_t i;

    for (i = 0; i < kc->n_options; i++)
        if (strcmp(kc->options[i].name, name) == 0)
            return kc->options[i].value;
    return NULL;
}

static void key_config_clear(p11kms_key_config *kc)
{
    size_t i;

    free(kc->label);
    free(kc->backend);
    free(kc->key_id);
    free(kc->certificate);
    p11kms_context_free(kc->context);
    for (i = 0; i < kc->n_options; i++) {
        free(kc->options[i].name);
        /* Options may carry credentials (a Vault token, say): wipe them all. */
        p11kms_secure_free_str(kc->options[i].value);
    }
    free(kc->options);
    free(kc->origin);
}

void p11kms_config_free(p11kms_config *c)
{
    size_t i, j;

    if (c == NULL)
        return;
    for (i = 0; i < c->n_tokens; i++) {
        p11kms_token_config *tc = &c->tokens[i];

        free(tc->label);
        p11kms_secure_free_str(tc->pin);
        for (j = 0; j < tc->n_keys; j++)
            key_config_clear(&tc->keys[j]);
        free(tc->keys);
    }
    free(c->tokens);
    free(c->path);
    free(c->log_destination);
    free(c);
}
