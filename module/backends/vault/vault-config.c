/* vault-config.c - a Vault key's settings: the backend's configuration fields, the address,
 * namespace, mount, TLS and authentication from the key and from Vault's own environment
 * variables (the shared ones through net/settings.h), their checks, and the client built from
 * them. No state, no locks. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "keytype.h"
#include "log.h"
#include "secmem.h"
#include "vault-client.h"

/* Vault's Go client's default address. */
#define DEFAULT_ADDR "https://127.0.0.1:8200"

const char *const p11kms_vault_option_names[] = {
    "mount",
    "namespace",
    "context_mode",
    "auth_method",
    "auth_mount",
    "role_id",
    "secret_id",
    "secret_id_file",
    "role",
    "jwt_file",
    "cert_role",
    "token_file",
    P11KMS_NET_OPTION_NAMES,
    P11KMS_NET_TLS_OPTION_NAMES,
    NULL,
};

/* Retries as Vault's Go client spaces them (1 to 1.5 s, then more), jittered in full. */
static const p11kms_net_backoff vault_backoff = {500, 1000, 1500};

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

static const char *option(const void *kc, const char *name)
{
    return p11kms_key_config_option(kc, name);
}

/* framework.GenericNameRegex: \w(([\w-.@]+)?\w)? */
int p11kms_vault_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0, i;

    if (n == 0 || n > P11KMS_VAULT_NAME_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        int word = isalnum((unsigned char)s[i]) || s[i] == '_';

        if (!word && ((i == 0 || i == n - 1) || strchr("-.@", s[i]) == NULL))
            return 0;
    }
    return 1;
}

int p11kms_vault_path_ok(const char *s)
{
    const char *seg = s, *e;
    size_t n;

    if (s == NULL || *s == 0 || strlen(s) > P11KMS_VAULT_PATH_MAX)
        return 0;
    for (;;) {
        e = seg + strcspn(seg, "/");
        n = (size_t)(e - seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        for (; seg < e; seg++)
            if (!isalnum((unsigned char)*seg) && strchr("_-.", *seg) == NULL)
                return 0;
        if (*e == 0)
            return 1;
        seg = e + 1;
    }
}

/* A path option without its leading and trailing slashes (malloc'd), or NULL for "". */
static char *trimmed(const char *v, int *failed)
{
    size_t n;
    char *d;

    while (*v == '/')
        v++;
    n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n == 0)
        return NULL;
    d = strndup(v, n);
    if (d == NULL)
        *failed = 1;
    return d;
}

/* A path option as trimmed() would keep it: well-formed once its outer slashes are gone. */
static int path_option_ok(const char *v)
{
    char buf[P11KMS_VAULT_PATH_MAX + 1];
    size_t n;

    while (*v == '/')
        v++;
    n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n == 0 || n > P11KMS_VAULT_PATH_MAX)
        return 0;
    memcpy(buf, v, n);
    buf[n] = 0;
    return p11kms_vault_path_ok(buf);
}

static const struct {
    const char *name;
    int method;
} methods[] = {
    {"token", P11KMS_VAULT_AUTH_TOKEN},
    {"approle", P11KMS_VAULT_AUTH_APPROLE},
    {"kubernetes", P11KMS_VAULT_AUTH_KUBERNETES},
    {"cert", P11KMS_VAULT_AUTH_CERT},
};

static int method_of(const char *v)
{
    size_t i;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, v) == 0)
            return methods[i].method;
    return -1;
}

/* The fields each login method takes; a field of another method is a mistake worth saying. */
static const struct {
    const char *field;
    int method;
} method_fields[] = {
    {"role_id", P11KMS_VAULT_AUTH_APPROLE},        {"secret_id", P11KMS_VAULT_AUTH_APPROLE},
    {"secret_id_file", P11KMS_VAULT_AUTH_APPROLE}, {"role", P11KMS_VAULT_AUTH_KUBERNETES},
    {"jwt_file", P11KMS_VAULT_AUTH_KUBERNETES},    {"cert_role", P11KMS_VAULT_AUTH_CERT},
};

