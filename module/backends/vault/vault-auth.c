/* vault-auth.c - Vault tokens: the sources in Vault's clients' order (VAULT_TOKEN, the token
 * file, a configured login), behind the shared credential cache (net/tokcache.h) that renews
 * login tokens before their lease ends; one source per identity, shared by the keys that
 * authenticate alike. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fork.h"
#include "log.h"
#include "secmem.h"
#include "vault-client.h"

/*
 * Locking: registry_lock protects the registry list and every source's refs; its fork handler
 * takes it before fork(). Each source's cache locks itself (tokcache.h) and runs one refresh
 * at a time, so `warned` (touched only by the fetch hook) needs no lock of its own. File reads
 * and HTTP run without any lock held. A forked child never uses a source of its parent: they
 * are found by the fork generation of their cache, and the child makes its own.
 */

/* A login token is renewed from two thirds of its lease on (refresh_at); it stops being
 * handed out 10 s before it ends (the mandatory margin), and a refresh is attempted in the
 * last minute whatever refresh_at says (the advisory margin). */
#define ADVISORY_S 60
#define MANDATORY_S 10

const char p11kms_vault_src_env[] = "VAULT_TOKEN";
const char p11kms_vault_src_file[] = "the token file";
const char p11kms_vault_src_login[] = "login";

static const char *const method_names[] = {"token", "approle", "kubernetes", "cert"};

