/* random.c - C_GenerateRandom from OpenSSL's DRBG (seeded from the OS, fork-safe since 3.0).
 * C_SeedRandom is refused: the DRBG does not take caller entropy. */
#include <limits.h>
#include <openssl/rand.h>
#include "log.h"
#include "ops.h"

CK_RV p11kms_generate_random(CK_BYTE_PTR out, CK_ULONG len)
{
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(out, n) != 1) {
            LOG_E("RAND_bytes failed");
            return CKR_FUNCTION_FAILED;
        }
        out += n;
        len -= (CK_ULONG)n;
    }
    return CKR_OK;
}
