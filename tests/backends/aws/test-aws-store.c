/* test-aws-store.c - the object store with the aws backend against the loopback AWS KMS test
 * server: storing a key is one KMS Encrypt whose context names the object, the token and the
 * attributes' hash (as CloudTrail would record it); a new instance finds stored objects without
 * any KMS call; the first use is exactly one Decrypt with that context, whatever the threads
 * asking at once, and later uses none; a KMS refusal that is no tampering (access denied) leaves
 * the object for a retry; a disabled KMS key switches stored keys off until it is enabled again;
 * p11kms store rewrap goes through ReEncrypt. A storage key with two KMS entries (the AWS test
 * server and a local key) seals one blob per entry, and a stored key unseals with the AWS server
 * unreachable (failover on the availability fault), once per process; the audit trail records
 * every store seal and unseal. Run by test-aws-store.sh. */
#include <pthread.h>
#include <openssl/sha.h>
#include "tests/module/p11.h"
#include "tests/module/store-files.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define THREADS 4

static char dir[400], conf[400];

static long requests(void)
{
    json_object *o;
    long n = 0;

    ctl_settle();
    o = ctl("GET", "/counters", NULL);
    if (o != NULL) {
        json_object *r;
        if (json_object_object_get_ex(o, "requests", &r)) {
            json_object_object_foreach(r, k, v)
            {
                (void)k;
                n += (long)json_object_get_int64(v);
            }
        }
    }
    json_object_put(o);
    return n;
}

static void start(void)
{
    p11->C_Finalize(NULL);
    if (p11_init_config(conf) != CKR_OK) {
        printf("Bail out! C_Initialize\n");
        exit(1);
    }
}

/* Whether the last request was op with the stored-object context of file name in dir. */
static int context_of(const char *op, const char *name)
{
    json_object *last = ctl_last_request(), *ctx = NULL;
    uint8_t file[SF_FILE_MAX], md[SHA256_DIGEST_LENGTH];
    char object[33], attrs[65];
    long len = sf_read(sf_path(dir, name), file, sizeof(file));
    int i, good;

    if (last == NULL || len <= 0)
        return 0;
    SHA256(file, (size_t)sf_prefix_len(file), md);
    for (i = 0; i < 32; i++)
        snprintf(attrs + 2 * i, 3, "%02x", md[i]);
    snprintf(object, sizeof(object), "%.32s", name);
    json_object_object_get_ex(last, "encryption_context", &ctx);
    good = strcmp(json_str(last, "op"), op) == 0 && strcmp(json_str(last, "status"), "200") == 0 &&
           strcmp(json_str(ctx, "p11kms:purpose"), "stored-object") == 0 &&
           strcmp(json_str(ctx, "p11kms:object"), object) == 0 &&
           strcmp(json_str(ctx, "p11kms:token"), "aws-store") == 0 &&
           strcmp(json_str(ctx, "p11kms:attrs"), attrs) == 0 && json_object_object_length(ctx) == 4;
    if (!good)
        diag("last request: %s", json_object_to_json_string(last));
    json_object_put(last);
    return good;
}

static CK_OBJECT_HANDLE the_key;
static void *use_key(void *arg);

#define DEAD "http://127.0.0.1:1" /* nothing listens: connection refused at once */

static char audit_path[400];

/* Lines of the audit trail for a store operation of one backend with one outcome. */
static int audited(const char *op, const char *backend, const char *outcome)
{
    FILE *f = fopen(audit_path, "r");
    char line[8192], o[64], b[64], r[64];
    int n = 0;

    if (f == NULL)
        return 0;
    snprintf(o, sizeof(o), "\"op\":\"%s\"", op);
    snprintf(b, sizeof(b), "\"backend\":\"%s\"", backend);
    snprintf(r, sizeof(r), "\"outcome\":\"%s\"", outcome);
    while (fgets(line, sizeof(line), f))
        if (strstr(line, o) && strstr(line, b) && strstr(line, r) &&
            strstr(line, "\"token\":\"aws-set\"") && strstr(line, "\"key\":\"set\""))
            n++;
    fclose(f);
    return n;
}

/* The token "aws-set" whose storage key "set" is a key set of the AWS test server's key and a
 * local key; aws_endpoint "" is the test server, DEAD an address where nothing listens. */
static const char *set_config(const char *name, const char *set_dir, const char *aws_endpoint)
{
    static char text[2048];
    char endpoint[600] = "";

    if (*aws_endpoint)
        snprintf(endpoint, sizeof(endpoint), ", \"endpoint\": \"%s\"", aws_endpoint);
    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\", \"max_attempts\": 1}},\n"
             " \"audit\": {\"destination\": \"file:%s\"},\n"
             " \"tokens\": [{\"label\": \"aws-set\", \"store\": \"%s\", \"keys\": [\n"
             "  {\"label\": \"set\", \"kms\": [\n"
             "    {\"backend\": \"aws\", \"key_id\": \"%s\"%s},\n"
             "    {\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}]}\n",
             getenv("P11KMS_AWS_ENDPOINT"), audit_path, set_dir, getenv("P11KMS_AWS_KEY_ARN"),
             endpoint);
    return p11_write(name, text, 0600);
}

