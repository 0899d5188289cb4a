/* gcp-creds.c - Google token providers: shared per (credentials file, CA, timeouts), resolving
 * Application Default Credentials in Google's order on every refresh, behind the generic cache
 * (net/tokcache.h) that refreshes tokens before they expire, one refresh at a time. */
#include <stdlib.h>
#include <string.h>
#include "gcp-creds.h"
#include "log.h"

/* Providers are shared entries of net/tokshare.h (key strings: credentials file or NULL, CA
 * file); each one's cache locks itself, and the chain (file reads, token endpoints) runs with
 * no lock held. */
#define KEY_CREDENTIALS_FILE 0
#define KEY_CA_FILE 1

/* ADC in Google's order: the key's credentials file, GOOGLE_APPLICATION_CREDENTIALS, the
 * gcloud well-known file, the metadata server. Files are read again at every refresh, so a
 * rotated key file or a new `gcloud auth application-default login` is picked up. */
static CK_RV resolve(void *ctx, const p11kms_cred *current, uint64_t deadline_ms, p11kms_cred *out)
{
    const p11kms_tokshare_key *k = &((const p11kms_tokshare *)ctx)->key;
    p11kms_gcp_credfile f;
    p11kms_gcp_fetch x;
    char *path = NULL, *wk = NULL, *md = NULL;
    int source = 0, applies = 0;
    CK_RV rv;

    (void)current; /* access tokens cannot be renewed: a new one is fetched */
    memset(&f, 0, sizeof(f));
    x.http = k->http;
    x.ca_file = k->str[KEY_CA_FILE];
    x.connect_timeout_ms = k->connect_timeout_ms;
    x.request_timeout_ms = k->request_timeout_ms;
    x.max_attempts = k->max_attempts;
    x.deadline_ms = deadline_ms;

    rv = p11kms_gcp_adc_file(k->str[KEY_CREDENTIALS_FILE], &path, &source);
    if (rv != CKR_OK)
        return rv;
    if (path != NULL) {
        rv = p11kms_gcp_credfile_read(path, &f);
        if (rv == CKR_OK) {
            LOG_D("gcp: %s credentials from %s (%s)", p11kms_gcp_cred_type_name(f.type), path,
                  p11kms_gcp_adc_source_name(source));
            rv = p11kms_gcp_token_from_file(&f, &x, out);
        }
        goto out;
    }
    if (!p11kms_gcp_metadata_disabled()) {
        rv = p11kms_gcp_token_from_metadata(&x, out, &applies);
        /* no metadata server at all: say below where else ADC looked */
        if (applies)
            goto out;
    }
    wk = p11kms_gcp_well_known_path();
    md = p11kms_gcp_metadata_base();
    LOG_E("gcp: no credentials: GOOGLE_APPLICATION_CREDENTIALS is not set, there is no gcloud "
          "file at %s, and %s%s",
          wk != NULL ? wk : "(no HOME)",
          p11kms_gcp_metadata_disabled() ? "the metadata server is off (METADATA_SERVER_DETECTION)"
                                         : "no GCE metadata server answered at ",
          p11kms_gcp_metadata_disabled() || md == NULL ? "" : md);
    rv = CKR_DEVICE_ERROR;
out:
    p11kms_gcp_credfile_clear(&f);
    free(path);
    free(wk);
    free(md);
    return rv;
}

static const p11kms_tokshare_class provider_class = {.name = "gcp",
                                                     .what = "access token",
                                                     .advisory_s = P11KMS_GCP_TOKEN_ADVISORY_S,
                                                     .mandatory_s = P11KMS_GCP_TOKEN_MANDATORY_S,
                                                     .fetch = resolve};

CK_RV p11kms_gcp_provider_get(const char *credentials_file, const char *ca_file,
                              unsigned long connect_timeout_ms, unsigned long request_timeout_ms,
                              int max_attempts, p11kms_http_transport *http,
                              p11kms_gcp_provider **out)
{
    p11kms_tokshare_key key = {{credentials_file, ca_file, NULL},
                               connect_timeout_ms,
                               request_timeout_ms,
                               max_attempts,
                               http};

    return p11kms_tokshare_get(&provider_class, &key, NULL, out);
}

void p11kms_gcp_provider_put(p11kms_gcp_provider *p)
{
    p11kms_tokshare_put(p);
}

CK_RV p11kms_gcp_provider_token(p11kms_gcp_provider *p, uint64_t deadline_ms, p11kms_cred *out)
{
    return p11kms_tokcache_get(&p->cache, deadline_ms, out);
}

void p11kms_gcp_provider_invalidate(p11kms_gcp_provider *p)
{
    p11kms_tokcache_invalidate(&p->cache);
}

unsigned long p11kms_gcp_provider_fetches(p11kms_gcp_provider *p)
{
    return p11kms_tokcache_fetches(&p->cache);
}
