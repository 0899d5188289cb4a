/* p11.h - helpers for module tests: load the built p11kms.so with dlopen, get its function
 * lists, write test configurations, and common PKCS#11 calls. The module is used only
 * through its function lists, as an application would. */
#ifndef P11KMS_TEST_P11_H
#define P11KMS_TEST_P11_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pkcs11/p11kms.h"
#include "tests/test.h"

static CK_FUNCTION_LIST_PTR p11;
static CK_FUNCTION_LIST_3_0_PTR p11v3;
static void *p11_dl;
static char p11_tmpdir[256];

static inline void p11_load(void)
{
    const char *path = getenv("P11KMS_TEST_MODULE");
    CK_C_GetFunctionList gfl;
    CK_C_GetInterface gi;
    CK_INTERFACE_PTR iface = NULL;

    if (path == NULL)
        path = ".libs/p11kms.so";
    p11_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (p11_dl == NULL) {
        printf("Bail out! cannot load %s: %s\n", path, dlerror());
        exit(1);
    }
    gfl = (CK_C_GetFunctionList)dlsym(p11_dl, "C_GetFunctionList");
    gi = (CK_C_GetInterface)dlsym(p11_dl, "C_GetInterface");
    if (gfl == NULL || gi == NULL || gfl(&p11) != CKR_OK ||
        gi((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, 0) != CKR_OK) {
        printf("Bail out! %s lacks C_GetFunctionList/C_GetInterface\n", path);
        exit(1);
    }
    p11v3 = iface->pFunctionList;
}

/* Unload the module. Under LeakSanitizer its leak check runs first, with the module still
 * mapped: GCC 12's LeakSanitizer can crash at exit scanning the thread-local storage of a module
 * that was dlclose'd (whether an entry goes stale depends on the link layout). The check then
 * covers everything up to here; it does not run again at exit. */
extern void __lsan_do_leak_check(void) __attribute__((weak));

static inline void p11_unload(void)
{
    if (__lsan_do_leak_check != NULL)
        __lsan_do_leak_check();
    dlclose(p11_dl);
}

/* A private temporary directory for configs and key files, removed at exit. */
static inline void p11_rmtmp(void)
{
    char cmd[300];
    if (p11_tmpdir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p11_tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", p11_tmpdir);
    }
}

static inline const char *p11_tmp(void)
{
    if (!p11_tmpdir[0]) {
        snprintf(p11_tmpdir, sizeof(p11_tmpdir), "/tmp/p11kms-test-XXXXXX");
        if (mkdtemp(p11_tmpdir) == NULL) {
            printf("Bail out! mkdtemp\n");
            exit(1);
        }
        atexit(p11_rmtmp);
    }
    return p11_tmpdir;
}

/* Write `text` to tmp/name with mode; returns the path (static buffer per call site use). */
static inline char *p11_write(const char *name, const char *text, mode_t mode)
{
    static char paths[8][320];
    static int next;
    char *path = paths[next++ % 8];
    FILE *f;

    snprintf(path, 320, "%s/%s", p11_tmp(), name);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
    chmod(path, mode);
    return path;
}

/* Use only the environment the test sets. Token objects a test keeps go to its own temporary
 * directory (the per-user default store is under $XDG_DATA_HOME), never to the user's. */
static inline void p11_clean_env(void)
{
    char data[320];

    unsetenv("P11KMS_CONFIG");
    unsetenv("KMS_KEY_ID");
    snprintf(data, sizeof(data), "%s/data", p11_tmp());
    setenv("XDG_DATA_HOME", data, 1);
}

static inline CK_RV p11_init_config(const char *config_path)
{
    p11_clean_env();
    if (config_path)
        setenv("P11KMS_CONFIG", config_path, 1);
    return p11->C_Initialize(NULL);
}

static inline CK_RV p11_init_quick(void)
{
    p11_clean_env();
    setenv("KMS_KEY_ID", "insecure-test-key", 1);
    return p11->C_Initialize(NULL);
}

static inline CK_SESSION_HANDLE p11_open(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
    if (rv != CKR_OK)
        printf("# C_OpenSession(%lu) = 0x%lx\n", (unsigned long)slot, (unsigned long)rv);
    return h;
}

/* The first object whose CKA_LABEL is label, or CK_INVALID_HANDLE. */
static inline CK_OBJECT_HANDLE p11_find_label(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;

    if (p11->C_FindObjectsInit(s, t, 1) != CKR_OK)
        return CK_INVALID_HANDLE;
    if (p11->C_FindObjects(s, &h, 1, &n) != CKR_OK || n != 1)
        h = CK_INVALID_HANDLE;
    p11->C_FindObjectsFinal(s);
    return h;
}

/* Count the objects the session sees. */
static inline CK_ULONG p11_count(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE h[256];
    CK_ULONG n = 0;

    if (p11->C_FindObjectsInit(s, NULL, 0) != CKR_OK)
        return (CK_ULONG)-1;
    p11->C_FindObjects(s, h, 256, &n);
    p11->C_FindObjectsFinal(s);
    return n;
}

static CK_BBOOL p11_true = CK_TRUE, p11_false = CK_FALSE;

/* A 32-byte AES data key whose value can be read (for comparisons in tests). */
static inline CK_OBJECT_HANDLE p11_data_key(CK_SESSION_HANDLE s, CK_ULONG len)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (p11->C_GenerateKey(s, &m, t, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

/* The unwrap template for a readable AES key. */
#define P11_UNWRAP_TEMPLATE(name)                                                                  \
    CK_OBJECT_CLASS name##_cls = CKO_SECRET_KEY;                                                   \
    CK_KEY_TYPE name##_kt = CKK_AES;                                                               \
    CK_ATTRIBUTE name[] = {                                                                        \
        {CKA_CLASS, &name##_cls, sizeof(name##_cls)},                                              \
        {CKA_KEY_TYPE, &name##_kt, sizeof(name##_kt)},                                             \
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},                                             \
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},                                            \
    }

static inline int p11_value(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t *out, CK_ULONG *len)
{
    CK_ATTRIBUTE a = {CKA_VALUE, out, *len};
    CK_RV rv = p11->C_GetAttributeValue(s, h, &a, 1);
    *len = a.ulValueLen;
    return rv == CKR_OK;
}

/* C_UnwrapKey of in with kms under m into a readable AES key (P11_UNWRAP_TEMPLATE). */
static inline CK_RV p11_unwrap(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE kms,
                               const uint8_t *in, CK_ULONG len, CK_OBJECT_HANDLE *out)
{
    P11_UNWRAP_TEMPLATE(t);
    *out = CK_INVALID_HANDLE;
    return p11->C_UnwrapKey(s, m, kms, (CK_BYTE_PTR)in, len, t, 4, out);
}

/* One-shot C_EncryptInit + C_Encrypt (encrypt) or C_DecryptInit + C_Decrypt into out, which
 * holds *out_len bytes. */
static inline CK_RV p11_crypt(CK_SESSION_HANDLE s, int encrypt, CK_MECHANISM *m,
                              CK_OBJECT_HANDLE key, const uint8_t *in, CK_ULONG len, uint8_t *out,
                              CK_ULONG *out_len)
{
    CK_RV rv = encrypt ? p11->C_EncryptInit(s, m, key) : p11->C_DecryptInit(s, m, key);

    if (rv != CKR_OK)
        return rv;
    return encrypt ? p11->C_Encrypt(s, (CK_BYTE_PTR)in, len, out, out_len)
                   : p11->C_Decrypt(s, (CK_BYTE_PTR)in, len, out, out_len);
}

/* A version-2 envelope relabelled version 1 (purpose byte dropped) into out; its length. */
static inline CK_ULONG p11_env_as_v1(const uint8_t *env, CK_ULONG len, uint8_t *out)
{
    memcpy(out, env, 4);
    out[4] = 1;
    memcpy(out + 5, env + 6, len - 6);
    return len - 1;
}

/* A version-1 envelope relabelled version 2 with the given purpose byte into out. */
static inline CK_ULONG p11_env_as_v2(const uint8_t *env, CK_ULONG len, uint8_t purpose,
                                     uint8_t *out)
{
    memcpy(out, env, 4);
    out[4] = 2;
    out[5] = purpose;
    memcpy(out + 6, env + 5, len - 5);
    return len + 1;
}

/* Lines of the file at path that contain what (-1 when it cannot be read). */
static inline int p11_file_count(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, what))
            n++;
    fclose(f);
    return n;
}

/* C_SetAttributeValue of one boolean attribute. */
static inline CK_RV p11_set_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                                 CK_BBOOL b)
{
    CK_ATTRIBUTE a = {type, &b, sizeof(b)};

    return p11->C_SetAttributeValue(s, h, &a, 1);
}

