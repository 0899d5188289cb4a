/* aws-creds-remote.c - credential sources reached over HTTP: STS AssumeRoleWithWebIdentity,
 * the ECS/EKS container endpoint and EC2 IMDSv2, with their answers' parsers. No state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "aws-creds.h"
#include "aws-xml.h"
#include "log.h"
#include "net/call.h"
#include "net/clock.h"
#include "net/json.h"
#include "net/sbuf.h"
#include "secmem.h"

#define TOKEN_FILE_MAX (16u * 1024u)
#define CONTAINER_TIMEOUT_MS 2000ul
#define CONTAINER_ATTEMPTS 3
#define IMDS_TOKEN_TTL "21600"
#define FIELD_MAX 8192

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != 0 ? v : NULL;
}

static int env_true(const char *name)
{
    const char *v = env(name);

    return v != NULL && strcasecmp(v, "true") == 0;
}

/* A small secret file (web identity or container authorization token), trailing whitespace
 * removed. NULL (logged) when unreadable, empty or too large. */
static char *read_token_file(const char *path, const char *what)
{
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        LOG_E("aws: cannot read the %s file %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf = malloc(TOKEN_FILE_MAX + 1);
    if (buf == NULL)
        goto out;
    for (;;) {
        n = read(fd, buf + got, TOKEN_FILE_MAX + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got > TOKEN_FILE_MAX)
            break;
    }
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ' ||
                       buf[got - 1] == '\t'))
        got--;
    if (got == 0 || got > TOKEN_FILE_MAX || memchr(buf, 0, got) != NULL) {
        LOG_E("aws: the %s file %s is empty, too large or binary", what, path);
        p11kms_secure_free(buf, TOKEN_FILE_MAX + 1);
        buf = NULL;
        goto out;
    }
    buf[got] = 0;
out:
    close(fd);
    return buf;
}

/* One HTTP exchange of a credential source, retried on connection failures, timeouts and
 * 5xx/429 answers up to attempts, all within the call's deadline. Returns the http result;
 * the response (possibly an error status) is left in resp. */
static int fetch(const p11kms_aws_fetch *f, const char *method, const char *url,
                 const p11kms_http_header *h, size_t nh, const uint8_t *body, size_t body_len,
                 unsigned long timeout_ms, int attempts, int policy, p11kms_http_response *resp)
{
    p11kms_http_request req;

    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.headers = h;
    req.n_headers = nh;
    req.body = body;
    req.body_len = body_len;
    req.ca_file = f->ca_file;
    req.max_response = P11KMS_AWS_CREDS_MAX_RESPONSE;
    req.policy = policy;
    return p11kms_net_fetch(f->http, &req, "aws", f->connect_timeout_ms, timeout_ms, attempts,
                            f->deadline_ms, resp);
}

static char *join_url(const char *base, const char *path)
{
    size_t bl = strlen(base), n;
    char *u;

    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    n = bl + strlen(path) + 1;
    u = malloc(n);
    if (u != NULL) {
        memcpy(u, base, bl);
        strcpy(u + bl, path);
    }
    return u;
}

CK_RV p11kms_aws_creds_parse_json(const char *body, size_t len, const char *source,
                                  p11kms_cred *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_json root, v;
    char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL, *code = NULL;
    time_t expiration = 0;

    if (p11kms_json_parse(body, len, &root) != 0)
        goto out;
    if (p11kms_json_member(&root, "Code", &v) &&
        (p11kms_json_string(&v, 64, &code) != 0 || strcmp(code, "Success") != 0))
        goto out;
    if (!p11kms_json_member(&root, "AccessKeyId", &v) ||
        p11kms_json_string(&v, FIELD_MAX, &akid) != 0 ||
        !p11kms_json_member(&root, "SecretAccessKey", &v) ||
        p11kms_json_string(&v, FIELD_MAX, &secret) != 0)
        goto out;
    if (p11kms_json_member(&root, "Token", &v) && p11kms_json_string(&v, FIELD_MAX, &token) != 0)
        goto out;
    if (p11kms_json_member(&root, "Expiration", &v) &&
        (p11kms_json_string(&v, 64, &exp) != 0 || p11kms_net_parse_time(exp, &expiration) != 0))
        goto out;
    rv = p11kms_aws_creds_set(out, akid, secret, token, expiration, source);
    if (rv == CKR_GENERAL_ERROR)
        rv = CKR_DEVICE_ERROR;
out:
    free(akid);
    p11kms_secure_free_str(secret);
    p11kms_secure_free_str(token);
    free(exp);
    free(code);
    return rv;
}

