/* cmd-encrypt.c - "p11kms encrypt": a fresh data key per file, generated in the module and
 * wrapped by the KMS key with the encryption context; the data streamed with it here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "datakey.h"
#include "format.h"
#include "io.h"
#include "outfile.h"
#include "stream.h"
#include "tool.h"

enum { OPT_CHUNK = 0x100, OPT_PROGRESS, OPT_NO_PROGRESS };

static const struct option options[] = {
    {"key", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"force", no_argument, NULL, 'f'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    TOOL_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* Generate the data key, wrap it, and fill the header. key gets the value (a secret). */
static int make_data_key(tool_p11 *p, tool_key *k, const p11kms_context *ctx,
                         tool_ff_header *h, uint8_t key[TOOL_FF_KEY_LEN])
{
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    CK_RV rv;
    int ret = -1;

    rv = tool_dk_generate(p, k, 0, &dk);
    if (rv != CKR_OK) {
        tool_err("cannot generate a data key on token \"%s\": %s", k->slot->label,
                 tool_rv_text(rv));
        goto out;
    }
    rv = tool_dk_wrap(p, k, ctx, dk, &h->wrapped, &h->wrapped_len);
    if (rv != CKR_OK) {
        tool_err("cannot wrap the data key with key %s: %s", tool_key_name(k), tool_rv_text(rv));
        goto out;
    }
    rv = tool_dk_value(p, k, dk, key);
    if (rv != CKR_OK) {
        tool_err("the module does not reveal the data key it generated: %s", tool_rv_text(rv));
        goto out;
    }
    ret = 0;
out:
    tool_dk_destroy(p, k, dk);
    return ret;
}

static int fill_header(tool_ff_header *h, const tool_key *k, const p11kms_context *ctx,
                       uint32_t chunk)
{
    uint8_t *enc = NULL;
    size_t enc_len = 0;

    h->wrap_method = k->is_kms ? TOOL_FF_WRAP_ENVELOPE : TOOL_FF_WRAP_AES_KWP;
    h->chunk_size = chunk;
    if (RAND_bytes(h->prefix, TOOL_FF_PREFIX_LEN) != 1) {
        tool_err("no randomness for the file nonce");
        return -1;
    }
    /* Label and ID are only hints for decrypt's choice of key; long ones are left out. */
    h->key_label = strdup(strlen(k->label) <= TOOL_FF_LABEL_MAX ? k->label : "");
    if (k->id_len > 0 && k->id_len <= TOOL_FF_ID_MAX) {
        h->key_id = malloc(k->id_len);
        if (h->key_id != NULL) {
            memcpy(h->key_id, k->id, k->id_len);
            h->key_id_len = k->id_len;
        }
    }
    if (h->key_label == NULL || p11kms_context_encode(ctx, &enc, &enc_len) != CKR_OK) {
        tool_err("out of memory");
        return -1;
    }
    h->context = enc;
    h->context_len = enc_len;
    return 0;
}