/* A storage key with two KMS entries: one blob per entry, any one unseals; the AWS server
 * unreachable, the local entry serves (failover on the availability fault only), once per
 * process; every seal and unseal is in the audit trail; rewrap keeps both entries. */
static void test_key_set(void)
{
    char set_dir[400], up[400], down[400], cmd[1200];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    CK_RV rv;
    long enc, dec, all, reenc;

    snprintf(set_dir, sizeof(set_dir), "%s/store-set", p11_tmp());
    snprintf(audit_path, sizeof(audit_path), "%s/store-audit.jsonl", p11_tmp());
    snprintf(up, sizeof(up), "%s", set_config("set-up.conf", set_dir, ""));
    snprintf(down, sizeof(down), "%s", set_config("set-down.conf", set_dir, DEAD));

    snprintf(conf, sizeof(conf), "%s", up);
    start();
    s = p11_open(0);
    enc = ctl_count("Encrypt");
    is_rv(sf_token_key(s, "in-set", 32, CK_TRUE, CK_FALSE, &h), CKR_OK,
          "a token key sealed by a key set of aws + local");
    is_num(ctl_count("Encrypt") - enc, 1, "one AWS Encrypt (the other blob is the local key's)");
    ok(audited("store-seal", "aws", "ok") == 1 && audited("store-seal", "local", "ok") == 1,
       "the audit trail records the store seal by both entries");

    start();
    s = p11_open(0);
    all = requests();
    h = p11_find_label(s, "in-set");
    ok(h != CK_INVALID_HANDLE, "a new instance finds it");
    is_num(requests() - all, 0, "with no KMS call");
    dec = ctl_count("Decrypt");
    the_key = h;
    use_key(&rv);
    is_rv(rv, CKR_OK, "both entries reachable: it is used");
    use_key(&rv);
    is_num(ctl_count("Decrypt") - dec, 1, "one AWS Decrypt (the first entry), for both uses");
    ok(audited("store-open", "aws", "ok") == 1 && audited("store-open", "local", "ok") == 0,
       "the audit trail records the unseal, by the AWS entry only");

    /* The AWS server unreachable: the local entry opens the same file. */
    snprintf(conf, sizeof(conf), "%s", down);
    start();
    s = p11_open(0);
    h = p11_find_label(s, "in-set");
    ok(h != CK_INVALID_HANDLE, "AWS unreachable: a new instance finds the stored key");
    dec = ctl_count("Decrypt");
    the_key = h;
    use_key(&rv);
    is_rv(rv, CKR_OK, "and uses it: the local entry unseals it after the connection failure");
    use_key(&rv);
    is_rv(rv, CKR_OK, "again");
    is_num(ctl_count("Decrypt") - dec, 0, "the AWS test server was not reached");
    ok(audited("store-open", "aws", "unavailable") == 1 &&
           audited("store-open", "local", "ok") == 1,
       "audit: aws unavailable once, then local served once (one unseal per process)");

    /* A definitive refusal by the first entry asks no other KMS. */
    snprintf(conf, sizeof(conf), "%s", up);
    start();
    s = p11_open(0);
    the_key = p11_find_label(s, "in-set");
    ctl_fault("Decrypt", "error", 1,
              ", \"status\": 400, \"type\": \"AccessDeniedException\", \"message\": \"no\"");
    use_key(&rv);
    is_rv(rv, CKR_KEY_FUNCTION_NOT_PERMITTED, "AWS denies access: the use fails");
    is_num(audited("store-open", "local", "ok"), 1, "and the local entry was not asked");
    ctl_clear_faults();

    /* Rewrap to the set's current entries: ReEncrypt for both blobs, the file key stays in the
     * KMSs; the rewrapped file still opens with AWS unreachable. */
    p11->C_Finalize(NULL);
    reenc = ctl_count("ReEncrypt");
    dec = ctl_count("Decrypt");
    snprintf(cmd, sizeof(cmd), "'%s/p11kms' store rewrap --config '%s' >/dev/null",
             getenv("top_builddir"), up);
    is_num(system(cmd), 0, "p11kms store rewrap of the key set's store");
    is_num(ctl_count("ReEncrypt") - reenc, 1, "one AWS ReEncrypt");
    is_num(ctl_count("Decrypt") - dec, 0, "no Decrypt");
    snprintf(conf, sizeof(conf), "%s", down);
    start();
    s = p11_open(0);
    the_key = p11_find_label(s, "in-set");
    use_key(&rv);
    is_rv(rv, CKR_OK, "the rewrapped key unseals with AWS unreachable (its local blob)");
    p11->C_Finalize(NULL);
}

static void *use_key(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    uint8_t pt[16] = {0}, ct[64];
    CK_ULONG n = sizeof(ct);

    *(CK_RV *)arg = sf_gcm(s, 1, the_key, pt, sizeof(pt), ct, &n);
    p11->C_CloseSession(s);
    return NULL;
}

