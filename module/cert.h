/* cert.h - an X.509 certificate configured beside an asymmetric key: read from a PEM or DER
 * file at C_Initialize and split into the attributes of its CKO_CERTIFICATE object. Bounded
 * and fuzzable (tests/fuzz/fuzz-cert.c); a parsed certificate never changes. */
#ifndef P11KMS_CERT_H
#define P11KMS_CERT_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

#define P11KMS_CERT_MAX_BYTES (64u * 1024u)

typedef struct p11kms_cert {
    uint8_t *der; /* CKA_VALUE: the certificate, DER */
    size_t der_len;
    uint8_t *subject; /* CKA_SUBJECT: DER Name */
    size_t subject_len;
    uint8_t *issuer; /* CKA_ISSUER */
    size_t issuer_len;
    uint8_t *serial; /* CKA_SERIAL_NUMBER: DER INTEGER */
    size_t serial_len;
    uint8_t *spki; /* CKA_PUBLIC_KEY_INFO: DER SubjectPublicKeyInfo */
    size_t spki_len;
    CK_DATE start, end;     /* notBefore, notAfter (CKA_START_DATE, CKA_END_DATE) */
    uint8_t check_value[3]; /* CKA_CHECK_VALUE: the first bytes of SHA-1(der) */
    int key_type;           /* P11KMS_KT_* of its public key, -1 when none we know */
} p11kms_cert;

/* Parse a certificate: PEM (the first CERTIFICATE block; further blocks, such as the rest of a
 * chain, are ignored) or DER (exactly one certificate, nothing after it). origin names the
 * source in the log line. CKR_ARGUMENTS_BAD (logged), CKR_HOST_MEMORY. */
CK_RV p11kms_cert_parse(const uint8_t *data, size_t len, const char *origin, p11kms_cert **out);
/* Read and parse a certificate file of at most P11KMS_CERT_MAX_BYTES. */
CK_RV p11kms_cert_load(const char *path, p11kms_cert **out);
void p11kms_cert_free(p11kms_cert *c);

#endif