static int run(int argc, char **argv)
{
    tool_common common = {0};
    tool_p11 *p = NULL;
    tool_key *k = NULL;
    tool_ff_header h = {0};
    tool_out out = {.fd = -1};
    tool_progress prog;
    p11kms_context *user = NULL, *ctx = NULL;
    uint8_t key[TOOL_FF_KEY_LEN], *hdr = NULL;
    const char *key_spec = NULL, *in_path, *out_path;
    size_t chunk = TOOL_FF_CHUNK_DEFAULT, hdr_len = 0;
    uint64_t in_size = 0;
    int opt, force = 0, progress = -1, in_fd = -1, ret = TOOL_EXIT_FAIL;
    mode_t um;

    while ((opt = getopt_long(argc, argv, "k:c:fv", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            key_spec = optarg;
            break;
        case 'c':
            if (tool_ctx_add_arg(&user, optarg) != 0)
                goto out;
            break;
        case OPT_CHUNK:
            if (tool_parse_size(optarg, &chunk) != 0 || chunk < TOOL_FF_CHUNK_MIN ||
                chunk > TOOL_FF_CHUNK_MAX) {
                ret = tool_usage_error(&tool_cmd_encrypt, "--chunk-size must be 1K to 4M");
                goto out;
            }
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
            ret = tool_help(&tool_cmd_encrypt);
            goto out;
        default:
            ret = tool_usage_error(&tool_cmd_encrypt, "unknown option");
            goto out;
        }
    }
    if (argc - optind != 2) {
        ret = tool_usage_error(&tool_cmd_encrypt, "expected IN and OUT");
        goto out;
    }
    in_path = argv[optind];
    out_path = argv[optind + 1];
    tool_common_finish(&common);
    if (strcmp(out_path, "-") == 0 && isatty(STDOUT_FILENO)) {
        tool_err("refusing to write encrypted data to a terminal; give OUT or redirect stdout");
        goto out;
    }
    if (tool_out_check(out_path, force) != 0 || tool_io_open_in(in_path, &in_fd, &in_size) != 0)
        goto out;

    if (tool_p11_open(&common, key_spec, &p) != 0 ||
        tool_key_select(p, key_spec, TOOL_NEED_WRAP, &k) != 0)
        goto out;
    if (tool_ctx_effective(k, user, &ctx) != 0 || fill_header(&h, k, ctx, (uint32_t)chunk) != 0)
        goto out;
    if (make_data_key(p, k, ctx, &h, key) != 0)
        goto out;
    if (tool_ff_header_encode(&h, &hdr, &hdr_len) != 0) {
        tool_err("the wrapped key or context is too large for the file header");
        goto out;
    }

    um = umask(0);
    umask(um);
    if (tool_out_open(&out, out_path, force, 0666 & ~um) != 0)
        goto out;
    if (tool_io_write_full(out.fd, hdr, hdr_len) != 0) {
        tool_err("cannot write %s: %s", out_path, strerror(errno));
        goto out;
    }
    tool_progress_start(&prog, "encrypting", in_size, progress);
    if (tool_stream_run(&h, key, 1, in_fd, out.fd, &prog) != 0)
        goto out;
    if (tool_out_commit(&out) != 0)
        goto out;
    ret = TOOL_EXIT_OK;
out:
    OPENSSL_cleanse(key, sizeof(key));
    tool_out_abort(&out);
    tool_io_close_in(in_fd);
    free(hdr);
    tool_ff_header_clear(&h);
    p11kms_context_free(user);
    p11kms_context_free(ctx);
    tool_p11_close(p);
    return ret;
}

const tool_command tool_cmd_encrypt = {
    "encrypt",
    "encrypt a file under a KMS key, with an encryption context",
    run,
    "SYNOPSIS\n"
    "    p11kms encrypt [--key KEY] [--context NAME=VALUE]... [OPTIONS] IN OUT\n"
    "\n"
    "DESCRIPTION\n"
    "    Encrypts IN into OUT ('-' for stdin or stdout). The module generates a fresh AES-256\n"
    "    data key for the file and wraps it with KEY; the wrapped key, the encryption context\n"
    "    and the chunk size go into the file's header, and the data follows in AES-256-GCM\n"
    "    chunks bound to that header, their position and the end of the file. Memory use is\n"
    "    constant whatever the size of IN.\n"
    "\n"
    "    With a p11kms KMS key the KMS binds the context to the wrapped key: decrypting needs\n"
    "    the same context, and the KMS can log and authorise on it. The key's default context\n"
    "    from the configuration is included; --context pairs add to it or replace its values.\n"
    "    With a plain AES key of another module (SoftHSM, an HSM) the data key is wrapped with\n"
    "    CKM_AES_KEY_WRAP_PAD and the context is bound only by the file's own authentication:\n"
    "    nobody outside the tool checks it. Use a non-extractable wrapping key.\n"
    "\n"
    "    OUT is written to a temporary file beside it and renamed into place only when\n"
    "    complete; on any failure nothing is left behind.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the wrapping key: its label, or a pkcs11: URI. May be left out\n"
    "                           when exactly one key can wrap.\n"
    "    -c, --context N=V      an encryption-context pair; repeat for more. Split at the\n"
    "                           first '='.\n"
    "    --chunk-size SIZE      plaintext bytes per chunk (1K..4M, default 1M).\n"
    "    -f, --force            replace OUT if it exists.\n"
    "    --progress, --no-progress\n"
    "                           force or suppress the progress bar (default: shown on a\n"
    "                           terminal for inputs of 64 MiB or more).\n"
    TOOL_COMMON_HELP
    "\n"
    "EXAMPLES\n"
    "    p11kms encrypt --context app=billing report.csv report.csv.p11kms\n"
    "    tar c data/ | p11kms encrypt --key backup - backup.tar.p11kms\n",
};
