/* test-aws-keyset.c - key sets (several KMS keys per configured key), failover, rotation and the
 * audit trail, through the function list, against the loopback AWS KMS test server plus the
 * local backend (and the loopback Vault test server for the three-KMS set): an envelope made under
 * two AWS keys and a local key unwraps with any one of them reachable; failover happens on
 * availability faults only (a definitive refusal asks no other KMS, counted on the server and in
 * the audit trail); a hanging first KMS costs its timeout plus one call; wrap policies; previous
 * keys and accepted old contexts; audit records field by field, and no secret in them. Run by
 * test-aws-keyset.sh. */
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define DEAD "http://127.0.0.1:1" /* nothing listens: connection refused at once */
#define HANG_TIMEOUT_MS 600
#define HANG_DELAY_MS 5000
#define SET_DEADLINE_MS 800

static char key_arn[256], other_arn[256];
static const char *endpoint;
static char audit_path[400];
static CK_SESSION_HANDLE sess;

static long now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000L + tv.tv_usec / 1000L;
}

static void start(const char *text)
{
    const char *path = p11_write("keyset.json", text, 0600);

    if (p11_init_config(path) != CKR_OK) {
        printf("Bail out! C_Initialize with\n%s\n", text);
        exit(1);
    }
    sess = p11_open(0);
}

static void stop(void)
{
    p11->C_CloseSession(sess);
    p11->C_Finalize(NULL);
}

static CK_OBJECT_HANDLE key(const char *label)
{
    CK_OBJECT_HANDLE h = p11_find_label(sess, label);

    if (h == CK_INVALID_HANDLE) {
        printf("Bail out! key %s not found\n", label);
        exit(1);
    }
    return h;
}

/* C_UnwrapKey of env with key `label`; the value read back into val (32 bytes) on success. */
static CK_RV unwrap_value(const char *label, const uint8_t *env, CK_ULONG len, uint8_t *val)
{
    P11_UNWRAP_TEMPLATE(t);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG vlen = 32;
    CK_RV rv = p11_unwrap_default(sess, key(label), (uint8_t *)env, len, t, 4, &h);

    if (rv == CKR_OK) {
        if (!p11_value(sess, h, val, &vlen) || vlen != 32)
            rv = CKR_GENERAL_ERROR;
        p11->C_DestroyObject(sess, h);
    }
    return rv;
}

static long decrypts(void)
{
    ctl_settle();
    return ctl_count("Decrypt");
}

static const char *config_main(void)
{
    static char text[6000];

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\", \"max_attempts\": 2}},\n"
             " \"audit\": {\"destination\": \"file:%s\"},\n"
             " \"tokens\": [{\"label\": \"sets\", \"keys\": [\n"
             "  {\"label\": \"set\", \"context\": {\"app\": \"billing\"}, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"},\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\"}]},\n"
             "  {\"label\": \"set-down\", \"context\": {\"app\": \"billing\"}, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"endpoint\": \"" DEAD "\"},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"},\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"endpoint\": \"" DEAD "\"}]},\n"
             "  {\"label\": \"only-aws2\", \"context\": {\"app\": \"billing\"}, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"endpoint\": \"" DEAD "\"},\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\"}]},\n"
             "  {\"label\": \"only-aws1\", \"context\": {\"app\": \"billing\"},\n"
             "   \"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "  {\"label\": \"only-local\", \"context\": {\"app\": \"billing\"},\n"
             "   \"backend\": \"local\", \"key_id\": \"insecure-test-key\"},\n"
             "  {\"label\": \"hang\", \"context\": {\"app\": \"billing\"}, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"max_attempts\": 1,\n"
             "     \"request_timeout_ms\": %d},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
             "  {\"label\": \"bounded\", \"context\": {\"app\": \"billing\"},\n"
             "   \"deadline_ms\": %d, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"max_attempts\": 1,\n"
             "     \"request_timeout_ms\": 30000},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
             "  {\"label\": \"any\", \"wrap_policy\": \"any\", \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"endpoint\": \"" DEAD "\"},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
             "  {\"label\": \"all\", \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\", \"endpoint\": \"" DEAD "\"},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}]}\n",
             endpoint, audit_path, key_arn, other_arn, key_arn, other_arn, key_arn, other_arn,
             key_arn, key_arn, HANG_TIMEOUT_MS, SET_DEADLINE_MS, key_arn, key_arn, key_arn);
    return text;
}

