/* cmd-crypt.c - "p11kms encrypt" and "decrypt": a fresh data key per file, made and wrapped in
 * the module with the context, the data streamed here; decrypt writes only verified chunks.
 * Either side may be an S3 object (encrypt to s3://, decrypt from s3://). */
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
#include "envelope.h"
#include "format.h"
#include "io.h"
#include "outfile.h"
#include "s3-get.h"
#include "s3-meta.h"
#include "s3-put.h"
#include "stream.h"
#include "tool.h"

enum { OPT_CHUNK = 0x100, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_SSE, OPT_SSE_KMS_KEY };

static const struct option options[] = {
    {"key", required_argument, NULL, 'k'},
    {"context", required_argument, NULL, 'c'},
    {"chunk-size", required_argument, NULL, OPT_CHUNK},
    {"force", no_argument, NULL, 'f'},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"sse", required_argument, NULL, OPT_SSE},
    {"sse-kms-key-id", required_argument, NULL, OPT_SSE_KMS_KEY},
    TOOL_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

/* What both commands are given, and what they hold while running. */
typedef struct crypt_run {
    const tool_command *cmd;
    tool_common common;
    const char *key_spec; /* the first --key */
    /* encrypt: every --key; the data key is wrapped under each into one envelope */
    const char *key_specs[P11KMS_ENVELOPE_MAX_BLOBS];
    size_t n_keys;
    p11kms_context *user; /* --context pairs */
    size_t chunk;
    int force;
    int progress; /* 1 on, 0 off, -1 automatic */
    const char *in_path;
    const char *out_path;
    int in_fd;
    uint64_t in_size;
    tool_p11 *p;
    /* the S3 side: OUT of encrypt, IN of decrypt */
    char *bucket;
    char *object;
    const char *sse;
    const char *sse_kms_key;
    tool_s3 *s3;
    tool_s3_get *get;
    tool_ff_header h;
    uint8_t key[TOOL_FF_KEY_LEN];
} crypt_run;

static int parse_s3(crypt_run *r);

/* Parse the options; -1 to go on, else the exit code. */
static int parse(crypt_run *r, int argc, char **argv)
{
    int opt;

    r->chunk = TOOL_FF_CHUNK_DEFAULT;
    r->progress = -1;
    r->in_fd = -1;
    while ((opt = getopt_long(argc, argv, "k:c:fv", options, NULL)) != -1) {
        if (tool_common_opt(&r->common, opt, optarg))
            continue;
        switch (opt) {
        case 'k':
            if (r->n_keys > 0 && r->cmd != &tool_cmd_encrypt)
                return tool_usage_error(r->cmd, "one --key; without it every usable key is tried");
            if (r->n_keys == P11KMS_ENVELOPE_MAX_BLOBS)
                return tool_usage_error(r->cmd, "at most 8 --key (an envelope holds 8 KMS blobs)");
            r->key_specs[r->n_keys++] = optarg;
            r->key_spec = r->key_specs[0];
            break;
        case 'c':
            if (tool_ctx_add_arg(&r->user, optarg) != 0)
                return TOOL_EXIT_FAIL;
            break;
        case OPT_CHUNK:
            if (r->cmd != &tool_cmd_encrypt)
                return tool_usage_error(r->cmd, "--chunk-size is an option of encrypt");
            if (tool_parse_size(optarg, &r->chunk) != 0 || r->chunk < TOOL_FF_CHUNK_MIN ||
                r->chunk > TOOL_FF_CHUNK_MAX)
                return tool_usage_error(r->cmd, "--chunk-size must be 1K to 4M");
            break;
        case 'f':
            r->force = 1;
            break;
        case OPT_PROGRESS:
        case OPT_NO_PROGRESS:
            r->progress = opt == OPT_PROGRESS;
            break;
        case OPT_SSE:
        case OPT_SSE_KMS_KEY:
            if (r->cmd != &tool_cmd_encrypt)
                return tool_usage_error(r->cmd, "--sse is an option of encrypt");
            if (opt == OPT_SSE && strcmp(optarg, "aws:kms") != 0 && strcmp(optarg, "AES256") != 0 &&
                strcmp(optarg, "aws:kms:dsse") != 0)
                return tool_usage_error(r->cmd, "--sse must be aws:kms, aws:kms:dsse or AES256");
            if (opt == OPT_SSE)
                r->sse = optarg;
            else
                r->sse_kms_key = optarg;
            break;
        case TOOL_OPT_HELP:
            return tool_help(r->cmd);
        default:
            return tool_usage_error(r->cmd, "unknown option");
        }
    }
    if (argc - optind != 2)
        return tool_usage_error(r->cmd, "expected IN and OUT");
    r->in_path = argv[optind];
    r->out_path = argv[optind + 1];
    tool_common_finish(&r->common);
    return parse_s3(r);
}

