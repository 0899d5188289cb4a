/* ops-bench.c - make bench figures for the kill switch and the unwrap cache (issue 12):
 *   ops-bench switch SECONDS   C_UnwrapKey per second on the local backend with the switch
 *                              checked and with "kill_switch_dir": null, in alternating rounds
 *                              of one process, and their ratio;
 *   ops-bench cache N          N unwraps of hot records (a skewed pick among 200 envelopes)
 *                              against the loopback AWS KMS test server, cache off and on: KMS
 *                              Decrypt calls (the server's count), hit rate, calls saved, rate.
 * Run by bench/ops-bench.sh. */
#include <time.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define ROUNDS 5
#define RECORDS 200
#define HOT 20 /* 9 picks in 10 go to the 20 hottest records */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CK_SESSION_HANDLE sess;

static int unwrap(CK_OBJECT_HANDLE k, const uint8_t *env, CK_ULONG len)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE out;
    CK_RV rv = p11_unwrap(sess, &m, k, env, len, &out);

    if (out != CK_INVALID_HANDLE)
        p11->C_DestroyObject(sess, out);
    return rv == CKR_OK;
}

static CK_OBJECT_HANDLE start(const char *config, const char *label)
{
    if (p11_init_config(p11_write("bench.json", config, 0600)) != CKR_OK) {
        fprintf(stderr, "ops-bench: C_Initialize failed\n");
        exit(1);
    }
    sess = p11_open(0);
    return p11_find_label(sess, label);
}

static void stop(void)
{
    p11->C_CloseSession(sess);
    p11->C_Finalize(NULL);
}

/* Unwraps per second of one envelope for secs seconds under config. */
static double unwrap_rate(const char *config, double secs)
{
    CK_OBJECT_HANDLE k = start(config, "k"), dk = p11_data_key(sess, 32);
    uint8_t env[2048];
    CK_ULONG len;
    double t0, t;
    long n = 0;

    if (p11_wrap_default(sess, k, dk, env, sizeof(env), &len) != CKR_OK) {
        fprintf(stderr, "ops-bench: wrap failed\n");
        exit(1);
    }
    t0 = now_s();
    do {
        n += unwrap(k, env, len);
        t = now_s();
    } while (t - t0 < secs);
    stop();
    return (double)n / (t - t0);
}

static int bench_switch(double secs)
{
    char on[1024], off[1024], dir[320], file[400];
    const char *key =
        "{\"label\": \"k\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}";
    double best_on = 0, best_off = 0, r;
    int i;
    FILE *f;

    /* A directory with a switch of another token in it: the read finds something to match. */
    snprintf(dir, sizeof(dir), "%s/kill-switch", p11_tmp());
    mkdir(dir, 0755);
    snprintf(file, sizeof(file), "%s/other-token", dir);
    if ((f = fopen(file, "w")) != NULL)
        fclose(f);
    snprintf(on, sizeof(on),
             "{\"kill_switch_dir\": \"%s\", \"tokens\": [{\"label\": \"bench\", \"keys\": [%s]}]}",
             dir, key);
    snprintf(off, sizeof(off),
             "{\"kill_switch_dir\": null, \"tokens\": [{\"label\": \"bench\", \"keys\": [%s]}]}",
             key);
    unwrap_rate(on, secs / 4); /* warm up */
    for (i = 0; i < ROUNDS; i++) {
        r = unwrap_rate(off, secs);
        if (r > best_off)
            best_off = r;
        r = unwrap_rate(on, secs);
        if (r > best_on)
            best_on = r;
    }
    printf("switch_checked_per_s=%.0f unchecked_per_s=%.0f ratio=%.4f ns_per_check=%.1f "
           "rounds=%d seconds=%.1f\n",
           best_on, best_off, best_on / best_off, (1e9 / best_on - 1e9 / best_off), ROUNDS, secs);
    return 0;
}

/* A fixed, skewed sequence of record numbers, the same for both runs. */
static unsigned pick(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    if ((*state >> 16) % 10 != 0)
        return (*state >> 8) % HOT;
    return HOT + (*state >> 8) % (RECORDS - HOT);
}

typedef struct cache_run {
    double rate;
    long calls, failures;
} cache_run;

static cache_run cache_pass(CK_OBJECT_HANDLE k, uint8_t (*env)[2048], CK_ULONG *len, long n)
{
    cache_run r = {0, 0, 0};
    unsigned state = 42, i;
    long d0;
    double t0;

    ctl_settle();
    d0 = ctl_count("Decrypt");
    t0 = now_s();
    for (i = 0; i < (unsigned)n; i++) {
        unsigned j = pick(&state);
        r.failures += !unwrap(k, env[j], len[j]);
    }
    r.rate = (double)n / (now_s() - t0);
    ctl_settle();
    r.calls = ctl_count("Decrypt") - d0;
    return r;
}

static int bench_cache(long n)
{
    static uint8_t env_off[RECORDS][2048], env_on[RECORDS][2048];
    static CK_ULONG len_off[RECORDS], len_on[RECORDS];
    const char *endpoint = getenv("P11KMS_AWS_ENDPOINT"), *arn = getenv("P11KMS_AWS_KEY_ARN");
    char cfg[2048];
    CK_OBJECT_HANDLE off, on, dk;
    cache_run a, b;
    int i;

    if (endpoint == NULL || arn == NULL) {
        fprintf(stderr, "ops-bench cache: run through bench/ops-bench.sh\n");
        return 77;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(cfg, sizeof(cfg),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}}, \"kill_switch_dir\": null, "
             "\"tokens\": [{\"label\": \"aws\", \"keys\": [\n"
             " {\"label\": \"off\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             " {\"label\": \"on\", \"backend\": \"aws\", \"key_id\": \"%s\", \"unwrap_cache\": "
             "{\"max_age_s\": 300, \"max_uses\": 1000, \"max_entries\": 100}}]}]}",
             endpoint, arn, arn);
    off = start(cfg, "off");
    on = p11_find_label(sess, "on");
    dk = p11_data_key(sess, 32);
    for (i = 0; i < RECORDS; i++)
        if (p11_wrap_default(sess, off, dk, env_off[i], 2048, &len_off[i]) != CKR_OK ||
            p11_wrap_default(sess, on, dk, env_on[i], 2048, &len_on[i]) != CKR_OK) {
            fprintf(stderr, "ops-bench: wrap failed\n");
            return 1;
        }
    a = cache_pass(off, env_off, len_off, n);
    b = cache_pass(on, env_on, len_on, n);
    stop();
    ctl_close();
    curl_global_cleanup();
    printf("unwraps=%ld records=%d hot=%d off_calls=%ld on_calls=%ld hit_rate=%.3f "
           "calls_saved=%ld off_per_s=%.0f on_per_s=%.0f failures=%ld\n",
           n, RECORDS, HOT, a.calls, b.calls, 1.0 - (double)b.calls / (double)n, a.calls - b.calls,
           a.rate, b.rate, a.failures + b.failures);
    return a.failures + b.failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "switch") == 0) {
        p11_load();
        return bench_switch(atof(argv[2]));
    }
    if (argc == 3 && strcmp(argv[1], "cache") == 0) {
        p11_load();
        return bench_cache(atol(argv[2]));
    }
    fprintf(stderr, "usage: ops-bench switch SECONDS | cache N (bench/ops-bench.sh)\n");
    return 2;
}
