/* test-ops-config.c - the operational configuration fields (config-ops.c): "kill_switch_dir" and
 * a key's "unwrap_cache", their bounds and errors; and the kill switch's file names
 * (killswitch.h), which operators and the tool rely on. */
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

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_ERROR);
    test_kill_switch_dir();
    test_unwrap_cache();
    test_names();
    return test_exit_code();
}
