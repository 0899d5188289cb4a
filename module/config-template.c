/* config-template.c - wrap and unwrap templates in the configuration, read through the attribute
 * table (attr-rules.c) so the names and the rules are the ones templates have everywhere.
 * No shared state. */
#include <stdio.h>
#include <string.h>
#include "attr-rules.h"
#include "config-template.h"
#include "util.h"

/* "token, private, ..." : the names a template accepts. */
static void names(char *out, size_t cap)
{
    size_t i, used = 0;
    const p11kms_attr_rule *r;

    out[0] = '\0';
    for (i = 0; (r = p11kms_attr_rule_at(i)) != NULL && used < cap; i++) {
        if (r->conf == NULL)
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "", r->conf);
    }
}

/* The CK_ULONG a configured value stands for; 0 with err set when it is not valid. */
static int value_of(const p11kms_attr_rule *r, const char *name, json_object *v, CK_ULONG *out,
                    char *err, size_t err_len)
{
    int64_t i;
    const char *s;

    if (r->kind == P11KMS_AK_BOOL) {
        if (!json_object_is_type(v, json_type_boolean)) {
            snprintf(err, err_len, "%s: must be true or false", name);
            return 0;
        }
        *out = json_object_get_boolean(v) ? CK_TRUE : CK_FALSE;
        return 1;
    }
    if (r->type == CKA_KEY_TYPE) {
        s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(s, "aes") == 0)
            *out = CKK_AES;
        else if (strcmp(s, "generic_secret") == 0)
            *out = CKK_GENERIC_SECRET;
        else {
            snprintf(err, err_len, "%s: must be \"aes\" or \"generic_secret\"", name);
            return 0;
        }
        return 1;
    }
    /* value_len */
    i = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
    if (i < 1 || i > P11KMS_DATA_KEY_MAX) {
        snprintf(err, err_len, "%s: must be a whole number of bytes, 1..%d", name,
                 P11KMS_DATA_KEY_MAX);
        return 0;
    }
    *out = (CK_ULONG)i;
    return 1;
}

CK_RV p11kms_config_template(json_object *o, int unwrap, p11kms_attr_template *t, char *err,
                             size_t err_len)
{
    char list[512], clean[65];
    CK_ULONG value;

    memset(t, 0, sizeof(*t));
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, err_len, "must be an object, not %s",
                 json_type_to_name(json_object_get_type(o)));
        return CKR_ARGUMENTS_BAD;
    }
    json_object_object_foreach(o, name, v)
    {
        const p11kms_attr_rule *r = p11kms_attr_rule_conf(name);

        if (r == NULL) {
            p11kms_printable(clean, sizeof(clean), name);
            names(list, sizeof(list));
            snprintf(err, err_len, "\"%s\" is not a template attribute (one of: %s)", clean, list);
            return CKR_ARGUMENTS_BAD;
        }
        if (!value_of(r, name, v, &value, err, err_len))
            return CKR_ARGUMENTS_BAD;
        /* Names are unique in the table and json-c keeps one value per name: cannot fail. */
        if (p11kms_template_add(t, r, value) != CKR_OK) {
            snprintf(err, err_len, "%s: not a valid template value", name);
            return CKR_ARGUMENTS_BAD;
        }
    }
    if (unwrap && !p11kms_template_separated(t)) {
        snprintf(err, err_len,
                 "wrap with decrypt (or unwrap with encrypt) would refuse every "
                 "unwrap: a data key never has both");
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

int p11kms_config_is_template(const char *field)
{
    return strcmp(field, "wrap_template") == 0 || strcmp(field, "unwrap_template") == 0;
}

int p11kms_config_templates_merge(p11kms_key_config *kc, const p11kms_token_config *tc)
{
    p11kms_template_merge(&kc->wrap_template, &tc->wrap_template);
    p11kms_template_merge(&kc->unwrap_template, &tc->unwrap_template);
    return p11kms_template_separated(&kc->unwrap_template);
}
