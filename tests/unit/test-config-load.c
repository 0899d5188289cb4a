/* test-config-load.c - where the configuration comes from: an explicit path, P11KMS_CONFIG, the
 * default path, KMS_KEY_ID quick mode (every backend's forms, and the refusals), an empty
 * configuration; the file rules (modes, directories, nothing created); the example file. */
#include <sys/stat.h>
#include <unistd.h>
#include "backend.h"
#include "config-load.h"
#include "config-test.h"
#include "logcap.h"
#include "tests/test.h"

static char tmpdir[64];

static char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4], *d = doc(text);
    FILE *f;

    snprintf(p, 128, "%s/%s", tmpdir, name);
    f = fopen(p, "w");
    fputs(d, f);
    fclose(f);
    chmod(p, mode);
    free(d);
    return p;
}

static void test_load(void)
{
    p11kms_config *cfg = NULL;
    const char *log;
    char *p, missing[160];

    unsetenv("P11KMS_CONFIG");
    unsetenv("KMS_KEY_ID");
    p = write_file("a.conf", "{'tokens': [{'label': 'from-a'}]}", 0644);
    is_rv(p11kms_config_load(p, NULL, &cfg), CKR_OK, "explicit path");
    ok(cfg != NULL && strcmp(cfg->tokens[0].label, "from-a") == 0 && strcmp(cfg->path, p) == 0,
       "explicit path loaded, path recorded");
    p11kms_config_free(cfg);

    snprintf(missing, sizeof(missing), "%s/missing.conf", tmpdir);
    logcap_take();
    is_rv(p11kms_config_load(missing, p, &cfg), CKR_ARGUMENTS_BAD, "missing explicit path");
    log = logcap_take();
    ok(strstr(log, missing) != NULL && logcap_count(log, "error") == 1,
       "one error line naming the missing file");

    setenv("P11KMS_CONFIG", p, 1);
    is_rv(p11kms_config_load(NULL, NULL, &cfg), CKR_OK, "P11KMS_CONFIG");
    ok(cfg != NULL && cfg->n_tokens == 1, "P11KMS_CONFIG loaded");
    p11kms_config_free(cfg);
    setenv("P11KMS_CONFIG", missing, 1);
    is_rv(p11kms_config_load(NULL, p, &cfg), CKR_ARGUMENTS_BAD,
          "P11KMS_CONFIG must exist, even with a default path");
    ok(strstr(logcap_take(), missing) != NULL, "error names it");
    unsetenv("P11KMS_CONFIG");

    is_rv(p11kms_config_load(NULL, p, &cfg), CKR_OK, "default path");
    ok(cfg != NULL && strcmp(cfg->path, p) == 0, "default path loaded");
    p11kms_config_free(cfg);
    setenv("KMS_KEY_ID", "insecure-test-key", 1);
    is_rv(p11kms_config_load(NULL, p, &cfg), CKR_OK, "default path wins over KMS_KEY_ID");
    ok(cfg != NULL && strcmp(cfg->tokens[0].label, "from-a") == 0, "file, not quick mode");
    p11kms_config_free(cfg);
    is_rv(p11kms_config_load(NULL, missing, &cfg), CKR_OK, "missing default: quick mode");
    ok(cfg != NULL && cfg->path == NULL && strcmp(cfg->tokens[0].label, "p11kms") == 0,
       "quick mode from KMS_KEY_ID");
    p11kms_config_free(cfg);
    unsetenv("KMS_KEY_ID");
    is_rv(p11kms_config_load(NULL, missing, &cfg), CKR_OK, "nothing at all");
    ok(cfg != NULL && cfg->n_tokens == 0 && cfg->path == NULL, "empty configuration");
    p11kms_config_free(cfg);
    is_rv(p11kms_config_load(NULL, NULL, &cfg), CKR_OK, "no default path either");
    p11kms_config_free(cfg);
    ok(access(missing, F_OK) != 0, "no file was created");

    p = write_file("g.conf", "{}", 0664);
    logcap_take();
    is_rv(p11kms_config_load(p, NULL, &cfg), CKR_ARGUMENTS_BAD, "group-writable refused");
    log = logcap_take();
    ok(strstr(log, p) != NULL && strstr(log, "0664") != NULL, "error names file and mode");
    is_num(logcap_count(log, "error"), 1, "one error line");
    p = write_file("o.conf", "{}", 0602);
    is_rv(p11kms_config_load(p, NULL, &cfg), CKR_ARGUMENTS_BAD, "other-writable refused");
    ok(strstr(logcap_take(), "0602") != NULL, "mode 0602 named");
    p = write_file("r.conf", "{}", 0400);
    is_rv(p11kms_config_load(p, NULL, &cfg), CKR_OK, "read-only file is fine");
    p11kms_config_free(cfg);
    is_rv(p11kms_config_load(tmpdir, NULL, &cfg), CKR_ARGUMENTS_BAD, "a directory is refused");
    ok(strstr(logcap_take(), "not a regular file") != NULL, "says not a regular file");
    is_rv(p11kms_config_load(tmpdir, NULL, &cfg), CKR_ARGUMENTS_BAD, "explicit directory");
    is_rv(p11kms_config_load(NULL, tmpdir, &cfg), CKR_ARGUMENTS_BAD,
          "a default path that exists but is a directory is an error");

    p = write_file("e.conf",
                   "{'tokens': [{'label': 'a', 'keys': [{'label': 'k', "
                   "'backend': 'local', 'key_id': 'x'}]}]}",
                   0600);
    logcap_take();
    is_rv(p11kms_config_load(p, NULL, &cfg), CKR_ARGUMENTS_BAD, "invalid file");
    log = logcap_take();
    {
        char want[200];
        snprintf(want, sizeof(want), "%s: tokens[0].keys[0]: ", p);
        ok(strstr(log, want) != NULL && logcap_count(log, "error") == 1,
           "error line names the file and the field path");
    }
}

