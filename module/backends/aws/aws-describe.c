/* aws-describe.c - what the aws backend says about itself: the KMS_KEY_ID forms of quick mode,
 * and what doctor reports of a key (its endpoint and where its credentials would come from),
 * with the module's own settings and credential chain, without the network and without
 * keeping a secret. No state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "aws-client.h"
#include "backend.h"

const char p11kms_aws_quick_forms[] = "arn:aws:kms:..., alias/NAME, an AWS key id";

static int all_hex(const char *s, size_t n)
{
    return strspn(s, "0123456789abcdefABCDEF") >= n;
}

/* 8-4-4-4-12 hex digits. */
static int is_uuid(const char *s)
{
    size_t i;

    if (strlen(s) != 36)
        return 0;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!all_hex(s + i, 1)) {
            return 0;
        }
    }
    return 1;
}

int p11kms_aws_quick(const char *v, p11kms_quick_key *out)
{
    if ((strncmp(v, "arn:aws:kms:", 12) == 0 && strchr(v + 12, ':') != NULL) ||
        (strncmp(v, "alias/", 6) == 0 && v[6] != '\0') || is_uuid(v) ||
        (strncmp(v, "mrk-", 4) == 0 && strlen(v) == 36 && all_hex(v + 4, 32))) {
        out->key_id = v;
        return 1;
    }
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

/* The first source of the credential chain (aws-creds.c resolve) that applies, judged from the
 * environment and the shared files only: web identity is not exchanged, the container and
 * instance endpoints are not asked. */
static void doctor_credentials(const char *explicit_profile, p11kms_doctor_step step, void *ctx)
{
    const char *profile = p11kms_aws_profile_name(explicit_profile);
    int named = explicit_profile != NULL || strcmp(profile, "default") != 0, applies = 0;
    const char *disabled = env("AWS_EC2_METADATA_DISABLED");
    char *file = NULL, *role = NULL;
    p11kms_cred c;
    CK_RV rv;

    memset(&c, 0, sizeof(c));
    if (explicit_profile == NULL &&
        (env("AWS_ACCESS_KEY_ID") != NULL || env("AWS_SECRET_ACCESS_KEY") != NULL)) {
        rv = p11kms_aws_creds_from_env(&c, &applies);
        step(ctx, rv == CKR_OK ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
             "AWS credentials from the environment (AWS_ACCESS_KEY_ID)%s",
             rv == CKR_OK ? "" : ": unusable (the line above says why)");
        goto out;
    }
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL) {
        file = strdup(env("AWS_WEB_IDENTITY_TOKEN_FILE"));
        role = env("AWS_ROLE_ARN") != NULL ? strdup(env("AWS_ROLE_ARN")) : NULL;
    } else if (p11kms_aws_profile_get(profile, "web_identity_token_file", &file) == CKR_OK &&
               file != NULL) {
        p11kms_aws_profile_get(profile, "role_arn", &role);
    }
    if (file != NULL) {
        step(ctx, role != NULL && access(file, R_OK) == 0 ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
             "AWS web identity token file %s%s, role %s", file,
             access(file, R_OK) == 0 ? "" : " (not readable)", role != NULL ? role : "(none)");
        goto out;
    }
    rv = p11kms_aws_creds_from_files(profile, named, &c, &applies);
    if (applies || rv != CKR_OK) {
        if (rv == CKR_OK)
            step(ctx, P11KMS_DOCTOR_OK, "AWS keys of profile \"%s\" in the %s", profile, c.source);
        else
            step(ctx, P11KMS_DOCTOR_FAIL,
                 "AWS profile \"%s\" is unusable (the line above says why)", profile);
        goto out;
    }
    if (env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL ||
        env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL) {
        step(ctx, P11KMS_DOCTOR_OK, "AWS container credentials endpoint");
        goto out;
    }
    if (disabled != NULL && strcasecmp(disabled, "true") == 0)
        step(ctx, P11KMS_DOCTOR_FAIL,
             "no AWS credentials: none in the environment, web identity, profile \"%s\" or "
             "container settings, and instance metadata is disabled",
             profile);
    else
        step(ctx, P11KMS_DOCTOR_WARN,
             "no AWS credentials in the environment, web identity, profile \"%s\" or container "
             "settings; only EC2 instance metadata is left to try",
             profile);
out:
    p11kms_cred_clear(&c);
    free(file);
    free(role);
}

void p11kms_aws_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx)
{
    p11kms_aws_settings st;
    p11kms_aws_keyref ref;

    if (kc->key_id == NULL || p11kms_aws_keyref_parse(kc->key_id, &ref) != 0) {
        step(ctx, P11KMS_DOCTOR_FAIL,
             "key_id \"%s\" is not an AWS KMS key ARN, key id, alias name or alias ARN",
             kc->key_id ? kc->key_id : "");
        return;
    }
    if (p11kms_aws_settings_read(kc, ref.region[0] ? ref.region : NULL, &st) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL, "AWS settings refused (the line above says why)");
        return;
    }
    step(ctx, P11KMS_DOCTOR_OK, "AWS KMS endpoint %s, region %s%s%s", st.net.url, st.region,
         st.profile != NULL ? ", profile " : "", st.profile != NULL ? st.profile : "");
    doctor_credentials(st.profile, step, ctx);
    p11kms_aws_settings_free(&st);
}
