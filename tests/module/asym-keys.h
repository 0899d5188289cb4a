/* asym-keys.h - for tests of asymmetric keys: private key files (PEM, PKCS#8) and self-signed
 * certificates made here with OpenSSL, so a test holds the reference key the module signs with
 * and checks every result against it independently. */
#ifndef P11KMS_TEST_ASYM_KEYS_H
#define P11KMS_TEST_ASYM_KEYS_H

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "tests/module/p11.h"

/* A new key: "EC" with a group name ("prime256v1") or "RSA" with bits. */
static inline EVP_PKEY *asym_keygen(const char *kind, const char *group, size_t bits)
{
    EVP_PKEY *pk = strcmp(kind, "EC") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", group)
                                           : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);

    if (pk == NULL) {
        printf("Bail out! cannot make a %s key\n", kind);
        exit(99);
    }
    return pk;
}

/* Write pk's private key (PEM PKCS#8) to tmp/name, mode 0600; the path. */
static inline char *asym_write_key(const char *name, EVP_PKEY *pk)
{
    static char path[8][320];
    static int next;
    char *p = path[next++ % 8];
    FILE *f;

    snprintf(p, 320, "%s/%s", p11_tmp(), name);
    f = fopen(p, "w");
    if (f == NULL || PEM_write_PKCS8PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
        fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", p);
        exit(99);
    }
    chmod(p, 0600);
    return p;
}

/* A self-signed certificate of pk with CN=cn (SHA-256), written as PEM to tmp/name; its DER
 * into *der (malloc'd) when der is not NULL. The path. */
static inline char *asym_write_cert(const char *name, EVP_PKEY *pk, const char *cn, uint8_t **der,
                                    int *der_len)
{
    static char path[8][320];
    static int next;
    char *p = path[next++ % 8];
    X509 *x = X509_new();
    X509_NAME *nm;
    FILE *f;

    if (x == NULL || X509_set_version(x, 2) != 1 ||
        ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30) == NULL || X509_set_pubkey(x, pk) != 1)
        goto fail;
    nm = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) !=
            1 ||
        X509_set_issuer_name(x, nm) != 1 || X509_sign(x, pk, EVP_sha256()) <= 0)
        goto fail;
    snprintf(p, 320, "%s/%s", p11_tmp(), name);
    f = fopen(p, "w");
    if (f == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
        goto fail;
    if (der != NULL) {
        *der = NULL;
        *der_len = i2d_X509(x, der);
    }
    X509_free(x);
    return p;
fail:
    printf("Bail out! cannot make the certificate %s\n", name);
    exit(99);
}

/* The first object of class cls with label, or CK_INVALID_HANDLE. */
static inline CK_OBJECT_HANDLE asym_find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
                                         const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_ULONG n = 0;

    if (p11->C_FindObjectsInit(s, t, 2) != CKR_OK)
        return CK_INVALID_HANDLE;
    if (p11->C_FindObjects(s, h, 2, &n) != CKR_OK || n != 1)
        h[0] = CK_INVALID_HANDLE;
    p11->C_FindObjectsFinal(s);
    return h[0];
}

/* r || s (2n bytes) as a DER ECDSA signature for OpenSSL; its length, 0 on failure. */
static inline int asym_raw_to_der(const uint8_t *raw, size_t n, uint8_t *out, size_t cap)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)n, NULL), *sv = BN_bin2bn(raw + n, (int)n, NULL);
    unsigned char *p = out;
    int len = 0;

    if (sig != NULL && r != NULL && sv != NULL && ECDSA_SIG_set0(sig, r, sv) == 1) {
        r = sv = NULL;
        if (i2d_ECDSA_SIG(sig, NULL) <= (int)cap)
            len = i2d_ECDSA_SIG(sig, &p);
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(sig);
    return len < 0 ? 0 : len;
}

#endif
