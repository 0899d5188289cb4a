/* tool.h - what the p11kms command-line tool's files share: the command table, common options,
 * error reporting. Cross-file functions in tools/ are named tool_<area>_<verb>. */
#ifndef P11KMS_TOOL_H
#define P11KMS_TOOL_H

#include <stddef.h>
#include <stdint.h>
#include "pkcs11/p11kms.h"

/* Exit codes: 0 success, 1 failure, 2 usage error. */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAIL 1
#define TOOL_EXIT_USAGE 2

/* Options every command that talks to a module accepts. */
typedef struct tool_common {
    const char *module;   /* --module, $P11KMS_MODULE, or the installed module */
    const char *token;    /* --token: a token label or a pkcs11: URI */
    const char *pin_file; /* --pin-file; also $P11KMS_PIN and the URI's pin-value/pin-source */
    const char *config;   /* --config: exported as P11KMS_CONFIG for the module */
    int verbose;          /* -v: the module logs at info level */
} tool_common;

typedef struct tool_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    const char *help; /* man-page style text for "p11kms CMD --help" */
} tool_command;

extern const tool_command tool_cmd_encrypt, tool_cmd_decrypt, tool_cmd_wrap, tool_cmd_unwrap,
    tool_cmd_rewrap, tool_cmd_list, tool_cmd_keygen, tool_cmd_doctor, tool_cmd_inspect,
    tool_cmd_store, tool_cmd_s3;
extern const tool_command tool_cmd_kill_switch;

/* Print "p11kms: <message>" as one line on stderr. Every failure is reported exactly once,
 * where it happens; callers only pass the failure up. */
void tool_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Plain words for a PKCS#11 return value, followed by its name: "wrong ... (CKR_...)". */
const char *tool_rv_text(CK_RV rv);

/* getopt_long handling of the common options. The entries are spliced into each command's
 * option table with TOOL_COMMON_LONGOPTS; tool_common_opt returns 1 when it took the option. */
enum {
    TOOL_OPT_MODULE = 0x1000,
    TOOL_OPT_TOKEN,
    TOOL_OPT_PIN_FILE,
    TOOL_OPT_CONFIG,
    TOOL_OPT_HELP,
};
/* clang-format off */
#define TOOL_COMMON_LONGOPTS                                                                       \
    {"module", required_argument, NULL, TOOL_OPT_MODULE},                                          \
    {"token", required_argument, NULL, TOOL_OPT_TOKEN},                                            \
    {"pin-file", required_argument, NULL, TOOL_OPT_PIN_FILE},                                      \
    {"config", required_argument, NULL, TOOL_OPT_CONFIG},                                          \
    {"verbose", no_argument, NULL, 'v'},                                                           \
    {"help", no_argument, NULL, TOOL_OPT_HELP}
/* clang-format on */
int tool_common_opt(tool_common *c, int opt, const char *arg);
/* The help text of the common options, appended to each command's OPTIONS. */
#define TOOL_COMMON_HELP                                                                           \
    "    --module PATH          the PKCS#11 module (default: $P11KMS_MODULE, else the\n"           \
    "                           installed p11kms module " P11KMS_MODULE_PATH ").\n"                \
    "    --token TOKEN          use only this token: its label or a pkcs11: URI.\n"                \
    "    --pin-file FILE        the user PIN: the first line of FILE (also $P11KMS_PIN, or\n"      \
    "                           pin-value / pin-source in a pkcs11: URI).\n"                       \
    "    --config FILE          the p11kms configuration for the module ($P11KMS_CONFIG).\n"       \
    "    -v, --verbose          show the module's log (info; twice: debug). Without it the\n"      \
    "                           module stays quiet unless $P11KMS_LOG is set.\n"                   \
    "    --help                 show this text.\n"
/* Apply defaults and the environment; call once after option parsing. */
void tool_common_finish(tool_common *c);

/* "--help" output of a command, on stdout; "Try ..." hint on stderr for usage errors. */
int tool_help(const tool_command *cmd);
int tool_usage_error(const tool_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parse a size such as "65536", "64K", "1M". -1 on error. */
int tool_parse_size(const char *s, size_t *out);

#endif
