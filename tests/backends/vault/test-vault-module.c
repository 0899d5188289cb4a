/* test-vault-module.c - the vault backend through the built module's function list against the
 * loopback Vault test server: wrap/unwrap with the context bound as a derived key's context and
 * as associated_data, a context Vault would drop refused, key versions and
 * min_decryption_version, mounts and namespaces, policy refusals, the token chain (token file,
 * AppRole, Kubernetes and cert logins, renewal, a dead token replaced), TLS (CA, server name,
 * client certificate), sealed Vault and the fault matrix with Vault's retry classes. Run by
 * test-vault-module.sh, which also checks the log for secrets. */
#include <pthread.h>
#include "tests/module/p11.h"
#include "tests/backends/aws/test-aws-ctl.h"

static CK_SESSION_HANDLE sess;
static const char *addr, *tls_addr;

/* Wrap a fresh 32-byte data key under kms with the context kv; the envelope in env. */
static CK_RV wrap_kv(CK_OBJECT_HANDLE kms, const char *kv, uint8_t *env, CK_ULONG *len,
                     CK_OBJECT_HANDLE *dk)
{
    CK_P11KMS_CONTEXT_PAIR pair;
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    const char *one[1] = {kv};

    p11_context(&p, &pair, one, 1);
    *dk = p11_data_key(sess, 32);
    if (*dk == CK_INVALID_HANDLE)
        return CKR_GENERAL_ERROR;
    return p11->C_WrapKey(sess, &m, kms, *dk, env, len);
}

/* Unwrap with the context kv; *same when the value is dk's. */
static CK_RV unwrap_kv(CK_OBJECT_HANDLE kms, const char *kv, const uint8_t *env, CK_ULONG len,
                       CK_OBJECT_HANDLE dk, int *same)
{
    CK_P11KMS_CONTEXT_PAIR pair;
    CK_P11KMS_ENVELOPE_PARAMS p;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &p, sizeof(p)};
    const char *one[1] = {kv};
    CK_OBJECT_HANDLE out = CK_INVALID_HANDLE;
    uint8_t a[64], b[64];
    CK_ULONG la = sizeof(a), lb = sizeof(b);
    CK_RV rv;
    P11_UNWRAP_TEMPLATE(t);

    p11_context(&p, &pair, one, 1);
    *same = 0;
    rv = p11->C_UnwrapKey(sess, &m, kms, (uint8_t *)env, len, t, 4, &out);
    if (rv == CKR_OK) {
        *same = p11_value(sess, dk, a, &la) && p11_value(sess, out, b, &lb) && la == lb &&
                memcmp(a, b, la) == 0;
        p11->C_DestroyObject(sess, out);
    }
    return rv;
}

/* One round trip under kms: wrap, unwrap, same value. */
static int round_trip(CK_OBJECT_HANDLE kms)
{
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    CK_OBJECT_HANDLE dk;
    int same = 0;

    if (wrap_kv(kms, "app=test", env, &len, &dk) == CKR_OK)
        unwrap_kv(kms, "app=test", env, len, dk, &same);
    p11->C_DestroyObject(sess, dk);
    return same;
}

static CK_ULONG key_version(CK_OBJECT_HANDLE h)
{
    CK_ULONG v = 0;
    CK_ATTRIBUTE a = {CKA_P11KMS_KEY_VERSION, &v, sizeof(v)};

    return p11->C_GetAttributeValue(sess, h, &a, 1) == CKR_OK ? v : 0;
}

