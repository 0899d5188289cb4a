/* cmd-killswitch.c - "p11kms kill-switch on|off|status": the decryption kill switch of a token
 * or a key, as files in the configuration's kill switch directory (module/killswitch.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config-load.h"
#include "killswitch.h"
#include "log.h"
#include "tool.h"
#include "util.h"

enum { OPT_KEY = 0x2000, OPT_REASON };

static const struct option options[] = {
    TOOL_COMMON_LONGOPTS,
    {"key", required_argument, NULL, OPT_KEY},
    {"reason", required_argument, NULL, OPT_REASON},
    {NULL, 0, NULL, 0},
};

typedef struct ks_args {
    const p11kms_config *cfg;
    const char *dir;
    const p11kms_token_config *token; /* NULL: every token (status only) */
    const p11kms_key_config *key;     /* NULL: the token's own switch */
    const char *reason;
} ks_args;

/* "token "T"" or "key "K" of token "T"", for messages. */
static void what(const ks_args *a, char *out, size_t cap)
{
    if (a->key != NULL)
        snprintf(out, cap, "key \"%s\" of token \"%s\"", a->key->label, a->token->label);
    else
        snprintf(out, cap, "token \"%s\"", a->token->label);
}

static int switch_path(const ks_args *a, const p11kms_key_config *key, char *out, size_t cap)
{
    char name[P11KMS_KILL_SWITCH_NAME_MAX + 1];

    if (p11kms_killswitch_name(a->token->label, key != NULL ? key->label : NULL, name,
                               sizeof(name)) != 0 ||
        (size_t)snprintf(out, cap, "%s/%s", a->dir, name) >= cap) {
        tool_err("kill switch file name too long");
        return -1;
    }
    return 0;
}

/* Keys of other tokens sharing a KMS key with a switched key: not covered by its switch. */
static void other_tokens(const p11kms_config *cfg, const p11kms_token_config *tc,
                         const p11kms_key_config *key)
{
    size_t t, k;

    for (t = 0; t < cfg->n_tokens; t++) {
        if (&cfg->tokens[t] == tc)
            continue;
        for (k = 0; k < cfg->tokens[t].n_keys; k++)
            if (p11kms_killswitch_same_kms_key(key, &cfg->tokens[t].keys[k]))
                printf("note: key \"%s\" of token \"%s\" shares a KMS key with it and is not "
                       "covered by this switch\n",
                       cfg->tokens[t].keys[k].label, cfg->tokens[t].label);
    }
}

/* mkdir -p with mode 0755 for what it creates. */
static int make_dir(const char *dir)
{
    char path[4096];
    size_t i, n = strlen(dir);

    if (n >= sizeof(path))
        return -1;
    memcpy(path, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        /* Whatever the umask: every service that loads the module must read it, or it would
         * fail closed. */
        if (mkdir(path, 0755) == 0)
            chmod(path, 0755);
        else if (errno != EEXIST) {
            tool_err("cannot create the kill switch directory %s: %s", path, strerror(errno));
            return -1;
        }
        path[i] = dir[i];
    }
    return 0;
}