CK_RV p11kms_aws_creds_parse_sts(const char *body, size_t len, p11kms_cred *out)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    const char *c;
    size_t clen;
    char *akid = NULL, *secret = NULL, *token = NULL, *exp = NULL;
    time_t expiration = 0;

    if (p11kms_aws_xml_element(body, len, "Credentials", &c, &clen) != 0 ||
        p11kms_aws_xml_text(c, clen, "AccessKeyId", FIELD_MAX, &akid) != 0 ||
        p11kms_aws_xml_text(c, clen, "SecretAccessKey", FIELD_MAX, &secret) != 0 ||
        p11kms_aws_xml_text(c, clen, "SessionToken", FIELD_MAX, &token) != 0 ||
        p11kms_aws_xml_text(c, clen, "Expiration", 64, &exp) != 0 ||
        p11kms_net_parse_time(exp, &expiration) != 0)
        goto out;
    rv = p11kms_aws_creds_set(out, akid, secret, token, expiration, "web identity (STS)");
    if (rv == CKR_GENERAL_ERROR)
        rv = CKR_DEVICE_ERROR;
out:
    free(akid);
    p11kms_secure_free_str(secret);
    p11kms_secure_free_str(token);
    free(exp);
    return rv;
}

/* One log line for a credential endpoint's failure, with its request id when it gave one. */
static void log_failure(const char *what, const char *url, int hr, p11kms_http_response *resp)
{
    char rid[128] = "";

    if (hr != P11KMS_HTTP_OK) {
        LOG_E("aws: %s at %s: %s (%s)", what, url, p11kms_http_result_name(hr), resp->error);
        return;
    }
    if (!p11kms_http_response_header(resp, "x-amzn-RequestId", rid, sizeof(rid)))
        p11kms_http_response_header(resp, "x-amz-request-id", rid, sizeof(rid));
    LOG_E("aws: %s at %s: HTTP %ld%s%s", what, url, resp->status, rid[0] ? ", request id " : "",
          rid);
}

static char *sts_url(const char *region)
{
    const char *e = NULL;
    char *u;
    size_t n;

    if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
        e = env("AWS_ENDPOINT_URL_STS");
        if (e == NULL)
            e = env("AWS_ENDPOINT_URL");
    }
    if (e != NULL)
        return join_url(e, "/");
    if (region == NULL)
        return strdup("https://sts.amazonaws.com/");
    n = strlen(region) + 40;
    u = malloc(n);
    if (u != NULL)
        snprintf(u, n, "https://sts.%s.amazonaws.com%s/", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    return u;
}

