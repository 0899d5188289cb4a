/* fuzz-envelope.c - fuzz target for the envelope parser. Whatever parses must encode back to
 * exactly the input bytes (the format has one encoding per envelope); a version-1 envelope, given
 * a purpose, encodes as version 2 with the same blobs after the purpose byte. */
#include <string.h>
#include "envelope.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_envelope e;
    uint8_t *out = NULL;
    size_t len = 0, want = size;

    fuzz_quiet_log();
    if (p11kms_envelope_parse(data, size, &e) != CKR_OK)
        return 0;
    FUZZ_ASSERT(e.version == P11KMS_ENVELOPE_VERSION || e.version == P11KMS_ENVELOPE_VERSION_1);
    if (e.version == P11KMS_ENVELOPE_VERSION_1) {
        /* The parser reports no purpose for version 1, and the encoder will not guess one. */
        FUZZ_ASSERT(e.purpose == P11KMS_PURPOSE_UNKNOWN && p11kms_envelope_encoded_len(&e) == 0);
        e.purpose = P11KMS_PURPOSE_WRAPPED_KEY;
        want = size + 1;
    } else {
        FUZZ_ASSERT(e.purpose == P11KMS_PURPOSE_WRAPPED_KEY || e.purpose == P11KMS_PURPOSE_DATA ||
                    e.purpose == P11KMS_PURPOSE_STORED_OBJECT);
    }
    FUZZ_ASSERT(p11kms_envelope_encoded_len(&e) == want);
    FUZZ_ASSERT(p11kms_envelope_encode(&e, NULL, &len) == CKR_BUFFER_TOO_SMALL && len == want);
    out = malloc(len);
    FUZZ_ASSERT(out != NULL);
    FUZZ_ASSERT(p11kms_envelope_encode(&e, out, &len) == CKR_OK && len == want);
    if (want == size) {
        FUZZ_ASSERT(memcmp(out, data, size) == 0);
    } else {
        FUZZ_ASSERT(memcmp(out, data, 4) == 0 && out[4] == P11KMS_ENVELOPE_VERSION &&
                    out[5] == P11KMS_PURPOSE_WRAPPED_KEY);
        FUZZ_ASSERT(memcmp(out + 6, data + 5, size - 5) == 0);
    }
    free(out);
    p11kms_envelope_clear(&e);
    return 0;
}