struct p11kms_vault_auth {
    /* identity (immutable after creation): everything that makes a token differ; it may hold
     * the secret id, so it is wiped */
    char *identity;
    size_t identity_len;
    p11kms_vault_settings st; /* own copies: address, TLS, namespace, login fields */
    p11kms_http_transport *http;
    /* registry */
    unsigned long refs;
    struct p11kms_vault_auth *next;
    /* tokens */
    p11kms_tokcache cache;
    int warned; /* said once that a token from the environment or file beats the login */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11kms_vault_auth *registry;

static void registry_fork_lock(void)
{
    pthread_mutex_lock(&registry_lock);
}

static void registry_fork_unlock(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static p11kms_fork_handler registry_fork = {.rank = P11KMS_FORK_RANK_BACKEND,
                                            .prepare = registry_fork_lock,
                                            .parent = registry_fork_unlock,
                                            .child = registry_fork_unlock};

__attribute__((constructor)) static void registry_fork_register(void)
{
    p11kms_fork_register(&registry_fork);
}

/* $HOME/.vault-token: the file `vault login` writes (Vault's default token helper). */
static char *home_token_file(void)
{
    const char *home = getenv("HOME");
    char *p;

    if (home == NULL || *home == 0)
        return NULL;
    p = malloc(strlen(home) + sizeof("/.vault-token"));
    if (p != NULL)
        sprintf(p, "%s/.vault-token", home);
    return p;
}

/* VAULT_TOKEN, else the token file; *applies = 0 when neither is there. */
static CK_RV static_token(struct p11kms_vault_auth *a, p11kms_cred *out, int *applies)
{
    const char *v = getenv("VAULT_TOKEN");
    char *path = NULL, *token = NULL;
    int missing = 0;
    CK_RV rv;

    *applies = 1;
    if (v != NULL && *v != 0) {
        rv = p11kms_cred_set(out, NULL, NULL, v, 0, p11kms_vault_src_env);
        if (rv == CKR_GENERAL_ERROR) {
            LOG_E("vault: VAULT_TOKEN holds a control character");
            rv = CKR_DEVICE_ERROR;
        }
        return rv;
    }
    path = a->st.token_file != NULL ? strdup(a->st.token_file) : home_token_file();
    if (path == NULL) {
        *applies = 0;
        return CKR_OK;
    }
    token = p11kms_vault_read_secret_file(path, "token file", &missing);
    if (token == NULL) {
        *applies = 0;
        rv = CKR_OK;
        if (!missing || a->st.token_file != NULL) {
            /* a token file that is there but unusable, or a configured one that is not there,
             * stops the chain: the login is not what was meant */
            if (missing)
                LOG_E("vault: the token file %s does not exist", path);
            *applies = 1;
            rv = CKR_DEVICE_ERROR;
        }
        free(path);
        return rv;
    }
    rv = p11kms_cred_set(out, NULL, NULL, token, 0, p11kms_vault_src_file);
    if (rv == CKR_GENERAL_ERROR) {
        LOG_E("vault: the token file %s holds a control character", path);
        rv = CKR_DEVICE_ERROR;
    }
    p11kms_secure_free_str(token);
    free(path);
    return rv;
}

/* The fetch hook: the chain, in Vault's clients' order; a login token that is due is renewed
 * rather than replaced, until renewal stops extending it. */
static CK_RV resolve(void *ctx, const p11kms_cred *current, uint64_t deadline_ms, p11kms_cred *out)
{
    struct p11kms_vault_auth *a = ctx;
    p11kms_vault_fetch f = {a->http, &a->st.net, a->st.ns, deadline_ms};
    int applies = 0, again = 0;
    CK_RV rv;

    rv = static_token(a, out, &applies);
    if (rv != CKR_OK || applies) {
        if (rv == CKR_OK && a->st.auth_method != P11KMS_VAULT_AUTH_TOKEN && !a->warned) {
            LOG_W("vault: using the token from %s, not the configured %s login (Vault's "
                  "clients' order: VAULT_TOKEN, the token file, then a login)",
                  out->source, method_names[a->st.auth_method]);
            a->warned = 1;
        }
        return rv;
    }
    if (a->st.auth_method == P11KMS_VAULT_AUTH_TOKEN) {
        LOG_E("vault: no token: set VAULT_TOKEN, log in with `vault login` (~/.vault-token), "
              "set token_file, or configure an auth_method");
        return CKR_DEVICE_ERROR;
    }
    if (current != NULL && current->source == p11kms_vault_src_login && current->renewable &&
        current->token != NULL) {
        rv = p11kms_vault_renew(&f, current, out, &again);
        if (rv == CKR_OK || !again)
            return rv;
    }
    return p11kms_vault_login(&a->st, &f, out);
}

static int dup_field(char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

/* The fields of s a token depends on, copied into a's own settings. */
static int copy_settings(const p11kms_vault_settings *s, p11kms_vault_settings *d)
{
    int bad = 0;

    d->net.connect_timeout_ms = s->net.connect_timeout_ms;
    d->net.request_timeout_ms = s->net.request_timeout_ms;
    d->net.deadline_ms = s->net.deadline_ms;
    d->net.max_attempts = s->net.max_attempts;
    bad |= dup_field(&d->net.url, s->net.url);
    bad |= dup_field(&d->net.ca_file, s->net.ca_file);
    bad |= dup_field(&d->net.ca_path, s->net.ca_path);
    bad |= dup_field(&d->net.client_cert, s->net.client_cert);
    bad |= dup_field(&d->net.client_key, s->net.client_key);
    bad |= dup_field(&d->net.tls_server_name, s->net.tls_server_name);
    bad |= dup_field(&d->ns, s->ns);
    d->auth_method = s->auth_method;
    bad |= dup_field(&d->auth_mount, s->auth_mount);
    bad |= dup_field(&d->role_id, s->role_id);
    bad |= dup_field(&d->secret_id, s->secret_id);
    bad |= dup_field(&d->secret_id_env, s->secret_id_env);
    bad |= dup_field(&d->secret_id_file, s->secret_id_file);
    bad |= dup_field(&d->role, s->role);
    bad |= dup_field(&d->jwt_file, s->jwt_file);
    bad |= dup_field(&d->cert_role, s->cert_role);
    bad |= dup_field(&d->token_file, s->token_file);
    return bad;
}

/* Everything copy_settings keeps, as one comparable string (fields separated by 0x1f). */
static char *identity_of(const p11kms_vault_settings *s, size_t *len)
{
    const char *f[] = {s->net.url,
                       s->net.ca_file,
                       s->net.ca_path,
                       s->net.client_cert,
                       s->net.client_key,
                       s->net.tls_server_name,
                       s->ns,
                       s->auth_mount,
                       s->role_id,
                       s->secret_id,
                       s->secret_id_env,
                       s->secret_id_file,
                       s->role,
                       s->jwt_file,
                       s->cert_role,
                       s->token_file};
    size_t n = 96, i, used;
    char *id;

    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        n += (f[i] != NULL ? strlen(f[i]) : 0) + 2;
    id = malloc(n);
    if (id == NULL)
        return NULL;
    used =
        (size_t)snprintf(id, n, "%d\x1f%lu\x1f%lu\x1f%d", s->auth_method, s->net.connect_timeout_ms,
                         s->net.request_timeout_ms, s->net.max_attempts);
    for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        used += (size_t)snprintf(id + used, n - used, "\x1f%s%s", f[i] != NULL ? "=" : "",
                                 f[i] != NULL ? f[i] : "");
    *len = used;
    return id;
}

static void auth_free(struct p11kms_vault_auth *a)
{
    p11kms_tokcache_destroy(&a->cache);
    p11kms_secure_free(a->identity, a->identity_len + 1);
    p11kms_vault_settings_free(&a->st);
    free(a);
}

CK_RV p11kms_vault_auth_get(const p11kms_vault_settings *s, p11kms_http_transport *http,
                            p11kms_vault_auth **out)
{
    struct p11kms_vault_auth *a;
    size_t len = 0;
    char *id;

    *out = NULL;
    id = identity_of(s, &len);
    if (id == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_lock(&registry_lock);
    for (a = registry; a != NULL; a = a->next) {
        if (p11kms_tokcache_current(&a->cache) && a->http == http && a->identity_len == len &&
            memcmp(a->identity, id, len) == 0) {
            a->refs++;
            pthread_mutex_unlock(&registry_lock);
            p11kms_secure_free(id, len + 1);
            *out = a;
            return CKR_OK;
        }
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        pthread_mutex_unlock(&registry_lock);
        p11kms_secure_free(id, len + 1);
        return CKR_HOST_MEMORY;
    }
    a->identity = id;
    a->identity_len = len;
    a->http = http;
    a->refs = 1;
    p11kms_tokcache_init(&a->cache, "vault", "token", ADVISORY_S, MANDATORY_S, resolve, a);
    if (copy_settings(s, &a->st) != 0) {
        auth_free(a);
        pthread_mutex_unlock(&registry_lock);
        return CKR_HOST_MEMORY;
    }
    a->next = registry;
    registry = a;
    pthread_mutex_unlock(&registry_lock);
    *out = a;
    return CKR_OK;
}

void p11kms_vault_auth_put(p11kms_vault_auth *a)
{
    struct p11kms_vault_auth **pp;

    if (a == NULL)
        return;
    pthread_mutex_lock(&registry_lock);
    if (--a->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    auth_free(a);
}

CK_RV p11kms_vault_auth_token(p11kms_vault_auth *a, uint64_t deadline_ms, p11kms_cred *out)
{
    return p11kms_tokcache_get(&a->cache, deadline_ms, out);
}

void p11kms_vault_auth_invalidate(p11kms_vault_auth *a)
{
    p11kms_tokcache_invalidate(&a->cache);
}

unsigned long p11kms_vault_auth_fetches(p11kms_vault_auth *a)
{
    return p11kms_tokcache_fetches(&a->cache);
}