static uint8_t env[4096], dk_value[32];
static CK_ULONG env_len;

static void test_wrap_and_any_one(void)
{
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32);
    CK_ULONG vlen = sizeof(dk_value);
    uint8_t got[32];
    long enc = ctl_count("Encrypt"), dec;

    ok(dk != CK_INVALID_HANDLE && p11_value(sess, dk, dk_value, &vlen), "a readable data key");
    is_rv(p11_wrap_default(sess, key("set"), dk, env, sizeof(env), &env_len), CKR_OK,
          "C_WrapKey under a set of aws + local + aws");
    ok(env_len > 7 && env[6] == 3, "one envelope with three blobs");
    ctl_settle();
    is_num(ctl_count("Encrypt") - enc, 2, "two AWS Encrypt calls (the third blob is local)");
    p11->C_DestroyObject(sess, dk);

    dec = decrypts();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set", env, env_len, got), CKR_OK, "the set unwraps it");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    is_num(decrypts() - dec, 1, "with one Decrypt: the first entry served");

    dec = decrypts();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set-down", env, env_len, got), CKR_OK,
          "both AWS entries unreachable: the local entry serves");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    is_num(decrypts() - dec, 0, "and the server saw no Decrypt");

    dec = decrypts();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("only-aws2", env, env_len, got), CKR_OK,
          "first AWS entry unreachable, no local: the second AWS key serves");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    is_num(decrypts() - dec, 1, "one Decrypt");

    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("only-aws1", env, env_len, got), CKR_OK, "a key of the first AWS key alone");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("only-local", env, env_len, got), CKR_OK, "a key of the local entry alone");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
}

static void test_definitive_and_unavailable(void)
{
    uint8_t got[32];
    long dec;
    int local_before, local_after;

    ctl_clear_faults();
    local_before = p11_file_count(audit_path, "\"backend\":\"local\"");
    ctl_fault("Decrypt", "error", 1,
              ", \"status\": 400, \"type\": \"AccessDeniedException\", \"message\": \"no\"");
    dec = decrypts();
    is_rv(unwrap_value("set", env, env_len, got), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "access denied by the first KMS is the answer");
    is_num(decrypts() - dec, 1, "one Decrypt: the second AWS key was not asked");
    local_after = p11_file_count(audit_path, "\"backend\":\"local\"");
    is_num(local_after - local_before, 0, "nor the local entry (audit trail)");

    ctl_fault("Decrypt", "error", 1,
              ", \"status\": 400, \"type\": \"InvalidCiphertextException\", \"message\": \"no\"");
    dec = decrypts();
    is_rv(unwrap_value("set", env, env_len, got), CKR_WRAPPED_KEY_INVALID,
          "a ciphertext the first KMS refuses is refused");
    is_num(decrypts() - dec, 1, "one Decrypt, no failover");
    is_num(p11_file_count(audit_path, "\"backend\":\"local\"") - local_after, 0,
           "and no local use");

    /* 503 on every attempt of the first entry: it cannot serve, the next one does. */
    ctl_fault("Decrypt", "http503", 2, "");
    dec = decrypts();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set", env, env_len, got), CKR_OK, "503 after the retries: failover");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    is_num(decrypts() - dec, 2, "two attempts at the first KMS, then the local entry");
    is_num(p11_file_count(audit_path, "\"backend\":\"local\"") - local_after, 1,
           "which the audit trail records");

    /* A 200 that is not an answer, a dropped connection: the endpoint is broken, not saying
     * no. */
    ctl_fault("Decrypt", "garbage", 1, "");
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set", env, env_len, got), CKR_OK, "an unreadable 200: failover");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    ctl_fault("Decrypt", "drop", 2, "");
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set", env, env_len, got), CKR_OK, "dropped connections: failover");
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    ctl_clear_faults();
}

