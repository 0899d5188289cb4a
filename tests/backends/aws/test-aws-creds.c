/* test-aws-creds.c - the credential chain and cache with a scripted transport: source order,
 * the exact IMDSv2 / container / STS requests, file paths, and the refresh windows. */
#include <stdlib.h>
#include <sys/stat.h>
#include "tests/test.h"
#include "tests/fake-http.h"
#include "module/backends/aws/aws-creds.h"
#include "module/backends/aws/aws-retry.h"
#include "module/net/clock.h"

static char dir[64];

static const char *file(const char *name, const char *text)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    FILE *f;

    snprintf(p, 128, "%s/%s", dir, name);
    f = fopen(p, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static void clean_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_ROLE_SESSION_NAME",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_V1_DISABLED",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        NULL,
    };
    size_t i;

    for (i = 0; vars[i] != NULL; i++)
        unsetenv(vars[i]);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", file("credentials", ""), 1);
    setenv("AWS_CONFIG_FILE", file("config", ""), 1);
    fake_reset();
}

/* Resolve once through a fresh provider; CK_RV, credentials in *c. */
static CK_RV resolve(const char *profile, p11kms_cred *c)
{
    p11kms_aws_provider *p = NULL;
    CK_RV rv;

    memset(c, 0, sizeof(*c));
    rv = p11kms_aws_provider_get(profile, "us-east-1", NULL, 1000, 1000, 3, &fake.base, &p);
    if (rv == CKR_OK)
        rv = p11kms_aws_provider_creds(p, p11kms_net_now_ms() + 5000, c);
    p11kms_aws_provider_put(p);
    return rv;
}

