/* fuzz-keyfile.c - fuzz target for the local backend's key file parser (backends/local/keyfile.c):
 * anything it accepts must be internally consistent. */
#include "backends/local/keyfile.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_keyfile *kf = NULL;
    size_t i;

    fuzz_quiet_log();
    if (p11kms_keyfile_parse((const char *)data, size, "fuzz", &kf) != CKR_OK)
        return 0;
    FUZZ_ASSERT(kf != NULL && kf->n >= 1 && kf->n <= P11KMS_KEYFILE_MAX_VERSIONS);
    FUZZ_ASSERT(kf->name[32] == '\0');
    for (i = 1; i < kf->n; i++)
        FUZZ_ASSERT(kf->versions[i - 1].version < kf->versions[i].version);
    FUZZ_ASSERT(p11kms_keyfile_newest(kf) == &kf->versions[kf->n - 1]);
    FUZZ_ASSERT(p11kms_keyfile_get(kf, kf->versions[0].version) == &kf->versions[0]);
    p11kms_keyfile_free(kf);
    return 0;
}
