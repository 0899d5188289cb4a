/* bench.c - a generic PKCS#11 benchmark driver: loads any module through C_GetFunctionList and
 * measures wrap+unwrap pairs/s, AES-GCM C_Encrypt throughput, RSS over many cycles, C_Initialize
 * (ECDSA signatures: bench-sign.c).
 *
 * It is a measuring program, not library code: any failure of the module under test ends the
 * run with a message (a benchmark that silently skips failed calls would report fiction), and
 * each measured loop is checked once against known answers before it is timed.
 * Output: one line per command, "<command> key=value ...", parsed by bench/core-bench.sh. */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bench.h"

struct options opt = {
    .mech = CKM_P11KMS_ENVELOPE,
    .threads = 1,
    .seconds = 2.0,
    .size = 16384,
    .cycles = 100000,
    .sample = 10000,
    .runs = 11,
    .expect_keys = -1,
};

CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
atomic_int stop_flag;

void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

void check(CK_RV rv, const char *what)
{
    if (rv != CKR_OK)
        die("%s failed: rv 0x%lx", what, (unsigned long)rv);
}

double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of the whole process so far. */
double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void load_module(void)
{
    CK_C_GetFunctionList get;
    void *h;

    h = dlopen(opt.module, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        die("cannot load %s: %s", opt.module, dlerror());
    get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    if (get == NULL)
        die("%s has no C_GetFunctionList", opt.module);
    check(get(&p11), "C_GetFunctionList");
}

static void initialize(void)
{
    CK_C_INITIALIZE_ARGS args;

    memset(&args, 0, sizeof(args));
    args.flags = CKF_OS_LOCKING_OK;
    check(p11->C_Initialize(&args), "C_Initialize");
}

/* The slot whose token label matches --token (space padded), or the first token. */
static void select_slot(void)
{
    CK_SLOT_ID slots[256];
    CK_ULONG n = 256, i;
    CK_TOKEN_INFO ti;
    size_t len;

    check(p11->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
    for (i = 0; i < n; i++) {
        check(p11->C_GetTokenInfo(slots[i], &ti), "C_GetTokenInfo");
        if (opt.token == NULL) {
            slot = slots[i];
            return;
        }
        len = strlen(opt.token);
        if (len <= sizeof(ti.label) && memcmp(ti.label, opt.token, len) == 0 &&
            (len == sizeof(ti.label) || ti.label[len] == ' ')) {
            slot = slots[i];
            return;
        }
    }
    die("no token %s in %s", opt.token ? opt.token : "at all", opt.module);
}

CK_SESSION_HANDLE open_session(void)
{
    CK_SESSION_HANDLE s;

    check(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
          "C_OpenSession");
    return s;
}

/* The main session stays open for the whole run: the login state lives as long as one session. */
CK_SESSION_HANDLE start(void)
{
    CK_SESSION_HANDLE s;
    CK_RV rv;

    load_module();
    initialize();
    select_slot();
    s = open_session();
    if (opt.pin != NULL) {
        rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)opt.pin, strlen(opt.pin));
        if (rv != CKR_USER_ALREADY_LOGGED_IN)
            check(rv, "C_Login");
    }
    return s;
}

void finish(CK_SESSION_HANDLE s)
{
    check(p11->C_CloseSession(s), "C_CloseSession");
    check(p11->C_Finalize(NULL), "C_Finalize");
}

static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
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

/* An AES-256 session key. Readable (not sensitive, extractable) so the known-answer checks
 * can compare its value; this costs nothing in the measured loops. */
static CK_OBJECT_HANDLE make_data_key(CK_SESSION_HANDLE s)
{
    static CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    static CK_KEY_TYPE kt = CKK_AES;
    static CK_ULONG len = 32;
    static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &no, sizeof(no)},
        {CKA_SENSITIVE, &no, sizeof(no)},   {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},   {CKA_DECRYPT, &yes, sizeof(yes)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;

    check(p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), &h), "C_GenerateKey(data key)");
    return h;
}

