/* test-aws-sources.c - where the aws backend gets credentials, region and endpoint from, through
 * the built module against the loopback test server: environment, profiles in the shared files,
 * web identity (STS), container endpoint, IMDSv2, caching, refresh. Run by test-aws-module.sh. */
#include <pthread.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

#define ROLE_ARN "arn:aws:iam::111122223333:role/p11kms-test"
#define WEB_TOKEN "p11kms-test-web-identity-token"

static const char *endpoint, *key_arn, *key_id, *akid, *secret;
static char creds_file[512], config_file[512];

/* Clear every variable a credential or endpoint source reads (aws-env.sh set the defaults). */
static void env_clear(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        NULL,
    };
    size_t i;

    for (i = 0; vars[i] != NULL; i++)
        unsetenv(vars[i]);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
    p11_write("aws-credentials", "", 0600);
    p11_write("aws-config", "", 0600);
}

static void env_default(void)
{
    env_clear();
    setenv("AWS_ACCESS_KEY_ID", akid, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
}

/* One key "k": key_id and extra JSON members (", \"profile\": \"p\""); the test server's
 * endpoint unless with_endpoint is 0. */
static CK_RV init_key(const char *kid, const char *extra, int with_endpoint)
{
    char text[2048];

    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"aws\", \"keys\": [\n"
             "  {\"label\": \"k\", \"backend\": \"aws\", \"key_id\": \"%s\"%s%s%s%s}]}]}\n",
             kid, with_endpoint ? ", \"endpoint\": \"" : "", with_endpoint ? endpoint : "",
             with_endpoint ? "\"" : "", extra ? extra : "");
    return p11_init_config(p11_write("aws.json", text, 0600));
}

/* Wrap and unwrap one data key with the key labelled label; the first failing CK_RV. */
static CK_RV round_trip_with(const char *label)
{
    CK_SESSION_HANDLE s = p11_open(0);
    CK_OBJECT_HANDLE kms = p11_find_label(s, label), dk = p11_data_key(s, 32), out = 0;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t env[8192], a[32], b[32];
    CK_ULONG len = sizeof(env), la = 32, lb = 32;
    CK_RV rv;
    P11_UNWRAP_TEMPLATE(t);

    rv = p11->C_WrapKey(s, &m, kms, dk, env, &len);
    if (rv == CKR_OK)
        rv = p11->C_UnwrapKey(s, &m, kms, env, len, t, 4, &out);
    if (rv == CKR_OK &&
        (!p11_value(s, dk, a, &la) || !p11_value(s, out, b, &lb) || memcmp(a, b, 32) != 0))
        rv = CKR_GENERAL_ERROR;
    p11->C_CloseSession(s);
    return rv;
}

static CK_RV round_trip(void)
{
    return round_trip_with("k");
}

static void finalize(void)
{
    p11->C_Finalize(NULL);
}

/* Who signed the last KMS request, and whether a session token was signed. */
static void last_signer(char *key, size_t len, int *token_signed)
{
    json_object *r = ctl_last_request(), *v;

    snprintf(key, len, "%s", json_str(r, "access_key_id"));
    *token_signed = r != NULL && json_object_object_get_ex(r, "session_token_signed", &v) &&
                    json_object_get_boolean(v);
    json_object_put(r);
}

static void test_environment(void)
{
    json_object *c;
    char who[128];
    int tok;

    env_default();
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "env: C_Initialize");
    is_rv(round_trip(), CKR_OK, "env: long-term keys from the environment");
    last_signer(who, sizeof(who), &tok);
    ok(strcmp(who, akid) == 0 && !tok, "env: signed with AWS_ACCESS_KEY_ID, no token");
    finalize();

    c = ctl("POST", "/credentials", "{\"temporary\": true}");
    setenv("AWS_ACCESS_KEY_ID", json_str(c, "AccessKeyId"), 1);
    setenv("AWS_SECRET_ACCESS_KEY", json_str(c, "SecretAccessKey"), 1);
    setenv("AWS_SESSION_TOKEN", json_str(c, "SessionToken"), 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "env+token: C_Initialize");
    is_rv(round_trip(), CKR_OK, "env+token: temporary credentials from the environment");
    last_signer(who, sizeof(who), &tok);
    ok(strcmp(who, json_str(c, "AccessKeyId")) == 0 && tok,
       "env+token: X-Amz-Security-Token sent and signed");
    json_object_put(c);
    finalize();

    env_clear();
    setenv("AWS_ACCESS_KEY_ID", akid, 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "partial env: C_Initialize (no network yet)");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "partial env: AWS_ACCESS_KEY_ID alone is an error");
    finalize();

    env_clear();
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "none: C_Initialize");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "none: no credentials anywhere: CKR_DEVICE_ERROR");
    finalize();
}