/* The S3 side, checked and its client made (no request yet); then the local side. Refused
 * before any KMS call. */
static int parse_s3(crypt_run *r)
{
    int enc = r->cmd == &tool_cmd_encrypt;
    const char *s3_path = enc ? r->out_path : r->in_path;

    if (tool_s3_is_url(enc ? r->in_path : r->out_path))
        return tool_usage_error(r->cmd,
                                "%s reads a local file or stdin and writes S3 or a "
                                "file; not %s from S3",
                                r->cmd->name, enc ? "IN" : "OUT to");
    if ((r->sse != NULL || r->sse_kms_key != NULL) && !tool_s3_is_url(s3_path))
        return tool_usage_error(r->cmd, "--sse and --sse-kms-key-id need OUT s3://BUCKET/KEY");
    if (r->sse_kms_key != NULL && r->sse == NULL)
        r->sse = "aws:kms";
    if (r->sse_kms_key != NULL && strcmp(r->sse, "AES256") == 0)
        return tool_usage_error(r->cmd, "--sse-kms-key-id goes with --sse aws:kms");
    if (tool_s3_is_url(s3_path)) {
        if (tool_s3_parse_url(s3_path, &r->bucket, &r->object) != 0)
            return TOOL_EXIT_USAGE;
        if (r->object[0] == 0)
            return tool_usage_error(r->cmd, "%s names a bucket, not an object", s3_path);
        if (tool_s3_open(r->common.verbose, &r->s3) != 0)
            return TOOL_EXIT_FAIL;
    }
    if (enc && r->s3 != NULL)
        return tool_io_open_in(r->in_path, &r->in_fd, &r->in_size) != 0 ? TOOL_EXIT_FAIL : -1;
    if (!enc && r->s3 != NULL)
        return tool_out_check(r->out_path, r->force) != 0 ? TOOL_EXIT_FAIL : -1;
    if (tool_out_check(r->out_path, r->force) != 0 ||
        tool_io_open_in(r->in_path, &r->in_fd, &r->in_size) != 0)
        return TOOL_EXIT_FAIL;
    return -1;
}

/* Open OUT, write head (the header, for encrypt), stream the body, and put OUT in place. */
static int stream_out(crypt_run *r, int encrypt, const uint8_t *head, size_t head_len,
                      uint64_t body_len, mode_t mode)
{
    tool_io_src src = {.fd = r->in_fd};
    tool_io_sink sink;
    tool_out out;
    tool_progress prog;
    int ret = -1;

    if (r->get != NULL) {
        src.read = tool_s3_get_read;
        src.ctx = r->get;
    }
    if (tool_out_open(&out, r->out_path, r->force, mode) != 0)
        return -1;
    if (head_len > 0 && tool_io_write_full(out.fd, head, head_len) != 0) {
        tool_err("cannot write %s: %s", r->out_path, strerror(errno));
        goto out;
    }
    sink = (tool_io_sink){.fd = out.fd};
    tool_progress_start(&prog, encrypt ? "encrypting" : "decrypting", body_len, r->progress);
    if (tool_stream_run_io(&r->h, r->key, encrypt, &src, &sink, &prog) != 0)
        goto out;
    ret = tool_out_commit(&out);
out:
    tool_out_abort(&out);
    return ret;
}

/* Encrypt to S3: the header and the chunks go up as one object, with the header's facts in its
 * metadata; on any failure or signal nothing becomes visible. */
