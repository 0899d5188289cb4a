/* test-aws-ops.c - the aws backend's operations that PKCS#11 calls do not reach, on the wire
 * against the loopback test server: ReEncrypt between keys and contexts, DescribeKey, and an
 * alias moved to another key. Run by test-aws-ops.sh (which starts the server). */
#include <stdlib.h>
#include "tests/test.h"
#include "tests/backends/aws/test-aws-ctl.h"
#include "module/backend.h"
#include "module/config-load.h"
#include "module/secmem.h"

#define KEY2 "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-4222-8222-222222222222"

static const char *endpoint, *key_arn;
static p11kms_config *cfgs[8];
static int n_cfgs;

static p11kms_backend *backend(const char *key_id)
{
    char text[1024];
    p11kms_backend *be = NULL;
    p11kms_config *c = NULL;

    snprintf(text, sizeof(text),
             "{\"tokens\": [{\"label\": \"t\", \"keys\": [{\"label\": \"k\", \"backend\": \"aws\","
             " \"key_id\": \"%s\", \"endpoint\": \"%s\"}]}]}",
             key_id, endpoint);
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

static void test_reencrypt(p11kms_backend *b1, p11kms_backend *b2)
{
    p11kms_context *ca = ctx1("a", "1"), *cb = ctx1("b", "2");
    p11kms_kms_blob blob, moved;
    p11kms_buf pt = {NULL, 0};
    long dec;

    memset(&moved, 0, sizeof(moved));
    is_rv(b1->ops->encrypt(b1, ca, (const uint8_t *)"data key bytes!!", 16, &blob), CKR_OK,
          "Encrypt under key 1");
    dec = ctl_count("Decrypt");
    is_rv(b1->ops->reencrypt(b1, ca, &blob, b2, cb, &moved), CKR_OK,
          "ReEncrypt to key 2 with a new context");
    ok(moved.key_ref && strcmp(moved.key_ref, KEY2) == 0, "the result names key 2");
    is_num(ctl_count("Decrypt") - dec, 0, "no Decrypt: the plaintext never came here");
    is_rv(b2->ops->decrypt(b2, cb, &moved, &pt), CKR_OK, "key 2 decrypts it with the new context");
    ok(pt.len == 16 && memcmp(pt.data, "data key bytes!!", 16) == 0, "the same data key");
    p11kms_buf_wipe(&pt);
    is_rv(b2->ops->decrypt(b2, ca, &moved, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "the old context no longer fits");
    p11kms_kms_blob_clear(&moved);
    is_rv(b1->ops->reencrypt(b1, cb, &blob, b2, cb, &moved), CKR_ENCRYPTED_DATA_INVALID,
          "ReEncrypt with a wrong source context is refused by the KMS");
    ok(ctl_count("ReEncrypt") >= 2, "the server saw the ReEncrypt calls");
    p11kms_kms_blob_clear(&blob);
    p11kms_context_free(ca);
    p11kms_context_free(cb);
}

static void test_describe(p11kms_backend *b1)
{
    p11kms_backend *dis = backend("alias/p11kms-disabled"), *none = backend("alias/nope");
    char *text = NULL;

    is_rv(b1->ops->describe(b1, &text), CKR_OK, "DescribeKey");
    ok(text && strstr(text, "state: Enabled") && strstr(text, key_arn) &&
           strstr(text, "usage: ENCRYPT_DECRYPT"),
       "state, ARN and usage");
    free(text);
    text = NULL;
    is_rv(dis->ops->describe(dis, &text), CKR_OK, "DescribeKey of a disabled key");
    ok(text && strstr(text, "state: Disabled") && strstr(text, "enabled: false"),
       "shows it disabled");
    free(text);
    text = NULL;
    is_rv(none->ops->describe(none, &text), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an unknown alias: NotFoundException");
    ok(text == NULL, "and no text");
    p11kms_backend_free(dis);
    p11kms_backend_free(none);
}

static void test_moved_alias(p11kms_backend *b1)
{
    p11kms_backend *ba = backend("alias/p11kms-test");
    p11kms_kms_blob old, now;
    p11kms_buf pt = {NULL, 0};

    is_rv(ba->ops->encrypt(ba, NULL, (const uint8_t *)"k", 1, &old), CKR_OK,
          "Encrypt through the alias");
    ok(strcmp(old.key_ref, key_arn) == 0, "it names key 1");
    ctl_do("POST", "/aliases", "{\"alias\": \"alias/p11kms-test\", \"key_id\": \"" KEY2 "\"}");
    is_rv(ba->ops->encrypt(ba, NULL, (const uint8_t *)"k", 1, &now), CKR_OK,
          "after the alias moved to key 2");
    ok(strcmp(now.key_ref, KEY2) == 0, "new envelopes name key 2");
    ok(ba->ops->owns(ba, &now) && !ba->ops->owns(ba, &old),
       "the alias key now owns key 2's envelopes, not key 1's");
    ok(b1->ops->owns(b1, &old), "key 1's ARN key still owns the old ones");
    is_rv(b1->ops->decrypt(b1, NULL, &old, &pt), CKR_OK, "and decrypts them");
    p11kms_buf_wipe(&pt);
    is_rv(ba->ops->decrypt(ba, NULL, &old, &pt), CKR_ENCRYPTED_DATA_INVALID,
          "the alias (now key 2) cannot decrypt key 1's ciphertext (IncorrectKey)");
    p11kms_kms_blob_clear(&old);
    p11kms_kms_blob_clear(&now);
    ctl_do(
        "POST", "/aliases",
        "{\"alias\": \"alias/p11kms-test\", \"key_id\": \"11111111-1111-4111-8111-111111111111\"}");
    p11kms_backend_free(ba);
}

int main(void)
{
    p11kms_backend *b1, *b2;
    int i;

    endpoint = getenv("P11KMS_AWS_ENDPOINT");
    key_arn = getenv("P11KMS_AWS_KEY_ARN");
    if (endpoint == NULL || key_arn == NULL) {
        printf("1..0 # SKIP run through test-aws-ops.sh (needs the AWS test server)\n");
        return 0;
    }
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ctl_do("POST", "/reset", "{\"keys\": true}");
    b1 = backend(key_arn);
    b2 = backend(KEY2);
    test_reencrypt(b1, b2);
    test_describe(b1);
    test_moved_alias(b1);
    is_num(ctl_stat("signature_failures", NULL), 0, "every signature verified by botocore");
    p11kms_backend_free(b1);
    p11kms_backend_free(b2);
    for (i = 0; i < n_cfgs; i++)
        p11kms_config_free(cfgs[i]);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
