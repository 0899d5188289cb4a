/* test-gcp-creds.c - Application Default Credentials with a scripted transport: the order of
 * the sources, credential files of every supported type (and the refused ones, by name), the
 * exact token requests (authorized user, metadata server, STS and impersonation), the answers'
 * checks, and providers shared between keys. */
#include "tests/backends/gcp/test-gcp-fake.h"
#include "module/backends/gcp/gcp-creds.h"
#include "module/net/clock.h"

#define USER_FILE                                                                                  \
    "{\"type\": \"authorized_user\", \"client_id\": \"cid.apps.googleusercontent.com\", "          \
    "\"client_secret\": \"CLIENT-SECRET-x&y\", \"refresh_token\": \"1//REFRESH-TOKEN\"%s}"

/* A token through a fresh provider (explicit file or ADC); CK_RV, token in *c. */
static CK_RV fetch(const char *file, p11kms_cred *c)
{
    p11kms_gcp_provider *p = NULL;
    CK_RV rv;

    memset(c, 0, sizeof(*c));
    rv = p11kms_gcp_provider_get(file, NULL, 1000, 1000, 3, &fake.base, &p);
    if (rv == CKR_OK)
        rv = p11kms_gcp_provider_token(p, p11kms_net_now_ms() + 5000, c);
    p11kms_gcp_provider_put(p);
    return rv;
}

static CK_RV parse(const char *text)
{
    p11kms_gcp_credfile f;
    CK_RV rv = p11kms_gcp_credfile_parse(text, strlen(text), "test.json", &f);

    p11kms_gcp_credfile_clear(&f);
    return rv;
}

static void test_files(void)
{
    char text[1024];
    p11kms_gcp_credfile f;
    const char *log;

    logcap_take();
    snprintf(text, sizeof(text), USER_FILE, "");
    is_rv(p11kms_gcp_credfile_parse(text, strlen(text), "u.json", &f), CKR_OK, "authorized_user");
    ok(f.type == P11KMS_GCP_AUTHORIZED_USER &&
           strcmp(f.token_uri, "https://oauth2.googleapis.com/token") == 0 &&
           f.quota_project == NULL,
       "without token_uri (gcloud's file), Google's token endpoint");
    p11kms_gcp_credfile_clear(&f);
    is_rv(parse("{\"type\": \"impersonated_service_account\", \"delegates\": []}"),
          CKR_DEVICE_ERROR, "impersonated_service_account files are refused");
    ok(strstr(logcap_take(), "credential type \"impersonated_service_account\" is not supported"),
       "  ...saying so");
    is_rv(parse("{\"type\": \"external_account\", \"audience\": \"a\", \"subject_token_type\": "
                "\"t\", \"token_url\": \"http://127.0.0.1:9/v1/token\", \"credential_source\": "
                "{\"url\": \"http://169.254.169.254/token\"}}"),
          CKR_DEVICE_ERROR, "a URL credential source is refused");
    ok(strstr(logcap_take(), "credential_source \"url\" is not supported"), "  ...saying so");
    is_rv(parse("{\"type\": \"external_account\", \"audience\": \"a\", \"subject_token_type\": "
                "\"t\", \"token_url\": \"u\", \"credential_source\": {\"environment_id\": "
                "\"aws1\", \"region_url\": \"x\"}}"),
          CKR_DEVICE_ERROR, "an AWS credential source is refused");
    is_rv(parse("{\"type\": \"external_account\", \"audience\": \"a\", \"subject_token_type\": "
                "\"t\", \"token_url\": \"u\", \"credential_source\": {\"file\": \"/f\"}, "
                "\"workforce_pool_user_project\": \"p\"}"),
          CKR_DEVICE_ERROR, "a workforce pool is refused");
    ok(strstr(logcap_take(), "workforce_pool_user_project"), "  ...saying so");
    is_rv(parse("{\"type\": \"external_account\", \"audience\": \"a\", \"subject_token_type\": "
                "\"t\", \"token_url\": \"u\", \"credential_source\": {\"file\": \"/f\", "
                "\"format\": {\"type\": \"json\"}}}"),
          CKR_DEVICE_ERROR, "a JSON source without subject_token_field_name");
    is_rv(parse("{\"type\": \"service_account\", \"client_email\": \"e\"}"), CKR_DEVICE_ERROR,
          "a service account without private_key");
    log = logcap_take();
    ok(strstr(log, "service account credential file without a usable \"private_key\""),
       "  ...names the field");
    is_rv(parse("{\"type\": \"authorized_user\", \"client_id\": \"c\", \"client_secret\": \"s\", "
                "\"refresh_token\": \"a\\nb\"}"),
          CKR_DEVICE_ERROR, "a refresh token with a line break");
    is_rv(parse("{\"type\": \"authorized_user\", \"client_id\": \"c\", \"client_secret\": \"s\", "
                "\"refresh_token\": \"r\", \"quota_project_id\": 5}"),
          CKR_DEVICE_ERROR, "a quota_project_id that is not a string");
    is_rv(parse("[\"type\", \"service_account\"]"), CKR_DEVICE_ERROR, "not an object");
    is_rv(parse("{\"client_email\": \"e\"}"), CKR_DEVICE_ERROR, "no type");
    log = logcap_take();
    ok(strstr(log, "s\\nb") == NULL && strstr(log, "1//") == NULL, "no secret in those lines");
}

