/* aws-call.c - one AWS KMS operation on the wire: JSON 1.1 POST signed with SigV4, retried per
 * botocore standard mode within the attempts, the retry quota and the call's deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aws-client.h"
#include "aws-sigv4.h"
#include "log.h"
#include "secmem.h"

/* Everything one attempt learned, for the retry decision and the final log line. */
typedef struct attempt_result {
    int hr;      /* http.h result */
    long status; /* when hr is P11KMS_HTTP_OK */
    char code[P11KMS_AWS_CODE_MAX];
    char message[P11KMS_AWS_MESSAGE_MAX];
    char request_id[128];
    char transport[160];
} attempt_result;

void p11kms_aws_reply_clear(p11kms_aws_reply *r)
{
    if (r == NULL)
        return;
    p11kms_http_response_clear(&r->resp);
    memset(r, 0, sizeof(*r));
}

/* Sign and send once with the given credentials. CKR_OK when an exchange happened (any
 * status); a CK_RV for local failures (memory, signing). */
static CK_RV send_once(p11kms_aws_client *c, const char *op, const p11kms_aws_sbuf *body,
                       const p11kms_aws_creds *cr, unsigned long timeout_ms,
                       p11kms_http_response *resp, int *hr)
{
    char target[64], amz_date[P11KMS_AWS_AMZ_DATE_LEN + 1];
    p11kms_http_header h[6];
    p11kms_aws_signer signer;
    p11kms_aws_sig_request sr;
    p11kms_aws_sig sig;
    p11kms_http_request req;
    size_t nh = 0;
    CK_RV rv;

    snprintf(target, sizeof(target), "TrentService.%s", op);
    p11kms_aws_amz_date(time(NULL), amz_date);
    h[nh++] = (p11kms_http_header){"Host", c->host};
    h[nh++] = (p11kms_http_header){"Content-Type", "application/x-amz-json-1.1"};
    h[nh++] = (p11kms_http_header){"X-Amz-Target", target};
    h[nh++] = (p11kms_http_header){"X-Amz-Date", amz_date};
    /* the session token is added before signing, so it is signed (botocore does the same) */
    if (cr->session_token != NULL)
        h[nh++] = (p11kms_http_header){"X-Amz-Security-Token", cr->session_token};

    signer.access_key_id = cr->access_key_id;
    signer.secret_access_key = cr->secret_access_key;
    signer.region = c->region;
    signer.service = "kms";
    signer.amz_date = amz_date;
    signer.normalize_path = 1;
    memset(&sr, 0, sizeof(sr));
    sr.method = "POST";
    sr.path = "/";
    sr.headers = h;
    sr.n_headers = nh;
    sr.body = (const uint8_t *)body->p;
    sr.body_len = body->len;
    rv = p11kms_aws_sigv4_sign(&signer, &sr, &sig);
    if (rv != CKR_OK)
        return rv == CKR_HOST_MEMORY ? rv : CKR_GENERAL_ERROR;
    h[nh++] = (p11kms_http_header){"Authorization", sig.authorization};

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.url = c->url;
    req.headers = h;
    req.n_headers = nh;
    req.body = (const uint8_t *)body->p;
    req.body_len = body->len;
    req.ca_file = c->ca_file;
    req.timeout_ms = timeout_ms;
    req.connect_timeout_ms =
        c->connect_timeout_ms < timeout_ms ? c->connect_timeout_ms : timeout_ms;
    req.max_response = P11KMS_AWS_MAX_RESPONSE;
    req.policy = P11KMS_HTTP_POLICY_DEFAULT;
    *hr = c->http->perform(c->http, &req, resp);
    p11kms_aws_sig_clear(&sig);
    return CKR_OK;
}

static void describe_result(const attempt_result *a, char *buf, size_t len)
{
    if (a->hr != P11KMS_HTTP_OK)
        snprintf(buf, len, "%s (%s)", p11kms_http_result_name(a->hr), a->transport);
    else
        snprintf(buf, len, "%s (HTTP %ld, request id %s)%s%s", a->code, a->status,
                 a->request_id[0] ? a->request_id : "none", a->message[0] ? ": " : "", a->message);
}

static CK_RV transport_rv(int hr)
{
    return hr == P11KMS_HTTP_E_NOMEM ? CKR_HOST_MEMORY : CKR_DEVICE_ERROR;
}

