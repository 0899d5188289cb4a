/* test-vault-ops.c - the vault backend's operations that PKCS#11 calls do not reach, on the wire
 * against the loopback Vault test server: rewrap (the backend's reencrypt: a blob moved to the
 * key's newest version inside Vault, the plaintext never sent back), its refusals, and describe.
 * Run by test-vault-ops.sh (which starts the server). */
#include <stdlib.h>
#include "tests/test.h"
#include "tests/backends/aws/test-aws-ctl.h"
#include "module/backend.h"
#include "module/config-load.h"
#include "module/secmem.h"

static const char *addr;
static p11kms_config *cfgs[8];
static int n_cfgs;

/* A vault backend instance for key_id with extra key fields (", \"mount\": ...") or "". */
static p11kms_backend *backend(const char *key_id, const char *extra)
{
    char text[1024];
    p11kms_backend *be = NULL;
    p11kms_config *c = NULL;

    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"backend\": "
             "\"vault\", \"key_id\": \"%s\", \"endpoint\": \"%s\"%s}]}]}",
             key_id, addr, extra);
    if (p11kms_config_parse(text, strlen(text), "test", &c) != CKR_OK ||
        p11kms_backend_new(&c->tokens[0].keys[0], &be) != CKR_OK) {
        printf("Bail out! cannot make a backend for %s\n", key_id);
        exit(1);
    }
    cfgs[n_cfgs++] = c;
    return be;
}

static p11kms_context *ctx1(const char *k, const char *v)
{
    p11kms_context *c = NULL;

    p11kms_context_new(&c);
    p11kms_context_add(c, k, strlen(k), v, strlen(v), 0);
    return c;
}

/* POST transit/keys/NAME/rotate with the root token (administration the module never does). */
static long vault_rotate(const char *name)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "X-Vault-Token: p11kms-test-root-token");
    ctl_buf b = {NULL, 0};
    char url[512];
    long status = 0;

    snprintf(url, sizeof(url), "%s/v1/transit/keys/%s/rotate", addr, name);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    free(b.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void test_rewrap(void)
{
    p11kms_backend *rwk, *der = backend("p11kms-derived", "");
    p11kms_backend *ad = backend("p11kms-plain", ", \"context_mode\": \"associated_data\"");
    p11kms_context *ca = ctx1("a", "1"), *cb = ctx1("b", "2");
    p11kms_kms_blob v1, moved, adb;
    p11kms_buf pt = {NULL, 0};
    json_object *o;
    long enc, dec, rw;

    memset(&moved, 0, sizeof(moved));
    o = ctl("POST", "/keys", "{\"name\": \"p11kms-rw\", \"versions\": 1}");
    ok(o != NULL, "a derived key p11kms-rw with one version");
    json_object_put(o);
    rwk = backend("p11kms-rw", "");
    is_rv(rwk->ops->encrypt(rwk, ca, (const uint8_t *)"data key bytes!!", 16, &v1), CKR_OK,
          "encrypt under p11kms-rw");
    is_num(v1.key_version, 1, "version 1");
    is_num(vault_rotate("p11kms-rw"), 200, "rotate p11kms-rw to version 2 in Vault");
    enc = ctl_count("encrypt");
    dec = ctl_count("decrypt");
    rw = ctl_count("rewrap");
    is_rv(rwk->ops->reencrypt(rwk, ca, &v1, rwk, ca, &moved), CKR_OK,
          "reencrypt within the key: transit/rewrap");
    is_num(moved.key_version, 2, "the blob is now version 2");
    ok(moved.ct_len > 9 && memcmp(moved.ct, "vault:v2:", 9) == 0, "its ciphertext is vault:v2:...");
    ok(strcmp(moved.key_ref, v1.key_ref) == 0, "and names the same key");
    is_num(ctl_count("rewrap") - rw, 1, "one rewrap call");
    is_num(ctl_count("decrypt") - dec + ctl_count("encrypt") - enc, 0,
           "no decrypt or encrypt: the plaintext never left Vault");
    is_num(rwk->ops->current_version(rwk), 2, "current_version 2");
    is_rv(rwk->ops->decrypt(rwk, ca, &moved, &pt), CKR_OK, "the rewrapped blob decrypts");
    ok(pt.len == 16 && memcmp(pt.data, "data key bytes!!", 16) == 0, "the same data key");
    p11kms_buf_wipe(&pt);
    p11kms_kms_blob_clear(&moved);
    is_rv(rwk->ops->reencrypt(rwk, cb, &v1, rwk, cb, &moved), CKR_ENCRYPTED_DATA_INVALID,
          "a wrong context: Vault refuses the rewrap");
    rw = ctl_count("rewrap");
    is_rv(rwk->ops->reencrypt(rwk, ca, &v1, rwk, cb, &moved), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a new context cannot be bound by Vault's rewrap: refused");
    is_rv(rwk->ops->reencrypt(rwk, ca, &v1, der, ca, &moved), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "nor another key");
    is_num(ctl_count("rewrap") - rw, 0, "both before asking Vault");
    p11kms_kms_blob_clear(&v1);

    is_rv(ad->ops->encrypt(ad, ca, (const uint8_t *)"k", 1, &adb), CKR_OK,
          "an associated_data key encrypts");
    rw = ctl_count("rewrap");
    is_rv(ad->ops->reencrypt(ad, ca, &adb, ad, ca, &moved), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "rewrap of an associated_data blob (Vault's rewrap takes none): refused");
    is_num(ctl_count("rewrap") - rw, 0, "without asking Vault");
    p11kms_kms_blob_clear(&adb);
    p11kms_context_free(ca);
    p11kms_context_free(cb);
    p11kms_backend_free(rwk);
    p11kms_backend_free(der);
    p11kms_backend_free(ad);
}

static void test_describe(void)
{
    p11kms_backend *der = backend("p11kms-derived", ""), *none = backend("p11kms-none", "");
    char *text = NULL;

    is_rv(der->ops->describe(der, &text), CKR_OK, "describe reads keys/NAME");
    ok(text && strstr(text, "derived: true") && strstr(text, "latest version: 1") &&
           strstr(text, "server version: 1.17.6+ent") && strstr(text, "mount: transit"),
       "derived, latest version, server version, mount");
    free(text);
    text = NULL;
    is_rv(none->ops->describe(none, &text), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "describe of a key Vault does not have");
    ok(text == NULL, "and no text");
    p11kms_backend_free(der);
    p11kms_backend_free(none);
}

int main(void)
{
    int i;

    addr = getenv("P11KMS_VAULT_ADDR");
    if (addr == NULL || getenv("P11KMS_VAULT_CONTROL") == NULL) {
        printf("1..0 # SKIP run through test-vault-ops.sh (needs the Vault test server)\n");
        return 0;
    }
    setenv("P11KMS_AWS_CONTROL", getenv("P11KMS_VAULT_CONTROL"), 1);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ctl_do("POST", "/reset", "{\"state\": true}");
    test_rewrap();
    test_describe();
    ctl_do("POST", "/reset", "{\"state\": true}");
    for (i = 0; i < n_cfgs; i++)
        p11kms_config_free(cfgs[i]);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
