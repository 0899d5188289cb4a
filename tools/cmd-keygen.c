/* cmd-keygen.c - "p11kms keygen": create a local backend key file (mode 0600, never over an
 * existing file) or add a version to one, or create an EC or RSA private key file for an
 * asymmetric local key (--type), through the module's own key file code. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>
#include "backends/local/keyfile.h"
#include "keytype.h"
#include "log.h"
#include "tool.h"

enum { OPT_NEW_VERSION = 0x100, OPT_TYPE };

static const struct option options[] = {
    {"new-version", no_argument, NULL, OPT_NEW_VERSION},
    {"type", required_argument, NULL, OPT_TYPE},
    {"help", no_argument, NULL, TOOL_OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* What the file now holds, and how to use it. */
static int describe(const char *path, const char *what)
{
    p11kms_keyfile *kf = NULL;
    char *abs = realpath(path, NULL);

    if (abs == NULL || p11kms_keyfile_load(abs, &kf) != CKR_OK) {
        free(abs);
        return -1;
    }
    printf("%s %s: local key %s, %zu version%s, new wraps use version %u\n", what, abs, kf->name,
           kf->n, kf->n == 1 ? "" : "s", (unsigned)p11kms_keyfile_newest(kf)->version);
    if (strcmp(what, "created") == 0)
        printf("use it with KMS_KEY_ID=local:%s, or in a configuration key:\n"
               "  {\"label\": \"...\", \"backend\": \"local\", \"key_file\": \"%s\"}\n"
               "keep a backup: what it wraps cannot be unwrapped without it\n",
               abs, abs);
    p11kms_keyfile_free(kf);
    free(abs);
    return 0;
}

/* An asymmetric key file made: what it is, and how to configure it. */
static int describe_private(const char *path, const p11kms_key_type_info *t)
{
    EVP_PKEY *pk = NULL;
    char *abs = realpath(path, NULL);

    if (abs == NULL || p11kms_keyfile_private_load(abs, t->type, &pk) != CKR_OK) {
        free(abs);
        return -1;
    }
    EVP_PKEY_free(pk);
    printf("created %s: a private key of type %s for the local backend\n"
           "use it in a configuration key:\n"
           "  {\"label\": \"...\", \"backend\": \"local\", \"type\": \"%s\", \"key_file\": "
           "\"%s\"%s}\n"
           "keep it readable by its owner only: it signs%s as this key\n",
           abs, t->name, t->name, abs,
           t->ckk == CKK_RSA ? ", \"permissions\": [\"sign\", \"decrypt\"]" : "",
           t->ckk == CKK_RSA ? " and decrypts" : "");
    free(abs);
    return 0;
}

static int run(int argc, char **argv)
{
    struct stat st;
    const char *path;
    const p11kms_key_type_info *type = NULL;
    uint32_t version = 0;
    int opt, extend = 0;
    CK_RV rv;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_NEW_VERSION)
            extend = 1;
        else if (opt == OPT_TYPE) {
            type = p11kms_key_type_by_name(optarg);
            if (type == NULL)
                return tool_usage_error(&tool_cmd_keygen, "unknown --type");
        } else if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_keygen);
        else
            return tool_usage_error(&tool_cmd_keygen, "unknown option");
    }
    if (argc - optind != 1)
        return tool_usage_error(&tool_cmd_keygen, "expected one key FILE");
    path = argv[optind];
    if (type != NULL && !p11kms_key_type_is_asym(type->type))
        type = NULL; /* aes: the envelope key file, as without --type */
    if (type != NULL && extend)
        return tool_usage_error(&tool_cmd_keygen, "--new-version is for envelope (aes) key files");
    if (!extend && lstat(path, &st) == 0) {
        tool_err("%s exists; keygen never replaces a key file (add a version with "
                 "--new-version)",
                 path);
        return TOOL_EXIT_FAIL;
    }
    if (extend && stat(path, &st) != 0) {
        tool_err("%s does not exist; create it with 'p11kms keygen %s'", path, path);
        return TOOL_EXIT_FAIL;
    }
    /* The key file code logs each failure as one line naming the file; let it speak. */
    p11kms_log_configure(P11KMS_LOG_ERROR, NULL);
    if (type != NULL) {
        rv = p11kms_keyfile_private_create(path, type->type);
        if (rv != CKR_OK || describe_private(path, type) != 0)
            return TOOL_EXIT_FAIL;
        return TOOL_EXIT_OK;
    }
    rv = extend ? p11kms_keyfile_add_version(path, &version) : p11kms_keyfile_create(path);
    if (rv == CKR_HOST_MEMORY)
        tool_err("out of memory");
    if (rv != CKR_OK)
        return TOOL_EXIT_FAIL;
    if (describe(path, extend ? "extended" : "created") != 0)
        return TOOL_EXIT_FAIL;
    return TOOL_EXIT_OK;
}

const tool_command tool_cmd_keygen = {
    "keygen",
    "create a local backend key file, or add a key version to one",
    run,
    "SYNOPSIS\n"
    "    p11kms keygen FILE\n"
    "    p11kms keygen --new-version FILE\n"
    "    p11kms keygen --type TYPE FILE\n"
    "\n"
    "DESCRIPTION\n"
    "    Creates FILE, a key file of the local backend, with one random AES-256 key version\n"
    "    and mode 0600; an existing file is never replaced. With --new-version, adds a new\n"
    "    random version to FILE (rewritten atomically, keeping its mode): new wraps use the\n"
    "    newest version, and everything wrapped under older versions still unwraps. Then\n"
    "    'p11kms rewrap' moves wrapped keys to the new version.\n"
    "\n"
    "    The key file holds secret key material: keep it readable by its owner only, and\n"
    "    keep a backup - data wrapped under it is lost with it.\n"
    "\n"
    "    With --type ec-p256, ec-p384, ec-p521, ec-secp256k1, rsa-2048, rsa-3072 or\n"
    "    rsa-4096, creates FILE (mode 0600, never replacing one) holding a new private key of\n"
    "    that type in PEM (PKCS#8): an asymmetric local key, which signs (and, RSA, decrypts)\n"
    "    through the module, for OpenSSL and TLS. --type aes is the envelope key file.\n"
    "\n"
    "OPTIONS\n"
    "    --new-version          add a version to an existing FILE.\n"
    "    --type TYPE            the key type (default aes).\n"
    "    --help                 show this text.\n",
};
