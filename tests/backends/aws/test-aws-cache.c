/* test-aws-cache.c - the opt-in unwrap cache and the kill switch against the loopback AWS KMS
 * test server, counting the server's Decrypt calls: with the cache off every unwrap is one;
 * with it on the counts follow max_uses, max_entries (LRU) and max_age_s; another context or
 * envelope never hits; the kill switch and C_Finalize empty it. And disabling the key in the
 * KMS itself: DisabledException becomes CKR_KEY_FUNCTION_NOT_PERMITTED. Key sets: the cache
 * never serves across keys sharing a KMS key entry, a key's switch covers the keys sharing one
 * and empties their caches, and the audit trail records cache hits. Run by
 * test-aws-cache.sh. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define BOUND_MS 10000

static const char *key_arn;
static char ks_dir[300], other_arn[200], audit_path[300];
static CK_SESSION_HANDLE sess;
static CK_OBJECT_HANDLE plain, cached, lru, aged, set_a, set_b;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long decrypts(void)
{
    ctl_settle();
    return ctl_count("Decrypt");
}

/* A fresh data key's value in *value and its envelope under kms with the context app=ctx. */
static CK_ULONG wrap_one(CK_OBJECT_HANDLE kms, const char *ctx, uint8_t *env, uint8_t *value)
{
    CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "app", 3, (CK_UTF8CHAR_PTR)ctx, strlen(ctx)};
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32);
    CK_ULONG len = 2048, vlen = 32;

    if (p11->C_WrapKey(sess, &m, kms, dk, env, &len) != CKR_OK ||
        !p11_value(sess, dk, value, &vlen)) {
        printf("Bail out! wrap failed\n");
        exit(1);
    }
    p11->C_DestroyObject(sess, dk);
    return len;
}

/* Unwrap under app=ctx; CKR_OK only when the value is want (when want is not NULL). */
static CK_RV unwrap_ctx(CK_OBJECT_HANDLE kms, const char *ctx, const uint8_t *env, CK_ULONG len,
                        const uint8_t *want)
{
    CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "app", 3, (CK_UTF8CHAR_PTR)ctx, strlen(ctx)};
    CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    CK_OBJECT_HANDLE out;
    uint8_t v[64];
    CK_ULONG vlen = sizeof(v);
    CK_RV rv = p11_unwrap(sess, &m, kms, env, len, &out);

    if (rv == CKR_OK && want != NULL &&
        (!p11_value(sess, out, v, &vlen) || vlen != 32 || memcmp(v, want, 32) != 0))
        rv = CKR_GENERAL_ERROR;
    if (out != CK_INVALID_HANDLE)
        p11->C_DestroyObject(sess, out);
    return rv;
}

/* Unwraps of the same envelope, n times; how many succeeded with the right value. */
static long unwrap_n(CK_OBJECT_HANDLE kms, const uint8_t *env, CK_ULONG len, const uint8_t *want,
                     long n)
{
    long i, good = 0;

    for (i = 0; i < n; i++)
        good += unwrap_ctx(kms, "a", env, len, want) == CKR_OK;
    return good;
}

static void test_off(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(plain, "a", env, v);
    long d = decrypts();

    is_num(unwrap_n(plain, env, len, v, 10), 10, "cache off: 10 unwraps of one envelope");
    is_num(decrypts() - d, 10, "...are 10 KMS Decrypt calls");
}

static void test_uses(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(cached, "a", env, v);
    long d = decrypts();

    is_num(unwrap_n(cached, env, len, v, 1), 1, "cache on (max_uses 3): first unwrap");
    is_num(decrypts() - d, 1, "...one KMS call");
    is_num(unwrap_n(cached, env, len, v, 3), 3, "three more unwraps, the right key each time");
    is_num(decrypts() - d, 1, "...served from the cache: no KMS call");
    is_num(unwrap_n(cached, env, len, v, 1), 1, "a fifth: the entry served its 3 uses");
    is_num(decrypts() - d, 2, "...so the KMS is asked again");
    is_num(unwrap_n(cached, env, len, v, 3), 3, "and the refilled entry serves 3 more");
    is_num(decrypts() - d, 2, "...without a KMS call");
}