static void test_profiles(void)
{
    char text[1024];
    long enc;

    env_clear();
    snprintf(text, sizeof(text),
             "[default]\naws_access_key_id = AKIDNOTTHEONE\naws_secret_access_key = x\n\n"
             "# the test profile\n[p11]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             akid, secret);
    p11_write("aws-credentials", text, 0600);
    /* the environment is skipped when the key names its profile (botocore does the same) */
    setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wrong", 1);
    is_rv(init_key(key_arn, ", \"profile\": \"p11\"", 1), CKR_OK, "profile option: init");
    is_rv(round_trip(), CKR_OK, "profile option: keys of [p11] in the credentials file");
    finalize();

    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_PROFILE", "p11", 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "AWS_PROFILE: init");
    is_rv(round_trip(), CKR_OK, "AWS_PROFILE selects [p11]");
    finalize();

    p11_write("aws-credentials", "", 0600);
    snprintf(text, sizeof(text),
             "[profile cfg]\naws_access_key_id=%s\naws_secret_access_key=%s\nregion=us-east-1\n",
             akid, secret);
    p11_write("aws-config", text, 0600);
    setenv("AWS_PROFILE", "cfg", 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "config file: init");
    is_rv(round_trip(), CKR_OK, "config file: keys of [profile cfg]");
    finalize();

    setenv("AWS_PROFILE", "nope", 1);
    enc = ctl_count("Encrypt");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "missing profile: init");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "a named profile that exists nowhere is an error");
    is_num(ctl_count("Encrypt") - enc, 0, "and no KMS request was sent");
    finalize();

    /* region from the profile: a bare key id carries none */
    setenv("AWS_PROFILE", "cfg", 1);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    is_rv(init_key(key_id, NULL, 1), CKR_OK, "region from the profile: init");
    is_rv(round_trip(), CKR_OK, "region from [profile cfg]");
    finalize();
    p11_write("aws-config", "", 0600);
    ok(init_key(key_id, NULL, 1) != CKR_OK, "no region anywhere: the key is refused at init");
    finalize();
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "the key ARN's region is enough");
    finalize();
}

static void test_endpoints(void)
{
    env_default();
    setenv("AWS_ENDPOINT_URL_KMS", endpoint, 1);
    is_rv(init_key(key_arn, NULL, 0), CKR_OK, "AWS_ENDPOINT_URL_KMS: init");
    is_rv(round_trip(), CKR_OK, "endpoint from AWS_ENDPOINT_URL_KMS");
    finalize();
    unsetenv("AWS_ENDPOINT_URL_KMS");
    setenv("AWS_ENDPOINT_URL", endpoint, 1);
    is_rv(init_key(key_arn, NULL, 0), CKR_OK, "AWS_ENDPOINT_URL: init");
    is_rv(round_trip(), CKR_OK, "endpoint from AWS_ENDPOINT_URL");
    finalize();
    unsetenv("AWS_ENDPOINT_URL");

    /* no configuration file: KMS_KEY_ID alone, the endpoint from the environment */
    setenv("AWS_ENDPOINT_URL_KMS", endpoint, 1);
    unsetenv("P11KMS_CONFIG");
    setenv("KMS_KEY_ID", "alias/p11kms-test", 1);
    is_rv(p11->C_Initialize(NULL), CKR_OK, "KMS_KEY_ID=alias/...: init without a config file");
    is_rv(round_trip_with("default"), CKR_OK, "the quick-mode key wraps and unwraps");
    finalize();
    unsetenv("KMS_KEY_ID");
    unsetenv("AWS_ENDPOINT_URL_KMS");

    ok(init_key(key_arn, ", \"endpoint\": \"http://kms.example.com\"", 0) != CKR_OK,
       "plain http to a non-loopback endpoint is refused");
    finalize();
    ok(init_key(key_arn, ", \"endpoint\": \"https://h/path\"", 0) != CKR_OK,
       "an endpoint with a path is refused");
    finalize();
}