static char *iso(long from_now)
{
    static char buf[32];
    time_t t = time(NULL) + from_now;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/* The fake keeps pointers to answers: rotate buffers so several can be queued. */
static char json_creds[4][512];
static int json_next;

static const char *creds_json(const char *akid, long ttl)
{
    char *b = json_creds[json_next++ % 4];

    snprintf(b, sizeof(json_creds[0]),
             "{\"Code\": \"Success\", \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"sk\", "
             "\"Token\": \"tok\", \"Expiration\": \"%s\"}",
             akid, iso(ttl));
    return b;
}

static void test_order(void)
{
    p11kms_cred c;

    clean_env();
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "nothing configured: no credentials");
    is_num(fake.n_seen, 0, "and nothing was fetched (IMDS disabled)");

    file("credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s1\n"
                        "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s2\n"
                        "aws_session_token = t2\n");
    file("config", "[profile cfg]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s3\n"
                   "[default]\naws_access_key_id = AKIDCFGDEFAULT\naws_secret_access_key = s4\n");
    is_rv(resolve(NULL, &c), CKR_OK, "the credentials file");
    ok(strcmp(c.id, "AKIDFILE") == 0 && c.token == NULL && c.expires == 0,
       "its [default] long-term keys, which never expire");
    p11kms_cred_clear(&c);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
    setenv("AWS_SECURITY_TOKEN", "legacy", 1);
    is_rv(resolve(NULL, &c), CKR_OK, "the environment");
    ok(strcmp(c.id, "AKIDENV") == 0 && strcmp(c.token, "legacy") == 0,
       "comes before the files (AWS_SECURITY_TOKEN is the token's legacy name)");
    p11kms_cred_clear(&c);
    is_rv(resolve("other", &c), CKR_OK, "an explicit profile");
    ok(strcmp(c.id, "AKIDOTHER") == 0 && strcmp(c.token, "t2") == 0, "skips the environment");
    p11kms_cred_clear(&c);
    is_rv(resolve("cfg", &c), CKR_OK, "a profile only in the config file");
    ok(strcmp(c.id, "AKIDCFG") == 0, "[profile cfg]");
    p11kms_cred_clear(&c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SECURITY_TOKEN");
    setenv("AWS_CREDENTIAL_EXPIRATION", "soon", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a malformed AWS_CREDENTIAL_EXPIRATION");
    unsetenv("AWS_CREDENTIAL_EXPIRATION");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");

    file("credentials", "[default]\naws_access_key_id = AKIDHALF\n");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a profile with half a key pair is an error");

    file("credentials", "");
    file("config", "[profile chain]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = x\n");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
    is_rv(resolve("chain", &c), CKR_DEVICE_ERROR,
          "a profile that assumes a role (not read here) is an error");
    is_num(fake.n_seen, 0, "not a silent fall-through to the container's role");
    file("credentials", "[chain]\naws_access_key_id = AKIDSTATIC\naws_secret_access_key = s\n");
    is_rv(resolve("chain", &c), CKR_DEVICE_ERROR,
          "nor a fall-back to static keys the SDKs would not use for it");
    file("credentials", "");
    file("config", "[profile proc]\ncredential_process = /bin/creds\n");
    is_rv(resolve("proc", &c), CKR_DEVICE_ERROR, "credential_process (not run here) is an error");
    file("config", "[profile proc]\ncredential_process = /bin/creds\n"
                   "aws_access_key_id = AKIDSTATIC\naws_secret_access_key = s\n");
    is_rv(resolve("proc", &c), CKR_OK, "static keys come before credential_process");
    p11kms_cred_clear(&c);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    file("config", "");

    /* "~/" in the variables, as the SDKs expand it */
    file("credentials", "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = s\n");
    setenv("HOME", dir, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/credentials", 1);
    is_rv(resolve(NULL, &c), CKR_OK, "~/ expands to HOME");
    ok(c.id && strcmp(c.id, "AKIDHOME") == 0, "the file under HOME");
    p11kms_cred_clear(&c);
}

static void test_imds(void)
{
    p11kms_cred c;

    clean_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/", 1);
    fake_push(P11KMS_HTTP_OK, 200, "IMDSTOKEN");
    fake_push(P11KMS_HTTP_OK, 200, "my-role\n");
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIAIMDS", 3600));
    is_rv(resolve(NULL, &c), CKR_OK, "IMDSv2");
    ok(c.id && strcmp(c.id, "ASIAIMDS") == 0 && c.expires > time(NULL),
       "temporary credentials with their expiration");
    p11kms_cred_clear(&c);
    is_num(fake.n_seen, 3, "three requests");
    ok(strcmp(fake.seen[0].method, "PUT") == 0 &&
           strcmp(fake.seen[0].url, "http://127.0.0.1:1/latest/api/token") == 0 &&
           strcmp(fake_header(&fake.seen[0], "x-aws-ec2-metadata-token-ttl-seconds"), "21600") == 0,
       "PUT /latest/api/token with a TTL");
    ok(strcmp(fake.seen[1].url, "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/") ==
               0 &&
           strcmp(fake_header(&fake.seen[1], "x-aws-ec2-metadata-token"), "IMDSTOKEN") == 0,
       "the role list with the token");
    ok(strcmp(fake.seen[2].url,
              "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/my-role") == 0 &&
           fake.seen[2].policy == P11KMS_HTTP_POLICY_METADATA,
       "the role's credentials, plain http allowed only to metadata addresses");

    fake_reset();
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    fake.dflt.hr = P11KMS_HTTP_E_TIMEOUT;
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "not on EC2: no credentials");
    ok(fake.n_seen == 1 && strcmp(fake.seen[0].url, "http://169.254.169.254/latest/api/token") == 0,
       "after one try at the default address");
    ok(fake.seen[0].timeout_ms <= 1000, "with the SDKs' 1 s metadata timeout");

    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "IMDSTOKEN");
    fake_push(P11KMS_HTTP_OK, 200, "../../etc");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a role name with a path is refused");

    /* Regression: only "/?#% " was refused, so a dot segment or a control byte went into the
     * credentials URL. */
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "IMDSTOKEN");
    fake_push(P11KMS_HTTP_OK, 200, "..");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a role name \"..\" is refused");
    is_num(fake.n_seen, 2, "before its credentials are asked for");
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "IMDSTOKEN");
    fake_push(P11KMS_HTTP_OK, 200, "my\tro\x01le");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a role name with control bytes is refused");
    is_num(fake.n_seen, 2, "before its credentials are asked for");
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, "IMDSTOKEN");
    fake_push(P11KMS_HTTP_OK, 200, "Role+=,.@_-9\n");
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIAROLE", 3600));
    is_rv(resolve(NULL, &c), CKR_OK, "every character IAM allows in a role name passes");
    p11kms_cred_clear(&c);
    ok(fake.n_seen == 3 && strcmp(fake.seen[2].url, "http://169.254.169.254/latest/meta-data/iam/"
                                                    "security-credentials/Role+=,.@_-9") == 0,
       "into the credentials URL as it is");
}