/* A Vault API call with the root token (key administration the module never does). */
static int vault_api(const char *path, const char *json)
{
    char url[512];
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    long status = 0;

    snprintf(url, sizeof(url), "%s/v1/%s", addr, path);
    h = curl_slist_append(h, "X-Vault-Token: p11kms-test-root-token");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
    {
        ctl_buf b = {NULL, 0};
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
        if (curl_easy_perform(c) != CURLE_OK)
            status = 0;
        else
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        free(b.p);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status == 200 || status == 204;
}

/* The last request of operation op in the server's request log (json_object_put it). */
static json_object *last_of(const char *op)
{
    json_object *o, *arr, *e, *found = NULL;
    size_t i, n;

    ctl_settle();
    o = ctl("GET", "/requests", NULL);
    if (o != NULL && json_object_object_get_ex(o, "requests", &arr)) {
        n = json_object_array_length(arr);
        for (i = n; i > 0 && found == NULL; i--) {
            e = json_object_array_get_idx(arr, i - 1);
            if (strcmp(json_str(e, "op"), op) == 0)
                found = json_object_get(e);
        }
    }
    json_object_put(o);
    return found;
}

static long login_count(const char *method)
{
    return ctl_stat("logins", method);
}

static void test_context_binding(void)
{
    CK_OBJECT_HANDLE der = p11_find_label(sess, "derived"), plain = p11_find_label(sess, "plain");
    CK_OBJECT_HANDLE ad = p11_find_label(sess, "plain-ad"), dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    json_object *e;
    long enc, dec;
    int same;

    ok(der && plain && ad, "the configured Vault keys are visible");
    enc = ctl_count("encrypt");
    is_rv(wrap_kv(der, "tenant=acme", env, &len, &dk), CKR_OK, "wrap under a derived key");
    is_num(ctl_count("encrypt") - enc, 1, "one transit/encrypt call");
    e = last_of("encrypt");
    ok(e && strcmp(json_str(e, "path"), "/v1/transit/encrypt/p11kms-derived") == 0,
       "to transit/encrypt/p11kms-derived");
    ok(e && json_object_get_boolean(json_object_object_get(e, "x_vault_request")),
       "with X-Vault-Request: true");
    ok(e && *json_str(e, "context") != 0 && *json_str(e, "associated_data") == 0,
       "the context sent as Vault's context");
    json_object_put(e);
    dec = ctl_count("decrypt");
    is_rv(unwrap_kv(der, "tenant=acme", env, len, dk, &same), CKR_OK, "unwrap, same context");
    ok(same, "the same data key");
    is_num(ctl_count("decrypt") - dec, 1, "one transit/decrypt call");
    dec = ctl_count("decrypt");
    is_rv(unwrap_kv(der, "tenant=other", env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "another context: refused (Vault's message authentication failed)");
    is_num(ctl_count("decrypt") - dec, 1, "Vault was asked once: a 400 is not retried");
    is_num(key_version(der), 1, "CKA_P11KMS_KEY_VERSION is the version Vault answered");
    p11->C_DestroyObject(sess, dk);

    len = sizeof(env);
    enc = ctl_count("encrypt");
    is_rv(wrap_kv(plain, "tenant=acme", env, &len, &dk), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that is not derived, context mode derived: refused (Vault would drop it)");
    is_num(ctl_count("encrypt") - enc, 0, "without anything encrypted");
    p11->C_DestroyObject(sess, dk);

    len = sizeof(env);
    is_rv(wrap_kv(ad, "tenant=acme", env, &len, &dk), CKR_OK,
          "the same key with context_mode associated_data wraps");
    e = last_of("encrypt");
    ok(e && *json_str(e, "associated_data") != 0 && *json_str(e, "context") == 0,
       "the context sent as associated_data");
    json_object_put(e);
    is_rv(unwrap_kv(ad, "tenant=acme", env, len, dk, &same), CKR_OK, "and unwraps");
    ok(same, "the same data key");
    is_rv(unwrap_kv(ad, "tenant=other", env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "another associated_data: refused");
    p11->C_DestroyObject(sess, dk);
    ctl_do("POST", "/config", "{\"version\": \"1.12.4\"}");
    len = sizeof(env);
    enc = ctl_count("encrypt");
    is_rv(wrap_kv(p11_find_label(sess, "plain-ad-old"), "tenant=acme", env, &len, &dk),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "associated_data on a Vault before 1.13 (sys/health): refused before anything is sent");
    is_num(ctl_count("encrypt") - enc, 0, "no encrypt call");
    ctl_do("POST", "/config", "{\"version\": \"1.17.6+ent\"}");
    p11->C_DestroyObject(sess, dk);
    ctl_do("POST", "/config", "{\"associated_data\": \"warn\"}");
    len = sizeof(env);
    is_rv(wrap_kv(ad, "tenant=acme", env, &len, &dk), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a Vault that says it ignored associated_data (1.10 to 1.12): the answer is dropped");
    p11->C_DestroyObject(sess, dk);
    ctl_do("POST", "/config", "{\"associated_data\": \"supported\"}");
    len = sizeof(env);
    is_rv(wrap_kv(ad, "tenant=acme", env, &len, &dk), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "and the key stays refused");
    p11->C_DestroyObject(sess, dk);
}

static void test_versions_mounts_namespaces(void)
{
    CK_OBJECT_HANDLE rot = p11_find_label(sess, "rotated"), der = p11_find_label(sess, "derived");
    CK_OBJECT_HANDLE om = p11_find_label(sess, "other-mount"), ns = p11_find_label(sess, "ns");
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192], env2[8192];
    CK_ULONG len = sizeof(env), len2 = sizeof(env2);
    json_object *e;
    long dec;
    int same;

    is_rv(wrap_kv(rot, "a=b", env, &len, &dk), CKR_OK, "wrap under a key with 3 versions");
    is_num(key_version(rot), 3, "CKA_P11KMS_KEY_VERSION 3");
    ok(vault_api("transit/keys/p11kms-rotated/rotate", "{}"), "rotate the key in Vault");
    len2 = sizeof(env2);
    {
        CK_OBJECT_HANDLE dk2;
        is_rv(wrap_kv(rot, "a=b", env2, &len2, &dk2), CKR_OK, "wrap after the rotation");
        p11->C_DestroyObject(sess, dk2);
    }
    is_num(key_version(rot), 4, "the newest version: 4");
    is_rv(unwrap_kv(rot, "a=b", env, len, dk, &same), CKR_OK, "version 3 still unwraps");
    ok(same, "the same data key");
    ok(vault_api("transit/keys/p11kms-rotated/config", "{\"min_decryption_version\": 4}"),
       "min_decryption_version 4");
    dec = ctl_count("decrypt");
    is_rv(unwrap_kv(rot, "a=b", env, len, dk, &same), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a version below min_decryption_version: CKR_KEY_FUNCTION_NOT_PERMITTED");
    is_num(ctl_count("decrypt") - dec, 1, "Vault refused it, once");
    p11->C_DestroyObject(sess, dk);

    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_OK, "wrap under transit/p11kms-derived");
    dec = ctl_count("decrypt");
    is_rv(unwrap_kv(om, "a=b", env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "the same name in another mount does not unwrap it");
    is_num(ctl_count("decrypt") - dec, 0,
           "refused without asking Vault (the envelope names "
           "transit/p11kms-derived)");
    ok(round_trip(om), "the other mount's key round-trips");
    e = last_of("decrypt");
    ok(e && strcmp(json_str(e, "path"), "/v1/p11kms-transit/decrypt/p11kms-derived") == 0,
       "through the configured mount");
    json_object_put(e);
    ok(round_trip(ns), "a key in namespace p11kms-ns round-trips");
    e = last_of("decrypt");
    ok(e && strcmp(json_str(e, "x_vault_namespace"), "p11kms-ns") == 0 &&
           strcmp(json_str(e, "namespace"), "p11kms-ns") == 0,
       "sent with X-Vault-Namespace: p11kms-ns");
    json_object_put(e);
    is_rv(unwrap_kv(ns, "a=b", env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "the root namespace's envelope is not the namespace key's");
    p11->C_DestroyObject(sess, dk);
}

static void test_policy(void)
{
    CK_OBJECT_HANDLE eo = p11_find_label(sess, "encrypt-only"),
                     missing = p11_find_label(sess, "missing");
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    int same;

    is_rv(wrap_kv(eo, "a=b", env, &len, &dk), CKR_OK,
          "the app token may encrypt with p11kms-encrypt-only (token from its token file)");
    is_rv(unwrap_kv(eo, "a=b", env, len, dk, &same), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "but its policy denies decrypt: 403 is CKR_KEY_FUNCTION_NOT_PERMITTED");
    p11->C_DestroyObject(sess, dk);
    len = sizeof(env);
    is_rv(wrap_kv(missing, "a=b", env, &len, &dk), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key Vault does not have, with a token that may not create keys: refused");
    p11->C_DestroyObject(sess, dk);
}

/* Where a one-blob version-2 envelope keeps its key_ref (docs/envelope.md). */
#define REF_OFF 10

/* The fault matrix's "wrong key": a ciphertext of another Vault key in an envelope that names
 * this one (same length of name, so only the reference changes) reaches Vault, which refuses it;
 * and an answer over the size bound. */
static void test_wrong_key_and_oversized(void)
{
    CK_OBJECT_HANDLE twin = p11_find_label(sess, "twin"), der = p11_find_label(sess, "derived");
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);
    char *big;
    static char fault[80200];
    long dec;
    int same;

    is_rv(wrap_kv(twin, "a=b", env, &len, &dk), CKR_OK, "wrap under p11kms-derivee");
    ok(len > REF_OFF + 22 && memcmp(env + REF_OFF, "transit/p11kms-derivee", 22) == 0,
       "the envelope names transit/p11kms-derivee");
    memcpy(env + REF_OFF, "transit/p11kms-derived", 22);
    dec = ctl_count("decrypt");
    is_rv(unwrap_kv(der, "a=b", env, len, dk, &same), CKR_WRAPPED_KEY_INVALID,
          "its ciphertext in an envelope naming p11kms-derived: Vault refuses it");
    is_num(ctl_count("decrypt") - dec, 1, "once (a 400 is final)");
    p11->C_DestroyObject(sess, dk);

    big = malloc(80001);
    if (big == NULL)
        return;
    memset(big, 'x', 80000);
    big[80000] = 0;
    snprintf(fault, sizeof(fault),
             "{\"op\": \"encrypt\", \"kind\": \"error\", \"count\": 1, \"status\": 400, "
             "\"message\": \"%s\"}",
             big);
    free(big);
    ctl_do("POST", "/faults", fault);
    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_DEVICE_ERROR,
          "an answer over 64 KiB: refused unread, CKR_DEVICE_ERROR");
    ctl_clear_faults();
    p11->C_DestroyObject(sess, dk);
}

static void test_logins(void)
{
    CK_OBJECT_HANDLE ar = p11_find_label(sess, "approle"), k8s = p11_find_label(sess, "k8s");
    CK_OBJECT_HANDLE cert = p11_find_label(sess, "cert"), name = p11_find_label(sess, "tls-name");
    json_object *e;
    long logins, renews;

    ok(ar && k8s && cert && name, "the login keys are visible");
    ctl_do("POST", "/config", "{\"login_token_ttl\": 30}");
    logins = login_count("approle");
    renews = ctl_count("token-renew-self");
    ok(round_trip(ar), "AppRole login (secret id from a file) round-trips");
    is_num(login_count("approle") - logins, 1, "one AppRole login");
    e = last_of("decrypt");
    ok(e && strncmp(json_str(e, "token"), "hvs.", 4) == 0, "the call carried the login's token");
    json_object_put(e);
    ok(round_trip(ar), "again");
    is_num(login_count("approle") - logins, 1, "no second login");
    ok(ctl_count("token-renew-self") - renews >= 1,
       "the 30 s lease was renewed (renew-self) before it ended");
    ctl_do("POST", "/expire-tokens", "{}");
    ok(round_trip(ar), "a token Vault dropped (403 invalid token): logged in again, call done");
    is_num(login_count("approle") - logins, 2, "a second AppRole login");
    ctl_do("POST", "/config", "{\"login_token_ttl\": null}");

    logins = login_count("kubernetes");
    ok(round_trip(k8s), "Kubernetes login (service-account JWT file) round-trips");
    is_num(login_count("kubernetes") - logins, 1, "one Kubernetes login");

    logins = login_count("cert");
    ok(round_trip(cert), "TLS certificate login over https (VAULT_CACERT-style CA) round-trips");
    is_num(login_count("cert") - logins, 1, "one cert login");
    e = last_of("decrypt");
    ok(e && json_object_get_boolean(json_object_object_get(e, "tls")), "over TLS");
    json_object_put(e);
    ok(round_trip(name), "a TLS server name (vault.p11kms.test) with a CA directory verifies");
}

static void test_faults(void)
{
    CK_OBJECT_HANDLE der = p11_find_label(sess, "derived"), fast = p11_find_label(sess, "fast");
    CK_OBJECT_HANDLE dk;
    uint8_t env[8192];
    CK_ULONG len;
    static const char *const retried[] = {"http412", "http429", "http500", "http502",
                                          "http503", "reset",   "drop",    "truncated"};
    long enc;
    size_t i;
    char what[96];

    for (i = 0; i < sizeof(retried) / sizeof(retried[0]); i++) {
        ctl_fault("encrypt", retried[i], 1, "");
        enc = ctl_count("encrypt");
        len = sizeof(env);
        snprintf(what, sizeof(what), "%s once: retried, the call succeeds", retried[i]);
        is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_OK, what);
        snprintf(what, sizeof(what), "%s: two requests", retried[i]);
        is_num(ctl_count("encrypt") - enc, 2, what);
        p11->C_DestroyObject(sess, dk);
    }
    ctl_fault("encrypt", "http501", 1, "");
    enc = ctl_count("encrypt");
    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_DEVICE_ERROR, "501: not retried, failed");
    is_num(ctl_count("encrypt") - enc, 1, "one request");
    p11->C_DestroyObject(sess, dk);
    ctl_fault("encrypt", "garbage", 1, "");
    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_DEVICE_ERROR,
          "a 200 answer that is not JSON: CKR_DEVICE_ERROR");
    p11->C_DestroyObject(sess, dk);
    ctl_fault("encrypt", "http429", 10, "");
    enc = ctl_count("encrypt");
    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_DEVICE_ERROR, "429 every time: failed");
    is_num(ctl_count("encrypt") - enc, 3, "after max_attempts (3) requests");
    ctl_clear_faults();
    p11->C_DestroyObject(sess, dk);

    ctl_fault("encrypt", "delay", 1, ", \"delay_ms\": 2500");
    enc = ctl_count("encrypt");
    len = sizeof(env);
    is_rv(wrap_kv(fast, "a=b", env, &len, &dk), CKR_OK,
          "an answer later than request_timeout_ms: retried within the deadline");
    is_num(ctl_count("encrypt") - enc, 2, "two requests");
    p11->C_DestroyObject(sess, dk);
    ctl_fault("encrypt", "delay", 10, ", \"delay_ms\": 2500");
    enc = ctl_count("encrypt");
    len = sizeof(env);
    is_rv(wrap_kv(fast, "a=b", env, &len, &dk), CKR_DEVICE_ERROR,
          "every answer late: failed at the call's deadline (deadline_ms 2500)");
    ok(ctl_count("encrypt") - enc <= 3, "no more requests than the deadline allows");
    ctl_clear_faults();
    p11->C_DestroyObject(sess, dk);

    ctl_do("POST", "/config", "{\"sealed\": true}");
    enc = ctl_count("encrypt");
    len = sizeof(env);
    is_rv(wrap_kv(der, "a=b", env, &len, &dk), CKR_DEVICE_ERROR,
          "a sealed Vault: CKR_DEVICE_ERROR (\"Vault is sealed\" in the log)");
    ok(ctl_count("encrypt") - enc >= 1, "Vault was asked");
    ctl_do("POST", "/config", "{\"sealed\": false}");
    p11->C_DestroyObject(sess, dk);
    ok(round_trip(der), "unsealed: works again");
}

#define THREADS 4
#define THREAD_ROUNDS 15

static CK_OBJECT_HANDLE thread_key;

static void *thread_main(void *arg)
{
    CK_SESSION_HANDLE s = p11_open(0);
    long failures = p11_round_trips(s, thread_key, (long)(intptr_t)arg, THREAD_ROUNDS);

    p11->C_CloseSession(s);
    return (void *)(intptr_t)failures;
}

/* Threads sharing one login: the token chain runs one refresh at a time, so a dead token seen
 * by every thread at once costs a login or a few, not one per call. */
static void test_threads(void)
{
    pthread_t th[THREADS];
    long logins, failures = 0, conns;
    void *v;
    int i;

    thread_key = p11_find_label(sess, "approle");
    ok(round_trip(thread_key), "a warm AppRole token");
    ctl_do("POST", "/expire-tokens", "{}");
    logins = login_count("approle");
    conns = ctl_stat("connections", NULL);
    for (i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, thread_main, (void *)(intptr_t)i);
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], &v);
        failures += (long)(intptr_t)v;
    }
    is_num(failures, 0, "4 threads x 15 round trips after Vault dropped the token: all done");
    ok(login_count("approle") - logins >= 1 && login_count("approle") - logins <= THREADS,
       "by one new login, or at most one per thread (not one per call)");
    ok(ctl_stat("connections", NULL) - conns <= 2 * THREADS,
       "connections kept alive and shared (at most 2 new per thread for 120 calls)");
}