CK_RV p11kms_aws_call(p11kms_aws_client *c, const char *op, const char *what,
                      const p11kms_aws_sbuf *body, uint64_t deadline_ms, p11kms_aws_reply *reply)
{
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_aws_creds cr;
    attempt_result a;
    char text[600];
    uint64_t now;
    unsigned long left, delay;
    int attempt, kind, cost = 0, temporary, refreshed = 0;

    memset(reply, 0, sizeof(*reply));
    memset(&cr, 0, sizeof(cr));
    if (body->failed)
        return CKR_HOST_MEMORY;
    for (attempt = 1;; attempt++) {
        memset(&a, 0, sizeof(a));
        now = p11kms_aws_now_ms();
        if (now >= deadline_ms) {
            LOG_E("aws: %s %s: deadline of %lu ms reached before attempt %d", op, what,
                  c->deadline_ms, attempt);
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        rv = p11kms_aws_provider_creds(c->creds, deadline_ms, &cr);
        if (rv != CKR_OK)
            goto out; /* logged by the credential source */
        temporary = cr.session_token != NULL;
        now = p11kms_aws_now_ms();
        left = now < deadline_ms ? (unsigned long)(deadline_ms - now) : 1;
        p11kms_http_response_clear(&reply->resp);
        rv =
            send_once(c, op, body, &cr, c->request_timeout_ms < left ? c->request_timeout_ms : left,
                      &reply->resp, &a.hr);
        p11kms_aws_creds_clear(&cr);
        if (rv != CKR_OK) {
            LOG_E("aws: %s %s: cannot build the signed request", op, what);
            goto out;
        }
        if (a.hr == P11KMS_HTTP_OK) {
            a.status = reply->resp.status;
            p11kms_http_response_header(&reply->resp, "x-amzn-RequestId", a.request_id,
                                        sizeof(a.request_id));
            if (a.status == 200) {
                snprintf(reply->request_id, sizeof(reply->request_id), "%s", a.request_id);
                if (p11kms_aws_json_parse((const char *)reply->resp.body.data, reply->resp.body.len,
                                          &reply->root) != 0) {
                    LOG_E("aws: %s %s: malformed answer (HTTP 200, %zu bytes, request id %s)", op,
                          what, reply->resp.body.len, a.request_id[0] ? a.request_id : "none");
                    rv = CKR_DEVICE_ERROR;
                    goto out;
                }
                p11kms_aws_quota_success(&c->quota, cost);
                if (attempt > 1)
                    LOG_I("aws: %s %s: succeeded on attempt %d (request id %s)", op, what, attempt,
                          a.request_id);
                rv = CKR_OK;
                goto out;
            }
            p11kms_aws_error_parse((const char *)reply->resp.body.data, reply->resp.body.len,
                                   a.status, a.code, sizeof(a.code), a.message, sizeof(a.message));
            if (p11kms_aws_error_is_auth(a.code)) {
                p11kms_aws_provider_invalidate(c->creds);
                /* Temporary credentials can be revoked or expire early (clock skew, a
                 * shortened session): fetch fresh ones and try once more, at once. */
                if (temporary && !refreshed && attempt < c->max_attempts) {
                    refreshed = 1;
                    LOG_I("aws: %s %s: credentials rejected (%s, request id %s); retrying with "
                          "fresh ones",
                          op, what, a.code, a.request_id[0] ? a.request_id : "none");
                    continue;
                }
            }
        } else {
            snprintf(a.transport, sizeof(a.transport), "%s", reply->resp.error);
        }
        kind = p11kms_aws_retry_kind(a.hr, a.status, a.code);
        describe_result(&a, text, sizeof(text));
        if (kind == P11KMS_AWS_NO_RETRY) {
            rv =
                a.hr == P11KMS_HTTP_OK ? p11kms_aws_error_rv(a.code, a.status) : transport_rv(a.hr);
            LOG_E("aws: %s %s failed: %s", op, what, text);
            goto out;
        }
        rv = CKR_DEVICE_ERROR;
        if (attempt >= c->max_attempts) {
            LOG_E("aws: %s %s failed after %d attempts: %s", op, what, attempt, text);
            goto out;
        }
        cost = p11kms_aws_quota_acquire(&c->quota, a.hr != P11KMS_HTTP_OK);
        if (cost == 0) {
            LOG_E("aws: %s %s failed (retry quota exhausted by earlier failures): %s", op, what,
                  text);
            goto out;
        }
        delay = p11kms_aws_backoff_ms(kind, attempt, p11kms_aws_rand01());
        now = p11kms_aws_now_ms();
        if (now + delay >= deadline_ms) {
            LOG_E("aws: %s %s failed: deadline of %lu ms reached after %d attempts: %s", op, what,
                  c->deadline_ms, attempt, text);
            goto out;
        }
        LOG_I("aws: %s %s attempt %d: %s; retrying in %lu ms", op, what, attempt, text, delay);
        p11kms_aws_sleep_ms(delay);
    }
out:
    p11kms_aws_creds_clear(&cr);
    if (rv != CKR_OK)
        p11kms_aws_reply_clear(reply);
    return rv;
}
