/* cmd-wrap.c - "p11kms wrap", "unwrap" and "rewrap": data keys as base64 lines for scripts and
 * databases (a wrapped key stored beside the data it protects), with bulk rotation on stdin. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "b64.h"
#include "datakey.h"
#include "envelope.h"
#include "tool.h"

#define LINE_MAX_BYTES (1024u * 1024u)

enum { OPT_WRAPPED_ONLY = 0x100, OPT_TO_KEY, OPT_TO_CONTEXT };

static const struct option options[] = {
    {"key", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"wrapped-only", no_argument, NULL, OPT_WRAPPED_ONLY},
    {"to-key", required_argument, NULL, OPT_TO_KEY},
    {"to-context", required_argument, NULL, OPT_TO_CONTEXT},
    TOOL_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

typedef struct wrap_args {
    const tool_command *cmd;
    tool_common common;
    const char *key_spec;
    const char *to_spec;
    p11kms_context *user;
    p11kms_context *to_user;
    int to_context_given;
    int wrapped_only;
    tool_p11 *p;
    tool_key *key;      /* --key, resolved; NULL: found per blob */
    tool_key *to;       /* rewrap --to-key, resolved */
    tool_key *last;     /* the key that unwrapped the previous blob */
    unsigned long line; /* input line, for messages; 0 for a command-line argument */
} wrap_args;

