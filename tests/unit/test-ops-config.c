/* test-ops-config.c - the operational configuration fields (config-ops.c): "kill_switch_dir" and
 * a key's "unwrap_cache", their bounds and errors; and the kill switch's file names
 * (killswitch.h), which operators and the tool rely on. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config-load.h"
#include "config-test.h"
#include "killswitch.h"
#include "logcap.h"
#include "tests/test.h"

#define ORIGIN "/etc/test.conf"
#define KEY "{'label': 'k', 'backend': 'local', 'key_id': 'insecure-test-key'"

static CK_RV parse(const char *text, p11kms_config **cfg)
{
    char *d = doc(text);
    CK_RV rv = p11kms_config_parse(d, strlen(d), ORIGIN, cfg);

    free(d);
    return rv;
}

/* Refused with one error line that names path and problem. */
static void bad(const char *text, const char *path, const char *problem, const char *what)
{
    p11kms_config *cfg = NULL;
    const char *log;

    logcap_take();
    is_rv(parse(text, &cfg), CKR_ARGUMENTS_BAD, what);
    log = logcap_take();
    if (!ok(logcap_count(log, "error") == 1 && strstr(log, path) != NULL &&
                strstr(log, problem) != NULL,
            "...one error line naming the field and the problem"))
        diag("want \"%s\" and \"%s\" in: %s", path, problem, log);
    p11kms_config_free(cfg);
}

static p11kms_config *good(const char *text, const char *what)
{
    p11kms_config *cfg = NULL;
    CK_RV rv = parse(text, &cfg);

    is_rv(rv, CKR_OK, what);
    if (rv != CKR_OK)
        diag("log: %s", logcap_take());
    return cfg;
}

static void test_kill_switch_dir(void)
{
    p11kms_config *cfg;

    cfg = good("{'tokens': []}", "no kill_switch_dir");
    ok(cfg && strcmp(p11kms_killswitch_dir(cfg), P11KMS_KILL_SWITCH_DIR_DEFAULT) == 0,
       "...the default directory");
    p11kms_config_free(cfg);
    cfg = good("{'kill_switch_dir': '/srv/ks'}", "an absolute kill_switch_dir");
    ok(cfg && strcmp(p11kms_killswitch_dir(cfg), "/srv/ks") == 0, "...is used");
    p11kms_config_free(cfg);
    cfg = good("{'kill_switch_dir': null}", "kill_switch_dir null");
    ok(cfg && p11kms_killswitch_dir(cfg) == NULL, "...means no kill switch");
    p11kms_config_free(cfg);
    bad("{'kill_switch_dir': 'run/ks'}", "kill_switch_dir", "absolute path",
        "a relative kill_switch_dir is refused");
    bad("{'kill_switch_dir': ''}", "kill_switch_dir", "", "an empty one too");
    bad("{'kill_switch_dir': 5}", "kill_switch_dir", "", "and a number");
}

static void test_unwrap_cache(void)
{
    p11kms_config *cfg;
    const p11kms_unwrap_cache_config *uc;

    cfg = good("{'tokens': [{'label': 't', 'keys': [" KEY "}]}]}", "a key without unwrap_cache");
    ok(cfg && cfg->tokens[0].keys[0].unwrap_cache.max_age_s == 0, "...caches nothing");
    p11kms_config_free(cfg);
    cfg =
        good("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': {'max_age_s': 60}}]}]}",
             "unwrap_cache with max_age_s only");
    uc = cfg ? &cfg->tokens[0].keys[0].unwrap_cache : NULL;
    ok(uc && uc->max_age_s == 60 && uc->max_uses == 0 && uc->max_entries == 100,
       "...no use limit, 100 entries");
    p11kms_config_free(cfg);
    cfg = good("{'tokens': [{'label': 't', 'keys': [" KEY
               ", 'unwrap_cache': {'max_age_s': 86400, 'max_uses': 1000000000, "
               "'max_entries': 4096}}]}]}",
               "unwrap_cache at its upper bounds");
    uc = cfg ? &cfg->tokens[0].keys[0].unwrap_cache : NULL;
    ok(uc && uc->max_age_s == 86400 && uc->max_uses == 1000000000 && uc->max_entries == 4096,
       "...all three read");
    p11kms_config_free(cfg);
    bad("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': {'max_uses': 5}}]}]}",
        "tokens[0].keys[0].unwrap_cache", "max_age_s is required", "max_age_s is required");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': {'max_age_s': 86401}}]}]}",
        "unwrap_cache.max_age_s", "1..86400", "max_age_s 86401 refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': {'max_age_s': 0}}]}]}",
        "unwrap_cache.max_age_s", "1..86400", "max_age_s 0 refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY
        ", 'unwrap_cache': {'max_age_s': 1, 'max_entries': 4097}}]}]}",
        "unwrap_cache.max_entries", "1..4096", "max_entries 4097 refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY
        ", 'unwrap_cache': {'max_age_s': 1, 'max_uses': 0}}]}]}",
        "unwrap_cache.max_uses", "1..", "max_uses 0 refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': {'max_age_s': 1.5}}]}]}",
        "unwrap_cache.max_age_s", "whole number", "a fraction refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY
        ", 'unwrap_cache': {'max_age_s': 1, 'ttl': 5}}]}]}",
        "unwrap_cache.ttl", "unknown field", "an unknown field refused");
    bad("{'tokens': [{'label': 't', 'keys': [" KEY ", 'unwrap_cache': true}]}]}", "unwrap_cache",
        "", "not an object: refused");
}

