/* test-audit.c - the audit trail's records (module/audit.c): one JSON object per line, every
 * documented field, strings escaped (a label or context value cannot break the line or forge a
 * field), context values only when asked for, the outcome from the fault class; the module's
 * own answers (kill switch refusal, unwrap cache hit) without KMS fields. */
#include <json-c/json.h>
#include <unistd.h>
#include "audit.h"
#include "tests/test.h"

static json_object *record(const p11kms_audit_event *ev, int values, char *buf, size_t cap)
{
    size_t n = p11kms_audit_format(ev, values, buf, cap);

    if (n == 0)
        return NULL;
    return json_tokener_parse(buf);
}

static const char *str(json_object *o, const char *name)
{
    json_object *v;

    return o != NULL && json_object_object_get_ex(o, name, &v) ? json_object_get_string(v) : "";
}

int main(void)
{
    p11kms_key_config kc;
    p11kms_context *ctx = NULL;
    p11kms_kms_report rep;
    p11kms_audit_event ev;
    json_object *o, *v;
    char buf[4096];

    test_start();
    memset(&kc, 0, sizeof(kc));
    kc.label = "evil\",\"outcome\":\"ok\n";
    kc.token = "tok";
    p11kms_context_new(&ctx);
    p11kms_context_add(ctx, "app", 3, "sec\"ret\x01", 8, 0);
    memset(&rep, 0, sizeof(rep));
    rep.fault = P11KMS_FAULT_UNAVAILABLE;
    rep.status = 503;
    snprintf(rep.request_id, sizeof(rep.request_id), "req-1");
    memset(&ev, 0, sizeof(ev));
    ev.op = "unwrap";
    ev.kc = &kc;
    ev.backend = "aws";
    ev.kms_key = "arn:aws:kms:eu-west-1:1:key/x";
    ev.role = "previous";
    ev.ctx = ctx;
    ev.rv = CKR_DEVICE_ERROR;
    ev.report = &rep;
    ev.latency_ms = 42;

    o = record(&ev, 0, buf, sizeof(buf));
    ok(o != NULL, "a record is one JSON object");
    ok(strchr(buf, '\n') == NULL, "on one line, whatever the label holds");
    ok(strcmp(str(o, "key"), kc.label) == 0, "the label comes back exactly (escaped, not cut)");
    ok(strcmp(str(o, "outcome"), "unavailable") == 0, "outcome from the fault class");
    ok(strcmp(str(o, "fault"), "unavailable") == 0 && strcmp(str(o, "rv"), "CKR_DEVICE_ERROR") == 0,
       "fault and CK_RV name");
    ok(strcmp(str(o, "request_id"), "req-1") == 0 && strcmp(str(o, "entry"), "previous") == 0 &&
           strcmp(str(o, "token"), "tok") == 0 && strcmp(str(o, "op"), "unwrap") == 0,
       "request id, entry, token, op");
    ok(json_object_object_get_ex(o, "http_status", &v) && json_object_get_int(v) == 503 &&
           json_object_object_get_ex(o, "latency_ms", &v) && json_object_get_int(v) == 42 &&
           json_object_object_get_ex(o, "pid", &v) && json_object_get_int(v) == (int)getpid(),
       "status, latency, pid");
    ok(!json_object_object_get_ex(o, "context", NULL) && strstr(buf, "sec") == NULL,
       "no context value unless asked");
    json_object_put(o);

    o = record(&ev, 1, buf, sizeof(buf));
    ok(o != NULL && json_object_object_get_ex(o, "context", &v) &&
           strcmp(str(v, "app"), "sec\"ret\x01") == 0,
       "with context_values: the value, escaped");
    json_object_put(o);

    rep.fault = P11KMS_FAULT_DEFINITIVE;
    ev.rv = CKR_ENCRYPTED_DATA_INVALID;
    o = record(&ev, 0, buf, sizeof(buf));
    ok(strcmp(str(o, "outcome"), "refused") == 0, "a definitive fault is refused");
    json_object_put(o);
    ev.report = NULL;
    ev.rv = CKR_HOST_MEMORY;
    o = record(&ev, 0, buf, sizeof(buf));
    ok(strcmp(str(o, "outcome"), "error") == 0 && json_object_object_get_ex(o, "request_id", &v) &&
           v == NULL,
       "a local failure: error, request_id null");
    json_object_put(o);
    /* Opens the module answered itself (envelope-seal.c): no KMS fields. */
    memset(&ev, 0, sizeof(ev));
    ev.op = "unwrap";
    ev.kc = &kc;
    ev.ctx = ctx;
    ev.rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    ev.outcome = "refused";
    o = record(&ev, 0, buf, sizeof(buf));
    ok(o != NULL && strcmp(str(o, "outcome"), "refused") == 0 &&
           strcmp(str(o, "rv"), "CKR_KEY_FUNCTION_NOT_PERMITTED") == 0 &&
           strcmp(str(o, "fault"), "none") == 0,
       "a kill switch refusal: outcome refused with its CK_RV, fault none");
    ok(json_object_object_get_ex(o, "backend", &v) && v == NULL &&
           json_object_object_get_ex(o, "kms_key", &v) && v == NULL &&
           json_object_object_get_ex(o, "entry", &v) && v == NULL &&
           json_object_object_get_ex(o, "request_id", &v) && v == NULL &&
           json_object_object_get_ex(o, "http_status", &v) && json_object_get_int(v) == 0,
       "...backend, kms_key, entry and request_id null, http_status 0");
    json_object_put(o);
    ev.rv = CKR_OK;
    ev.outcome = "cache-hit";
    o = record(&ev, 0, buf, sizeof(buf));
    ok(strcmp(str(o, "outcome"), "cache-hit") == 0 && strcmp(str(o, "rv"), "CKR_OK") == 0,
       "an unwrap cache hit: outcome cache-hit, CKR_OK");
    json_object_put(o);
    ok(record(&ev, 0, buf, 40) == NULL, "a record that does not fit is not cut short");
    ok(!p11kms_audit_on(), "off unless configured");
    p11kms_context_free(ctx);
    return test_exit_code();
}