CK_RV p11kms_aws_creds_from_web_identity(const char *profile, const p11kms_aws_fetch *f,
                                         p11kms_cred *out, int *applies)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    char *file = NULL, *role = NULL, *session = NULL, *token = NULL, *url = NULL;
    char *code = NULL, *msg = NULL, rid[128] = "", session_buf[64];
    p11kms_http_header h[1] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    p11kms_http_response resp;
    p11kms_sbuf body;
    int hr;

    memset(&resp, 0, sizeof(resp));
    p11kms_sbuf_init(&body, 0);
    *applies = 0;
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL) {
        file = strdup(env("AWS_WEB_IDENTITY_TOKEN_FILE"));
        role = env("AWS_ROLE_ARN") ? strdup(env("AWS_ROLE_ARN")) : NULL;
        session = env("AWS_ROLE_SESSION_NAME") ? strdup(env("AWS_ROLE_SESSION_NAME")) : NULL;
    } else {
        if (p11kms_aws_profile_get(profile, "web_identity_token_file", &file) != CKR_OK ||
            file == NULL)
            goto not_configured;
        if (p11kms_aws_profile_get(profile, "role_arn", &role) != CKR_OK ||
            p11kms_aws_profile_get(profile, "role_session_name", &session) != CKR_OK)
            goto out;
    }
    *applies = 1;
    if (file == NULL || role == NULL) {
        LOG_E("aws: web identity needs both a token file and a role ARN (AWS_ROLE_ARN)");
        goto out;
    }
    if (session == NULL) {
        snprintf(session_buf, sizeof(session_buf), "p11kms-%lld", (long long)time(NULL));
        session = strdup(session_buf);
    }
    url = sts_url(f->region);
    token = read_token_file(file, "web identity token");
    if (url == NULL || session == NULL || token == NULL)
        goto out;

    /* AssumeRoleWithWebIdentity is unsigned: the token is the credential. */
    p11kms_sbuf_str(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    p11kms_sbuf_form(&body, role);
    p11kms_sbuf_str(&body, "&RoleSessionName=");
    p11kms_sbuf_form(&body, session);
    p11kms_sbuf_str(&body, "&WebIdentityToken=");
    p11kms_sbuf_form(&body, token);
    if (body.failed) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    hr = fetch(f, "POST", url, h, 1, (const uint8_t *)body.p, body.len, f->request_timeout_ms,
               f->max_attempts, P11KMS_HTTP_POLICY_DEFAULT, &resp);
    if (hr != P11KMS_HTTP_OK) {
        log_failure("STS AssumeRoleWithWebIdentity", url, hr, &resp);
        goto out;
    }
    if (resp.status != 200) {
        const char *b = (const char *)resp.body.data;

        p11kms_http_response_header(&resp, "x-amzn-RequestId", rid, sizeof(rid));
        if (rid[0] == 0) {
            char *r = NULL;

            if (p11kms_aws_xml_text(b, resp.body.len, "RequestId", 100, &r) == 0)
                snprintf(rid, sizeof(rid), "%s", r);
            free(r);
        }
        p11kms_aws_xml_text(b, resp.body.len, "Code", 100, &code);
        p11kms_aws_xml_text(b, resp.body.len, "Message", 200, &msg);
        LOG_E("aws: STS AssumeRoleWithWebIdentity for %s failed: HTTP %ld %s (%s), request id %s",
              role, resp.status, code ? code : "", msg ? msg : "", rid[0] ? rid : "none");
        goto out;
    }
    rv = p11kms_aws_creds_parse_sts((const char *)resp.body.data, resp.body.len, out);
    if (rv != CKR_OK)
        LOG_E("aws: STS AssumeRoleWithWebIdentity at %s: malformed answer", url);
    goto out;

not_configured:
    rv = CKR_OK;
out:
    p11kms_http_response_clear(&resp);
    p11kms_sbuf_wipe(&body);
    p11kms_secure_free_str(token);
    free(file);
    free(role);
    free(session);
    free(url);
    free(code);
    free(msg);
    return rv;
}

CK_RV p11kms_aws_creds_from_container(const p11kms_aws_fetch *f, p11kms_cred *out, int *applies)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tfile = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    char *url = NULL, *auth = NULL;
    p11kms_http_header h[1];
    p11kms_http_response resp;
    size_t nh = 0;
    int hr;

    memset(&resp, 0, sizeof(resp));
    *applies = rel != NULL || full != NULL;
    if (!*applies)
        return CKR_OK;
    url = rel != NULL ? join_url("http://169.254.170.2", rel) : strdup(full);
    if (tfile != NULL)
        auth = read_token_file(tfile, "container authorization token");
    else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN") != NULL)
        auth = strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    if (url == NULL || (tfile != NULL && auth == NULL))
        goto out;
    if (auth != NULL) {
        if (strpbrk(auth, "\r\n") != NULL) {
            LOG_E("aws: the container authorization token holds a line break");
            goto out;
        }
        h[nh].name = "Authorization";
        h[nh++].value = auth;
    }
    /* plain http is fine to the link-local container agent and loopback, nowhere else */
    hr = fetch(f, "GET", url, h, nh, NULL, 0, CONTAINER_TIMEOUT_MS, CONTAINER_ATTEMPTS,
               P11KMS_HTTP_POLICY_METADATA, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure("container credentials", url, hr, &resp);
        goto out;
    }
    rv = p11kms_aws_creds_parse_json((const char *)resp.body.data, resp.body.len,
                                     "container credentials", out);
    if (rv != CKR_OK)
        LOG_E("aws: container credentials at %s: malformed answer", url);
out:
    p11kms_http_response_clear(&resp);
    p11kms_secure_free_str(auth);
    free(url);
    return rv;
}

/* The role name IMDS lists goes into the next URL's path, so only what IAM allows in a role
 * name passes ([A-Za-z0-9+=,.@_-], 1 to 64): no separators, escapes or control bytes, and
 * "." or ".." (dot segments) are refused too. */
static int role_name_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) != n)
        return 0;
    /* ASCII ranges, not isalnum: the host application's locale must not widen the set */
    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            strchr("+=,.@_-", c) == NULL)
            return 0;
    }
    return 1;
}