static void name_is(const char *token, const char *key, const char *want, const char *what)
{
    char out[P11KMS_KILL_SWITCH_NAME_MAX + 1];

    if (!ok(p11kms_killswitch_name(token, key, out, sizeof(out)) == 0 && strcmp(out, want) == 0,
            what))
        diag("got \"%s\", want \"%s\"", out, want);
}

static void test_names(void)
{
    char label[300], out[P11KMS_KILL_SWITCH_NAME_MAX + 1], want[320];

    name_is("app", NULL, "app", "a token's switch: its label");
    name_is("app", "master", "app+master", "a key's: TOKEN+KEY");
    name_is("my app", "a/b+c", "my%20app+a%2Fb%2Bc", "other bytes percent-encoded, '+' too");
    name_is(".hidden", "v1.2", "%2Ehidden+v1.2", "a leading '.' encoded, others kept");
    name_is("app", "\xc3\xa9t\xc3\xa9", "app+%C3%A9t%C3%A9", "UTF-8 bytes one by one");
    name_is("..", "..", "%2E.+%2E.", "no '.' or '..' names");
    memset(label, 'x', 150);
    label[150] = '\0';
    snprintf(want, sizeof(want), "app+%s", label);
    ok(p11kms_killswitch_name("app", label, out, sizeof(out)) == 0 && strcmp(out, want) == 0,
       "a 150-byte encoding kept as it is");
    label[150] = 'x';
    label[151] = '\0';
    ok(p11kms_killswitch_name("app", label, out, sizeof(out)) == 0 &&
           strncmp(out, "app+#", 5) == 0 && strlen(out) == 5 + 64,
       "a longer one: '#' and the SHA-256 of the label");
    memset(label, '/', 256);
    label[256] = '\0';
    ok(p11kms_killswitch_name("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                              "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
                              label, out, sizeof(out)) == 0 &&
           strlen(out) <= 255,
       "the longest token and key labels still fit a file name");
    ok(p11kms_killswitch_name("app", "master", out, 8) == -1, "too small a buffer: -1");
}