static int stream_to_s3(crypt_run *r, const uint8_t *head, size_t head_len)
{
    tool_s3_put_opts o = {.sse = r->sse, .sse_kms_key = r->sse_kms_key};
    tool_io_src src = {.fd = r->in_fd};
    tool_io_sink sink = {.write = tool_s3_put_write};
    tool_s3_meta meta;
    tool_s3_put *u = NULL;
    tool_progress prog;
    char err[1536];
    int ret = -1;

    if (tool_s3_meta_build(&r->h, head_len, &meta, &o) != 0)
        return -1;
    o.size_hint = r->in_size + head_len + (r->in_size / r->h.chunk_size + 1) * TOOL_FF_TAG_LEN;
    o.min_part = r->h.chunk_size + TOOL_FF_TAG_LEN;
    o.no_replace = !r->force;
    if (tool_s3_put_begin(r->s3, r->bucket, r->object, &o, &u) != 0)
        goto out;
    sink.ctx = u;
    if (tool_s3_put_write(u, head, head_len, err, sizeof(err)) != 0) {
        tool_err("%s", err);
        goto out;
    }
    tool_progress_start(&prog, "encrypting", r->in_size, r->progress);
    if (tool_stream_run_io(&r->h, r->key, 1, &src, &sink, &prog) != 0)
        goto out;
    ret = tool_s3_put_finish(u);
out:
    tool_s3_put_end(u);
    tool_s3_meta_free(&meta);
    return ret;
}

/* Without --force an object that exists is refused now, before any KMS call; one that appears
 * meanwhile is refused by S3 at the end (If-None-Match). */
static int s3_out_check(crypt_run *r)
{
    p11kms_net_reply rep;
    int rc;

    if (r->force)
        return 0;
    rc = tool_s3_request(r->s3, "HeadObject", "HEAD", r->bucket, r->object, NULL, NULL, 0, NULL, 0,
                         0, 1, &rep);
    p11kms_net_reply_clear(&rep);
    if (rc == 0)
        tool_err("%s exists; use --force to replace it", r->out_path);
    return rc == 1 ? 0 : -1;
}

static void crypt_run_clear(crypt_run *r)
{
    OPENSSL_cleanse(r->key, sizeof(r->key));
    tool_io_close_in(r->in_fd);
    tool_ff_header_clear(&r->h);
    p11kms_context_free(r->user);
    tool_p11_close(r->p);
    tool_s3_get_close(r->get);
    tool_s3_close(r->s3);
    free(r->bucket);
    free(r->object);
}

/* Generate the data key, wrap it under each of the n keys (one envelope with a blob per KMS
 * key when n > 1), and fill the header. key gets the value (a secret). */
static int make_data_key(tool_p11 *p, tool_key *const *keys, size_t n, const p11kms_context *ctx,
                         tool_ff_header *h, uint8_t key[TOOL_FF_KEY_LEN])
{
    tool_key *k = keys[0];
    CK_OBJECT_HANDLE dk = CK_INVALID_HANDLE;
    uint8_t *wrapped[P11KMS_ENVELOPE_MAX_BLOBS] = {NULL};
    size_t wrapped_len[P11KMS_ENVELOPE_MAX_BLOBS] = {0}, i;
    CK_RV rv;
    int ret = -1;

    rv = tool_dk_generate(p, k, 0, &dk);
    if (rv != CKR_OK) {
        tool_err("cannot generate a data key on token \"%s\": %s", k->slot->label,
                 tool_rv_text(rv));
        goto out;
    }
    for (i = 0; i < n; i++) {
        rv = tool_dk_wrap(p, keys[i], ctx, dk, &wrapped[i], &wrapped_len[i]);
        if (rv != CKR_OK) {
            tool_err("cannot wrap the data key with key %s: %s", tool_key_name(keys[i]),
                     tool_rv_text(rv));
            goto out;
        }
    }
    if (n == 1) {
        h->wrapped = wrapped[0];
        h->wrapped_len = wrapped_len[0];
        wrapped[0] = NULL;
    } else if (tool_dk_merge(wrapped, wrapped_len, n, &h->wrapped, &h->wrapped_len) != 0) {
        goto out;
    }
    rv = tool_dk_value(p, k, dk, key);
    if (rv != CKR_OK) {
        tool_err("the module does not reveal the data key it generated: %s", tool_rv_text(rv));
        goto out;
    }
    ret = 0;
out:
    for (i = 0; i < n; i++)
        free(wrapped[i]);
    tool_dk_destroy(p, k, dk);
    return ret;
}

/* The keys of every --key: KMS keys of one token (the data key is made there) whose contexts
 * (default plus --context) are the same, as the file header holds one. */
