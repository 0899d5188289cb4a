/* vault-describe.c - what the vault backend says about itself: the KMS_KEY_ID form of quick
 * mode, and what doctor reports of a key (the address, mount, namespace, TLS and where its
 * token would come from), with the module's own settings code, without the network and
 * without keeping a secret. No state, no locks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "backend.h"
#include "secmem.h"
#include "vault-client.h"

#define QUICK_PREFIX "vault/"

const char p11kms_vault_quick_forms[] = QUICK_PREFIX "NAME";

/* vault/NAME: the transit key NAME in the default mount (VAULT_ADDR, VAULT_TOKEN ...). */
int p11kms_vault_quick(const char *v, p11kms_quick_key *out)
{
    size_t n = strlen(QUICK_PREFIX);

    if (strncmp(v, QUICK_PREFIX, n) != 0 || v[n] == '\0' || strchr(v + n, '/') != NULL)
        return 0;
    out->key_id = v + n;
    return 1;
}

static int readable(const char *path)
{
    return path != NULL && access(path, R_OK) == 0;
}

static void doctor_login(const p11kms_vault_settings *s, p11kms_doctor_step step, void *ctx)
{
    const char *v;
    int set;

    switch (s->auth_method) {
    case P11KMS_VAULT_AUTH_APPROLE:
        if (s->secret_id_file != NULL)
            step(ctx, readable(s->secret_id_file) ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
                 "Vault AppRole login at auth/%s/login, role id %s, secret id from the file %s%s",
                 s->auth_mount, s->role_id, s->secret_id_file,
                 readable(s->secret_id_file) ? "" : " (not readable)");
        else if (s->secret_id_env != NULL) {
            set = (v = getenv(s->secret_id_env)) != NULL && *v != 0;
            step(ctx, set ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
                 "Vault AppRole login at auth/%s/login, role id %s, secret id from %s%s",
                 s->auth_mount, s->role_id, s->secret_id_env, set ? "" : " (not set)");
        } else
            step(ctx, P11KMS_DOCTOR_OK, "Vault AppRole login at auth/%s/login, role id %s, %s",
                 s->auth_mount, s->role_id,
                 s->secret_id != NULL ? "secret id in the configuration" : "no secret id");
        break;
    case P11KMS_VAULT_AUTH_KUBERNETES:
        step(ctx, readable(s->jwt_file) ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
             "Vault Kubernetes login at auth/%s/login, role %s, service-account token %s%s",
             s->auth_mount, s->role, s->jwt_file, readable(s->jwt_file) ? "" : " (not readable)");
        break;
    case P11KMS_VAULT_AUTH_CERT:
        step(ctx, P11KMS_DOCTOR_OK, "Vault TLS certificate login at auth/%s/login%s%s",
             s->auth_mount, s->cert_role != NULL ? ", role " : "",
             s->cert_role != NULL ? s->cert_role : "");
        break;
    default:
        step(ctx, P11KMS_DOCTOR_FAIL,
             "no Vault token: set VAULT_TOKEN, log in with `vault login` (~/.vault-token), set "
             "token_file, or configure an auth_method");
    }
}

/* The first token source of vault-auth.c's chain that applies, judged without a login. */
static void doctor_token(const p11kms_vault_settings *s, p11kms_doctor_step step, void *ctx)
{
    const char *v = getenv("VAULT_TOKEN"), *home = getenv("HOME");
    char *file = NULL;

    if (v != NULL && *v != 0) {
        step(ctx, s->auth_method == P11KMS_VAULT_AUTH_TOKEN ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_WARN,
             "Vault token from VAULT_TOKEN%s",
             s->auth_method == P11KMS_VAULT_AUTH_TOKEN ? ""
                                                       : " (it comes before the configured login)");
        return;
    }
    if (s->token_file != NULL) {
        step(ctx, readable(s->token_file) ? P11KMS_DOCTOR_OK : P11KMS_DOCTOR_FAIL,
             "Vault token from the token file %s%s", s->token_file,
             readable(s->token_file) ? "" : " (not readable)");
        return;
    }
    if (home != NULL && *home != 0 && (file = malloc(strlen(home) + 16)) != NULL) {
        sprintf(file, "%s/.vault-token", home);
        if (access(file, F_OK) == 0) {
            step(ctx,
                 !readable(file)                             ? P11KMS_DOCTOR_FAIL
                 : s->auth_method == P11KMS_VAULT_AUTH_TOKEN ? P11KMS_DOCTOR_OK
                                                             : P11KMS_DOCTOR_WARN,
                 "Vault token from %s%s", file,
                 !readable(file) ? " (not readable)"
                 : s->auth_method == P11KMS_VAULT_AUTH_TOKEN
                     ? ""
                     : " (it comes before the configured login)");
            free(file);
            return;
        }
        free(file);
    }
    doctor_login(s, step, ctx);
}

void p11kms_vault_doctor(const p11kms_key_config *kc, p11kms_doctor_step step, void *ctx)
{
    p11kms_vault_settings s;
    const p11kms_net_settings *n = &s.net;

    if (p11kms_vault_settings_read(kc, &s) != CKR_OK) {
        step(ctx, P11KMS_DOCTOR_FAIL, "Vault settings refused (the line above says why)");
        return;
    }
    step(ctx, P11KMS_DOCTOR_OK, "Vault at %s (from %s), key %s%s%s/%s", n->url, s.addr_from,
         s.ns != NULL ? s.ns : "", s.ns != NULL ? "/" : "", s.mount, kc->key_id);
    if (strncmp(n->url, "http://", 7) == 0)
        step(ctx, P11KMS_DOCTOR_WARN, "plain http (allowed to loopback only): use https");
    else
        step(ctx, P11KMS_DOCTOR_OK, "TLS verified with %s%s%s%s%s%s%s",
             n->ca_file ? "CA file " : "", n->ca_file ? n->ca_file : "",
             n->ca_path ? " CA directory " : "", n->ca_path ? n->ca_path : "",
             n->ca_file == NULL && n->ca_path == NULL ? "the system's CAs" : "",
             n->tls_server_name ? ", server name " : "",
             n->tls_server_name ? n->tls_server_name : "");
    if (n->client_cert != NULL)
        step(ctx, P11KMS_DOCTOR_OK, "client certificate %s, key %s", n->client_cert, n->client_key);
    step(ctx, P11KMS_DOCTOR_OK, "the context is bound as %s",
         s.context_mode == P11KMS_VAULT_CONTEXT_AD
             ? "associated_data (Vault 1.13 or later; checked at first use)"
             : "a derived key's context (the key must be derived; checked at first use)");
    doctor_token(&s, step, ctx);
    p11kms_vault_settings_free(&s);
}
