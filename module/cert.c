/* cert.c - X.509 certificate files into the attributes of a CKO_CERTIFICATE object, through
 * OpenSSL's parsers on bounded input. No shared state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "cert.h"
#include "keytype.h"
#include "log.h"

#define PEM_MARK "-----BEGIN CERTIFICATE-----"

void p11kms_cert_free(p11kms_cert *c)
{
    if (c == NULL)
        return;
    free(c->der);
    free(c->subject);
    free(c->issuer);
    free(c->serial);
    free(c->spki);
    free(c);
}

/* A CK_DATE from an ASN.1 time: 0, or -1 (a time OpenSSL cannot read, or past year 9999). */
static int date_of(const ASN1_TIME *t, CK_DATE *d)
{
    struct tm tm;
    char buf[32]; /* room for any int, though the year is checked to 0..9999 */

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 || tm.tm_year + 1900 > 9999 ||
        tm.tm_year + 1900 < 0)
        return -1;
    snprintf(buf, sizeof(buf), "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    memcpy(d->year, buf, 4);
    memcpy(d->month, buf + 4, 2);
    memcpy(d->day, buf + 6, 2);
    return 0;
}

/* An i2d_* encoding into a fresh buffer. */
#define ENCODE(fn, obj, out, out_len)                                                              \
    do {                                                                                           \
        unsigned char *p_;                                                                         \
        int n_ = fn(obj, NULL);                                                                    \
        if (n_ <= 0 || (out = malloc((size_t)n_)) == NULL)                                         \
            goto fail;                                                                             \
        p_ = out;                                                                                  \
        if (fn(obj, &p_) != n_)                                                                    \
            goto fail;                                                                             \
        out_len = (size_t)n_;                                                                      \
    } while (0)

/* The attributes of x. */
static CK_RV split(X509 *x, p11kms_cert *c)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_PKEY *pk;

    ENCODE(i2d_X509, x, c->der, c->der_len);
    ENCODE(i2d_X509_NAME, X509_get_subject_name(x), c->subject, c->subject_len);
    ENCODE(i2d_X509_NAME, X509_get_issuer_name(x), c->issuer, c->issuer_len);
    ENCODE(i2d_ASN1_INTEGER, X509_get0_serialNumber(x), c->serial, c->serial_len);
    ENCODE(i2d_X509_PUBKEY, X509_get_X509_PUBKEY(x), c->spki, c->spki_len);
    if (EVP_Digest(c->der, c->der_len, md, &md_len, EVP_sha1(), NULL) != 1 || md_len < 3)
        goto fail;
    memcpy(c->check_value, md, sizeof(c->check_value));
    if (date_of(X509_get0_notBefore(x), &c->start) != 0 ||
        date_of(X509_get0_notAfter(x), &c->end) != 0)
        goto fail;
    pk = X509_get0_pubkey(x);
    c->key_type = p11kms_key_type_of_pkey(pk);
    return CKR_OK;
fail:
    return CKR_ARGUMENTS_BAD;
}

CK_RV p11kms_cert_parse(const uint8_t *data, size_t len, const char *origin, p11kms_cert **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_cert *c = NULL;
    X509 *x = NULL;
    BIO *bio = NULL;
    const unsigned char *p = data;

    *out = NULL;
    if (len == 0 || len > P11KMS_CERT_MAX_BYTES) {
        LOG_E("%s: a certificate file must hold 1..%u bytes", origin, P11KMS_CERT_MAX_BYTES);
        return CKR_ARGUMENTS_BAD;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto out;
    rv = CKR_ARGUMENTS_BAD;
    if (memmem(data, len, PEM_MARK, strlen(PEM_MARK)) != NULL) {
        bio = BIO_new_mem_buf(data, (int)len);
        if (bio == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            LOG_E("%s: the first PEM CERTIFICATE block is not an X.509 certificate", origin);
            goto out;
        }
    } else {
        x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL || p != data + len) {
            LOG_E("%s: not a PEM or DER X.509 certificate%s", origin,
                  x != NULL ? " (bytes after the DER certificate)" : "");
            goto out;
        }
    }
    rv = split(x, c);
    if (rv != CKR_OK) {
        LOG_E("%s: cannot read the certificate's names, serial number, key or dates", origin);
        goto out;
    }
    *out = c;
    c = NULL;
out:
    X509_free(x);
    BIO_free(bio);
    p11kms_cert_free(c);
    ERR_clear_error();
    return rv;
}

CK_RV p11kms_cert_load(const char *path, p11kms_cert **out)
{
    CK_RV rv = CKR_ARGUMENTS_BAD;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct stat st;
    ssize_t r;
    int fd;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        LOG_E("%s: cannot open the certificate: %s", path, strerror(errno));
        return rv;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (uintmax_t)st.st_size > P11KMS_CERT_MAX_BYTES) {
        LOG_E("%s: the certificate must be a regular file of at most %u bytes", path,
              P11KMS_CERT_MAX_BYTES);
        goto out;
    }
    /* One byte beyond the limit, to notice a file that grew meanwhile. */
    buf = malloc(P11KMS_CERT_MAX_BYTES + 1);
    if (buf == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    for (;;) {
        r = read(fd, buf + len, P11KMS_CERT_MAX_BYTES + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            LOG_E("%s: cannot read the certificate: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > P11KMS_CERT_MAX_BYTES) {
            LOG_E("%s: the certificate is larger than %u bytes", path, P11KMS_CERT_MAX_BYTES);
            goto out;
        }
    }
    rv = p11kms_cert_parse(buf, len, path, out);
out:
    free(buf);
    close(fd);
    return rv;
}
