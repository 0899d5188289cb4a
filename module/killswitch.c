/* killswitch.c - the decryption kill switch (killswitch.h): the switch files' names, the
 * per-process view of the directory, refreshed at most every P11KMS_KILL_SWITCH_PERIOD_MS. */
/*
 * Locking: none. The table (ks.tokens and the names) is built by setup under init_lock before
 * the module is live and freed by teardown once no call runs; calls only read it. The switch
 * states are atomics every caller reads; only the thread holding ks.scanning writes them, and
 * the scanner's own bookkeeping (ks.state) is under that flag. A forked child rebuilds all of
 * it at its C_Initialize, so a scan the parent had under way at fork() cannot wedge the child.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>
#include "codec.h"
#include "killswitch.h"
#include "log.h"
#include "unwrap-cache.h"

#define KEY_NAME_ENCODED_MAX 150

enum { DIR_READ = 0, DIR_MISSING, DIR_FAULT };

typedef struct ks_token {
    const p11kms_token_config *tc;
    char *name;            /* the token's switch file */
    char **key_names;      /* each key's part after "TOKEN+" */
    atomic_uchar off;      /* the token's switch */
    atomic_uchar *key_off; /* each key's, as it is in effect */
    uint8_t *share;        /* n_keys x n_keys: [j * n_keys + k] whether keys j and k share a
                            * KMS key entry (so k's switch covers j) */
    uint8_t *seen;         /* scanner's scratch: 1 + n_keys entries */
} ks_token;

static struct {
    char *dir; /* NULL: no kill switch */
    ks_token *tokens;
    size_t n;
    atomic_uchar fault; /* the directory cannot be read: everything is off */
    atomic_flag scanning;
    atomic_uchar stray_logged;         /* the one log line for a key outside the configuration */
    int state;                         /* DIR_*, as the last scan found it (scanner only) */
    _Alignas(64) atomic_llong next_ms; /* when the next scan is due */
} ks = {.scanning = ATOMIC_FLAG_INIT};

static long long coarse_ms(void)
{
    struct timespec ts;

    /* The coarse clock is read from the vDSO without a system call: a few nanoseconds. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *p11kms_killswitch_dir(const p11kms_config *cfg)
{
    if (cfg == NULL || cfg->kill_switch_dir == NULL)
        return P11KMS_KILL_SWITCH_DIR_DEFAULT;
    return cfg->kill_switch_dir[0] != '\0' ? cfg->kill_switch_dir : NULL;
}

/* Percent-encode s into out at *at; 0, or -1 when it does not fit in cap (NUL included). */
static int encode(const char *s, char *out, size_t cap, size_t *at)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
                    (*p == '.' && p != (const unsigned char *)s);
        if (*at + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[(*at)++] = (char)*p;
        } else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*p >> 4];
            out[(*at)++] = hex[*p & 15];
        }
    }
    out[*at] = '\0';
    return 0;
}

int p11kms_killswitch_name(const char *token, const char *key, char *out, size_t cap)
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    size_t at = 0, key_at;

    if (cap == 0 || encode(token, out, cap, &at) != 0)
        return -1;
    if (key == NULL)
        return 0;
    if (at + 1 >= cap)
        return -1;
    out[at++] = '+';
    key_at = at;
    if (encode(key, out, cap, &at) == 0 && at - key_at <= KEY_NAME_ENCODED_MAX)
        return 0;
    /* '#' is always encoded, so a hashed name never equals an encoded one. */
    if (key_at + 2 + 2 * SHA256_DIGEST_LENGTH > cap)
        return -1;
    SHA256((const unsigned char *)key, strlen(key), md);
    out[key_at] = '#';
    p11kms_hex_encode(md, sizeof(md), out + key_at + 1);
    out[key_at + 1 + 2 * SHA256_DIGEST_LENGTH] = '\0';
    return 0;
}

