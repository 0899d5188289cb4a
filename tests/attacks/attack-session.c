/* attack-session.c - sessions, logins and the module's life as an attacker holding a session would
 * abuse them: a login that outlives its session, private objects seen without the login, dead
 * session and object handles used again, objects of a closed session, and calls racing
 * C_Finalize. Each must be refused, or be harmless. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "tests/attacks/attack.h"

#define PIN "1234"

static atomic_int stop;

static CK_RV login(CK_SESSION_HANDLE s)
{
    return p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)PIN, 4);
}

/* The application chooses the module's mutexes, so an attacker decides what happens between
 * the steps of a call: in the thread that armed it, the hook runs when the module is about to
 * take its countdown-th lock, before taking it. Sweeping the countdown over a call puts the
 * hook at every lock boundary of that call. */
static __thread int hook_countdown;
static void (*hook)(void);

static CK_RV m_create(CK_VOID_PTR_PTR m)
{
    pthread_mutex_t *pm = malloc(sizeof(*pm));
    if (pm == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(pm, NULL);
    *m = pm;
    return CKR_OK;
}
static CK_RV m_destroy(CK_VOID_PTR m)
{
    pthread_mutex_destroy(m);
    free(m);
    return CKR_OK;
}
static CK_RV m_lock(CK_VOID_PTR m)
{
    if (hook_countdown > 0 && --hook_countdown == 0)
        hook();
    pthread_mutex_lock(m);
    return CKR_OK;
}
static CK_RV m_unlock(CK_VOID_PTR m)
{
    pthread_mutex_unlock(m);
    return CKR_OK;
}

static void close_all(void)
{
    p11->C_CloseAllSessions(0);
}

static CK_RV init(void)
{
    CK_C_INITIALIZE_ARGS args = {m_create, m_destroy, m_lock, m_unlock, 0, NULL};

    diag("backend: %s", attack_backend());
    p11_clean_env();
    setenv("P11KMS_CONFIG", attack_config(", \"pin\": \"" PIN "\"", NULL), 1);
    return p11->C_Initialize(&args);
}

/* ---- a login racing the close of its session ---------------------------------------------- */

#define SWEEP 12 /* more lock boundaries than any of the calls below has */

/* The attacker closes every session at each point of a C_Login in turn, hoping the login sticks
 * to a token with no session left, so that the next session (anyone's) sees the private keys. */
static void try_login_after_close(void)
{
    int k, leaked = 0, closed_under = 0;

    hook = close_all;
    for (k = 1; k <= SWEEP; k++) {
        CK_SESSION_HANDLE s = p11_open(0);
        CK_RV rv;

        hook_countdown = k;
        rv = login(s);
        closed_under += hook_countdown == 0 && rv != CKR_OK;
        hook_countdown = 0;
        p11->C_CloseAllSessions(0);
        s = p11_open(0);
        if (p11_find_label(s, "kms") != CK_INVALID_HANDLE)
            leaked++;
        p11->C_CloseAllSessions(0);
    }
    ok(closed_under > 0, "C_Login with its session closed at each of its steps in turn");
    is_num(leaked, 0, "  ...no later session is logged in");
}

/* ---- private objects without the login ---------------------------------------------------- */

static CK_OBJECT_HANDLE private_key(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_PRIVATE, &p11_true, sizeof(CK_BBOOL)},
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (p11->C_GenerateKey(s, &m, t, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

/* The user's session made a private key; the attacker's session is public and knows (or guesses)
 * the handles. */
static void try_private_without_login(void)
{
    CK_SESSION_HANDLE user = p11_open(0), other;
    CK_OBJECT_HANDLE kms, dk, priv;
    uint8_t v[64], out[4096];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t iv[16] = {0};
    CK_MECHANISM cbc = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    CK_ULONG len = sizeof(out);

    is_rv(login(user), CKR_OK, "the user logs in");
    kms = p11_find_label(user, "kms");
    priv = private_key(user);
    ok(kms != CK_INVALID_HANDLE && priv != CK_INVALID_HANDLE, "a private session key made");
    is_rv(p11->C_Logout(user), CKR_OK, "the user logs out");
    other = p11_open(0);
    is_num(p11_count(other), 0, "a public session finds no private object");
    is_rv(p11->C_GetAttributeValue(other, priv, &a, 1), CKR_OBJECT_HANDLE_INVALID,
          "the private key's value cannot be read by handle");
    is_rv(p11->C_EncryptInit(other, &cbc, priv), CKR_KEY_HANDLE_INVALID, "nor used to encrypt");
    dk = attack_secret(other, 32, CK_FALSE, CK_TRUE);
    is_rv(p11->C_WrapKey(other, &env, kms, dk, out, &len), CKR_WRAPPING_KEY_HANDLE_INVALID,
          "the private KMS key cannot wrap by handle");
    len = sizeof(out);
    is_rv(p11->C_WrapKey(other, &env, kms, priv, out, &len), CKR_WRAPPING_KEY_HANDLE_INVALID,
          "nor wrap the private key out");
    is_rv(p11->C_EncryptInit(other, &env, kms), CKR_KEY_HANDLE_INVALID, "nor envelope-encrypt");
    is_rv(p11->C_DestroyObject(other, priv), CKR_OBJECT_HANDLE_INVALID,
          "nor can the private key be destroyed");
    is_rv(p11->C_CopyObject(other, priv, NULL, 0, &dk), CKR_OBJECT_HANDLE_INVALID, "nor copied");
    p11->C_CloseAllSessions(0);
}

/* ---- dead handles -------------------------------------------------------------------------- */

static void try_dead_handles(void)
{
    CK_SESSION_HANDLE a = p11_open(0), fresh[64];
    CK_SESSION_INFO si;
    CK_OBJECT_HANDLE k, out = CK_INVALID_HANDLE;
    uint8_t blob[4096], v[64];
    CK_ULONG len = sizeof(blob);
    CK_ATTRIBUTE val = {CKA_VALUE, v, sizeof(v)};
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    int i, reused = 0;

    login(a);
    k = attack_secret(a, 32, CK_FALSE, CK_TRUE);
    is_rv(p11->C_CloseSession(a), CKR_OK, "session a closed");
    is_rv(p11->C_GetSessionInfo(a, &si), CKR_SESSION_HANDLE_INVALID,
          "a closed session's handle is dead");
    is_rv(p11->C_Login(a, CKU_USER, (CK_UTF8CHAR_PTR)PIN, 4), CKR_SESSION_HANDLE_INVALID,
          "  ...for C_Login too");
    for (i = 0; i < 64; i++) {
        fresh[i] = p11_open(0);
        reused += fresh[i] == a;
    }
    is_num(reused, 0, "64 new sessions: none gets the closed session's handle");
    login(fresh[0]);
    /* a's session key died with a: no handle reaches it, from any session. */
    is_rv(p11->C_GetAttributeValue(fresh[0], k, &val, 1), CKR_OBJECT_HANDLE_INVALID,
          "the closed session's key cannot be read by handle");
    is_rv(p11->C_WrapKey(fresh[0], &env, p11_find_label(fresh[0], "kms"), k, blob, &len),
          CKR_KEY_HANDLE_INVALID, "nor wrapped");
    is_rv(p11->C_CopyObject(fresh[0], k, NULL, 0, &out), CKR_OBJECT_HANDLE_INVALID, "nor copied");
    for (i = 0; i < 64; i++)
        p11->C_CloseSession(fresh[i]);

    /* Handles from before C_Finalize name nothing after C_Initialize: the new ones never take an
     * old number, however many are made. */
    a = p11_open(0);
    login(a);
    k = attack_secret(a, 32, CK_FALSE, CK_TRUE);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    is_rv(init(), CKR_OK, "C_Initialize again");
    fresh[0] = p11_open(0);
    login(fresh[0]);
    reused = fresh[0] == a || fresh[0] == k;
    for (i = 0; i < 10000 && out <= (a > k ? a : k); i++) {
        out = attack_secret(fresh[0], 32, CK_FALSE, CK_TRUE);
        reused += out == a || out == k;
        if (out == CK_INVALID_HANDLE)
            break;
    }
    ok(out > (a > k ? a : k), "as many handles made again as before");
    is_num(reused, 0, "none of them is a session or object handle from before C_Finalize");
    is_rv(p11->C_GetSessionInfo(a, &si), CKR_SESSION_HANDLE_INVALID,
          "the old session handle is dead");
    is_rv(p11->C_GetAttributeValue(fresh[0], k, &val, 1), CKR_OBJECT_HANDLE_INVALID,
          "the old object handle too");
    p11->C_CloseAllSessions(0);
}

/* ---- objects made while their session is being closed ------------------------------------ */

/* Keys made in a session while it closes must not survive it: such a key would be a session
 * object nobody destroys, usable from every session. */
static void try_objects_outliving_session(void)
{
    CK_SESSION_HANDLE s;
    CK_ULONG before;
    int k, made = 0;

    s = p11_open(0);
    before = p11_count(s);
    p11->C_CloseSession(s);
    hook = close_all;
    for (k = 1; k <= SWEEP; k++) {
        s = p11_open(0);
        hook_countdown = k;
        made += attack_secret(s, 32, CK_FALSE, CK_TRUE) != CK_INVALID_HANDLE;
        hook_countdown = 0;
        p11->C_CloseAllSessions(0);
    }
    diag("%d of %d keys made before their session closed", made, SWEEP);
    s = p11_open(0);
    is_num(p11_count(s), before,
           "C_GenerateKey with its session closed at each of its steps: no key survives");
    p11->C_CloseSession(s);
}

/* ---- C_Finalize under running calls ------------------------------------------------------ */

static atomic_long odd;

static void *busy(void *arg)
{
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};

    (void)arg;
    while (!atomic_load(&stop)) {
        CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
        CK_OBJECT_HANDLE dk;
        uint8_t blob[4096];
        CK_ULONG len = sizeof(blob);
        CK_RV rv;

        if (p11->C_OpenSession(0, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK)
            continue;
        login(s);
        dk = attack_secret(s, 32, CK_FALSE, CK_TRUE);
        rv = p11->C_WrapKey(s, &env, p11_find_label(s, "kms"), dk, blob, &len);
        if (rv != CKR_OK && rv != CKR_CRYPTOKI_NOT_INITIALIZED &&
            rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_KEY_HANDLE_INVALID &&
            rv != CKR_WRAPPING_KEY_HANDLE_INVALID)
            atomic_fetch_add(&odd, 1);
        p11->C_CloseSession(s);
    }
    return NULL;
}

/* The module must not crash, or hand out freed state, when C_Finalize runs under calls. */
static void try_finalize_race(void)
{
    pthread_t t[3];
    int r, i, after = 0;

    for (r = 0; r < 5; r++) {
        CK_SLOT_ID slot;
        CK_ULONG n = 1;

        if (r > 0 && init() != CKR_OK)
            break;
        atomic_store(&stop, 0);
        for (i = 0; i < 3; i++)
            pthread_create(&t[i], NULL, busy, NULL);
        sched_yield();
        p11->C_Finalize(NULL);
        if (p11->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_CRYPTOKI_NOT_INITIALIZED)
            after++;
        atomic_store(&stop, 1);
        for (i = 0; i < 3; i++)
            pthread_join(t[i], NULL);
    }
    is_num(after, 0, "C_Finalize under 3 busy threads (5 times): no crash, then not initialised");
    is_num(atomic_load(&odd), 0, "the threads saw nothing but results or refusals");
}

int main(void)
{
    test_start();
    p11_load();
    is_rv(init(), CKR_OK, "C_Initialize (token with a PIN)");
    try_login_after_close();
    try_private_without_login();
    try_dead_handles();
    try_objects_outliving_session();
    try_finalize_race(); /* finalises */
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