/* Parse the options; returns -1 to go on, else the exit code. */
static int parse(wrap_args *a, int argc, char **argv)
{
    int opt;

    while ((opt = getopt_long(argc, argv, "k:c:v", options, NULL)) != -1) {
        if (tool_common_opt(&a->common, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            a->key_spec = optarg;
            break;
        case 'c':
            if (tool_ctx_add_arg(&a->user, optarg) != 0)
                return TOOL_EXIT_FAIL;
            break;
        case OPT_WRAPPED_ONLY:
            if (a->cmd != &tool_cmd_wrap)
                return tool_usage_error(a->cmd, "--wrapped-only is an option of wrap");
            a->wrapped_only = 1;
            break;
        case OPT_TO_KEY:
        case OPT_TO_CONTEXT:
            if (a->cmd != &tool_cmd_rewrap)
                return tool_usage_error(a->cmd, "--to-key and --to-context are rewrap options");
            if (opt == OPT_TO_KEY)
                a->to_spec = optarg;
            else if (tool_ctx_add_arg(&a->to_user, optarg) != 0)
                return TOOL_EXIT_FAIL;
            a->to_context_given |= opt == OPT_TO_CONTEXT;
            break;
        case TOOL_OPT_HELP:
            return tool_help(a->cmd);
        default:
            return tool_usage_error(a->cmd, "unknown option");
        }
    }
    tool_common_finish(&a->common);
    return -1;
}

/* The context a wrap or unwrap with k binds; a plain AES key cannot bind one. */
static int context_for(const tool_key *k, const p11kms_context *user, p11kms_context **out)
{
    if (!k->is_kms && user != NULL && user->n > 0) {
        tool_err("key %s is a plain AES key: it cannot bind an encryption context (use a "
                 "p11kms KMS key, or leave out --context)",
                 tool_key_name(k));
        return -1;
    }
    return tool_ctx_effective(k, user, out);
}

static void line_err(const wrap_args *a, const char *what, const tool_key *k, CK_RV rv)
{
    char where[32] = "";

    if (a->line > 0)
        snprintf(where, sizeof(where), "line %lu: ", a->line);
    if (k != NULL)
        tool_err("%scannot %s with key %s: %s", where, what, tool_key_name(k), tool_rv_text(rv));
    else
        tool_err("%sno key can unwrap this blob", where);
}

static int print_b64(const uint8_t *data, size_t len, const char *prefix, int secret)
{
    char *text = tool_b64_encode(data, len);

    if (text == NULL) {
        tool_err("out of memory");
        return -1;
    }
    printf("%s%s\n", prefix, text);
    if (secret)
        OPENSSL_cleanse(text, strlen(text));
    free(text);
    return 0;
}

static int do_wrap(wrap_args *a)
{
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    p11kms_context *ctx = NULL;
    uint8_t value[TOOL_DATA_KEY_LEN], *blob = NULL;
    size_t blob_len = 0;
    CK_RV rv;
    int ret = -1;

    if (context_for(a->key, a->user, &ctx) != 0)
        goto out;
    /* When only the wrapped form is wanted, the plaintext key never leaves the module. */
    rv = tool_dk_generate(a->p, a->key, a->wrapped_only, &dk);
    if (rv != CKR_OK) {
        tool_err("cannot generate a data key: %s", tool_rv_text(rv));
        goto out;
    }
    rv = tool_dk_wrap(a->p, a->key, ctx, dk, &blob, &blob_len);
    if (rv != CKR_OK) {
        line_err(a, "wrap the data key", a->key, rv);
        goto out;
    }
    if (a->wrapped_only) {
        ret = print_b64(blob, blob_len, "", 0);
        goto out;
    }
    rv = tool_dk_value(a->p, a->key, dk, value);
    if (rv != CKR_OK) {
        tool_err("the module does not reveal the data key: %s", tool_rv_text(rv));
        goto out;
    }
    if (print_b64(value, sizeof(value), "data_key=", 1) != 0 ||
        print_b64(blob, blob_len, "wrapped_key=", 0) != 0)
        goto out;
    ret = 0;
out:
    OPENSSL_cleanse(value, sizeof(value));
    tool_dk_destroy(a->p, a->key, dk);
    free(blob);
    p11kms_context_free(ctx);
    return ret;
}

/* Unwrap one blob into a session key; *used gets the key that did it. */
static int unwrap_blob(wrap_args *a, const uint8_t *blob, size_t len, int sensitive,
                       tool_key **used, CK_OBJECT_HANDLE *dk)
{
    tool_hint hint = {NULL, NULL, 0, NULL, -1, a->last};
    p11kms_envelope env;
    CK_RV rv;

    memset(&env, 0, sizeof(env));
    /* A p11kms envelope names its KMS key: try the key configured with that name first. */
    if (p11kms_envelope_parse(blob, len, &env) == CKR_OK && env.n > 0) {
        hint.kind = 1;
        hint.kms_ref = env.blobs[0].key_ref;
    }
    rv = tool_dk_unwrap_any(a->p, a->key, &hint, a->user, 1, blob, len, sensitive, used, dk);
    p11kms_envelope_clear(&env);
    if (rv != CKR_OK) {
        line_err(a, "unwrap", *used, rv);
        return -1;
    }
    a->last = *used;
    return 0;
}

static int do_unwrap(wrap_args *a, const uint8_t *blob, size_t len)
{
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    uint8_t value[TOOL_DATA_KEY_LEN];
    tool_key *used = NULL;
    CK_RV rv;
    int ret = -1;

    if (unwrap_blob(a, blob, len, 0, &used, &dk) != 0)
        goto out;
    rv = tool_dk_value(a->p, used, dk, value);
    if (rv != CKR_OK) {
        line_err(a, "read the unwrapped key", used, rv);
        goto out;
    }
    ret = print_b64(value, sizeof(value), "", 1);
out:
    OPENSSL_cleanse(value, sizeof(value));
    if (used != NULL)
        tool_dk_destroy(a->p, used, dk);
    return ret;
}

/* Whether blob is a p11kms envelope (a KMS key's), not an RFC 5649 blob of a plain AES key. */
static int is_envelope(const uint8_t *blob, size_t len)
{
    p11kms_envelope env;
    int yes;

    memset(&env, 0, sizeof(env));
    yes = p11kms_envelope_parse(blob, len, &env) == CKR_OK && env.n > 0;
    p11kms_envelope_clear(&env);
    return yes;
}

/* The same key's current KMS key(s) and version, the context kept: CKM_P11KMS_REWRAP, the KMS's
 * own re-encrypt where it can (the data key never in this process), else inside the module. */
static int rewrap_in_place(wrap_args *a, const uint8_t *blob, size_t len)
{
    tool_hint hint = {NULL, NULL, 0, NULL, 1, a->last};
    p11kms_envelope env;
    tool_key *used = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    CK_RV rv;
    int ret = -1;

    memset(&env, 0, sizeof(env));
    if (p11kms_envelope_parse(blob, len, &env) == CKR_OK && env.n > 0)
        hint.kms_ref = env.blobs[0].key_ref;
    rv = tool_dk_rewrap_any(a->p, a->key, &hint, a->user, blob, len, &used, &out, &out_len);
    p11kms_envelope_clear(&env);
    if (rv != CKR_OK) {
        line_err(a, "rewrap", used, rv);
        goto out;
    }
    a->last = used;
    ret = print_b64(out, out_len, "", 0);
out:
    free(out);
    return ret;
}

/* The plaintext key stays in the module: unwrapped sensitive, wrapped again under the target
 * (the same key's current version, or --to-key on the same token). */
static int do_rewrap(wrap_args *a, const uint8_t *blob, size_t len)
{
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    p11kms_context *ctx = NULL;
    tool_key *used = NULL, *to;
    uint8_t *out = NULL;
    size_t out_len = 0;
    CK_RV rv;
    int ret = -1;

    if (unwrap_blob(a, blob, len, 1, &used, &dk) != 0)
        goto out;
    to = a->to != NULL ? a->to : used;
    if (to->slot != used->slot) {
        tool_err("--to-key %s is on another token than %s: the key cannot move between tokens "
                 "without leaving the module",
                 tool_key_name(to), tool_key_name(used));
        goto out;
    }
    if (!tool_key_usable(to, TOOL_NEED_WRAP)) {
        tool_err("key %s cannot wrap (use --to-key)", tool_key_name(to));
        goto out;
    }
    if (context_for(to, a->to_context_given ? a->to_user : a->user, &ctx) != 0)
        goto out;
    rv = tool_dk_wrap(a->p, to, ctx, dk, &out, &out_len);
    if (rv != CKR_OK) {
        line_err(a, "wrap again", to, rv);
        goto out;
    }
    ret = print_b64(out, out_len, "", 0);
out:
    if (used != NULL)
        tool_dk_destroy(a->p, used, dk);
    free(out);
    p11kms_context_free(ctx);
    return ret;
}

static int one_blob(wrap_args *a, const char *text, size_t len)
{
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int ret;

    if (tool_b64_decode(text, len, &blob, &blob_len) != 0) {
        if (a->line > 0)
            tool_err("line %lu: not a base64 wrapped key", a->line);
        else
            tool_err("not a base64 wrapped key");
        return -1;
    }
    if (a->cmd != &tool_cmd_rewrap)
        ret = do_unwrap(a, blob, blob_len);
    else if (a->to == NULL && !a->to_context_given && (a->key == NULL || a->key->is_kms) &&
             is_envelope(blob, blob_len))
        ret = rewrap_in_place(a, blob, blob_len);
    else
        ret = do_rewrap(a, blob, blob_len);
    free(blob);
    return ret;
}

/* One blob per line; a failed or empty line gives an empty output line, so output line N
 * always answers input line N. */
static int each_line(wrap_args *a)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int failed = 0;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        a->line++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0) {
            printf("\n");
        } else if ((size_t)n > LINE_MAX_BYTES) {
            tool_err("line %lu: longer than any wrapped key", a->line);
            printf("\n");
            failed = 1;
        } else if (one_blob(a, line, (size_t)n) != 0) {
            printf("\n");
            failed = 1;
        }
    }
    free(line);
    if (ferror(stdin)) {
        tool_err("cannot read stdin: %s", strerror(errno));
        return -1;
    }
    return failed ? -1 : 0;
}