/* The directory as every module sees it; 0 readable, 1 missing, -1 unreadable (fail closed). */
static int dir_state(const char *dir, char *why, size_t cap)
{
    struct stat st;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = errno;

    if (fd < 0) {
        snprintf(why, cap, "%s", strerror(err));
        return err == ENOENT ? 1 : -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, cap, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_mode & S_IWOTH) {
        snprintf(why, cap, "writable by others");
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int turn_on(const ks_args *a)
{
    char path[4096], desc[400], line[700], stamp[40], why[128];
    struct passwd *pw = getpwuid(getuid());
    time_t now = time(NULL);
    struct tm tm;
    int fd, n;

    what(a, desc, sizeof(desc));
    if (make_dir(a->dir) != 0 || switch_path(a, a->key, path, sizeof(path)) != 0)
        return TOOL_EXIT_FAIL;
    if (dir_state(a->dir, why, sizeof(why)) < 0) {
        tool_err("kill switch directory %s: %s (modules refuse every unwrap and decrypt "
                 "while it cannot be read)",
                 a->dir, why);
        return TOOL_EXIT_FAIL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        printf("kill switch for %s was already on (%s)\n", desc, path);
        return TOOL_EXIT_OK;
    }
    if (fd < 0) {
        tool_err("cannot create %s: %s", path, strerror(errno));
        return TOOL_EXIT_FAIL;
    }
    fchmod(fd, 0644); /* for status, whatever the umask */
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    n = snprintf(line, sizeof(line), "on since %s by %s (uid %u)%s%s\n", stamp,
                 pw != NULL ? pw->pw_name : "?", (unsigned)getuid(), a->reason ? ": " : "",
                 a->reason ? a->reason : "");
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)strlen(line);
    if (write(fd, line, (size_t)n) != n)
        tool_err("%s: could not write who turned it on (the switch is on)", path);
    close(fd);
    printf("kill switch ON for %s: every process using this configuration refuses its "
           "unwraps and decrypts within a second; wraps and encrypts go on (%s)\n",
           desc, path);
    if (a->key != NULL)
        other_tokens(a->cfg, a->token, a->key);
    return TOOL_EXIT_OK;
}

static int turn_off(const ks_args *a)
{
    char path[4096], desc[400];
    int gone;

    what(a, desc, sizeof(desc));
    if (switch_path(a, a->key, path, sizeof(path)) != 0)
        return TOOL_EXIT_FAIL;
    gone = unlink(path) == 0;
    if (!gone && errno != ENOENT) {
        tool_err("cannot remove %s: %s", path, strerror(errno));
        return TOOL_EXIT_FAIL;
    }
    if (gone)
        printf("kill switch off for %s: unwraps and decrypts work again within a second\n", desc);
    else
        printf("kill switch for %s was already off\n", desc);
    if (a->key != NULL) {
        ks_args t = {a->cfg, a->dir, a->token, NULL, NULL};
        char tpath[4096];
        struct stat st;

        if (switch_path(&t, NULL, tpath, sizeof(tpath)) == 0 && lstat(tpath, &st) == 0)
            printf("note: the switch of token \"%s\" is on, so the key stays off\n",
                   a->token->label);
    }
    return TOOL_EXIT_OK;
}

/* One switch's state line when it is on (or always when shown is 1). */
static void show(const ks_args *a, const p11kms_key_config *key, int always)
{
    char path[4096], desc[400], line[256] = "", clean[80];
    ks_args one = {a->cfg, a->dir, a->token, key, NULL};
    struct stat st;
    FILE *f;

    what(&one, desc, sizeof(desc));
    if (switch_path(&one, key, path, sizeof(path)) != 0)
        return;
    if (lstat(path, &st) != 0) {
        if (always)
            printf("off  %s\n", desc);
        return;
    }
    f = fopen(path, "r");
    if (f != NULL) {
        if (fgets(line, sizeof(line), f) == NULL)
            line[0] = '\0';
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    p11kms_printable(clean, sizeof(clean), line);
    printf("ON   %s%s%s\n", desc, clean[0] ? ": " : "", clean);
    if (key != NULL)
        other_tokens(a->cfg, a->token, key);
}

/* Whether an entry of the directory names a switch of cfg. */
static int known(const p11kms_config *cfg, const char *entry)
{
    char name[P11KMS_KILL_SWITCH_NAME_MAX + 1];
    size_t t, k;

    for (t = 0; t < cfg->n_tokens; t++) {
        if (p11kms_killswitch_name(cfg->tokens[t].label, NULL, name, sizeof(name)) == 0 &&
            strcmp(name, entry) == 0)
            return 1;
        for (k = 0; k < cfg->tokens[t].n_keys; k++)
            if (p11kms_killswitch_name(cfg->tokens[t].label, cfg->tokens[t].keys[k].label, name,
                                       sizeof(name)) == 0 &&
                strcmp(name, entry) == 0)
                return 1;
    }
    return 0;
}

static int status(const ks_args *a, const p11kms_config *cfg)
{
    char why[128], clean[80];
    ks_args t = *a;
    struct dirent *de;
    size_t i, k;
    DIR *d;
    int st = dir_state(a->dir, why, sizeof(why));

    if (st < 0)
        printf("kill switch directory %s: %s: every process refuses every unwrap and decrypt "
               "until it can read it (fail closed)\n",
               a->dir, why);
    else if (st > 0)
        printf("kill switch directory %s does not exist: no switch is on\n", a->dir);
    else
        printf("kill switch directory %s\n", a->dir);
    if (a->token != NULL) {
        if (a->key != NULL) {
            show(a, a->key, 1);
            show(a, NULL, 0); /* the token's switch overrides the key's */
            return TOOL_EXIT_OK;
        }
        show(a, NULL, 1);
        for (k = 0; k < a->token->n_keys; k++)
            show(a, &a->token->keys[k], 0);
        return TOOL_EXIT_OK;
    }
    for (i = 0; i < cfg->n_tokens; i++) {
        t.token = &cfg->tokens[i];
        show(&t, NULL, 1);
        for (k = 0; k < t.token->n_keys; k++)
            show(&t, &t.token->keys[k], 0);
    }
    /* Files that switch nothing: a typo an operator would otherwise take for a switch. */
    d = opendir(a->dir);
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || known(cfg, de->d_name))
            continue;
        p11kms_printable(clean, sizeof(clean), de->d_name);
        printf("warning: %s/%s names no token or key of this configuration\n", a->dir, clean);
    }
    if (d != NULL)
        closedir(d);
    return TOOL_EXIT_OK;
}

static const p11kms_token_config *find_token(const p11kms_config *cfg, const char *label)
{
    size_t i;

    if (label == NULL)
        return cfg->n_tokens == 1 ? &cfg->tokens[0] : NULL;
    for (i = 0; i < cfg->n_tokens; i++)
        if (strcmp(cfg->tokens[i].label, label) == 0)
            return &cfg->tokens[i];
    return NULL;
}