static void token_free(ks_token *t)
{
    size_t j;

    for (j = 0; t->key_names != NULL && j < t->tc->n_keys; j++)
        free(t->key_names[j]);
    free(t->key_names);
    free(t->key_off);
    free(t->share);
    free(t->seen);
    free(t->name);
}

void p11kms_killswitch_teardown(void)
{
    size_t i;

    for (i = 0; i < ks.n; i++)
        token_free(&ks.tokens[i]);
    free(ks.tokens);
    free(ks.dir);
    ks.tokens = NULL;
    ks.n = 0;
    ks.dir = NULL;
    atomic_store(&ks.fault, 0);
    atomic_store(&ks.stray_logged, 0);
    atomic_flag_clear(&ks.scanning);
    ks.state = DIR_READ;
}

/* Whether two KMS key entries are the same KMS key: backend, key_id and every option alike. */
static int same_entry(const p11kms_key_config *a, const p11kms_key_config *b)
{
    const char *v;
    size_t i;

    if (strcmp(a->backend, b->backend) != 0 || strcmp(a->key_id, b->key_id) != 0 ||
        a->n_options != b->n_options)
        return 0;
    for (i = 0; i < a->n_options; i++) {
        v = p11kms_key_config_option(b, a->options[i].name);
        if (v == NULL || strcmp(v, a->options[i].value) != 0)
            return 0;
    }
    return 1;
}

/* Entry i of a key's KMS entries (keyset.h's order: current, then previous); NULL past the
 * last. A single backend/key_id key is its own one entry. */
static const p11kms_key_config *entry_of(const p11kms_key_config *kc, size_t i)
{
    size_t n_current = kc->n_kms == 0 ? 1 : kc->n_kms;

    if (i < n_current)
        return kc->n_kms == 0 ? kc : &kc->kms[i];
    i -= n_current;
    return i < kc->n_previous ? &kc->previous[i] : NULL;
}

int p11kms_killswitch_same_kms_key(const p11kms_key_config *a, const p11kms_key_config *b)
{
    const p11kms_key_config *ea, *eb;
    size_t i, j;

    for (i = 0; (ea = entry_of(a, i)) != NULL; i++)
        for (j = 0; (eb = entry_of(b, j)) != NULL; j++)
            if (same_entry(ea, eb))
                return 1;
    return 0;
}

/* Name and state of one token's switches. */
static CK_RV token_setup(ks_token *t, const p11kms_token_config *tc)
{
    char name[P11KMS_KILL_SWITCH_NAME_MAX + 1];
    size_t j, k, len;

    t->tc = tc;
    t->key_names = calloc(tc->n_keys + 1, sizeof(*t->key_names));
    t->key_off = calloc(tc->n_keys + 1, sizeof(*t->key_off));
    t->share = calloc(tc->n_keys * tc->n_keys + 1, 1);
    t->seen = calloc(tc->n_keys + 1, 1);
    if (t->key_names == NULL || t->key_off == NULL || t->share == NULL || t->seen == NULL ||
        p11kms_killswitch_name(tc->label, NULL, name, sizeof(name)) != 0 ||
        (t->name = strdup(name)) == NULL)
        return CKR_HOST_MEMORY;
    len = strlen(name) + 1;
    for (j = 0; j < tc->n_keys; j++) {
        if (p11kms_killswitch_name(tc->label, tc->keys[j].label, name, sizeof(name)) != 0 ||
            (t->key_names[j] = strdup(name + len)) == NULL)
            return CKR_HOST_MEMORY;
        atomic_init(&t->key_off[j], 0);
        for (k = 0; k < tc->n_keys; k++)
            t->share[j * tc->n_keys + k] =
                k == j || p11kms_killswitch_same_kms_key(&tc->keys[j], &tc->keys[k]);
    }
    atomic_init(&t->off, 0);
    return CKR_OK;
}

