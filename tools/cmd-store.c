/* cmd-store.c - "p11kms store list" and "p11kms store rewrap": the token object stores of a
 * configuration, listed without any KMS call, and every stored object re-sealed under the newest
 * version of its storage key or under another key of its token (docs/store.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config-load.h"
#include "envelope.h"
#include "log.h"
#include "store-io.h"
#include "store-seal.h"
#include "tool-store.h"
#include "tool.h"

enum { OPT_TO_KEY = 0x2000 };

static const struct option options[] = {
    TOOL_COMMON_LONGOPTS,
    {"to-key", required_argument, NULL, OPT_TO_KEY},
    {NULL, 0, NULL, 0},
};

/* ---- list ---------------------------------------------------------------------------------- */

typedef struct list_counts {
    unsigned objects, refused, other;
} list_counts;

static void print_sealer(const p11kms_store_file *f)
{
    uint8_t backend;
    uint32_t version;
    char ref[160];
    const p11kms_backend_ops *ops;
    size_t n = 0;

    if (p11kms_store_sealed_by(f, &backend, &version, ref, sizeof(ref), &n) != 0)
        return;
    ops = p11kms_backend_find_id(backend);
    printf("  sealed by %s %s", ops != NULL ? ops->name : "?",
           tool_store_text((uint8_t *)ref, strlen(ref)));
    if (version > 0)
        printf(" v%u", (unsigned)version);
    if (n > 1)
        printf(" and %zu more KMS key%s", n - 1, n > 2 ? "s" : "");
}

static int list_entry(tool_store *st, tool_store_entry *e, void *arg)
{
    list_counts *c = arg;
    const p11kms_object *o = e->attrs;
    size_t i;

    (void)st;
    if (!e->is_object) {
        c->other++;
        printf("  %s  %s\n", tool_store_text((const uint8_t *)e->name, strlen(e->name)),
               e->is_temp ? "a writer's temporary file (left by an interrupted write when no "
                            "process is writing)"
                          : "not an object file (ignored)");
        return 0;
    }
    if (e->why != NULL) {
        c->refused++;
        printf("  %.32s  REFUSED: %s\n", e->name, e->why);
        return 0;
    }
    c->objects++;
    printf("  %.32s  %s  label \"%s\"", e->name, tool_store_kind(o),
           tool_store_text(o->label, o->label_len));
    if (o->kind == P11KMS_OBJ_DATA_KEY && o->id_len > 0) {
        printf("  id ");
        for (i = 0; i < o->id_len && i < 32; i++)
            printf("%02x", o->id[i]);
    }
    if (o->kind == P11KMS_OBJ_DATA && o->application_len > 0)
        printf("  application \"%s\"", tool_store_text(o->application, o->application_len));
    if (o->is_private)
        printf("  private");
    if (o->kind == P11KMS_OBJ_DATA_KEY)
        printf("  %s%s%s%s%s", o->sensitive ? "sensitive" : "readable",
               o->extractable ? "" : ", unextractable", o->wrap || o->unwrap ? ", wraps" : "",
               o->encrypt || o->decrypt ? ", encrypts" : "", o->sign || o->verify ? ", signs" : "");
    printf("  generation %llu", (unsigned long long)e->f.generation);
    print_sealer(&e->f);
    printf("  (%lld bytes)\n", (long long)e->size);
    return 0;
}

static int list_token(const p11kms_token_config *tc)
{
    tool_store st;
    list_counts c = {0, 0, 0};
    int missing = 0, n;

    if (tool_store_open(tc, 0, &st) != 0)
        return -1;
    if (st.dir == NULL) {
        printf("token \"%s\": keeps no token objects: %s\n", tc->label, st.why);
        tool_store_close(&st);
        return 0;
    }
    printf("token \"%s\": store %s", tc->label, st.dir);
    if (st.storage >= 0)
        printf(", sealed by key \"%s\"\n", tc->keys[st.storage].label);
    else
        printf(", no token objects can be written: %s\n", st.why_no_key);
    n = tool_store_walk(&st, list_entry, &c, &missing);
    if (missing)
        printf("  (no directory yet: it is made at the first token object)\n");
    else if (n >= 0)
        printf("  %u object%s%s", c.objects, c.objects == 1 ? "" : "s",
               c.refused > 0 ? ", " : "\n");
    if (n >= 0 && c.refused > 0)
        printf("%u REFUSED (the module ignores them; p11kms doctor says more)\n", c.refused);
    tool_store_close(&st);
    return n < 0 ? -1 : 0;
}

/* ---- rewrap -------------------------------------------------------------------------------- */

typedef struct rewrap {
    p11kms_keyset *dst;
    int dirfd;
    unsigned done, current, failed;
} rewrap;

