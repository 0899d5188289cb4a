/* cmd-keygen.c - "p11kms keygen": create a local backend key file (mode 0600, never over an
 * existing file) or add a version to one, through the module's own key file code. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "backends/local/keyfile.h"
#include "log.h"
#include "tool.h"

enum { OPT_NEW_VERSION = 0x100 };

static const struct option options[] = {
    {"new-version", no_argument, NULL, OPT_NEW_VERSION},
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

static int run(int argc, char **argv)
{
    struct stat st;
    const char *path;
    uint32_t version = 0;
    int opt, extend = 0;
    CK_RV rv;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == OPT_NEW_VERSION)
            extend = 1;
        else if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_keygen);
        else
            return tool_usage_error(&tool_cmd_keygen, "unknown option");
    }
    if (argc - optind != 1)
        return tool_usage_error(&tool_cmd_keygen, "expected one key FILE");
    path = argv[optind];
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
    "OPTIONS\n"
    "    --new-version          add a version to an existing FILE.\n"
    "    --help                 show this text.\n",
};
