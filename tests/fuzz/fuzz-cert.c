/* fuzz-cert.c - fuzz target for the files beside asymmetric keys: X.509 certificates (cert.c,
 * PEM or DER) and the local backend's PEM private key files (keyfile.c). Anything accepted must
 * be consistent: a certificate's parts are present, a private key is of a listed type. */
#include <openssl/evp.h>
#include "backends/local/keyfile.h"
#include "cert.h"
#include "keytype.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_cert *c = NULL;
    EVP_PKEY *pk = NULL;

    fuzz_quiet_log();
    if (p11kms_cert_parse(data, size, "fuzz", &c) == CKR_OK) {
        FUZZ_ASSERT(c != NULL && c->der_len > 0 && c->subject_len > 0 && c->issuer_len > 0);
        FUZZ_ASSERT(c->serial_len > 0 && c->spki_len > 0);
        p11kms_cert_free(c);
    }
    if (p11kms_keyfile_private_parse((const char *)data, size, "fuzz", -1, &pk) == CKR_OK) {
        FUZZ_ASSERT(pk != NULL && p11kms_key_type_is_asym(p11kms_key_type_of_pkey(pk)));
        EVP_PKEY_free(pk);
    }
    return 0;
}
