/* config-ops.c - the configuration's operational fields: where the kill switch lives
 * ("kill_switch_dir", killswitch.h) and a key's opt-in unwrap cache ("unwrap_cache",
 * unwrap-cache.h). No shared state. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "config-parser.h"

#define CACHE_MAX_AGE_S 86400u
#define CACHE_MAX_USES 1000000000u
#define CACHE_MAX_ENTRIES 4096u
#define CACHE_DEFAULT_ENTRIES 100u

/*
 * An absolute path, or null for no kill switch at all. A relative path would depend on the
 * working directory of each application, so two processes of one service could read two
 * different switches.
 */
CK_RV p11kms_config_kill_switch_dir(p11kms_config_parser *ps, json_object *o, p11kms_config *cfg)
{
    CK_RV rv;

    free(cfg->kill_switch_dir);
    cfg->kill_switch_dir = NULL;
    if (o == NULL) {
        cfg->kill_switch_dir = strdup("");
        return cfg->kill_switch_dir != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    rv = p11kms_config_dup_string(ps, o, 1, PATH_MAX - NAME_MAX - 2, &cfg->kill_switch_dir);
    if (rv != CKR_OK)
        return rv;
    if (cfg->kill_switch_dir[0] != '/')
        return p11kms_config_fail(ps, "must be an absolute path, or null for no kill switch");
    return CKR_OK;
}

/* A whole number min..max. */
static CK_RV bounded(p11kms_config_parser *ps, json_object *o, unsigned min, unsigned max,
                     unsigned *out)
{
    int64_t n;

    if (!json_object_is_type(o, json_type_int))
        return p11kms_config_fail(ps, "must be a whole number, not %s", p11kms_config_type_name(o));
    n = json_object_get_int64(o);
    if (n < (int64_t)min || n > (int64_t)max)
        return p11kms_config_fail(ps, "must be %u..%u", min, max);
    *out = (unsigned)n;
    return CKR_OK;
}

/*
 * {"max_age_s": N, "max_uses": N, "max_entries": N}. max_age_s is required: a cache without an
 * age limit would keep serving a key after the KMS key was disabled, for as long as the process
 * lives. max_uses defaults to no limit, max_entries to 100.
 */
CK_RV p11kms_config_unwrap_cache(p11kms_config_parser *ps, json_object *o, p11kms_key_config *kc)
{
    p11kms_unwrap_cache_config *uc = &kc->unwrap_cache;
    CK_RV rv = p11kms_config_object(ps, o);
    size_t at;

    if (rv != CKR_OK)
        return rv;
    uc->max_age_s = 0;
    uc->max_uses = 0;
    uc->max_entries = CACHE_DEFAULT_ENTRIES;
    json_object_object_foreach(o, name, value)
    {
        at = p11kms_config_push_name(ps, name);
        if (strcmp(name, "max_age_s") == 0)
            rv = bounded(ps, value, 1, CACHE_MAX_AGE_S, &uc->max_age_s);
        else if (strcmp(name, "max_uses") == 0)
            rv = bounded(ps, value, 1, CACHE_MAX_USES, &uc->max_uses);
        else if (strcmp(name, "max_entries") == 0)
            rv = bounded(ps, value, 1, CACHE_MAX_ENTRIES, &uc->max_entries);
        else
            rv = p11kms_config_fail(ps, "unknown field (known: max_age_s, max_uses, max_entries)");
        if (rv != CKR_OK)
            return rv;
        p11kms_config_pop(ps, at);
    }
    if (uc->max_age_s == 0)
        return p11kms_config_fail(ps, "max_age_s is required");
    return CKR_OK;
}
