/* aws-bench.c - request rate through p11kms against the loopback AWS KMS test server, next to a
 * bare libcurl keep-alive loop sending the same requests (signed by libcurl's own SigV4), with 1
 * and 2 threads, and connections per 1,000 calls: wrap+unwrap (Encrypt/Decrypt) with a symmetric
 * key, and CKM_ECDSA signatures (Sign, MessageType DIGEST) with an ECC_NIST_P256 key. */
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <openssl/evp.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define MAX_THREADS 2
#define ROUNDS 5

static const char *endpoint, *key_arn, *akid, *secret;
static long iterations;
static CK_OBJECT_HANDLE kms_key, ec_key;
/* The ECDSA side: the EC key's ARN (CreateKey below), the digest every Sign signs (base64 for the
 * bare loop), and which pair of loops runs. */
static char ec_arn[512], digest_b64[64];
static uint8_t digest[32];
static int signing;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process (both sides run here; the server is another process). */
static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- the bare libcurl loop: one easy handle per thread, kept alive ---- */

typedef struct sink {
    char buf[16384];
    size_t len;
} sink;

static size_t on_data(char *d, size_t s, size_t n, void *u)
{
    sink *k = u;
    size_t add = s * n;

    if (k->len + add >= sizeof(k->buf))
        return 0;
    memcpy(k->buf + k->len, d, add);
    k->len += add;
    k->buf[k->len] = 0;
    return add;
}

static int post(CURL *c, struct curl_slist *h, const char *body, sink *out)
{
    long status = 0;

    out->len = 0;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    return curl_easy_perform(c) == CURLE_OK &&
           curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200;
}

/* A keep-alive handle signing for KMS with the test credentials, its answers into out. */
static CURL *bare_handle(sink *out)
{
    char userpwd[256];
    CURL *c = curl_easy_init();

    snprintf(userpwd, sizeof(userpwd), "%s:%s", akid, secret);
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:kms");
    curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    return c;
}

/* The headers of one KMS action (no "Expect:" here: curl 7.88's signer would sign the
 * suppressed header as "expect" (the server refuses that); these bodies are under 1 KiB, so curl
 * adds no Expect anyway). */
static struct curl_slist *kms_headers(const char *action)
{
    char target[64];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/x-amz-json-1.1");

    snprintf(target, sizeof(target), "X-Amz-Target: TrentService.%s", action);
    return curl_slist_append(h, target);
}

static void *bare_worker(void *arg)
{
    char enc[512], dec[16384];
    struct curl_slist *he = kms_headers("Encrypt"), *hd = kms_headers("Decrypt");
    long i, failures = 0;
    const char *p, *q;
    sink out;
    CURL *c = bare_handle(&out);

    (void)arg;
    snprintf(enc, sizeof(enc),
             "{\"KeyId\":\"%s\",\"Plaintext\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\","
             "\"EncryptionContext\":{\"bench\":\"p11kms\"}}",
             key_arn);
    for (i = 0; i < iterations; i++) {
        /* the Decrypt carries the ciphertext this Encrypt returned, as a wrap+unwrap does */
        if (!post(c, he, enc, &out) || (p = strstr(out.buf, "\"CiphertextBlob\"")) == NULL ||
            (p = strchr(p + 16, '"')) == NULL || (q = strchr(p + 1, '"')) == NULL) {
            failures++;
            continue;
        }
        snprintf(dec, sizeof(dec),
                 "{\"KeyId\":\"%s\",\"CiphertextBlob\":\"%.*s\",\"EncryptionContext\":"
                 "{\"bench\":\"p11kms\"}}",
                 key_arn, (int)(q - p - 1), p + 1);
        if (!post(c, hd, dec, &out))
            failures++;
    }
    curl_slist_free_all(he);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    return (void *)failures;
}

/* The Sign request p11kms sends for CKM_ECDSA of digest with a P-256 key. */
static void *bare_sign_worker(void *arg)
{
    char body[1024];
    struct curl_slist *h = kms_headers("Sign");
    long i, failures = 0;
    sink out;
    CURL *c = bare_handle(&out);

    (void)arg;
    snprintf(body, sizeof(body),
             "{\"KeyId\":\"%s\",\"Message\":\"%s\",\"MessageType\":\"DIGEST\","
             "\"SigningAlgorithm\":\"ECDSA_SHA_256\"}",
             ec_arn, digest_b64);
    for (i = 0; i < iterations; i++)
        if (!post(c, h, body, &out) || strstr(out.buf, "\"Signature\"") == NULL)
            failures++;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return (void *)failures;
}

