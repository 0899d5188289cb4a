/* test-module-store-threads.c - stored objects used from many threads at once: eight threads use
 * eight stored keys for the first time together while one thread finds all objects in a loop and
 * another creates, changes and destroys token objects. Every call succeeds, every key gives the
 * same ciphertext in every thread, and each key is unsealed exactly once (the module's debug line
 * per unseal is counted). Part of the ThreadSanitizer run (THREAD_TESTS). */
#include <pthread.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"

#define KEYS 8
#define USERS 8
#define ROUNDS 40

static CK_OBJECT_HANDLE keys[KEYS];
static uint8_t first_ct[KEYS][64];
static CK_ULONG first_len[KEYS];
static pthread_mutex_t ct_lock = PTHREAD_MUTEX_INITIALIZER;
static int errors;

static void error(void)
{
    __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
}

static void *user(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    long id = (long)arg, r;
    uint8_t pt[16] = "the same block.", ct[64];
    CK_ULONG n;
    int k;

    for (r = 0; r < ROUNDS; r++) {
        k = (int)((id + r) % KEYS);
        n = sizeof(ct);
        if (sf_gcm(s, 1, keys[k], pt, sizeof(pt), ct, &n) != CKR_OK) {
            error();
            continue;
        }
        pthread_mutex_lock(&ct_lock);
        if (first_len[k] == 0) {
            memcpy(first_ct[k], ct, n);
            first_len[k] = n;
        } else if (n != first_len[k] || memcmp(ct, first_ct[k], n) != 0) {
            error();
        }
        pthread_mutex_unlock(&ct_lock);
    }
    p11->C_CloseSession(s);
    return NULL;
}

static void *finder(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    int r;

    (void)arg;
    for (r = 0; r < ROUNDS * 4; r++)
        if (p11_count(s) == (CK_ULONG)-1 || p11_count(s) < 1 + KEYS)
            error();
    p11->C_CloseSession(s);
    return NULL;
}

static void *writer(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_ATTRIBUTE relabel = {CKA_LABEL, "changed", 7};
    CK_OBJECT_HANDLE h;
    int r;

    (void)arg;
    for (r = 0; r < ROUNDS; r++) {
        if (sf_token_data(s, "churn", "x", 1, &h) != CKR_OK ||
            p11->C_SetAttributeValue(s, h, &relabel, 1) != CKR_OK ||
            p11->C_DestroyObject(s, h) != CKR_OK)
            error();
    }
    p11->C_CloseSession(s);
    return NULL;
}

int main(void)
{
    char text[1024], label[16], logpath[400], env[500], dir[400];
    pthread_t th[USERS + 2];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    const char *conf;
    long i;
    int fine = 1;

    test_start();
    p11_load();
    snprintf(dir, sizeof(dir), "%s/store", p11_tmp());
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"threads\", \"store\": \"%s\", \"keys\": [{\"label\": "
             "\"kms\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n",
             dir);
    conf = p11_write("threads.conf", text, 0600);
    is_rv(p11_init_config(conf), CKR_OK, "C_Initialize");
    s = p11_open(0);
    for (i = 0; i < KEYS; i++) {
        snprintf(label, sizeof(label), "k%ld", i);
        fine = fine && sf_token_key(s, label, 32, CK_TRUE, CK_FALSE, &h) == CKR_OK;
    }
    ok(fine, "eight stored keys");
    p11->C_Finalize(NULL);

    /* A new instance: nothing unsealed yet. Every unseal logs one debug line. */
    snprintf(env, sizeof(env), "debug,file:%s", logpath);
    setenv("P11KMS_LOG", env, 1);
    is_rv(p11->C_Initialize(NULL), CKR_OK, "a new instance");
    s = p11_open(0);
    for (i = 0; i < KEYS; i++) {
        snprintf(label, sizeof(label), "k%ld", i);
        keys[i] = p11_find_label(s, label);
    }
    for (i = 0; i < USERS; i++)
        pthread_create(&th[i], NULL, user, (void *)i);
    pthread_create(&th[USERS], NULL, finder, NULL);
    pthread_create(&th[USERS + 1], NULL, writer, NULL);
    for (i = 0; i < USERS + 2; i++)
        pthread_join(th[i], NULL);
    is_num(errors, 0, "every call of every thread succeeded, each key the same ciphertext");
    is_num(p11_file_count(logpath, "unsealed"), KEYS, "each key was unsealed exactly once");
    is_num(p11_count(s), 1 + KEYS, "the churn left nothing behind");
    is_num(p11_file_count(logpath, "refused"), 0, "no file was refused");
    p11->C_Finalize(NULL);
    return test_exit_code();
}
