/* test-net-settings.c - the shared TLS settings (p11kms_net_settings_read_tls): a CA directory,
 * a client certificate with its key, a TLS server name, each from its option or else the
 * backend's variable, and the refusals (one without the other, a name or certificate with plain
 * http, unreadable paths, a file for a directory, a name that is not a DNS name). */
#include <sys/stat.h>
#include <unistd.h>
#include "tests/test.h"
#include "tests/unit/logcap.h"
#include "module/net/settings.h"

static const char *const *opts;

static const char *get(const void *src, const char *name)
{
    size_t i;

    (void)src;
    for (i = 0; opts != NULL && opts[i] != NULL; i += 2)
        if (strcmp(opts[i], name) == 0)
            return opts[i + 1];
    return NULL;
}

static const p11kms_net_tls_env env = {"T_CAPATH", "T_CERT", "T_KEY", "T_NAME"};

/* read_tls after an endpoint, with the options o (name, value, ..., NULL). */
static CK_RV read_with(const char *endpoint, const char *const *o, p11kms_net_settings *s)
{
    memset(s, 0, sizeof(*s));
    opts = o;
    if (p11kms_net_settings_endpoint(s, "test", endpoint) != CKR_OK)
        return CKR_GENERAL_ERROR;
    return p11kms_net_settings_read_tls(s, "test", get, NULL, &env);
}

int main(void)
{
    char dir[] = "/tmp/p11kms-net-settings-XXXXXX", cert[300], key[300];
    p11kms_net_settings s;
    FILE *f;

    test_start();
    logcap_start(P11KMS_LOG_WARNING);
    if (mkdtemp(dir) == NULL)
        return 99;
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    f = fopen(cert, "w");
    fputs("cert\n", f);
    fclose(f);
    f = fopen(key, "w");
    fputs("key\n", f);
    fclose(f);
    unsetenv("T_CAPATH");
    unsetenv("T_CERT");
    unsetenv("T_KEY");
    unsetenv("T_NAME");
    logcap_take();

    {
        const char *o[] = {NULL};
        is_rv(read_with("https://kms.example", o, &s), CKR_OK, "nothing set");
        ok(s.ca_path == NULL && s.client_cert == NULL && s.client_key == NULL &&
               s.tls_server_name == NULL,
           "leaves every field NULL");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"ca_path",    dir, "client_cert",     cert,
                           "client_key", key, "tls_server_name", "kms.internal.example",
                           NULL};
        is_rv(read_with("https://10.0.0.1:8200", o, &s), CKR_OK, "every option");
        ok(s.ca_path && strcmp(s.ca_path, dir) == 0 && s.client_cert &&
               strcmp(s.client_cert, cert) == 0 && s.client_key && strcmp(s.client_key, key) == 0 &&
               s.tls_server_name && strcmp(s.tls_server_name, "kms.internal.example") == 0,
           "kept as given");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {NULL};
        setenv("T_CAPATH", dir, 1);
        setenv("T_CERT", cert, 1);
        setenv("T_KEY", key, 1);
        setenv("T_NAME", "vault.example", 1);
        is_rv(read_with("https://10.0.0.1:8200", o, &s), CKR_OK, "from the backend's variables");
        ok(s.ca_path && s.client_cert && s.client_key && s.tls_server_name &&
               strcmp(s.tls_server_name, "vault.example") == 0,
           "every field read");
        p11kms_net_settings_free(&s);
        unsetenv("T_CAPATH");
        unsetenv("T_CERT");
        unsetenv("T_KEY");
        unsetenv("T_NAME");
    }
    {
        const char *o[] = {"client_cert", cert, NULL};
        logcap_take();
        is_rv(read_with("https://kms.example", o, &s), CKR_ARGUMENTS_BAD,
              "a client certificate without its key");
        ok(strstr(logcap_take(), "a client certificate needs its key") != NULL, "says so");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"client_cert", cert, "client_key", key, NULL};
        is_rv(read_with("http://127.0.0.1:8200", o, &s), CKR_ARGUMENTS_BAD,
              "a client certificate with plain http");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"tls_server_name", "vault.example", NULL};
        is_rv(read_with("http://127.0.0.1:8200", o, &s), CKR_ARGUMENTS_BAD,
              "a server name with plain http");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"tls_server_name", "bad name/x", NULL};
        logcap_take();
        is_rv(read_with("https://kms.example", o, &s), CKR_ARGUMENTS_BAD,
              "a server name that is not a DNS name");
        ok(strstr(logcap_take(), "is not a DNS name") != NULL, "says so");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"ca_path", cert, NULL};
        logcap_take();
        is_rv(read_with("https://kms.example", o, &s), CKR_ARGUMENTS_BAD,
              "a file as the CA directory");
        ok(strstr(logcap_take(), "not a directory") != NULL, "says so");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"client_cert", dir, "client_key", key, NULL};
        is_rv(read_with("https://kms.example", o, &s), CKR_ARGUMENTS_BAD,
              "a directory as the certificate");
        p11kms_net_settings_free(&s);
    }
    {
        const char *o[] = {"ca_path", "/nonexistent/p11kms", NULL};
        logcap_take();
        is_rv(read_with("https://kms.example", o, &s), CKR_ARGUMENTS_BAD, "a missing CA directory");
        ok(strstr(logcap_take(), "cannot read /nonexistent/p11kms") != NULL, "names it");
        p11kms_net_settings_free(&s);
    }
    unlink(cert);
    unlink(key);
    rmdir(dir);
    return test_exit_code();
}
