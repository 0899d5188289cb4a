/* call.c - the call loop every remote backend runs its operations through (hooks: call.h), and
 * the plain retried exchange of credential endpoints. No state of its own; the client's quota
 * locks itself, the transport is thread-safe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "call.h"
#include "clock.h"
#include "kms-report.h"
#include "log.h"

CK_RV p11kms_net_client_init(p11kms_net_client *c, const p11kms_net_hooks *hooks, void *ctx)
{
    c->hooks = hooks;
    c->ctx = ctx;
    c->backoff = &p11kms_net_backoff_standard;
    p11kms_net_quota_init(&c->quota);
    c->http = p11kms_http_acquire();
    return c->http != NULL ? CKR_OK : CKR_HOST_MEMORY;
}

void p11kms_net_client_release(p11kms_net_client *c)
{
    if (c->hooks == NULL)
        return; /* never initialised */
    p11kms_http_release(c->http);
    c->http = NULL;
    p11kms_net_quota_destroy(&c->quota);
    p11kms_net_settings_free(&c->settings);
    c->hooks = NULL;
}

void p11kms_net_reply_clear(p11kms_net_reply *r)
{
    if (r == NULL)
        return;
    p11kms_http_response_clear(&r->resp);
    memset(r, 0, sizeof(*r));
}

/* Authorize and send once. CKR_OK when an exchange happened (any status, or a transport
 * failure in *hr); a CK_RV for local failures (memory, credentials, signing: logged). */
static CK_RV send_once(p11kms_net_client *c, const p11kms_net_request *rq, uint64_t deadline_ms,
                       p11kms_net_auth *auth, p11kms_http_response *resp, int *hr)
{
    p11kms_http_header h[P11KMS_NET_REQUEST_HEADERS_MAX + P11KMS_NET_AUTH_HEADERS_MAX];
    p11kms_http_request req;
    unsigned long timeout_ms;
    size_t nh = 0, i;
    CK_RV rv;

    if (rq->n_headers > P11KMS_NET_REQUEST_HEADERS_MAX)
        return CKR_GENERAL_ERROR;
    if (c->hooks->authorize != NULL) {
        rv = c->hooks->authorize(c->ctx, rq, deadline_ms, auth);
        if (rv != CKR_OK)
            return rv;
    }
    /* what is left after getting the credentials, which may have taken a while */
    timeout_ms = p11kms_net_left_ms(deadline_ms);
    if (timeout_ms == 0)
        timeout_ms = 1;
    if (c->settings.request_timeout_ms < timeout_ms)
        timeout_ms = c->settings.request_timeout_ms;
    for (i = 0; i < rq->n_headers; i++)
        h[nh++] = rq->headers[i];
    for (i = 0; i < auth->n && i < P11KMS_NET_AUTH_HEADERS_MAX; i++)
        h[nh++] = auth->headers[i];
    memset(&req, 0, sizeof(req));
    req.method = rq->method;
    req.url = rq->url;
    req.headers = h;
    req.n_headers = nh;
    if (rq->body != NULL) {
        req.body = (const uint8_t *)rq->body->p;
        req.body_len = rq->body->len;
    } else {
        req.body = rq->data;
        req.body_len = rq->data_len;
    }
    req.ca_file = c->settings.ca_file;
    req.ca_path = c->settings.ca_path;
    req.client_cert = c->settings.client_cert;
    req.client_key = c->settings.client_key;
    req.server_name = c->settings.tls_server_name;
    req.timeout_ms = timeout_ms;
    req.connect_timeout_ms =
        c->settings.connect_timeout_ms < timeout_ms ? c->settings.connect_timeout_ms : timeout_ms;
    req.max_response = rq->max_response;
    req.policy = P11KMS_HTTP_POLICY_DEFAULT;
    *hr = c->http->perform(c->http, &req, resp);
    return CKR_OK;
}

static void release_auth(p11kms_net_client *c, p11kms_net_auth *auth)
{
    if (c->hooks->auth_clear != NULL)
        c->hooks->auth_clear(c->ctx, auth);
    memset(auth, 0, sizeof(*auth));
}

static void describe(const p11kms_net_outcome *o, const char *transport, char *buf, size_t len)
{
    if (o->hr != P11KMS_HTTP_OK)
        snprintf(buf, len, "%s (%s)", p11kms_http_result_name(o->hr), transport);
    else
        snprintf(buf, len, "%s (HTTP %ld, request id %s)%s%s", o->code, o->status,
                 o->request_id[0] ? o->request_id : "none", o->message[0] ? ": " : "", o->message);
}

