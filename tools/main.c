/* main.c - the p11kms command-line tool: dispatches "p11kms COMMAND ..." to the command files.
 * Every command talks to the module only through PKCS#11 (keygen and doctor also read files). */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "tool.h"

static const tool_command *const commands[] = {
    &tool_cmd_encrypt,
    &tool_cmd_decrypt,
    &tool_cmd_wrap,
    &tool_cmd_unwrap,
    &tool_cmd_rewrap,
    &tool_cmd_list,
    &tool_cmd_keygen,
    &tool_cmd_doctor,
    &tool_cmd_inspect,
    &tool_cmd_store,
    &tool_cmd_kill_switch,
    &tool_cmd_s3,
    NULL,
};

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "Usage: p11kms COMMAND [OPTIONS] [ARGS]\n\n"
               "Envelope encryption with cloud KMS keys (AWS KMS, Google Cloud KMS, Vault\n"
               "transit, local key files) through the p11kms PKCS#11 module - or any PKCS#11\n"
               "module with AES keys.\n\nCommands:\n");
    for (i = 0; commands[i] != NULL; i++)
        fprintf(f, "    %-12s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n'p11kms COMMAND --help' describes a command; 'man p11kms' all of them.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    /* A closed pipe on stdout is an error to report, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    /* Large buffers (chunk slots, S3 parts and ranges) are taken and freed by several threads
     * over and over: one arena, where a freed buffer is reused by the next of its size, bounds
     * the memory (glibc's per-thread arenas kept freed ones and a 1 GiB download peaked at
     * 71 MiB), and keeping them off mmap saves faulting in fresh zeroed pages each time (a
     * download from S3 ran 1.6x faster). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    /* The tool's own copy of the core (config and key file parsing) reports through tool_err;
     * doctor raises this to show configuration errors exactly as the module logs them. */
    p11kms_log_configure(P11KMS_LOG_NONE, NULL);

    if (argc < 2) {
        usage(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("p11kms %s\n", PACKAGE_VERSION);
        return TOOL_EXIT_OK;
    }
    for (i = 0; commands[i] != NULL; i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "p11kms: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return TOOL_EXIT_USAGE;
}