static void test_context(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(cached, "a", env, v);
    long d = decrypts();

    is_rv(unwrap_ctx(cached, "a", env, len, v), CKR_OK, "unwrap under app=a fills the cache");
    is_rv(unwrap_ctx(cached, "b", env, len, NULL), CKR_WRAPPED_KEY_INVALID,
          "the same envelope under app=b is refused");
    is_num(decrypts() - d, 2, "...by the KMS itself: another context never hits");
    is_rv(unwrap_ctx(cached, "a", env, len, v), CKR_OK, "app=a still hits");
    is_num(decrypts() - d, 2, "...without a KMS call");
    /* The default context (none given) is another context too. */
    {
        CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
        CK_OBJECT_HANDLE out;

        is_rv(p11_unwrap(sess, &m, cached, env, len, &out), CKR_WRAPPED_KEY_INVALID,
              "and so is the key's default context");
        is_num(decrypts() - d, 3, "...asked of the KMS, which refuses it");
    }
}

static void test_envelopes(void)
{
    uint8_t e1[2048], e2[2048], e3[2048], v1[32], v2[32], v3[32];
    CK_ULONG l1 = wrap_one(lru, "a", e1, v1), l2 = wrap_one(lru, "a", e2, v2),
             l3 = wrap_one(lru, "a", e3, v3);
    long d = decrypts();

    is_num(unwrap_n(lru, e1, l1, v1, 1) + unwrap_n(lru, e2, l2, v2, 1) +
               unwrap_n(lru, e3, l3, v3, 1),
           3, "max_entries 2: three envelopes unwrapped");
    is_num(decrypts() - d, 3, "...three KMS calls: another envelope never hits");
    is_num(unwrap_n(lru, e3, l3, v3, 1) + unwrap_n(lru, e2, l2, v2, 1), 2,
           "the two most recent hit");
    is_num(decrypts() - d, 3, "...without a KMS call");
    is_num(unwrap_n(lru, e1, l1, v1, 1), 1, "the first was dropped (least recently used)");
    is_num(decrypts() - d, 4, "...one KMS call");
    is_num(unwrap_n(lru, e2, l2, v2, 1), 1, "e2 is still in (used after e3)");
    is_num(decrypts() - d, 4, "...no KMS call");
    is_num(unwrap_n(lru, e3, l3, v3, 1), 1, "e3 went when e1 came back");
    is_num(decrypts() - d, 5, "...one KMS call");
    /* Another key with the same KMS key has its own entries: no hit across keys. */
    is_num(unwrap_n(cached, e1, l1, v1, 1), 1, "another configured key opens e1");
    is_num(decrypts() - d, 6, "...with its own KMS call, not lru's entry");
}

static void test_age(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(aged, "a", env, v);
    long d = decrypts();

    is_num(unwrap_n(aged, env, len, v, 2), 2, "max_age_s 3: two unwraps at once");
    is_num(decrypts() - d, 1, "...one KMS call");
    sleep_ms(3300);
    is_num(unwrap_n(aged, env, len, v, 1), 1, "after 3.3 s");
    is_num(decrypts() - d, 2, "...the entry is too old: the KMS again");
}

static void switch_set(const char *name, int on)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", ks_dir, name);
    if (!on) {
        unlink(path);
        return;
    }
    f = fopen(path, "w");
    if (f == NULL || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
}

static long wait_for(CK_OBJECT_HANDLE kms, const uint8_t *env, CK_ULONG len, CK_RV want)
{
    long long t0 = now_ms();

    while (now_ms() - t0 <= BOUND_MS) {
        if (unwrap_ctx(kms, "a", env, len, NULL) == want)
            return (long)(now_ms() - t0);
        sleep_ms(5);
    }
    return -1;
}

/* Disable the key in the KMS: what the module returns, what the cache still serves, and how the
 * kill switch cuts that off. */