CK_RV p11kms_vault_check_key(p11kms_key_config *kc, char *err, size_t err_len)
{
    const char *v, *am = option(kc, "auth_method");
    int method = P11KMS_VAULT_AUTH_TOKEN;
    size_t i;

    if (kc->key_id == NULL) {
        snprintf(err, err_len, "key_id (the transit key name) is required");
        return CKR_ARGUMENTS_BAD;
    }
    if (!p11kms_vault_name_ok(kc->key_id)) {
        snprintf(err, err_len, "key_id \"%s\" is not a Vault transit key name", kc->key_id);
        return CKR_ARGUMENTS_BAD;
    }
    if ((v = option(kc, "mount")) != NULL && !path_option_ok(v)) {
        snprintf(err, err_len, "mount \"%s\" is not a Vault mount path", v);
        return CKR_ARGUMENTS_BAD;
    }
    if ((v = option(kc, "namespace")) != NULL && strspn(v, "/") != strlen(v) &&
        !path_option_ok(v)) {
        snprintf(err, err_len, "namespace \"%s\" is not a Vault namespace path", v);
        return CKR_ARGUMENTS_BAD;
    }
    if (p11kms_key_type_is_asym(kc->key_type) && p11kms_vault_asym_type(kc->key_type) == NULL) {
        snprintf(err, err_len,
                 "type: Vault transit has no %s keys (ec-p256, ec-p384, ec-p521, rsa-2048, "
                 "rsa-3072 and rsa-4096 it has)",
                 p11kms_key_type_get(kc->key_type)->name);
        return CKR_ARGUMENTS_BAD;
    }
    v = option(kc, "context_mode");
    if (v != NULL && p11kms_key_type_is_asym(kc->key_type)) {
        snprintf(err, err_len, "context_mode: an asymmetric key binds no context");
        return CKR_ARGUMENTS_BAD;
    }
    if (v != NULL && strcmp(v, "derived") != 0 && strcmp(v, "associated_data") != 0) {
        snprintf(err, err_len, "context_mode must be \"derived\" or \"associated_data\"");
        return CKR_ARGUMENTS_BAD;
    }
    if (am != NULL && (method = method_of(am)) < 0) {
        snprintf(err, err_len, "auth_method must be token, approle, kubernetes or cert");
        return CKR_ARGUMENTS_BAD;
    }
    for (i = 0; i < sizeof(method_fields) / sizeof(method_fields[0]); i++) {
        if (option(kc, method_fields[i].field) != NULL && method_fields[i].method != method) {
            snprintf(err, err_len, "%s belongs to auth_method \"%s\"", method_fields[i].field,
                     methods[method_fields[i].method].name);
            return CKR_ARGUMENTS_BAD;
        }
    }
    if (option(kc, "auth_mount") != NULL && method == P11KMS_VAULT_AUTH_TOKEN) {
        snprintf(err, err_len, "auth_mount needs an auth_method that logs in");
        return CKR_ARGUMENTS_BAD;
    }
    if (method == P11KMS_VAULT_AUTH_APPROLE &&
        (option(kc, "role_id") == NULL ||
         (option(kc, "secret_id") != NULL && option(kc, "secret_id_file") != NULL))) {
        snprintf(err, err_len,
                 "auth_method approle needs role_id, and secret_id or "
                 "secret_id_file (not both)");
        return CKR_ARGUMENTS_BAD;
    }
    if (method == P11KMS_VAULT_AUTH_KUBERNETES && option(kc, "role") == NULL) {
        snprintf(err, err_len, "auth_method kubernetes needs role");
        return CKR_ARGUMENTS_BAD;
    }
    return CKR_OK;
}

/* Go's strconv.ParseBool, as Vault reads VAULT_SKIP_VERIFY: 1, 0 or -1 (not a boolean). */
static int go_bool(const char *v)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
    size_t i;

    for (i = 0; yes[i] != NULL; i++)
        if (strcmp(v, yes[i]) == 0)
            return 1;
    for (i = 0; no[i] != NULL; i++)
        if (strcmp(v, no[i]) == 0)
            return 0;
    return -1;
}