static void test_hang(void)
{
    uint8_t got[32];
    long t0, t_local, t_hang;

    /* What one call of the next entry costs, for the bound. */
    t0 = now_ms();
    is_rv(unwrap_value("only-local", env, env_len, got), CKR_OK, "one local unwrap");
    t_local = now_ms() - t0;

    ctl_fault("Decrypt", "delay", 1, ", \"delay_ms\": 5000");
    t0 = now_ms();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("hang", env, env_len, got), CKR_OK, "the first KMS hangs: failover");
    t_hang = now_ms() - t0;
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    diag("failover with a hanging first KMS: %ld ms (its timeout %d ms, one local call %ld ms)",
         t_hang, HANG_TIMEOUT_MS, t_local);
    printf("# figure: failover-hang-ms %ld timeout-ms %d local-call-ms %ld\n", t_hang,
           HANG_TIMEOUT_MS, t_local);
    /* Behaviour, generously bounded: it waited for the timeout, not for the hang to end. */
    ok(t_hang >= HANG_TIMEOUT_MS - 50, "it waited for the first KMS's timeout");
    ok(t_hang < HANG_DELAY_MS - 1000, "and not for the hanging answer");
    ctl_clear_faults();

    /* The key set's one deadline cuts a KMS whose own timeout is far longer. */
    ctl_fault("Decrypt", "delay", 1, ", \"delay_ms\": 5000");
    t0 = now_ms();
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("bounded", env, env_len, got), CKR_OK,
          "a hang under the set's deadline_ms: failover");
    t_hang = now_ms() - t0;
    ok(memcmp(got, dk_value, 32) == 0, "the same key value");
    printf("# figure: set-deadline-ms %d failover-ms %ld\n", SET_DEADLINE_MS, t_hang);
    ok(t_hang >= SET_DEADLINE_MS - 50 && t_hang < HANG_DELAY_MS - 1000,
       "cut at the set's deadline, not the entry's 30 s timeout");
    ctl_clear_faults();
}

static void test_policies(void)
{
    CK_OBJECT_HANDLE dk = p11_data_key(sess, 32);
    uint8_t e2[4096], got[32], v[32];
    CK_ULONG e2_len, vlen = 32;

    ok(dk != CK_INVALID_HANDLE && p11_value(sess, dk, v, &vlen), "another data key");
    is_rv(p11_wrap_default(sess, key("any"), dk, e2, sizeof(e2), &e2_len), CKR_OK,
          "wrap_policy any: one entry unreachable, the wrap succeeds");
    ok(e2_len > 7 && e2[6] == 1, "with the one blob that could be made");
    is_rv(unwrap_value("any", e2, e2_len, got), CKR_OK, "and unwraps");
    ok(memcmp(got, v, 32) == 0, "the same key value");
    is_rv(p11_wrap_default(sess, key("all"), dk, e2, sizeof(e2), &e2_len), CKR_DEVICE_ERROR,
          "wrap_policy all (the default): an unreachable entry fails the wrap");
    p11->C_DestroyObject(sess, dk);
}

/* Every line of the audit trail: a JSON object with the documented fields; the last aws
 * record checked field by field; no secret anywhere. */
