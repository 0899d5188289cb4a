/* cmd-doctor.c - "p11kms doctor": check a setup without touching data, with the module's own
 * configuration parser, then through the module with a throwaway key per configured key. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "backend.h"
#include "config-load.h"
#include "datakey.h"
#include "doctor.h"
#include "log.h"
#include "tool.h"

#define SECRET_LEN 32

enum { OPT_DEEP = 0x2000 };

static const struct option options[] = {
    TOOL_COMMON_LONGOPTS,
    {"deep", no_argument, NULL, OPT_DEEP},
    {NULL, 0, NULL, 0},
};

void doctor_step(doctor *d, enum doctor_status st, const char *fmt, ...)
{
    static const char *const words[] = {"ok", "warn", "FAIL", "skip"};
    va_list ap;

    d->checks++;
    d->failures += st == DOCTOR_FAIL;
    d->warnings += st == DOCTOR_WARN;
    printf("%-5s ", words[st]);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    /* The module's own error lines go to stderr; keep the two in order on a terminal. */
    fflush(stdout);
}

/* The file the module will read, and its ownership and mode. NULL when none applies. */
static const char *config_file(doctor *d, const tool_common *c)
{
    const char *path = c->config, *env = getenv("P11KMS_CONFIG"), *quick = getenv("KMS_KEY_ID");
    struct passwd *pw;
    struct stat st;

    if (path == NULL && env != NULL && env[0] != 0)
        path = env;
    if (path == NULL && stat(P11KMS_DEFAULT_CONFIG, &st) == 0)
        path = P11KMS_DEFAULT_CONFIG;
    if (path == NULL) {
        if (quick != NULL && quick[0] != 0)
            doctor_step(d, DOCTOR_OK, "no configuration file: quick mode, KMS_KEY_ID=%s", quick);
        else
            doctor_step(d, DOCTOR_FAIL,
                        "no configuration: no --config, P11KMS_CONFIG, %s or KMS_KEY_ID, so the "
                        "module has no keys",
                        P11KMS_DEFAULT_CONFIG);
        return NULL;
    }
    if (stat(path, &st) != 0) {
        doctor_step(d, DOCTOR_FAIL, "configuration %s: %s", path, strerror(errno));
        return path;
    }
    pw = getpwuid(st.st_uid);
    doctor_step(d, (st.st_mode & 022) ? DOCTOR_FAIL : DOCTOR_OK,
                "configuration %s: mode %04o, owner %s%s", path, (unsigned)(st.st_mode & 07777),
                pw != NULL ? pw->pw_name : "(unknown)",
                (st.st_mode & 022) ? ": writable by group or others, the module refuses it "
                                     "(chmod 600)"
                                   : "");
    return path;
}

/* A backend's finding about the key `who` names, as one doctor line. */
typedef struct key_step {
    doctor *d;
    const char *who;
} key_step;

