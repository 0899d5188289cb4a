/* cmd-decrypt.c - "p11kms decrypt": read the header, have the module unwrap the data key with the
 * context stored there, and stream out only plaintext whose chunk verified. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "datakey.h"
#include "format.h"
#include "io.h"
#include "outfile.h"
#include "stream.h"
#include "tool.h"

enum { OPT_PROGRESS = 0x100, OPT_NO_PROGRESS };

static const struct option options[] = {
    {"key", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"force", no_argument, NULL, 'f'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    TOOL_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* Each pair the user expects must be in the file's context with the same value; the file may
 * carry more (the key's default pairs). */
static int check_expected(const p11kms_context *want, const p11kms_context *have)
{
    size_t i, j;

    for (i = 0; want != NULL && i < want->n; i++) {
        const p11kms_context_pair *w = &want->pairs[i];

        for (j = 0; j < have->n; j++)
            if (have->pairs[j].key_len == w->key_len &&
                memcmp(have->pairs[j].key, w->key, w->key_len) == 0)
                break;
        if (j == have->n) {
            tool_err("wrong encryption context: the file has no \"%s\"", w->key);
            return -1;
        }
        if (have->pairs[j].value_len != w->value_len ||
            memcmp(have->pairs[j].value, w->value, w->value_len) != 0) {
            tool_err("wrong encryption context: the file has %s=%s, not %s", w->key,
                     have->pairs[j].value, w->value);
            return -1;
        }
    }
    return 0;
}

static int get_data_key(tool_p11 *p, tool_key *key, const tool_ff_header *h,
                        const p11kms_context *ctx, uint8_t out[TOOL_FF_KEY_LEN])
{
    tool_hint hint = {h->key_label, h->key_id, h->key_id_len, NULL, 0, NULL};
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    tool_key *used = NULL;
    CK_RV rv;
    int ret = -1;

    hint.kind = h->wrap_method == TOOL_FF_WRAP_ENVELOPE ? 1 : 0;
    rv = tool_dk_unwrap_any(p, key, &hint, ctx, 0, h->wrapped, h->wrapped_len, 0, &used, &dk);
    if (rv != CKR_OK) {
        if (used == NULL)
            tool_err("no key can unwrap this file's data key (it needs %s)",
                     hint.kind ? "a p11kms KMS key" : "an AES key that can unwrap");
        else
            tool_err("cannot unwrap the data key with key %s: %s", tool_key_name(used),
                     tool_rv_text(rv));
        goto out;
    }
    rv = tool_dk_value(p, used, dk, out);
    if (rv != CKR_OK) {
        tool_err("the module does not reveal the unwrapped data key: %s", tool_rv_text(rv));
        goto out;
    }
    ret = 0;
out:
    if (used != NULL)
        tool_dk_destroy(p, used, dk);
    return ret;
}

static int run(int argc, char **argv)
{
    tool_common common = {0};
    tool_p11 *p = NULL;
    tool_key *k = NULL;
    tool_ff_header h = {0};
    tool_out out = {.fd = -1};
    tool_progress prog;
    p11kms_context *want = NULL, *ctx = NULL;
    uint8_t key[TOOL_FF_KEY_LEN];
    const char *key_spec = NULL, *in_path, *out_path;
    size_t hdr_len = 0;
    uint64_t in_size = 0, body = 0;
    int opt, force = 0, progress = -1, in_fd = -1, ret = TOOL_EXIT_FAIL;

    while ((opt = getopt_long(argc, argv, "k:c:fv", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            key_spec = optarg;
            break;
        case 'c':
            if (tool_ctx_add_arg(&want, optarg) != 0)
                goto out;
            break;
        case 'f':
            force = 1;
            break;
        case OPT_PROGRESS:
            progress = 1;
            break;
        case OPT_NO_PROGRESS:
            progress = 0;
            break;
        case TOOL_OPT_HELP:
            ret = tool_help(&tool_cmd_decrypt);
            goto out;
        default:
            ret = tool_usage_error(&tool_cmd_decrypt, "unknown option");
            goto out;
        }
    }
    if (argc - optind != 2) {
        ret = tool_usage_error(&tool_cmd_decrypt, "expected IN and OUT");
        goto out;
    }
    in_path = argv[optind];
    out_path = argv[optind + 1];
    tool_common_finish(&common);
    if (tool_out_check(out_path, force) != 0 || tool_io_open_in(in_path, &in_fd, &in_size) != 0)
        goto out;
    if (tool_io_read_header(in_fd, in_path, &h, &hdr_len) != 0)
        goto out;
    if (p11kms_context_decode(h.context, h.context_len, &ctx) != CKR_OK) {
        tool_err("%s: damaged file header (encryption context)", in_path);
        goto out;
    }
    /* A mismatch is refused here, before the KMS is asked. */
    if (check_expected(want, ctx) != 0)
        goto out;

    if (tool_p11_open(&common, key_spec, &p) != 0)
        goto out;
    if (key_spec != NULL && tool_key_select(p, key_spec, TOOL_NEED_UNWRAP, &k) != 0)
        goto out;
    if (get_data_key(p, k, &h, ctx, key) != 0)
        goto out;

    if (in_size > hdr_len)
        body = in_size - hdr_len;
    if (tool_out_open(&out, out_path, force, 0600) != 0)
        goto out;
    tool_progress_start(&prog, "decrypting", body, progress);
    if (tool_stream_run(&h, key, 0, in_fd, out.fd, &prog) != 0)
        goto out;
    if (tool_out_commit(&out) != 0)
        goto out;
    ret = TOOL_EXIT_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    tool_out_abort(&out);
    tool_io_close_in(in_fd);
    tool_ff_header_clear(&h);
    p11kms_context_free(want);
    p11kms_context_free(ctx);
    tool_p11_close(p);
    return ret;
}

const tool_command tool_cmd_decrypt = {
    "decrypt",
    "decrypt a file made by p11kms encrypt",
    run,
    "SYNOPSIS\n"
    "    p11kms decrypt [--key KEY] [--context NAME=VALUE]... [OPTIONS] IN OUT\n"
    "\n"
    "DESCRIPTION\n"
    "    Decrypts IN into OUT ('-' for stdin or stdout). The module unwraps the file's data key\n"
    "    with the encryption context stored in the header; with a KMS key, the KMS refuses a\n"
    "    context that differs from the one it was wrapped with. Every chunk is verified before\n"
    "    its plaintext is written, and the file must end with the chunk sealed as the last:\n"
    "    truncated, reordered, altered or extended files are refused.\n"
    "\n"
    "    OUT is written to a temporary file beside it (mode 0600) and renamed into place only\n"
    "    after the last chunk verified; on failure nothing is left behind. With OUT '-' the\n"
    "    plaintext of each verified chunk goes to stdout as it verifies: a failure later in the\n"
    "    file (truncation, a damaged chunk) is reported and the exit status is non-zero, but\n"
    "    what was already written stays written - check the exit status before using it.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the unwrapping key: its label, or a pkcs11: URI. Without it the\n"
    "                           key named in the header is tried first, then the others.\n"
    "    -c, --context N=V      require this pair in the file's context; repeat for more.\n"
    "                           The file is refused, before any KMS call, if one is missing\n"
    "                           or has another value.\n"
    "    -f, --force            replace OUT if it exists.\n"
    "    --progress, --no-progress\n"
    "                           force or suppress the progress bar.\n"
    TOOL_COMMON_HELP
    "\n"
    "EXAMPLES\n"
    "    p11kms decrypt --context app=billing report.csv.p11kms report.csv\n"
    "    p11kms decrypt backup.tar.p11kms - | tar x\n",
};
