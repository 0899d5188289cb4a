/* gcp-creds-file.c - Google credential files (service account keys, gcloud's authorized-user
 * file, workload identity federation configurations) and where Application Default Credentials
 * finds them: the key's file, GOOGLE_APPLICATION_CREDENTIALS, the gcloud well-known file, the
 * metadata server's address. No state, no locks. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gcp-creds.h"
#include "log.h"
#include "net/json.h"
#include "secmem.h"

#define FIELD_MAX 4096
#define SECRET_MAX (16u * 1024u)
#define WELL_KNOWN_NAME "application_default_credentials.json"

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

const char *p11kms_gcp_cred_type_name(int type)
{
    switch (type) {
    case P11KMS_GCP_SERVICE_ACCOUNT:
        return "service account";
    case P11KMS_GCP_AUTHORIZED_USER:
        return "authorized user";
    case P11KMS_GCP_EXTERNAL_ACCOUNT:
        return "external account";
    default:
        return "unknown";
    }
}

void p11kms_gcp_credfile_clear(p11kms_gcp_credfile *f)
{
    if (f == NULL)
        return;
    free(f->quota_project);
    free(f->token_uri);
    free(f->client_email);
    free(f->private_key_id);
    p11kms_secure_free_str(f->private_key);
    free(f->client_id);
    p11kms_secure_free_str(f->client_secret);
    p11kms_secure_free_str(f->refresh_token);
    free(f->audience);
    free(f->subject_token_type);
    free(f->source_file);
    free(f->source_field);
    free(f->impersonation_url);
    memset(f, 0, sizeof(*f));
}

/* A string member: 1 and *out (malloc'd) when present and usable, 0 when absent, -1 when
 * present but not a string of 1..max bytes. */
static int member(const p11kms_json *obj, const char *name, size_t max, char **out)
{
    p11kms_json v;

    *out = NULL;
    if (!p11kms_json_member(obj, name, &v))
        return 0;
    if (p11kms_json_string(&v, max, out) != 0 || **out == 0) {
        p11kms_secure_free_str(*out); /* it may be a secret */
        *out = NULL;
        return -1;
    }
    return 1;
}

/* A value that goes into a header, form field or URL: printable ASCII, no spaces. */
static int clean(const char *s)
{
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f)
            return 0;
    return 1;
}

/* Members, in order; the first missing (when required) or unusable one is named in *bad. A
 * member marked clean must pass clean() (all but the PEM key). */
typedef struct field {
    const char *name;
    char **dst;
    size_t max;
    int clean;
} field;

static int take(const p11kms_json *obj, const field *fs, size_t n, int required, const char **bad)
{
    size_t i;
    int r;

    for (i = 0; i < n; i++) {
        r = member(obj, fs[i].name, fs[i].max, fs[i].dst);
        if (r < 0 || (r == 0 && required) || (r > 0 && fs[i].clean && !clean(*fs[i].dst))) {
            *bad = fs[i].name;
            return -1;
        }
    }
    return 0;
}

static CK_RV parse_service_account(const p11kms_json *root, p11kms_gcp_credfile *f,
                                   const char **bad)
{
    field req[] = {{"client_email", &f->client_email, FIELD_MAX, 1},
                   {"private_key", &f->private_key, SECRET_MAX, 0}};
    field opt[] = {{"private_key_id", &f->private_key_id, FIELD_MAX, 1},
                   {"token_uri", &f->token_uri, FIELD_MAX, 1}};

    if (take(root, req, 2, 1, bad) != 0 || take(root, opt, 2, 0, bad) != 0)
        return CKR_DEVICE_ERROR;
    return CKR_OK;
}

static CK_RV parse_authorized_user(const p11kms_json *root, p11kms_gcp_credfile *f,
                                   const char **bad)
{
    field req[] = {{"client_id", &f->client_id, FIELD_MAX, 1},
                   {"client_secret", &f->client_secret, SECRET_MAX, 1},
                   {"refresh_token", &f->refresh_token, SECRET_MAX, 1}};
    field opt[] = {{"token_uri", &f->token_uri, FIELD_MAX, 1}};

    if (take(root, req, 3, 1, bad) != 0 || take(root, opt, 1, 0, bad) != 0)
        return CKR_DEVICE_ERROR;
    return CKR_OK;
}

/* Workload identity federation from a file source only: the other sources (URL, executable,
 * AWS), workforce pools and STS client authentication are refused by name, never half-done. */