/* Whether f's sealed key is already one blob per current entry of dst, in its order, each of the
 * entry's newest version. */
static int up_to_date(const p11kms_store_file *f, p11kms_keyset *dst)
{
    p11kms_envelope e;
    uint32_t now;
    size_t i;
    int yes;

    if (p11kms_envelope_parse(f->envelope, f->envelope_len, &e) != CKR_OK)
        return 0;
    yes = e.n == dst->n_current;
    for (i = 0; yes && i < e.n; i++) {
        now = dst->be[i]->ops->current_version(dst->be[i]);
        yes = now != 0 && dst->be[i]->ops->owns(dst->be[i], &e.blobs[i]) &&
              e.blobs[i].key_version == now;
    }
    p11kms_envelope_clear(&e);
    return yes;
}

static int rewrap_entry(tool_store *st, tool_store_entry *e, void *arg)
{
    rewrap *rw = arg;
    p11kms_buf file = {0};
    p11kms_store_stamp stamp;
    const char *why = NULL;
    CK_RV rv;
    int err;

    if (!e->is_object)
        return 0;
    if (e->why != NULL) {
        rw->failed++;
        printf("  %.32s  not rewrapped, refused: %s\n", e->name, e->why);
        return 0;
    }
    if (up_to_date(&e->f, rw->dst)) {
        rw->current++;
        return 0;
    }
    rv =
        p11kms_store_reseal(st->readers, st->n_readers, rw->dst, st->tc->label, &e->f, &file, &why);
    if (rv != CKR_OK) {
        rw->failed++;
        printf("  %.32s  not rewrapped: %s\n", e->name, why != NULL ? why : tool_rv_text(rv));
        return 0;
    }
    err = p11kms_store_write(rw->dirfd, e->name, file.data, file.len, &stamp);
    p11kms_buf_free(&file);
    if (err != 0) {
        rw->failed++;
        printf("  %.32s  not rewrapped: cannot write it: %s\n", e->name, strerror(-err));
        return 0;
    }
    rw->done++;
    printf("  %.32s  rewrapped\n", e->name);
    return 0;
}

static int rewrap_token(const p11kms_token_config *tc, const char *to_key)
{
    tool_store st;
    rewrap rw = {NULL, -1, 0, 0, 0};
    long k = -1;
    size_t i;
    int lock = -1, missing = 0, ret = -1;

    if (tool_store_open(tc, 1, &st) != 0)
        goto out;
    if (st.dir == NULL) {
        printf("token \"%s\": keeps no token objects: %s\n", tc->label, st.why);
        ret = 0;
        goto out;
    }
    for (i = 0; to_key != NULL && i < tc->n_keys; i++)
        if (strcmp(tc->keys[i].label, to_key) == 0)
            k = (long)i;
    if (to_key != NULL && k < 0) {
        tool_err("token \"%s\" has no key \"%s\"", tc->label, to_key);
        goto out;
    }
    if (to_key == NULL && st.storage < 0) {
        tool_err("token \"%s\": nothing to rewrap to: %s (or name a key with --to-key)", tc->label,
                 st.why_no_key);
        goto out;
    }
    k = to_key != NULL ? k : st.storage;
    if ((tc->keys[k].perms & (P11KMS_PERM_WRAP | P11KMS_PERM_UNWRAP)) !=
        (P11KMS_PERM_WRAP | P11KMS_PERM_UNWRAP)) {
        tool_err("token \"%s\": key \"%s\" must be allowed to wrap (seal) and unwrap (open) to "
                 "keep stored objects",
                 tc->label, tc->keys[k].label);
        goto out;
    }
    rw.dst = st.keys[k];
    rw.dirfd = p11kms_store_dir_open(st.dir);
    if (rw.dirfd < 0) {
        printf("token \"%s\": store %s does not exist yet: nothing to rewrap\n", tc->label, st.dir);
        ret = 0;
        goto out;
    }
    /* The module's writers wait meanwhile: no C_SetAttributeValue or C_DestroyObject is lost. */
    lock = p11kms_store_lock(rw.dirfd);
    if (lock < 0) {
        tool_err("token \"%s\": cannot lock %s/.lock: %s", tc->label, st.dir, strerror(-lock));
        goto out;
    }
    printf("token \"%s\": store %s, to key \"%s\"\n", tc->label, st.dir, tc->keys[k].label);
    if (tool_store_walk(&st, rewrap_entry, &rw, &missing) < 0)
        goto out;
    printf("  %u rewrapped, %u already sealed by the newest key version, %u failed\n", rw.done,
           rw.current, rw.failed);
    if (to_key != NULL && (tc->storage_key == NULL || strcmp(tc->storage_key, to_key) != 0))
        printf("  set \"storage_key\": \"%s\" in token \"%s\" so new objects are sealed by it "
               "too\n",
               to_key, tc->label);
    ret = rw.failed > 0 ? -1 : 0;
out:
    p11kms_store_unlock(lock);
    if (rw.dirfd >= 0)
        close(rw.dirfd);
    tool_store_close(&st);
    return ret;
}

