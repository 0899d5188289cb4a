/* test-aws-module.c - the aws backend through the built module's function list against the
 * loopback AWS KMS test server: wrap/unwrap with contexts, refusals, faults and retries,
 * deadlines, threads sharing connections, connection reuse. Run by test-aws-module.sh. */
#include <pthread.h>
#include <sys/wait.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define OTHER_ID "22222222-2222-4222-8222-222222222222"
#define ARN_PREFIX "arn:aws:kms:us-east-1:111122223333:key/"

static const char *key_id, *key_arn;
static char other_arn[128];

static CK_SESSION_HANDLE sess;

/* Wrap a fresh 32-byte data key with kms under mechanism m; returns the data key handle. */
static CK_RV wrap_new(CK_OBJECT_HANDLE kms, CK_MECHANISM *m, uint8_t *env, CK_ULONG *len,
                      CK_OBJECT_HANDLE *dk)
{
    CK_RV rv;

    *dk = p11_data_key(sess, 32);
    if (*dk == CK_INVALID_HANDLE)
        return CKR_GENERAL_ERROR;
    rv = p11->C_WrapKey(sess, m, kms, *dk, env, len);
    return rv;
}

/* Unwrap and compare with the data key's value. */
static CK_RV unwrap_check(CK_OBJECT_HANDLE kms, CK_MECHANISM *m, uint8_t *env, CK_ULONG len,
                          CK_OBJECT_HANDLE dk, int *same)
{
    CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
    uint8_t a[64], b[64];
    CK_ULONG la = sizeof(a), lb = sizeof(b);
    CK_RV rv;
    P11_UNWRAP_TEMPLATE(t);

    *same = 0;
    rv = p11->C_UnwrapKey(sess, m, kms, env, len, t, 4, &out);
    if (rv == CKR_OK) {
        *same = p11_value(sess, dk, a, &la) && p11_value(sess, out, b, &lb) && la == lb &&
                memcmp(a, b, la) == 0;
        p11->C_DestroyObject(sess, out);
    }
    return rv;
}

/* Where a one-blob version-2 envelope keeps its key_ref (format in docs/envelope.md). */
#define REF_OFF 10

/* The single blob of a version-2 envelope that holds a wrapped key: key_ref and ciphertext
 * positions. */
static int envelope_blob(const uint8_t *env, CK_ULONG len, char *ref, size_t ref_cap,
                         size_t *ct_off, size_t *ct_len, int *backend)
{
    size_t rl;

    if (len < 7 + 11 || memcmp(env, "PKMS", 4) != 0 || env[4] != 2 || env[5] != 1 || env[6] != 1)
        return 0;
    *backend = env[7];
    rl = (size_t)env[8] << 8 | env[9];
    if (rl >= ref_cap || REF_OFF + rl + 8 > len)
        return 0;
    memcpy(ref, env + REF_OFF, rl);
    ref[rl] = 0;
    *ct_len = (size_t)env[REF_OFF + rl + 4] << 24 | (size_t)env[REF_OFF + rl + 5] << 16 |
              (size_t)env[REF_OFF + rl + 6] << 8 | env[REF_OFF + rl + 7];
    *ct_off = REF_OFF + rl + 8;
    return *ct_off + *ct_len == len;
}

