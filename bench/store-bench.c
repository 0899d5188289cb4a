/* store-bench.c - token objects measured through any PKCS#11 module's function list: making N
 * token keys, a fresh process finding all of them (the first C_FindObjects after C_Initialize,
 * which reads the store, and warm ones after it), and the first and second use of one. A
 * measuring program: any failure of the module ends the run with a message. Output: one line
 * per command, "<command> key=value ...", parsed by bench/store-bench.sh. */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pkcs11/p11kms.h"

static CK_FUNCTION_LIST_PTR p11;

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "store-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void check(CK_RV rv, const char *what)
{
    if (rv != CKR_OK)
        die("%s failed: 0x%lx", what, (unsigned long)rv);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Load, C_Initialize, and a read/write session on the token labelled token. */
static CK_SESSION_HANDLE open_token(const char *module, const char *token, const char *pin,
                                    double *init_ms)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64, i;
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE s;
    size_t len = strlen(token);
    void *h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    double t0;

    if (h == NULL || (get = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList")) == NULL)
        die("cannot load %s", module);
    check(get(&p11), "C_GetFunctionList");
    t0 = now_ms();
    check(p11->C_Initialize(&args), "C_Initialize");
    *init_ms = now_ms() - t0;
    check(p11->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
    for (i = 0; i < n; i++) {
        check(p11->C_GetTokenInfo(slots[i], &ti), "C_GetTokenInfo");
        if (len <= sizeof(ti.label) && memcmp(ti.label, token, len) == 0 &&
            (len == sizeof(ti.label) || ti.label[len] == ' ')) {
            check(p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s),
                  "C_OpenSession");
            if (pin != NULL)
                check(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)), "C_Login");
            return s;
        }
    }
    die("no token %s", token);
    return CK_INVALID_HANDLE;
}

/* C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal over every object: how many. */
static CK_ULONG find_all(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE h[512];
    CK_ULONG n, total = 0;

    check(p11->C_FindObjectsInit(s, NULL, 0), "C_FindObjectsInit");
    do {
        check(p11->C_FindObjects(s, h, 512, &n), "C_FindObjects");
        total += n;
    } while (n > 0);
    check(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
    return total;
}

static void fill(CK_SESSION_HANDLE s, long count)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    char label[32];
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE_LEN, &len, sizeof(len)},
                        {CKA_TOKEN, &yes, 1},
                        {CKA_SENSITIVE, &yes, 1},
                        {CKA_PRIVATE, &yes, 1},
                        {CKA_ENCRYPT, &yes, 1},
                        {CKA_LABEL, label, 0}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;
    double t0 = now_ms(), ms;
    long i;

    for (i = 0; i < count; i++) {
        t[7].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "s-%ld", i);
        check(p11->C_GenerateKey(s, &m, t, sizeof(t) / sizeof(t[0]), &h), "C_GenerateKey");
    }
    ms = now_ms() - t0;
    printf("fill objects=%ld ms=%.1f objects_per_s=%.0f\n", count, ms, count / (ms / 1e3));
}

static void find(CK_SESSION_HANDLE s, int runs, double init_ms)
{
    double first, *ms = calloc((size_t)runs, sizeof(double)), t0;
    CK_ULONG n;
    int i;

    if (ms == NULL)
        die("out of memory");
    t0 = now_ms();
    n = find_all(s);
    first = now_ms() - t0;
    for (i = 0; i < runs; i++) {
        t0 = now_ms();
        if (find_all(s) != n)
            die("the number of objects changed");
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof(double), cmp_double);
    printf("find objects=%lu init_ms=%.3f first_ms=%.3f median_ms=%.3f max_ms=%.3f\n",
           (unsigned long)n, init_ms, first, ms[runs / 2], ms[runs - 1]);
    free(ms);
}

/* One AES-GCM encryption with the key labelled label: its time. */
static double use_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k)
{
    uint8_t iv[12] = {0}, pt[32] = {0}, ct[64];
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_ULONG n = sizeof(ct);
    double t0 = now_ms();

    check(p11->C_EncryptInit(s, &m, k), "C_EncryptInit");
    check(p11->C_Encrypt(s, pt, sizeof(pt), ct, &n), "C_Encrypt");
    return now_ms() - t0;
}

static void use(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    CK_OBJECT_HANDLE k;
    CK_ULONG n = 0;
    double first, second;

    check(p11->C_FindObjectsInit(s, &t, 1), "C_FindObjectsInit");
    check(p11->C_FindObjects(s, &k, 1, &n), "C_FindObjects");
    check(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
    if (n != 1)
        die("no key %s", label);
    first = use_once(s, k);
    second = use_once(s, k);
    printf("use first_ms=%.3f second_ms=%.3f\n", first, second);
}

int main(int argc, char **argv)
{
    CK_SESSION_HANDLE s;
    double init_ms;
    const char *pin = getenv("STORE_BENCH_PIN");

    if (argc != 5) {
        fprintf(stderr, "usage: store-bench MODULE TOKEN fill N | find RUNS | use LABEL\n"
                        "       (STORE_BENCH_PIN: log in with it)\n");
        return 2;
    }
    s = open_token(argv[1], argv[2], pin, &init_ms);
    if (strcmp(argv[3], "fill") == 0)
        fill(s, strtol(argv[4], NULL, 10));
    else if (strcmp(argv[3], "find") == 0)
        find(s, (int)strtol(argv[4], NULL, 10) > 0 ? (int)strtol(argv[4], NULL, 10) : 1, init_ms);
    else if (strcmp(argv[3], "use") == 0)
        use(s, argv[4]);
    else
        die("unknown command %s", argv[3]);
    check(p11->C_CloseSession(s), "C_CloseSession");
    check(p11->C_Finalize(NULL), "C_Finalize");
    return 0;
}
