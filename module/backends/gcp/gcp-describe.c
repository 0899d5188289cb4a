/* gcp-describe.c - what the module knows of Google Cloud KMS before its backend is built: the
 * configuration name, the envelope id reserved for it, and its key names in quick mode, so
 * KMS_KEY_ID=projects/... is recognised and refused as "not available in this build" rather
 * than as an unknown form. The operations come with the backend (no create: not built). */
#include <string.h>
#include "backend.h"

/* The backend byte of Cloud KMS ciphertexts in envelopes (docs/envelope.md); never renumbered. */
#define P11KMS_GCP_ENVELOPE_ID 3

/* projects/P/locations/L/keyRings/R/cryptoKeys/K, each name non-empty. */
static int is_key_name(const char *s)
{
    static const char *const fixed[] = {"projects", "locations", "keyRings", "cryptoKeys"};
    size_t i, n;

    for (i = 0; i < 8; i++) {
        n = strcspn(s, "/");
        if (n == 0 || (i % 2 == 0 && (strlen(fixed[i / 2]) != n || memcmp(s, fixed[i / 2], n))))
            return 0;
        s += n;
        if (i < 7) {
            if (*s != '/')
                return 0;
            s++;
        }
    }
    return *s == '\0';
}

static int gcp_quick(const char *v, p11kms_quick_key *out)
{
    if (strncmp(v, "projects/", 9) != 0 || !is_key_name(v))
        return 0;
    out->key_id = v;
    return 1;
}

const p11kms_backend_ops p11kms_backend_gcp_ops = {
    .name = "gcp",
    .envelope_id = P11KMS_GCP_ENVELOPE_ID,
    .quick_forms = "projects/P/locations/L/keyRings/R/cryptoKeys/K",
    .quick = gcp_quick,
};