static CK_RV parse_external_account(const p11kms_json *root, const char *what,
                                    p11kms_gcp_credfile *f, const char **bad)
{
    field req[] = {{"audience", &f->audience, FIELD_MAX, 1},
                   {"subject_token_type", &f->subject_token_type, FIELD_MAX, 1},
                   {"token_url", &f->token_uri, FIELD_MAX, 1}};
    field opt[] = {{"service_account_impersonation_url", &f->impersonation_url, FIELD_MAX, 1}};
    static const char *const refused[] = {"workforce_pool_user_project", "client_id",
                                          "client_secret"};
    static const char *const sources[] = {"url", "executable", "environment_id"};
    p11kms_json src, fmt, v;
    char *type = NULL;
    size_t i;
    CK_RV rv = CKR_DEVICE_ERROR;

    if (take(root, req, 3, 1, bad) != 0 || take(root, opt, 1, 0, bad) != 0)
        return CKR_DEVICE_ERROR;
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (p11kms_json_member(root, refused[i], &v)) {
            LOG_E("gcp: %s: external accounts with %s (workforce pools, STS client "
                  "authentication) are not supported",
                  what, refused[i]);
            return CKR_DEVICE_ERROR;
        }
    }
    if (!p11kms_json_member(root, "credential_source", &src) || src.p[0] != '{') {
        *bad = "credential_source";
        return CKR_DEVICE_ERROR;
    }
    for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
        if (p11kms_json_member(&src, sources[i], &v)) {
            LOG_E("gcp: %s: credential_source \"%s\" is not supported; only a \"file\" source "
                  "is",
                  what, sources[i]);
            return CKR_DEVICE_ERROR;
        }
    }
    if (member(&src, "file", FIELD_MAX, &f->source_file) != 1) {
        *bad = "credential_source.file";
        return CKR_DEVICE_ERROR;
    }
    if (p11kms_json_member(&src, "format", &fmt)) {
        if (member(&fmt, "type", 16, &type) < 0) {
            *bad = "credential_source.format.type";
            goto out;
        }
        if (type != NULL && strcmp(type, "json") == 0) {
            if (member(&fmt, "subject_token_field_name", 256, &f->source_field) != 1) {
                *bad = "credential_source.format.subject_token_field_name";
                goto out;
            }
        } else if (type != NULL && strcmp(type, "text") != 0) {
            *bad = "credential_source.format.type";
            goto out;
        }
    }
    rv = CKR_OK;
out:
    free(type);
    return rv;
}

CK_RV p11kms_gcp_credfile_parse(const char *text, size_t len, const char *what,
                                p11kms_gcp_credfile *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    const char *bad = NULL;
    char *type = NULL;
    p11kms_json root;

    memset(out, 0, sizeof(*out));
    if (p11kms_json_parse(text, len, &root) != 0) {
        LOG_E("gcp: %s is not a JSON credential file", what);
        return CKR_DEVICE_ERROR;
    }
    if (member(&root, "type", 64, &type) != 1 || !clean(type)) {
        LOG_E("gcp: %s has no credential \"type\"", what);
        goto out;
    }
    if (member(&root, "quota_project_id", 256, &out->quota_project) < 0 ||
        (out->quota_project != NULL && !clean(out->quota_project))) {
        bad = "quota_project_id";
        goto out;
    }
    if (strcmp(type, "service_account") == 0) {
        out->type = P11KMS_GCP_SERVICE_ACCOUNT;
        rv = parse_service_account(&root, out, &bad);
    } else if (strcmp(type, "authorized_user") == 0) {
        out->type = P11KMS_GCP_AUTHORIZED_USER;
        rv = parse_authorized_user(&root, out, &bad);
    } else if (strcmp(type, "external_account") == 0) {
        out->type = P11KMS_GCP_EXTERNAL_ACCOUNT;
        rv = parse_external_account(&root, what, out, &bad);
    } else {
        LOG_E("gcp: %s: credential type \"%s\" is not supported (service_account, "
              "authorized_user and external_account are)",
              what, type);
        goto out;
    }
    if (rv == CKR_OK && out->token_uri == NULL) {
        /* Google's libraries use the public endpoint when the file names none (gcloud's
         * authorized-user file never does) */
        out->token_uri = strdup(P11KMS_GCP_DEFAULT_TOKEN_URI);
        if (out->token_uri == NULL)
            rv = CKR_HOST_MEMORY;
    }
out:
    if (bad != NULL)
        LOG_E("gcp: %s: %s credential file without a usable \"%s\"", what,
              p11kms_gcp_cred_type_name(out->type), bad);
    if (rv != CKR_OK)
        p11kms_gcp_credfile_clear(out);
    free(type);
    return rv;
}

