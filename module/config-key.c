/* config-key.c - one key of the configuration: its backend first (which decides what other
 * fields exist), label, key_id, permissions, context, id, templates and backend options, the
 * "backends" defaults, then the backend's own checks and the CKA_ID default.
 * No shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "backend.h"
#include "codec.h"
#include "config-parser.h"
#include "config-template.h"
#include "log.h"
#include "utf8.h"

#define KEY_LABEL_MAX 256
#define DEFAULT_ID_LEN 8

static CK_RV parse_permissions(p11kms_config_parser *ps, json_object *o, unsigned *perms)
{
    /* bit j is names[j] (P11KMS_PERM_*) */
    static const char *const names[] = {"wrap", "unwrap", "encrypt", "decrypt", "sign"};
    CK_RV rv = p11kms_config_array(ps, o, 5);
    const char *s;
    size_t i, j, n, at;

    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    if (n == 0)
        return p11kms_config_fail(ps, "must not be empty");
    *perms = 0;
    for (i = 0; i < n; i++) {
        at = p11kms_config_push_index(ps, i);
        rv = p11kms_config_string(ps, json_object_array_get_idx(o, i), 1, 16, &s);
        if (rv != CKR_OK)
            return rv;
        for (j = 0; j < 5 && strcmp(s, names[j]) != 0; j++)
            ;
        if (j == 5)
            return p11kms_config_fail(ps, "must be one of wrap, unwrap, encrypt, decrypt, sign");
        if (*perms & (1u << j))
            return p11kms_config_fail(ps, "\"%s\" is listed twice", s);
        *perms |= 1u << j;
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

/* "type": "aes" (default), "ec-p256", "rsa-3072", ... (keytype.h) */
static CK_RV parse_type(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc)
{
    const p11kms_key_type_info *t;
    const char *s;
    CK_RV rv = p11kms_config_string(ps, o, 1, 32, &s);

    if (rv != CKR_OK)
        return rv;
    t = p11kms_key_type_by_name(s);
    if (t == NULL)
        return p11kms_config_fail(ps, "must be one of %s", p11kms_key_type_names);
    kc->key_type = t->type;
    return CKR_OK;
}

static CK_RV parse_context(p11kms_config_parser *ps, json_object *o, p11kms_context *ctx)
{
    CK_RV rv = p11kms_config_object(ps, o);
    const char *v;
    size_t at, klen;

    if (rv != CKR_OK)
        return rv;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        klen = strlen(name);
        if (klen == 0)
            return p11kms_config_fail(ps, "context keys must not be empty");
        if (!p11kms_utf8_valid((const uint8_t *)name, klen))
            return p11kms_config_fail(ps, "context key is not valid UTF-8");
        if (p11kms_context_key_reserved(name, klen))
            return p11kms_config_fail(
                ps, "context keys beginning with \"p11kms:\" (in any letter case) are "
                    "reserved: p11kms binds them itself (docs/envelope.md)");
        if (ctx->n >= P11KMS_CONTEXT_MAX_PAIRS)
            return p11kms_config_fail(ps, "more than %d context pairs", P11KMS_CONTEXT_MAX_PAIRS);
        rv = p11kms_config_string(ps, value, 0, P11KMS_CONTEXT_MAX_ENCODED, &v);
        if (rv != CKR_OK)
            return rv;
        rv = p11kms_context_add(ctx, name, klen, v, strlen(v), 0);
        if (rv == CKR_MECHANISM_PARAM_INVALID)
            return p11kms_config_fail(ps, "the context's canonical encoding would exceed %d bytes",
                                      P11KMS_CONTEXT_MAX_ENCODED);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_id(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc)
{
    const char *s;
    CK_RV rv = p11kms_config_string(ps, o, 2, 2 * P11KMS_ID_MAX, &s);

    if (rv != CKR_OK)
        return rv;
    if (p11kms_hex_decode(s, kc->id, sizeof(kc->id), &kc->id_len) != 0)
        return p11kms_config_fail(ps, "must be an even number of hex digits");
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
static CK_RV merge_defaults(p11kms_config_parser *ps, p11kms_key_config *kc)
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
        rv = p11kms_config_option_text(ps, value, &text);
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
static CK_RV finish_key(p11kms_config_parser *ps, const p11kms_backend_ops *ops,
                        p11kms_key_config *kc)
{
    char err[256];
    CK_RV rv;

    if (ops->check_key != NULL) {
        rv = ops->check_key(kc, err, sizeof(err));
        if (rv == CKR_ARGUMENTS_BAD)
            return p11kms_config_fail(ps, "%s", err);
        if (rv != CKR_OK)
            return rv;
    }
    if (kc->key_id == NULL)
        return p11kms_config_fail(ps, "key_id is required");
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

/* The fields of one entry of "kms" or "previous": backend first, key_id, the backend's options;
 * what the key says about itself (label, permissions, context) is copied from the key. */
static CK_RV parse_entry(p11kms_config_parser *ps, json_object *o, const p11kms_key_config *key,
                         p11kms_key_config *kc)
{
    const p11kms_backend_ops *ops;
    json_object *jb;
    size_t at, n_opts = 0;
    char *text;
    CK_RV rv = p11kms_config_object(ps, o);

    if (rv != CKR_OK)
        return rv;
    if (!json_object_object_get_ex(o, "backend", &jb))
        return p11kms_config_fail(ps, "backend is required");
    at = p11kms_config_push_name(ps, "backend");
    rv = p11kms_config_dup_string(ps, jb, 1, 64, &kc->backend);
    if (rv != CKR_OK)
        return rv;
    ops = p11kms_config_backend(ps, kc->backend, &rv);
    if (rv != CKR_OK)
        return rv;
    p11kms_config_pop(ps, at);
    while (ops->options != NULL && ops->options[n_opts] != NULL)
        n_opts++;
    kc->options = calloc(n_opts + 1, sizeof(*kc->options));
    if (kc->options == NULL)
        return CKR_HOST_MEMORY;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (strcmp(name, "backend") == 0)
            rv = CKR_OK;
        else if (strcmp(name, "key_id") == 0)
            rv = p11kms_config_dup_string(ps, value, 1, P11KMS_KEY_REF_MAX, &kc->key_id);
        else if (!p11kms_config_is_option(ops, name))
            rv = p11kms_config_unknown_field(ps, ops, name);
        else if ((rv = p11kms_config_option_text(ps, value, &text)) == CKR_OK)
            rv = add_option(kc, name, text);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    kc->label = strdup(key->label);
    if (kc->label == NULL)
        return CKR_HOST_MEMORY;
    kc->perms = key->perms;
    kc->key_type = key->key_type;
    kc->decrypt_v1_envelopes = key->decrypt_v1_envelopes;
    memcpy(kc->id, key->id, key->id_len);
    kc->id_len = key->id_len;
    rv = p11kms_context_copy(key->context, &kc->context);
    if (rv != CKR_OK)
        return rv;
    rv = merge_defaults(ps, kc);
    if (rv != CKR_OK)
        return rv;
    return finish_key(ps, ops, kc);
}

/* "kms" or "previous": 1..8 entries, no KMS key named twice in the key (current and previous
 * together). */
static CK_RV parse_entries(p11kms_config_parser *ps, json_object *o, const char *field,
                           p11kms_key_config *key, p11kms_key_config **out, size_t *n_out)
{
    size_t i, j, n, at, at2;
    const p11kms_key_config *other;
    CK_RV rv;

    if (!json_object_object_get_ex(o, field, &o))
        return CKR_OK;
    at = p11kms_config_push_name(ps, field);
    rv = p11kms_config_array(ps, o, P11KMS_KEYSET_ENTRIES_MAX);
    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    if (n == 0)
        return p11kms_config_fail(ps, "must not be empty");
    *out = calloc(n, sizeof(**out));
    if (*out == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at2 = p11kms_config_push_index(ps, i);
        *n_out = i + 1;
        rv = parse_entry(ps, json_object_array_get_idx(o, i), key, &(*out)[i]);
        if (rv != CKR_OK)
            return rv;
        for (j = 0; j < key->n_kms + key->n_previous; j++) {
            other = j < key->n_kms ? &key->kms[j] : &key->previous[j - key->n_kms];
            if (other == &(*out)[i])
                break;
            if (strcmp(other->backend, (*out)[i].backend) == 0 &&
                strcmp(other->key_id, (*out)[i].key_id) == 0)
                return p11kms_config_fail(ps, "%s key \"%s\" is already an entry of this key",
                                          other->backend, other->key_id);
        }
        p11kms_config_pop(ps, at2);
    }
    p11kms_config_pop(ps, at);
    return CKR_OK;
}

static CK_RV parse_accepted_contexts(p11kms_config_parser *ps, json_object *o,
                                     p11kms_key_config *kc)
{
    size_t i, n, at;
    CK_RV rv = p11kms_config_array(ps, o, P11KMS_KEYSET_ENTRIES_MAX);

    if (rv != CKR_OK)
        return rv;
    n = json_object_array_length(o);
    kc->accepted_contexts = calloc(n + 1, sizeof(*kc->accepted_contexts));
    if (kc->accepted_contexts == NULL)
        return CKR_HOST_MEMORY;
    for (i = 0; i < n; i++) {
        at = p11kms_config_push_index(ps, i);
        rv = p11kms_context_new(&kc->accepted_contexts[i]);
        if (rv != CKR_OK)
            return rv;
        kc->n_accepted_contexts = i + 1;
        rv = parse_context(ps, json_object_array_get_idx(o, i), kc->accepted_contexts[i]);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    return CKR_OK;
}

static CK_RV parse_wrap_policy(p11kms_config_parser *ps, json_object *o, int *any)
{
    const char *s;
    CK_RV rv = p11kms_config_string(ps, o, 1, 8, &s);

    if (rv != CKR_OK)
        return rv;
    if (strcmp(s, "all") != 0 && strcmp(s, "any") != 0)
        return p11kms_config_fail(ps, "must be \"all\" (every entry wraps) or \"any\"");
    *any = strcmp(s, "any") == 0;
    return CKR_OK;
}

static CK_RV parse_deadline(p11kms_config_parser *ps, json_object *o, unsigned long *ms)
{
    int64_t v;

    if (!json_object_is_type(o, json_type_int))
        return p11kms_config_fail(ps, "must be a whole number of milliseconds");
    v = json_object_get_int64(o);
    if (v < 100 || v > 600000)
        return p11kms_config_fail(ps, "must be 100..600000 ms");
    *ms = (unsigned long)v;
    return CKR_OK;
}

/* A key set's own backend/key_id (copies of the first entry's), CKA_ID and origin. */
static CK_RV finish_set(p11kms_config_parser *ps, p11kms_key_config *kc)
{
    CK_RV rv;

    kc->backend = strdup(kc->kms[0].backend);
    kc->key_id = strdup(kc->kms[0].key_id);
    kc->options = calloc(1, sizeof(*kc->options));
    if (kc->backend == NULL || kc->key_id == NULL || kc->options == NULL)
        return CKR_HOST_MEMORY;
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

/* The type's rules (config-keytype.c), before the entries copy the permissions. An asymmetric
 * key is one KMS key: different KMS keys have different public keys, so no key set of several
 * entries, no previous entries, no wrap policy. In a "kms" of one entry, that entry's backend
 * (still unread) is the one that must have asymmetric keys. */
static CK_RV key_kind(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc,
                      const p11kms_backend_ops *ops)
{
    const char *backend = kc->backend;
    json_object *kms, *jb;
    char err[256];

    if (p11kms_key_type_is_asym(kc->key_type)) {
        if (json_object_object_get_ex(o, "previous", NULL) ||
            json_object_object_get_ex(o, "wrap_policy", NULL) ||
            (json_object_object_get_ex(o, "kms", &kms) &&
             (!json_object_is_type(kms, json_type_array) || json_object_array_length(kms) != 1)))
            return p11kms_config_fail(ps,
                                      "an asymmetric key (%s) is one KMS key: kms with one entry "
                                      "at most, no previous, no wrap_policy (different KMS keys "
                                      "have different public keys)",
                                      p11kms_key_type_get(kc->key_type)->name);
        if (ops == NULL) {
            jb = NULL;
            if (json_object_object_get_ex(json_object_array_get_idx(kms, 0), "backend", &jb) &&
                json_object_is_type(jb, json_type_string))
                backend = json_object_get_string(jb);
            else
                backend = NULL; /* parse_entry says what is missing */
            ops = backend != NULL ? p11kms_backend_find(backend) : NULL;
            if (ops == NULL)
                return CKR_OK;
        }
    }
    if (p11kms_config_key_kind(kc, ops == NULL || ops->sign_digest != NULL, backend, err,
                               sizeof(err)) != CKR_OK)
        return p11kms_config_fail(ps, "%s", err);
    return CKR_OK;
}

/* A field of the key itself (not of its KMS entry); rv set when it is one. */
static int key_field(p11kms_config_parser *ps, const char *name, json_object *value,
                     p11kms_key_config *kc, int set, CK_RV *rv)
{
    if (strcmp(name, "label") == 0)
        *rv = p11kms_config_dup_string(ps, value, 1, KEY_LABEL_MAX, &kc->label);
    else if (strcmp(name, "permissions") == 0)
        *rv = parse_permissions(ps, value, &kc->perms);
    else if (strcmp(name, "context") == 0)
        *rv = parse_context(ps, value, kc->context);
    else if (strcmp(name, "id") == 0)
        *rv = parse_id(ps, value, kc);
    else if (strcmp(name, "decrypt_v1_envelopes") == 0)
        *rv = p11kms_config_bool(ps, value, &kc->decrypt_v1_envelopes);
    else if (strcmp(name, "accepted_contexts") == 0)
        *rv = parse_accepted_contexts(ps, value, kc);
    else if (strcmp(name, "type") == 0)
        *rv = parse_type(ps, value, kc);
    else if (strcmp(name, "certificate") == 0)
        *rv = p11kms_config_dup_string(ps, value, 1, 4096, &kc->certificate);
    else if (strcmp(name, "unwrap_cache") == 0)
        *rv = p11kms_config_unwrap_cache(ps, value, kc);
    else if (strcmp(name, "previous") == 0 || strcmp(name, "kms") == 0)
        *rv = CKR_OK; /* read once the key's own fields are known */
    else if (set && strcmp(name, "wrap_policy") == 0)
        *rv = parse_wrap_policy(ps, value, &kc->wrap_any);
    else if (set && strcmp(name, "deadline_ms") == 0)
        *rv = parse_deadline(ps, value, &kc->set_deadline_ms);
    else if (p11kms_config_is_template(name))
        *rv =
            p11kms_config_template_field(ps, name, value, &kc->wrap_template, &kc->unwrap_template);
    else
        return 0;
    return 1;
}

CK_RV p11kms_config_parse_key(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc)
{
    const p11kms_backend_ops *ops = NULL;
    json_object *jb;
    size_t at, n_opts = 0;
    char *text;
    int set;
    CK_RV rv = p11kms_config_object(ps, o);

    if (rv != CKR_OK)
        return rv;
    kc->perms = 0; /* none given yet: the type's default (config-keytype.c) */
    rv = p11kms_context_new(&kc->context);
    if (rv != CKR_OK)
        return rv;
    /* A key set ("kms") or one KMS key: then the backend first, as it decides which other
     * fields exist. */
    set = json_object_object_get_ex(o, "kms", NULL);
    if (set && json_object_object_get_ex(o, "backend", NULL))
        return p11kms_config_fail(ps, "a key has either backend (one KMS key) or kms (a key "
                                      "set), not both");
    if (!set && !json_object_object_get_ex(o, "backend", &jb))
        return p11kms_config_fail(ps, "backend is required (or kms, a list of KMS keys)");
    if (!set) {
        at = p11kms_config_push_name(ps, "backend");
        rv = p11kms_config_dup_string(ps, jb, 1, 64, &kc->backend);
        if (rv != CKR_OK)
            return rv;
        ops = p11kms_config_backend(ps, kc->backend, &rv);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
        while (ops->options != NULL && ops->options[n_opts] != NULL)
            n_opts++;
        kc->options = calloc(n_opts + 1, sizeof(*kc->options));
        if (kc->options == NULL)
            return CKR_HOST_MEMORY;
    }

    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (key_field(ps, name, value, kc, set, &rv))
            ;
        else if (set)
            rv = p11kms_config_unknown_field(ps, NULL, name);
        else if (strcmp(name, "backend") == 0)
            rv = CKR_OK;
        else if (strcmp(name, "key_id") == 0)
            rv = p11kms_config_dup_string(ps, value, 1, P11KMS_KEY_REF_MAX, &kc->key_id);
        else if (!p11kms_config_is_option(ops, name))
            rv = p11kms_config_unknown_field(ps, ops, name);
        else if ((rv = p11kms_config_option_text(ps, value, &text)) == CKR_OK)
            rv = add_option(kc, name, text);
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (kc->label == NULL)
        return p11kms_config_fail(ps, "label is required");
    rv = key_kind(ps, o, kc, ops);
    if (rv != CKR_OK)
        return rv;
    if (kc->decrypt_v1_envelopes)
        LOG_W("%s %s: decrypt_v1_envelopes is true: C_Decrypt with key \"%s\" opens version-1 "
              "envelopes, and a version-1 wrapped key would come out in the clear; turn it off "
              "once the old data is re-encrypted (docs/envelope.md)",
              ps->origin, ps->path, kc->label);
    if (set) {
        rv = parse_entries(ps, o, "kms", kc, &kc->kms, &kc->n_kms);
        if (rv == CKR_OK)
            rv = finish_set(ps, kc);
    } else {
        rv = merge_defaults(ps, kc);
        if (rv == CKR_OK)
            rv = finish_key(ps, ops, kc);
    }
    if (rv != CKR_OK)
        return rv;
    return parse_entries(ps, o, "previous", kc, &kc->previous, &kc->n_previous);
}
