/* bench-sign.c - "bench ecsign": CKM_ECDSA signatures/s of a P-256 private key through any
 * module (p11kms's local backend, SoftHSM2), each thread signing one SHA-256 digest over and over
 * in its own session. One signature is checked before the clock starts: the module's C_Verify
 * with the public key object accepts it and refuses it changed, and with --pubkey OpenSSL
 * verifies it against the reference key. */
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "bench.h"

#define P256_SIG_LEN 64

static uint8_t digest[32];

static CK_OBJECT_HANDLE find_object(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;

    check(p11->C_FindObjectsInit(s, t, 2), "C_FindObjectsInit");
    check(p11->C_FindObjects(s, &h, 1, &n), "C_FindObjects");
    check(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
    return n == 1 ? h : CK_INVALID_HANDLE;
}

static void sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, uint8_t sig[P256_SIG_LEN])
{
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    CK_ULONG len = P256_SIG_LEN;

    check(p11->C_SignInit(s, &m, key), "C_SignInit(CKM_ECDSA)");
    check(p11->C_Sign(s, digest, sizeof(digest), sig, &len), "C_Sign(CKM_ECDSA)");
    if (len != P256_SIG_LEN)
        die("C_Sign(CKM_ECDSA) gave %lu bytes, not a P-256 r||s", (unsigned long)len);
}

static CK_RV module_verify(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, uint8_t *sig)
{
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};

    check(p11->C_VerifyInit(s, &m, pub), "C_VerifyInit(CKM_ECDSA)");
    return p11->C_Verify(s, digest, sizeof(digest), sig, P256_SIG_LEN);
}

/* OpenSSL's verdict on r||s over digest with the reference public key (PEM). */
static int openssl_verifies(const char *pem, const uint8_t *sig)
{
    FILE *f = fopen(pem, "r");
    EVP_PKEY *pk = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    EVP_PKEY_CTX *ctx = pk != NULL ? EVP_PKEY_CTX_new(pk, NULL) : NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int der_len = -1, ok = 0;

    if (f != NULL)
        fclose(f);
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es */
        der_len = i2d_ECDSA_SIG(es, &der);
    }
    ok = ctx != NULL && der_len > 0 && EVP_PKEY_verify_init(ctx) == 1 &&
         EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, sizeof(digest)) == 1;
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

static void check_signature(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE pub)
{
    uint8_t sig[P256_SIG_LEN];

    sign_once(s, key, sig);
    check(module_verify(s, pub, sig), "C_Verify of the module's own signature");
    if (opt.pubkey != NULL && !openssl_verifies(opt.pubkey, sig))
        die("OpenSSL does not verify the signature with %s", opt.pubkey);
    sig[7] ^= 1;
    if (module_verify(s, pub, sig) != CKR_SIGNATURE_INVALID)
        die("C_Verify accepted a changed signature");
}

static void *sign_worker(void *arg)
{
    struct worker *w = arg;
    CK_SESSION_HANDLE s = open_session();
    uint8_t sig[P256_SIG_LEN];
    int i;

    for (i = 0; i < 50; i++) /* warm caches and allocator before the clock starts */
        sign_once(s, w->key, sig);
    pthread_barrier_wait(w->barrier);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        sign_once(s, w->key, sig);
        w->count++;
    }
    check(p11->C_CloseSession(s), "C_CloseSession");
    return NULL;
}

void cmd_ecsign(void)
{
    CK_SESSION_HANDLE s = start();
    CK_OBJECT_HANDLE key, pub;
    timed r;

    if (opt.key_label == NULL)
        die("--key LABEL is required");
    key = find_object(s, CKO_PRIVATE_KEY, opt.key_label);
    pub = find_object(s, CKO_PUBLIC_KEY, opt.key_label);
    if (key == CK_INVALID_HANDLE || pub == CK_INVALID_HANDLE)
        die("no private and public key labelled %s", opt.key_label);
    if (EVP_Digest("p11kms bench", 12, digest, NULL, EVP_sha256(), NULL) != 1)
        die("SHA-256 failed");
    check_signature(s, key, pub);
    r = timed_run(sign_worker, key, pub);
    printf("ecsign threads=%d sigs=%ld seconds=%.3f sigs_per_s=%.1f cpus=%.2f\n", opt.threads,
           r.count, r.seconds, (double)r.count / r.seconds, r.cpus);
    finish(s);
}