/* Whether an answered exchange is the success the request waits for. */
static int succeeded(p11kms_net_client *c, const p11kms_net_request *rq,
                     const p11kms_http_response *resp)
{
    if (!rq->raw)
        return resp->status == 200;
    if (resp->status < 200 || resp->status > 299)
        return 0;
    return c->hooks->answer_error == NULL || !c->hooks->answer_error(c->ctx, rq, resp);
}

CK_RV p11kms_net_call(p11kms_net_client *c, const p11kms_net_request *rq, uint64_t deadline_ms,
                      p11kms_net_reply *reply)
{
    const char *name = c->hooks->name;
    CK_RV rv = CKR_DEVICE_ERROR;
    p11kms_net_outcome o;
    p11kms_net_auth auth;
    char text[600], transport[160];
    uint64_t now;
    unsigned long delay;
    int attempt, cost = 0, refreshable, refreshed = 0, end = P11KMS_NET_END_LOCAL;
    /* The class of the failure (kms-report.h): a KMS that could not serve unless it answered a
     * final no. Set at every exit below; reported with the last answer's status and id. */
    int fault = P11KMS_FAULT_UNAVAILABLE;

    memset(reply, 0, sizeof(*reply));
    memset(&auth, 0, sizeof(auth));
    memset(&o, 0, sizeof(o));
    transport[0] = 0;
    if (rq->body != NULL && rq->body->failed) {
        reply->end = P11KMS_NET_END_LOCAL;
        return CKR_HOST_MEMORY;
    }
    /* A caller trying several KMSs in one call (a key set) gives them one deadline. */
    deadline_ms = p11kms_kms_call_deadline_clamp(deadline_ms);
    for (attempt = 1;; attempt++) {
        now = p11kms_net_now_ms();
        if (now >= deadline_ms) {
            LOG_E("%s: %s %s: deadline of %lu ms reached before attempt %d", name, rq->op, rq->what,
                  c->settings.deadline_ms, attempt);
            end = P11KMS_NET_END_DEADLINE;
            rv = CKR_DEVICE_ERROR;
            goto out;
        }
        memset(&o, 0, sizeof(o));
        transport[0] = 0;
        reply->attempts = attempt;
        p11kms_http_response_clear(&reply->resp);
        rv = send_once(c, rq, deadline_ms, &auth, &reply->resp, &o.hr);
        refreshable = auth.refreshable;
        release_auth(c, &auth);
        if (rv != CKR_OK) {
            end = P11KMS_NET_END_AUTHORIZE;
            /* logged by the hook; credentials that cannot be had now are this KMS's
             * availability, anything else (memory, a request it cannot sign) is final */
            fault = rv == CKR_DEVICE_ERROR ? P11KMS_FAULT_UNAVAILABLE : P11KMS_FAULT_DEFINITIVE;
            goto out;
        }
        if (o.hr == P11KMS_HTTP_OK) {
            o.status = reply->resp.status;
            if (c->hooks->request_id_header != NULL)
                p11kms_http_response_header(&reply->resp, c->hooks->request_id_header, o.request_id,
                                            sizeof(o.request_id));
            if (succeeded(c, rq, &reply->resp)) {
                snprintf(reply->request_id, sizeof(reply->request_id), "%s", o.request_id);
                if (!rq->raw && p11kms_json_parse((const char *)reply->resp.body.data,
                                                  reply->resp.body.len, &reply->root) != 0) {
                    LOG_E("%s: %s %s: malformed answer (HTTP 200, %zu bytes, request id %s)", name,
                          rq->op, rq->what, reply->resp.body.len,
                          o.request_id[0] ? o.request_id : "none");
                    end = P11KMS_NET_END_LOCAL;
                    rv = CKR_DEVICE_ERROR;
                    goto out;
                }
                p11kms_net_quota_success(&c->quota, cost);
                fault = P11KMS_FAULT_NONE;
                if (attempt > 1)
                    LOG_I("%s: %s %s: succeeded on attempt %d (request id %s)", name, rq->op,
                          rq->what, attempt, o.request_id);
                end = P11KMS_NET_END_OK;
                rv = CKR_OK;
                goto out;
            }
            snprintf(o.code, sizeof(o.code), "HTTP %ld", o.status);
            c->hooks->classify(c->ctx, &reply->resp, &o);
            if (o.auth) {
                if (c->hooks->invalidate != NULL)
                    c->hooks->invalidate(c->ctx);
                /* Temporary credentials and tokens can be revoked or expire early (clock skew,
                 * a shortened session): fetch fresh ones and try once more, at once. */
                if (refreshable && !refreshed && attempt < c->settings.max_attempts) {
                    refreshed = 1;
                    LOG_I("%s: %s %s: credentials rejected (%s, request id %s); retrying with "
                          "fresh ones",
                          name, rq->op, rq->what, o.code, o.request_id[0] ? o.request_id : "none");
                    continue;
                }
            }
        } else {
            snprintf(transport, sizeof(transport), "%s", reply->resp.error);
            o.retry = p11kms_net_retry_default(o.hr, 0);
        }
        describe(&o, transport, text, sizeof(text));
        end = o.hr == P11KMS_HTTP_OK ? P11KMS_NET_END_ANSWER : P11KMS_NET_END_TRANSPORT;
        if (o.retry == P11KMS_NET_NO_RETRY) {
            rv = o.hr == P11KMS_HTTP_OK ? c->hooks->map(c->ctx, &o) : p11kms_http_result_rv(o.hr);
            /* A final answer is a refusal unless classify said the service cannot serve; a
             * transport failure not worth retrying (TLS, an oversized answer) is this
             * endpoint's. */
            if (o.hr == P11KMS_HTTP_OK)
                fault = o.fault != P11KMS_FAULT_NONE ? o.fault : P11KMS_FAULT_DEFINITIVE;
            LOG_E("%s: %s %s failed: %s", name, rq->op, rq->what, text);
            goto out;
        }
        rv = CKR_DEVICE_ERROR;
        if (attempt >= c->settings.max_attempts) {
            LOG_E("%s: %s %s failed after %d attempts: %s", name, rq->op, rq->what, attempt, text);
            goto out;
        }
        cost = p11kms_net_quota_acquire(&c->quota, o.hr != P11KMS_HTTP_OK);
        if (cost == 0) {
            LOG_E("%s: %s %s failed (retry quota exhausted by earlier failures): %s", name, rq->op,
                  rq->what, text);
            end = P11KMS_NET_END_QUOTA;
            goto out;
        }
        delay = p11kms_net_backoff_ms(c->backoff, o.retry, attempt, p11kms_net_rand01());
        now = p11kms_net_now_ms();
        if (now + delay >= deadline_ms) {
            LOG_E("%s: %s %s failed: deadline of %lu ms reached after %d attempts: %s", name,
                  rq->op, rq->what, c->settings.deadline_ms, attempt, text);
            end = P11KMS_NET_END_DEADLINE;
            goto out;
        }
        LOG_I("%s: %s %s attempt %d: %s; retrying in %lu ms", name, rq->op, rq->what, attempt, text,
              delay);
        p11kms_net_sleep_ms(delay);
    }
out:
    p11kms_kms_report_call(rv == CKR_OK ? P11KMS_FAULT_NONE : fault, o.status, o.request_id);
    if (rv != CKR_OK) {
        attempt = reply->attempts;
        p11kms_net_reply_clear(reply);
        reply->attempts = attempt;
    }
    reply->end = end;
    reply->outcome = o;
    if (transport[0] != 0 && o.message[0] == 0)
        snprintf(reply->outcome.message, sizeof(reply->outcome.message), "%s", transport);
    return rv;
}

