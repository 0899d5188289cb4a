/* fuzz-aws-creds.c - fuzz target for credential service answers: the input is an HTTP response
 * (or a bare body) read as IMDS/container JSON and as STS XML, directly and through the
 * sources that fetch it (container, EC2 IMDSv2, web identity) from a fake transport. */
#include <string.h>
#include <time.h>
#include "module/backends/aws/aws-creds.h"
#include "module/backends/aws/aws-retry.h"
#include "module/net/clock.h"
#include "module/net/json.h"
#include "module/net/sbuf.h"
#include "module/backends/aws/aws-xml.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/aws-fuzz.h"

#define CONTAINER_URL "http://127.0.0.1:9/creds"
#define IMDS_BASE "http://169.254.169.254"
#define IMDS_CREDS IMDS_BASE "/latest/meta-data/iam/security-credentials/"

static fake_answer answer, answer_200, imds_token;
static fake_http http;
static int ready;

/* The IMDS token PUT always succeeds, the container endpoint always answers 200 (so that its
 * three attempts never back off), everything else gets the input as it is. */
static const fake_answer *route(fake_http *f, const p11kms_http_request *req)
{
    (void)f;
    if (strcmp(req->method, "PUT") == 0)
        return &imds_token;
    if (strcmp(req->url, CONTAINER_URL) == 0)
        return &answer_200;
    return &answer;
}

static void setup(void)
{
    static const char token[] = "fuzz-web-identity-token";
    char path[64];
    int fd;

    if (ready)
        return;
    ready = 1;
    fuzz_quiet_log();
    fuzz_aws_clean_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", IMDS_BASE, 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", CONTAINER_URL, 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "fuzz-container-token", 1);
    fd = fuzz_aws_tmpfile(path, sizeof(path));
    fuzz_aws_rewrite(fd, token, sizeof(token) - 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/fuzz", 1);
    setenv("AWS_ROLE_SESSION_NAME", "fuzz", 1);
    fake_http_init(&http, route);
    imds_token.hr = P11KMS_HTTP_OK;
    imds_token.status = 200;
    imds_token.headers = fuzz_default_headers;
    imds_token.headers_len = sizeof(fuzz_default_headers) - 1;
    imds_token.sized = 1;
    imds_token.body = "fuzz-imds-token";
    imds_token.body_len = 15;
}