static void test_disable(void)
{
    uint8_t env[2048], envc[2048], v[32], vc[32], tmp[2048];
    CK_ULONG len = wrap_one(plain, "a", env, v), lenc = wrap_one(cached, "a", envc, vc);
    char body[512];
    long d, dis;

    is_num(unwrap_n(cached, envc, lenc, vc, 1), 1, "cached key: entry filled");
    snprintf(body, sizeof(body), "{\"key_id\": \"%s\"}", key_arn);
    ctl_do("POST", "/disable", body);
    dis = ctl_stat("errors", "DisabledException");
    is_rv(unwrap_ctx(plain, "a", env, len, NULL), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "key disabled in the KMS: C_UnwrapKey returns CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_num(ctl_stat("errors", "DisabledException") - dis, 1, "...for the KMS's DisabledException");
    {
        CK_P11KMS_CONTEXT_PAIR pair = {(CK_UTF8CHAR_PTR) "app", 3, (CK_UTF8CHAR_PTR) "a", 1};
        CK_P11KMS_ENVELOPE_PARAMS p = {P11KMS_ENVELOPE_PARAMS_VERSION, &pair, 1, 0};
        CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
        CK_OBJECT_HANDLE dk = p11_data_key(sess, 32);
        CK_ULONG tl = sizeof(tmp);

        is_rv(p11->C_WrapKey(sess, &m, plain, dk, tmp, &tl), CKR_KEY_FUNCTION_NOT_PERMITTED,
              "...and C_WrapKey too (the KMS refuses Encrypt with a disabled key)");
        p11->C_DestroyObject(sess, dk);
    }
    d = decrypts();
    is_rv(unwrap_ctx(cached, "a", envc, lenc, vc), CKR_OK,
          "the cache still serves its entry (bounded by max_age_s: docs/kill-switch.md)");
    is_num(decrypts() - d, 0, "...without asking the KMS");
    switch_set("aws+cached", 1);
    ok(wait_for(cached, envc, lenc, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "the kill switch refuses it at once");
    switch_set("aws+cached", 0);
    /* Until the KMS is asked again (the switch is off in the process): never a cached key. */
    d = decrypts();
    {
        long long t0 = now_ms();
        int served = 0;

        while (decrypts() == d && now_ms() - t0 <= BOUND_MS) {
            served |= unwrap_ctx(cached, "a", envc, lenc, NULL) == CKR_OK;
            sleep_ms(20);
        }
        ok(decrypts() > d, "switch off: the KMS is asked again ...");
        is_num(served, 0, "...and no unwrap was served from the cache: the switch emptied it");
        is_rv(unwrap_ctx(cached, "a", envc, lenc, NULL), CKR_KEY_FUNCTION_NOT_PERMITTED,
              "...the disabled KMS key refuses it");
    }
    ctl_do("POST", "/enable", body);
    is_rv(unwrap_ctx(plain, "a", env, len, v), CKR_OK, "key enabled again: unwraps work");
}

/* Attack: the switch goes on while an unwrap is inside a slow KMS call. The KMS answers, but the
 * key must not come out: the switch is checked again after the call. */
typedef struct slow_call {
    const uint8_t *env;
    CK_ULONG len;
    const uint8_t *want;
    CK_RV rv;
} slow_call;

static void *slow_unwrap(void *arg)
{
    slow_call *c = arg;

    c->rv = unwrap_ctx(cached, "a", c->env, c->len, c->want);
    return NULL;
}

static void test_slow_call(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(cached, "a", env, v);
    slow_call c = {env, len, v, CKR_GENERAL_ERROR};
    pthread_t th;
    long d = decrypts();

    ctl_fault("Decrypt", "delay", 1, ", \"delay_ms\": 1500");
    pthread_create(&th, NULL, slow_unwrap, &c);
    /* The server counts the request when it reads it, before the delay: the call is in the
     * KMS now, whatever the machine's speed. */
    {
        long long t0 = now_ms();

        while (ctl_count("Decrypt") == d && now_ms() - t0 <= BOUND_MS)
            sleep_ms(10);
    }
    switch_set("aws+cached", 1);
    pthread_join(th, NULL);
    is_num(decrypts() - d, 1, "attack: switch on during a slow KMS Decrypt, which answers");
    is_rv(c.rv, CKR_KEY_FUNCTION_NOT_PERMITTED, "...but the unwrap is refused after the call");
    switch_set("aws+cached", 0);
    ctl_clear_faults();
    d = decrypts();
    {
        long long t0 = now_ms();
        CK_RV rv = CKR_GENERAL_ERROR;

        while (now_ms() - t0 <= BOUND_MS &&
               (rv = unwrap_ctx(cached, "a", env, len, v)) == CKR_KEY_FUNCTION_NOT_PERMITTED)
            sleep_ms(5);
        is_rv(rv, CKR_OK, "switch off: it unwraps");
    }
    is_num(decrypts() - d, 1, "...with a KMS call: the refused result was not cached");
}

static const char *write_config(void);
static void open_keys(void);

/* fork(): the child starts with an empty cache (its handler wipes the parent's values) and the
 * parent keeps its own. */
static void test_fork(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(cached, "a", env, v);
    long d;
    int status = -1;
    pid_t pid;

    is_num(unwrap_n(cached, env, len, v, 1), 1, "parent: entry filled before fork");
    d = decrypts();
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        int code = 0;

        if (p11_init_config(write_config()) != CKR_OK)
            code = 1;
        open_keys();
        if (code == 0 && unwrap_n(cached, env, len, v, 1) != 1)
            code = 2;
        p11->C_Finalize(NULL);
        _exit(code);
    }
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: re-initialises and unwraps");
    is_num(decrypts() - d, 1, "...with a KMS call of its own (nothing of the parent's cache)");
    is_num(unwrap_n(cached, env, len, v, 1), 1, "parent: still unwraps after the fork");
    is_num(decrypts() - d, 1, "...from its cache");
}

/* setA: kms [key_arn, other_arn]; setB: kms [other_arn], previous [key_arn]; both cached. */
static void test_keyset(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len = wrap_one(set_a, "a", env, v);
    long d = decrypts();

    is_num(unwrap_n(set_a, env, len, v, 1), 1, "key set setA (two KMS keys, cached): unwrap");
    is_num(decrypts() - d, 1, "...one KMS call (its first entry)");
    is_num(unwrap_n(set_a, env, len, v, 2), 2, "two more");
    is_num(decrypts() - d, 1, "...served from setA's cache");
    is_num(unwrap_n(set_b, env, len, v, 1), 1, "setB, sharing both KMS keys, opens the envelope");
    is_num(decrypts() - d, 2, "...with a KMS call of its own: no hit across keys sharing entries");
    is_num(unwrap_n(set_b, env, len, v, 1), 1, "setB again");
    is_num(decrypts() - d, 2, "...from its own entry");
    is_num(p11_file_count(audit_path,
                          "\"key\":\"setA\",\"backend\":null,\"kms_key\":null,"
                          "\"entry\":null,\"context_keys\":[\"app\"],"
                          "\"context_accepted\":0,\"outcome\":\"cache-hit\",\"rv\":\"CKR_OK\","
                          "\"fault\":\"none\",\"request_id\":null,\"http_status\":0,"),
           2, "the audit trail has setA's two cache hits, with no KMS fields");
    is_num(
        p11_file_count(audit_path,
                       "\"op\":\"unwrap\",\"token\":\"aws\",\"key\":\"setA\",\"backend\":\"aws\","),
        1, "...and its one KMS use");

    /* setB's switch covers setA (they share entries) and empties both caches. */
    switch_set("aws+setB", 1);
    ok(wait_for(set_a, env, len, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "setB's switch refuses setA, which shares its KMS keys, cached entry and all");
    is_rv(unwrap_ctx(set_b, "a", env, len, NULL), CKR_KEY_FUNCTION_NOT_PERMITTED, "...and setB");
    ok(p11_file_count(audit_path, "\"key\":\"setA\",\"backend\":null,") >= 3 &&
           p11_file_count(audit_path, "\"outcome\":\"refused\",\"rv\":\"CKR_KEY_FUNCTION_NOT_"
                                      "PERMITTED\",\"fault\":\"none\",\"request_id\":null") >= 2,
       "...refusals the audit trail records as outcome refused");
    switch_set("aws+setB", 0);
    ok(wait_for(set_a, env, len, CKR_OK) >= 0, "switch off: setA unwraps again");
    d = decrypts();
    is_num(unwrap_n(set_b, env, len, v, 1), 1, "setB too");
    is_num(decrypts() - d, 1, "...with a KMS call: the switch emptied its cache");
}

static const char *write_config(void)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\", \"max_attempts\": 1}},\n"
             " \"kill_switch_dir\": \"%s\", \"audit\": {\"destination\": \"file:%s\"},\n"
             " \"tokens\": [{\"label\": \"aws\", \"keys\": [\n"
             "  {\"label\": \"plain\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "  {\"label\": \"cached\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"unwrap_cache\": {\"max_age_s\": 600, \"max_uses\": 3}},\n"
             "  {\"label\": \"lru\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"unwrap_cache\": {\"max_age_s\": 600, \"max_entries\": 2}},\n"
             "  {\"label\": \"aged\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"unwrap_cache\": {\"max_age_s\": 3}},\n"
             "  {\"label\": \"setA\", \"kms\": [{\"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "   {\"backend\": \"aws\", \"key_id\": \"%s\"}],\n"
             "   \"unwrap_cache\": {\"max_age_s\": 600}},\n"
             "  {\"label\": \"setB\", \"kms\": [{\"backend\": \"aws\", \"key_id\": \"%s\"}],\n"
             "   \"previous\": [{\"backend\": \"aws\", \"key_id\": \"%s\"}],\n"
             "   \"unwrap_cache\": {\"max_age_s\": 600}}]}]}\n",
             getenv("P11KMS_AWS_ENDPOINT"), ks_dir, audit_path, key_arn, key_arn, key_arn, key_arn,
             key_arn, other_arn, other_arn, key_arn);
    return p11_write("aws.json", text, 0600);
}

static void open_keys(void)
{
    sess = p11_open(0);
    plain = p11_find_label(sess, "plain");
    cached = p11_find_label(sess, "cached");
    lru = p11_find_label(sess, "lru");
    aged = p11_find_label(sess, "aged");
    set_a = p11_find_label(sess, "setA");
    set_b = p11_find_label(sess, "setB");
}

int main(void)
{
    uint8_t env[2048], v[32];
    CK_ULONG len;
    long d;

    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    if (key_arn == NULL || getenv("P11KMS_AWS_ENDPOINT") == NULL ||
        getenv("P11KMS_AWS_OTHER_KEY_ID") == NULL) {
        printf("1..0 # SKIP run through test-aws-cache.sh (needs the AWS test server)\n");
        return 0;
    }
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    snprintf(ks_dir, sizeof(ks_dir), "%s/kill-switch", p11_tmp());
    snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", p11_tmp());
    snprintf(other_arn, sizeof(other_arn), "arn:aws:kms:us-east-1:111122223333:key/%s",
             getenv("P11KMS_AWS_OTHER_KEY_ID"));
    if (mkdir(ks_dir, 0755) != 0)
        printf("Bail out! mkdir %s: %s\n", ks_dir, strerror(errno));
    ctl_do("POST", "/reset", "{\"keys\": true}");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize with AWS keys, some cached");
    open_keys();
    ok(plain && cached && lru && aged && set_a && set_b, "the six keys");
    test_off();
    test_uses();
    test_context();
    test_envelopes();
    test_age();
    test_disable();
    test_slow_call();
    test_fork();
    test_keyset();

    len = wrap_one(cached, "a", env, v);
    is_num(unwrap_n(cached, env, len, v, 1), 1, "an entry before C_Finalize");
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize again");
    open_keys();
    d = decrypts();
    is_num(unwrap_n(cached, env, len, v, 1), 1, "the same envelope after C_Finalize");
    is_num(decrypts() - d, 1, "...is a KMS call: C_Finalize emptied the cache");
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    dlclose(p11_dl);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
