/* attack-ops.c - the unwrap cache and the kill switch from the side of someone holding a session:
 * a cached key must never come out under a context, purpose, key or envelope the KMS would
 * refuse; a switched-off key must not be reached through another label of the token or through
 * the cache; and threads racing the switch see it as one moment. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "tests/attacks/attack.h"

#define BOUND_MS 10000
#define THREADS 3

static CK_SESSION_HANDLE s;
static CK_OBJECT_HANDLE cached, alias, wrap_only, dk;
static uint8_t secret[32];
static char ks_dir[300];

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

static void ctx_mech(CK_MECHANISM *m, CK_P11KMS_ENVELOPE_PARAMS *p, CK_P11KMS_CONTEXT_PAIR *pairs,
                     const char *const *kv, CK_ULONG n)
{
    p11_context(p, pairs, kv, n);
    m->mechanism = CKM_P11KMS_ENVELOPE;
    m->pParameter = p;
    m->ulParameterLen = sizeof(*p);
}

/* Unwrap into a readable key under the context kv; CKR_OK only when the value is the secret. */
static CK_RV unwrap_kv(CK_OBJECT_HANDLE k, const char *const *kv, CK_ULONG n, const uint8_t *env,
                       CK_ULONG len)
{
    CK_P11KMS_CONTEXT_PAIR pairs[4];
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m;
    CK_OBJECT_HANDLE out;
    uint8_t v[64];
    CK_ULONG vlen = sizeof(v);
    CK_RV rv;

    ctx_mech(&m, &p, pairs, kv, n);
    rv = p11_unwrap(s, &m, k, env, len, &out);
    if (rv == CKR_OK && (!p11_value(s, out, v, &vlen) || vlen != 32 || memcmp(v, secret, 32) != 0))
        rv = CKR_GENERAL_ERROR;
    if (out != CK_INVALID_HANDLE)
        p11->C_DestroyObject(s, out);
    return rv;
}

static const char *const ctx_a[] = {"tenant=a"};
static uint8_t env[2048];
static CK_ULONG env_len;