static CK_RV read_auth(const p11kms_key_config *kc, p11kms_vault_settings *s, int *failed)
{
    static const char *const default_mount[] = {NULL, "approle", "kubernetes", "cert"};
    const char *v = option(kc, "auth_method"), *sid = option(kc, "secret_id");

    s->auth_method = v != NULL ? method_of(v) : P11KMS_VAULT_AUTH_TOKEN;
    if (s->auth_method < 0) /* check_key ran; a direct create might not have */
        return CKR_ARGUMENTS_BAD;
    v = option(kc, "auth_mount");
    if (v == NULL)
        v = default_mount[s->auth_method];
    if (v != NULL) {
        s->auth_mount = trimmed(v, failed);
        if (!*failed && (s->auth_mount == NULL || !p11kms_vault_path_ok(s->auth_mount))) {
            LOG_E("%s: auth_mount \"%s\" is not a Vault mount path", kc->origin, v);
            return CKR_ARGUMENTS_BAD;
        }
    }
    if ((v = option(kc, "role_id")) != NULL && (s->role_id = strdup(v)) == NULL)
        *failed = 1;
    if (sid != NULL && strncmp(sid, "env:", 4) == 0) {
        if (sid[4] == 0) {
            LOG_E("%s: secret_id \"env:\" names no variable", kc->origin);
            return CKR_ARGUMENTS_BAD;
        }
        if ((s->secret_id_env = strdup(sid + 4)) == NULL)
            *failed = 1;
    } else if (sid != NULL) {
        LOG_W("%s: secret_id is written in the configuration: keep the file unreadable by "
              "others, or use secret_id_file or \"env:NAME\"",
              kc->origin);
        if ((s->secret_id = strdup(sid)) == NULL)
            *failed = 1;
    }
    if ((v = option(kc, "secret_id_file")) != NULL && (s->secret_id_file = strdup(v)) == NULL)
        *failed = 1;
    if ((v = option(kc, "role")) != NULL && (s->role = strdup(v)) == NULL)
        *failed = 1;
    v = option(kc, "jwt_file");
    if (s->auth_method == P11KMS_VAULT_AUTH_KUBERNETES &&
        (s->jwt_file = strdup(v != NULL ? v : P11KMS_VAULT_DEFAULT_JWT_FILE)) == NULL)
        *failed = 1;
    if ((v = option(kc, "cert_role")) != NULL && (s->cert_role = strdup(v)) == NULL)
        *failed = 1;
    if ((v = option(kc, "token_file")) != NULL && (s->token_file = strdup(v)) == NULL)
        *failed = 1;
    return CKR_OK;
}

