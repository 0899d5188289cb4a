/* test-module-threads.c - concurrency and process life: several threads wrapping and unwrapping
 * at once on their own sessions, application mutex callbacks, fork (the child re-initialises),
 * and configurations the module must refuse. */
#include <pthread.h>
#include <sys/wait.h>
#include "tests/module/p11.h"

#define THREADS 6
#define ROUNDS 150

static CK_OBJECT_HANDLE kms;

static void *worker(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    long failures = p11_round_trips(s, kms, (long)arg, ROUNDS);

    p11->C_CloseSession(s);
    return (void *)failures;
}

static void test_threads(void)
{
    pthread_t th[THREADS];
    long i, failures = 0;
    CK_SESSION_HANDLE s = p11_open(0);

    kms = p11_find_label(s, "default");
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failures += (long)r;
    }
    is_num(failures, 0, "6 threads x 150 wrap/unwrap round trips, all correct");
    is_num(p11_count(s), 1, "no data keys left behind");
    p11->C_CloseSession(s);
}

static void test_fork(void)
{
    pid_t pid;
    int status = -1;
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32);
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[1024];
    CK_ULONG len = sizeof(env);

    is_rv(p11->C_WrapKey(s, &m, kms, dk, env, &len), CKR_OK, "parent wraps before fork");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        /* Child: the parent's state is not ours; re-initialise, then work. */
        CK_INFO info;
        CK_SESSION_HANDLE cs;
        CK_OBJECT_HANDLE out = 0, ckms;
        P11_UNWRAP_TEMPLATE(t);
        int code = 0;

        if (p11->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED)
            code |= 1;
        if (p11->C_Initialize(NULL) != CKR_OK)
            code |= 2;
        cs = p11_open(0);
        ckms = p11_find_label(cs, "default");
        if (p11->C_UnwrapKey(cs, &m, ckms, env, len, t, 4, &out) != CKR_OK)
            code |= 4;
        if (p11->C_Finalize(NULL) != CKR_OK)
            code |= 8;
        _exit(code);
    }
    ok(pid > 0, "fork");
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status), "child exited normally");
    is_num(WEXITSTATUS(status), 0,
           "child: not initialised after fork, re-initialises, unwraps the parent's envelope");
    len = sizeof(env);
    is_rv(p11->C_WrapKey(s, &m, kms, dk, env, &len), CKR_OK, "parent still works after fork");
    p11->C_CloseSession(s);
}

static int mutex_calls;

