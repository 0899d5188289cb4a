/* gcp-jwt.c - the RS256 assertion a service account exchanges for an access token at its
 * token_uri (RFC 7523), signed with OpenSSL from the key file's PKCS#8 key. No state. */
#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "gcp-creds.h"
#include "log.h"
#include "net/sbuf.h"
#include "secmem.h"

#define ASSERTION_MAX (16u * 1024u)
#define MIN_RSA_BITS 2048

/* Unpadded base64url (RFC 7515) of n bytes, appended to b. */
static void add_b64url(p11kms_sbuf *b, const uint8_t *p, size_t n)
{
    size_t start = b->len, i;

    p11kms_sbuf_base64(b, p, n);
    if (b->failed)
        return;
    for (i = start; i < b->len; i++) {
        if (b->p[i] == '+')
            b->p[i] = '-';
        else if (b->p[i] == '/')
            b->p[i] = '_';
    }
    while (b->len > start && b->p[b->len - 1] == '=')
        b->p[--b->len] = 0;
}

static void add_member(p11kms_sbuf *b, const char *name, const char *value)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_char(b, ':');
    p11kms_sbuf_json_string(b, value, strlen(value));
}

static EVP_PKEY *load_key(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    BIO *bio = BIO_new_mem_buf(pem, -1);

    if (bio == NULL)
        return NULL;
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"");
    BIO_free(bio);
    return pkey;
}

CK_RV p11kms_gcp_jwt_assertion(const char *pem, const char *kid, const char *iss, const char *scope,
                               const char *aud, time_t now, char **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_sbuf header, claims, jwt;
    EVP_PKEY *pkey = NULL;
    EVP_MD_CTX *md = NULL;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    char num[32];

    *out = NULL;
    p11kms_sbuf_init(&header, 1024);
    p11kms_sbuf_init(&claims, ASSERTION_MAX);
    p11kms_sbuf_init(&jwt, ASSERTION_MAX);
    pkey = load_key(pem);
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
        EVP_PKEY_get_bits(pkey) < MIN_RSA_BITS) {
        LOG_E("gcp: the private_key of service account %s is not an RSA key of %d bits or more "
              "in PEM",
              iss, MIN_RSA_BITS);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    p11kms_sbuf_str(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"");
    if (kid != NULL)
        add_member(&header, "kid", kid);
    p11kms_sbuf_char(&header, '}');
    p11kms_sbuf_char(&claims, '{');
    add_member(&claims, "iss", iss);
    add_member(&claims, "scope", scope);
    add_member(&claims, "aud", aud);
    snprintf(num, sizeof(num), ",\"iat\":%lld", (long long)now);
    p11kms_sbuf_str(&claims, num);
    snprintf(num, sizeof(num), ",\"exp\":%lld}", (long long)now + P11KMS_GCP_TOKEN_LIFETIME_S);
    p11kms_sbuf_str(&claims, num);
    add_b64url(&jwt, (const uint8_t *)header.p, header.len);
    p11kms_sbuf_char(&jwt, '.');
    add_b64url(&jwt, (const uint8_t *)claims.p, claims.len);
    if (header.failed || claims.failed || jwt.failed)
        goto out;

    md = EVP_MD_CTX_new();
    if (md == NULL)
        goto out;
    rv = CKR_DEVICE_ERROR;
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(md, NULL, &sig_len, (const uint8_t *)jwt.p, jwt.len) != 1)
        goto sign_failed;
    sig = OPENSSL_malloc(sig_len);
    if (sig == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    if (EVP_DigestSign(md, sig, &sig_len, (const uint8_t *)jwt.p, jwt.len) != 1)
        goto sign_failed;
    p11kms_sbuf_char(&jwt, '.');
    add_b64url(&jwt, sig, sig_len);
    if (jwt.failed) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    *out = jwt.p; /* handed over: jwt is not wiped below */
    jwt.p = NULL;
    jwt.len = jwt.cap = 0;
    rv = CKR_OK;
    goto out;
sign_failed:
    LOG_E("gcp: cannot sign the assertion of service account %s", iss);
out:
    OPENSSL_free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    p11kms_sbuf_wipe(&header);
    p11kms_sbuf_wipe(&claims);
    p11kms_sbuf_wipe(&jwt);
    return rv;
}