static void test_audit(void)
{
    FILE *f = fopen(audit_path, "r");
    char line[8192], hex[65], last_aws[8192] = "";
    json_object *o, *v;
    int n = 0, bad = 0, i;
    const char *fields[] = {"time",       "op",           "token",
                            "key",        "backend",      "kms_key",
                            "entry",      "context_keys", "context_accepted",
                            "outcome",    "rv",           "fault",
                            "request_id", "http_status",  "latency_ms",
                            "pid"};

    ok(f != NULL, "the audit file exists");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        n++;
        o = json_tokener_parse(line);
        if (o == NULL) {
            bad++;
            continue;
        }
        for (i = 0; i < (int)(sizeof(fields) / sizeof(fields[0])); i++)
            if (!json_object_object_get_ex(o, fields[i], NULL))
                bad++;
        if (json_object_object_get_ex(o, "context", NULL))
            bad++; /* values only when configured */
        if (strcmp(json_str(o, "backend"), "aws") == 0 && strcmp(json_str(o, "outcome"), "ok") == 0)
            snprintf(last_aws, sizeof(last_aws), "%s", line);
        json_object_put(o);
    }
    fclose(f);
    ok(n >= 10, "records were written");
    is_num(bad, 0, "every record is a JSON object with every documented field, no values");

    o = json_tokener_parse(last_aws);
    ok(o != NULL, "an aws record");
    ok(strlen(json_str(o, "time")) == 24 && json_str(o, "time")[10] == 'T' &&
           json_str(o, "time")[19] == '.' && json_str(o, "time")[23] == 'Z',
       "time: RFC 3339 UTC with milliseconds");
    ok(strcmp(json_str(o, "token"), "sets") == 0, "token label");
    ok(strcmp(json_str(o, "backend"), "aws") == 0, "backend");
    ok(strncmp(json_str(o, "kms_key"), "arn:aws:kms:", 12) == 0, "KMS key reference");
    ok(json_object_object_get_ex(o, "context_keys", &v) && json_object_array_length(v) == 1 &&
           strcmp(json_object_get_string(json_object_array_get_idx(v, 0)), "app") == 0,
       "context keys: the application's (app), not the reserved purpose pair");
    ok(strcmp(json_str(o, "rv"), "CKR_OK") == 0, "CK_RV name");
    ok(strlen(json_str(o, "request_id")) > 0, "the KMS request id");
    ok(json_object_object_get_ex(o, "http_status", &v) && json_object_get_int(v) == 200,
       "HTTP status");
    ok(json_object_object_get_ex(o, "pid", &v) && json_object_get_int(v) == (int)getpid(), "pid");
    ok(json_object_object_get_ex(o, "latency_ms", &v) && json_object_get_int(v) >= 0, "latency");
    json_object_put(o);
    is_num(p11_file_count(audit_path, "\"outcome\":\"refused\""), 2,
           "two refusals (access denied, bad ciphertext)");
    ok(p11_file_count(audit_path, "\"outcome\":\"unavailable\"") >= 3,
       "unavailable entries recorded");

    /* No secret: the data key (hex), the AWS secret key, the context value. */
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dk_value[i]);
    is_num(p11_file_count(audit_path, hex), 0, "no key value (hex)");
    is_num(p11_file_count(audit_path, getenv("AWS_SECRET_ACCESS_KEY")), 0, "no credential");
    is_num(p11_file_count(audit_path, "billing"), 0, "no context value unless configured");
}

/* Rotation: wrapped under the old key; the new set names the old one as previous; after a
 * rewrap the old key can go. Accepted old default contexts likewise. */
static void test_rotation(void)
{
    char text[3000];
    CK_OBJECT_HANDLE dk, h;
    uint8_t old_env[4096], new_env[4096], got[32], v[32];
    CK_ULONG old_len, new_len, vlen = 32;
    P11_UNWRAP_TEMPLATE(t);

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
             " \"tokens\": [{\"label\": \"rot\", \"keys\": [\n"
             "  {\"label\": \"k\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"context\": {\"v\": \"1\"}}]}]}\n",
             endpoint, key_arn);
    start(text);
    dk = p11_data_key(sess, 32);
    ok(p11_value(sess, dk, v, &vlen), "a data key");
    is_rv(p11_wrap_default(sess, key("k"), dk, old_env, sizeof(old_env), &old_len), CKR_OK,
          "wrapped under the old KMS key and the old context");
    stop();

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
             " \"tokens\": [{\"label\": \"rot\", \"keys\": [\n"
             "  {\"label\": \"k\", \"context\": {\"v\": \"2\"},\n"
             "   \"accepted_contexts\": [{\"v\": \"1\"}],\n"
             "   \"kms\": [{\"backend\": \"aws\", \"key_id\": \"%s\"}],\n"
             "   \"previous\": [{\"backend\": \"aws\", \"key_id\": \"%s\"}]}]}]}\n",
             endpoint, other_arn, key_arn);
    start(text);
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("k", old_env, old_len, got), CKR_OK,
          "the new set opens it: previous key, accepted old context");
    ok(memcmp(got, v, 32) == 0, "the same key value");
    /* the rewrap: unwrap and wrap inside the module, the value never leaves it */
    is_rv(p11_unwrap_default(sess, key("k"), old_env, old_len, t, 4, &h), CKR_OK, "unwrap");
    is_rv(p11_wrap_default(sess, key("k"), h, new_env, sizeof(new_env), &new_len), CKR_OK,
          "wrap again: under the current key and context");
    ok(new_len > 7 && new_env[6] == 1 && memmem(new_env, new_len, other_arn, strlen(other_arn)) &&
           !memmem(new_env, new_len, key_arn, strlen(key_arn)),
       "the new envelope names the current key only");
    p11->C_DestroyObject(sess, h);
    stop();

    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
             " \"tokens\": [{\"label\": \"rot\", \"keys\": [\n"
             "  {\"label\": \"k\", \"context\": {\"v\": \"2\"},\n"
             "   \"kms\": [{\"backend\": \"aws\", \"key_id\": \"%s\"}]}]}]}\n",
             endpoint, other_arn);
    start(text);
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("k", new_env, new_len, got), CKR_OK,
          "old key and context removed: the rewrapped envelope unwraps");
    ok(memcmp(got, v, 32) == 0, "the same key value");
    is_rv(unwrap_value("k", old_env, old_len, got), CKR_WRAPPED_KEY_INVALID,
          "the old envelope no longer does");
    stop();
}