static int run(int argc, char **argv)
{
    tool_common common = {0};
    p11kms_config *cfg = NULL;
    const char *key = NULL, *verb;
    ks_args a = {NULL, NULL, NULL, NULL, NULL};
    int opt, rc = TOOL_EXIT_FAIL;
    CK_RV rv;
    size_t k;

    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        if (opt == OPT_KEY)
            key = optarg;
        else if (opt == OPT_REASON)
            a.reason = optarg;
        else if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_kill_switch);
        else
            return tool_usage_error(&tool_cmd_kill_switch, "unknown option");
    }
    if (optind + 1 != argc)
        return tool_usage_error(&tool_cmd_kill_switch, "give one of on, off, status");
    verb = argv[optind];
    if (strcmp(verb, "on") != 0 && strcmp(verb, "off") != 0 && strcmp(verb, "status") != 0)
        return tool_usage_error(&tool_cmd_kill_switch, "'%s': give one of on, off, status", verb);
    if (a.reason != NULL && (strcmp(verb, "on") != 0 || strchr(a.reason, '\n') != NULL))
        return tool_usage_error(&tool_cmd_kill_switch, "--reason is one line, with on");
    tool_common_finish(&common);

    /* The module's own reader and its error lines: the same configuration the module uses. */
    p11kms_log_configure(P11KMS_LOG_ERROR, NULL);
    rv = p11kms_config_load(common.config, P11KMS_DEFAULT_CONFIG, &cfg);
    p11kms_log_configure(P11KMS_LOG_NONE, NULL);
    if (rv != CKR_OK) {
        tool_err("cannot read the configuration: %s", tool_rv_text(rv));
        goto out;
    }
    a.cfg = cfg;
    a.dir = p11kms_killswitch_dir(cfg);
    if (a.dir == NULL) {
        tool_err("the configuration has no kill switch (\"kill_switch_dir\": null)");
        goto out;
    }
    if (common.token != NULL || key != NULL || strcmp(verb, "status") != 0) {
        a.token = find_token(cfg, common.token);
        if (a.token == NULL) {
            if (common.token != NULL)
                tool_err("no token \"%s\" in the configuration", common.token);
            else
                tool_err("the configuration has %zu tokens: name one with --token", cfg->n_tokens);
            rc = TOOL_EXIT_USAGE;
            goto out;
        }
    }
    for (k = 0; key != NULL && k < a.token->n_keys; k++)
        if (strcmp(a.token->keys[k].label, key) == 0)
            a.key = &a.token->keys[k];
    if (key != NULL && a.key == NULL) {
        tool_err("token \"%s\" has no key \"%s\"", a.token->label, key);
        rc = TOOL_EXIT_USAGE;
        goto out;
    }
    if (strcmp(verb, "on") == 0)
        rc = turn_on(&a);
    else if (strcmp(verb, "off") == 0)
        rc = turn_off(&a);
    else
        rc = status(&a, cfg);
out:
    p11kms_config_free(cfg);
    return rc;
}

const tool_command tool_cmd_kill_switch = {
    "kill-switch",
    "stop (or allow again) every unwrap and decrypt with a token or key, in every process",
    run,
    "SYNOPSIS\n"
    "    p11kms kill-switch on [--token TOKEN] [--key KEY] [--reason TEXT] [--config FILE]\n"
    "    p11kms kill-switch off [--token TOKEN] [--key KEY] [--config FILE]\n"
    "    p11kms kill-switch status [--token TOKEN] [--key KEY] [--config FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "    The decryption kill switch of a token (all its keys) or of one key: while it is on,\n"
    "    every process using the configuration refuses C_UnwrapKey and C_Decrypt with those\n"
    "    keys (CKR_KEY_FUNCTION_NOT_PERMITTED) within a second, without a restart, and logs\n"
    "    it once; C_WrapKey and C_Encrypt go on, so writes do not stop when reads are cut\n"
    "    off. Key values already unwrapped into sessions stay usable until destroyed, and the\n"
    "    unwrap cache is emptied. The switch is a file in the configuration's\n"
    "    \"kill_switch_dir\" (default " P11KMS_KILL_SWITCH_DIR_DEFAULT "): \"on\" creates it\n"
    "    (and the directory), \"off\" removes it, \"status\" lists the switches that are on\n"
    "    and files that switch nothing. Without --token, the configuration's only token.\n"
    "    If the directory exists but cannot be read (or others may write it), modules refuse\n"
    "    every unwrap and decrypt (fail closed); if it does not exist, no switch is on.\n"
    "    To stop the KMS itself from decrypting, disable the key there: docs/kill-switch.md.\n"
    "\n"
    "OPTIONS\n"
    "    --key KEY              the switch of one key (its label), not the whole token's.\n"
    "    --reason TEXT          one line kept in the switch file, shown by "
    "status.\n" TOOL_COMMON_HELP "\n"
    "EXIT STATUS\n"
    "    0 done (also when the switch already was as asked), 1 failure, 2 usage error.\n",
};
