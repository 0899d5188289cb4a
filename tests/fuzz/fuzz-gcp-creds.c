/* fuzz-gcp-creds.c - fuzz target for Google credentials from outside: the input read as a
 * credential file (service account, authorized user, external account), as a token answer of
 * the OAuth, STS and metadata endpoints, as an IAM generateAccessToken answer and as an OAuth
 * error; then served by a fake transport to the sources that fetch tokens. Whatever is accepted
 * is complete and printable; nothing else escapes. */
#include <string.h>
#include <time.h>
#include "module/backends/gcp/gcp-creds.h"
#include "module/net/clock.h"
#include "module/net/retry.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/aws-fuzz.h"

#define NOW ((time_t)1700000000)

static fake_answer answer;
static fake_http http;
static int ready;

static const fake_answer *route(fake_http *f, const p11kms_http_request *req)
{
    (void)f;
    (void)req;
    return &answer;
}

static void setup(void)
{
    if (ready)
        return;
    ready = 1;
    fuzz_quiet_log();
    setenv("GCE_METADATA_HOST", "127.0.0.1:7", 1);
    fake_http_init(&http, route);
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int filled(const char *s)
{
    return s != NULL && *s != 0;
}

static void check_file(const char *text, size_t len)
{
    p11kms_gcp_credfile f;
    CK_RV rv;

    memset(&f, 0, sizeof(f));
    rv = p11kms_gcp_credfile_parse(text, len, "fuzz", &f);
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_HOST_MEMORY);
    if (rv != CKR_OK)
        return;
    switch (f.type) {
    case P11KMS_GCP_SERVICE_ACCOUNT:
        FUZZ_ASSERT(filled(f.client_email) && filled(f.private_key) && filled(f.token_uri));
        break;
    case P11KMS_GCP_AUTHORIZED_USER:
        FUZZ_ASSERT(filled(f.client_id) && filled(f.client_secret) && filled(f.refresh_token) &&
                    filled(f.token_uri));
        break;
    case P11KMS_GCP_EXTERNAL_ACCOUNT:
        FUZZ_ASSERT(filled(f.audience) && filled(f.subject_token_type) && filled(f.source_file) &&
                    filled(f.token_uri));
        break;
    default:
        abort();
    }
    FUZZ_ASSERT(printable(f.token_uri));
    if (f.quota_project != NULL)
        FUZZ_ASSERT(printable(f.quota_project));
    p11kms_gcp_credfile_clear(&f);
}

static void check_token(const p11kms_cred *c, CK_RV rv)
{
    FUZZ_ASSERT(rv == CKR_OK || rv == CKR_DEVICE_ERROR || rv == CKR_HOST_MEMORY);
    if (rv == CKR_OK) {
        /* a token goes into an Authorization header: no control characters */
        FUZZ_ASSERT(filled(c->token) && printable(c->token));
    } else {
        FUZZ_ASSERT(c->token == NULL);
    }
}

static void check_answers(const char *body, size_t len)
{
    p11kms_cred c;
    char code[64], desc[256];
    CK_RV rv;

    rv = p11kms_gcp_token_parse(body, len, "fuzz", NOW, &c);
    check_token(&c, rv);
    if (rv == CKR_OK)
        FUZZ_ASSERT(c.expires >= NOW); /* expires_in 0 parses; the cache refuses it */
    p11kms_cred_clear(&c);
    rv = p11kms_gcp_impersonated_parse(body, len, &c);
    check_token(&c, rv);
    p11kms_cred_clear(&c);
    p11kms_gcp_oauth_error(body, len, code, sizeof(code), desc, sizeof(desc));
    FUZZ_ASSERT(printable(code) && printable(desc));
}

/* The metadata server and a token endpoint answering with the input, through the sources. */
static void check_sources(void)
{
    p11kms_gcp_credfile f;
    p11kms_gcp_fetch x;
    p11kms_cred c;
    CK_RV rv;
    int applies = 0;

    memset(&x, 0, sizeof(x));
    x.http = &http.base;
    x.connect_timeout_ms = 1000;
    x.request_timeout_ms = 1000;
    x.max_attempts = 1;
    x.deadline_ms = p11kms_net_now_ms() + 1000;
    rv = p11kms_gcp_token_from_metadata(&x, &c, &applies);
    check_token(&c, rv);
    p11kms_cred_clear(&c);

    memset(&f, 0, sizeof(f));
    f.type = P11KMS_GCP_AUTHORIZED_USER;
    f.token_uri = (char *)"http://127.0.0.1:9/token";
    f.client_id = (char *)"fuzz-client";
    f.client_secret = (char *)"fuzz-secret";
    f.refresh_token = (char *)"fuzz-refresh";
    rv = p11kms_gcp_token_from_file(&f, &x, &c);
    check_token(&c, rv);
    p11kms_cred_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    check_file((const char *)data, size);
    fuzz_cut_response(data, size, &answer);
    check_answers(answer.body, answer.body_len);
    /* a retryable answer would only be sent again (after a backoff sleep) */
    if (p11kms_net_retry_default(answer.hr, answer.status) == P11KMS_NET_NO_RETRY)
        check_sources();
    return 0;
}