/* One configured key over AWS, local and Vault: the envelope holds three blobs, and it unwraps
 * with any single one of the three KMSs reachable (the others dead or absent). */
static void test_three_kms(void)
{
    char text[3000];
    const char *vault = getenv("P11KMS_VAULT_ADDR");
    CK_OBJECT_HANDLE dk;
    uint8_t blob[16384], got[32], v[32];
    CK_ULONG blob_len, vlen = 32;
    static const char *const entry_aws = "{\"backend\": \"aws\", \"key_id\": \"%s\"%s}";
    char aws_up[600], aws_down[600], vault_up[600], vault_down[600];
    static const char *const local = "{\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}";
    static const char *const dead = ", \"endpoint\": \"" DEAD "\", \"max_attempts\": 1";
    struct {
        const char *what, *a, *b, *c;
    } only[3];
    int i;

    if (vault == NULL) {
        printf("Bail out! P11KMS_VAULT_ADDR unset: run through test-aws-keyset.sh\n");
        exit(1);
    }
    snprintf(aws_up, sizeof(aws_up), entry_aws, key_arn, "");
    snprintf(aws_down, sizeof(aws_down), entry_aws, key_arn, dead);
    snprintf(vault_up, sizeof(vault_up),
             "{\"backend\": \"vault\", \"key_id\": \"p11kms-derived\", \"endpoint\": \"%s\"}",
             vault);
    snprintf(vault_down, sizeof(vault_down),
             "{\"backend\": \"vault\", \"key_id\": \"p11kms-derived\"%s}", dead);
    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
             " \"tokens\": [{\"label\": \"tri\", \"keys\": [\n"
             "  {\"label\": \"k\", \"context\": {\"app\": \"billing\"},\n"
             "   \"kms\": [%s, %s, %s]}]}]}\n",
             endpoint, aws_up, local, vault_up);
    start(text);
    dk = p11_data_key(sess, 32);
    ok(p11_value(sess, dk, v, &vlen), "a data key");
    is_rv(p11_wrap_default(sess, key("k"), dk, blob, sizeof(blob), &blob_len), CKR_OK,
          "wrapped under AWS, local and Vault at once");
    ok(blob_len > 7 && blob[6] == 3, "  ...one envelope with three blobs");
    stop();

    only[0].what = "only AWS reachable: it unwraps";
    only[0].a = aws_up, only[0].b = vault_down, only[0].c = NULL;
    only[1].what = "only Vault reachable: it unwraps";
    only[1].a = aws_down, only[1].b = vault_up, only[1].c = NULL;
    only[2].what = "AWS and Vault both down, the local key: it unwraps";
    only[2].a = aws_down, only[2].b = vault_down, only[2].c = local;
    for (i = 0; i < 3; i++) {
        snprintf(text, sizeof(text),
                 "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
                 " \"tokens\": [{\"label\": \"tri\", \"keys\": [\n"
                 "  {\"label\": \"k\", \"context\": {\"app\": \"billing\"},\n"
                 "   \"kms\": [%s, %s%s%s]}]}]}\n",
                 endpoint, only[i].a, only[i].b, only[i].c ? ", " : "", only[i].c ? only[i].c : "");
        start(text);
        memset(got, 0, sizeof(got));
        ok(unwrap_value("k", blob, blob_len, got) == CKR_OK && memcmp(got, v, 32) == 0,
           only[i].what);
        stop();
    }
}