/* Quick mode: for backends not in this build, the form is recognised and refused as such. */
static void quick(const char *id, const char *backend, const char *key_id, const char *key_file)
{
    p11kms_config *cfg = NULL;
    p11kms_key_config *kc;
    char what[200];
    CK_RV rv;

    logcap_take();
    rv = p11kms_config_quick(id, &cfg);
    snprintf(what, sizeof(what), "quick %s -> %s", id, backend);
    if (p11kms_backend_find(backend) == NULL) {
        is_rv(rv, CKR_ARGUMENTS_BAD, what);
        ok(strstr(logcap_take(), "is not available in this build") != NULL,
           "recognised, but the backend is not built in");
        return;
    }
    is_rv(rv, CKR_OK, what);
    if (cfg == NULL)
        return;
    kc = &cfg->tokens[0].keys[0];
    ok(cfg->n_tokens == 1 && strcmp(cfg->tokens[0].label, "p11kms") == 0 &&
           cfg->tokens[0].pin == NULL && cfg->tokens[0].n_keys == 1 &&
           strcmp(kc->label, "default") == 0 && kc->perms == P11KMS_PERM_ALL &&
           kc->context->n == 0 && kc->id_len == 8 && cfg->path == NULL,
       "one token p11kms, one key default, all permissions, empty context");
    ok(strcmp(kc->backend, backend) == 0 && strcmp(kc->key_id, key_id) == 0, "backend, key_id");
    if (key_file != NULL)
        ok(strcmp(p11kms_key_config_option(kc, "key_file"), key_file) == 0, "key_file option");
    else
        is_num(kc->n_options, 0, "no options");
    ok(strstr(kc->origin, "KMS_KEY_ID") != NULL, "origin names KMS_KEY_ID");
    p11kms_config_free(cfg);
}