static int select_keys(crypt_run *r, tool_key **keys, p11kms_context **ctx)
{
    p11kms_context *other = NULL;
    size_t i;
    int ret = -1;

    for (i = 0; i < r->n_keys || i == 0; i++) {
        if (tool_key_select(r->p, i < r->n_keys ? r->key_specs[i] : NULL, TOOL_NEED_WRAP,
                            &keys[i]) != 0)
            goto out;
        if (i == 0) {
            if (tool_ctx_effective(keys[0], r->user, ctx) != 0)
                goto out;
            continue;
        }
        if (!keys[0]->is_kms || !keys[i]->is_kms || keys[i]->slot != keys[0]->slot) {
            tool_err("several --key must be p11kms KMS keys of one token (%s and %s are not)",
                     tool_key_name(keys[0]), tool_key_name(keys[i]));
            goto out;
        }
        if (tool_ctx_effective(keys[i], r->user, &other) != 0)
            goto out;
        if (!p11kms_context_equal(other, *ctx)) {
            tool_err("keys %s and %s bind different default contexts; the file holds one "
                     "(give the pairs with --context)",
                     tool_key_name(keys[0]), tool_key_name(keys[i]));
            goto out;
        }
        p11kms_context_free(other);
        other = NULL;
    }
    ret = 0;
out:
    p11kms_context_free(other);
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

static int run_encrypt(int argc, char **argv)
{
    crypt_run r = {.cmd = &tool_cmd_encrypt};
    tool_key *keys[P11KMS_ENVELOPE_MAX_BLOBS] = {NULL};
    p11kms_context *ctx = NULL;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    mode_t um;
    int ret;

    ret = parse(&r, argc, argv);
    if (ret >= 0)
        goto out;
    ret = TOOL_EXIT_FAIL;
    if (strcmp(r.out_path, "-") == 0 && isatty(STDOUT_FILENO)) {
        tool_err("refusing to write encrypted data to a terminal; give OUT or redirect stdout");
        goto out;
    }
    if (r.s3 != NULL && s3_out_check(&r) != 0)
        goto out;
    if (tool_p11_open(&r.common, r.key_spec, &r.p) != 0 || select_keys(&r, keys, &ctx) != 0)
        goto out;
    if (fill_header(&r.h, keys[0], ctx, (uint32_t)r.chunk) != 0 ||
        make_data_key(r.p, keys, r.n_keys > 0 ? r.n_keys : 1, ctx, &r.h, r.key) != 0)
        goto out;
    if (tool_ff_header_encode(&r.h, &hdr, &hdr_len) != 0) {
        tool_err("the wrapped key or context is too large for the file header");
        goto out;
    }
    um = umask(0);
    umask(um);
    if (r.s3 != NULL ? stream_to_s3(&r, hdr, hdr_len) == 0
                     : stream_out(&r, 1, hdr, hdr_len, r.in_size, 0666 & ~um) == 0)
        ret = TOOL_EXIT_OK;
out:
    free(hdr);
    p11kms_context_free(ctx);
    crypt_run_clear(&r);
    return ret;
}

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

static int run_decrypt(int argc, char **argv)
{
    crypt_run r = {.cmd = &tool_cmd_decrypt};
    tool_key *k = NULL;
    p11kms_context *ctx = NULL;
    size_t hdr_len = 0;
    int ret;

    ret = parse(&r, argc, argv);
    if (ret >= 0)
        goto out;
    ret = TOOL_EXIT_FAIL;
    if (r.s3 != NULL) {
        tool_io_src src = {.read = tool_s3_get_read};

        /* The HEAD first: a missing object or bucket is said before any KMS call. */
        if (tool_s3_get_open(r.s3, r.bucket, r.object, &r.get) != 0)
            goto out;
        src.ctx = r.get;
        r.in_size = tool_s3_get_size(r.get);
        if (tool_io_read_header_src(&src, r.in_path, &r.h, &hdr_len) != 0)
            goto out;
    } else if (tool_io_read_header(r.in_fd, r.in_path, &r.h, &hdr_len) != 0) {
        goto out;
    }
    if (p11kms_context_decode(r.h.context, r.h.context_len, &ctx) != CKR_OK) {
        tool_err("%s: damaged file header (encryption context)", r.in_path);
        goto out;
    }
    /* A mismatch is refused here, before the KMS is asked. */
    if (check_expected(r.user, ctx) != 0)
        goto out;
    if (tool_p11_open(&r.common, r.key_spec, &r.p) != 0)
        goto out;
    if (r.key_spec != NULL && tool_key_select(r.p, r.key_spec, TOOL_NEED_UNWRAP, &k) != 0)
        goto out;
    if (get_data_key(r.p, k, &r.h, ctx, r.key) != 0)
        goto out;
    if (stream_out(&r, 0, NULL, 0, r.in_size > hdr_len ? r.in_size - hdr_len : 0, 0600) == 0)
        ret = TOOL_EXIT_OK;
out:
    p11kms_context_free(ctx);
    crypt_run_clear(&r);
    return ret;
}

const tool_command tool_cmd_encrypt = {
    "encrypt",
    "encrypt a file under a KMS key, with an encryption context",
    run_encrypt,
    "SYNOPSIS\n"
    "    p11kms encrypt [--key KEY]... [--context NAME=VALUE]... [OPTIONS] IN OUT\n"
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
    "    OUT may be s3://BUCKET/KEY: the file is uploaded as it is encrypted, in one PutObject\n"
    "    or a multipart upload (parts of 6 MiB or more, up to three in flight), aborted on any\n"
    "    failure and on SIGINT/SIGTERM/SIGHUP/SIGQUIT, so no partial object is ever visible.\n"
    "    The object's metadata (x-amz-meta-p11kms-*) repeats what the header says, for\n"
    "    'p11kms inspect s3://...'. S3 is reached as by 'p11kms s3' (see its --help).\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the wrapping key: its label, or a pkcs11: URI. May be left out\n"
    "                           when exactly one key can wrap. Repeat it (up to 8 KMS keys of\n"
    "                           one token, same context) to wrap the data key under each into\n"
    "                           one envelope: any one of those KMSs can then decrypt.\n"
    "    -c, --context N=V      an encryption-context pair; repeat for more. Split at the\n"
    "                           first '='.\n"
    "    --chunk-size SIZE      plaintext bytes per chunk (1K..4M, default 1M).\n"
    "    -f, --force            replace OUT if it exists (also an S3 object).\n"
    "    --sse aws:kms|AES256|aws:kms:dsse\n"
    "                           OUT in S3: have S3 encrypt the object at rest as well.\n"
    "    --sse-kms-key-id ID    the KMS key for --sse aws:kms (implies it).\n"
    "    --progress, --no-progress\n"
    "                           force or suppress the progress bar (default: shown on a\n"
    "                           terminal for inputs of 64 MiB or more).\n" TOOL_COMMON_HELP "\n"
    "EXAMPLES\n"
    "    p11kms encrypt --context app=billing report.csv report.csv.p11kms\n"
    "    tar c data/ | p11kms encrypt --key backup - backup.tar.p11kms\n"
    "    p11kms encrypt --key eu-kek --key us-kek db.dump db.dump.p11kms\n"
    "    pg_dump db | p11kms encrypt --sse aws:kms - s3://backups/db.dump.p11kms\n",
};

const tool_command tool_cmd_decrypt = {
    "decrypt",
    "decrypt a file made by p11kms encrypt",
    run_decrypt,
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
    "    IN may be s3://BUCKET/KEY: a HEAD first (a missing bucket or object is said before\n"
    "    any KMS call), then ranged GETs of that very version of the object, each chunk\n"
    "    verified before it is written as for a file.\n"
    "\n"
    "OPTIONS\n"
    "    -k, --key KEY          the unwrapping key: its label, or a pkcs11: URI. Without it the\n"
    "                           key named in the header is tried first, then the others (a\n"
    "                           file made with several --key opens with any one of them).\n"
    "    -c, --context N=V      require this pair in the file's context; repeat for more.\n"
    "                           The file is refused, before any KMS call, if one is missing\n"
    "                           or has another value.\n"
    "    -f, --force            replace OUT if it exists.\n"
    "    --progress, --no-progress\n"
    "                           force or suppress the progress bar.\n" TOOL_COMMON_HELP "\n"
    "EXAMPLES\n"
    "    p11kms decrypt --context app=billing report.csv.p11kms report.csv\n"
    "    p11kms decrypt backup.tar.p11kms - | tar x\n"
    "    p11kms decrypt s3://backups/db.dump.p11kms - | psql db\n",
};