int main(void)
{
    char text[2048], before[8][SF_NAME], after[8][SF_NAME], name[SF_NAME], cmd[1200];
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    CK_RV rvs[THREADS];
    pthread_t th[THREADS];
    long enc, dec, all;
    int i, nb, na, fine;

    test_start();
    p11_load();
    snprintf(dir, sizeof(dir), "%s/store", p11_tmp());
    snprintf(text, sizeof(text),
             "{\"backends\": {\"aws\": {\"endpoint\": \"%s\", \"max_attempts\": 1}},\n"
             " \"tokens\": [{\"label\": \"aws-store\", \"store\": \"%s\", \"keys\": [\n"
             "  {\"label\": \"kms\", \"backend\": \"aws\", \"key_id\": \"%s\"}]}]}\n",
             getenv("P11KMS_AWS_ENDPOINT"), dir, getenv("P11KMS_AWS_KEY_ARN"));
    snprintf(conf, sizeof(conf), "%s", p11_write("aws-store.conf", text, 0600));

    all = requests();
    start();
    is_num(requests() - all, 0, "C_Initialize calls no KMS");
    s = p11_open(0);
    enc = ctl_count("Encrypt");
    nb = sf_list(dir, before, 8);
    is_rv(sf_token_key(s, "stored", 32, CK_TRUE, CK_FALSE, &h), CKR_OK, "a token key");
    na = sf_list(dir, after, 8);
    snprintf(name, sizeof(name), "%s", sf_new_file(before, nb < 0 ? 0 : nb, after, na));
    is_num(ctl_count("Encrypt") - enc, 1, "stored with one KMS Encrypt");
    ok(name[0] && context_of("Encrypt", name),
       "its context: purpose stored-object, the object id, the token, the attributes' SHA-256");

    start();
    s = p11_open(0);
    all = requests();
    is_num(p11_count(s), 2, "a new instance finds the KMS key and the stored key");
    h = p11_find_label(s, "stored");
    is_num(requests() - all, 0, "finding and listing call no KMS");
    dec = ctl_count("Decrypt");
    the_key = h;
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, use_key, &rvs[i]);
    for (i = 0, fine = 1; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        fine = fine && rvs[i] == CKR_OK;
    }
    ok(fine, "four threads use it at once");
    is_num(ctl_count("Decrypt") - dec, 1, "the first use is exactly one KMS Decrypt");
    ok(context_of("Decrypt", name), "with the object's context in the server's log");
    all = requests();
    use_key(&rvs[0]);
    use_key(&rvs[1]);
    is_num(requests() - all, 0, "later uses call no KMS");

    /* A KMS that says no for another reason than the ciphertext: the object stays. */
    start();
    s = p11_open(0);
    h = p11_find_label(s, "stored");
    ctl_fault("Decrypt", "error", 1,
              ", \"status\": 400, \"type\": \"AccessDeniedException\", \"message\": \"no\"");
    the_key = h;
    use_key(&rvs[0]);
    is_rv(rvs[0], CKR_KEY_FUNCTION_NOT_PERMITTED,
          "access denied: the use fails with the KMS's "
          "answer");
    use_key(&rvs[0]);
    is_rv(rvs[0], CKR_OK, "and the object is still there for the next try");

    /* The switch-off: with the KMS key disabled a new process still finds the stored key (no
     * KMS call) but cannot use it; enabled again, it can. */
    snprintf(text, sizeof(text), "{\"key_id\": \"%s\"}", getenv("P11KMS_AWS_KEY_ARN"));
    ctl_do("POST", "/disable", text);
    start();
    s = p11_open(0);
    h = p11_find_label(s, "stored");
    ok(h != CK_INVALID_HANDLE, "the KMS key disabled: a new instance still finds the stored key");
    the_key = h;
    dec = ctl_count("Decrypt");
    use_key(&rvs[0]);
    is_rv(rvs[0], CKR_KEY_FUNCTION_NOT_PERMITTED, "but cannot use it (DisabledException)");
    is_num(ctl_count("Decrypt") - dec, 1, "the KMS said no to the one Decrypt it was asked");
    ctl_do("POST", "/enable", text);
    use_key(&rvs[0]);
    is_rv(rvs[0], CKR_OK, "the KMS key enabled again: the stored key works");

    /* Rewrap through ReEncrypt: the key never leaves the KMS. */
    p11->C_Finalize(NULL);
    enc = ctl_count("ReEncrypt");
    dec = ctl_count("Decrypt");
    snprintf(cmd, sizeof(cmd), "'%s/p11kms' store rewrap --config '%s' >/dev/null",
             getenv("top_builddir"), conf);
    is_num(system(cmd), 0, "p11kms store rewrap");
    is_num(ctl_count("ReEncrypt") - enc, 1, "one ReEncrypt");
    is_num(ctl_count("Decrypt") - dec, 0, "no Decrypt: the file key stays in the KMS");
    start();
    s = p11_open(0);
    the_key = p11_find_label(s, "stored");
    use_key(&rvs[0]);
    is_rv(rvs[0], CKR_OK, "the rewrapped key works");
    p11->C_Finalize(NULL);
    test_key_set();
    ctl_close();
    return test_exit_code();
}