static const char *write_config(void)
{
    static char text[8192];
    const char *d = getenv("P11KMS_VAULT_STATE_DIR"), *tls = getenv("P11KMS_VAULT_TLS_DIR");
    char *root = p11_write("root-token", "p11kms-test-root-token\n", 0600);
    char root_copy[320], app_copy[320];

    snprintf(root_copy, sizeof(root_copy), "%s", root);
    snprintf(app_copy, sizeof(app_copy), "%s",
             p11_write("app-token", "p11kms-test-app-token", 0600));
    snprintf(
        text, sizeof(text),
        "{\"backends\": {\"vault\": {\"endpoint\": \"%s\"}},\n"
        " \"tokens\": [{\"label\": \"vault\", \"keys\": [\n"
        "  {\"label\": \"derived\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"token_file\": \"%s\"},\n"
        "  {\"label\": \"plain\", \"backend\": \"vault\", \"key_id\": \"p11kms-plain\", "
        "\"token_file\": \"%s\"},\n"
        "  {\"label\": \"plain-ad\", \"backend\": \"vault\", \"key_id\": \"p11kms-plain\", "
        "\"context_mode\": \"associated_data\", \"token_file\": \"%s\"},\n"
        "  {\"label\": \"plain-ad-old\", \"backend\": \"vault\", \"key_id\": \"p11kms-plain\", "
        "\"context_mode\": \"associated_data\", \"token_file\": \"%s\"},\n"
        "  {\"label\": \"twin\", \"backend\": \"vault\", \"key_id\": \"p11kms-derivee\", "
        "\"token_file\": \"%s\"},\n"
        "  {\"label\": \"rotated\", \"backend\": \"vault\", \"key_id\": \"p11kms-rotated\", "
        "\"token_file\": \"%s\"},\n"
        "  {\"label\": \"other-mount\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"mount\": \"p11kms-transit\", \"token_file\": \"%s\"},\n"
        "  {\"label\": \"ns\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"namespace\": \"p11kms-ns\", \"token_file\": \"%s\"},\n"
        "  {\"label\": \"encrypt-only\", \"backend\": \"vault\", \"key_id\": "
        "\"p11kms-encrypt-only\", \"token_file\": \"%s\"},\n"
        "  {\"label\": \"missing\", \"backend\": \"vault\", \"key_id\": \"p11kms-none\", "
        "\"token_file\": \"%s\"},\n"
        "  {\"label\": \"fast\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"token_file\": \"%s\", \"request_timeout_ms\": 1000, \"deadline_ms\": 2500},\n"
        "  {\"label\": \"approle\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"auth_method\": \"approle\", \"role_id\": \"p11kms-test-role-id\", "
        "\"secret_id_file\": \"%s/approle-secret-id\"},\n"
        "  {\"label\": \"k8s\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"auth_method\": \"kubernetes\", \"role\": \"p11kms-k8s\", \"jwt_file\": "
        "\"%s/k8s-token\"},\n"
        "  {\"label\": \"cert\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"endpoint\": \"%s\", \"ca_file\": \"%s/ca.pem\", \"client_cert\": \"%s/client.pem\", "
        "\"client_key\": \"%s/client-key.pem\", \"auth_method\": \"cert\", \"cert_role\": "
        "\"p11kms-cert\"},\n"
        "  {\"label\": \"tls-name\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\", "
        "\"endpoint\": \"%s\", \"ca_path\": \"%s/capath\", \"tls_server_name\": "
        "\"vault.p11kms.test\", \"token_file\": \"%s\"}\n"
        "]}]}\n",
        addr, root_copy, root_copy, root_copy, root_copy, root_copy, root_copy, root_copy,
        root_copy, app_copy, app_copy, root_copy, d, d, tls_addr, tls, tls, tls, tls_addr, tls,
        root_copy);
    return p11_write("vault.conf", text, 0600);
}

