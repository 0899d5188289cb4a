/* test-module-killswitch.c - the decryption kill switch (docs/kill-switch.md): a running
 * multi-threaded process stops unwrapping soon after a switch file appears, keeps wrapping,
 * and resumes when it goes; per-key and per-token scope; C_Decrypt; one log line per
 * transition; what an unreadable or missing directory does; "kill_switch_dir": null. Key sets:
 * a key with two KMS entries is cut by its switch, which also covers the keys sharing one of
 * its entries (current or previous), and the audit trail records the refusals. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "tests/module/p11.h"

#define THREADS 4
/* Generous bounds for what the module promises within about 250 ms (loaded CI machines). */
#define BOUND_MS 10000

static char dir[300], logpath[300], auditpath[300];
static CK_SESSION_HANDLE sa, sb, sg;
static CK_OBJECT_HANDLE k1, k2, k3, odd, alias, set2, shares, apart;
static const char *keyfile2, *keyfile3;
static uint8_t env1[1024], env2[1024], env3[1024], envodd[1024];
static CK_ULONG len1, len2, len3, lenodd;

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

static void switch_set(const char *name, int on)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (!on) {
        if (unlink(path) != 0)
            printf("Bail out! unlink %s: %s\n", path, strerror(errno));
        return;
    }
    f = fopen(path, "w");
    if (f == NULL || fputs("on by the test\n", f) < 0 || fclose(f) != 0) {
        printf("Bail out! cannot write %s\n", path);
        exit(1);
    }
}

static CK_RV unwrap_in(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms, const uint8_t *env, CK_ULONG len)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE out;
    CK_RV rv = p11_unwrap(s, &m, kms, env, len, &out);

    if (out != CK_INVALID_HANDLE)
        p11->C_DestroyObject(s, out);
    return rv;
}

/* Milliseconds until an unwrap answers want (polling), -1 past BOUND_MS. */
static long wait_for(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms, const uint8_t *env, CK_ULONG len,
                     CK_RV want)
{
    long long t0 = now_ms();

    while (now_ms() - t0 <= BOUND_MS) {
        if (unwrap_in(s, kms, env, len) == want)
            return (long)(now_ms() - t0);
        sleep_ms(5);
    }
    return -1;
}

static CK_RV wrap_fresh(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms, uint8_t *env, CK_ULONG *len)
{
    CK_OBJECT_HANDLE dk = p11_data_key(s, 32);
    CK_RV rv = p11_wrap_default(s, kms, dk, env, 1024, len);

    p11->C_DestroyObject(s, dk);
    return rv;
}