static int run_any(const tool_command *cmd, int argc, char **argv)
{
    wrap_args a;
    p11kms_context *ctx = NULL;
    int ret, i, failed = 0;

    memset(&a, 0, sizeof(a));
    a.cmd = cmd;
    ret = parse(&a, argc, argv);
    if (ret >= 0)
        goto out;
    ret = TOOL_EXIT_FAIL;
    if (cmd == &tool_cmd_wrap && optind != argc) {
        ret = tool_usage_error(cmd, "wrap takes no arguments");
        goto out;
    }
    if (tool_p11_open(&a.common, a.key_spec, &a.p) != 0)
        goto out;
    if ((cmd == &tool_cmd_wrap || a.key_spec != NULL) &&
        tool_key_select(a.p, a.key_spec, cmd == &tool_cmd_wrap ? TOOL_NEED_WRAP : TOOL_NEED_UNWRAP,
                        &a.key) != 0)
        goto out;
    if (a.to_spec != NULL && tool_key_select(a.p, a.to_spec, TOOL_NEED_WRAP, &a.to) != 0)
        goto out;
    /* A context a plain AES key cannot bind is refused once, before any blob. */
    if (a.key != NULL && context_for(a.key, a.user, &ctx) != 0)
        goto out;

    if (cmd == &tool_cmd_wrap)
        failed = do_wrap(&a) != 0;
    else if (optind == argc)
        failed = each_line(&a) != 0;
    else
        for (i = optind; i < argc; i++)
            if (one_blob(&a, argv[i], strlen(argv[i])) != 0) {
                printf("\n"); /* output line N still answers argument N */
                failed = 1;
            }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        tool_err("cannot write the output: %s", strerror(errno));
        failed = 1;
    }
    ret = failed ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
out:
    p11kms_context_free(ctx);
    p11kms_context_free(a.user);
    p11kms_context_free(a.to_user);
    tool_p11_close(a.p);
    return ret;
}