/* CreateKey ECC_NIST_P256 SIGN_VERIFY on the test server: its ARN into ec_arn; 0 on success. */
static int create_ec_key(void)
{
    struct curl_slist *h = kms_headers("CreateKey");
    const char *p, *q;
    sink out;
    CURL *c = bare_handle(&out);
    int ok = post(c, h, "{\"KeySpec\":\"ECC_NIST_P256\",\"KeyUsage\":\"SIGN_VERIFY\"}", &out) &&
             (p = strstr(out.buf, "\"Arn\"")) != NULL && (p = strchr(p + 5, '"')) != NULL &&
             (q = strchr(p + 1, '"')) != NULL && (size_t)(q - p) < sizeof(ec_arn);

    if (ok)
        snprintf(ec_arn, sizeof(ec_arn), "%.*s", (int)(q - p - 1), p + 1);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return ok ? 0 : -1;
}

/* ---- p11kms: C_WrapKey + C_UnwrapKey with a context, one session per thread ---- */

static void *p11_worker(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out;
    CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "bench", 5, (CK_UTF8CHAR_PTR) "p11kms", 6};
    CK_P11KMS_ENVELOPE_PARAMS prm = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &prm, sizeof(prm)};
    uint8_t env[8192];
    CK_ULONG len;
    long i, failures = 0;
    P11_UNWRAP_TEMPLATE(t);

    (void)arg;
    for (i = 0; i < iterations; i++) {
        len = sizeof(env);
        if (p11->C_WrapKey(s, &m, kms_key, dk, env, &len) != CKR_OK ||
            p11->C_UnwrapKey(s, &m, kms_key, env, len, t, 4, &out) != CKR_OK) {
            failures++;
            continue;
        }
        p11->C_DestroyObject(s, out);
    }
    p11->C_DestroyObject(s, dk);
    p11->C_CloseSession(s);
    return (void *)failures;
}

/* C_SignInit + C_Sign of digest (CKM_ECDSA): one KMS Sign each. */
static void *p11_sign_worker(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_MECHANISM m = {CKM_ECDSA, NULL, 0};
    uint8_t sig[64];
    CK_ULONG len;
    long i, failures = 0;

    (void)arg;
    for (i = 0; i < iterations; i++) {
        len = sizeof(sig);
        if (p11->C_SignInit(s, &m, ec_key) != CKR_OK ||
            p11->C_Sign(s, digest, sizeof(digest), sig, &len) != CKR_OK || len != sizeof(sig))
            failures++;
    }
    p11->C_CloseSession(s);
    return (void *)failures;
}

/* KMS calls of the loops that run. */
static long calls(void)
{
    return signing ? ctl_count("Sign") : ctl_count("Encrypt") + ctl_count("Decrypt");
}

typedef struct result {
    double rate;   /* wrap+unwrap pairs (2 requests), or signatures, per second */
    double cpu_us; /* client CPU time per pair, microseconds */
    double conns_per_1000;
    long failures;
} result;

static result run(void *(*fn)(void *), int threads)
{
    pthread_t th[MAX_THREADS];
    long c0 = ctl_stat("connections", NULL), k0 = calls();
    double t0 = now_s(), t1, u0 = cpu_s(), u1;
    result r = {0, 0, 0, 0};
    int i;

    for (i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, fn, NULL);
    for (i = 0; i < threads; i++) {
        void *v;
        pthread_join(th[i], &v);
        r.failures += (long)v;
    }
    t1 = now_s();
    u1 = cpu_s();
    r.rate = (double)(iterations * threads) / (t1 - t0);
    r.cpu_us = (u1 - u0) * 1e6 / (double)(iterations * threads);
    r.conns_per_1000 =
        (double)(ctl_stat("connections", NULL) - c0) * 1000.0 / (double)(calls() - k0);
    return r;
}

/* The first three fields of /proc/loadavg, for the figures' context. */
static const char *loadavg(void)
{
    static char buf[64];
    FILE *f = fopen("/proc/loadavg", "r");
    int a = 0;

    buf[0] = 0;
    if (f != NULL) {
        if (fgets(buf, sizeof(buf), f) != NULL)
            for (char *p = buf; *p; p++)
                if (*p == ' ' && ++a == 3) {
                    *p = 0;
                    break;
                }
        fclose(f);
    }
    return buf[0] ? buf : "?";
}

static CK_OBJECT_HANDLE find_private(CK_SESSION_HANDLE s, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG got = 0;

    if (p11->C_FindObjectsInit(s, t, 2) == CKR_OK) {
        p11->C_FindObjects(s, &h, 1, &got);
        p11->C_FindObjectsFinal(s);
    }
    return got == 1 ? h : CK_INVALID_HANDLE;
}