CK_RV p11kms_gcp_credfile_read(const char *path, p11kms_gcp_credfile *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    size_t got = 0;
    ssize_t n;
    char *buf;
    int fd;

    memset(out, 0, sizeof(*out));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        LOG_E("gcp: cannot read the credential file %s: %s", path, strerror(errno));
        return CKR_DEVICE_ERROR;
    }
    buf = malloc(P11KMS_GCP_CREDFILE_MAX + 1);
    if (buf == NULL) {
        close(fd);
        return CKR_HOST_MEMORY;
    }
    for (;;) {
        n = read(fd, buf + got, P11KMS_GCP_CREDFILE_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            LOG_E("gcp: cannot read the credential file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > P11KMS_GCP_CREDFILE_MAX) {
            LOG_E("gcp: the credential file %s is larger than %u bytes", path,
                  P11KMS_GCP_CREDFILE_MAX);
            goto out;
        }
    }
    rv = p11kms_gcp_credfile_parse(buf, got, path, out);
out:
    close(fd);
    p11kms_secure_free(buf, P11KMS_GCP_CREDFILE_MAX + 1);
    return rv;
}

char *p11kms_gcp_well_known_path(void)
{
    const char *dir = env("CLOUDSDK_CONFIG"), *home = env("HOME");
    size_t n;
    char *p;

    if (dir == NULL && home == NULL)
        return NULL;
    n = strlen(dir != NULL ? dir : home) + sizeof("/.config/gcloud/" WELL_KNOWN_NAME);
    p = malloc(n);
    if (p == NULL)
        return NULL;
    if (dir != NULL)
        snprintf(p, n, "%s/%s", dir, WELL_KNOWN_NAME);
    else
        snprintf(p, n, "%s/.config/gcloud/%s", home, WELL_KNOWN_NAME);
    return p;
}

CK_RV p11kms_gcp_adc_file(const char *explicit_file, char **path, int *source)
{
    const char *named = explicit_file;
    char *wk;

    *path = NULL;
    *source = P11KMS_GCP_ADC_OPTION;
    if (named == NULL) {
        named = env("GOOGLE_APPLICATION_CREDENTIALS");
        *source = P11KMS_GCP_ADC_ENV;
    }
    if (named != NULL) {
        *path = strdup(named);
        return *path != NULL ? CKR_OK : CKR_HOST_MEMORY;
    }
    *source = P11KMS_GCP_ADC_METADATA;
    wk = p11kms_gcp_well_known_path();
    if (wk != NULL && access(wk, F_OK) == 0) {
        *source = P11KMS_GCP_ADC_WELL_KNOWN;
        *path = wk;
        return CKR_OK;
    }
    free(wk);
    return CKR_OK;
}

const char *p11kms_gcp_adc_source_name(int source)
{
    switch (source) {
    case P11KMS_GCP_ADC_OPTION:
        return "credentials_file";
    case P11KMS_GCP_ADC_ENV:
        return "GOOGLE_APPLICATION_CREDENTIALS";
    case P11KMS_GCP_ADC_WELL_KNOWN:
        return "the gcloud file";
    default:
        return "metadata server";
    }
}

char *p11kms_gcp_metadata_base(void)
{
    const char *host = env("GCE_METADATA_HOST");
    size_t i, n;
    char *url;

    if (host == NULL)
        host = P11KMS_GCP_METADATA_DEFAULT_HOST;
    n = strlen(host);
    if (n > 255)
        return NULL;
    /* host[:port], an IPv6 address in brackets: nothing that could add a path or user info */
    for (i = 0; i < n; i++)
        if (!isalnum((unsigned char)host[i]) && strchr(".-:[]", host[i]) == NULL)
            return NULL;
    url = malloc(n + sizeof("http://"));
    if (url != NULL)
        snprintf(url, n + sizeof("http://"), "http://%s", host);
    return url;
}

int p11kms_gcp_metadata_disabled(void)
{
    const char *v = env("METADATA_SERVER_DETECTION");

    return v != NULL && strcmp(v, "none") == 0;
}