static int run_wrap(int argc, char **argv)
{
    return run_any(&tool_cmd_wrap, argc, argv);
}

static int run_unwrap(int argc, char **argv)
{
    return run_any(&tool_cmd_unwrap, argc, argv);
}

static int run_rewrap(int argc, char **argv)
{
    return run_any(&tool_cmd_rewrap, argc, argv);
}

#define CONTEXT_HELP                                                                               \
    "    -c, --context N=V      an encryption-context pair; repeat for more. The key's\n"          \
    "                           default context is included, as with encrypt. Unwrapping\n"        \
    "                           needs the pairs the key was wrapped with.\n"

const tool_command tool_cmd_wrap = {
    "wrap",
    "print a fresh data key and its wrapped form, as base64",
    run_wrap,
    "SYNOPSIS\n"
    "    p11kms wrap [--key KEY] [--context N=V]... [--wrapped-only]\n"
    "\n"
    "DESCRIPTION\n"
    "    Generates an AES-256 data key in the module, wraps it with KEY and prints\n"
    "        data_key=BASE64\n"
    "        wrapped_key=BASE64\n"
    "    (shell-assignable: eval \"$(p11kms wrap)\"). Store the wrapped key beside the data\n"
    "    you encrypt with the data key, and forget the data key; 'p11kms unwrap' gets it back.\n"
    "    With a plain AES key of another module, --context is refused: only KMS keys bind a\n"
    "    context to a wrapped key.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the wrapping key (label or pkcs11: URI); may be left out when\n"
    "                           exactly one key can wrap.\n" CONTEXT_HELP
    "    --wrapped-only         print only the wrapped key; the data key never leaves the\n"
    "                           module (for pre-provisioning).\n" TOOL_COMMON_HELP,
};

const tool_command tool_cmd_unwrap = {
    "unwrap",
    "print the data key of base64 wrapped keys",
    run_unwrap,
    "SYNOPSIS\n"
    "    p11kms unwrap [--key KEY] [--context N=V]... [BLOB...]\n"
    "\n"
    "DESCRIPTION\n"
    "    Unwraps each base64 BLOB (or, without BLOB, each line of stdin) and prints its data\n"
    "    key in base64, one line per input. A line that fails is reported on stderr and gives\n"
    "    an empty output line, so output line N always answers input line N; the exit status\n"
    "    is then 1. Empty input lines give empty output lines.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the unwrapping key; without it the key the envelope names is\n"
    "                           tried first, then every key that can unwrap.\n" CONTEXT_HELP
        TOOL_COMMON_HELP,
};

const tool_command tool_cmd_rewrap = {
    "rewrap",
    "wrap base64 wrapped keys again: current key version, or another key",
    run_rewrap,
    "SYNOPSIS\n"
    "    p11kms rewrap [--key KEY] [--to-key KEY2] [--context N=V]... [--to-context N=V]...\n"
    "                  [BLOB...]\n"
    "\n"
    "DESCRIPTION\n"
    "    Moves each base64 BLOB (or each line of stdin) to the same key's current version (key\n"
    "    rotation) or to KEY2 (key switching), printing the new base64 wrapped key, one line\n"
    "    per input. Without --to-key and --to-context the KMS re-encrypts a blob of the key's\n"
    "    own KMS key itself where it can (AWS ReEncrypt, Vault transit rewrap), so the data key\n"
    "    is never in this host's memory; otherwise it is unwrapped inside the module into a\n"
    "    sensitive key and wrapped again.\n"
    "    The data key never leaves the module and the data it protects is not touched, so\n"
    "    old and new wrapped keys both work until the old key version is retired. With a\n"
    "    key set (README \"Rotation\"), the blobs of a \"previous\" KMS key, or of an old\n"
    "    default context listed in \"accepted_contexts\", are wrapped again under the current\n"
    "    KMS keys and context; afterwards the old ones can leave the configuration. Failures\n"
    "    are reported per line on stderr with an empty output line; exit status 1.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the key that wrapped the blobs (default: found per blob).\n"
    "    --to-key KEY2          wrap under this key instead (same token).\n" CONTEXT_HELP
    "    --to-context N=V       bind this context instead of the old one; repeat for "
    "more.\n" TOOL_COMMON_HELP "\n"
    "EXAMPLES\n"
    "    # after 'p11kms keygen --new-version' on the local key file:\n"
    "    psql -Atc 'select encrypted_kms_key from accounts' | p11kms rewrap > new-keys.txt\n",
};