static int clean(const char *s)
{
    if (s == NULL || *s == 0)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int is_zero(const p11kms_cred *c)
{
    return c->id == NULL && c->secret == NULL && c->token == NULL && c->expires == 0;
}

/* What every accepted answer gives: both keys, a token only when there is one, no control
 * characters (they would end up in signed headers), nothing longer than the answer. */
static void check_creds(const p11kms_cred *c, size_t body_len)
{
    FUZZ_ASSERT(clean(c->id) && clean(c->secret) && c->source != NULL);
    FUZZ_ASSERT(c->token == NULL || clean(c->token));
    FUZZ_ASSERT(strlen(c->id) <= body_len && strlen(c->secret) <= body_len);
    FUZZ_ASSERT(c->token == NULL || strlen(c->token) <= body_len);
}

static int same(const p11kms_cred *a, const p11kms_cred *b)
{
    return strcmp(a->id, b->id) == 0 && strcmp(a->secret, b->secret) == 0 &&
           (a->token == NULL) == (b->token == NULL) &&
           (a->token == NULL || strcmp(a->token, b->token) == 0) && a->expires == b->expires;
}

static void expect_string(const p11kms_json *root, const char *name, const char *got)
{
    p11kms_json v;
    char *s = NULL;

    FUZZ_ASSERT(p11kms_json_member(root, name, &v));
    FUZZ_ASSERT(p11kms_json_string(&v, P11KMS_AWS_CREDS_MAX_RESPONSE, &s) == 0);
    FUZZ_ASSERT(strcmp(s, got) == 0);
    p11kms_secure_free_str(s);
}

/* An accepted JSON answer holds exactly the values its members decode to. */
static void check_json_fields(const char *body, size_t len, const p11kms_cred *c)
{
    p11kms_json root, v;
    char *s = NULL;
    time_t t = 0;

    FUZZ_ASSERT(p11kms_json_parse(body, len, &root) == 0);
    expect_string(&root, "AccessKeyId", c->id);
    expect_string(&root, "SecretAccessKey", c->secret);
    if (c->token != NULL)
        expect_string(&root, "Token", c->token);
    else if (p11kms_json_member(&root, "Token", &v))
        FUZZ_ASSERT(v.len == 2); /* "" means no token */
    if (p11kms_json_member(&root, "Expiration", &v)) {
        FUZZ_ASSERT(p11kms_json_string(&v, 64, &s) == 0 && p11kms_net_parse_time(s, &t) == 0);
        FUZZ_ASSERT(c->expires == t);
        free(s);
    } else {
        FUZZ_ASSERT(c->expires == 0);
    }
}

/* XML element text: within its bound, and refused below it. */
static void check_xml(const char *body, size_t len, const char *name)
{
    const char *inner;
    size_t inner_len, nlen = strlen(name), n;
    char *s = NULL, *t = NULL;

    if (p11kms_aws_xml_element(body, len, name, &inner, &inner_len) == 0) {
        FUZZ_ASSERT(inner >= body + nlen + 2 &&
                    (size_t)(inner - body) + inner_len + nlen + 3 <= len);
        FUZZ_ASSERT(inner[-1] == '>' && memcmp(inner - nlen - 1, name, nlen) == 0);
        FUZZ_ASSERT(inner[inner_len] == '<' && inner[inner_len + 1] == '/');
        FUZZ_ASSERT(memcmp(inner + inner_len + 2, name, nlen) == 0);
    }
    if (p11kms_aws_xml_text(body, len, name, len, &s) != 0) {
        FUZZ_ASSERT(s == NULL);
        return;
    }
    n = strlen(s);
    FUZZ_ASSERT(n <= len);
    if (n > 0)
        FUZZ_ASSERT(p11kms_aws_xml_text(body, len, name, n - 1, &t) != 0 && t == NULL);
    p11kms_secure_free_str(s);
}

static void check_sts_fields(const char *body, size_t len, const p11kms_cred *c)
{
    const char *in;
    size_t in_len;
    char *s = NULL;
    time_t t = 0;

    FUZZ_ASSERT(p11kms_aws_xml_element(body, len, "Credentials", &in, &in_len) == 0);
    FUZZ_ASSERT(p11kms_aws_xml_text(in, in_len, "AccessKeyId", in_len, &s) == 0);
    FUZZ_ASSERT(strcmp(s, c->id) == 0);
    free(s);
    FUZZ_ASSERT(p11kms_aws_xml_text(in, in_len, "Expiration", 64, &s) == 0);
    FUZZ_ASSERT(p11kms_net_parse_time(s, &t) == 0 && t == c->expires);
    free(s);
}

static void fetch_settings(p11kms_aws_fetch *f)
{
    memset(f, 0, sizeof(*f));
    f->http = &http.base;
    f->region = "us-east-1";
    f->connect_timeout_ms = 1000;
    f->request_timeout_ms = 1000;
    f->max_attempts = 1;
    f->deadline_ms = p11kms_net_now_ms() + 60000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    p11kms_cred direct_json, direct_sts, c;
    p11kms_aws_fetch f;
    const char *body, *role;
    size_t len;
    CK_RV rv_json, rv_sts, rv;
    int applies, delivered;
    char *str;

    setup();
    fuzz_cut_response(data, size, &answer);
    answer_200 = answer;
    if (answer_200.hr == P11KMS_HTTP_OK)
        answer_200.status = 200;
    body = (const char *)answer.body;
    len = answer.body_len;
    delivered = answer.hr == P11KMS_HTTP_OK && len <= P11KMS_AWS_CREDS_MAX_RESPONSE &&
                answer.headers_len + 1 <= P11KMS_HTTP_HEADERS_MAX;

    /* the parsers on their own */
    memset(&direct_json, 0, sizeof(direct_json));
    rv_json = p11kms_aws_creds_parse_json(body, len, "IMDS", &direct_json);
    FUZZ_ASSERT(rv_json == CKR_OK || rv_json == CKR_DEVICE_ERROR);
    if (rv_json == CKR_OK) {
        check_creds(&direct_json, len);
        check_json_fields(body, len, &direct_json);
    } else {
        FUZZ_ASSERT(is_zero(&direct_json));
    }
    memset(&direct_sts, 0, sizeof(direct_sts));
    rv_sts = p11kms_aws_creds_parse_sts(body, len, &direct_sts);
    FUZZ_ASSERT(rv_sts == CKR_OK || rv_sts == CKR_DEVICE_ERROR);
    if (rv_sts == CKR_OK) {
        check_creds(&direct_sts, len);
        check_sts_fields(body, len, &direct_sts);
        FUZZ_ASSERT(direct_sts.token != NULL && direct_sts.expires != 0);
    } else {
        FUZZ_ASSERT(is_zero(&direct_sts));
    }
    check_xml(body, len, "Code");
    check_xml(body, len, "Message");
    check_xml(body, len, "SessionToken");
    if (len <= 64) {
        time_t t;

        str = malloc(len + 1);
        FUZZ_ASSERT(str != NULL);
        memcpy(str, body, len);
        str[len] = 0;
        p11kms_net_parse_time(str, &t);
        free(str);
    }

    /* the container endpoint: the same answer, or the transport's refusal */
    fetch_settings(&f);
    memset(&c, 0, sizeof(c));
    rv = p11kms_aws_creds_from_container(&f, &c, &applies);
    FUZZ_ASSERT(applies == 1);
    FUZZ_ASSERT(rv == (delivered ? rv_json : CKR_DEVICE_ERROR));
    if (rv == CKR_OK)
        FUZZ_ASSERT(same(&c, &direct_json));
    p11kms_cred_clear(&c);

    /* IMDSv2: token, then the role named by the first line, then that role's credentials */
    fetch_settings(&f);
    http.requests = 0;
    rv = p11kms_aws_creds_from_imds(&f, &c, &applies);
    FUZZ_ASSERT(applies == 1 && (rv == CKR_OK || rv == CKR_DEVICE_ERROR));
    if (rv == CKR_OK) {
        FUZZ_ASSERT(rv_json == CKR_OK && same(&c, &direct_json) && http.requests == 3);
        FUZZ_ASSERT(strncmp(http.last_url, IMDS_CREDS, strlen(IMDS_CREDS)) == 0);
        role = http.last_url + strlen(IMDS_CREDS);
        /* only what IAM allows in a role name reaches the URL, and no dot segment */
        FUZZ_ASSERT(*role != 0 && strlen(role) <= 64 &&
                    strspn(role, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789+=,.@_-") == strlen(role) &&
                    strcmp(role, ".") != 0 && strcmp(role, "..") != 0);
        FUZZ_ASSERT(strncmp(body, role, strlen(role)) == 0);
    }
    p11kms_cred_clear(&c);

    /* STS AssumeRoleWithWebIdentity: an error status is never credentials */
    fetch_settings(&f);
    rv = p11kms_aws_creds_from_web_identity("default", &f, &c, &applies);
    FUZZ_ASSERT(applies == 1);
    FUZZ_ASSERT(rv == (delivered && answer.status == 200 ? rv_sts : CKR_DEVICE_ERROR));
    if (rv == CKR_OK)
        FUZZ_ASSERT(same(&c, &direct_sts));
    p11kms_cred_clear(&c);

    p11kms_cred_clear(&direct_json);
    p11kms_cred_clear(&direct_sts);
    return 0;
}