/* Mark what a directory entry names in the tokens' scratch. */
static void mark(const char *entry)
{
    size_t i, j, len;
    ks_token *t;

    for (i = 0; i < ks.n; i++) {
        t = &ks.tokens[i];
        len = strlen(t->name);
        if (strncmp(entry, t->name, len) != 0)
            continue;
        if (entry[len] == '\0') {
            t->seen[0] = 1;
            return;
        }
        if (entry[len] != '+')
            continue;
        for (j = 0; j < t->tc->n_keys; j++)
            if (strcmp(entry + len + 1, t->key_names[j]) == 0) {
                t->seen[1 + j] = 1;
                return;
            }
    }
}

/* Read the directory into the scratch; DIR_*, with the reason in why for DIR_FAULT. */
static int read_dir(char *why, size_t why_len)
{
    struct dirent *de;
    struct stat st;
    DIR *d;
    int fd, err;
    size_t i;

    for (i = 0; i < ks.n; i++)
        memset(ks.tokens[i].seen, 0, ks.tokens[i].tc->n_keys + 1);
    fd = open(ks.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return DIR_MISSING;
        snprintf(why, why_len, "%s", strerror(errno));
        return DIR_FAULT;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "%s", strerror(errno));
        close(fd);
        return DIR_FAULT;
    }
    if (st.st_mode & S_IWOTH) {
        snprintf(why, why_len, "writable by others (chmod o-w it)");
        close(fd);
        return DIR_FAULT;
    }
    d = fdopendir(fd);
    if (d == NULL) {
        snprintf(why, why_len, "%s", strerror(errno));
        close(fd);
        return DIR_FAULT;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (de->d_name[0] != '.')
            mark(de->d_name);
    }
    err = errno;
    closedir(d);
    if (err != 0) {
        snprintf(why, why_len, "%s", strerror(err));
        return DIR_FAULT;
    }
    return DIR_READ;
}

/* Make one switch what the scan found; one log line per change. own: the key's own switch file
 * (not only that of another key of the token with the same KMS key). */
static void settle(atomic_uchar *flag, int on, const ks_token *t, const p11kms_key_config *kc,
                   int own)
{
    size_t j;

    if (atomic_load_explicit(flag, memory_order_relaxed) == on)
        return;
    atomic_store_explicit(flag, (unsigned char)on, memory_order_relaxed);
    if (kc != NULL)
        LOG_W("kill switch %s for key \"%s\" of token \"%s\"%s: unwraps and decrypts with it %s",
              on ? "ON" : "off", kc->label, t->tc->label,
              own || !on ? "" : " (its KMS key is another switched key's)",
              on ? "are refused (CKR_KEY_FUNCTION_NOT_PERMITTED)" : "work again");
    else
        LOG_W("kill switch %s for token \"%s\": unwraps and decrypts with its keys %s",
              on ? "ON" : "off", t->tc->label,
              on ? "are refused (CKR_KEY_FUNCTION_NOT_PERMITTED)" : "work again");
    if (!on)
        return;
    /* Cached key values go at once, not when they would have expired. */
    if (kc != NULL)
        p11kms_unwrap_cache_forget(kc);
    else
        for (j = 0; j < t->tc->n_keys; j++)
            p11kms_unwrap_cache_forget(&t->tc->keys[j]);
}

static void scan(void)
{
    char why[128] = "";
    int state = read_dir(why, sizeof(why));
    size_t i, j, k, n;
    ks_token *t;
    int hit;

    if (state == DIR_FAULT) {
        if (ks.state != DIR_FAULT) {
            LOG_E("kill switch directory %s cannot be read (%s): every unwrap and decrypt is "
                  "refused until it can (docs/kill-switch.md)",
                  ks.dir, why);
            atomic_store_explicit(&ks.fault, 1, memory_order_release);
            p11kms_unwrap_cache_forget(NULL);
        }
        ks.state = state;
        return;
    }
    if (ks.state == DIR_FAULT)
        LOG_W("kill switch directory %s can be read again", ks.dir);
    else if (state == DIR_MISSING && ks.state != DIR_MISSING)
        LOG_I("kill switch directory %s does not exist: no switch is on", ks.dir);
    for (i = 0; i < ks.n; i++) {
        t = &ks.tokens[i];
        settle(&t->off, t->seen[0], t, NULL, 1);
        /* A key's switch holds for every key of the token sharing one of its KMS key entries
         * (current or previous), so an application cannot step around it by another label or
         * another key set naming that KMS key. */
        n = t->tc->n_keys;
        for (j = 0; j < n; j++) {
            for (hit = 0, k = 0; k < n && !hit; k++)
                hit = t->share[j * n + k] && t->seen[1 + k];
            settle(&t->key_off[j], hit, t, &t->tc->keys[j], t->seen[1 + j]);
        }
    }
    /* Release: a caller that sees the fault gone sees the switches read with it. */
    atomic_store_explicit(&ks.fault, 0, memory_order_release);
    ks.state = state;
}