static void test_web_identity(void)
{
    char text[512], who[128];
    const char *file;
    long sts, kms;
    int tok;

    env_clear();
    file = p11_write("web-identity-token", WEB_TOKEN "\n", 0600);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file, 1);
    setenv("AWS_ROLE_ARN", ROLE_ARN, 1);
    setenv("AWS_ENDPOINT_URL_STS", endpoint, 1);
    sts = ctl_count("sts");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "web identity: init");
    ok(round_trip() == CKR_OK && round_trip() == CKR_OK && round_trip() == CKR_OK,
       "web identity: three round trips");
    is_num(ctl_count("sts") - sts, 1, "one AssumeRoleWithWebIdentity, then the cache");
    last_signer(who, sizeof(who), &tok);
    ok(strncmp(who, "ASIA", 4) == 0 && tok, "signed with STS's temporary keys and token");
    finalize();

    p11_write("web-identity-token", "not-the-token\n", 0600);
    kms = ctl_count("Encrypt");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "bad web identity token: init");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "STS refuses the token: CKR_DEVICE_ERROR");
    is_num(ctl_count("Encrypt") - kms, 0, "no KMS request without credentials");
    finalize();

    /* the same from a profile of the config file */
    env_clear();
    file = p11_write("web-identity-token", WEB_TOKEN, 0600);
    snprintf(text, sizeof(text), "[profile wi]\nweb_identity_token_file = %s\nrole_arn = %s\n",
             file, ROLE_ARN);
    p11_write("aws-config", text, 0600);
    setenv("AWS_PROFILE", "wi", 1);
    setenv("AWS_ENDPOINT_URL_STS", endpoint, 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "web identity profile: init");
    is_rv(round_trip(), CKR_OK, "web identity from [profile wi]");
    finalize();
}

static void container_env(void)
{
    char url[512];

    env_clear();
    snprintf(url, sizeof(url), "%s/ecs/credentials", endpoint);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
}

#define THREADS 8

static void *thread_round_trip(void *arg)
{
    (void)arg;
    return (void *)(long)(round_trip() != CKR_OK);
}

static void test_container(void)
{
    long n, enc, expired;
    pthread_t th[THREADS];
    int i, failures = 0;

    container_env();
    ctl_do("POST", "/config", "{\"container_auth_token\": \"Bearer p11kms-container\"}");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
           p11_write("container-token", "Bearer p11kms-container\n", 0600), 1);
    n = ctl_count("container");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "container: init");
    ok(round_trip() == CKR_OK && round_trip() == CKR_OK, "container credentials work");
    is_num(ctl_count("container") - n, 1, "fetched once for four calls (cached)");

    /* revoked early: the KMS says ExpiredToken, the module fetches fresh ones and retries */
    ctl_do("POST", "/expire-credentials", "{}");
    n = ctl_count("container");
    enc = ctl_count("Encrypt");
    expired = ctl_stat("errors", "ExpiredTokenException");
    is_rv(round_trip(), CKR_OK, "expired credentials are replaced within the call");
    is_num(ctl_stat("errors", "ExpiredTokenException") - expired, 1, "after one ExpiredToken");
    is_num(ctl_count("Encrypt") - enc, 2, "two Encrypt requests");
    is_num(ctl_count("container") - n, 1, "one fresh fetch");
    finalize();

    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "container without its token: init");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "the endpoint refuses: CKR_DEVICE_ERROR");
    finalize();
    ctl_do("POST", "/config", "{\"container_auth_token\": null}");

    /* short-lived credentials (under the 10-minute margin) are refreshed on every call */
    container_env();
    ctl_do("POST", "/config", "{\"credential_ttl_seconds\": 300}");
    n = ctl_count("container");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "short-lived: init");
    ok(round_trip() == CKR_OK && round_trip() == CKR_OK, "short-lived credentials work");
    is_num(ctl_count("container") - n, 4, "refreshed before each of the four calls");
    finalize();
    ctl_do("POST", "/config", "{\"credential_ttl_seconds\": null}");

    /* eight threads with an empty cache and a slow endpoint: one fetch serves them all */
    container_env();
    n = ctl_count("container");
    ctl_fault("container", "delay", 1, ", \"delay_ms\": 500");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "threads: init");
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, thread_round_trip, NULL);
    for (i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        failures += (int)(long)r;
    }
    is_num(failures, 0, "8 threads round-trip with fetched credentials");
    is_num(ctl_count("container") - n, 1, "one refresh at a time: a single fetch for all");
    ctl_clear_faults();
    finalize();
}

