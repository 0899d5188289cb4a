/* gcp-describe.c - what the gcp backend says about itself: the KMS_KEY_ID form of quick mode,
 * and what doctor reports of a key (its endpoint, quota project and where Application Default
 * Credentials would come from), with the module's own settings and credential code, without
 * the network and without showing a secret. No state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend.h"
#include "gcp-backend.h"
#include "gcp-client.h"
#include "keytype.h"

/* What to do when no credentials are found, and what the identity needs on the key. */
#define CREDS_HINT                                                                                 \
    "run 'gcloud auth application-default login', or set GOOGLE_APPLICATION_CREDENTIALS to a "     \
    "service-account key file, or set credentials_file in the key's configuration"
#define ROLES_HINT                                                                                 \
    "hint: wrapping needs roles/cloudkms.cryptoKeyEncrypter on the key, unwrapping "               \
    "roles/cloudkms.cryptoKeyDecrypter (grant them separately to split the duties)"

const char p11kms_gcp_quick_forms[] = "projects/P/locations/L/keyRings/R/cryptoKeys/K";

int p11kms_gcp_quick(const char *v, p11kms_quick_key *out)
{
    if (strncmp(v, "projects/", 9) != 0 || !p11kms_gcp_key_name_ok(v, 0))
        return 0;
    out->key_id = v;
    return 1;
}

/* What a credential file is, in one finding (the file is parsed as the module would). */
static void doctor_file(const char *path, int source, const char *quota, p11kms_doctor_step step,
                        void *ctx)
{
    p11kms_gcp_credfile f;
    const char *src = p11kms_gcp_adc_source_name(source);

    if (p11kms_gcp_credfile_read(path, &f) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL,
             "Google credential file %s (%s) is unusable (the line above says why); hint: "
             "download a new service-account key, or run 'gcloud auth application-default login' "
             "again",
             path, src);
        return;
    }
    switch (f.type) {
    case P11KMS_GCP_SERVICE_ACCOUNT:
        step(ctx, P11KMS_DOCTOR_OK,
             "Google service account %s, key file %s (%s), token endpoint %s", f.client_email, path,
             src, f.token_uri);
        step(ctx, P11KMS_DOCTOR_OK, "%s", ROLES_HINT);
        break;
    case P11KMS_GCP_AUTHORIZED_USER:
        step(ctx, P11KMS_DOCTOR_OK,
             "Google user credentials (refresh token of client %s) in %s (%s), token endpoint %s",
             f.client_id, path, src, f.token_uri);
        break;
    default:
        step(
            ctx, access(f.source_file, R_OK) == 0 ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
            "Google workload identity federation from %s (%s): subject token file %s%s, STS %s%s%s",
            path, src, f.source_file, access(f.source_file, R_OK) == 0 ? "" : " (not readable)",
            f.token_uri, f.impersonation_url != NULL ? ", impersonation at " : "",
            f.impersonation_url != NULL ? f.impersonation_url : "");
        break;
    }
    if (quota == NULL && f.quota_project != NULL)
        step(ctx, P11KMS_DOCTOR_OK, "quota project %s (from the credential file)", f.quota_project);
    p11kms_gcp_credfile_clear(&f);
}

void p11kms_gcp_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx)
{
    p11kms_gcp_settings st;
    char *path = NULL, *md = NULL, *key = NULL, *version = NULL;
    int source = 0, asym = p11kms_key_type_is_asym(kc->key_type);

    if (p11kms_gcp_key_names(kc, &key, &version) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL,
             "key_id \"%s\" is not a %s name (projects/P/locations/L/keyRings/R/cryptoKeys/K%s)",
             kc->key_id ? kc->key_id : "", asym ? "CryptoKeyVersion" : "CryptoKey",
             asym ? "/cryptoKeyVersions/N" : "");
        return;
    }
    if (version != NULL)
        step(ctx, P11KMS_DOCTOR_OK, "CryptoKeyVersion %s (its algorithm is read on first use)",
             version);
    free(key);
    free(version);
    if (p11kms_gcp_settings_read(kc, &st) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL, "Cloud KMS settings refused (the line above says why)");
        return;
    }
    step(ctx, P11KMS_DOCTOR_OK, "Cloud KMS endpoint %s (%s)%s%s", st.net.url, st.endpoint_source,
         st.net.ca_file != NULL ? ", CA bundle " : "",
         st.net.ca_file != NULL ? st.net.ca_file : "");
    if (st.quota_project != NULL)
        step(ctx, P11KMS_DOCTOR_OK, "quota project %s (x-goog-user-project)", st.quota_project);
    if (p11kms_gcp_adc_file(st.credentials_file, &path, &source) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL, "out of memory");
    } else if (path != NULL) {
        doctor_file(path, source, st.quota_project, step, ctx);
    } else if (p11kms_gcp_metadata_disabled()) {
        step(ctx, P11KMS_DOCTOR_FAIL,
             "no Google credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no "
             "gcloud file, and METADATA_SERVER_DETECTION=none turns the metadata server off; "
             "hint: " CREDS_HINT);
    } else {
        md = p11kms_gcp_metadata_base();
        step(ctx, md != NULL ? P11KMS_DOCTOR_WARN : P11KMS_DOCTOR_FAIL,
             "no Google credential file (GOOGLE_APPLICATION_CREDENTIALS, gcloud file); only the "
             "GCE metadata server %s is left to try; off Google Cloud, " CREDS_HINT,
             md != NULL ? md : "(GCE_METADATA_HOST is not a host[:port])");
    }
    free(md);
    free(path);
    p11kms_gcp_settings_free(&st);
}