/* IMDS settings from the environment, as the SDKs read them. */
static void imds_settings(unsigned long *timeout_ms, int *attempts)
{
    const char *t = env("AWS_METADATA_SERVICE_TIMEOUT"),
               *a = env("AWS_METADATA_SERVICE_NUM_ATTEMPTS");
    char *end;
    double secs;
    long n;

    *timeout_ms = 1000;
    *attempts = 1;
    if (t != NULL) {
        secs = strtod(t, &end);
        if (*end == 0 && secs > 0 && secs <= 600)
            *timeout_ms = (unsigned long)(secs * 1000);
    }
    if (a != NULL) {
        n = strtol(a, &end, 10);
        if (*end == 0 && n >= 1 && n <= 10)
            *attempts = (int)n;
    }
}

CK_RV p11kms_aws_creds_from_imds(const p11kms_aws_fetch *f, p11kms_cred *out, int *applies)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char *url = NULL, *imds_token = NULL, *role = NULL;
    p11kms_http_header h[1];
    p11kms_http_response resp;
    unsigned long timeout_ms;
    int attempts, hr, nh = 0;
    size_t n;

    memset(&resp, 0, sizeof(resp));
    *applies = !env_true("AWS_EC2_METADATA_DISABLED");
    if (!*applies)
        return CKR_OK;
    imds_settings(&timeout_ms, &attempts);
    if (base == NULL) {
        const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");

        base = mode != NULL && strcasecmp(mode, "IPv6") == 0 ? "http://[fd00:ec2::254]"
                                                             : "http://169.254.169.254";
    }

    /* IMDSv2: a session token first. 403/404/405 mean an IMDS without v2: fall back to v1
     * (as the SDKs do) unless that is switched off. No answer at all: not on EC2. */
    url = join_url(base, "/latest/api/token");
    if (url == NULL)
        goto out;
    h[0].name = "x-aws-ec2-metadata-token-ttl-seconds";
    h[0].value = IMDS_TOKEN_TTL;
    hr = fetch(f, "PUT", url, h, 1, NULL, 0, timeout_ms, attempts, P11KMS_HTTP_POLICY_METADATA,
               &resp);
    if (hr != P11KMS_HTTP_OK) {
        LOG_I("aws: no EC2 instance metadata service at %s (%s)", base,
              p11kms_http_result_name(hr));
        *applies = 0;
        rv = CKR_OK;
        goto out;
    }
    if (resp.status == 200 && resp.body.len > 0 && resp.body.len < 4096 &&
        strpbrk((const char *)resp.body.data, "\r\n") == NULL) {
        imds_token = strdup((const char *)resp.body.data);
        if (imds_token == NULL)
            goto out;
        h[0].name = "x-aws-ec2-metadata-token";
        h[0].value = imds_token;
        nh = 1;
    } else if (resp.status == 403 || resp.status == 404 || resp.status == 405) {
        if (env_true("AWS_EC2_METADATA_V1_DISABLED")) {
            LOG_E("aws: IMDS at %s refused a v2 token (HTTP %ld) and v1 is disabled", base,
                  resp.status);
            goto out;
        }
    } else {
        log_failure("IMDS token", url, hr, &resp);
        goto out;
    }

    free(url);
    url = join_url(base, "/latest/meta-data/iam/security-credentials/");
    if (url == NULL)
        goto out;
    hr = fetch(f, "GET", url, h, (size_t)nh, NULL, 0, timeout_ms, attempts,
               P11KMS_HTTP_POLICY_METADATA, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200 || resp.body.len == 0) {
        log_failure("IMDS role name", url, hr, &resp);
        goto out;
    }
    /* the first line names the instance profile's role */
    n = strcspn((const char *)resp.body.data, "\r\n");
    role = malloc(n + 1);
    if (role == NULL)
        goto out;
    memcpy(role, resp.body.data, n);
    role[n] = 0;
    if (!role_name_ok(role, n)) {
        LOG_E("aws: IMDS at %s named no usable role", base);
        goto out;
    }
    free(url);
    {
        char path[200];

        snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
        url = join_url(base, path);
    }
    if (url == NULL)
        goto out;
    hr = fetch(f, "GET", url, h, (size_t)nh, NULL, 0, timeout_ms, attempts,
               P11KMS_HTTP_POLICY_METADATA, &resp);
    if (hr != P11KMS_HTTP_OK || resp.status != 200) {
        log_failure("IMDS credentials", url, hr, &resp);
        goto out;
    }
    rv = p11kms_aws_creds_parse_json((const char *)resp.body.data, resp.body.len, "IMDS", out);
    if (rv != CKR_OK)
        LOG_E("aws: IMDS credentials at %s: malformed answer", url);
out:
    p11kms_http_response_clear(&resp);
    p11kms_secure_free_str(imds_token);
    free(role);
    free(url);
    return rv;
}