static void test_container(void)
{
    p11kms_cred c;

    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic xyz", 1);
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIAECS", 3600));
    is_rv(resolve(NULL, &c), CKR_OK, "container credentials (ECS)");
    p11kms_cred_clear(&c);
    ok(strcmp(fake.seen[0].url, "http://169.254.170.2/v2/credentials/abc") == 0 &&
           strcmp(fake_header(&fake.seen[0], "Authorization"), "Basic xyz") == 0,
       "169.254.170.2 + the relative URI, with the authorization token");

    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.170.23/v1/credentials", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file("eks-token", "eks-token-value\n"), 1);
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIAEKS", 3600));
    is_rv(resolve(NULL, &c), CKR_OK, "container credentials (EKS Pod Identity)");
    p11kms_cred_clear(&c);
    ok(strcmp(fake.seen[0].url, "http://169.254.170.23/v1/credentials") == 0 &&
           strcmp(fake_header(&fake.seen[0], "Authorization"), "eks-token-value") == 0,
       "the full URI, with the token file's content (trimmed)");

    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "bad\r\nX-Injected: 1", 1);
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a token with a line break is refused");
    is_num(fake.n_seen, 0, "before any request");

    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
    fake_push(P11KMS_HTTP_OK, 500, "");
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIARETRY", 3600));
    is_rv(resolve(NULL, &c), CKR_OK, "a 500 from the container endpoint is retried");
    p11kms_cred_clear(&c);

    /* Regression: an Expiration at the epoch parsed as 0, which the cache reads as "never
     * expires", so such credentials were kept forever. */
    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"AccessKeyId\": \"ASIAEPOCH\", \"SecretAccessKey\": \"sk\", \"Token\": \"t\", "
              "\"Expiration\": \"1970-01-01T00:00:00Z\"}");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "an Expiration at the epoch is refused");
    ok(c.id == NULL, "no credentials from it");
    fake_push(P11KMS_HTTP_OK, 200,
              "{\"AccessKeyId\": \"ASIAEPOCH\", \"SecretAccessKey\": \"sk\", \"Token\": \"t\", "
              "\"Expiration\": \"1970-01-01T00:30:00+01:00\"}");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "and one before it, through an offset");
    is_num(fake.n_seen, 2, "each answer fetched once, neither cached");
}