static void test_scope(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t box[2048], out[2048], envx[1024];
    CK_ULONG blen = sizeof(box), olen = sizeof(out), xlen;
    CK_ULONG objects = p11_count(sa);
    long ms;

    is_rv(unwrap_in(sa, k1, env1, len1), CKR_OK, "unwrap with k1 before any switch");
    is_rv(p11_crypt(sa, 1, &m, k1, (const uint8_t *)"secret", 6, box, &blen), CKR_OK,
          "C_Encrypt with k1");

    switch_set("alpha+k1", 1);
    ms = wait_for(sa, k1, env1, len1, CKR_KEY_FUNCTION_NOT_PERMITTED);
    ok(ms >= 0, "key switch alpha+k1 on: k1's unwraps refused with CKR_KEY_FUNCTION_NOT_PERMITTED");
    diag("k1 refused %ld ms after its switch file appeared", ms);
    is_num(p11_count(sa), objects, "...and the refused unwraps made no object");
    is_rv(p11_crypt(sa, 0, &m, k1, box, blen, out, &olen), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "C_Decrypt with k1 refused too");
    is_rv(wrap_fresh(sa, k1, envx, &xlen), CKR_OK, "C_WrapKey with k1 still works");
    blen = sizeof(box);
    is_rv(p11_crypt(sa, 1, &m, k1, (const uint8_t *)"secret", 6, box, &blen), CKR_OK,
          "C_Encrypt with k1 still works");
    is_rv(unwrap_in(sa, k2, env2, len2), CKR_OK, "k2 of the same token still unwraps");
    is_rv(unwrap_in(sa, alias, env1, len1), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "k1-alias, the same KMS key under another label, is refused too (no way around)");
    is_rv(unwrap_in(sb, k3, env3, len3), CKR_OK, "k3 of the other token still unwraps");

    switch_set("alpha+k1", 0);
    ms = wait_for(sa, k1, env1, len1, CKR_OK);
    ok(ms >= 0, "switch off: k1 unwraps again without restart");
    diag("k1 unwrapped again %ld ms after its switch file went", ms);
    is_rv(unwrap_in(sa, k1, envx, xlen), CKR_OK, "...also what it wrapped while switched off");
    is_rv(unwrap_in(sa, alias, env1, len1), CKR_OK, "...and so does k1-alias");
    switch_set("alpha+k1-alias", 1);
    ok(wait_for(sa, k1, env1, len1, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "k1-alias's switch refuses k1 as well");
    switch_set("alpha+k1-alias", 0);
    ok(wait_for(sa, k1, env1, len1, CKR_OK) >= 0, "...and back");
    olen = sizeof(out);
    is_rv(p11_crypt(sa, 0, &m, k1, box, blen, out, &olen), CKR_OK, "...and decrypts");

    switch_set("alpha", 1);
    ok(wait_for(sa, k2, env2, len2, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "token switch alpha on: k2 refused");
    is_rv(unwrap_in(sa, k1, env1, len1), CKR_KEY_FUNCTION_NOT_PERMITTED, "...and k1");
    is_rv(unwrap_in(sb, k3, env3, len3), CKR_OK, "...but not k3 of token beta");
    switch_set("alpha", 0);
    ok(wait_for(sa, k2, env2, len2, CKR_OK) >= 0, "token switch off: k2 unwraps again");

    /* Labels are percent-encoded in file names (docs/kill-switch.md). */
    switch_set("alpha+odd%2Fkey%20name", 1);
    ok(wait_for(sa, odd, envodd, lenodd, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "the key \"odd/key name\" is switched by alpha+odd%2Fkey%20name");
    switch_set("alpha+odd%2Fkey%20name", 0);
    ok(wait_for(sa, odd, envodd, lenodd, CKR_OK) >= 0, "...and back");
    is_num(p11_file_count(logpath, "kill switch ON for key \"k1\" of token \"alpha\": unwraps"), 1,
           "one log line when k1's switch went on (however many calls it refused)");
    is_num(p11_file_count(logpath, "kill switch ON for key \"k1\" of token \"alpha\" (its KMS "
                                   "key is another switched key's)"),
           1, "one when k1-alias's switch took k1 along");
    is_num(p11_file_count(logpath, "kill switch off for key \"k1\" of token \"alpha\""), 2,
           "one each time it went off");
    is_num(p11_file_count(logpath, "kill switch ON for token \"alpha\""), 1,
           "one for the token's switch");
}

/* ---- key sets (token gamma) ---- */

/* set2: kms [insecure-test-key, k2's file]; shares: kms [k3's file], previous [k2's file];
 * apart: k3's file alone. set2 and shares share an entry, shares and apart another; set2 and
 * apart none. */
static void test_keyset(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t es[1024], eh[1024], ea[1024], box[2048], out[2048];
    CK_ULONG ls, lh, la, blen = sizeof(box), olen = sizeof(out);
    int audited;

    ok(wrap_fresh(sg, set2, es, &ls) == CKR_OK && wrap_fresh(sg, shares, eh, &lh) == CKR_OK &&
           wrap_fresh(sg, apart, ea, &la) == CKR_OK,
       "key sets: an envelope per key of gamma");
    is_rv(p11_crypt(sg, 1, &m, set2, (const uint8_t *)"secret", 6, box, &blen), CKR_OK,
          "C_Encrypt with the two-entry key set2");
    is_rv(unwrap_in(sg, set2, es, ls), CKR_OK, "set2 unwraps before any switch");

    switch_set("gamma+set2", 1);
    ok(wait_for(sg, set2, es, ls, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "gamma+set2 on: set2, whose kms has two entries, is refused");
    is_rv(p11_crypt(sg, 0, &m, set2, box, blen, out, &olen), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...C_Decrypt too (no failover to its other entry)");
    is_rv(unwrap_in(sg, shares, eh, lh), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "shares, whose previous entry is set2's second, is refused too");
    is_rv(unwrap_in(sg, apart, ea, la), CKR_OK,
          "apart, sharing an entry only with shares, is not covered by set2's switch");
    is_rv(
        unwrap_in(sa, k1, env1, len1), CKR_OK,
        "k1 of token alpha (set2's first entry's KMS key) is not covered: the token is the scope");
    is_rv(wrap_fresh(sg, set2, es, &ls), CKR_OK, "set2 still wraps");
    switch_set("gamma+set2", 0);
    ok(wait_for(sg, set2, es, ls, CKR_OK) >= 0, "gamma+set2 off: set2 unwraps again");
    is_rv(unwrap_in(sg, shares, eh, lh), CKR_OK, "...and so does shares");

    switch_set("gamma+apart", 1);
    ok(wait_for(sg, apart, ea, la, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "gamma+apart on: apart refused");
    is_rv(unwrap_in(sg, shares, eh, lh), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...and shares, whose current entry is apart's KMS key");
    is_rv(unwrap_in(sg, set2, es, ls), CKR_OK, "...but not set2");
    switch_set("gamma+apart", 0);
    ok(wait_for(sg, apart, ea, la, CKR_OK) >= 0, "...and back");

    /* The audit trail: a switch refusal is an event with the CK_RV and no KMS fields. */
    audited = p11_file_count(auditpath, "\"op\":\"unwrap\",\"token\":\"gamma\",\"key\":\"set2\","
                                        "\"backend\":null,\"kms_key\":null,\"entry\":null,");
    ok(audited >= 1, "the audit trail records set2's refused unwraps without KMS fields");
    is_num(p11_file_count(auditpath,
                          "\"backend\":null,\"kms_key\":null,\"entry\":null,"
                          "\"context_keys\":[],\"context_accepted\":0,"
                          "\"outcome\":\"refused\",\"rv\":\"CKR_KEY_FUNCTION_NOT_PERMITTED\","
                          "\"fault\":\"none\",\"request_id\":null,\"http_status\":0,"),
           p11_file_count(auditpath, "\"backend\":null,"),
           "...each as outcome refused, CKR_KEY_FUNCTION_NOT_PERMITTED, fault none, no request");
    ok(p11_file_count(auditpath, "\"op\":\"decrypt\",\"token\":\"gamma\",\"key\":\"set2\","
                                 "\"backend\":null,") == 1,
       "...and the refused C_Decrypt once, as op decrypt");
    ok(p11_file_count(auditpath, "\"key\":\"set2\",\"backend\":\"local\",") > 0,
       "set2's KMS uses are audited with their backend as before");
}

/* ---- a running multi-threaded process ---- */

static atomic_int stop;
static atomic_llong first_refusal_end; /* when the first refused unwrap returned (0: none) */

/* Atomic: the main thread reads them while the workers run. */
typedef struct worker_stats {
    _Atomic long long last_ok_start, last_ok_end; /* of the last successful unwrap */
    _Atomic long long first_refused_end;          /* 0: none yet */
    _Atomic long long first_ok_after_refusal;     /* 0: none yet */
    long wraps, wrap_failures, other_failures;
} worker_stats;

static worker_stats stats[THREADS];

static void *worker(void *arg)
{
    worker_stats *st = arg;
    CK_SESSION_HANDLE s = p11_open(0);
    uint8_t env[1024];
    CK_ULONG len;
    long long t0, t1;
    CK_RV rv;

    while (!atomic_load(&stop)) {
        t0 = now_ms();
        rv = unwrap_in(s, k1, env1, len1);
        t1 = now_ms();
        if (rv == CKR_OK) {
            st->last_ok_start = t0;
            st->last_ok_end = t1;
            if (st->first_refused_end != 0 && st->first_ok_after_refusal == 0)
                st->first_ok_after_refusal = t1;
        } else if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
            long long none = 0;
            if (st->first_refused_end == 0)
                st->first_refused_end = t1;
            atomic_compare_exchange_strong(&first_refusal_end, &none, t1);
        } else {
            st->other_failures++;
        }
        st->wraps++;
        if (wrap_fresh(s, k1, env, &len) != CKR_OK)
            st->wrap_failures++;
    }
    p11->C_CloseSession(s);
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[THREADS];
    long long on_at, off_at, stop_ms = 0, resume_ms = 0, late = 0, t;
    long wraps = 0, wrap_failures = 0, other = 0;
    int i, all;

    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, &stats[i]);
    sleep_ms(300);
    on_at = now_ms();
    switch_set("alpha+k1", 1);
    /* Until every thread was refused at least once. */
    do {
        sleep_ms(5);
        for (all = 1, i = 0; i < THREADS; i++)
            all &= stats[i].first_refused_end != 0;
    } while (!all && now_ms() - on_at <= BOUND_MS);
    ok(all, "switch on: every thread of the running process is refused");
    sleep_ms(600);
    for (i = 0; i < THREADS; i++) {
        /* A success that began after some thread was already refused would mean the switch
         * was not seen by everyone at once. */
        if (stats[i].last_ok_start > atomic_load(&first_refusal_end))
            late++;
        if (stats[i].last_ok_end - on_at > stop_ms)
            stop_ms = stats[i].last_ok_end - on_at;
    }
    is_num(late, 0, "no unwrap started after the first refusal succeeded, in any thread");
    ok(stop_ms <= BOUND_MS, "the last unwrap succeeded within the bound after the switch");
    diag("last successful unwrap returned %lld ms after the switch file appeared "
         "(promise: 250 ms period + one directory read, under 1 s)",
         stop_ms);
    off_at = now_ms();
    switch_set("alpha+k1", 0);
    do {
        sleep_ms(5);
        for (all = 1, i = 0; i < THREADS; i++)
            all &= stats[i].first_ok_after_refusal != 0;
    } while (!all && now_ms() - off_at <= BOUND_MS);
    ok(all, "switch off: every thread unwraps again, without restart");
    for (i = 0; i < THREADS; i++) {
        t = stats[i].first_ok_after_refusal - off_at;
        if (t > resume_ms)
            resume_ms = t;
    }
    diag("every thread unwrapped again within %lld ms of the switch file going", resume_ms);
    atomic_store(&stop, 1);
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        wraps += stats[i].wraps;
        wrap_failures += stats[i].wrap_failures;
        other += stats[i].other_failures;
    }
    ok(wraps > 0, "the threads wrapped throughout");
    is_num(wrap_failures, 0, "...and not one wrap failed while unwraps were switched off");
    is_num(other, 0, "no unwrap failed with anything but CKR_KEY_FUNCTION_NOT_PERMITTED");
}

/* ---- when the directory cannot be read ---- */

static void test_dir_states(void)
{
    char moved[320];

    chmod(dir, 0777);
    ok(wait_for(sb, k3, env3, len3, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "directory writable by others: fail closed, every key refused");
    is_num(p11_file_count(logpath, "cannot be read (writable by others"), 1,
           "...with one log line saying why");
    chmod(dir, 0755);
    ok(wait_for(sb, k3, env3, len3, CKR_OK) >= 0, "o-w again: unwraps resume");

    snprintf(moved, sizeof(moved), "%s.moved", dir);
    if (rename(dir, moved) != 0)
        printf("Bail out! rename: %s\n", strerror(errno));
    ok(wait_for(sb, k3, env3, len3, CKR_OK) >= 0 && unwrap_in(sa, k1, env1, len1) == CKR_OK,
       "directory missing: no switch is on");
    {
        FILE *f = fopen(dir, "w"); /* a file where the directory should be */
        if (f != NULL)
            fclose(f);
    }
    ok(wait_for(sb, k3, env3, len3, CKR_KEY_FUNCTION_NOT_PERMITTED) >= 0,
       "a file in the directory's place: fail closed");
    unlink(dir);
    if (rename(moved, dir) != 0)
        printf("Bail out! rename back: %s\n", strerror(errno));
    ok(wait_for(sb, k3, env3, len3, CKR_OK) >= 0, "the directory back: unwraps resume");
}

static const char *config(const char *ks_dir_json)
{
    static char text[4096];

    snprintf(
        text, sizeof(text),
        "{\"kill_switch_dir\": %s,\n"
        " \"tokens\": [\n"
        "  {\"label\": \"alpha\", \"keys\": [\n"
        "    {\"label\": \"k1\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"},\n"
        "    {\"label\": \"k1-alias\", \"backend\": \"local\", "
        "\"key_id\": \"insecure-test-key\"},\n"
        "    {\"label\": \"k2\", \"backend\": \"local\", \"key_file\": \"%s\"},\n"
        "    {\"label\": \"odd/key name\", \"backend\": \"local\", \"key_file\": \"%s\"}]},\n"
        "  {\"label\": \"beta\", \"keys\": [\n"
        "    {\"label\": \"k3\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        "  {\"label\": \"gamma\", \"keys\": [\n"
        "    {\"label\": \"set2\", \"kms\": [{\"backend\": \"local\", "
        "\"key_id\": \"insecure-test-key\"}, {\"backend\": \"local\", \"key_file\": \"%s\"}]},\n"
        "    {\"label\": \"shares\", \"kms\": [{\"backend\": \"local\", \"key_file\": \"%s\"}],\n"
        "     \"previous\": [{\"backend\": \"local\", \"key_file\": \"%s\"}]},\n"
        "    {\"label\": \"apart\", \"backend\": \"local\", \"key_file\": \"%s\"}]}],\n"
        " \"audit\": {\"destination\": \"file:%s\"}}\n",
        ks_dir_json, keyfile2, keyfile3, keyfile2, keyfile3, keyfile2, keyfile3, auditpath);
    return p11_write("p11kms.conf", text, 0600);
}

static void open_keys(void)
{
    sa = p11_open(0);
    sb = p11_open(1);
    k1 = p11_find_label(sa, "k1");
    k2 = p11_find_label(sa, "k2");
    alias = p11_find_label(sa, "k1-alias");
    odd = p11_find_label(sa, "odd/key name");
    k3 = p11_find_label(sb, "k3");
    sg = p11_open(2);
    set2 = p11_find_label(sg, "set2");
    shares = p11_find_label(sg, "shares");
    apart = p11_find_label(sg, "apart");
}

int main(void)
{
    char quoted[400], env_log[400];

    test_start();
    p11_load();
    snprintf(dir, sizeof(dir), "%s/kill-switch", p11_tmp());
    snprintf(logpath, sizeof(logpath), "%s/module.log", p11_tmp());
    snprintf(auditpath, sizeof(auditpath), "%s/audit.jsonl", p11_tmp());
    snprintf(env_log, sizeof(env_log), "info,file:%s", logpath);
    setenv("P11KMS_LOG", env_log, 1);
    keyfile2 = p11_write("k2.key",
                         "p11kms-key-file 1\n"
                         "name 0123456789abcdef0123456789abcdef\n"
                         "version 1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                         0600);
    keyfile3 = p11_write("k3.key",
                         "p11kms-key-file 1\n"
                         "name fedcba9876543210fedcba9876543210\n"
                         "version 1 Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=\n",
                         0600);
    mkdir(dir, 0755);
    chmod(dir, 0755);
    snprintf(quoted, sizeof(quoted), "\"%s\"", dir);

    is_rv(p11_init_config(config("\"relative/dir\"")), CKR_ARGUMENTS_BAD,
          "a relative kill_switch_dir is refused");
    is_rv(p11_init_config(config(quoted)), CKR_OK, "C_Initialize with a kill switch directory");
    open_keys();
    ok(k1 && k2 && k3 && odd && alias && set2 && shares && apart, "the keys of the three tokens");
    ok(wrap_fresh(sa, k1, env1, &len1) == CKR_OK && wrap_fresh(sa, k2, env2, &len2) == CKR_OK &&
           wrap_fresh(sb, k3, env3, &len3) == CKR_OK &&
           wrap_fresh(sa, odd, envodd, &lenodd) == CKR_OK,
       "an envelope per key");
    test_scope();
    test_keyset();
    test_threads();
    test_dir_states();
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");

    /* A switch that is on when a process starts holds from its first call. */
    switch_set("beta", 1);
    is_rv(p11_init_config(config(quoted)), CKR_OK, "C_Initialize with token beta switched off");
    open_keys();
    is_rv(unwrap_in(sb, k3, env3, len3), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "the first unwrap of a new process is refused");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");

    is_rv(p11_init_config(config("null")), CKR_OK, "C_Initialize with \"kill_switch_dir\": null");
    open_keys();
    is_rv(unwrap_in(sb, k3, env3, len3), CKR_OK, "no kill switch: the switch file is not read");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    switch_set("beta", 0);
    return test_exit_code();
}
