/* config-load.c - where the configuration comes from: the file rules (one descriptor, no
 * group/other write, no group/other read of a literal PIN, bounded size), the path order, and
 * the KMS_KEY_ID quick mode. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <json-c/json.h>
#include "backend.h"
#include "config-load.h"
#include "log.h"
#include "secmem.h"
#include "utf8.h"
#include "util.h"

#define QUICK_ORIGIN "KMS_KEY_ID"

/* "insecure-test-key, local:/path/key-file, ... or vault/NAME": every backend's forms. */
static void quick_forms(char *buf, size_t len)
{
    const p11kms_backend_ops *ops;
    size_t i, used = 0, n = 0, k = 0;

    buf[0] = '\0';
    for (i = 0; (ops = p11kms_backend_at(i)) != NULL; i++)
        n += ops->quick_forms != NULL;
    for (i = 0; (ops = p11kms_backend_at(i)) != NULL && used < len; i++) {
        if (ops->quick_forms == NULL)
            continue;
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 k == 0      ? ""
                                 : k + 1 < n ? ", "
                                             : " or ",
                                 ops->quick_forms);
        k++;
    }
}

/* Add a string member; 0 when out of memory. */
static int add_str(json_object *o, const char *name, const char *value)
{
    json_object *v = json_object_new_string(value);

    if (v == NULL || json_object_object_add(o, name, v) != 0) {
        json_object_put(v);
        return 0;
    }
    return 1;
}

/*
 * Quick mode is written as the equivalent configuration document and parsed like any other, so
 * a quick key obeys exactly the rules (and gets the defaults) of a configured one.
 */
CK_RV p11kms_config_quick(const char *kms_key_id, p11kms_config **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    const p11kms_backend_ops *ops;
    p11kms_quick_key q;
    const char *text;
    json_object *root = json_object_new_object(), *tokens = json_object_new_array(),
                *token = json_object_new_object(), *keys = json_object_new_array(),
                *key = json_object_new_object();
    char clean[65], forms[512];

    *out = NULL;
    p11kms_printable(clean, sizeof(clean), kms_key_id != NULL ? kms_key_id : "");
    ops = p11kms_backend_quick(kms_key_id != NULL ? kms_key_id : "", &q);
    if (ops == NULL) {
        quick_forms(forms, sizeof(forms));
        LOG_E(QUICK_ORIGIN ": \"%s\" is not a recognised key reference; use %s", clean, forms);
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (!p11kms_utf8_valid((const uint8_t *)q.key_id, strlen(q.key_id))) {
        LOG_E(QUICK_ORIGIN ": the key reference is not valid UTF-8");
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (root == NULL || tokens == NULL || token == NULL || keys == NULL || key == NULL)
        goto out;
    if (!add_str(key, "label", "default") || !add_str(key, "backend", ops->name) ||
        !add_str(key, "key_id", q.key_id) ||
        (q.option != NULL && !add_str(key, q.option, q.option_value)))
        goto out;
    if (json_object_array_add(keys, key) != 0)
        goto out;
    key = NULL;
    if (!add_str(token, "label", "p11kms") || json_object_object_add(token, "keys", keys) != 0)
        goto out;
    keys = NULL;
    if (json_object_array_add(tokens, token) != 0)
        goto out;
    token = NULL;
    if (json_object_object_add(root, "tokens", tokens) != 0)
        goto out;
    tokens = NULL;
    text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    if (text == NULL)
        goto out;
    rv = p11kms_config_parse(text, strlen(text), QUICK_ORIGIN, out);
out:
    json_object_put(key);
    json_object_put(keys);
    json_object_put(token);
    json_object_put(tokens);
    json_object_put(root);
    return rv;
}

static int has_literal_pin(const p11kms_config *c)
{
    size_t i;

    for (i = 0; i < c->n_tokens; i++)
        if (c->tokens[i].pin_literal)
            return 1;
    return 0;
}

/*
 * Read a configuration file through one descriptor: what we check (regular file, not writable
 * by group or others, not readable by them when it holds a literal PIN, size) is what we read.
 * *missing is set instead of failing when the file does not exist and missing_ok.
 */
static CK_RV load_file(const char *path, int missing_ok, int *missing, p11kms_config **out)
{
    CK_RV rv = CKR_ARGUMENTS_BAD;
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ssize_t r;
    int fd;

    *missing = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) {
            *missing = 1;
            return CKR_OK;
        }
        LOG_E("%s: cannot open the configuration: %s", path, strerror(errno));
        return CKR_ARGUMENTS_BAD;
    }
    if (fstat(fd, &st) != 0) {
        LOG_E("%s: cannot stat the configuration: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        LOG_E("%s: the configuration is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        LOG_E("%s: refusing a configuration writable by group or others (mode %04o); "
              "chmod go-w it",
              path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if ((uintmax_t)st.st_size > P11KMS_CONFIG_MAX_BYTES) {
        LOG_E("%s: the configuration is larger than %u bytes", path, P11KMS_CONFIG_MAX_BYTES);
        goto out;
    }
    /* One byte beyond the limit, to notice a file that grew since fstat. */
    cap = (size_t)st.st_size + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    for (;;) {
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            LOG_E("%s: cannot read the configuration: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap) {
            LOG_E("%s: the configuration changed while being read", path);
            goto out;
        }
    }
    rv = p11kms_config_parse(buf, len, path, out);
    if (rv == CKR_OK && (st.st_mode & (S_IRGRP | S_IROTH)) && has_literal_pin(*out)) {
        LOG_E("%s: refusing a configuration with a literal PIN that group or others can read "
              "(mode %04o); chmod go-r it, or use \"pin\": \"env:NAME\"",
              path, (unsigned)(st.st_mode & 07777));
        p11kms_config_free(*out);
        *out = NULL;
        rv = CKR_ARGUMENTS_BAD;
    }
    if (rv == CKR_OK) {
        (*out)->path = strdup(path);
        if ((*out)->path == NULL) {
            p11kms_config_free(*out);
            *out = NULL;
            rv = CKR_HOST_MEMORY;
        }
    }
out:
    p11kms_secure_free(buf, cap); /* may hold PINs */
    close(fd);
    return rv;
}

CK_RV p11kms_config_load(const char *explicit_path, const char *default_path, p11kms_config **out)
{
    const char *path = explicit_path, *quick;
    CK_RV rv;
    int missing = 0;

    *out = NULL;
    if (path == NULL || path[0] == '\0')
        path = secure_getenv("P11KMS_CONFIG");
    if (path != NULL && path[0] != '\0')
        return load_file(path, 0, &missing, out);
    if (default_path != NULL && default_path[0] != '\0') {
        rv = load_file(default_path, 1, &missing, out);
        if (rv != CKR_OK || !missing)
            return rv;
    }
    quick = secure_getenv("KMS_KEY_ID");
    if (quick != NULL && quick[0] != '\0')
        return p11kms_config_quick(quick, out);
    /* No configuration at all: a module with no tokens, which is not an error. */
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return CKR_HOST_MEMORY;
    (*out)->log_level = -1;
    return CKR_OK;
}