static void test_web_identity(void)
{
    const char *sts_ok = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                         "<Credentials><AccessKeyId>ASIASTS</AccessKeyId><SecretAccessKey>sk"
                         "</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>"
                         "2099-01-01T00:00:00Z</Expiration></Credentials>"
                         "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    p11kms_cred c;
    const char *b;

    clean_env();
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file("token", "jwt.a.b\n"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/p11 kms", 1);
    setenv("AWS_ROLE_SESSION_NAME", "sess", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
    fake_push(P11KMS_HTTP_OK, 200, sts_ok);
    is_rv(resolve(NULL, &c), CKR_OK, "web identity configured");
    ok(c.id && strcmp(c.id, "AKIDENV") == 0, "after the environment");
    p11kms_cred_clear(&c);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, sts_ok);
    is_rv(resolve(NULL, &c), CKR_OK, "web identity without environment keys");
    ok(c.id && strcmp(c.id, "ASIASTS") == 0 && strcmp(c.token, "tok") == 0,
       "STS's temporary credentials");
    p11kms_cred_clear(&c);
    b = fake.seen[0].body;
    ok(strcmp(fake.seen[0].url, "https://sts.us-east-1.amazonaws.com/") == 0,
       "the regional STS endpoint");
    ok(strcmp(b, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam"
                 "%3A%3A111122223333%3Arole%2Fp11%20kms&RoleSessionName=sess&WebIdentityToken="
                 "jwt.a.b") == 0,
       "the form body, every value encoded");
    ok(fake_header(&fake.seen[0], "Authorization") == NULL, "unsigned, as the API requires");

    fake_reset();
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/", 1);
    fake_push(P11KMS_HTTP_OK, 400,
              "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>no</Message>"
              "</Error><RequestId>r-1</RequestId></ErrorResponse>");
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "an STS error stops the chain");
    ok(strcmp(fake.seen[0].url, "http://127.0.0.1:9/") == 0, "AWS_ENDPOINT_URL_STS is used");
    is_num(fake.n_seen, 1, "client errors are not retried");

    clean_env();
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", file("token", "jwt"), 1);
    is_rv(resolve(NULL, &c), CKR_DEVICE_ERROR, "a token file without a role ARN is an error");
}

static void test_cache(void)
{
    p11kms_aws_provider *p = NULL, *q = NULL;
    p11kms_cred c;
    uint64_t dl;

    clean_env();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c", 1);
    p11kms_aws_provider_get(NULL, "us-east-1", NULL, 1000, 1000, 3, &fake.base, &p);
    p11kms_aws_provider_get(NULL, "us-east-1", NULL, 1000, 1000, 3, &fake.base, &q);
    ok(p == q, "providers with the same settings are shared");
    p11kms_aws_provider_put(q);
    dl = p11kms_net_now_ms() + 5000;

    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA1", 3600));
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA1") == 0,
       "first use fetches");
    p11kms_cred_clear(&c);
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA1") == 0,
       "an hour left: cached");
    p11kms_cred_clear(&c);
    is_num(fake.n_seen, 1, "one fetch for two uses");

    p11kms_aws_provider_invalidate(p);
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA2", 12 * 60));
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA2") == 0,
       "invalidated: fetched again");
    p11kms_cred_clear(&c);
    /* 12 minutes left: inside the advisory window, a refresh is tried; when it fails the
     * cached credentials are still used */
    fake_push(P11KMS_HTTP_OK, 500, "");
    fake_push(P11KMS_HTTP_OK, 500, "");
    fake_push(P11KMS_HTTP_OK, 500, "");
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA2") == 0,
       "advisory refresh failed: the cached credentials still serve");
    p11kms_cred_clear(&c);
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA3", 3600));
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA3") == 0,
       "advisory refresh succeeded: new credentials");
    p11kms_cred_clear(&c);

    p11kms_aws_provider_invalidate(p);
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA4", -10));
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_DEVICE_ERROR,
       "credentials that arrive already expired are not used");
    fake_reset();
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA5", 5 * 60));
    fake_push(P11KMS_HTTP_OK, 200, creds_json("ASIA6", 5 * 60));
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA5") == 0,
       "5 minutes left");
    p11kms_cred_clear(&c);
    ok(p11kms_aws_provider_creds(p, dl, &c) == CKR_OK && strcmp(c.id, "ASIA6") == 0,
       "inside the mandatory window: refreshed on the next use");
    p11kms_cred_clear(&c);
    is_num(fake.n_seen, 2, "one fetch per use");
    p11kms_aws_provider_put(p);
}

int main(void)
{
    test_start();
    snprintf(dir, sizeof(dir), "/tmp/p11kms-aws-creds-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 99;
    fake_init();
    test_order();
    test_imds();
    test_container();
    test_web_identity();
    test_cache();
    fake_reset();
    p11kms_http_set_override(NULL);
    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            diag("could not remove %s", dir);
    }
    return test_exit_code();
}