static void read_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t *out, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {CKA_VALUE, out, *len};

    check(p11->C_GetAttributeValue(s, h, &a, 1), "C_GetAttributeValue(CKA_VALUE)");
    *len = a.ulValueLen;
}

/* ---- wrap + unwrap ---- */

static CK_OBJECT_CLASS unwrap_cls = CKO_SECRET_KEY;
static CK_KEY_TYPE unwrap_kt = CKK_AES;
static CK_BBOOL unwrap_yes = CK_TRUE, unwrap_no = CK_FALSE;
/* No CKA_VALUE_LEN: the wrapped data says it, and SoftHSM refuses it in an unwrap template. */
static CK_ATTRIBUTE unwrap_tmpl[] = {
    {CKA_CLASS, &unwrap_cls, sizeof(unwrap_cls)},
    {CKA_KEY_TYPE, &unwrap_kt, sizeof(unwrap_kt)},
    {CKA_TOKEN, &unwrap_no, sizeof(unwrap_no)},
    {CKA_SENSITIVE, &unwrap_no, sizeof(unwrap_no)},
    {CKA_EXTRACTABLE, &unwrap_yes, sizeof(unwrap_yes)},
    {CKA_ENCRYPT, &unwrap_yes, sizeof(unwrap_yes)},
    {CKA_DECRYPT, &unwrap_yes, sizeof(unwrap_yes)},
};
#define UNWRAP_TMPL_N (sizeof(unwrap_tmpl) / sizeof(unwrap_tmpl[0]))

/* Read-only once the options are parsed; every thread's mechanism points at it. */
static CK_P11KMS_ENVELOPE_PARAMS envelope_params = {P11KMS_ENVELOPE_PARAMS_VERSION, opt.context, 0,
                                                    0};

static CK_MECHANISM wrap_mechanism(void)
{
    CK_MECHANISM m = {opt.mech, NULL, 0};

    if (opt.mech == CKM_P11KMS_ENVELOPE && envelope_params.ulContextCount > 0) {
        m.pParameter = &envelope_params;
        m.ulParameterLen = sizeof(envelope_params);
    }
    return m;
}

static void wrap_pair(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE kek,
                      CK_OBJECT_HANDLE dk, CK_OBJECT_HANDLE *unwrapped)
{
    uint8_t wrapped[WRAPPED_MAX];
    CK_ULONG wlen = sizeof(wrapped);

    check(p11->C_WrapKey(s, m, kek, dk, wrapped, &wlen), "C_WrapKey");
    check(p11->C_UnwrapKey(s, m, kek, wrapped, wlen, unwrap_tmpl, UNWRAP_TMPL_N, unwrapped),
          "C_UnwrapKey");
}

/* Known answer: the unwrapped key has the data key's value. */
static void check_wrap(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE kek,
                       CK_OBJECT_HANDLE dk)
{
    uint8_t a[64], b[64];
    CK_ULONG alen = sizeof(a), blen = sizeof(b);
    CK_OBJECT_HANDLE u;

    wrap_pair(s, m, kek, dk, &u);
    read_value(s, dk, a, &alen);
    read_value(s, u, b, &blen);
    if (alen != 32 || blen != alen || memcmp(a, b, alen) != 0)
        die("unwrapped key differs from the wrapped one");
    check(p11->C_DestroyObject(s, u), "C_DestroyObject");
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
}

static void *wrap_worker(void *arg)
{
    struct worker *w = arg;
    CK_SESSION_HANDLE s = open_session();
    CK_MECHANISM m = wrap_mechanism();
    CK_OBJECT_HANDLE dk = make_data_key(s), u;
    int i;

    check_wrap(s, &m, w->key, dk);
    for (i = 0; i < 200; i++) { /* warm caches and allocator before the clock starts */
        wrap_pair(s, &m, w->key, dk, &u);
        check(p11->C_DestroyObject(s, u), "C_DestroyObject");
    }
    pthread_barrier_wait(w->barrier);
    while (!atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        wrap_pair(s, &m, w->key, dk, &u);
        check(p11->C_DestroyObject(s, u), "C_DestroyObject");
        w->count++;
    }
    check(p11->C_CloseSession(s), "C_CloseSession");
    return NULL;
}

