/* fuzz-asym.c - fuzz target for the asymmetric signature codecs (asym-codec.c): DigestInfo
 * recognition, DER ECDSA signatures into r || s and back, and ECDSA inputs fitted to a curve.
 * The first byte picks the scalar size (P-256, P-384, P-521); the rest is the input. */
#include <stdlib.h>
#include <string.h>
#include "asym-codec.h"
#include "keytype.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t sizes[] = {32, 48, 66};
    uint8_t raw[2 * 66], raw2[2 * 66], fitted[64], *der = NULL;
    const uint8_t *digest = NULL;
    size_t n, der_len = 0;
    int alg;

    fuzz_quiet_log();
    if (size == 0)
        return 0;
    n = sizes[data[0] % 3];
    data++;
    size--;
    alg = p11kms_digestinfo_parse(data, size, &digest);
    if (alg != 0) {
        size_t plen = 0;
        const uint8_t *prefix = p11kms_digestinfo_prefix(alg, &plen);

        FUZZ_ASSERT(prefix != NULL && digest == data + plen);
        FUZZ_ASSERT(size == plen + p11kms_sig_alg_digest_len(alg));
    }
    if (p11kms_ecdsa_der_to_raw(data, size, n, raw) == 0) {
        /* what was accepted is strict DER: re-encoding gives the same bytes */
        FUZZ_ASSERT(p11kms_ecdsa_raw_to_der(raw, 2 * n, &der, &der_len) == 0);
        FUZZ_ASSERT(der_len == size && memcmp(der, data, size) == 0);
        FUZZ_ASSERT(p11kms_ecdsa_der_to_raw(der, der_len, n, raw2) == 0);
        FUZZ_ASSERT(memcmp(raw, raw2, 2 * n) == 0);
        free(der);
    }
    if (size > 0 && size <= 2 * 66 && size % 2 == 0 &&
        p11kms_ecdsa_raw_to_der(data, size, &der, &der_len) == 0)
        free(der);
    if (p11kms_ecdsa_fit_digest(data, size, n > 64 ? 64 : n, (unsigned)(8 * n), fitted) == 0)
        FUZZ_ASSERT(size >= 1 && size <= 64);
    return 0;
}