static void test_order(void)
{
    char text[1024];
    const char *user, *wk;
    p11kms_cred c;
    fake_request *r;

    /* nothing configured: the metadata server is the last source */
    gcp_reset();
    tok_push(P11KMS_HTTP_E_CONNECT, 0, NULL, NULL);
    tok_push(P11KMS_HTTP_E_CONNECT, 0, NULL, NULL);
    tok_push(P11KMS_HTTP_E_CONNECT, 0, NULL, NULL);
    logcap_take();
    is_rv(fetch(NULL, &c), CKR_DEVICE_ERROR, "no file and no metadata server: no credentials");
    ok(strstr(logcap_take(), "no credentials: GOOGLE_APPLICATION_CREDENTIALS is not set"),
       "  ...one line saying where it looked");
    r = gcp_seen(0, 0);
    ok(r != NULL &&
           strcmp(r->url, "http://127.0.0.1:7/computeMetadata/v1/instance/"
                          "service-accounts/default/token") == 0 &&
           strcmp(fake_header(r, "Metadata-Flavor"), "Google") == 0 &&
           strcmp(r->method, "GET") == 0,
       "after asking the metadata server at GCE_METADATA_HOST, with Metadata-Flavor: Google");
    ok(r != NULL && r->policy == P11KMS_HTTP_POLICY_METADATA,
       "plain http only under the metadata policy (link-local address or loopback)");

    gcp_reset();
    is_rv(fetch(NULL, &c), CKR_OK, "the metadata server's token");
    ok(strncmp(c.token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) == 0 && c.id == NULL &&
           strcmp(c.source, "metadata server") == 0 && c.expires > time(NULL) + 3500,
       "its token and lifetime");
    p11kms_cred_clear(&c);
    gcp_reset();
    tok_push(P11KMS_HTTP_OK, 200, "{\"access_token\": \"t\", \"expires_in\": 3599}",
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
    is_rv(fetch(NULL, &c), CKR_DEVICE_ERROR,
          "an answer without Metadata-Flavor: Google is not the metadata server's");
    setenv("METADATA_SERVER_DETECTION", "none", 1);
    gcp_reset();
    is_rv(fetch(NULL, &c), CKR_DEVICE_ERROR, "METADATA_SERVER_DETECTION=none");
    is_num(fake.n_seen, 0, "  ...asks no metadata server");
    unsetenv("METADATA_SERVER_DETECTION");

    /* the gcloud well-known file, then GOOGLE_APPLICATION_CREDENTIALS before it */
    snprintf(text, sizeof(text), USER_FILE, ", \"quota_project_id\": \"user-quota\"");
    wk = gcp_file("application_default_credentials.json", text);
    gcp_reset();
    is_rv(fetch(NULL, &c), CKR_OK, "the gcloud file in CLOUDSDK_CONFIG");
    r = gcp_seen(0, 0);
    ok(r != NULL && strcmp(r->url, "https://oauth2.googleapis.com/token") == 0,
       "  ...refreshed at Google's token endpoint (the file names none)");
    ok(r != NULL && strcmp(form_field(r->body, "grant_type"), "refresh_token") == 0 &&
           strcmp(form_field(r->body, "client_id"), "cid.apps.googleusercontent.com") == 0 &&
           strcmp(form_field(r->body, "client_secret"), "CLIENT-SECRET-x&y") == 0 &&
           strcmp(form_field(r->body, "refresh_token"), "1//REFRESH-TOKEN") == 0 &&
           form_field(r->body, "scope") == NULL,
       "  ...a refresh-token grant with client id and secret (form-encoded), no scope");
    ok(c.id != NULL && strcmp(c.id, "user-quota") == 0 && strcmp(c.source, "authorized user") == 0,
       "  ...its quota_project_id comes with the token");
    p11kms_cred_clear(&c);

    setenv("GOOGLE_APPLICATION_CREDENTIALS", gcp_sa_file("sa.json", NULL), 1);
    gcp_reset();
    is_rv(fetch(NULL, &c), CKR_OK, "GOOGLE_APPLICATION_CREDENTIALS");
    ok(strcmp(gcp_seen(0, 0)->url, TOKEN_URI) == 0 && strcmp(c.source, "service account") == 0,
       "  ...comes before the gcloud file");
    p11kms_cred_clear(&c);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json", 1);
    gcp_reset();
    logcap_take();
    is_rv(fetch(NULL, &c), CKR_DEVICE_ERROR, "GOOGLE_APPLICATION_CREDENTIALS naming no file");
    is_num(fake.n_seen, 0, "  ...is an error, not a fall-through to the gcloud file");
    ok(strstr(logcap_take(), "/nonexistent/sa.json"), "  ...naming the file");
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");

    user = gcp_file("user.json", "{\"type\": \"authorized_user\", \"client_id\": \"c\", "
                                 "\"client_secret\": \"s\", \"refresh_token\": \"r\", "
                                 "\"token_uri\": \"http://127.0.0.1:9/other-token\"}");
    gcp_reset();
    is_rv(fetch(user, &c), CKR_OK, "a key's own credentials_file");
    ok(strcmp(gcp_seen(0, 0)->url, "http://127.0.0.1:9/other-token") == 0,
       "  ...comes before everything, and its token_uri is used");
    p11kms_cred_clear(&c);
    unlink(wk);
}

static void test_external_account(void)
{
    char text[2048];
    const char *file, *jsonfile, *ext;
    p11kms_cred c;
    fake_request *r;

    file = gcp_file("subject.jwt", "eyJhbGciOiJSUzI1NiJ9.SUBJECT.sig\n");
    snprintf(text, sizeof(text),
             "{\"type\": \"external_account\", \"audience\": "
             "\"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/"
             "providers/q\", \"subject_token_type\": \"urn:ietf:params:oauth:token-type:jwt\", "
             "\"token_url\": \"http://127.0.0.1:9/v1/token\", \"credential_source\": {\"file\": "
             "\"%s\"}, \"quota_project_id\": \"wif-quota\"}",
             file);
    ext = gcp_file("ext.json", text);
    gcp_reset();
    is_rv(fetch(ext, &c), CKR_OK, "workload identity federation from a file");
    r = gcp_seen(0, 0);
    ok(r != NULL && strcmp(r->url, "http://127.0.0.1:9/v1/token") == 0 &&
           strcmp(form_field(r->body, "grant_type"),
                  "urn:ietf:params:oauth:grant-type:token-exchange") == 0 &&
           strcmp(form_field(r->body, "requested_token_type"),
                  "urn:ietf:params:oauth:token-type:access_token") == 0 &&
           strcmp(form_field(r->body, "subject_token_type"),
                  "urn:ietf:params:oauth:token-type:jwt") == 0 &&
           strncmp(form_field(r->body, "audience"), "//iam.googleapis.com/projects/1/", 32) == 0,
       "an STS token exchange with the file's audience and subject token type");
    ok(r != NULL &&
           strcmp(form_field(r->body, "subject_token"), "eyJhbGciOiJSUzI1NiJ9.SUBJECT.sig") == 0,
       "  ...the subject token read from the file, trailing newline removed");
    ok(r != NULL &&
           strcmp(form_field(r->body, "scope"), "https://www.googleapis.com/auth/cloudkms") == 0,
       "  ...for the Cloud KMS scope");
    ok(c.id != NULL && strcmp(c.id, "wif-quota") == 0, "  ...with the file's quota project");
    p11kms_cred_clear(&c);

    jsonfile = gcp_file("subject.json", "{\"id_token\": \"JSON-SUBJECT\", \"other\": 1}");
    snprintf(text, sizeof(text),
             "{\"type\": \"external_account\", \"audience\": \"aud\", \"subject_token_type\": "
             "\"urn:ietf:params:oauth:token-type:id_token\", \"token_url\": "
             "\"http://127.0.0.1:9/v1/token\", \"credential_source\": {\"file\": \"%s\", "
             "\"format\": {\"type\": \"json\", \"subject_token_field_name\": \"id_token\"}}, "
             "\"service_account_impersonation_url\": \"http://127.0.0.1:9/v1/projects/-/"
             "serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken\"}",
             jsonfile);
    ext = gcp_file("ext-imp.json", text);
    gcp_reset();
    tok_push(P11KMS_HTTP_OK, 200,
             "{\"access_token\": \"STS-ACCESS-TOKEN\", \"issued_token_type\": "
             "\"urn:ietf:params:oauth:token-type:access_token\", \"token_type\": \"Bearer\", "
             "\"expires_in\": 3600}",
             NULL);
    tok_push(P11KMS_HTTP_OK, 200,
             "{\"accessToken\": \"IMPERSONATED-TOKEN\", \"expireTime\": \"2099-01-01T00:00:00Z\"}",
             NULL);
    is_rv(fetch(ext, &c), CKR_OK, "a JSON subject token and impersonation");
    r = gcp_seen(0, 0);
    ok(r != NULL && strcmp(form_field(r->body, "subject_token"), "JSON-SUBJECT") == 0 &&
           strcmp(form_field(r->body, "scope"), "https://www.googleapis.com/auth/cloud-platform") ==
               0,
       "  ...the field's value is exchanged, for cloud-platform (the IAM call needs it)");
    r = gcp_seen(0, 1);
    ok(r != NULL && strstr(r->url, ":generateAccessToken") &&
           strcmp(fake_header(r, "Authorization"), "Bearer STS-ACCESS-TOKEN") == 0 &&
           strcmp(json_member_str(r->body, r->body_len, "lifetime"), "3600s") == 0 &&
           strstr(r->body, "\"https://www.googleapis.com/auth/cloudkms\"") != NULL,
       "  ...then generateAccessToken with the STS token, for the Cloud KMS scope, an hour");
    ok(c.token != NULL && strcmp(c.token, "IMPERSONATED-TOKEN") == 0 && c.expires == 4070908800,
       "  ...whose accessToken and expireTime are the credential");
    p11kms_cred_clear(&c);
    gcp_reset();
    tok_push(P11KMS_HTTP_OK, 200, "{\"access_token\": \"S\", \"expires_in\": 3600}", NULL);
    tok_push(P11KMS_HTTP_OK, 403,
             "{\"error\": {\"code\": 403, \"message\": \"Permission "
             "'iam.serviceAccounts.getAccessToken' denied\", \"status\": \"PERMISSION_DENIED\"}}",
             NULL);
    logcap_take();
    is_rv(fetch(ext, &c), CKR_DEVICE_ERROR, "impersonation refused: CKR_DEVICE_ERROR");
    ok(strstr(logcap_take(), "iam.serviceAccounts.getAccessToken"), "  ...with IAM's message");

    unlink(jsonfile);
    gcp_reset();
    is_rv(fetch(ext, &c), CKR_DEVICE_ERROR, "a missing subject token file");
    is_num(fake.n_seen, 0, "  ...asks nothing");
}

static void test_parsers_and_sharing(void)
{
    p11kms_gcp_provider *a = NULL, *b = NULL, *d = NULL;
    p11kms_cred c;
    time_t now = 1700000000;

    is_rv(p11kms_gcp_token_parse("{\"access_token\": \"t\", \"expires_in\": 60}", 39, "x", now, &c),
          CKR_OK, "a token answer");
    ok(c.expires == now + 60 && strcmp(c.token, "t") == 0, "expires_in seconds from now");
    p11kms_cred_clear(&c);
    is_rv(
        p11kms_gcp_token_parse("{\"access_token\": \"t\", \"expires_in\": 60.5}", 41, "x", now, &c),
        CKR_DEVICE_ERROR, "a fractional lifetime is refused");
    is_rv(p11kms_gcp_token_parse("{\"access_token\": \"\", \"expires_in\": 60}", 38, "x", now, &c),
          CKR_DEVICE_ERROR, "an empty token is refused");
    is_rv(p11kms_gcp_token_parse("{\"access_token\": \"t\", \"expires_in\": 99999999}", 45, "x",
                                 now, &c),
          CKR_DEVICE_ERROR, "a lifetime longer than a week is refused");
    is_rv(
        p11kms_gcp_impersonated_parse("{\"accessToken\": \"t\", \"expireTime\": \"soon\"}", 42, &c),
        CKR_DEVICE_ERROR, "an expireTime that is no time is refused");

    p11kms_gcp_provider_get(NULL, NULL, 1000, 1000, 3, &fake.base, &a);
    p11kms_gcp_provider_get(NULL, NULL, 1000, 1000, 3, &fake.base, &b);
    p11kms_gcp_provider_get("/other.json", NULL, 1000, 1000, 3, &fake.base, &d);
    ok(a != NULL && a == b && d != NULL && d != a,
       "keys with the same credentials share one provider (one token); other files do not");
    p11kms_gcp_provider_put(a);
    p11kms_gcp_provider_put(b);
    p11kms_gcp_provider_put(d);
}

int main(void)
{
    char *log;

    test_start();
    gcp_setup();
    logcap_start(P11KMS_LOG_DEBUG);
    test_files();
    test_order();
    test_external_account();
    test_parsers_and_sharing();
    log = whole_log();
    ok(strstr(log, "CLIENT-SECRET") == NULL && strstr(log, "REFRESH-TOKEN") == NULL &&
           strstr(log, "SUBJECT") == NULL && strstr(log, "STS-ACCESS-TOKEN") == NULL &&
           strstr(log, "IMPERSONATED-TOKEN") == NULL && strstr(log, TOKEN_PREFIX) == NULL &&
           strstr(log, "PRIVATE KEY") == NULL && strstr(log, "eyJ") == NULL,
       "no client secret, refresh, subject or access token, key or assertion in any log line");
    free(log);
    gcp_teardown();
    return test_exit_code();
}