static CK_RV app_create(CK_VOID_PTR_PTR m)
{
    pthread_mutex_t *pm = malloc(sizeof(*pm));
    if (pm == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(pm, NULL);
    *m = pm;
    return CKR_OK;
}
static CK_RV app_destroy(CK_VOID_PTR m)
{
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}
static CK_RV app_lock(CK_VOID_PTR m)
{
    pthread_mutex_lock(m);
    __atomic_add_fetch(&mutex_calls, 1, __ATOMIC_SEQ_CST);
    return CKR_OK;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
    pthread_mutex_unlock(m);
    return CKR_OK;
}

static void test_app_mutexes(void)
{
    CK_C_INITIALIZE_ARGS args = {app_create, app_destroy, app_lock, app_unlock, 0, NULL};

    p11_clean_env();
    setenv("KMS_KEY_ID", "insecure-test-key", 1);
    is_rv(p11->C_Initialize(&args), CKR_OK, "C_Initialize with application mutexes");
    test_threads();
    ok(mutex_calls > 100, "the application's mutexes were used");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

/* A PIN written in the configuration is a secret in a file: only its owner may read it. */
static void test_literal_pin(void)
{
    const char *literal =
        "{\"tokens\": [{\"label\": \"t\", \"pin\": \"S3cr3t-p1n\", \"keys\": []}]}\n";
    const char *from_env = "{\"tokens\": [{\"label\": \"t\", \"pin\": \"env:P11KMS_TEST_PIN\", "
                           "\"keys\": []}]}\n";

    char logenv[400], line[600];
    const char *log = p11_write("pin.log", "", 0600);
    FILE *f;
    int said = 0, leaked = 0;

    snprintf(logenv, sizeof(logenv), "error,file:%s", log);
    setenv("P11KMS_LOG", logenv, 1);
    is_rv(p11_init_config(p11_write("pin-world.conf", literal, 0644)), CKR_ARGUMENTS_BAD,
          "literal PIN in a world-readable configuration refused");
    unsetenv("P11KMS_LOG");
    f = fopen(log, "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        said += strstr(line, "literal PIN") != NULL && strstr(line, "0644") != NULL;
        leaked += strstr(line, "S3cr3t-p1n") != NULL;
    }
    if (f != NULL)
        fclose(f);
    is_num(said, 1, "  ...with one log line naming the problem and the mode");
    is_num(leaked, 0, "  ...which does not show the PIN");
    is_rv(p11_init_config(p11_write("pin-group.conf", literal, 0640)), CKR_ARGUMENTS_BAD,
          "literal PIN in a group-readable configuration refused");
    is_rv(p11_init_config(p11_write("pin-owner.conf", literal, 0600)), CKR_OK,
          "literal PIN readable by its owner only: accepted");
    p11->C_Finalize(NULL);
    is_rv(p11_init_config(p11_write("pin-ro.conf", literal, 0400)), CKR_OK, "  ...also read-only");
    p11->C_Finalize(NULL);
    setenv("P11KMS_TEST_PIN", "1234", 1);
    is_rv(p11_init_config(p11_write("pin-env.conf", from_env, 0644)), CKR_OK,
          "a PIN from the environment: the file may be world-readable");
    p11->C_Finalize(NULL);
    unsetenv("P11KMS_TEST_PIN");
}

static void test_refused_configs(void)
{
    const char *good = "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", "
                       "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n";
    const char *unknown = "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", "
                          "\"backend\": \"local\", \"key_id\": \"insecure-test-key\", "
                          "\"colour\": \"blue\"}]}]}\n";
    char *path;
    CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};

    path = p11_write("writable.conf", good, 0666);
    is_rv(p11_init_config(path), CKR_ARGUMENTS_BAD, "world-writable configuration refused");
    path = p11_write("group.conf", good, 0620);
    is_rv(p11_init_config(path), CKR_ARGUMENTS_BAD, "group-writable configuration refused");
    path = p11_write("unknown.conf", unknown, 0600);
    is_rv(p11_init_config(path), CKR_ARGUMENTS_BAD, "unknown field refused");
    path = p11_write("good.conf", good, 0600);
    /* pReserved is reserved (PKCS#11 2.40 5.4): it used to name the configuration, and a
     * pointer that was not a string crashed the module. */
    p11_clean_env();
    setenv("P11KMS_CONFIG", path, 1);
    args.pReserved = path;
    is_rv(p11->C_Initialize(&args), CKR_ARGUMENTS_BAD, "pReserved set: refused, as specified");
    args.pReserved = (CK_VOID_PTR)1;
    is_rv(p11->C_Initialize(&args), CKR_ARGUMENTS_BAD, "pReserved (void *)1: refused, no crash");
    args.pReserved = NULL;
    is_rv(p11->C_Initialize(&args), CKR_OK,
          "pReserved NULL: the configuration from the environment");
    {
        CK_ULONG n = 0;
        CK_TOKEN_INFO ti;
        p11->C_GetSlotList(CK_TRUE, NULL, &n);
        is_num(n, 1, "one token from P11KMS_CONFIG");
        p11->C_GetTokenInfo(0, &ti);
        ok(ti.label[0] == 't' && ti.label[1] == ' ', "token label from that file");
    }
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    test_literal_pin();
    p11_clean_env();
    setenv("KMS_KEY_ID", "not-a-key-form", 1);
    is_rv(p11->C_Initialize(NULL), CKR_ARGUMENTS_BAD, "unrecognised KMS_KEY_ID refused");
    unsetenv("KMS_KEY_ID");
}

int main(void)
{
    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize (OS locking)");
    test_threads();
    test_fork();
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    test_app_mutexes();
    test_refused_configs();
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