int main(void)
{
    char home[300];

    addr = getenv("P11KMS_VAULT_ADDR");
    tls_addr = getenv("P11KMS_VAULT_TLS_ADDR");
    if (addr == NULL || tls_addr == NULL || getenv("P11KMS_VAULT_CONTROL") == NULL) {
        printf("1..0 # SKIP run through test-vault-module.sh (needs the Vault test server)\n");
        return 0;
    }
    /* test-aws-ctl.h's control client speaks to any of the test servers' control APIs */
    setenv("P11KMS_AWS_CONTROL", getenv("P11KMS_VAULT_CONTROL"), 1);
    /* tokens come from each key's token file or login: no VAULT_TOKEN, no ~/.vault-token */
    unsetenv("VAULT_TOKEN");
    snprintf(home, sizeof(home), "%s", p11_tmp());
    setenv("HOME", home, 1);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    p11_load();
    ctl_do("POST", "/reset", "{\"state\": true}");
    ctl_do("POST", "/keys", "{\"name\": \"p11kms-derivee\"}");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize with Vault keys");
    sess = p11_open(0);
    test_context_binding();
    test_versions_mounts_namespaces();
    test_policy();
    test_wrong_key_and_oversized();
    test_logins();
    test_threads();
    test_faults();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    dlclose(p11_dl);
    ctl_do("POST", "/reset", "{\"state\": true}");
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
