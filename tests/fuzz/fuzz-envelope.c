/* fuzz-envelope.c - fuzz target for the envelope parser. Whatever parses must encode back to
 * exactly the input bytes: the format has one encoding per envelope. */
#include <string.h>
#include "envelope.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_envelope e;
    uint8_t *out = NULL;
    size_t len = 0;

    fuzz_quiet_log();
    if (p11kms_envelope_parse(data, size, &e) != CKR_OK)
        return 0;
    FUZZ_ASSERT(p11kms_envelope_encoded_len(&e) == size);
    FUZZ_ASSERT(p11kms_envelope_encode(&e, NULL, &len) == CKR_BUFFER_TOO_SMALL && len == size);
    out = malloc(len);
    FUZZ_ASSERT(out != NULL);
    FUZZ_ASSERT(p11kms_envelope_encode(&e, out, &len) == CKR_OK && len == size);
    FUZZ_ASSERT(memcmp(out, data, size) == 0);
    free(out);
    p11kms_envelope_clear(&e);
    return 0;
}
