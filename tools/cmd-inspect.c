/* cmd-inspect.c - "p11kms inspect": what an encrypted file's header or a wrapped key says about
 * itself (key, key version, context, chunking), without any key or module. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "b64.h"
#include "backend.h"
#include "datakey.h"
#include "envelope.h"
#include "format.h"
#include "io.h"
#include "s3-get.h"
#include "s3-meta.h"
#include "stream.h"
#include "tool.h"

enum { OPT_BLOB = 0x100 };

static const struct option options[] = {
    {"blob", no_argument, NULL, OPT_BLOB},
    {"help", no_argument, NULL, TOOL_OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int inspect_src(const tool_io_src *src, const char *path, uint64_t size);

static void print_wrapped(const uint8_t *w, size_t len)
{
    const p11kms_backend_ops *ops;
    p11kms_envelope env;
    size_t i;

    memset(&env, 0, sizeof(env));
    if (p11kms_envelope_parse(w, len, &env) != CKR_OK) {
        printf("wrapped:    %zu bytes, not a p11kms envelope (a module's own wrapping)\n", len);
        return;
    }
    printf("wrapped:    p11kms envelope, %zu bytes\n", len);
    printf("envelope:   version %u, purpose %s\n", env.version, p11kms_envelope_purpose_name(&env));
    if (env.version == P11KMS_ENVELOPE_VERSION_1)
        printf("            (made before envelopes said what they hold: 'p11kms rewrap' makes a "
               "wrapped key version 2)\n");
    for (i = 0; i < env.n; i++) {
        ops = p11kms_backend_find_id(env.blobs[i].backend_id);
        if (ops != NULL)
            printf("kms key:    %s %s", ops->name, env.blobs[i].key_ref);
        else
            printf("kms key:    backend %u %s", env.blobs[i].backend_id, env.blobs[i].key_ref);
        if (env.blobs[i].key_version > 0)
            printf(", version %lu", (unsigned long)env.blobs[i].key_version);
        printf("\n");
    }
    p11kms_envelope_clear(&env);
}

/* An S3 object: what its metadata says, from a HEAD alone; an object without p11kms metadata
 * (uploaded by another program) has its header read with a ranged GET. */
static int inspect_s3(const char *url)
{
    char *bucket = NULL, *key = NULL;
    tool_s3 *s = NULL;
    tool_s3_get *g = NULL;
    tool_io_src src = {.read = tool_s3_get_read};
    int ret = TOOL_EXIT_FAIL;

    if (tool_s3_parse_url(url, &bucket, &key) != 0)
        return TOOL_EXIT_USAGE;
    if (key[0] == 0) {
        tool_err("%s names a bucket, not an object", url);
        ret = TOOL_EXIT_USAGE;
        goto out;
    }
    if (tool_s3_open(0, &s) != 0 || tool_s3_get_open(s, bucket, key, &g) != 0)
        goto out;
    if (tool_s3_meta_present(g)) {
        tool_s3_meta_print(g, url);
        ret = TOOL_EXIT_OK;
        goto out;
    }
    src.ctx = g;
    ret = inspect_src(&src, url, tool_s3_get_size(g));
out:
    tool_s3_get_close(g);
    tool_s3_close(s);
    free(bucket);
    free(key);
    return ret;
}

static int inspect_file(const char *path)
{
    tool_io_src src = {.fd = -1};
    uint64_t size = 0;
    int ret;

    if (tool_s3_is_url(path))
        return inspect_s3(path);
    if (tool_io_open_in(path, &src.fd, &size) != 0)
        return TOOL_EXIT_FAIL;
    ret = inspect_src(&src, path, size);
    tool_io_close_in(src.fd);
    return ret;
}

static int inspect_src(const tool_io_src *src, const char *path, uint64_t size)
{
    tool_ff_header h = {0};
    p11kms_context *ctx = NULL;
    char *text = NULL;
    size_t hdr_len = 0, i;
    int ret = TOOL_EXIT_FAIL;

    if (tool_io_read_header_src(src, path, &h, &hdr_len) != 0)
        goto out;
    if (p11kms_context_decode(h.context, h.context_len, &ctx) != CKR_OK ||
        (text = tool_ctx_text(ctx)) == NULL) {
        tool_err("%s: damaged file header (encryption context)", path);
        goto out;
    }
    printf("format:     p11kms encrypted file, version %d, header %zu bytes\n", TOOL_FF_VERSION,
           hdr_len);
    printf("cipher:     AES-256-GCM, %lu-byte chunks\n", (unsigned long)h.chunk_size);
    if (size > hdr_len)
        printf("plaintext:  %llu bytes if intact\n",
               (unsigned long long)tool_stream_plain_len(size - hdr_len, h.chunk_size));
    printf("wrapped by: %s\n", h.wrap_method == TOOL_FF_WRAP_ENVELOPE
                                   ? "a KMS key (CKM_P11KMS_ENVELOPE)"
                                   : "an AES key (CKM_AES_KEY_WRAP_PAD)");
    printf("key label:  %s\n", h.key_label[0] ? h.key_label : "(none)");
    if (h.key_id_len > 0) {
        printf("key id:     ");
        for (i = 0; i < h.key_id_len; i++)
            printf("%02x", h.key_id[i]);
        printf("\n");
    }
    printf("context:    %s\n", text);
    print_wrapped(h.wrapped, h.wrapped_len);
    ret = TOOL_EXIT_OK;
out:
    free(text);
    p11kms_context_free(ctx);
    tool_ff_header_clear(&h);
    return ret;
}

static int inspect_blob(const char *b64)
{
    uint8_t *blob = NULL;
    size_t len = 0;

    if (tool_b64_decode(b64, strlen(b64), &blob, &len) != 0) {
        tool_err("not a base64 wrapped key");
        return TOOL_EXIT_FAIL;
    }
    print_wrapped(blob, len);
    free(blob);
    return TOOL_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int opt, blob = 0;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_BLOB)
            blob = 1;
        else if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_inspect);
        else
            return tool_usage_error(&tool_cmd_inspect, "unknown option");
    }
    if (argc - optind != 1)
        return tool_usage_error(&tool_cmd_inspect, "expected one FILE or --blob BASE64");
    return blob ? inspect_blob(argv[optind]) : inspect_file(argv[optind]);
}

const tool_command tool_cmd_inspect = {
    "inspect",
    "show what an encrypted file or a wrapped key says about itself",
    run,
    "SYNOPSIS\n"
    "    p11kms inspect FILE\n"
    "    p11kms inspect s3://BUCKET/KEY\n"
    "    p11kms inspect --blob BASE64\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints the header of an encrypted FILE ('-' for stdin): format version, chunk size,\n"
    "    the wrapping key's label and ID, the encryption context, and for a KMS key the\n"
    "    envelope version and what it holds (a wrapped key or data; version 1 does not say),\n"
    "    and the backend, KMS key and key version that wrapped the data key. With --blob, the\n"
    "    same for a base64 wrapped key from 'p11kms wrap' or 'rewrap'. Nothing is decrypted\n"
    "    and no module is loaded; nothing shown here is verified until the file is decrypted.\n"
    "\n"
    "    For an S3 object made by 'p11kms encrypt IN s3://...' the same facts come from the\n"
    "    object's metadata (x-amz-meta-p11kms-*) with a HEAD request alone; the context is\n"
    "    shown by its keys. An object without that metadata has its header read with a\n"
    "    ranged GET. S3 is reached as by 'p11kms s3' (see its --help).\n"
    "\n"
    "OPTIONS\n"
    "    --blob                 the argument is a base64 wrapped key, not a file.\n"
    "    --help                 show this text.\n",
};
