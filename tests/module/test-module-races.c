/* test-module-races.c - calls racing each other and the process life: C_Login against
 * C_CloseAllSessions, C_Finalize while other threads are inside calls, and fork() while other
 * threads are logging. Run under ASan and TSan too (scripts/test-all). A watchdog turns a hang
 * into a failure. */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND_H 1
#endif
#endif
#include "tests/module/p11.h"

#define WATCHDOG_S 600 /* the whole program; generous for sanitizers on a loaded machine */
#define CHILD_WATCHDOG_S 60

static const char *config_path;
static atomic_int stop;

/* ---- C_Login racing C_CloseAllSessions --------------------------------------------------- */

#define LOGIN_ROUNDS 2000

static pthread_barrier_t round_start, round_end;
static CK_SESSION_HANDLE race_session;
static atomic_int login_done;

static void *login_side(void *arg)
{
    int r;

    (void)arg;
    for (r = 0; r < LOGIN_ROUNDS; r++) {
        pthread_barrier_wait(&round_start);
        p11->C_Login(race_session, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4);
        atomic_store(&login_done, 1);
        pthread_barrier_wait(&round_end);
    }
    return NULL;
}

static void *close_side(void *arg)
{
    int r;

    (void)arg;
    for (r = 0; r < LOGIN_ROUNDS; r++) {
        pthread_barrier_wait(&round_start);
        /* Closing all along, so a close lands between the login's start and its end. */
        do
            p11->C_CloseAllSessions(0);
        while (!atomic_load(&login_done));
        pthread_barrier_wait(&round_end);
    }
    return NULL;
}

/* Each round: one session, one C_Login, and C_CloseAllSessions over and over meanwhile. A login
 * that lands after its session was closed must not leave the token logged in with no session: the
 * next session would see the private keys without a PIN. */
static void test_login_close(void)
{
    int r, open_left = 0, logged_in = 0, visible = 0;
    pthread_t a, b;

    pthread_barrier_init(&round_start, NULL, 3);
    pthread_barrier_init(&round_end, NULL, 3);
    pthread_create(&a, NULL, login_side, NULL);
    pthread_create(&b, NULL, close_side, NULL);
    for (r = 0; r < LOGIN_ROUNDS; r++) {
        CK_TOKEN_INFO ti;
        CK_SESSION_INFO si;
        CK_SESSION_HANDLE s;

        race_session = p11_open(0);
        atomic_store(&login_done, 0);
        pthread_barrier_wait(&round_start);
        pthread_barrier_wait(&round_end);
        /* Every session is closed now. */
        if (p11->C_GetTokenInfo(0, &ti) != CKR_OK || ti.ulSessionCount != 0)
            open_left++;
        s = p11_open(0);
        if (p11->C_GetSessionInfo(s, &si) != CKR_OK || si.state != CKS_RW_PUBLIC_SESSION)
            logged_in++;
        if (p11_find_label(s, "private") != CK_INVALID_HANDLE)
            visible++;
        p11->C_CloseSession(s);
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&round_start);
    pthread_barrier_destroy(&round_end);
    is_num(open_left, 0, "C_CloseAllSessions left no session open");
    is_num(logged_in, 0,
           "2000 rounds of C_Login racing C_CloseAllSessions: the next session is public");
    is_num(visible, 0, "  ...and does not see the private key");
}

/* ---- C_Finalize while other threads are inside calls -------------------------------------- */

static atomic_long unexpected, calls_ok;

static int expected(CK_RV rv)
{
    /* Whatever a call meets when the module goes away under it, never anything else. */
    return rv == CKR_OK || rv == CKR_CRYPTOKI_NOT_INITIALIZED || rv == CKR_SESSION_HANDLE_INVALID ||
           rv == CKR_SESSION_CLOSED || rv == CKR_OBJECT_HANDLE_INVALID ||
           rv == CKR_KEY_HANDLE_INVALID || rv == CKR_WRAPPING_KEY_HANDLE_INVALID ||
           rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID || rv == CKR_OPERATION_NOT_INITIALIZED;
}

static void note(CK_RV rv)
{
    if (rv == CKR_OK)
        atomic_fetch_add(&calls_ok, 1);
    else if (!expected(rv))
        atomic_fetch_add(&unexpected, 1);
}

static void *busy_loop(void *arg)
{
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};

    (void)arg;
    while (!atomic_load(&stop)) {
        CK_TOKEN_INFO ti;
        CK_OBJECT_HANDLE kms, dk, out = CK_INVALID_HANDLE;
        uint8_t env[2048];
        CK_ULONG len = sizeof(env);
        P11_UNWRAP_TEMPLATE(t);
        CK_RV rv;

        note(p11->C_GetTokenInfo(0, &ti));
        rv = p11->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
        note(rv);
        if (rv != CKR_OK)
            continue;
        kms = p11_find_label(s, "open");
        dk = p11_data_key(s, 32);
        rv = p11->C_WrapKey(s, &m, kms, dk, env, &len);
        note(rv);
        if (rv == CKR_OK)
            note(p11->C_UnwrapKey(s, &m, kms, env, len, t, 4, &out));
        note(p11->C_DestroyObject(s, dk));
        note(p11->C_CloseSession(s));
    }
    return NULL;
}

