/* common.c - what every command shares: the one-line error report, plain words for PKCS#11
 * return values, the common options and help output. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "tool.h"

void tool_err(const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "p11kms: %s\n", line);
}

const char *tool_rv_text(CK_RV rv)
{
    static __thread char buf[256];
    const char *words;

    switch (rv) {
    case CKR_WRAPPED_KEY_INVALID:
    case CKR_ENCRYPTED_DATA_INVALID:
        words = "refused: wrong encryption context, another key, or damaged data";
        break;
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
        words = "not permitted for this key (its configured permissions, or KMS access denied)";
        break;
    case CKR_DEVICE_ERROR:
        words = "the KMS failed or could not be reached (credentials, network, key state); "
                "-v shows the module's log";
        break;
    case CKR_MECHANISM_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
        words = "this key or module does not support the operation";
        break;
    case CKR_MECHANISM_PARAM_INVALID:
        words = "the encryption context is not valid";
        break;
    case CKR_PIN_INCORRECT:
        words = "wrong PIN";
        break;
    case CKR_PIN_LOCKED:
        words = "the PIN is locked";
        break;
    case CKR_USER_NOT_LOGGED_IN:
        words = "login required: give the PIN with --pin-file or P11KMS_PIN";
        break;
    case CKR_HOST_MEMORY:
        words = "out of memory";
        break;
    case CKR_ARGUMENTS_BAD:
        words = "invalid arguments or configuration (-v shows the module's log)";
        break;
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
        words = "the token is not present";
        break;
    case CKR_WRAPPED_KEY_LEN_RANGE:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
        words = "the wrapped key has an impossible length (damaged data)";
        break;
    case CKR_FUNCTION_NOT_SUPPORTED:
        words = "the module does not implement this function";
        break;
    default:
        words = "the module failed";
        break;
    }
    snprintf(buf, sizeof(buf), "%s (%s)", words, p11kms_rv_name(rv));
    return buf;
}

int tool_common_opt(tool_common *c, int opt, const char *arg)
{
    switch (opt) {
    case TOOL_OPT_MODULE:
        c->module = arg;
        return 1;
    case TOOL_OPT_TOKEN:
        c->token = arg;
        return 1;
    case TOOL_OPT_PIN_FILE:
        c->pin_file = arg;
        return 1;
    case TOOL_OPT_CONFIG:
        c->config = arg;
        return 1;
    case 'v':
        c->verbose++;
        return 1;
    default:
        return 0;
    }
}

void tool_common_finish(tool_common *c)
{
    const char *env = getenv("P11KMS_MODULE");

    if (c->module == NULL)
        c->module = env != NULL && *env ? env : P11KMS_MODULE_PATH;
    if (c->config != NULL)
        setenv("P11KMS_CONFIG", c->config, 1);
    /* The module logs its failures; the tool already reports each one on its own line, so
     * unless asked the module stays quiet and the user sees exactly one line per failure. */
    if (c->verbose > 0)
        setenv("P11KMS_LOG", c->verbose > 1 ? "debug" : "info", 1);
    else if (getenv("P11KMS_LOG") == NULL)
        setenv("P11KMS_LOG", "none", 1);
}

int tool_help(const tool_command *cmd)
{
    printf("p11kms %s - %s\n\n%s", cmd->name, cmd->summary, cmd->help);
    return TOOL_EXIT_OK;
}

int tool_usage_error(const tool_command *cmd, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "p11kms %s: %s (see 'p11kms %s --help')\n", cmd->name, line, cmd->name);
    return TOOL_EXIT_USAGE;
}

int tool_parse_size(const char *s, size_t *out)
{
    unsigned long long v;
    char *end;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'K' || *end == 'k') {
        v *= 1024ULL;
        end++;
    } else if (*end == 'M' || *end == 'm') {
        v *= 1024ULL * 1024ULL;
        end++;
    }
    if (*end != 0 || v > (unsigned long long)SIZE_MAX / 2)
        return -1;
    *out = (size_t)v;
    return 0;
}