static CK_OBJECT_HANDLE need_key(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE kek;

    if (opt.key_label == NULL)
        die("--key LABEL is required");
    kek = find_key(s, opt.key_label);
    if (kek == CK_INVALID_HANDLE)
        die("no secret key labelled %s", opt.key_label);
    return kek;
}

void sleep_seconds(double sec)
{
    struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

timed timed_run(void *(*fn)(void *), CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE pub)
{
    struct worker w[MAX_THREADS];
    pthread_barrier_t barrier;
    timed r = {0, 0, 0};
    double t0, c0;
    int i;

    atomic_store(&stop_flag, 0);
    pthread_barrier_init(&barrier, NULL, (unsigned)opt.threads + 1);
    for (i = 0; i < opt.threads; i++) {
        w[i].barrier = &barrier;
        w[i].key = key;
        w[i].pub = pub;
        w[i].count = 0;
        if (pthread_create(&w[i].thread, NULL, fn, &w[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&barrier);
    t0 = now();
    c0 = cpu_seconds();
    sleep_seconds(opt.seconds);
    atomic_store(&stop_flag, 1);
    for (i = 0; i < opt.threads; i++) {
        pthread_join(w[i].thread, NULL);
        r.count += w[i].count;
    }
    r.seconds = now() - t0;
    /* cpus: CPUs the process kept busy; below the thread count the machine was shared or the
     * threads waited (locks, I/O), which tells a busy machine from poor scaling. */
    r.cpus = (cpu_seconds() - c0) / r.seconds;
    pthread_barrier_destroy(&barrier);
    return r;
}

static void cmd_wrap(void)
{
    CK_SESSION_HANDLE s = start();
    timed r = timed_run(wrap_worker, need_key(s), CK_INVALID_HANDLE);

    printf("wrap threads=%d pairs=%ld seconds=%.3f pairs_per_s=%.1f cpus=%.2f\n", opt.threads,
           r.count, r.seconds, (double)r.count / r.seconds, r.cpus);
    finish(s);
}

/* ---- AES-256-GCM throughput, module and raw EVP in the same process ---- */

static void next_iv(uint8_t iv[GCM_IV_LEN], uint64_t counter)
{
    int i;

    memset(iv, 0, GCM_IV_LEN);
    for (i = 0; i < 8; i++)
        iv[GCM_IV_LEN - 1 - i] = (uint8_t)(counter >> (8 * i));
}

static void module_gcm_encrypt(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const uint8_t *iv,
                               const uint8_t *in, size_t len, uint8_t *out)
{
    CK_GCM_PARAMS gp = {(CK_BYTE_PTR)iv, GCM_IV_LEN, GCM_IV_LEN * 8, NULL, 0, GCM_TAG_LEN * 8};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_ULONG olen = len + GCM_TAG_LEN;

    check(p11->C_EncryptInit(s, &m, k), "C_EncryptInit(AES-GCM)");
    check(p11->C_Encrypt(s, (CK_BYTE_PTR)in, len, out, &olen), "C_Encrypt(AES-GCM)");
    if (olen != len + GCM_TAG_LEN)
        die("C_Encrypt(AES-GCM) returned %lu bytes, want %zu", (unsigned long)olen,
            len + GCM_TAG_LEN);
}

static void evp_gcm_encrypt(EVP_CIPHER_CTX *ctx, const uint8_t *iv, const uint8_t *in, size_t len,
                            uint8_t *out)
{
    int n = 0, f = 0;

    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 ||
        EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(ctx, out + n, &f) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, out + len) != 1)
        die("EVP AES-256-GCM failed");
}

static EVP_CIPHER_CTX *evp_gcm_new(const uint8_t key[32])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
        die("EVP AES-256-GCM init failed");
    return ctx;
}

/* The two loops alternate in short rounds, so drift of the machine (other load, clock
 * frequency) hits both sides alike; bytes and time are summed per side. */
#define GCM_ROUNDS 6

struct gcm_side {
    double bytes, secs;
};

static void gcm_round_module(struct gcm_side *side, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k,
                             const uint8_t *in, uint8_t *out, uint64_t *counter)
{
    uint8_t iv[GCM_IV_LEN];
    double t0 = now(), t;

    do {
        next_iv(iv, ++*counter);
        module_gcm_encrypt(s, k, iv, in, opt.size, out);
        side->bytes += (double)opt.size;
    } while ((t = now() - t0) < opt.seconds / GCM_ROUNDS);
    side->secs += t;
}

static void gcm_round_evp(struct gcm_side *side, EVP_CIPHER_CTX *ctx, const uint8_t *in,
                          uint8_t *out, uint64_t *counter)
{
    uint8_t iv[GCM_IV_LEN];
    double t0 = now(), t;

    do {
        next_iv(iv, ++*counter);
        evp_gcm_encrypt(ctx, iv, in, opt.size, out);
        side->bytes += (double)opt.size;
    } while ((t = now() - t0) < opt.seconds / GCM_ROUNDS);
    side->secs += t;
}

#define MIB_S(side) ((side).bytes / (side).secs / (1024.0 * 1024.0))

static void cmd_gcm(void)
{
    CK_SESSION_HANDLE s = start();
    CK_OBJECT_HANDLE k = make_data_key(s);
    uint8_t key[64], iv[GCM_IV_LEN];
    CK_ULONG klen = sizeof(key);
    uint8_t *in = malloc(opt.size), *out = malloc(opt.size + GCM_TAG_LEN),
            *ref = malloc(opt.size + GCM_TAG_LEN);
    EVP_CIPHER_CTX *ctx;
    struct gcm_side mod = {0, 0}, evp = {0, 0};
    uint64_t counter = 0;
    int r;

    if (in == NULL || out == NULL || ref == NULL || RAND_bytes(in, (int)opt.size) != 1)
        die("out of memory");
    read_value(s, k, key, &klen);
    if (klen != 32)
        die("data key is %lu bytes, want 32", (unsigned long)klen);
    ctx = evp_gcm_new(key);

    /* Known answer: the module's ciphertext and tag equal OpenSSL's for the same key and IV. */
    next_iv(iv, 0);
    module_gcm_encrypt(s, k, iv, in, opt.size, out);
    evp_gcm_encrypt(ctx, iv, in, opt.size, ref);
    if (memcmp(out, ref, opt.size + GCM_TAG_LEN) != 0)
        die("module AES-GCM output differs from OpenSSL's");

    for (r = 0; r < GCM_ROUNDS; r++) {
        gcm_round_module(&mod, s, k, in, out, &counter);
        gcm_round_evp(&evp, ctx, in, out, &counter);
    }
    printf("gcm size=%zu module_mib_s=%.1f evp_mib_s=%.1f ratio=%.3f\n", opt.size, MIB_S(mod),
           MIB_S(evp), MIB_S(mod) / MIB_S(evp));
    EVP_CIPHER_CTX_free(ctx);
    OPENSSL_cleanse(key, sizeof(key));
    free(in);
    free(out);
    free(ref);
    finish(s);
}

/* ---- resident memory over many wrap/unwrap cycles ---- */

static long rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void cmd_mem(void)
{
    CK_SESSION_HANDLE s = start();
    CK_OBJECT_HANDLE kek = need_key(s), dk = make_data_key(s), u;
    CK_MECHANISM m = wrap_mechanism();
    long i, first = -1, last = -1;

    if (opt.sample <= 0 || opt.cycles < opt.sample)
        die("--cycles must be at least --sample");
    check_wrap(s, &m, kek, dk);
    for (i = 1; i <= opt.cycles; i++) {
        wrap_pair(s, &m, kek, dk, &u);
        check(p11->C_DestroyObject(s, u), "C_DestroyObject");
        if (i % opt.sample == 0) {
            last = rss_kib();
            if (first < 0)
                first = last;
        }
    }
    printf("mem cycles=%ld rss_first_kib=%ld rss_last_kib=%ld growth_kib=%ld\n", opt.cycles, first,
           last, last - first);
    finish(s);
}

/* ---- C_Initialize time ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* KMS key objects over all tokens: proves the configuration was really loaded. */
static long count_keys(void)
{
    CK_SLOT_ID slots[256];
    CK_ULONG n = 256, i, got;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t = {CKA_CLASS, &cls, sizeof(cls)};
    CK_OBJECT_HANDLE h[256];
    CK_SESSION_HANDLE s;
    CK_TOKEN_INFO ti;
    long total = 0;

    check(p11->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
    for (i = 0; i < n; i++) {
        check(p11->C_GetTokenInfo(slots[i], &ti), "C_GetTokenInfo");
        if (!(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        check(p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s), "C_OpenSession");
        check(p11->C_FindObjectsInit(s, &t, 1), "C_FindObjectsInit");
        do {
            check(p11->C_FindObjects(s, h, 256, &got), "C_FindObjects");
            total += (long)got;
        } while (got > 0);
        check(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
        check(p11->C_CloseSession(s), "C_CloseSession");
    }
    return total;
}

static void cmd_init(void)
{
    double *ms = calloc((size_t)opt.runs, sizeof(double)), t0;
    long keys = -1;
    int i;

    if (ms == NULL || opt.runs < 1)
        die("bad --runs");
    load_module();
    for (i = 0; i < opt.runs; i++) {
        t0 = now();
        initialize();
        ms[i] = (now() - t0) * 1000.0;
        if (i == 0)
            keys = count_keys();
        check(p11->C_Finalize(NULL), "C_Finalize");
    }
    if (opt.expect_keys >= 0 && keys != opt.expect_keys)
        die("the module shows %ld keys, the configuration has %ld", keys, opt.expect_keys);
    qsort(ms, (size_t)opt.runs, sizeof(double), cmp_double);
    printf("init runs=%d keys=%ld median_ms=%.3f min_ms=%.3f max_ms=%.3f\n", opt.runs, keys,
           ms[opt.runs / 2], ms[0], ms[opt.runs - 1]);
    free(ms);
}

/* ---- preparation: an AES-256 wrapping key as a token object (SoftHSM) ---- */

static void cmd_mkkey(void)
{
    CK_SESSION_HANDLE s = start();
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;

    if (opt.key_label == NULL)
        die("--key LABEL is required");
    if (find_key(s, opt.key_label) == CK_INVALID_HANDLE) {
        CK_ATTRIBUTE t[] = {
            {CKA_CLASS, &cls, sizeof(cls)},
            {CKA_KEY_TYPE, &kt, sizeof(kt)},
            {CKA_VALUE_LEN, &len, sizeof(len)},
            {CKA_TOKEN, &yes, sizeof(yes)},
            {CKA_PRIVATE, &yes, sizeof(yes)},
            {CKA_SENSITIVE, &yes, sizeof(yes)},
            {CKA_EXTRACTABLE, &no, sizeof(no)},
            {CKA_WRAP, &yes, sizeof(yes)},
            {CKA_UNWRAP, &yes, sizeof(yes)},
            {CKA_LABEL, (void *)opt.key_label, strlen(opt.key_label)},
        };
        check(p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), &h), "C_GenerateKey(KEK)");
    }
    printf("mkkey label=%s\n", opt.key_label);
    finish(s);
}

/* ---- command line ---- */

static CK_MECHANISM_TYPE parse_mech(const char *s)
{
    char *end;
    unsigned long v;

    if (strcmp(s, "envelope") == 0)
        return CKM_P11KMS_ENVELOPE;
    if (strcmp(s, "kwp-pad") == 0)
        return CKM_AES_KEY_WRAP_PAD;
    if (strcmp(s, "kwp") == 0)
        return CKM_AES_KEY_WRAP_KWP;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *end != '\0')
        die("unknown mechanism %s", s);
    return v;
}

static void add_context(char *kv)
{
    char *eq = strchr(kv, '=');
    CK_ULONG n = envelope_params.ulContextCount;

    if (eq == NULL || eq == kv || n == MAX_CONTEXT)
        die("bad --context %s (want key=value, at most %d)", kv, MAX_CONTEXT);
    *eq = '\0';
    opt.context[n].pKey = (CK_UTF8CHAR_PTR)kv;
    opt.context[n].ulKeyLen = strlen(kv);
    opt.context[n].pValue = (CK_UTF8CHAR_PTR)(eq + 1);
    opt.context[n].ulValueLen = strlen(eq + 1);
    envelope_params.ulContextCount = n + 1;
}

static long parse_long(const char *s, long min, long max, const char *what)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        die("bad %s %s", what, s);
    return v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench COMMAND --module PATH [options]\n"
            "  wrap   wrap+unwrap pairs/s of a 32-byte data key (--key, --mech, --threads)\n"
            "  gcm    C_EncryptInit+C_Encrypt AES-256-GCM MiB/s, and raw EVP (--size)\n"
            "  mem    RSS over --cycles wrap/unwrap, sampled every --sample (--key, --mech)\n"
            "  init   C_Initialize time, median of --runs (--expect-keys N)\n"
            "  mkkey  create an AES-256 token wrapping key labelled --key if absent\n"
            "  ecsign CKM_ECDSA signatures/s of a P-256 private key labelled --key (--threads;\n"
            "         --pubkey PEM: the reference public key checking them first)\n"
            "options: --token LABEL --pin PIN --key LABEL --mech envelope|kwp-pad|kwp|0xN\n"
            "         --context k=v (envelope, repeatable) --threads N --seconds S --size N\n"
            "         --cycles N --sample N --runs N --expect-keys N --pubkey PEM\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"module", 1, NULL, 'M'},      {"token", 1, NULL, 't'},   {"pin", 1, NULL, 'p'},
        {"key", 1, NULL, 'k'},         {"mech", 1, NULL, 'm'},    {"context", 1, NULL, 'c'},
        {"threads", 1, NULL, 'T'},     {"seconds", 1, NULL, 's'}, {"size", 1, NULL, 'z'},
        {"cycles", 1, NULL, 'C'},      {"sample", 1, NULL, 'S'},  {"runs", 1, NULL, 'r'},
        {"expect-keys", 1, NULL, 'e'}, {"pubkey", 1, NULL, 'P'},  {NULL, 0, NULL, 0},
    };
    const char *cmd;
    int c;

    if (argc < 2)
        usage();
    cmd = argv[1];
    optind = 2;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'M':
            opt.module = optarg;
            break;
        case 't':
            opt.token = optarg;
            break;
        case 'p':
            opt.pin = optarg;
            break;
        case 'k':
            opt.key_label = optarg;
            break;
        case 'm':
            opt.mech = parse_mech(optarg);
            break;
        case 'c':
            add_context(optarg);
            break;
        case 'T':
            opt.threads = (int)parse_long(optarg, 1, MAX_THREADS, "--threads");
            break;
        case 's':
            opt.seconds = (double)parse_long(optarg, 1, 3600, "--seconds");
            break;
        case 'z':
            opt.size = (size_t)parse_long(optarg, 1, 1 << 26, "--size");
            break;
        case 'C':
            opt.cycles = parse_long(optarg, 1, 100000000, "--cycles");
            break;
        case 'S':
            opt.sample = parse_long(optarg, 1, 100000000, "--sample");
            break;
        case 'r':
            opt.runs = (int)parse_long(optarg, 1, 10000, "--runs");
            break;
        case 'e':
            opt.expect_keys = parse_long(optarg, 0, 1000000, "--expect-keys");
            break;
        case 'P':
            opt.pubkey = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || opt.module == NULL)
        usage();

    if (strcmp(cmd, "wrap") == 0)
        cmd_wrap();
    else if (strcmp(cmd, "gcm") == 0)
        cmd_gcm();
    else if (strcmp(cmd, "mem") == 0)
        cmd_mem();
    else if (strcmp(cmd, "init") == 0)
        cmd_init();
    else if (strcmp(cmd, "mkkey") == 0)
        cmd_mkkey();
    else if (strcmp(cmd, "ecsign") == 0)
        cmd_ecsign();
    else
        usage();
    return 0;
}