static void test_finalize_race(void)
{
    int round, threads = 4, not_init = 0, i;
    pthread_t th[4];

    for (round = 0; round < 20; round++) {
        long before;
        CK_INFO info;

        if (p11_init_config(config_path) != CKR_OK) {
            ok(0, "C_Initialize for the finalize race");
            return;
        }
        atomic_store(&stop, 0);
        before = atomic_load(&calls_ok);
        for (i = 0; i < threads; i++)
            pthread_create(&th[i], NULL, busy_loop, NULL);
        /* Finalize once the threads are really at work. */
        while (atomic_load(&calls_ok) < before + 50)
            sched_yield();
        if (p11->C_Finalize(NULL) != CKR_OK)
            not_init++;
        /* Calls starting now find the module finalised, whatever the threads are doing. */
        if (p11->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED)
            not_init++;
        atomic_store(&stop, 1);
        for (i = 0; i < threads; i++)
            pthread_join(th[i], NULL);
    }
    is_num(not_init, 0, "20 rounds: C_Finalize under 4 busy threads, then not initialised");
    is_num(atomic_load(&unexpected), 0, "the threads saw only results a finalised module gives");
}

/* C_Finalize waits for a call already inside the module; calls that start meanwhile are
 * refused. A call is held inside with the application's own lock callback. */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static int hold_armed, hold_inside, hold_release;
static atomic_int finalize_done;

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
    pthread_mutex_lock(&hold_lock);
    if (hold_armed) {
        hold_armed = 0;
        hold_inside = 1;
        pthread_cond_broadcast(&hold_cond);
        while (!hold_release)
            pthread_cond_wait(&hold_cond, &hold_lock);
    }
    pthread_mutex_unlock(&hold_lock);
    pthread_mutex_lock(m);
    return CKR_OK;
}
static CK_RV app_unlock(CK_VOID_PTR m)
{
    pthread_mutex_unlock(m);
    return CKR_OK;
}

static void *held_call(void *arg)
{
    CK_SESSION_INFO si;

    return (void *)(uintptr_t)p11->C_GetSessionInfo(*(CK_SESSION_HANDLE *)arg, &si);
}

static void *finalizer(void *arg)
{
    (void)arg;
    p11->C_Finalize(NULL);
    atomic_store(&finalize_done, 1);
    return NULL;
}

static void test_finalize_waits(void)
{
    CK_C_INITIALIZE_ARGS args = {app_create, app_destroy, app_lock, app_unlock, 0, NULL};
    CK_SESSION_HANDLE s;
    pthread_t caller, fin;
    void *held_rv;
    CK_INFO info;
    struct timespec pause = {0, 200000000};

    p11_clean_env();
    setenv("P11KMS_CONFIG", config_path, 1);
    is_rv(p11->C_Initialize(&args), CKR_OK, "C_Initialize with application mutexes");
    s = p11_open(0);
    pthread_mutex_lock(&hold_lock);
    hold_armed = 1;
    pthread_mutex_unlock(&hold_lock);
    pthread_create(&caller, NULL, held_call, &s);
    pthread_mutex_lock(&hold_lock);
    while (!hold_inside)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
    /* A call is inside the module, held. */
    pthread_create(&fin, NULL, finalizer, NULL);
    while (p11->C_GetInfo(&info) == CKR_OK) /* until C_Finalize has closed the gate */
        sched_yield();
    is_rv(p11->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED,
          "a call starting while C_Finalize waits is refused");
    nanosleep(&pause, NULL);
    is_num(atomic_load(&finalize_done), 0, "C_Finalize waits for the call inside");
    pthread_mutex_lock(&hold_lock);
    hold_release = 1;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
    pthread_join(caller, &held_rv);
    pthread_join(fin, NULL);
    is_rv((CK_RV)(uintptr_t)held_rv, CKR_OK, "the call inside completed normally");
    is_num(atomic_load(&finalize_done), 1, "then C_Finalize returned");
    is_rv(p11->C_GetSessionInfo(s, NULL), CKR_CRYPTOKI_NOT_INITIALIZED, "the module is finalised");
}

/* ---- fork() while other threads log ------------------------------------------------------- */

static void *log_loop(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);

    (void)arg;
    /* Each call writes a debug line; none of them draws random bytes (OpenSSL's generator is
     * not ours to make fork-safe). */
    while (!atomic_load(&stop)) {
        CK_TOKEN_INFO ti;
        CK_SESSION_INFO si;

        p11->C_GetTokenInfo(0, &ti);
        p11->C_GetSessionInfo(s, &si);
        p11_find_label(s, "open");
    }
    p11->C_CloseSession(s);
    return NULL;
}