/* C_CopyObject with one boolean attribute changed; *out is CK_INVALID_HANDLE unless a copy was
 * made. */
static inline CK_RV p11_copy_bool(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
                                  CK_BBOOL b, CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE a = {type, &b, sizeof(b)};

    *out = CK_INVALID_HANDLE;
    return p11->C_CopyObject(s, h, &a, 1, out);
}

/* C_WrapKey with CKM_P11KMS_ENVELOPE and the wrapping key's default context, into cap bytes. */
static inline CK_RV p11_wrap_default(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wrapping,
                                     CK_OBJECT_HANDLE key, uint8_t *out, CK_ULONG cap,
                                     CK_ULONG *len)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};

    *len = cap;
    return p11->C_WrapKey(s, &m, wrapping, key, out, len);
}

/* C_UnwrapKey with CKM_P11KMS_ENVELOPE and the default context; *out is CK_INVALID_HANDLE
 * unless a key was made. */
static inline CK_RV p11_unwrap_default(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE unwrapping,
                                       uint8_t *in, CK_ULONG len, CK_ATTRIBUTE *t, CK_ULONG n,
                                       CK_OBJECT_HANDLE *out)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};

    *out = CK_INVALID_HANDLE;
    return p11->C_UnwrapKey(s, &m, unwrapping, in, len, t, n, out);
}