int p11kms_net_fetch(p11kms_http_transport *http, const p11kms_http_request *req,
                     const char *log_name, unsigned long connect_timeout_ms,
                     unsigned long timeout_ms, int attempts, uint64_t deadline_ms,
                     p11kms_http_response *resp)
{
    p11kms_http_request r = *req;
    unsigned long left;
    int attempt, hr = P11KMS_HTTP_E_TIMEOUT, kind;

    for (attempt = 1; attempt <= attempts; attempt++) {
        left = p11kms_net_left_ms(deadline_ms);
        if (left == 0) {
            snprintf(resp->error, sizeof(resp->error), "deadline reached");
            return P11KMS_HTTP_E_TIMEOUT;
        }
        r.timeout_ms = timeout_ms < left ? timeout_ms : left;
        r.connect_timeout_ms =
            connect_timeout_ms < r.timeout_ms ? connect_timeout_ms : r.timeout_ms;
        p11kms_http_response_clear(resp);
        hr = http->perform(http, &r, resp);
        kind = p11kms_net_retry_default(hr, resp->status);
        if (kind == P11KMS_NET_NO_RETRY || attempt == attempts)
            break;
        LOG_I("%s: %s %s: %s, retrying", log_name, r.method, r.url,
              hr == P11KMS_HTTP_OK ? "server error" : p11kms_http_result_name(hr));
        p11kms_net_sleep_ms(p11kms_net_backoff_ms(&p11kms_net_backoff_standard, kind, attempt,
                                                  p11kms_net_rand01()));
    }
    return hr;
}