static void test_imds(void)
{
    long t, r, c;

    env_clear();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    t = ctl_count("imds-token");
    r = ctl_count("imds-role");
    c = ctl_count("imds-credentials");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "IMDS: init");
    ok(round_trip() == CKR_OK && round_trip() == CKR_OK, "IMDSv2 credentials work");
    is_num(ctl_count("imds-token") - t, 1, "one session token (PUT)");
    is_num(ctl_count("imds-role") - r, 1, "one role lookup");
    is_num(ctl_count("imds-credentials") - c, 1, "one credentials fetch");
    finalize();

    /* an IMDS without v2 answers the token PUT with 405: v1 (no token) as the SDKs do */
    ctl_do("POST", "/config", "{\"imds_v1\": true}");
    ctl_fault("imds-token", "error", 1, ", \"status\": 405, \"type\": \"x\"");
    c = ctl_count("imds-credentials");
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "IMDSv1 fallback: init");
    is_rv(round_trip(), CKR_OK, "IMDSv1 fallback works");
    is_num(ctl_count("imds-credentials") - c, 1, "credentials fetched without a token");
    finalize();
    ctl_fault("imds-token", "error", 1, ", \"status\": 405, \"type\": \"x\"");
    setenv("AWS_EC2_METADATA_V1_DISABLED", "true", 1);
    is_rv(init_key(key_arn, NULL, 1), CKR_OK, "IMDSv1 disabled: init");
    is_rv(round_trip(), CKR_DEVICE_ERROR, "no fallback when v1 is disabled");
    finalize();
    unsetenv("AWS_EC2_METADATA_V1_DISABLED");
    ctl_clear_faults();
    ctl_do("POST", "/config", "{\"imds_v1\": false}");
}

int main(void)
{
    endpoint = getenv("P11KMS_AWS_ENDPOINT");
    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    key_id = getenv("P11KMS_AWS_KEY_ID");
    akid = getenv("AWS_ACCESS_KEY_ID");
    secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (endpoint == NULL || key_arn == NULL || key_id == NULL || akid == NULL || secret == NULL) {
        printf("1..0 # SKIP run through test-aws-module.sh (needs the AWS test server)\n");
        return 0;
    }
    akid = strdup(akid);
    secret = strdup(secret);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    ctl_do("POST", "/reset", "{\"keys\": true}");
    snprintf(creds_file, sizeof(creds_file), "%s/aws-credentials", p11_tmp());
    snprintf(config_file, sizeof(config_file), "%s/aws-config", p11_tmp());
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_file, 1);
    setenv("AWS_CONFIG_FILE", config_file, 1);
    test_environment();
    test_profiles();
    test_endpoints();
    test_web_identity();
    test_container();
    test_imds();
    is_num(ctl_stat("signature_failures", NULL), 0, "every signature verified by botocore");
    p11_unload();
    ctl_close();
    curl_global_cleanup();
    free((void *)akid);
    free((void *)secret);
    return test_exit_code();
}
