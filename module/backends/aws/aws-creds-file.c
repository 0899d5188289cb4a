/* aws-creds-file.c - local credential sources: environment variables and the shared
 * credentials/config files with profiles. Reads the environment and files; no state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "aws-creds.h"
#include "aws-ini.h"
#include "log.h"
#include "net/clock.h"
#include "secmem.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

const char *p11kms_aws_profile_name(const char *explicit_profile)
{
    const char *p;

    if (explicit_profile != NULL && *explicit_profile != 0)
        return explicit_profile;
    p = env("AWS_PROFILE");
    if (p == NULL)
        p = env("AWS_DEFAULT_PROFILE");
    return p != NULL ? p : "default";
}

/* A file path from a variable (with "~/" expanded, as the SDKs do) or HOME + fallback. */
static char *file_path(const char *var, const char *fallback)
{
    const char *v = env(var), *home = env("HOME");
    size_t n;
    char *p;

    if (v != NULL && !(v[0] == '~' && v[1] == '/')) {
        p = strdup(v);
        return p;
    }
    if (home == NULL)
        return NULL;
    n = strlen(home) + (v ? strlen(v) : strlen(fallback)) + 2;
    p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", home, v ? v + 2 : fallback);
    return p;
}

char *p11kms_aws_credentials_path(void)
{
    return file_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
}

char *p11kms_aws_config_path(void)
{
    return file_path("AWS_CONFIG_FILE", ".aws/config");
}

/* The config file names a profile "[profile NAME]", except "[default]" (which may also be
 * written "[profile default]"). */
static const char *config_lookup(const p11kms_aws_ini *ini, const char *profile, const char *key)
{
    char section[300];
    const char *v;

    if (snprintf(section, sizeof(section), "profile %s", profile) >= (int)sizeof(section))
        return NULL;
    v = p11kms_aws_ini_get(ini, section, key);
    if (v == NULL && strcmp(profile, "default") == 0)
        v = p11kms_aws_ini_get(ini, "default", key);
    return v;
}

static int config_has_profile(const p11kms_aws_ini *ini, const char *profile)
{
    char section[300];

    if (snprintf(section, sizeof(section), "profile %s", profile) >= (int)sizeof(section))
        return 0;
    return p11kms_aws_ini_has_section(ini, section) ||
           (strcmp(profile, "default") == 0 && p11kms_aws_ini_has_section(ini, "default"));
}

static CK_RV load(char *(*path_fn)(void), p11kms_aws_ini **ini)
{
    char *path = path_fn();
    CK_RV rv = CKR_OK;

    *ini = NULL;
    if (path != NULL)
        rv = p11kms_aws_ini_load(path, ini);
    free(path);
    return rv;
}

CK_RV p11kms_aws_profile_get(const char *profile, const char *key, char **value)
{
    p11kms_aws_ini *ini = NULL;
    const char *v;
    CK_RV rv;

    *value = NULL;
    rv = load(p11kms_aws_config_path, &ini);
    if (rv != CKR_OK)
        return rv;
    v = config_lookup(ini, profile, key);
    if (v != NULL && *v != 0) {
        *value = strdup(v);
        if (*value == NULL)
            rv = CKR_HOST_MEMORY;
    }
    p11kms_aws_ini_free(ini);
    return rv;
}

CK_RV p11kms_aws_creds_from_env(p11kms_cred *out, int *applies)
{
    const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    const char *token = env("AWS_SESSION_TOKEN"), *exp = env("AWS_CREDENTIAL_EXPIRATION");
    time_t expiration = 0;
    CK_RV rv;

    *applies = akid != NULL || secret != NULL;
    if (!*applies)
        return CKR_OK;
    if (akid == NULL || secret == NULL) {
        LOG_E("aws: partial credentials in the environment: AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY must both be set");
        return CKR_DEVICE_ERROR;
    }
    if (token == NULL)
        token = env("AWS_SECURITY_TOKEN"); /* the legacy name */
    if (exp != NULL && p11kms_net_parse_time(exp, &expiration) != 0) {
        LOG_E("aws: AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time after 1970");
        return CKR_DEVICE_ERROR;
    }
    rv = p11kms_aws_creds_set(out, akid, secret, token, expiration, "environment");
    if (rv == CKR_GENERAL_ERROR) {
        LOG_E("aws: credentials in the environment hold control characters");
        rv = CKR_DEVICE_ERROR;
    }
    return rv;
}