static void test_cache_context(void)
{
    static const char *const ctx_b[] = {"tenant=b"};
    static const char *const ctx_a_more[] = {"tenant=a", "x=y"};
    static const char *const ctx_purpose[] = {"tenant=a", "p11kms:purpose=wrapped-key"};
    CK_P11KMS_CONTEXT_PAIR pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m;
    CK_MECHANISM plain = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE out;
    uint8_t edited[2048], box[4096];
    CK_ULONG box_len = sizeof(box);

    ctx_mech(&m, &p, pairs, ctx_a, 1);
    env_len = sizeof(env);
    is_rv(p11->C_WrapKey(s, &m, cached, dk, env, &env_len), CKR_OK, "wrap under tenant=a");
    is_rv(unwrap_kv(cached, ctx_a, 1, env, env_len), CKR_OK, "unwrap under tenant=a: cached now");
    is_rv(unwrap_kv(cached, ctx_a, 1, env, env_len), CKR_OK, "...and served from the cache");
    is_rv(unwrap_kv(cached, ctx_b, 1, env, env_len), CKR_WRAPPED_KEY_INVALID,
          "the cached envelope under tenant=b: refused");
    is_rv(unwrap_kv(cached, ctx_a_more, 2, env, env_len), CKR_WRAPPED_KEY_INVALID,
          "...under tenant=a plus another pair: refused");
    is_rv(unwrap_kv(cached, ctx_purpose, 2, env, env_len), CKR_MECHANISM_PARAM_INVALID,
          "...with a forged reserved purpose pair: refused");
    is_rv(p11_unwrap(s, &plain, cached, env, env_len, &out), CKR_WRAPPED_KEY_INVALID,
          "...under the key's default context: refused");
    is_rv(unwrap_kv(wrap_only, ctx_a, 1, env, env_len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key without unwrap permission cannot reach the cached value");
    memcpy(edited, env, env_len);
    edited[5] = 2; /* purpose byte: data */
    ctx_mech(&m, &p, pairs, ctx_a, 1);
    memset(box, 0, sizeof(box));
    ok(p11_crypt(s, 0, &m, cached, edited, env_len, box, &box_len) != CKR_OK &&
           memmem(box, sizeof(box), secret, sizeof(secret)) == NULL,
       "C_Decrypt of the cached envelope relabelled as data: refused, no key value out");
    box_len = sizeof(box);
    memset(box, 0, sizeof(box));
    ok(p11_crypt(s, 0, &m, cached, env, env_len, box, &box_len) != CKR_OK &&
           memmem(box, sizeof(box), secret, sizeof(secret)) == NULL,
       "C_Decrypt of the cached envelope as it is: refused, no key value out");
    memcpy(edited, env, env_len);
    edited[env_len - 1] ^= 1;
    is_rv(unwrap_kv(cached, ctx_a, 1, edited, env_len), CKR_WRAPPED_KEY_INVALID,
          "the cached envelope with its last bit flipped: refused (another envelope)");
    is_rv(unwrap_kv(cached, ctx_a, 1, env, env_len), CKR_OK, "the real one still opens");
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

static long wait_for(CK_OBJECT_HANDLE k, CK_RV want)
{
    long long t0 = now_ms();

    while (now_ms() - t0 <= BOUND_MS) {
        if (unwrap_kv(k, ctx_a, 1, env, env_len) == want)
            return (long)(now_ms() - t0);
        sleep_ms(5);
    }
    return -1;
}

static void test_switch_bypass(void)
{
    switch_set("attack+kms-cached", 1);
    ok(wait_for(cached, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "switch on: the cached key is refused, cache or not");
    is_rv(unwrap_kv(alias, ctx_a, 1, env, env_len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...and through another label of the token naming the same KMS key");
    switch_set("attack+kms-cached", 0);
    ok(wait_for(cached, CKR_OK) >= 0, "switch off: back");
}

/* Threads unwrapping from the cache as fast as they can while the switch goes on: no unwrap
 * that began after any thread was refused may succeed. */
static atomic_int stop;
static atomic_llong first_refusal;
static _Atomic long long last_ok_start[THREADS];
static atomic_long other_rv;

static void *racer(void *arg)
{
    long i = (long)arg;
    long long t0;
    CK_RV rv;

    while (!atomic_load(&stop)) {
        t0 = now_ms();
        rv = unwrap_kv(cached, ctx_a, 1, env, env_len);
        if (rv == CKR_OK) {
            last_ok_start[i] = t0;
        } else if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
            long long none = 0;
            atomic_compare_exchange_strong(&first_refusal, &none, now_ms());
        } else {
            atomic_fetch_add(&other_rv, 1);
        }
    }
    return NULL;
}

static void test_switch_race(void)
{
    pthread_t th[THREADS];
    long i, late = 0;
    long long t0;

    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, racer, (void *)i);
    sleep_ms(100);
    switch_set("attack", 1);
    t0 = now_ms();
    while (atomic_load(&first_refusal) == 0 && now_ms() - t0 <= BOUND_MS)
        sleep_ms(5);
    sleep_ms(400);
    atomic_store(&stop, 1);
    for (i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    ok(atomic_load(&first_refusal) != 0, "racing threads on cache hits: the switch stops them");
    for (i = 0; i < THREADS; i++)
        late += last_ok_start[i] > atomic_load(&first_refusal);
    is_num(late, 0, "no unwrap begun after the first refusal got the key");
    is_num(atomic_load(&other_rv), 0, "and no other failure");
    switch_set("attack", 0);
    ok(wait_for(cached, CKR_OK) >= 0, "switch off: the key unwraps again");
}

int main(void)
{
    char key[512], text[4096], backends[600];
    CK_ULONG len = sizeof(secret);

    test_start();
    p11_load();
    snprintf(ks_dir, sizeof(ks_dir), "%s/kill-switch", p11_tmp());
    mkdir(ks_dir, 0755);
    attack_key_members(key, sizeof(key));
    attack_backends_member(backends, sizeof(backends));
    snprintf(text, sizeof(text),
             "{%s\"kill_switch_dir\": \"%s\", \"tokens\": [{\"label\": \"attack\", \"keys\": [\n"
             "  {\"label\": \"kms-cached\", %s, \"unwrap_cache\": {\"max_age_s\": 600}},\n"
             "  {\"label\": \"kms-alias\", %s},\n"
             "  {\"label\": \"kms-wrap\", %s, \"permissions\": [\"wrap\", \"encrypt\"]}]}]}\n",
             backends, ks_dir, key, key, key);
    diag("backend: %s", attack_backend());
    is_rv(p11_init_config(p11_write("attack.conf", text, 0600)), CKR_OK, "C_Initialize");
    s = p11_open(0);
    cached = p11_find_label(s, "kms-cached");
    alias = p11_find_label(s, "kms-alias");
    wrap_only = p11_find_label(s, "kms-wrap");
    dk = attack_secret(s, 32, CK_FALSE, CK_TRUE);
    ok(cached && alias && wrap_only && dk && p11_value(s, dk, secret, &len),
       "keys, and a readable data key to look for");
    test_cache_context();
    test_switch_bypass();
    test_switch_race();
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