CK_RV p11kms_killswitch_setup(const p11kms_config *cfg)
{
    CK_RV rv = CKR_HOST_MEMORY;
    const char *dir = p11kms_killswitch_dir(cfg);
    size_t i;

    p11kms_killswitch_teardown();
    if (dir == NULL) {
        LOG_I("no kill switch (\"kill_switch_dir\": null)");
        return CKR_OK;
    }
    ks.dir = strdup(dir);
    ks.tokens = calloc(cfg->n_tokens + 1, sizeof(*ks.tokens));
    if (ks.dir == NULL || ks.tokens == NULL)
        goto out;
    for (i = 0; i < cfg->n_tokens; i++) {
        ks.n = i + 1;
        rv = token_setup(&ks.tokens[i], &cfg->tokens[i]);
        if (rv != CKR_OK)
            goto out;
    }
    /* A fresh process sees the switches before its first call. */
    ks.state = DIR_READ;
    scan();
    atomic_store_explicit(&ks.next_ms, coarse_ms() + P11KMS_KILL_SWITCH_PERIOD_MS,
                          memory_order_relaxed);
    rv = CKR_OK;
out:
    if (rv != CKR_OK)
        p11kms_killswitch_teardown();
    return rv;
}

/* Read the directory when a period has passed; one caller does, the others go on with what
 * the last read found (at most one period old). */
static void refresh(void)
{
    long long now = coarse_ms(), due = atomic_load_explicit(&ks.next_ms, memory_order_relaxed);

    if (now < due)
        return;
    if (!atomic_compare_exchange_strong_explicit(&ks.next_ms, &due,
                                                 now + P11KMS_KILL_SWITCH_PERIOD_MS,
                                                 memory_order_relaxed, memory_order_relaxed))
        return;
    if (atomic_flag_test_and_set_explicit(&ks.scanning, memory_order_acquire))
        return; /* a scan is still running (a slow file system) */
    scan();
    atomic_flag_clear_explicit(&ks.scanning, memory_order_release);
}

CK_RV p11kms_killswitch_check(const p11kms_key_config *kc)
{
    const p11kms_token_config *tc;
    size_t i;

    if (ks.dir == NULL || kc == NULL)
        return CKR_OK;
    refresh();
    if (atomic_load_explicit(&ks.fault, memory_order_acquire))
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    for (i = 0; i < ks.n; i++) {
        tc = ks.tokens[i].tc;
        if (kc < tc->keys || kc >= tc->keys + tc->n_keys)
            continue;
        if (atomic_load_explicit(&ks.tokens[i].off, memory_order_relaxed) ||
            atomic_load_explicit(&ks.tokens[i].key_off[kc - tc->keys], memory_order_relaxed))
            return CKR_KEY_FUNCTION_NOT_PERMITTED;
        return CKR_OK;
    }
    /* A key outside the configuration the switches were set up for would escape them: a bug
     * in the caller, refused rather than let through. */
    if (!atomic_exchange_explicit(&ks.stray_logged, 1, memory_order_relaxed))
        LOG_E("kill switch: key \"%s\" is not a key of the configuration: unwraps and decrypts "
              "with it are refused",
              kc->label != NULL ? kc->label : "?");
    return CKR_KEY_FUNCTION_NOT_PERMITTED;
}
