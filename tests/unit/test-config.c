/* test-config.c - the JSON configuration document: every field rule and bound (+/-1), backend
 * defaults, wrap/unwrap templates, the one error line (origin, field path, problem). Files, path
 * resolution and quick mode: test-config-load.c. */
#include <openssl/evp.h>
#include "attr-rules.h"
#include "backend.h"
#include "config-load.h"
#include "config-test.h"
#include "logcap.h"
#include "tests/test.h"

#define ORIGIN "/etc/test.conf"

static CK_RV parse(const char *text, p11kms_config **cfg)
{
    char *d = doc(text);
    CK_RV rv = p11kms_config_parse(d, strlen(d), ORIGIN, cfg);

    free(d);
    return rv;
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

/* Refused with exactly one error line naming the origin, the field path and the problem. */
static void bad_origin(const char *text, size_t len, const char *origin, const char *path,
                       const char *problem, const char *what)
{
    p11kms_config *cfg = (p11kms_config *)1;
    char *d = doc(text), want[300];
    const char *log;

    logcap_take();
    is_rv(p11kms_config_parse(d, len ? len : strlen(d), origin, &cfg), CKR_ARGUMENTS_BAD, what);
    ok(cfg == NULL, "no configuration on failure");
    log = logcap_take();
    snprintf(want, sizeof(want), "%s: %s: ", origin, path);
    is_num(logcap_count(log, "error"), 1, "exactly one error line");
    if (!ok(strstr(log, want) != NULL && strstr(log, problem) != NULL, "line names path, problem"))
        diag("want \"%s\" and \"%s\" in: %s", want, problem, log);
    free(d);
}

static void bad(const char *text, const char *path, const char *problem, const char *what)
{
    bad_origin(text, 0, ORIGIN, path, problem, what);
}

/* text with its one "@" replaced by value (malloc'd). */
static char *subst(const char *text, const char *value)
{
    const char *at = strchr(text, '@');
    size_t head = (size_t)(at - text), n = strlen(text) + strlen(value);
    char *out = malloc(n);

    memcpy(out, text, head);
    strcpy(out + head, value);
    strcat(out, at + 1);
    return out;
}

/*
 * A length bound: doc (one '@' for the value) with max + 1 bytes is refused at path with
 * problem; with max bytes it parses. Returns that configuration for further checks.
 */
static p11kms_config *bound(const char *doc_text, size_t max, const char *path, const char *problem,
                            const char *what)
{
    char *value = malloc(max + 2), *text, label[160];
    p11kms_config *cfg;

    memset(value, 'x', max + 1);
    value[max + 1] = '\0';
    text = subst(doc_text, value);
    snprintf(label, sizeof(label), "%s: %zu bytes refused", what, max + 1);
    bad(text, path, problem, label);
    free(text);
    value[max] = '\0';
    text = subst(doc_text, value);
    snprintf(label, sizeof(label), "%s: %zu bytes accepted", what, max);
    cfg = good(text, label);
    free(value);
    free(text);
    return cfg;
}

static void test_full_document(void)
{
    p11kms_config *cfg = good("{'log': {'level': 'debug', 'destination': 'file:/var/log/p.log'},"
                              " 'backends': {'local': {'key_file': '/etc/p11kms/default.key'}},"
                              " 'tokens': ["
                              "  {'label': 'app', 'pin': '1234', 'keys': ["
                              "    {'label': 'master', 'backend': 'local',"
                              "     'key_id': 'insecure-test-key', 'key_file': '/k/own.key',"
                              "     'permissions': ['unwrap', 'wrap'],"
                              "     'context': {'app': 'billing', 'env': 'prod'}, 'id': 'A1b2'},"
                              "    {'label': 'second', 'backend': 'local'}]},"
                              "  {'label': 'other', 'keys': []},"
                              "  {'label': 'nokeys'}]}",
                              "full document");
    p11kms_key_config *k0, *k1;

    if (cfg == NULL)
        return;
    is_num(cfg->log_level, P11KMS_LOG_DEBUG, "log level");
    ok(strcmp(cfg->log_destination, "file:/var/log/p.log") == 0, "log destination");
    ok(cfg->path == NULL, "parse does not set path");
    is_num(cfg->n_tokens, 3, "three tokens");
    ok(strcmp(cfg->tokens[0].label, "app") == 0 && strcmp(cfg->tokens[0].pin, "1234") == 0,
       "token label and pin");
    ok(cfg->tokens[1].pin == NULL && cfg->tokens[1].n_keys == 0, "no pin, no keys");
    ok(cfg->tokens[2].n_keys == 0, "keys may be absent");
    is_num(cfg->tokens[0].n_keys, 2, "two keys");
    k0 = &cfg->tokens[0].keys[0];
    k1 = &cfg->tokens[0].keys[1];
    ok(strcmp(k0->label, "master") == 0 && strcmp(k0->backend, "local") == 0 &&
           strcmp(k0->key_id, "insecure-test-key") == 0,
       "key label, backend, key_id");
    is_num(k0->perms, P11KMS_PERM_WRAP | P11KMS_PERM_UNWRAP, "permissions");
    ok(k0->context->n == 2 && strcmp(p11kms_context_get(k0->context, "app"), "billing") == 0,
       "default context");
    ok(k0->id_len == 2 && k0->id[0] == 0xa1 && k0->id[1] == 0xb2, "explicit id, mixed case hex");
    is_num(k0->n_options, 1, "one option");
    ok(strcmp(p11kms_key_config_option(k0, "key_file"), "/k/own.key") == 0,
       "the key's own option wins over the backend default");
    ok(strcmp(k0->origin, ORIGIN " tokens[0].keys[0]") == 0, "origin names file and key");
    ok(strcmp(p11kms_key_config_option(k1, "key_file"), "/etc/p11kms/default.key") == 0,
       "backend default merged");
    ok(strcmp(k1->key_id, "/etc/p11kms/default.key") == 0, "local key_id defaults to key_file");
    is_num(k1->perms, P11KMS_PERM_ALL, "permissions default to all four");
    ok(k1->context != NULL && k1->context->n == 0, "context defaults to empty");
    ok(p11kms_key_config_option(k1, "region") == NULL, "absent option is NULL");
    ok(strcmp(k1->origin, ORIGIN " tokens[0].keys[1]") == 0, "second key origin");
    {
        /* Default CKA_ID: first 8 bytes of SHA-256(backend NUL key_id NUL label). */
        static const char in[] = "local\0/etc/p11kms/default.key\0second";
        uint8_t md[32];
        EVP_Digest(in, sizeof(in) - 1, md, NULL, EVP_sha256(), NULL);
        ok(k1->id_len == 8 && memcmp(k1->id, md, 8) == 0, "default id is SHA-256 based");
    }
    p11kms_config_free(cfg);

    cfg = good("{}", "empty object");
    ok(cfg != NULL && cfg->n_tokens == 0 && cfg->log_level == -1 && cfg->log_destination == NULL,
       "empty document: no tokens, log not set");
    p11kms_config_free(cfg);
    cfg = good(" \n{'log': {'level': 'none'}}\n\n", "surrounding whitespace");
    ok(cfg != NULL && cfg->log_level == P11KMS_LOG_NONE, "level none");
    p11kms_config_free(cfg);
}

#define PKEY(x)                                                                                    \
    "{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 'local', 'key_id': "            \
    "'insecure-test-key', " x "}]}]}"

static void test_syntax(void)
{
    bad("{'tokens': [}", "(document)", "line 1 column 13", "syntax error with position");
    bad("{'a':\n  1,}", "(document)", "line 2", "syntax error on line 2");
    bad("{'tokens': []", "(document)", "unexpected end", "truncated document");
    bad("{} {}", "(document)", "line 1", "two documents");
    bad("{} x", "(document)", "column", "trailing text");
    bad("", "(document)", "unexpected end", "empty input");
    bad("[]", "(document)", "must be an object, not array", "root must be an object");
    bad("{'tokens': [{'label': 'a\\u0000b'}]}", "(document)", "\\u0000", "escaped NUL refused");
    bad_origin("{}\0", 3, ORIGIN, "(document)", "NUL byte", "raw NUL refused");
    bad("{'tokens':[{'label':'\xc0\x80'}]}", "tokens[0].label", "UTF-8", "overlong UTF-8");
    bad("{'tokens':[{'label':'\xed\xa0\x80'}]}", "tokens[0].label", "UTF-8", "surrogate");
    bad("{'tokens':[{'label':'\xff'}]}", "(document)", "", "invalid byte");
    bad(PKEY("'context': {'a': [[1]]}"), "(document)", "nesting too deep", "eight levels refused");
    /* json-c's depth 8 admits seven nested containers; ours need six. */
    bad(PKEY("'context': {'a': [1]}"), "tokens[0].keys[0].context.a", "must be a string, not array",
        "seven levels are parsed, then refused by the schema");
    bad("{'version': 1}", "version", "unknown field \"version\"", "unknown root field");
}

static void test_log_section(void)
{
    bad("{'log': {'level': 'loud'}}", "log.level", "error, warning, info, debug, none",
        "unknown level");
    bad("{'log': {'level': 3}}", "log.level", "must be a string, not int", "level not string");
    bad("{'log': {'destination': 'file:rel/path'}}", "log.destination", "file:/absolute",
        "relative log file");
    bad("{'log': {'destination': 'tcp'}}", "log.destination", "stderr, syslog", "bad dest");
    bad("{'log': {'colour': true}}", "log.colour", "unknown field", "unknown log field");
    bad("{'log': []}", "log", "must be an object", "log not object");
}

static void test_tokens(void)
{
    p11kms_config *cfg;
    char *big;
    size_t i, off;

    bad("{'tokens': {}}", "tokens", "must be an array, not object", "tokens not array");
    bad("{'tokens': [1]}", "tokens[0]", "must be an object, not int", "token not object");
    bad("{'tokens': [{}]}", "tokens[0]", "label is required", "token without label");
    bad("{'tokens': [{'label': ''}]}", "tokens[0].label", "1..32 bytes", "empty token label");
    bad("{'tokens': [{'label': '123456789012345678901234567890123'}]}", "tokens[0].label", "not 33",
        "33-byte token label");
    cfg = good("{'tokens': [{'label': '12345678901234567890123456789012'}]}", "32-byte label");
    p11kms_config_free(cfg);
    bad("{'tokens': [{'label': 'a'}, {'label': 'b'}, {'label': 'a'}]}", "tokens[2]",
        "already used by tokens[0]", "duplicate token label");
    bad("{'tokens': [{'label': 'a', 'slot': 1}]}", "tokens[0].slot", "unknown field \"slot\"",
        "unknown token field");
    bad("{'tokens': [{'label': 'a', 'keys': {}}]}", "tokens[0].keys", "must be an array",
        "keys not array");

    big = malloc(65 * 32 + 64);
    off = (size_t)sprintf(big, "{'tokens': [");
    for (i = 0; i < 65; i++)
        off += (size_t)sprintf(big + off, "%s{'label': 't%zu'}", i > 0 ? "," : "", i);
    strcpy(big + off, "]}");
    bad(big, "tokens", "65 entries, at most 64", "65 tokens refused");
    off = (size_t)sprintf(big, "{'tokens': [");
    for (i = 0; i < 64; i++)
        off += (size_t)sprintf(big + off, "%s{'label': 't%zu'}", i > 0 ? "," : "", i);
    strcpy(big + off, "]}");
    cfg = good(big, "64 tokens");
    ok(cfg != NULL && cfg->n_tokens == 64, "64 tokens kept");
    p11kms_config_free(cfg);
    free(big);
}

static void test_pin(void)
{
    p11kms_config *cfg;

    bad("{'tokens': [{'label': 'a', 'pin': 1234}]}", "tokens[0].pin", "must be a string",
        "numeric pin");
    bad("{'tokens': [{'label': 'a', 'pin': ''}]}", "tokens[0].pin", "1..256", "empty pin");
    cfg = bound("{'tokens': [{'label': 'a', 'pin': '@'}]}", 256, "tokens[0].pin", "not 257", "pin");
    ok(cfg != NULL && strlen(cfg->tokens[0].pin) == 256, "256-byte pin kept");
    p11kms_config_free(cfg);

    unsetenv("P11KMS_TEST_PIN");
    bad("{'tokens': [{'label': 'a', 'pin': 'env:P11KMS_TEST_PIN'}]}", "tokens[0].pin",
        "P11KMS_TEST_PIN is not set", "unset pin variable");
    bad("{'tokens': [{'label': 'a', 'pin': 'env:'}]}", "tokens[0].pin", "variable name",
        "env: without name");
    setenv("P11KMS_TEST_PIN", "", 1);
    bad("{'tokens': [{'label': 'a', 'pin': 'env:P11KMS_TEST_PIN'}]}", "tokens[0].pin", "1..256",
        "empty pin variable");
    setenv("P11KMS_TEST_PIN", "s3cret", 1);
    logcap_take();
    cfg = good("{'tokens': [{'label': 'a', 'pin': 'env:P11KMS_TEST_PIN'}]}", "pin from env");
    ok(cfg != NULL && strcmp(cfg->tokens[0].pin, "s3cret") == 0, "pin read from the variable");
    p11kms_config_free(cfg);
    bad("{'tokens': [{'label': 'a', 'pin': 'supersecret', 'x': 1}]}", "tokens[0].x",
        "unknown field", "error after a pin");
    ok(strstr(logcap_text, "supersecret") == NULL, "the pin never reaches the log");
    unsetenv("P11KMS_TEST_PIN");
}

#define KEY(fields)                                                                                \
    "{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 'local', " fields "}]}]}"
#define KEYPATH "tokens[0].keys[0]"

static void test_key_fields(void)
{
    p11kms_config *cfg;

    bad("{'tokens': [{'label': 't', 'keys': [7]}]}", KEYPATH, "must be an object", "key type");
    bad("{'tokens': [{'label': 't', 'keys': [{'label': 'k'}]}]}", KEYPATH, "backend is required",
        "key without backend");
    bad("{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 5}]}]}", KEYPATH ".backend",
        "must be a string", "backend not string");
    bad("{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 'hsm'}]}]}",
        KEYPATH ".backend", "backend hsm is not available in this build", "unknown backend");
    bad("{'tokens': [{'label': 't', 'keys': [{'backend': 'local'}]}]}", KEYPATH,
        "label is required", "key without label");
    bad(KEY("'key_id': 'insecure-test-key', 'label': ''"), KEYPATH ".label", "1..256",
        "empty key label");
    cfg = bound(KEY("'key_id': 'insecure-test-key', 'label': '@'"), 256, KEYPATH ".label",
                "not 257", "key label");
    p11kms_config_free(cfg);
    bad("{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 'local', 'key_id': "
        "'insecure-test-key'}, {'label': 'k', 'backend': 'local', 'key_id': "
        "'insecure-test-key'}]}]}",
        "tokens[0].keys[1]", "already used by keys[0]", "duplicate key label");
    cfg = good("{'tokens': [{'label': 't', 'keys': [{'label': 'k', 'backend': 'local', "
               "'key_id': 'insecure-test-key'}]}, {'label': 'u', 'keys': [{'label': 'k', "
               "'backend': 'local', 'key_id': 'insecure-test-key'}]}]}",
               "same key label in two tokens");
    ok(cfg != NULL && memcmp(cfg->tokens[0].keys[0].id, cfg->tokens[1].keys[0].id, 8) == 0,
       "same backend, key_id and label give the same default id");
    p11kms_config_free(cfg);

    bad(KEY("'key_id': ''"), KEYPATH ".key_id", "1..2048", "empty key_id");
    bad(KEY("'key_id': 'my-key'"), KEYPATH, "insecure-test-key", "local key_id rule");
    bad(KEY("'permissions': ['wrap']"), KEYPATH, "key_id is required (or key_file)",
        "local key without key_id and key_file");
    cfg = bound(KEY("'key_file': '/k', 'key_id': '@'"), 2048, KEYPATH ".key_id", "not 2049",
                "key_id");
    ok(cfg != NULL && strlen(cfg->tokens[0].keys[0].key_id) == 2048, "key_id kept");
    p11kms_config_free(cfg);
    bad(KEY("'key_id': 'insecure-test-key', 'colour': 'red'"), KEYPATH ".colour",
        "unknown field \"colour\" (backend local also accepts: key_file)",
        "unknown key field lists the backend's options");
}

static void test_permissions_context_id(void)
{
    p11kms_config *cfg;
    char text[1200];
    size_t i, off;

#define PK(x) KEY("'key_id': 'insecure-test-key', " x)
    bad(PK("'permissions': []"), KEYPATH ".permissions", "must not be empty", "no permissions");
    bad(PK("'permissions': 'wrap'"), KEYPATH ".permissions", "must be an array", "perm string");
    bad(PK("'permissions': ['wrap', 'verify']"), KEYPATH ".permissions[1]",
        "one of wrap, unwrap, encrypt, decrypt, sign", "unknown permission");
    bad(PK("'permissions': ['wrap', 'sign']"), KEYPATH, "\"sign\" needs an asymmetric key type",
        "sign on an envelope key");
    bad(PK("'permissions': ['wrap', 'unwrap', 'encrypt', 'unwrap']"), KEYPATH ".permissions[3]",
        "listed twice", "duplicate permission");
    bad(PK("'permissions': ['wrap', 'unwrap', 'encrypt', 'decrypt', 'sign', 'wrap']"),
        KEYPATH ".permissions", "6 entries, at most 5", "six permissions");
    bad(PK("'permissions': [1]"), KEYPATH ".permissions[0]", "must be a string", "perm int");
    cfg = good(PK("'permissions': ['decrypt', 'encrypt']"), "two permissions");
    ok(cfg != NULL && cfg->tokens[0].keys[0].perms == (P11KMS_PERM_ENCRYPT | P11KMS_PERM_DECRYPT),
       "encrypt and decrypt bits");
    p11kms_config_free(cfg);

    bad(PK("'context': ['a']"), KEYPATH ".context", "must be an object", "context array");
    bad(PK("'context': {'a': 1}"), KEYPATH ".context.a", "must be a string, not int",
        "context number value");
    bad(PK("'context': {'': 'x'}"), KEYPATH ".context.", "must not be empty", "empty context key");
    bad(PK("'context': {'\xed\xa0\x80': 'x'}"), KEYPATH ".context.???", "UTF-8",
        "surrogate context key");
    bad(PK("'context': {'a': '\xc0\x80'}"), KEYPATH ".context.a", "UTF-8", "overlong value");
    off = (size_t)snprintf(text, sizeof(text), "%s",
                           "{'tokens':[{'label':'t','keys':[{'label':"
                           "'k','backend':'local','key_id':'insecure-test-key','context':{");
    for (i = 0; i < 65; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%s'k%zu':''", i ? "," : "", i);
    snprintf(text + off, sizeof(text) - off, "}}]}]}");
    bad(text, KEYPATH ".context.k64", "more than 64 context pairs", "65 context pairs");
    /* One pair: 2 + 2 + 1 + 2 + L bytes; L = 8185 makes exactly 8192. */
    cfg = bound(PK("'context': {'a': '@'}"), 8185, KEYPATH ".context.a", "exceed 8192",
                "context value");
    p11kms_config_free(cfg);

    bad(PK("'id': 'abc'"), KEYPATH ".id", "even number of hex digits", "odd id");
    bad(PK("'id': 'zz'"), KEYPATH ".id", "hex", "non-hex id");
    bad(PK("'id': ''"), KEYPATH ".id", "2..128", "empty id");
    bad(PK("'id': 7"), KEYPATH ".id", "must be a string", "numeric id");
    off = (size_t)snprintf(text, sizeof(text), PK("'id': '%0130d'"), 0);
    bad(text, KEYPATH ".id", "not 130", "65-byte id");
    snprintf(text, sizeof(text), PK("'id': '%0128d'"), 0);
    cfg = good(text, "64-byte id");
    ok(cfg != NULL && cfg->tokens[0].keys[0].id_len == 64, "64-byte id kept");
    p11kms_config_free(cfg);
}

/* The envelope policy of a key: reserved context keys refused, decrypt_v1_envelopes. */
static void test_envelope_policy(void)
{
    p11kms_config *cfg;
    const char *log;

    bad(PK("'context': {'p11kms:purpose': 'data'}"), KEYPATH ".context.p11kms:purpose", "reserved",
        "a reserved context key in the default context");
    bad(PK("'context': {'app': 'x', 'P11KMS:Purpose': 'wrapped-key'}"),
        KEYPATH ".context.P11KMS:Purpose", "in any letter case", "...in any letter case");
    cfg = good(PK("'context': {'p11kms': 'x', 'app:p11kms:purpose': 'y'}"),
               "keys that only contain the word are the application's");
    p11kms_config_free(cfg);

    cfg = good(PK("'permissions': ['decrypt']"), "decrypt_v1_envelopes not set");
    ok(cfg != NULL && cfg->tokens[0].keys[0].decrypt_v1_envelopes == 0, "false by default");
    p11kms_config_free(cfg);
    bad(PK("'decrypt_v1_envelopes': 'yes'"), KEYPATH ".decrypt_v1_envelopes",
        "must be true or false, not string", "decrypt_v1_envelopes as a string");
    bad(PK("'decrypt_v1_envelopes': 1"), KEYPATH ".decrypt_v1_envelopes",
        "must be true or false, not int", "decrypt_v1_envelopes as a number");
    p11kms_log_threshold = P11KMS_LOG_WARNING;
    logcap_take();
    cfg = good(PK("'decrypt_v1_envelopes': false"), "decrypt_v1_envelopes false");
    ok(cfg != NULL && cfg->tokens[0].keys[0].decrypt_v1_envelopes == 0, "false when false");
    p11kms_config_free(cfg);
    is_num(logcap_count(logcap_take(), "warning"), 0, "no warning when false");
    cfg = good(PK("'decrypt_v1_envelopes': true"), "decrypt_v1_envelopes true");
    ok(cfg != NULL && cfg->tokens[0].keys[0].decrypt_v1_envelopes == 1, "true when true");
    p11kms_config_free(cfg);
    log = logcap_take();
    is_num(logcap_count(log, "warning"), 1, "one warning line");
    if (!ok(strstr(log, ORIGIN " " KEYPATH) != NULL && strstr(log, "decrypt_v1_envelopes") &&
                strstr(log, "\"k\""),
            "it names the configuration, the option and the key"))
        diag("log: %s", log);
    p11kms_log_threshold = P11KMS_LOG_ERROR;
}

static void test_templates(void)
{
    p11kms_config *cfg;
    const p11kms_key_config *k;
    const struct p11kms_template_entry *e;

#define TK(x) KEY("'key_id': 'insecure-test-key', " x)
    cfg = good(TK("'unwrap_template': {'sensitive': true, 'extractable': false, 'key_type': "
                  "'aes', 'value_len': 32}, 'wrap_template': {'wrap_with_trusted': false}"),
               "wrap and unwrap templates");
    k = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    ok(k != NULL && k->unwrap_template.n == 4 && k->wrap_template.n == 1, "entries kept");
    e = k != NULL ? p11kms_template_find(&k->unwrap_template, CKA_SENSITIVE) : NULL;
    ok(e != NULL && e->value == CK_TRUE, "sensitive: true");
    e = k != NULL ? p11kms_template_find(&k->unwrap_template, CKA_EXTRACTABLE) : NULL;
    ok(e != NULL && e->value == CK_FALSE, "extractable: false");
    e = k != NULL ? p11kms_template_find(&k->unwrap_template, CKA_KEY_TYPE) : NULL;
    ok(e != NULL && e->value == CKK_AES, "key_type: aes");
    e = k != NULL ? p11kms_template_find(&k->unwrap_template, CKA_VALUE_LEN) : NULL;
    ok(e != NULL && e->value == 32, "value_len: 32");
    p11kms_config_free(cfg);

    cfg = good("{'tokens': [{'label': 't', 'unwrap_template': {'sensitive': true, 'extractable': "
               "false}, 'keys': [{'label': 'k', 'backend': 'local', 'key_id': "
               "'insecure-test-key', 'unwrap_template': {'extractable': true}}, {'label': 'j', "
               "'backend': 'local', 'key_id': 'insecure-test-key'}]}]}",
               "token-wide unwrap template");
    k = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    e = k != NULL ? p11kms_template_find(&k->unwrap_template, CKA_EXTRACTABLE) : NULL;
    ok(e != NULL && e->value == CK_TRUE &&
           p11kms_template_find(&k->unwrap_template, CKA_SENSITIVE) != NULL,
       "the key's own attribute wins, the token's others are added");
    k = cfg != NULL ? &cfg->tokens[0].keys[1] : NULL;
    ok(k != NULL && k->unwrap_template.n == 2, "a key without its own gets the token's");
    p11kms_config_free(cfg);

    bad(TK("'unwrap_template': {'sensitiv': true}"), KEYPATH ".unwrap_template",
        "\"sensitiv\" is not a template attribute (one of: token, private,", "unknown name");
    bad(TK("'unwrap_template': {'sensitive': 1}"), KEYPATH ".unwrap_template",
        "sensitive: must be true or false", "number for a boolean");
    bad(TK("'unwrap_template': {'key_type': 'des'}"), KEYPATH ".unwrap_template",
        "key_type: must be \"aes\" or \"generic_secret\"", "unknown key type");
    bad(TK("'unwrap_template': {'value_len': 513}"), KEYPATH ".unwrap_template",
        "value_len: must be a whole number of bytes, 1..512", "value_len too long");
    bad(TK("'unwrap_template': {'value_len': 0}"), KEYPATH ".unwrap_template", "1..512",
        "value_len 0");
    bad(TK("'wrap_template': ['sensitive']"), KEYPATH ".wrap_template", "must be an object",
        "template as an array");
    bad(TK("'unwrap_template': {'wrap': true, 'decrypt': true}"), KEYPATH ".unwrap_template",
        "would refuse every unwrap", "an unwrap template no key can meet");
    bad(TK("'unwrap_template': {'value': true}"), KEYPATH ".unwrap_template",
        "is not a template attribute", "CKA_VALUE is not a template attribute");
    bad("{'tokens': [{'label': 't', 'unwrap_template': {'unwrap': true}, 'keys': [{'label': "
        "'k', 'backend': 'local', 'key_id': 'insecure-test-key', 'unwrap_template': {'encrypt': "
        "true}}]}]}",
        "tokens[0].keys[0]", "would refuse every unwrap", "merged with the token's: impossible");
    bad("{'tokens': [{'label': 't', 'wrap_template': {'trusted': true}}]}",
        "tokens[0].wrap_template", "is not a template attribute", "token template checked too");
}

static void test_backends_section(void)
{
    p11kms_config *cfg;
    const p11kms_backend_ops *aws = p11kms_backend_find("aws");

    bad("{'backends': []}", "backends", "must be an object", "backends array");
    bad("{'backends': {'hsm': {}}}", "backends.hsm", "not available in this build",
        "unknown backend section");
    bad("{'backends': {'local': 'x'}}", "backends.local", "must be an object", "section type");
    bad("{'backends': {'local': {'region': 'x'}}}", "backends.local.region",
        "unknown field \"region\" (backend local also accepts: key_file)", "option of another");
    bad("{'backends': {'local': {'key_file': null}}}", "backends.local.key_file",
        "string, number or boolean, not null", "null option");
    bad("{'backends': {'local': {'key_file': ['a']}}}", "backends.local.key_file", "not array",
        "array option");
    bad(KEY("'key_file': {}"), KEYPATH ".key_file", "not object", "object option on a key");
    bad(KEY("'key_file': 99999999999999999999"), KEYPATH ".key_file", "out of range",
        "saturated integer");

    /* Numbers and booleans arrive as their JSON text. */
    cfg = good(KEY("'key_file': 30"), "integer option");
    ok(cfg != NULL &&
           strcmp(p11kms_key_config_option(&cfg->tokens[0].keys[0], "key_file"), "30") == 0,
       "integer as text");
    ok(cfg != NULL && strcmp(cfg->tokens[0].keys[0].key_id, "30") == 0, "key_id from key_file");
    p11kms_config_free(cfg);
    cfg = good(KEY("'key_file': 1.50"), "decimal option");
    ok(cfg != NULL &&
           strcmp(p11kms_key_config_option(&cfg->tokens[0].keys[0], "key_file"), "1.50") == 0,
       "decimal kept as written");
    p11kms_config_free(cfg);
    cfg = good("{'backends': {'local': {'key_file': true}}, 'tokens': [{'label': 't', 'keys': "
               "[{'label': 'k', 'backend': 'local'}]}]}",
               "boolean default");
    ok(cfg != NULL &&
           strcmp(p11kms_key_config_option(&cfg->tokens[0].keys[0], "key_file"), "true") == 0,
       "boolean as text, from backend defaults");
    p11kms_config_free(cfg);

    if (aws == NULL || aws->options == NULL || aws->options[0] == NULL || aws->options[1] == NULL) {
        test_skip("aws backend with two options not in this build: merge order");
        test_skip("aws backend with two options not in this build: override");
        return;
    }
    {
        char text[600];
        const char *o0 = aws->options[0], *o1 = aws->options[1];
        p11kms_key_config *kc;

        snprintf(text, sizeof(text),
                 "{'backends': {'aws': {'%s': 'd0', '%s': 'd1'}}, 'tokens': [{'label': 't', "
                 "'keys': [{'label': 'k', 'backend': 'aws', 'key_id': 'alias/x', '%s': 'own'}]}]}",
                 o0, o1, o1);
        cfg = good(text, "aws key with defaults");
        kc = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
        ok(kc != NULL && kc->n_options == 2 && strcmp(kc->options[0].name, o1) == 0 &&
               strcmp(kc->options[0].value, "own") == 0 && strcmp(kc->options[1].name, o0) == 0 &&
               strcmp(kc->options[1].value, "d0") == 0,
           "key's own options first, then the defaults it did not set");
        ok(kc != NULL && p11kms_key_config_option(kc, "key_file") == NULL,
           "another backend's defaults are not merged");
        p11kms_config_free(cfg);
    }
}

/* A token with n local keys. */
static char *many_keys(size_t n)
{
    size_t cap = n * 100 + 100, off, i;
    char *text = malloc(cap);

    off = (size_t)snprintf(text, cap, "{'tokens': [{'label': 't', 'keys': [");
    for (i = 0; i < n; i++)
        off += (size_t)snprintf(text + off, cap - off,
                                "%s{'label': 'k%04zu', 'backend': 'local', "
                                "'key_id': 'insecure-test-key'}",
                                i > 0 ? "," : "", i);
    snprintf(text + off, cap - off, "]}]}");
    return text;
}

static void test_keys_bound(void)
{
    p11kms_config *cfg;
    char *text = many_keys(4097);

    bad(text, "tokens[0].keys", "4097 entries, at most 4096", "4097 keys refused");
    free(text);
    text = many_keys(4096);
    cfg = good(text, "4096 keys");
    ok(cfg != NULL && cfg->tokens[0].n_keys == 4096, "4096 keys kept");
    p11kms_config_free(cfg);
    free(text);

    text = malloc(P11KMS_CONFIG_MAX_BYTES + 2);
    memset(text, ' ', P11KMS_CONFIG_MAX_BYTES + 1);
    text[0] = '{';
    text[P11KMS_CONFIG_MAX_BYTES - 1] = '}';
    text[P11KMS_CONFIG_MAX_BYTES + 1] = '\0';
    cfg = NULL;
    is_rv(p11kms_config_parse(text, P11KMS_CONFIG_MAX_BYTES, ORIGIN, &cfg), CKR_OK,
          "a 4 MiB document is parsed");
    p11kms_config_free(cfg);
    bad_origin(text, P11KMS_CONFIG_MAX_BYTES + 1, ORIGIN, "(document)", "larger than",
               "4 MiB + 1 refused");
    free(text);
}

/* "store" and "storage_key": where a token keeps its token objects and which key seals them. */
static void test_store_fields(void)
{
    p11kms_config *cfg;

    cfg = good("{'tokens': [{'label': 't', 'store': '/var/lib/p11kms/t', 'storage_key': 'b', "
               "'keys': [{'label': 'a', 'backend': 'local', 'key_id': 'insecure-test-key'}, "
               "{'label': 'b', 'backend': 'local', 'key_id': 'insecure-test-key'}]}]}",
               "store and storage_key");
    ok(cfg != NULL && strcmp(cfg->tokens[0].store, "/var/lib/p11kms/t") == 0 &&
           strcmp(cfg->tokens[0].storage_key, "b") == 0 && !cfg->tokens[0].store_off,
       "  ...read");
    p11kms_config_free(cfg);
    cfg = good("{'tokens': [{'label': 't', 'store': false}]}", "store false");
    ok(cfg != NULL && cfg->tokens[0].store_off && cfg->tokens[0].store == NULL, "  ...no store");
    p11kms_config_free(cfg);
    cfg = good("{'tokens': [{'label': 't'}]}", "no store field");
    ok(cfg != NULL && cfg->tokens[0].store == NULL && !cfg->tokens[0].store_off &&
           cfg->tokens[0].storage_key == NULL,
       "  ...the default place, the only key");
    p11kms_config_free(cfg);
    bad("{'tokens': [{'label': 't', 'store': 'rel/dir'}]}", "tokens[0].store",
        "must be an absolute directory path", "a relative store");
    bad("{'tokens': [{'label': 't', 'store': true}]}", "tokens[0].store",
        "must be an absolute directory path, or false", "store true");
    bad("{'tokens': [{'label': 't', 'store': 7}]}", "tokens[0].store",
        "must be an absolute directory path, or false", "store a number");
    bad("{'tokens': [{'label': 't', 'storage_key': 'x', 'keys': [{'label': 'a', 'backend': "
        "'local', 'key_id': 'insecure-test-key'}]}]}",
        "tokens[0].storage_key", "\"x\" is not the label of one of the token's keys",
        "storage_key naming no key");
    bad("{'tokens': [{'label': 't', 'storage_key': 'x'}]}", "tokens[0]",
        "storage_key names a key, and there are none", "storage_key without keys");
}

/* A key set: "kms" entries instead of backend/key_id, wrap_policy, previous, accepted_contexts,
 * deadline_ms, and the audit section. */
#define SET(fields) "{'tokens': [{'label': 't', 'keys': [{'label': 'k', " fields "}]}]}"
#define LOCAL_E "{'backend': 'local', 'key_id': 'insecure-test-key'}"
#define FILE_E "{'backend': 'local', 'key_file': '/etc/p11kms/a.key'}"

static void test_key_sets(void)
{
    p11kms_config *cfg;
    const p11kms_key_config *kc;

    cfg =
        good(SET("'context': {'app': 'x'}, 'permissions': ['unwrap'], 'kms': [" LOCAL_E ", " FILE_E
                 "], 'previous': [{'backend': 'local', 'key_file': '/etc/p11kms/old.key'}], "
                 "'accepted_contexts': [{'app': 'old'}, {}], 'wrap_policy': 'any', "
                 "'deadline_ms': 5000"),
             "a key set with every field");
    kc = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    ok(kc != NULL && kc->n_kms == 2 && kc->n_previous == 1 && kc->wrap_any == 1 &&
           kc->set_deadline_ms == 5000 && kc->n_accepted_contexts == 2,
       "entries, previous, policy, deadline and accepted contexts read");
    ok(kc != NULL && strcmp(kc->backend, "local") == 0 &&
           strcmp(kc->key_id, "insecure-test-key") == 0,
       "the key's backend and key_id are the first entry's");
    ok(kc != NULL && strcmp(kc->kms[1].key_id, "/etc/p11kms/a.key") == 0 &&
           strcmp(kc->kms[1].label, "k") == 0 && kc->kms[1].perms == P11KMS_PERM_UNWRAP &&
           strcmp(p11kms_context_get(kc->kms[1].context, "app"), "x") == 0,
       "an entry: its own key, the key's label, permissions and context");
    ok(kc != NULL && strcmp(kc->token, "t") == 0 && strcmp(kc->previous[0].token, "t") == 0,
       "every entry knows its token (audit trail)");
    ok(kc != NULL && strstr(kc->kms[1].origin, KEYPATH ".kms[1]") != NULL,
       "an entry's origin names its path");
    p11kms_config_free(cfg);

    cfg = good(PK("'previous': [" FILE_E "]"), "previous with the single form");
    ok(cfg != NULL && cfg->tokens[0].keys[0].n_kms == 0 && cfg->tokens[0].keys[0].n_previous == 1,
       "a set of one with a previous key");
    p11kms_config_free(cfg);

    bad(SET("'backend': 'local', 'key_id': 'insecure-test-key', 'kms': [" LOCAL_E "]"), KEYPATH,
        "either backend", "backend and kms together");
    bad(SET("'kms': []"), KEYPATH ".kms", "must not be empty", "an empty kms");
    bad(SET("'kms': [" LOCAL_E "," FILE_E "," LOCAL_E "," FILE_E "," LOCAL_E "," FILE_E "," LOCAL_E
            "," FILE_E "," LOCAL_E "]"),
        KEYPATH ".kms", "at most 8", "nine entries");
    bad(SET("'kms': [" LOCAL_E ", " LOCAL_E "]"), KEYPATH ".kms[1]", "already an entry",
        "the same KMS key twice");
    bad(SET("'kms': [" FILE_E "], 'previous': [" FILE_E "]"), KEYPATH ".previous[0]",
        "already an entry", "a current key listed as previous");
    bad(SET("'kms': [{'key_id': 'x'}]"), KEYPATH ".kms[0]", "backend is required",
        "an entry without backend");
    bad(SET("'kms': [{'backend': 'local', 'key_file': '/a', 'label': 'x'}]"),
        KEYPATH ".kms[0].label", "unknown field", "key fields do not belong in an entry");
    bad(SET("'kms': [" LOCAL_E "], 'key_file': '/a'"), KEYPATH ".key_file", "unknown field",
        "backend options do not belong on a set");
    bad(SET("'kms': [" LOCAL_E "], 'wrap_policy': 'most'"), KEYPATH ".wrap_policy",
        "must be \"all\"", "an unknown wrap policy");
    bad(PK("'wrap_policy': 'any'"), KEYPATH ".wrap_policy", "unknown field",
        "wrap_policy needs a set");
    bad(SET("'kms': [" LOCAL_E "], 'deadline_ms': 99"), KEYPATH ".deadline_ms", "100..600000",
        "a deadline under 100 ms");
    bad(SET("'kms': [" LOCAL_E "], 'accepted_contexts': [{'p11kms:purpose': 'data'}]"),
        KEYPATH ".accepted_contexts[0].p11kms:purpose", "reserved",
        "a reserved key in an accepted context");
    bad(SET("'kms': [" LOCAL_E "], 'accepted_contexts': {}"), KEYPATH ".accepted_contexts",
        "must be an array", "accepted_contexts not an array");

    cfg = good("{'audit': {'destination': 'syslog', 'context_values': true}}", "audit to syslog");
    ok(cfg != NULL && strcmp(cfg->audit_destination, "syslog") == 0 &&
           cfg->audit_context_values == 1,
       "destination and context_values read");
    p11kms_config_free(cfg);
    bad("{'audit': {'destination': 'stderr'}}", "audit.destination", "must be syslog or file:/",
        "audit to stderr");
    bad("{'audit': {'context_values': true}}", "audit", "destination is required",
        "audit without destination");
    bad("{'audit': {'destination': 'syslog', 'level': 1}}", "audit.level", "unknown field",
        "an unknown audit field");
}

/* Asymmetric keys: one KMS key on a backend that has asymmetric keys; no key set of several
 * entries, no previous entries, no wrap policy (different KMS keys have different public
 * keys). */
#define EC_LOCAL "'type': 'ec-p256', 'backend': 'local', 'key_file': '/etc/p11kms/ec.pem'"
#define EC_ENTRY "{'backend': 'local', 'key_file': '/etc/p11kms/ec.pem'}"
#define EC_ENTRY2 "{'backend': 'local', 'key_file': '/etc/p11kms/ec2.pem'}"

static void test_asym_keys(void)
{
    p11kms_config *cfg;
    const p11kms_key_config *kc;

    cfg = good(SET(EC_LOCAL), "an EC key on the local backend");
    kc = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    ok(kc != NULL && kc->key_type == P11KMS_KT_EC_P256 && kc->perms == P11KMS_PERM_SIGN,
       "its type, and sign as the default permission");
    p11kms_config_free(cfg);
    cfg = good(SET("'type': 'rsa-3072', 'permissions': ['sign', 'decrypt'], 'kms': [" EC_ENTRY "]"),
               "an asymmetric key with a kms of one entry");
    kc = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    ok(kc != NULL && kc->n_kms == 1 && kc->kms[0].key_type == P11KMS_KT_RSA_3072 &&
           kc->kms[0].perms == (P11KMS_PERM_SIGN | P11KMS_PERM_DECRYPT),
       "the entry has the key's type and permissions");
    p11kms_config_free(cfg);

    bad(SET("'type': 'ec-p256', 'kms': [" EC_ENTRY ", " EC_ENTRY2 "]"), KEYPATH,
        "an asymmetric key (ec-p256) is one KMS key", "an asymmetric key set of two");
    bad(SET(EC_LOCAL ", 'previous': [" EC_ENTRY2 "]"), KEYPATH,
        "an asymmetric key (ec-p256) is one KMS key", "an asymmetric key with previous");
    bad(SET("'type': 'ec-p256', 'wrap_policy': 'any', 'kms': [" EC_ENTRY "]"), KEYPATH,
        "an asymmetric key (ec-p256) is one KMS key", "an asymmetric key with a wrap policy");
    bad(SET("'type': 'ec-p256', 'kms': []"), KEYPATH, "an asymmetric key (ec-p256) is one KMS key",
        "an asymmetric key with an empty kms");

    /* Google Cloud KMS: one CryptoKeyVersion, named in key_id or by key_version. */
#define GCP_KEY "'projects/p/locations/global/keyRings/r/cryptoKeys/k"
    p11kms_config_free(
        good(SET("'type': 'ec-p256', 'backend': 'gcp', 'key_id': " GCP_KEY "/cryptoKeyVersions/3'"),
             "an EC key on gcp named by its CryptoKeyVersion"));
    p11kms_config_free(good(SET("'type': 'rsa-3072', 'backend': 'gcp', 'key_id': " GCP_KEY
                                "', 'key_version': '12', 'permissions': ['decrypt']"),
                            "an RSA key on gcp named by its CryptoKey and key_version"));
    bad(SET("'type': 'ec-p256', 'backend': 'gcp', 'key_id': " GCP_KEY "'"), KEYPATH,
        "an asymmetric Cloud KMS key is one CryptoKeyVersion", "a gcp EC key without a version");
    bad(SET("'type': 'ec-p256', 'backend': 'gcp', 'key_id': " GCP_KEY
            "/cryptoKeyVersions/1', 'key_version': '1'"),
        KEYPATH, "an asymmetric Cloud KMS key is one CryptoKeyVersion",
        "a gcp version named twice");
    bad(SET("'type': 'ec-p256', 'backend': 'gcp', 'key_id': " GCP_KEY "', 'key_version': '01'"),
        KEYPATH, "the CryptoKeyVersion number \"01\" is not one", "a version with a leading 0");
    bad(SET("'type': 'ec-p521', 'backend': 'gcp', 'key_id': " GCP_KEY "/cryptoKeyVersions/1'"),
        KEYPATH, "type: Cloud KMS has no ec-p521 keys", "a P-521 key on gcp");
    bad(SET("'backend': 'gcp', 'key_id': " GCP_KEY "', 'key_version': '1'"), KEYPATH,
        "an envelope (aes) key names a CryptoKey", "key_version on a gcp envelope key");
#undef GCP_KEY

    /* Vault transit keys of the types it has (ecdsa-p256/384/521, rsa-2048/3072/4096). */
    cfg = good(SET("'type': 'rsa-2048', 'backend': 'vault', 'key_id': 'transit-key', "
                   "'permissions': ['sign', 'decrypt']"),
               "an RSA key on vault");
    kc = cfg != NULL ? &cfg->tokens[0].keys[0] : NULL;
    ok(kc != NULL && kc->key_type == P11KMS_KT_RSA_2048 &&
           kc->perms == (P11KMS_PERM_SIGN | P11KMS_PERM_DECRYPT),
       "  ...its type and permissions");
    p11kms_config_free(cfg);
    p11kms_config_free(good(SET("'type': 'ec-p384', 'kms': [{'backend': 'vault', 'key_id': 'k'}]"),
                            "an EC key set of one vault entry"));
    bad(SET("'type': 'ec-secp256k1', 'backend': 'vault', 'key_id': 'k'"), KEYPATH,
        "type: Vault transit has no ec-secp256k1 keys", "a secp256k1 key on vault");
    bad(SET("'type': 'ec-p256', 'backend': 'vault', 'key_id': 'k', 'context_mode': 'derived'"),
        KEYPATH, "context_mode: an asymmetric key binds no context",
        "context_mode on an asymmetric vault key");
}

int main(void)
{
    test_start();
    logcap_start(P11KMS_LOG_ERROR);
    test_full_document();
    test_syntax();
    test_log_section();
    test_tokens();
    test_pin();
    test_key_fields();
    test_permissions_context_id();
    test_envelope_policy();
    test_templates();
    test_backends_section();
    test_keys_bound();
    test_store_fields();
    test_key_sets();
    test_asym_keys();
    return test_exit_code();
}