static void test_round_trips(void)
{
    const char *kv[] = {"purpose=test", "id=42"}, *wrong_kv[] = {"purpose=test", "id=43"};
    const char *dflt_kv[] = {"app=p11kms", "env=test"};
    CK_P11KMS_CONTEXT_PAIR pairs[2], wrong_pairs[2], dflt_pairs[2];
    CK_P11KMS_ENVELOPE_PARAMS params, wrong, empty, dflt;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &params, sizeof(params)};
    CK_MECHANISM mw = {CKM_P11KMS_ENVELOPE, &wrong, sizeof(wrong)};
    CK_MECHANISM me = {CKM_P11KMS_ENVELOPE, &empty, sizeof(empty)};
    CK_MECHANISM md = {CKM_P11KMS_ENVELOPE, &dflt, sizeof(dflt)};
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_OBJECT_HANDLE arn = p11_find_label(sess, "arn"), alias = p11_find_label(sess, "alias");
    CK_OBJECT_HANDLE kid = p11_find_label(sess, "keyid"), ctxk = p11_find_label(sess, "ctx");
    CK_OBJECT_HANDLE dk, dk2;
    uint8_t env[8192], env2[8192];
    CK_ULONG len = sizeof(env), len2 = sizeof(env2);
    char ref[256];
    size_t ct_off, ct_len;
    int backend = 0, same = 0;
    long enc, dec, bad;

    p11_context(&params, pairs, kv, 2);
    p11_context(&wrong, wrong_pairs, wrong_kv, 2);
    p11_context(&empty, NULL, NULL, 0);
    p11_context(&dflt, dflt_pairs, dflt_kv, 2);
    ok(arn && alias && kid && ctxk, "the configured AWS keys are visible");

    enc = ctl_count("Encrypt");
    is_rv(wrap_new(arn, &m, env, &len, &dk), CKR_OK, "wrap with a context (key ARN)");
    is_num(ctl_count("Encrypt") - enc, 1, "one Encrypt call");
    ok(envelope_blob(env, len, ref, sizeof(ref), &ct_off, &ct_len, &backend),
       "the result is a one-blob version-2 p11kms envelope holding a wrapped key");
    is_num(backend, 2, "made by the aws backend");
    ok(strcmp(ref, key_arn) == 0, "the blob names the key ARN the KMS returned");

    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(arn, &m, env, len, dk, &same), CKR_OK, "unwrap with the same context");
    ok(same, "the unwrapped key is the wrapped one");
    is_num(ctl_count("Decrypt") - dec, 1, "one Decrypt call");

    dec = ctl_count("Decrypt");
    bad = ctl_stat("errors", "InvalidCiphertextException");
    is_rv(unwrap_check(arn, &mw, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "a wrong context value is refused");
    is_num(ctl_count("Decrypt") - dec, 1, "the KMS was asked once (InvalidCiphertext is final)");
    is_num(ctl_stat("errors", "InvalidCiphertextException") - bad, 1,
           "the KMS itself refused it (InvalidCiphertextException)");
    is_rv(unwrap_check(arn, &me, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "an empty context is refused too");

    /* Same key through its alias and its key id: the blob names the ARN either way. */
    len2 = sizeof(env2);
    is_rv(wrap_new(alias, &m, env2, &len2, &dk2), CKR_OK, "wrap through the alias");
    ok(envelope_blob(env2, len2, ref, sizeof(ref), &ct_off, &ct_len, &backend) &&
           strcmp(ref, key_arn) == 0,
       "an alias wrap names the key ARN");
    is_rv(unwrap_check(arn, &m, env2, len2, dk2, &same), CKR_OK, "the ARN key unwraps it");
    ok(same, "same data key");
    is_rv(unwrap_check(kid, &m, env, len, dk, &same), CKR_OK, "the key-id key unwraps the ARN's");
    ok(same, "same data key");
    is_rv(unwrap_check(alias, &m, env, len, dk, &same), CKR_OK, "the alias key unwraps it");
    p11->C_DestroyObject(sess, dk2);

    /* Unmodified tools: CKM_AES_KEY_WRAP_PAD binds the key's default context. */
    len2 = sizeof(env2);
    is_rv(wrap_new(ctxk, &kwp, env2, &len2, &dk2), CKR_OK, "AES_KEY_WRAP_PAD wraps");
    is_rv(unwrap_check(ctxk, &kwp, env2, len2, dk2, &same), CKR_OK, "and unwraps");
    ok(same, "same data key");
    is_rv(unwrap_check(ctxk, &md, env2, len2, dk2, &same), CKR_OK,
          "the default context is what was bound (explicit pairs unwrap it)");
    is_rv(unwrap_check(ctxk, &m, env2, len2, dk2, &same), CKR_WRAPPED_KEY_INVALID,
          "another context does not unwrap it");
    is_rv(unwrap_check(arn, &kwp, env2, len2, dk2, &same), CKR_WRAPPED_KEY_INVALID,
          "a key without that default context does not unwrap it");
    p11->C_DestroyObject(sess, dk2);
    p11->C_DestroyObject(sess, dk);
}

static void test_refusals(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE arn = p11_find_label(sess, "arn"), other = p11_find_label(sess, "other");
    CK_OBJECT_HANDLE fresh_alias = p11_find_label(sess, "alias-fresh");
    CK_OBJECT_HANDLE disabled = p11_find_label(sess, "disabled");
    CK_OBJECT_HANDLE dk, dk2;
    uint8_t env[8192], env2[8192];
    CK_ULONG len = sizeof(env), len2 = sizeof(env2);
    char ref[256];
    size_t ct_off, ct_len;
    int backend, same;
    long dec, inc;

    is_rv(wrap_new(arn, &m, env, &len, &dk), CKR_OK, "wrap under key 1");
    is_rv(wrap_new(other, &m, env2, &len2, &dk2), CKR_OK, "wrap under key 2");

    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(other, &m, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "key 2 does not unwrap key 1's envelope");
    is_num(ctl_count("Decrypt") - dec, 0, "refused without asking the KMS (owns)");

    /* Key 2's ciphertext in an envelope that claims key 1: KMS refuses (IncorrectKey). */
    ok(envelope_blob(env2, len2, ref, sizeof(ref), &ct_off, &ct_len, &backend) &&
           strlen(ref) == strlen(key_arn),
       "ARNs of equal length");
    memcpy(env2 + REF_OFF, key_arn, strlen(key_arn));
    inc = ctl_stat("errors", "IncorrectKeyException");
    is_rv(unwrap_check(arn, &m, env2, len2, dk2, &same), CKR_WRAPPED_KEY_INVALID,
          "a ciphertext of another key under this key's name is refused");
    is_num(ctl_stat("errors", "IncorrectKeyException") - inc, 1,
           "because Decrypt sent KeyId and the KMS said IncorrectKeyException");

    /* Key 1's ciphertext in an envelope naming key 2, opened through an alias of key 1: the
     * KMS decrypts (the alias names key 1) but answers for key 1, not the envelope's key 2. */
    memcpy(env + REF_OFF, other_arn, strlen(other_arn));
    dec = ctl_count("Decrypt");
    is_rv(unwrap_check(fresh_alias, &m, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "an answer for another key than the envelope names is refused");
    is_num(ctl_count("Decrypt") - dec, 1, "after the KMS answered");
    memcpy(env + REF_OFF, key_arn, strlen(key_arn));

    env[len - 1] ^= 1;
    is_rv(unwrap_check(arn, &m, env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "a modified ciphertext is refused");
    p11->C_DestroyObject(sess, dk);
    p11->C_DestroyObject(sess, dk2);

    len = sizeof(env);
    is_rv(wrap_new(disabled, &m, env, &len, &dk), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a disabled key cannot wrap (DisabledException)");
    p11->C_DestroyObject(sess, dk);
}

/* One wrap (and, with unwrap, an unwrap) under a fault; returns the CK_RV and the number of
 * requests the server saw for op. */
static CK_RV faulted(const char *label, const char *op, const char *kind, int count,
                     const char *extra, long *requests)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(sess, label), dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    CK_RV rv;
    long before;
    int same;

    if (strcmp(op, "Decrypt") == 0) {
        rv = wrap_new(kms, &m, env, &len, &dk);
        if (rv != CKR_OK)
            return rv;
        before = ctl_count(op);
        ctl_fault(op, kind, count, extra);
        rv = unwrap_check(kms, &m, env, len, dk, &same);
        if (rv == CKR_OK && !same)
            rv = CKR_GENERAL_ERROR;
    } else {
        before = ctl_count(op);
        ctl_fault(op, kind, count, extra);
        rv = wrap_new(kms, &m, env, &len, &dk);
    }
    *requests = ctl_count(op) - before;
    ctl_clear_faults();
    p11->C_DestroyObject(sess, dk);
    return rv;
}

static void test_faults(void)
{
    long n;

    is_rv(faulted("arn", "Encrypt", "throttle", 2, NULL, &n), CKR_OK,
          "throttled twice, then wrapped");
    is_num(n, 3, "3 attempts");
    is_rv(faulted("arn", "Encrypt", "throttle", 3, NULL, &n), CKR_DEVICE_ERROR,
          "throttled 3 times: CKR_DEVICE_ERROR");
    is_num(n, 3, "3 attempts and no more (max_attempts)");
    is_rv(faulted("arn", "Encrypt", "http500", 1, NULL, &n), CKR_OK, "a 500 is retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("arn", "Encrypt", "http503", 2, NULL, &n), CKR_OK, "503 twice is retried");
    is_num(n, 3, "3 attempts");
    is_rv(faulted("patient", "Encrypt", "http500", 4, NULL, &n), CKR_OK,
          "max_attempts 5: four 500s and a success");
    is_num(n, 5, "5 attempts");
    is_rv(faulted("arn", "Encrypt", "error", 3,
                  ", \"status\": 500, \"type\": \"KMSInternalException\"", &n),
          CKR_DEVICE_ERROR, "KMSInternalException until the attempts run out");
    is_num(n, 3, "3 attempts");
    is_rv(faulted("arn", "Decrypt", "throttle", 1, NULL, &n), CKR_OK,
          "a throttled Decrypt is retried");
    is_num(n, 2, "2 Decrypt attempts");
    is_rv(faulted("arn", "Encrypt", "drop", 1, NULL, &n), CKR_OK,
          "a dropped connection is retried");
    is_num(n, 2, "2 requests");
    is_rv(faulted("arn", "Encrypt", "drop", 4, NULL, &n), CKR_DEVICE_ERROR,
          "connections dropped every time: CKR_DEVICE_ERROR");
    ok(n >= 3 && n <= 4, "3 attempts (libcurl itself resends once on a dead kept-alive one)");
    is_rv(faulted("arn", "Encrypt", "garbage", 1, NULL, &n), CKR_DEVICE_ERROR,
          "a 200 answer that is not JSON: CKR_DEVICE_ERROR");
    is_num(n, 1, "not retried");
    is_rv(faulted("arn", "Encrypt", "garbage", 1, ", \"status\": 502", &n), CKR_OK,
          "a 502 with a garbage body is retried");
    is_num(n, 2, "2 attempts");
    is_rv(faulted("arn", "Encrypt", "error", 1,
                  ", \"status\": 400, \"type\": \"AccessDeniedException\"", &n),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "AccessDeniedException: CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_num(n, 1, "not retried");
    is_rv(faulted("arn", "Encrypt", "error", 1,
                  ", \"status\": 400, \"type\": \"KMSInvalidStateException\"", &n),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "KMSInvalidStateException (pending deletion)");
    is_num(n, 1, "not retried");
    is_rv(faulted("arn", "Encrypt", "error", 1,
                  ", \"status\": 400, \"type\": \"ValidationException\"", &n),
          CKR_DEVICE_ERROR, "ValidationException: CKR_DEVICE_ERROR");
    is_num(n, 1, "not retried");
    is_rv(faulted("arn", "Decrypt", "error", 1,
                  ", \"status\": 400, \"type\": \"InvalidCiphertextException\"", &n),
          CKR_WRAPPED_KEY_INVALID, "InvalidCiphertextException on unwrap: CKR_WRAPPED_KEY_INVALID");
    is_num(n, 1, "not retried");
    is_rv(faulted("arn", "Encrypt", "delay", 1, ", \"delay_ms\": 100", &n), CKR_OK,
          "a slow answer within the request timeout");
    is_num(n, 1, "1 attempt");
    is_rv(faulted("quick", "Encrypt", "delay", 1, ", \"delay_ms\": 3000", &n), CKR_OK,
          "an answer slower than request_timeout_ms is abandoned and retried");
    is_num(n, 2, "2 attempts");
    /* deadline_ms 1500 with request_timeout_ms 1000: the first attempt times out at 1 s, the
     * second gets what is left and times out at the deadline; a third would break it. */
    is_rv(faulted("deadline", "Encrypt", "delay", 5, ", \"delay_ms\": 4000", &n), CKR_DEVICE_ERROR,
          "a call that cannot finish by its deadline fails");
    is_num(n, 2, "the deadline stopped it after 2 of 3 allowed attempts");
}

#define THREADS 4
#define ROUNDS 25

static void *worker(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    long failures = p11_round_trips(s, p11_find_label(s, "arn"), (long)arg, ROUNDS);

    p11->C_CloseSession(s);
    return (void *)failures;
}

static void test_threads_and_connections(void)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(sess, "arn"), dk = p11_data_key(sess, 32);
    pthread_t th[THREADS];
    long i, failures = 0, conns, enc;
    uint8_t env[8192];
    CK_ULONG len;

    conns = ctl_stat("connections", NULL);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);
    for (i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failures += (long)r;
    }
    is_num(failures, 0, "4 threads x 25 wrap/unwrap round trips with their own contexts");
    conns = ctl_stat("connections", NULL) - conns;
    diag("%ld new connections for %d threads x %d round trips", conns, THREADS, ROUNDS * 2);
    ok(conns <= THREADS, "threads share kept-alive connections: at most one per thread");

    conns = ctl_stat("connections", NULL);
    enc = ctl_count("Encrypt");
    for (i = 0; i < 1000; i++) {
        len = sizeof(env);
        if (p11->C_WrapKey(sess, &m, kms, dk, env, &len) != CKR_OK)
            failures++;
    }
    is_num(failures, 0, "1,000 wraps");
    is_num(ctl_count("Encrypt") - enc, 1000, "1,000 Encrypt calls");
    conns = ctl_stat("connections", NULL) - conns;
    diag("%ld new connections for 1,000 wraps", conns);
    ok(conns <= 2, "1,000 wraps open at most 2 connections");
    p11->C_DestroyObject(sess, dk);
}

/* fork: the child re-initialises and works with connections and credentials of its own; the
 * parent goes on with its kept-alive connection. */
static void test_fork(const char *config)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(sess, "arn"), dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    long conns;
    int status = -1, same = 0;
    pid_t pid;

    is_rv(wrap_new(kms, &m, env, &len, &dk), CKR_OK, "parent wraps before fork");
    conns = ctl_stat("connections", NULL);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        CK_SESSION_HANDLE cs;
        int code = 1;

        if (p11_init_config(config) == CKR_OK) {
            cs = p11_open(0);
            sess = cs;
            kms = p11_find_label(cs, "arn");
            dk = p11_data_key(cs, 32);
            len = sizeof(env);
            if (p11->C_WrapKey(cs, &m, kms, dk, env, &len) == CKR_OK)
                code = 0;
            p11->C_Finalize(NULL);
        }
        _exit(code);
    }
    waitpid(pid, &status, 0);
    is_num(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
           "the child re-initialises and wraps through AWS");
    is_num(ctl_stat("connections", NULL) - conns, 1, "on a connection of its own");
    conns = ctl_stat("connections", NULL);
    is_rv(unwrap_check(kms, &m, env, len, dk, &same), CKR_OK, "the parent unwraps after fork");
    ok(same, "its data key");
    is_num(ctl_stat("connections", NULL) - conns, 0, "on its kept-alive connection");
    p11->C_DestroyObject(sess, dk);
}

static void test_describe_free_init(void)
{
    long before = ctl_count("DescribeKey");

    /* Loading configuration and listing keys never calls the KMS. */
    is_num(before, 0, "no DescribeKey at C_Initialize or while finding keys");
}

static const char *write_config(void)
{
    const char *ep = getenv("P11KMS_AWS_ENDPOINT");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    char *path;

    fprintf(f,
            "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
            " \"tokens\": [{\"label\": \"aws\", \"keys\": [\n"
            "  {\"label\": \"arn\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"alias\", \"backend\": \"aws\", \"key_id\": \"alias/p11kms-test\"},\n"
            "  {\"label\": \"alias-fresh\", \"backend\": \"aws\",\n"
            "   \"key_id\": \"arn:aws:kms:us-east-1:111122223333:alias/p11kms-test\"},\n"
            "  {\"label\": \"keyid\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"other\", \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
            "  {\"label\": \"disabled\", \"backend\": \"aws\",\n"
            "   \"key_id\": \"alias/p11kms-disabled\"},\n"
            "  {\"label\": \"ctx\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
            "   \"context\": {\"app\": \"p11kms\", \"env\": \"test\"}},\n"
            "  {\"label\": \"patient\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
            "   \"max_attempts\": 5},\n"
            "  {\"label\": \"quick\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
            "   \"request_timeout_ms\": 1000},\n"
            "  {\"label\": \"deadline\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
            "   \"request_timeout_ms\": 1000, \"deadline_ms\": 1500}\n"
            " ]}]}\n",
            ep, key_arn, key_id, other_arn, key_arn, key_arn, key_arn, key_arn);
    fclose(f);
    path = p11_write("aws.json", text, 0600);
    free(text);
    return path;
}

int main(void)
{
    const char *config;

    key_id = getenv("P11KMS_AWS_KEY_ID");
    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    if (key_id == NULL || key_arn == NULL || getenv("P11KMS_AWS_ENDPOINT") == NULL) {
        printf("1..0 # SKIP run through test-aws-module.sh (needs the AWS test server)\n");
        return 0;
    }
    snprintf(other_arn, sizeof(other_arn), ARN_PREFIX OTHER_ID);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    ctl_do("POST", "/reset", "{\"keys\": true}");
    config = write_config();
    is_rv(p11_init_config(config), CKR_OK, "C_Initialize with AWS keys");
    sess = p11_open(0);
    test_describe_free_init();
    test_round_trips();
    test_refusals();
    test_faults();
    test_threads_and_connections();
    test_fork(config);
    is_num(ctl_stat("signature_failures", NULL), 0,
           "the server's botocore accepted every signature");
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    p11_unload();
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