static void backend_step(void *ctx, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void backend_step(void *ctx, int status, const char *fmt, ...)
{
    static const enum doctor_status map[] = {DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL};
    key_step *k = ctx;
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    doctor_step(k->d, status >= 0 && status <= P11KMS_DOCTOR_FAIL ? map[status] : DOCTOR_FAIL,
                "%s: %s", k->who, msg);
}

/* What one KMS entry's backend knows about its key: key files, endpoints, where credentials
 * come from. Its error lines (the module's log) explain a FAIL on stderr. */
static void check_entry(doctor *d, const char *who, const p11kms_key_config *kc)
{
    const p11kms_backend_ops *ops = p11kms_backend_find(kc->backend);
    key_step k;

    if (ops == NULL) {
        doctor_step(d, DOCTOR_FAIL, "%s: backend \"%s\" is not in this build", who, kc->backend);
        return;
    }
    if (ops->doctor != NULL) {
        k.d = d;
        k.who = who;
        p11kms_log_configure(P11KMS_LOG_ERROR, NULL);
        ops->doctor(kc, backend_step, &k);
        p11kms_log_configure(P11KMS_LOG_NONE, NULL);
    }
}

static void check_key_config(doctor *d, const p11kms_config *cfg, const p11kms_token_config *t,
                             const p11kms_key_config *kc)
{
    char who[160], ewho[400];
    struct stat st;
    size_t i;

    snprintf(who, sizeof(who), "key \"%.60s\" on token \"%.32s\"", kc->label, t->label);
    if ((kc->perms & P11KMS_PERM_ALL) == 0)
        doctor_step(d, DOCTOR_FAIL, "%s: no permissions: it can do nothing", who);
    else
        doctor_step(d, DOCTOR_OK, "%s: %s backend, KMS key %s%s, may%s%s%s%s", who, kc->backend,
                    kc->key_id, kc->n_kms > 1 ? " and more (a key set)" : "",
                    kc->perms & P11KMS_PERM_WRAP ? " wrap" : "",
                    kc->perms & P11KMS_PERM_UNWRAP ? " unwrap" : "",
                    kc->perms & P11KMS_PERM_ENCRYPT ? " encrypt" : "",
                    kc->perms & P11KMS_PERM_DECRYPT ? " decrypt" : "");
    if (kc->decrypt_v1_envelopes)
        doctor_step(d, DOCTOR_WARN,
                    "%s: decrypt_v1_envelopes: C_Decrypt opens version-1 envelopes, and a "
                    "version-1 wrapped key would come out in the clear; remove it once the old "
                    "data is re-encrypted",
                    who);
    if (kc->n_kms == 0)
        check_entry(d, who, kc);
    for (i = 0; i < kc->n_kms; i++) {
        snprintf(ewho, sizeof(ewho), "%s, KMS %zu (%.16s %.80s)", who, i + 1, kc->kms[i].backend,
                 kc->kms[i].key_id);
        check_entry(d, ewho, &kc->kms[i]);
    }
    for (i = 0; i < kc->n_previous; i++) {
        snprintf(ewho, sizeof(ewho), "%s, previous KMS %zu (%.16s %.80s)", who, i + 1,
                 kc->previous[i].backend, kc->previous[i].key_id);
        check_entry(d, ewho, &kc->previous[i]);
    }
    if (kc->n_previous > 0)
        doctor_step(d, DOCTOR_OK,
                    "%s: %zu previous KMS key(s) open old envelopes; 'p11kms rewrap' moves them "
                    "to the current key(s)",
                    who, kc->n_previous);
    if (t->pin != NULL && cfg->path != NULL && stat(cfg->path, &st) == 0 && (st.st_mode & 044))
        doctor_step(d, DOCTOR_WARN, "token \"%s\": its PIN is in %s, which others can read",
                    t->label, cfg->path);
}

/* Parse with the module's parser; its error lines (on stderr) say exactly what is wrong. */
static p11kms_config *check_config(doctor *d, const tool_common *c)
{
    p11kms_config *cfg = NULL;
    size_t t, k, keys = 0;
    CK_RV rv;

    config_file(d, c);
    p11kms_log_configure(P11KMS_LOG_ERROR, NULL);
    rv = p11kms_config_load(c->config, P11KMS_DEFAULT_CONFIG, &cfg);
    p11kms_log_configure(P11KMS_LOG_NONE, NULL);
    if (rv != CKR_OK) {
        doctor_step(d, DOCTOR_FAIL, "configuration refused: %s (the line above says why)",
                    p11kms_rv_name(rv));
        return NULL;
    }
    for (t = 0; t < cfg->n_tokens; t++)
        keys += cfg->tokens[t].n_keys;
    doctor_step(d, keys > 0 ? DOCTOR_OK : DOCTOR_FAIL,
                "configuration parsed: %zu token%s, %zu key%s", cfg->n_tokens,
                cfg->n_tokens == 1 ? "" : "s", keys, keys == 1 ? "" : "s");
    for (t = 0; t < cfg->n_tokens; t++)
        for (k = 0; k < cfg->tokens[t].n_keys; k++)
            check_key_config(d, cfg, &cfg->tokens[t], &cfg->tokens[t].keys[k]);
    return cfg;
}

/* C_Encrypt and C_Decrypt of a random secret with the envelope mechanism. */
static void try_encrypt(doctor *d, tool_p11 *p, const tool_key *k, const p11kms_context *ctx,
                        const char *who)
{
    CK_SESSION_HANDLE s = k->slot->session;
    CK_MECHANISM mech;
    CK_P11KMS_ENVELOPE_PARAMS params;
    CK_P11KMS_CONTEXT_PAIR *pairs = NULL;
    uint8_t secret[SECRET_LEN], back[SECRET_LEN], *ct = NULL;
    CK_ULONG ct_len = 0, back_len = sizeof(back);
    CK_RV rv;

    RAND_bytes(secret, sizeof(secret));
    rv = tool_dk_mechanism(k, ctx, &mech, &params, &pairs);
    if (rv == CKR_OK)
        rv = p->f->C_EncryptInit(s, &mech, k->handle);
    if (rv == CKR_OK)
        rv = p->f->C_Encrypt(s, secret, sizeof(secret), NULL, &ct_len);
    if (rv == CKR_OK && (ct = malloc(ct_len ? ct_len : 1)) == NULL)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = p->f->C_Encrypt(s, secret, sizeof(secret), ct, &ct_len);
    if (rv != CKR_OK) {
        doctor_step(d, DOCTOR_FAIL, "%s: encrypt failed: %s", who, tool_rv_text(rv));
        goto out;
    }
    doctor_step(d, DOCTOR_OK, "%s: encrypt", who);
    if (!k->decrypt) {
        doctor_step(d, DOCTOR_SKIP, "%s: decrypt not permitted", who);
        goto out;
    }
    rv = p->f->C_DecryptInit(s, &mech, k->handle);
    if (rv == CKR_OK)
        rv = p->f->C_Decrypt(s, ct, ct_len, back, &back_len);
    if (rv != CKR_OK)
        doctor_step(d, DOCTOR_FAIL, "%s: decrypt failed: %s", who, tool_rv_text(rv));
    else if (back_len != sizeof(secret) || CRYPTO_memcmp(back, secret, sizeof(secret)) != 0)
        doctor_step(d, DOCTOR_FAIL, "%s: decrypt gave back other bytes", who);
    else
        doctor_step(d, DOCTOR_OK, "%s: decrypt gives the secret back", who);
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(back, sizeof(back));
    free(ct);
    free(pairs);
}

/* Wrap a throwaway data key and unwrap it again, as far as the key's permissions allow. */
static void try_key(doctor *d, tool_p11 *p, const tool_key *k)
{
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE, back = CK_INVALID_HANDLE;
    p11kms_context *extra = NULL, *ctx = NULL;
    uint8_t v1[TOOL_DATA_KEY_LEN], v2[TOOL_DATA_KEY_LEN], *blob = NULL;
    size_t blob_len = 0;
    char who[160];
    CK_RV rv;

    snprintf(who, sizeof(who), "%s", tool_key_name(k));
    if (tool_ctx_add_arg(&extra, "p11kms-doctor=1") != 0 ||
        tool_ctx_effective(k, k->is_kms ? extra : NULL, &ctx) != 0)
        goto out;
    if (!k->wrap) {
        doctor_step(d, DOCTOR_SKIP, "%s: wrap not permitted%s", who,
                    k->unwrap ? "; unwrap cannot be tried without something it wrapped" : "");
    } else {
        rv = tool_dk_generate(p, k, 0, &dk);
        if (rv == CKR_OK)
            rv = tool_dk_value(p, k, dk, v1);
        if (rv == CKR_OK)
            rv = tool_dk_wrap(p, k, ctx, dk, &blob, &blob_len);
        if (rv != CKR_OK)
            doctor_step(d, DOCTOR_FAIL, "%s: wrap failed: %s", who, tool_rv_text(rv));
        else
            doctor_step(d, DOCTOR_OK, "%s: wrap (context p11kms-doctor=1)", who);
    }
    if (blob != NULL && !k->unwrap) {
        doctor_step(d, DOCTOR_SKIP, "%s: unwrap not permitted", who);
    } else if (blob != NULL) {
        rv = tool_dk_unwrap(p, k, ctx, blob, blob_len, 0, &back);
        if (rv == CKR_OK)
            rv = tool_dk_value(p, k, back, v2);
        if (rv != CKR_OK)
            doctor_step(d, DOCTOR_FAIL, "%s: unwrap failed: %s", who, tool_rv_text(rv));
        else if (CRYPTO_memcmp(v1, v2, sizeof(v1)) != 0)
            doctor_step(d, DOCTOR_FAIL, "%s: unwrap gave back another key", who);
        else
            doctor_step(d, DOCTOR_OK, "%s: unwrap gives the same key back", who);
    }
    if (k->is_kms && k->encrypt)
        try_encrypt(d, p, k, ctx, who);
out:
    OPENSSL_cleanse(v1, sizeof(v1));
    OPENSSL_cleanse(v2, sizeof(v2));
    tool_dk_destroy(p, k, dk);
    tool_dk_destroy(p, k, back);
    free(blob);
    p11kms_context_free(extra);
    p11kms_context_free(ctx);
}

static void check_module(doctor *d, const tool_common *c, const p11kms_config *cfg)
{
    tool_p11 *p = NULL;
    size_t t, k, i;

    if (tool_p11_open(c, NULL, &p) != 0) {
        doctor_step(d, DOCTOR_FAIL, "module %s: unusable (the line above says why)", c->module);
        return;
    }
    doctor_step(d, DOCTOR_OK, "module %s: initialised, %zu token%s, %zu key%s", c->module,
                p->n_slots, p->n_slots == 1 ? "" : "s", p->n_keys, p->n_keys == 1 ? "" : "s");
    /* Every configured key must show up as an object. */
    for (t = 0; cfg != NULL && t < cfg->n_tokens; t++)
        for (k = 0; k < cfg->tokens[t].n_keys; k++) {
            for (i = 0; i < p->n_keys; i++)
                if (strcmp(p->keys[i].slot->label, cfg->tokens[t].label) == 0 &&
                    strcmp(p->keys[i].label, cfg->tokens[t].keys[k].label) == 0)
                    break;
            if (i == p->n_keys)
                doctor_step(
                    d, DOCTOR_FAIL, "key \"%s\" on token \"%s\": not visible through the module%s",
                    cfg->tokens[t].keys[k].label, cfg->tokens[t].label,
                    cfg->tokens[t].pin != NULL ? " (its token needs a PIN: --pin-file)" : "");
        }
    for (i = 0; i < p->n_keys; i++)
        if (p->keys[i].is_kms || tool_key_usable(&p->keys[i], 0))
            try_key(d, p, &p->keys[i]);
    tool_p11_close(p);
}

static int run(int argc, char **argv)
{
    tool_common common = {0};
    p11kms_config *cfg = NULL;
    doctor d = {0};
    int opt, deep = 0;

    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_doctor);
        if (opt == OPT_DEEP) {
            deep = 1;
            continue;
        }
        return tool_usage_error(&tool_cmd_doctor, "unknown option");
    }
    if (optind != argc)
        return tool_usage_error(&tool_cmd_doctor, "doctor takes no arguments");
    tool_common_finish(&common);

    cfg = check_config(&d, &common);
    /* A configuration the module would refuse makes C_Initialize fail too: say it once. */
    if (cfg != NULL)
        doctor_store(&d, cfg, deep);
    if (cfg != NULL)
        check_module(&d, &common, cfg);
    p11kms_config_free(cfg);
    if (d.failures > 0)
        printf("doctor: %u of %u checks failed\n", d.failures, d.checks);
    else
        printf("doctor: all %u checks passed%s\n", d.checks, d.warnings ? " (see warnings)" : "");
    return d.failures > 0 ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