/* Fill a CK_P11KMS_ENVELOPE_PARAMS from "k=v" strings. */
static inline void p11_context(CK_P11KMS_ENVELOPE_PARAMS *p, CK_P11KMS_CONTEXT_PAIR *pairs,
                               const char *const *kv, CK_ULONG n)
{
    CK_ULONG i;
    for (i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        pairs[i].pKey = (CK_UTF8CHAR_PTR)kv[i];
        pairs[i].ulKeyLen = (CK_ULONG)(eq - kv[i]);
        pairs[i].pValue = (CK_UTF8CHAR_PTR)eq + 1;
        pairs[i].ulValueLen = strlen(eq + 1);
    }
    p->ulVersion = P11KMS_ENVELOPE_PARAMS_VERSION;
    p->pContext = pairs;
    p->ulContextCount = n;
    p->flags = 0;
}

/* `rounds` wrap/unwrap round trips of fresh data keys with KMS key `kms`, each under its own
 * context thread=<id>-<round>; returns how many failed (for the threaded tests). */
static inline long p11_round_trips(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms, long id, long rounds)
{
    long i, failures = 0;
    char value[32];
    CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "thread", 6, (CK_UTF8CHAR_PTR)value, 0};
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};

    for (i = 0; i < rounds; i++) {
        CK_OBJECT_HANDLE dk = p11_data_key(s, 32), out = 0;
        uint8_t env[8192], a[32], b[32];
        CK_ULONG len = sizeof(env), la = 32, lb = 32;
        P11_UNWRAP_TEMPLATE(t);

        pair.ulValueLen = (CK_ULONG)snprintf(value, sizeof(value), "%ld-%ld", id, i);
        if (dk == CK_INVALID_HANDLE || p11->C_WrapKey(s, &m, kms, dk, env, &len) != CKR_OK ||
            p11->C_UnwrapKey(s, &m, kms, env, len, t, 4, &out) != CKR_OK ||
            !p11_value(s, dk, a, &la) || !p11_value(s, out, b, &lb) || memcmp(a, b, 32) != 0)
            failures++;
        p11->C_DestroyObject(s, dk);
        p11->C_DestroyObject(s, out);
    }
    return failures;
}

#endif