/* ---- the command --------------------------------------------------------------------------- */

static int run(int argc, char **argv)
{
    tool_common common = {0};
    p11kms_config *cfg = NULL;
    const char *sub, *to_key = NULL;
    size_t t, shown = 0;
    int opt, failed = 0;
    CK_RV rv;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return tool_help(&tool_cmd_store);
    if (argc < 2 || (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "rewrap") != 0))
        return tool_usage_error(&tool_cmd_store, "say what to do: store list, or store rewrap");
    sub = argv[1];
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_store);
        if (opt == OPT_TO_KEY && strcmp(sub, "rewrap") == 0) {
            to_key = optarg;
            continue;
        }
        return tool_usage_error(&tool_cmd_store, "unknown option");
    }
    if (optind != argc)
        return tool_usage_error(&tool_cmd_store, "store %s takes no arguments", sub);
    tool_common_finish(&common);
    /* The module's own parser, its error lines on stderr; KMS failures too while rewrapping. */
    p11kms_log_configure(P11KMS_LOG_ERROR, NULL);
    rv = p11kms_config_load(common.config, P11KMS_DEFAULT_CONFIG, &cfg);
    if (rv != CKR_OK) {
        tool_err("the configuration is refused (the line above says why)");
        return TOOL_EXIT_FAIL;
    }
    if (strcmp(sub, "rewrap") != 0)
        p11kms_log_configure(P11KMS_LOG_NONE, NULL);
    for (t = 0; t < cfg->n_tokens; t++) {
        if (common.token != NULL && strcmp(common.token, cfg->tokens[t].label) != 0)
            continue;
        if (shown++ > 0)
            printf("\n");
        if ((strcmp(sub, "list") == 0 ? list_token(&cfg->tokens[t])
                                      : rewrap_token(&cfg->tokens[t], to_key)) != 0)
            failed = 1;
    }
    p11kms_log_configure(P11KMS_LOG_NONE, NULL);
    if (shown == 0 && common.token != NULL)
        tool_err("no token \"%s\" in the configuration", common.token);
    else if (shown == 0)
        tool_err("the configuration has no tokens");
    failed |= shown == 0;
    p11kms_config_free(cfg);
    return failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
}

const tool_command tool_cmd_store = {
    "store",
    "list the token objects a store keeps, or re-seal them (rewrap)",
    run,
    "SYNOPSIS\n"
    "    p11kms store list [--token LABEL] [--config FILE]\n"
    "    p11kms store rewrap [--token LABEL] [--to-key LABEL] [--config FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "    Each token keeps its token objects (CKA_TOKEN true: keys and data objects an\n"
    "    application created) in its store directory, one file per object, the value sealed by\n"
    "    the token's storage key (docs/store.md). These commands read the configuration the\n"
    "    module reads and work on the files directly.\n"
    "\n"
    "    list shows each token's store and every file in it: object id, kind, label, CKA_ID,\n"
    "    whether it is private, sensitive, what it may do, its generation and which KMS key\n"
    "    (and version) sealed it - without any KMS call. Files the module would refuse (edited,\n"
    "    truncated, swapped) are shown as REFUSED with the reason.\n"
    "\n"
    "    rewrap re-seals every object's file key under the newest version of the token's\n"
    "    storage key, or with --to-key under another key of the token (which needs the wrap\n"
    "    and unwrap permissions). The KMS's ReEncrypt is used where the backend has it, so\n"
    "    the key never leaves the KMS, else one Decrypt and one Encrypt per object.\n"
    "    Attributes and sealed values do not change. Objects already sealed by the newest\n"
    "    version are left alone.\n"
    "    Module processes that change or destroy objects meanwhile wait for it (the store's\n"
    "    lock). After --to-key, set \"storage_key\" to that key so new objects use it too; files\n"
    "    sealed by any of the token's keys that may unwrap stay readable meanwhile.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 on success; 1 when the configuration is refused, a store cannot be read, or an\n"
    "    object could not be rewrapped (each is named).\n"
    "\n"
    "OPTIONS\n"
    "    --token LABEL          only this token.\n"
    "    --to-key LABEL         rewrap: the key of the token that seals from now "
    "on.\n" TOOL_COMMON_HELP,
};
