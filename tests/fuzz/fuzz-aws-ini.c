/* fuzz-aws-ini.c - fuzz target for the AWS shared credentials/config reader: what parses keeps
 * the documented shape, and the profile lookups over it (used as both files) agree with it. */
#include <string.h>
#include "module/backends/aws/aws-creds.h"
#include "module/backends/aws/aws-ini.h"
#include "secmem.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/aws-fuzz.h"

static const char *const sections[] = {
    "default", "profile default", "dev", "profile dev", "sso-session corp", "services x", "",
};

static const char *const keys[] = {
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
    "region",
    "role_arn",
    "source_profile",
    "credential_source",
    "sso_start_url",
    "sso_session",
    "credential_process",
    "web_identity_token_file",
    "role_session_name",
    "s3",
    "max_concurrent_requests",
};

/* Keys that send a profile elsewhere for its credentials (aws-creds-file.c refuses those). */
static const char *const elsewhere[] = {"role_arn",      "source_profile", "credential_source",
                                        "sso_start_url", "sso_session",    "credential_process"};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int file_fd = -1;

static void setup(void)
{
    char path[64];

    if (file_fd >= 0)
        return;
    fuzz_quiet_log();
    fuzz_aws_clean_env();
    /* one file serves as both: profiles then live in "[NAME]" and "[profile NAME]" at once */
    file_fd = fuzz_aws_tmpfile(path, sizeof(path));
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_CONFIG_FILE", path, 1);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Values are trimmed and come from the text; only their owner's section exists. A NUL byte
 * ends a value early, so the trimming shows only in text without one. */
static void check_lookups(const p11kms_aws_ini *ini, size_t size, int has_nul)
{
    const char *v;
    size_t i, j, n;

    for (i = 0; i < N(sections); i++) {
        for (j = 0; j < N(keys); j++) {
            v = p11kms_aws_ini_get(ini, sections[i], keys[j]);
            if (v == NULL)
                continue;
            n = strlen(v);
            FUZZ_ASSERT(n <= size);
            FUZZ_ASSERT(has_nul || n == 0 || (!is_ws(v[0]) && !is_ws(v[n - 1])));
            FUZZ_ASSERT(p11kms_aws_ini_has_section(ini, sections[i]));
        }
    }
    /* keys are lowercased and section names have whitespace collapsed, so these never match */
    FUZZ_ASSERT(p11kms_aws_ini_get(ini, "default", "AWS_ACCESS_KEY_ID") == NULL);
    FUZZ_ASSERT(p11kms_aws_ini_get(ini, "default", " region") == NULL);
    FUZZ_ASSERT(!p11kms_aws_ini_has_section(ini, "profile  dev"));
    FUZZ_ASSERT(!p11kms_aws_ini_has_section(ini, "profile\tdev"));
    FUZZ_ASSERT(!p11kms_aws_ini_has_section(ini, " default"));
}

/* The config file's lookup: "[profile NAME]", and for default also "[default]". */
static const char *config_get(const p11kms_aws_ini *ini, const char *profile, const char *key)
{
    char section[64];
    const char *v;

    snprintf(section, sizeof(section), "profile %s", profile);
    v = p11kms_aws_ini_get(ini, section, key);
    if (v == NULL && strcmp(profile, "default") == 0)
        v = p11kms_aws_ini_get(ini, "default", key);
    return v;
}

static int same_or_null(const char *a, const char *b)
{
    if (b != NULL && *b == 0)
        b = NULL;
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static int has_profile(const p11kms_aws_ini *ini, const char *profile)
{
    char section[64];

    snprintf(section, sizeof(section), "profile %s", profile);
    return p11kms_aws_ini_has_section(ini, profile) || p11kms_aws_ini_has_section(ini, section) ||
           (strcmp(profile, "default") == 0 && p11kms_aws_ini_has_section(ini, "default"));
}

static int names_elsewhere(const p11kms_aws_ini *ini, const char *profile, int process)
{
    size_t i;

    for (i = 0; i < N(elsewhere); i++) {
        if ((strcmp(elsewhere[i], "credential_process") == 0) != process)
            continue;
        if (config_get(ini, profile, elsewhere[i]) != NULL ||
            p11kms_aws_ini_get(ini, profile, elsewhere[i]) != NULL)
            return 1;
    }
    return 0;
}

/* Credentials from the files are the static keys of the profile, the credentials file first;
 * a profile that gets them some other way, or a named one that is nowhere, yields none. */
static void check_profile(const p11kms_aws_ini *ini, const char *profile, int named)
{
    p11kms_cred c;
    const char *akid, *secret, *token;
    char *region = NULL;
    int applies = -1;
    CK_RV rv;

    memset(&c, 0, sizeof(c));
    rv = p11kms_aws_creds_from_files(profile, named, &c, &applies);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR);
    if (ini == NULL) {
        /* the text is over the bounds: the files are refused */
        FUZZ_ASSERT(rv == CKR_DEVICE_ERROR && applies == 0 && c.id == NULL);
        return;
    }
    FUZZ_ASSERT(applies == 1 || (rv == CKR_OK && !names_elsewhere(ini, profile, 1) &&
                                 (!named || has_profile(ini, profile))));
    if (names_elsewhere(ini, profile, 0))
        FUZZ_ASSERT(rv == CKR_DEVICE_ERROR);
    if (rv != CKR_OK || !applies) {
        FUZZ_ASSERT(c.id == NULL && c.secret == NULL);
    } else {
        if (p11kms_aws_ini_get(ini, profile, "aws_access_key_id") != NULL ||
            p11kms_aws_ini_get(ini, profile, "aws_secret_access_key") != NULL) {
            akid = p11kms_aws_ini_get(ini, profile, "aws_access_key_id");
            secret = p11kms_aws_ini_get(ini, profile, "aws_secret_access_key");
            token = p11kms_aws_ini_get(ini, profile, "aws_session_token");
            if (token == NULL)
                token = p11kms_aws_ini_get(ini, profile, "aws_security_token");
        } else {
            akid = config_get(ini, profile, "aws_access_key_id");
            secret = config_get(ini, profile, "aws_secret_access_key");
            token = config_get(ini, profile, "aws_session_token");
            if (token == NULL)
                token = config_get(ini, profile, "aws_security_token");
        }
        FUZZ_ASSERT(akid != NULL && secret != NULL);
        FUZZ_ASSERT(strcmp(c.id, akid) == 0 && strcmp(c.secret, secret) == 0);
        FUZZ_ASSERT(same_or_null(c.token, token) && c.expires == 0);
        p11kms_cred_clear(&c);
    }

    /* a setting of the same profile, from the config file */
    FUZZ_ASSERT(p11kms_aws_profile_get(profile, "region", &region) == CKR_OK);
    FUZZ_ASSERT(same_or_null(region, config_get(ini, profile, "region")));
    free(region);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_aws_ini *ini = NULL;
    CK_RV rv;

    setup();
    rv = p11kms_aws_ini_parse((const char *)data, size, &ini);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_ARGUMENTS_BAD);
    if (rv != CKR_OK) {
        FUZZ_ASSERT(ini == NULL);
    } else {
        FUZZ_ASSERT(ini != NULL);
        check_lookups(ini, size, memchr(data, 0, size) != NULL);
    }
    /* the same text as the shared credentials and config files */
    fuzz_aws_rewrite(file_fd, data, size);
    check_profile(ini, "default", 0);
    check_profile(ini, "dev", 1);
    p11kms_aws_ini_free(ini);
    return 0;
}
