/* doctor-creds.c - where a cloud backend would find its credentials, named without reading or
 * showing any secret and without touching the network: the environment and well-known files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "doctor.h"

static int env_set(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != 0;
}

/* $var if set, else $HOME/rel; the path into buf, or NULL. */
static const char *home_path(const char *var, const char *rel, char *buf, size_t size)
{
    const char *v = getenv(var), *home = getenv("HOME");

    if (v != NULL && v[0] != 0)
        return v;
    if (home == NULL || home[0] == 0)
        return NULL;
    snprintf(buf, size, "%s/%s", home, rel);
    return buf;
}

static int readable(const char *path)
{
    return path != NULL && access(path, R_OK) == 0;
}

/* Options set in the key's configuration that carry or point at credentials. */
static int configured(const p11kms_key_config *kc, char *names, size_t size)
{
    static const char *const words[] = {"token", "credential", "secret",
                                        "role",  "auth",       "key_file"};
    size_t i, j, off = 0;

    names[0] = 0;
    for (i = 0; i < kc->n_options; i++)
        for (j = 0; j < sizeof(words) / sizeof(words[0]); j++)
            if (strstr(kc->options[i].name, words[j]) != NULL) {
                off += (size_t)snprintf(names + off, off < size ? size - off : 0, "%s%s",
                                        off ? ", " : "", kc->options[i].name);
                break;
            }
    return off > 0;
}

static void aws(doctor *d, const char *who)
{
    char buf[4096];
    const char *f;

    if (env_set("AWS_ACCESS_KEY_ID") && env_set("AWS_SECRET_ACCESS_KEY"))
        doctor_step(d, DOCTOR_OK, "%s: AWS credentials from the environment (AWS_ACCESS_KEY_ID)",
                    who);
    else if (env_set("AWS_WEB_IDENTITY_TOKEN_FILE") && env_set("AWS_ROLE_ARN"))
        doctor_step(d, readable(getenv("AWS_WEB_IDENTITY_TOKEN_FILE")) ? DOCTOR_OK : DOCTOR_FAIL,
                    "%s: AWS web identity token file %s", who,
                    getenv("AWS_WEB_IDENTITY_TOKEN_FILE"));
    else if (readable(f = home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", buf,
                                    sizeof(buf))))
        doctor_step(d, DOCTOR_OK, "%s: AWS shared credentials file %s (profile %s)", who, f,
                    env_set("AWS_PROFILE") ? getenv("AWS_PROFILE") : "default");
    else if (readable(f = home_path("AWS_CONFIG_FILE", ".aws/config", buf, sizeof(buf))))
        doctor_step(d, DOCTOR_OK, "%s: AWS config file %s", who, f);
    else if (env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
             env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        doctor_step(d, DOCTOR_OK, "%s: AWS container credentials endpoint", who);
    else
        doctor_step(d, DOCTOR_WARN,
                    "%s: no AWS credentials in the environment or files; only EC2 instance "
                    "metadata is left to try",
                    who);
}

/* gcloud's application default credentials: in $CLOUDSDK_CONFIG, else ~/.config/gcloud. */
static const char *adc_path(char *buf, size_t size)
{
    const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");

    if (dir != NULL && dir[0] != 0)
        snprintf(buf, size, "%s/application_default_credentials.json", dir);
    else if (home != NULL && home[0] != 0)
        snprintf(buf, size, "%s/.config/gcloud/application_default_credentials.json", home);
    else
        return NULL;
    return buf;
}

static void gcp(doctor *d, const char *who)
{
    char buf[4096];
    const char *f = getenv("GOOGLE_APPLICATION_CREDENTIALS");

    if (f != NULL && f[0] != 0)
        doctor_step(d, readable(f) ? DOCTOR_OK : DOCTOR_FAIL,
                    "%s: Google credentials file %s (GOOGLE_APPLICATION_CREDENTIALS)%s", who, f,
                    readable(f) ? "" : " is not readable");
    else if (readable(f = adc_path(buf, sizeof(buf))))
        doctor_step(d, DOCTOR_OK, "%s: gcloud application default credentials %s", who, f);
    else
        doctor_step(d, DOCTOR_WARN,
                    "%s: no Google credentials file; only the GCE metadata server is left to try",
                    who);
}

static void vault(doctor *d, const char *who)
{
    char buf[4096];
    const char *f;

    if (env_set("VAULT_TOKEN"))
        doctor_step(d, DOCTOR_OK, "%s: Vault token from the environment (VAULT_TOKEN)", who);
    else if (readable(f = home_path("VAULT_TOKEN_FILE", ".vault-token", buf, sizeof(buf))))
        doctor_step(d, DOCTOR_OK, "%s: Vault token file %s", who, f);
    else
        doctor_step(d, DOCTOR_WARN, "%s: no Vault token in VAULT_TOKEN or ~/.vault-token", who);
}

void doctor_credentials(doctor *d, const p11kms_key_config *kc, const char *who)
{
    char names[256];

    if (strcmp(kc->backend, "local") == 0)
        return;
    if (configured(kc, names, sizeof(names))) {
        doctor_step(d, DOCTOR_OK, "%s: credentials configured in the file (%s)", who, names);
        return;
    }
    if (strcmp(kc->backend, "aws") == 0)
        aws(d, who);
    else if (strcmp(kc->backend, "gcp") == 0)
        gcp(d, who);
    else if (strcmp(kc->backend, "vault") == 0)
        vault(d, who);
}