/* In the child: re-initialise and do real work, or be killed by the watchdog. */
static int child_work(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE kms, dk, out = CK_INVALID_HANDLE;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[2048], a[32], b[32];
    CK_ULONG len = sizeof(env), la = 32, lb = 32;
    P11_UNWRAP_TEMPLATE(t);

    alarm(CHILD_WATCHDOG_S);
#ifdef HAVE_VALGRIND_H
    /* Under valgrind (make memcheck): a block one of the parent's threads had just allocated
     * and held only in a register at the fork is lost to this child, which has none of those
     * threads, so a leak check here would fail it at random. Memory errors in the child still
     * fail it (exit 99). Outside valgrind this does nothing. */
    VALGRIND_CLO_CHANGE("--leak-check=no");
#endif
    if (p11->C_Initialize(NULL) != CKR_OK)
        return 2;
    s = p11_open(0);
    kms = p11_find_label(s, "open");
    dk = p11_data_key(s, 32);
    if (p11->C_WrapKey(s, &m, kms, dk, env, &len) != CKR_OK ||
        p11->C_UnwrapKey(s, &m, kms, env, len, t, 4, &out) != CKR_OK || !p11_value(s, dk, a, &la) ||
        !p11_value(s, out, b, &lb) || memcmp(a, b, 32) != 0)
        return 3;
    if (p11->C_Finalize(NULL) != CKR_OK)
        return 4;
    return 0;
}

/* The error lines of the shared debug log, as diagnostics: why a child failed. */
static void show_errors(const char *log)
{
    char line[600];
    FILE *f = fopen(log, "r");
    int shown = 0;

    while (f != NULL && shown < 20 && fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, ": error: ") == NULL)
            continue;
        line[strcspn(line, "\n")] = 0;
        diag("%s", line);
        shown++;
    }
    if (f != NULL)
        fclose(f);
}

static void test_fork_while_logging(void)
{
    char logenv[400];
    const char *log = p11_write("debug.log", "", 0600);
    pthread_t th[3];
    int i, forks = 30, bad = 0, hung = 0;

    snprintf(logenv, sizeof(logenv), "debug,file:%s", log);
    setenv("P11KMS_LOG", logenv, 1);
    if (p11_init_config(config_path) != CKR_OK) {
        ok(0, "C_Initialize for the fork test");
        return;
    }
    atomic_store(&stop, 0);
    for (i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, log_loop, NULL);
    for (i = 0; i < forks; i++) {
        int status = 0;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid == 0)
            _exit(child_work());
        if (pid < 0 || waitpid(pid, &status, 0) != pid) {
            bad++;
            continue;
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            hung++;
            break; /* one is enough; the next would wait for its watchdog too */
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            /* 2: C_Initialize, 3: the round trip, 4: C_Finalize failed */
            diag("fork %d: child %s %d", i, WIFEXITED(status) ? "exited" : "killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            bad++;
        }
    }
    atomic_store(&stop, 1);
    for (i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    unsetenv("P11KMS_LOG");
    if (bad > 0)
        show_errors(log);
    is_num(hung, 0, "30 forks beside 3 logging threads: no child hangs in C_Initialize");
    is_num(bad, 0, "every child re-initialised, wrapped and unwrapped");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "the parent finalises");
}

/* The login race runs with lock callbacks that yield first, which widens the windows between
 * a call's steps the way a loaded machine does. */
static CK_RV yield_lock(CK_VOID_PTR m)
{
    sched_yield();
    pthread_mutex_lock(m);
    return CKR_OK;
}

static int wanted(int argc, char **argv, const char *name)
{
    int i;

    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return argc < 2;
}

int main(int argc, char **argv)
{
    const char *conf =
        "{\"tokens\": [\n"
        " {\"label\": \"open\", \"keys\": [{\"label\": \"open\", \"backend\": \"local\", "
        "\"key_id\": \"insecure-test-key\"}]}]}\n";
    const char *pin_conf =
        "{\"tokens\": [\n"
        " {\"label\": \"pin\", \"pin\": \"1234\", \"keys\": [{\"label\": \"private\", "
        "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n";

    CK_C_INITIALIZE_ARGS args = {app_create, app_destroy, yield_lock, app_unlock, 0, NULL};

    test_start();
    alarm(WATCHDOG_S);
    p11_load();
    config_path = p11_write("open.conf", conf, 0600);
    if (wanted(argc, argv, "login")) {
        p11_clean_env();
        setenv("P11KMS_CONFIG", p11_write("pin.conf", pin_conf, 0600), 1);
        is_rv(p11->C_Initialize(&args), CKR_OK, "C_Initialize (yielding lock callbacks)");
        test_login_close();
        is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    }
    if (wanted(argc, argv, "finalize")) {
        test_finalize_race();
        test_finalize_waits();
    }
    if (wanted(argc, argv, "fork"))
        test_fork_while_logging();
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