CK_RV p11kms_vault_settings_read(const p11kms_key_config *kc, p11kms_vault_settings *out)
{
    static const p11kms_net_tls_env tls_env = {"VAULT_CAPATH", "VAULT_CLIENT_CERT",
                                               "VAULT_CLIENT_KEY", "VAULT_TLS_SERVER_NAME"};
    const char *addr, *v, *skip = env("VAULT_SKIP_VERIFY");
    int failed = 0;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (skip != NULL && go_bool(skip) != 0) {
        /* Vault's clients would stop verifying the server; a KMS client never does */
        LOG_E("%s: VAULT_SKIP_VERIFY=%s is refused: p11kms always verifies Vault's certificate; "
              "unset it and give the CA with VAULT_CACERT, VAULT_CAPATH or ca_file",
              kc->origin, go_bool(skip) < 0 ? "(not a boolean)" : skip);
        return CKR_ARGUMENTS_BAD;
    }
    rv = p11kms_net_settings_read(
        &out->net, kc->origin, option, kc, "VAULT_CACERT", P11KMS_VAULT_DEFAULT_CONNECT_TIMEOUT_MS,
        P11KMS_VAULT_DEFAULT_REQUEST_TIMEOUT_MS, P11KMS_VAULT_DEFAULT_DEADLINE_MS,
        P11KMS_VAULT_DEFAULT_MAX_ATTEMPTS);
    if (rv != CKR_OK)
        goto out;
    /* the address as Vault's clients find it: an agent's before the server's */
    out->addr_from = "endpoint";
    addr = option(kc, "endpoint");
    if (addr == NULL && (addr = env("VAULT_AGENT_ADDR")) != NULL)
        out->addr_from = "VAULT_AGENT_ADDR";
    if (addr == NULL && (addr = env("VAULT_ADDR")) != NULL)
        out->addr_from = "VAULT_ADDR";
    if (addr == NULL) {
        addr = DEFAULT_ADDR;
        out->addr_from = "the default address";
    }
    rv = p11kms_net_settings_endpoint(&out->net, kc->origin, addr);
    if (rv == CKR_OK)
        rv = p11kms_net_settings_read_tls(&out->net, kc->origin, option, kc, &tls_env);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_ARGUMENTS_BAD;
    v = option(kc, "mount");
    out->mount = trimmed(v != NULL ? v : "transit", &failed);
    if (!failed && (out->mount == NULL || !p11kms_vault_path_ok(out->mount))) {
        LOG_E("%s: mount \"%s\" is not a Vault mount path", kc->origin, v);
        goto out;
    }
    out->ns_from = "namespace";
    v = option(kc, "namespace");
    if (v == NULL && (v = env("VAULT_NAMESPACE")) != NULL)
        out->ns_from = "VAULT_NAMESPACE";
    if (v != NULL) {
        out->ns = trimmed(v, &failed);
        if (!failed && out->ns != NULL && !p11kms_vault_path_ok(out->ns)) {
            LOG_E("%s: %s \"%s\" is not a Vault namespace path", kc->origin, out->ns_from, v);
            goto out;
        }
    }
    v = option(kc, "context_mode");
    out->context_mode = v != NULL && strcmp(v, "associated_data") == 0
                            ? P11KMS_VAULT_CONTEXT_AD
                            : P11KMS_VAULT_CONTEXT_DERIVED;
    rv = read_auth(kc, out, &failed);
    if (rv != CKR_OK)
        goto out;
    if (out->auth_method == P11KMS_VAULT_AUTH_CERT && out->net.client_cert == NULL) {
        LOG_E("%s: auth_method cert needs a client certificate (client_cert and client_key, or "
              "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY) and an https address",
              kc->origin);
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    rv = failed ? CKR_HOST_MEMORY : CKR_OK;
out:
    if (rv == CKR_OK && failed)
        rv = CKR_HOST_MEMORY;
    if (rv != CKR_OK)
        p11kms_vault_settings_free(out);
    return rv;
}

void p11kms_vault_settings_free(p11kms_vault_settings *s)
{
    if (s == NULL)
        return;
    p11kms_net_settings_free(&s->net);
    free(s->mount);
    free(s->ns);
    free(s->auth_mount);
    free(s->role_id);
    p11kms_secure_free_str(s->secret_id);
    free(s->secret_id_env);
    free(s->secret_id_file);
    free(s->role);
    free(s->jwt_file);
    free(s->cert_role);
    free(s->token_file);
    memset(s, 0, sizeof(*s));
}

CK_RV p11kms_vault_client_new(const p11kms_key_config *kc, p11kms_vault_client **out)
{
    CK_RV rv = CKR_HOST_MEMORY;
    p11kms_vault_client *c;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return CKR_HOST_MEMORY;
    c->origin = strdup(kc->origin != NULL ? kc->origin : "vault key");
    if (c->origin == NULL)
        goto out;
    rv = p11kms_vault_settings_read(kc, &c->st);
    if (rv != CKR_OK)
        goto out;
    c->net.settings = c->st.net;
    memset(&c->st.net, 0, sizeof(c->st.net));
    rv = p11kms_net_client_init(&c->net, &p11kms_vault_hooks, c);
    if (rv != CKR_OK)
        goto out;
    c->net.backoff = &vault_backoff;
    /* the token source reads the address and TLS settings from the client's own */
    c->st.net = c->net.settings;
    rv = p11kms_vault_auth_get(&c->st, c->net.http, &c->auth);
    memset(&c->st.net, 0, sizeof(c->st.net));
out:
    if (rv != CKR_OK) {
        p11kms_vault_client_free(c);
        return rv;
    }
    LOG_D("%s: Vault at %s (%s), mount %s%s%s", c->origin, c->net.settings.url, c->st.addr_from,
          c->st.mount, c->st.ns != NULL ? ", namespace " : "", c->st.ns != NULL ? c->st.ns : "");
    *out = c;
    return CKR_OK;
}

void p11kms_vault_client_free(p11kms_vault_client *c)
{
    if (c == NULL)
        return;
    p11kms_vault_auth_put(c->auth);
    /* the net settings were moved into the client's: freed there, or here if it never began */
    if (c->net.hooks != NULL)
        p11kms_net_client_release(&c->net);
    else
        p11kms_net_settings_free(&c->net.settings);
    p11kms_vault_settings_free(&c->st);
    free(c->origin);
    free(c);
}

uint64_t p11kms_vault_client_deadline(const p11kms_vault_client *c)
{
    return p11kms_net_deadline(&c->net.settings);
}
