/* cmd-list.c - "p11kms list": the module, its tokens, and their secret keys with what each may
 * do, which KMS backend and key it stands for, and a pkcs11: URI to name it by. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "datakey.h"
#include "tool.h"

static const struct option options[] = {
    TOOL_COMMON_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static void trimmed(char *dst, const CK_UTF8CHAR *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n] = 0;
    while (n > 0 && dst[n - 1] == ' ')
        dst[--n] = 0;
}

static const char *key_type_name(const tool_key *k)
{
    switch (k->key_type) {
    case CKK_AES:
        return "AES";
    case CKK_GENERIC_SECRET:
        return "generic secret";
    case CKK_VENDOR_DEFINED:
        return "vendor-defined";
    default:
        return "other";
    }
}

static void print_key(tool_p11 *p, const tool_key *k)
{
    p11kms_context *ctx = NULL;
    char *uri = tool_key_uri(p, k), *text;
    size_t i;

    printf("  key \"%s\"", k->label);
    if (k->id_len > 0) {
        printf(" id=");
        for (i = 0; i < k->id_len; i++)
            printf("%02x", k->id[i]);
    }
    printf("\n    can:     %s%s%s%s%s\n", k->wrap ? " wrap" : "", k->unwrap ? " unwrap" : "",
           k->encrypt ? " encrypt" : "", k->decrypt ? " decrypt" : "",
           k->wrap || k->unwrap || k->encrypt || k->decrypt ? "" : " nothing");
    if (k->is_kms) {
        printf("    backend:  %s\n", k->backend);
        printf("    kms key:  %s\n", k->kms_key_id != NULL ? k->kms_key_id : "(unknown)");
        if (k->version > 0)
            printf("    version:  %lu (new wraps)\n", (unsigned long)k->version);
        if (tool_ctx_effective(k, NULL, &ctx) == 0 && (text = tool_ctx_text(ctx)) != NULL) {
            printf("    context:  %s (default)\n", text);
            free(text);
        }
        p11kms_context_free(ctx);
    } else {
        printf("    type:     %s, %sextractable%s\n", key_type_name(k),
               k->extractable ? "" : "not ",
               tool_key_usable(k, TOOL_NEED_WRAP) ? " (wraps with CKM_AES_KEY_WRAP_PAD)" : "");
    }
    if (uri != NULL)
        printf("    uri:      %s\n", uri);
    free(uri);
}

static int run(int argc, char **argv)
{
    tool_common common = {0};
    tool_p11 *p = NULL;
    char manufacturer[33], description[33];
    size_t s, k, shown;
    int opt, ret = TOOL_EXIT_FAIL;

    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        if (tool_common_opt(&common, opt, optarg))
            continue;
        if (opt == TOOL_OPT_HELP)
            return tool_help(&tool_cmd_list);
        return tool_usage_error(&tool_cmd_list, "unknown option");
    }
    if (optind != argc)
        return tool_usage_error(&tool_cmd_list, "list takes no arguments");
    tool_common_finish(&common);
    if (tool_p11_open(&common, NULL, &p) != 0)
        goto out;

    trimmed(manufacturer, p->info.manufacturerID, sizeof(p->info.manufacturerID));
    trimmed(description, p->info.libraryDescription, sizeof(p->info.libraryDescription));
    printf("module %s: %s, %s %u.%u (PKCS#11 %u.%u)\n", common.module, description, manufacturer,
           p->info.libraryVersion.major, p->info.libraryVersion.minor,
           p->info.cryptokiVersion.major, p->info.cryptokiVersion.minor);
    for (s = 0; s < p->n_slots; s++) {
        tool_slot *sl = &p->slots[s];

        printf("\ntoken \"%s\" (slot %lu)%s%s\n", sl->label, (unsigned long)sl->id,
               sl->logged_in ? ", logged in" : "",
               sl->login_missing ? ", login required: give a PIN to see private keys" : "");
        for (k = 0, shown = 0; k < p->n_keys; k++) {
            if (p->keys[k].slot != sl)
                continue;
            print_key(p, &p->keys[k]);
            shown++;
        }
        if (shown == 0)
            printf("  (no secret keys)\n");
    }
    ret = TOOL_EXIT_OK;
out:
    tool_p11_close(p);
    return ret;
}

const tool_command tool_cmd_list = {
    "list",
    "show tokens and keys, with their permissions and backends",
    run,
    "SYNOPSIS\n"
    "    p11kms list [OPTIONS]\n"
    "\n"
    "DESCRIPTION\n"
    "    Shows the module, each token, and each secret key it holds: its label and CKA_ID,\n"
    "    what it may do (wrap, unwrap, encrypt, decrypt), and for p11kms KMS keys the backend,\n"
    "    the KMS key, the key version new wraps use and the default encryption context. Each\n"
    "    key's pkcs11: URI can be given to --key as it is.\n"
    "\n"
    "OPTIONS\n" TOOL_COMMON_HELP,
};