/* CKM_P11KMS_REWRAP with key `label`: *out_len bytes in out. */
static CK_RV rewrap(const char *label, const uint8_t *in, CK_ULONG in_len, uint8_t *out,
                    CK_ULONG *out_len)
{
    CK_MECHANISM m = {CKM_P11KMS_REWRAP, NULL, 0};
    CK_ULONG need = 0;
    CK_RV rv = p11->C_EncryptInit(sess, &m, key(label));

    if (rv == CKR_OK)
        rv = p11->C_Encrypt(sess, (CK_BYTE_PTR)in, in_len, NULL, &need);
    if (rv == CKR_OK && need > *out_len)
        rv = CKR_BUFFER_TOO_SMALL;
    if (rv == CKR_OK)
        rv = p11->C_Encrypt(sess, (CK_BYTE_PTR)in, in_len, out, out_len);
    return rv;
}

/* The rewrap mechanism: a blob of the key's one KMS key moves through the KMS's own ReEncrypt
 * (no Decrypt: the data key never in this process); a key set's blob is unwrapped and wrapped
 * again inside the module; data envelopes, decrypt, a key without both wrap and unwrap, and a
 * context the KMS did not bind are refused. */
static void test_rewrap_mechanism(void)
{
    char text[3000], switches[500], path[600];
    FILE *f;
    CK_OBJECT_HANDLE dk;
    CK_MECHANISM dm = {CKM_P11KMS_REWRAP, NULL, 0}, em = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t blob[4096], out[16384], data_env[16384], v[32], got[32], secret[16] = {1, 2, 3};
    CK_ULONG blob_len, out_len = sizeof(out), data_len = sizeof(data_env), vlen = 32;
    long reenc, dec;

    snprintf(switches, sizeof(switches), "%s/switches", p11_tmp());
    mkdir(switches, 0755);
    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\"}},\n"
             " \"kill_switch_dir\": \"%s\",\n"
             " \"tokens\": [{\"label\": \"rw\", \"keys\": [\n"
             "  {\"label\": \"k\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"context\": {\"v\": \"1\"}},\n"
             "  {\"label\": \"k-v2\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"context\": {\"v\": \"2\"}},\n"
             "  {\"label\": \"k-wrap-only\", \"backend\": \"aws\", \"key_id\": \"%s\",\n"
             "   \"context\": {\"v\": \"1\"}, \"permissions\": [\"wrap\", \"encrypt\"]},\n"
             "  {\"label\": \"set\", \"context\": {\"v\": \"1\"}, \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\"},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}]}\n",
             endpoint, switches, key_arn, key_arn, key_arn, key_arn);
    start(text);
    dk = p11_data_key(sess, 32);
    ok(p11_value(sess, dk, v, &vlen), "a data key");
    is_rv(p11_wrap_default(sess, key("k"), dk, blob, sizeof(blob), &blob_len), CKR_OK,
          "wrapped under the AWS key");
    reenc = (ctl_settle(), ctl_count("ReEncrypt"));
    dec = ctl_count("Decrypt");
    is_rv(rewrap("k", blob, blob_len, out, &out_len), CKR_OK, "CKM_P11KMS_REWRAP with the key");
    ctl_settle();
    ok(ctl_count("ReEncrypt") == reenc + 1 && ctl_count("Decrypt") == dec,
       "  ...is one ReEncrypt in the KMS and no Decrypt");
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("k", out, out_len, got), CKR_OK, "  ...and the result unwraps");
    ok(memcmp(got, v, 32) == 0, "  ...to the same data key");

    is_rv(p11->C_Encrypt(sess, (CK_BYTE_PTR) "x", 1, NULL, &out_len), CKR_OPERATION_NOT_INITIALIZED,
          "the rewrap operation ended with its result");
    is_rv(p11->C_EncryptInit(sess, &em, key("k")), CKR_OK, "a data envelope (C_Encrypt)");
    is_rv(p11->C_Encrypt(sess, secret, sizeof(secret), data_env, &data_len), CKR_OK, "  ...made");
    dec = (ctl_settle(), ctl_count("Decrypt"));
    reenc = ctl_count("ReEncrypt");
    out_len = sizeof(out);
    is_rv(rewrap("k", data_env, data_len, out, &out_len), CKR_DATA_INVALID,
          "rewrap of a data envelope is refused");
    ctl_settle();
    ok(ctl_count("ReEncrypt") == reenc && ctl_count("Decrypt") == dec, "  ...before any KMS call");
    is_rv(p11->C_DecryptInit(sess, &dm, key("k")), CKR_MECHANISM_INVALID,
          "CKM_P11KMS_REWRAP is no decrypt mechanism");
    is_rv(p11->C_EncryptInit(sess, &dm, key("k-wrap-only")), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that may not unwrap cannot rewrap");
    out_len = sizeof(out);
    ok(rewrap("k-v2", blob, blob_len, out, &out_len) != CKR_OK,
       "a context the KMS did not bind: refused by the KMS");
    ctl_settle();
    ok(ctl_count("Decrypt") == dec, "  ...without falling back to a Decrypt");

    is_rv(p11_wrap_default(sess, key("set"), dk, blob, sizeof(blob), &blob_len), CKR_OK,
          "wrapped under a key set (AWS + local)");
    reenc = (ctl_settle(), ctl_count("ReEncrypt"));
    out_len = sizeof(out);
    is_rv(rewrap("set", blob, blob_len, out, &out_len), CKR_OK,
          "rewrap with the key set (two current KMS keys)");
    ctl_settle();
    ok(ctl_count("ReEncrypt") == reenc && out_len > 7 && out[6] == 2,
       "  ...inside the module: no ReEncrypt, both blobs again");
    memset(got, 0, sizeof(got));
    is_rv(unwrap_value("set", out, out_len, got), CKR_OK, "  ...and it unwraps");
    ok(memcmp(got, v, 32) == 0, "  ...to the same data key");

    /* The kill switch of the token: moving a blob is a use of the decrypt side. */
    snprintf(path, sizeof(path), "%s/rw", switches);
    f = fopen(path, "w");
    ok(f != NULL && fputs("on by the test\n", f) >= 0 && fclose(f) == 0, "kill switch on");
    usleep(1200 * 1000); /* every process sees it within a second */
    reenc = (ctl_settle(), ctl_count("ReEncrypt"));
    dec = ctl_count("Decrypt");
    out_len = sizeof(out);
    is_rv(rewrap("k", blob, blob_len, out, &out_len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "  ...CKM_P11KMS_REWRAP refused");
    ctl_settle();
    ok(ctl_count("ReEncrypt") == reenc && ctl_count("Decrypt") == dec, "  ...with no KMS call");
    unlink(path);
    stop();
}

int main(void)
{
    const char *id = getenv("P11KMS_AWS_KEY_ID"), *other = getenv("P11KMS_AWS_OTHER_KEY_ID");

    endpoint = getenv("P11KMS_AWS_ENDPOINT");
    if (id == NULL || other == NULL || endpoint == NULL) {
        printf("1..0 # SKIP run through test-aws-keyset.sh (needs the AWS test server)\n");
        return 0;
    }
    snprintf(key_arn, sizeof(key_arn), "arn:aws:kms:us-east-1:111122223333:key/%s", id);
    snprintf(other_arn, sizeof(other_arn), "arn:aws:kms:us-east-1:111122223333:key/%s", other);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", p11_tmp());
    ctl_do("POST", "/reset", "{\"keys\": true}");
    start(config_main());
    test_wrap_and_any_one();
    test_definitive_and_unavailable();
    test_hang();
    test_policies();
    stop();
    test_audit();
    test_rotation();
    test_rewrap_mechanism();
    test_three_kms();
    dlclose(p11_dl);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