static void quick_bad(const char *id)
{
    p11kms_config *cfg = (p11kms_config *)1;
    const char *log;
    char what[200];

    snprintf(what, sizeof(what), "quick \"%s\" refused", id);
    logcap_take();
    is_rv(p11kms_config_quick(id, &cfg), CKR_ARGUMENTS_BAD, what);
    log = logcap_take();
    ok(cfg == NULL && logcap_count(log, "error") == 1 && strstr(log, "alias/NAME") != NULL &&
           strstr(log, "vault/NAME") != NULL,
       "one error line listing the accepted forms");
}

static void test_quick(void)
{
    quick("insecure-test-key", "local", "insecure-test-key", NULL);
    quick("local:/etc/p11kms/k.key", "local", "/etc/p11kms/k.key", "/etc/p11kms/k.key");
    quick("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "aws",
          "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", NULL);
    quick("alias/billing", "aws", "alias/billing", NULL);
    quick("1234abcd-12ab-34cd-56ef-1234567890AB", "aws", "1234abcd-12ab-34cd-56ef-1234567890AB",
          NULL);
    quick("mrk-1234abcd12ab34cd56ef1234567890ab", "aws", "mrk-1234abcd12ab34cd56ef1234567890ab",
          NULL);
    quick("projects/p/locations/global/keyRings/r/cryptoKeys/k", "gcp",
          "projects/p/locations/global/keyRings/r/cryptoKeys/k", NULL);
    quick("vault/transit-key", "vault", "transit-key", NULL);
    quick_bad("");
    quick_bad("my-key");
    quick_bad("local:");
    quick_bad("alias/");
    quick_bad("vault/");
    quick_bad("vault/a/b");
    quick_bad("mrk-1234");
    quick_bad("1234abcd-12ab-34cd-56ef-1234567890a");
    quick_bad("1234abcd-12ab-34cd-56ef_1234567890ab");
    quick_bad("projects/p/locations/l/keyRings/r/cryptoKeys/");
    quick_bad("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1");
    quick_bad("projects/p/places/l/keyRings/r/cryptoKeys/k");
    quick_bad("arn:aws:kms:");
    quick_bad("insecure-test-key2");
}

/* conf/p11kms.conf.example must stay a valid configuration. */
static void test_example(void)
{
    const char *src = getenv("top_srcdir");
    p11kms_config *cfg = NULL;
    char path[4096];

    if (src == NULL) {
        test_skip("top_srcdir not set: conf/p11kms.conf.example not checked");
        return;
    }
    snprintf(path, sizeof(path), "%s/conf/p11kms.conf.example", src);
    setenv("P11KMS_APP_PIN", "1234", 1);
    /* The file in the source tree may be group-writable; parse its text. */
    {
        FILE *f = fopen(path, "r");
        char *text = malloc(65536);
        size_t n = f != NULL ? fread(text, 1, 65536, f) : 0;
        if (f != NULL)
            fclose(f);
        is_rv(p11kms_config_parse(text, n, path, &cfg), CKR_OK, "the example configuration");
        free(text);
    }
    ok(cfg != NULL && cfg->n_tokens == 2 && cfg->tokens[0].n_keys == 2 &&
           strcmp(cfg->tokens[0].pin, "1234") == 0 &&
           strcmp(cfg->tokens[0].keys[0].key_id, "/etc/p11kms/local.key") == 0 &&
           cfg->tokens[0].keys[0].unwrap_template.n == 2 &&
           strcmp(cfg->tokens[0].store, "/var/lib/p11kms/app") == 0 &&
           strcmp(cfg->tokens[0].storage_key, "master") == 0,
       "example: tokens, keys, pin from env, key_file default, unwrap template, store");
    p11kms_config_free(cfg);
    unsetenv("P11KMS_APP_PIN");
}

int main(void)
{
    test_start();
    strcpy(tmpdir, "/tmp/p11kms-test-config-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 99;
    logcap_start(P11KMS_LOG_ERROR);
    test_load();
    test_quick();
    test_example();
    {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            diag("could not remove %s", tmpdir);
    }
    return test_exit_code();
}