/* The switch as setup reads it (the timing is the module tests'): which keys a file stops. */
static void test_check(void)
{
    char dir[] = "/tmp/p11kms-ks-XXXXXX", text[512], path[600];
    p11kms_config *cfg;
    p11kms_key_config stray;
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        exit(1);
    }
    chmod(dir, 0755);
    snprintf(text, sizeof(text),
             "{'kill_switch_dir': '%s', 'tokens': [{'label': 't', 'keys': [" KEY "}, "
             "{'label': 'twin', 'backend': 'local', 'key_id': 'insecure-test-key'}]}, "
             "{'label': 'u', 'keys': [{'label': 'k', 'backend': 'local', "
             "'key_id': 'insecure-test-key'}]}]}",
             dir);
    cfg = good(text, "two tokens, a key with a twin");
    if (cfg == NULL)
        return;
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup");
    is_rv(p11kms_killswitch_check(&cfg->tokens[0].keys[0]), CKR_OK, "no switch: allowed");
    stray = cfg->tokens[0].keys[0];
    is_rv(p11kms_killswitch_check(&stray), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a copy of a key (not the configuration's) is refused, not let through");
    is_rv(p11kms_killswitch_check(NULL), CKR_OK, "no key (an instance made outside a token)");
    snprintf(path, sizeof(path), "%s/t+k", dir);
    if ((f = fopen(path, "w")) != NULL)
        fclose(f);
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup with t+k on");
    is_rv(p11kms_killswitch_check(&cfg->tokens[0].keys[0]), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "t+k stops k");
    is_rv(p11kms_killswitch_check(&cfg->tokens[0].keys[1]), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...and its twin (same KMS key, same token)");
    is_rv(p11kms_killswitch_check(&cfg->tokens[1].keys[0]), CKR_OK,
          "...not the same KMS key on token u");
    unlink(path);
    chmod(dir, 0777);
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup with a directory others may write");
    is_rv(p11kms_killswitch_check(&cfg->tokens[1].keys[0]), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...every key refused (fail closed)");
    chmod(dir, 0755);
    rmdir(dir);
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup with no directory");
    is_rv(p11kms_killswitch_check(&cfg->tokens[0].keys[0]), CKR_OK, "...no switch is on");
    p11kms_killswitch_teardown();
    p11kms_config_free(cfg);
}

/* With key sets (README "Several keys"): a key's switch covers the keys of its token sharing
 * any of its KMS key entries, current or previous, directly (not through a third key). */
static void test_keyset_scope(void)
{
    char dir[] = "/tmp/p11kms-ks-XXXXXX", text[1024], path[600];
    p11kms_config *cfg;
    const p11kms_key_config *k;
    FILE *f;

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        exit(1);
    }
    chmod(dir, 0755);
    snprintf(text, sizeof(text),
             "{'kill_switch_dir': '%s', 'tokens': [{'label': 't', 'keys': ["
             "{'label': 'set', 'kms': [{'backend': 'local', 'key_file': '/a.key'}, "
             "{'backend': 'local', 'key_file': '/b.key'}]}, "
             "{'label': 'old', 'kms': [{'backend': 'local', 'key_file': '/c.key'}], "
             "'previous': [{'backend': 'local', 'key_file': '/b.key'}]}, "
             "{'label': 'c', 'backend': 'local', 'key_file': '/c.key'}, "
             "{'label': 'a2', 'backend': 'local', 'key_id': '/a.key', 'key_file': '/x.key'}]}]}",
             dir);
    logcap_take();
    cfg = good(text, "key sets sharing entries");
    if (cfg == NULL)
        return;
    k = cfg->tokens[0].keys;
    ok(p11kms_killswitch_same_kms_key(&k[0], &k[1]) && p11kms_killswitch_same_kms_key(&k[1], &k[0]),
       "a current entry shared with another key's previous one: they share a KMS key");
    ok(p11kms_killswitch_same_kms_key(&k[1], &k[2]), "a key set and a single key naming its entry");
    ok(!p11kms_killswitch_same_kms_key(&k[0], &k[2]), "no entry in common: not the same");
    ok(!p11kms_killswitch_same_kms_key(&k[0], &k[3]), "same key_id, other options: not the same");
    snprintf(path, sizeof(path), "%s/t+set", dir);
    if ((f = fopen(path, "w")) != NULL)
        fclose(f);
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup with t+set on");
    is_rv(p11kms_killswitch_check(&k[0]), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "t+set stops set (two KMS entries)");
    is_rv(p11kms_killswitch_check(&k[1]), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "...and old, whose previous entry is set's second");
    is_rv(p11kms_killswitch_check(&k[2]), CKR_OK, "...not c, which shares an entry only with old");
    is_rv(p11kms_killswitch_check(&k[3]), CKR_OK, "...nor a2 (other options)");
    unlink(path);
    snprintf(path, sizeof(path), "%s/t+c", dir);
    if ((f = fopen(path, "w")) != NULL)
        fclose(f);
    is_rv(p11kms_killswitch_setup(cfg), CKR_OK, "setup with t+c on");
    ok(p11kms_killswitch_check(&k[2]) == CKR_KEY_FUNCTION_NOT_PERMITTED &&
           p11kms_killswitch_check(&k[1]) == CKR_KEY_FUNCTION_NOT_PERMITTED &&
           p11kms_killswitch_check(&k[0]) == CKR_OK,
       "t+c stops c and old (current entry c), not set");
    unlink(path);
    rmdir(dir);
    p11kms_killswitch_teardown();
    p11kms_config_free(cfg);
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_ERROR);
    test_kill_switch_dir();
    test_unwrap_cache();
    test_names();
    test_check();
    test_keyset_scope();
    return test_exit_code();
}