/* Both loops of one kind, warmed, then measured in alternation (ROUNDS times) keeping each one's
 * best: the server shares the machine's cores with the clients, and alternating spreads its
 * drift evenly over both sides. 1 when the target is met. */
static int compare(void *(*bare_fn)(void *), void *(*p11_fn)(void *), long n, const char *what,
                   const char *unit)
{
    result bare[MAX_THREADS + 1], mod[MAX_THREADS + 1], b, m;
    int threads, round, met = 1;

    iterations = 20;
    run(bare_fn, 1);
    run(p11_fn, 1);
    iterations = n;
    memset(bare, 0, sizeof(bare));
    memset(mod, 0, sizeof(mod));
    for (round = 0; round < ROUNDS; round++) {
        for (threads = 1; threads <= MAX_THREADS; threads++) {
            b = run(bare_fn, threads);
            m = run(p11_fn, threads);
            if (b.rate > bare[threads].rate)
                bare[threads] = b;
            if (m.rate > mod[threads].rate)
                mod[threads] = m;
        }
    }
    printf("AWS KMS %s against the loopback test server: %ld per thread, best of %d alternating "
           "rounds (load average %s)\n",
           what, iterations, ROUNDS, loadavg());
    printf("%-8s %15s %15s %7s %19s %19s %13s %13s\n", "threads", "libcurl", "p11kms", "ratio",
           "libcurl conns/1000", "p11kms conns/1000", "libcurl us/op", "p11kms us/op");
    for (threads = 1; threads <= MAX_THREADS; threads++) {
        double ratio = mod[threads].rate / bare[threads].rate;

        printf("%-8d %11.1f/s %11.1f/s %6.1f%% %19.2f %19.2f %13.0f %13.0f\n", threads,
               bare[threads].rate, mod[threads].rate, ratio * 100.0, bare[threads].conns_per_1000,
               mod[threads].conns_per_1000, bare[threads].cpu_us, mod[threads].cpu_us);
        if (ratio < 0.9 || mod[threads].conns_per_1000 > 2.0 * threads || mod[threads].failures ||
            bare[threads].failures)
            met = 0;
    }
    printf("(%s per second) failures: libcurl %ld, p11kms %ld\n", unit,
           bare[1].failures + bare[2].failures, mod[1].failures + mod[2].failures);
    printf("target (>= 90%% of the libcurl rate, <= 2 connections per thread per 1,000 calls): "
           "%s\n\n",
           met ? "met" : "NOT met");
    return met;
}

int main(int argc, char **argv)
{
    char cfg[2048];
    long n;
    CK_SESSION_HANDLE s;

    endpoint = getenv("P11KMS_AWS_ENDPOINT");
    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    akid = getenv("AWS_ACCESS_KEY_ID");
    secret = getenv("AWS_SECRET_ACCESS_KEY");
    n = argc > 1 ? atol(argv[1]) : 500;
    if (endpoint == NULL || key_arn == NULL || akid == NULL || secret == NULL || n < 1) {
        fprintf(stderr, "run through bench/aws-bench.sh\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (create_ec_key() != 0) {
        fprintf(stderr, "CreateKey ECC_NIST_P256 on the test server failed\n");
        return 1;
    }
    EVP_Digest("p11kms bench", 12, digest, NULL, EVP_sha256(), NULL);
    EVP_EncodeBlock((unsigned char *)digest_b64, digest, sizeof(digest));
    p11_load();
    snprintf(cfg, sizeof(cfg),
             "{\"tokens\": [{\"label\": \"aws\", \"keys\": [{\"label\": \"k\", \"backend\": "
             "\"aws\", \"key_id\": \"%s\", \"endpoint\": \"%s\"}, {\"label\": \"ec\", "
             "\"backend\": \"aws\", \"type\": \"ec-p256\", \"key_id\": \"%s\", "
             "\"endpoint\": \"%s\"}]}]}",
             key_arn, endpoint, ec_arn, endpoint);
    if (p11_init_config(p11_write("bench.json", cfg, 0600)) != CKR_OK) {
        fprintf(stderr, "C_Initialize failed\n");
        return 1;
    }
    s = p11_open(0);
    kms_key = p11_find_label(s, "k");
    ec_key = find_private(s, "ec");
    compare(bare_worker, p11_worker, n, "wrap+unwrap (Encrypt + Decrypt)", "pairs");
    signing = 1;
    compare(bare_sign_worker, p11_sign_worker, n, "CKM_ECDSA P-256 signatures (Sign)",
            "signatures");
    p11->C_CloseSession(s);
    p11->C_Finalize(NULL);
    ctl_close();
    return 0;
}