/* Static keys of a profile in one file; *found when the file had any of them. */
static CK_RV keys_from(const p11kms_aws_ini *ini, const char *section_profile, int config,
                       const char *what, p11kms_cred *out, int *found)
{
    const char *akid, *secret, *token;
    CK_RV rv;

#define GET(k)                                                                                     \
    (config ? config_lookup(ini, section_profile, k) : p11kms_aws_ini_get(ini, section_profile, k))
    akid = GET("aws_access_key_id");
    secret = GET("aws_secret_access_key");
    token = GET("aws_session_token");
    if (token == NULL)
        token = GET("aws_security_token");
#undef GET
    *found = akid != NULL || secret != NULL;
    if (!*found)
        return CKR_OK;
    if (akid == NULL || secret == NULL || *akid == 0 || *secret == 0) {
        LOG_E("aws: profile %s in the %s has only one of aws_access_key_id and "
              "aws_secret_access_key",
              section_profile, what);
        return CKR_DEVICE_ERROR;
    }
    rv = p11kms_aws_creds_set(out, akid, secret, token, 0, what);
    if (rv == CKR_GENERAL_ERROR) {
        LOG_E("aws: profile %s in the %s holds malformed keys", section_profile, what);
        rv = CKR_DEVICE_ERROR;
    }
    return rv;
}

/* Whether the profile names one of the given keys in either file (botocore merges them). */
static int profile_has_any(const p11kms_aws_ini *creds, const p11kms_aws_ini *config,
                           const char *profile, const char *const *keys)
{
    size_t i;

    for (i = 0; keys[i] != NULL; i++)
        if (config_lookup(config, profile, keys[i]) != NULL ||
            p11kms_aws_ini_get(creds, profile, keys[i]) != NULL)
            return 1;
    return 0;
}

CK_RV p11kms_aws_creds_from_files(const char *profile, int profile_named, p11kms_cred *out,
                                  int *applies)
{
    static const char *const before_keys[] = {
        "role_arn", "source_profile", "credential_source", "sso_start_url", "sso_session", NULL};
    static const char *const after_keys[] = {"credential_process", NULL};
    p11kms_aws_ini *creds = NULL, *config = NULL;
    CK_RV rv;
    int found = 0;

    *applies = 0;
    rv = load(p11kms_aws_credentials_path, &creds);
    if (rv == CKR_OK)
        rv = load(p11kms_aws_config_path, &config);
    if (rv != CKR_OK) {
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    /* A profile that gets its credentials some way this module does not read must not
     * silently use other ones: that would act as another principal than the one configured.
     * Assume-role and SSO come before static keys in the SDKs' order, credential_process
     * after them. */
    if (profile_has_any(creds, config, profile, before_keys)) {
        LOG_E("aws: profile \"%s\" assumes a role (role_arn with source_profile or "
              "credential_source) or uses SSO, which p11kms does not read; use web identity, "
              "a container or instance role, or keys",
              profile);
        *applies = 1;
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    rv = keys_from(creds, profile, 0, "shared credentials file", out, &found);
    if (rv != CKR_OK || found) {
        *applies = 1;
        goto out;
    }
    rv = keys_from(config, profile, 1, "config file", out, &found);
    if (rv != CKR_OK || found) {
        *applies = 1;
        goto out;
    }
    if (profile_has_any(creds, config, profile, after_keys)) {
        LOG_E("aws: profile \"%s\" uses credential_process, which p11kms does not run; use "
              "web identity, a container or instance role, or keys",
              profile);
        *applies = 1;
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    /* A profile asked for by name that exists nowhere is a configuration error, not a
     * reason to fall through to the instance's role (botocore: ProfileNotFound). */
    if (profile_named && !p11kms_aws_ini_has_section(creds, profile) &&
        !config_has_profile(config, profile)) {
        LOG_E("aws: profile \"%s\" is in neither the shared credentials nor the config file",
              profile);
        *applies = 1;
        rv = CKR_DEVICE_ERROR;
    }
out:
    p11kms_aws_ini_free(creds);
    p11kms_aws_ini_free(config);
    return rv;
}