const tool_command tool_cmd_doctor = {
    "doctor",
    "check a configuration, its files, credentials and keys, without touching data",
    run,
    "SYNOPSIS\n"
    "    p11kms doctor [--config FILE] [--deep] [OPTIONS]\n"
    "\n"
    "DESCRIPTION\n"
    "    Checks a setup step by step and reports each step on one line (ok, warn, FAIL,\n"
    "    skip): which configuration the module will read, its owner and mode (the module\n"
    "    refuses one writable by group or others), that it parses (with the module's own\n"
    "    parser and error lines), each key's backend, permissions and key file, where cloud\n"
    "    backends will find credentials (named, never shown). Then it loads the module and,\n"
    "    for each key, does what its permissions allow: wraps a throwaway data key with the\n"
    "    context p11kms-doctor=1 and unwraps it again, and encrypts and decrypts a random\n"
    "    secret. No data and no key file is changed.\n"
    "\n"
    "    Each token's object store is checked too: where it is, which key seals it, whether\n"
    "    its directory can be made or is readable and writable (and not open to others), and\n"
    "    that every object file parses as the module reads it (no KMS call). With --deep each\n"
    "    stored object is also opened with the token's keys: one KMS Decrypt per object.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when every check passed (warnings allowed), 1 when any failed.\n"
    "\n"
    "OPTIONS\n"
    "    --deep                 open every stored object too.\n" TOOL_COMMON_HELP,
};
