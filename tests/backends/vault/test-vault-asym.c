/* test-vault-asym.c - asymmetric Vault transit keys through the built module's function list
 * against the loopback Vault test server: the objects, ECDSA P-256/384/521, RSA PKCS#1 v1.5
 * and PSS signatures checked by OpenSSL against the public keys the test script fetched with
 * curl, what each C_Sign sends to transit/sign, RSA-OAEP decryption in Vault, the key version
 * pinned to the public key, and the refusals: a policy that denies, a key of another type, OAEP
 * with SHA-1, a Vault that would ignore salt_length. Run by test-vault-asym.sh. */
#include <sys/stat.h>
#include <unistd.h>
#include "tests/backends/asym-remote.h"
#include "tests/backends/aws/test-aws-ctl.h"

static CK_SESSION_HANDLE sess;
static const char *pubdir;
static uint8_t msg[2500];

static char switches[400];

static const char *write_config(void)
{
    static char text[4096];
    const char *addr = getenv("P11KMS_VAULT_ADDR");

    snprintf(switches, sizeof(switches), "%s/switches", p11_tmp());
    snprintf(text, sizeof(text),
             "{\"backends\": {\"vault\": {\"endpoint\": \"%s\"}},\n"
             " \"kill_switch_dir\": \"%s\",\n"
             " \"tokens\": [{\"label\": \"vault\", \"keys\": [\n"
             "  {\"label\": \"ec\", \"backend\": \"vault\", \"type\": \"ec-p256\", "
             "\"key_id\": \"p11kms-ec256\", \"id\": \"01\"},\n"
             "  {\"label\": \"ec384\", \"backend\": \"vault\", \"type\": \"ec-p384\", "
             "\"key_id\": \"p11kms-ec384\"},\n"
             "  {\"label\": \"ec521\", \"backend\": \"vault\", \"type\": \"ec-p521\", "
             "\"key_id\": \"p11kms-ec521\"},\n"
             "  {\"label\": \"rsa\", \"backend\": \"vault\", \"type\": \"rsa-2048\", "
             "\"key_id\": \"p11kms-rsa2048\", \"permissions\": [\"sign\", \"decrypt\"], "
             "\"id\": \"02\"},\n"
             "  {\"label\": \"rsa3072\", \"backend\": \"vault\", \"type\": \"rsa-3072\", "
             "\"key_id\": \"p11kms-rsa3072\"},\n"
             "  {\"label\": \"denied\", \"backend\": \"vault\", \"type\": \"ec-p256\", "
             "\"key_id\": \"p11kms-ec-denied\"},\n"
             "  {\"label\": \"wrong-type\", \"backend\": \"vault\", \"type\": \"ec-p256\", "
             "\"key_id\": \"p11kms-rsa2048\"},\n"
             "  {\"label\": \"envelope\", \"backend\": \"vault\", \"key_id\": \"p11kms-derived\"}\n"
             "]}]}\n",
             addr, switches);
    return p11_write("vault-asym.conf", text, 0600);
}

/* The last request of op in the server's request log (json_object_put it). */
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

static long asked_int(json_object *e, const char *name)
{
    json_object *v;

    return e != NULL && json_object_object_get_ex(e, name, &v) ? json_object_get_int64(v) : -1;
}

static long reads_before, signs_before;

static void test_no_network_at_init(void)
{
    is_num(ctl_count("keys-read") - reads_before, 0, "C_Initialize reads no Vault key");
    is_num(ctl_count("sign") - signs_before, 0, "  ...and signs nothing");
}

/* POST v1/PATH with the root token: key administration the module never does. */
static void vault_post(const char *path, const char *json, const char *what)
{
    char url[512];
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "X-Vault-Token: p11kms-test-root-token");
    ctl_buf b = {NULL, 0};
    long status = 0;

    snprintf(url, sizeof(url), "%s/v1/%s", getenv("P11KMS_VAULT_ADDR"), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ctl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ok(status == 200, what);
    free(b.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void test_objects(EVP_PKEY *ec, EVP_PKEY *rsa)
{
    long reads = ctl_count("keys-read");

    ar_objects(sess, "ec", ec, 1, 0);
    ar_objects(sess, "rsa", rsa, 1, 1);
    is_num(ctl_count("keys-read") - reads, 2, "each key's public key read once (keys/NAME)");
    ar_objects(sess, "ec", ec, 1, 0);
    is_num(ctl_count("keys-read") - reads, 2, "  ...and kept");
}

static void test_ecdsa(EVP_PKEY *ec, EVP_PKEY *ec384, EVP_PKEY *ec521)
{
    CK_OBJECT_HANDLE priv = asym_find(sess, CKO_PRIVATE_KEY, "ec");
    CK_MECHANISM raw = {CKM_ECDSA, NULL, 0};
    uint8_t digest[32], sig[200];
    CK_ULONG len = sizeof(sig);
    json_object *e;
    long signs = ctl_count("sign");

    ar_sign_checked(sess, "ec", ec, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, sizeof(msg),
                    "P-256 CKM_ECDSA_SHA256");
    e = last_of("sign");
    ok(e && strcmp(json_str(e, "path"), "/v1/transit/sign/p11kms-ec256") == 0,
       "  ...to transit/sign/p11kms-ec256");
    ok(e && strcmp(json_str(e, "hash_algorithm"), "sha2-256") == 0 &&
           strcmp(json_str(e, "marshaling_algorithm"), "asn1") == 0 &&
           asked_int(e, "asked_prehashed") == 1 && asked_int(e, "asked_key_version") == 1,
       "  ...prehashed, hash_algorithm sha2-256, marshaling asn1, key_version 1");
    json_object_put(e);
    EVP_Digest(msg, sizeof(msg), digest, NULL, EVP_sha256(), NULL);
    is_rv(ar_sign(sess, &raw, priv, digest, 32, sig, &len), CKR_OK, "CKM_ECDSA of a digest");
    ok(len == 64 && ar_openssl_ok(ec, EVP_sha256(), 0, digest, sig, len),
       "  ...64 bytes r||s (from Vault's DER), OpenSSL verifies it");
    is_num(ctl_count("sign") - signs, 2, "two signatures, two transit/sign calls");
    ar_sign_checked(sess, "ec384", ec384, CKM_ECDSA_SHA384, EVP_sha384(), 0, msg, sizeof(msg),
                    "P-384 CKM_ECDSA_SHA384");
    e = last_of("sign");
    ok(e && strcmp(json_str(e, "hash_algorithm"), "sha2-384") == 0, "  ...hash_algorithm sha2-384");
    json_object_put(e);
    ar_sign_checked(sess, "ec521", ec521, CKM_ECDSA_SHA512, EVP_sha512(), 0, msg, sizeof(msg),
                    "P-521 CKM_ECDSA_SHA512");
}

static void test_rsa(EVP_PKEY *rsa)
{
    static const uint8_t di_sha384[] = {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                        0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30};
    CK_OBJECT_HANDLE priv = asym_find(sess, CKO_PRIVATE_KEY, "rsa");
    CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
    uint8_t di[80], sig[512];
    CK_ULONG len = sizeof(sig);
    json_object *e;

    ar_sign_checked(sess, "rsa", rsa, CKM_SHA256_RSA_PKCS, EVP_sha256(), 0, msg, sizeof(msg),
                    "CKM_SHA256_RSA_PKCS");
    e = last_of("sign");
    ok(e && strcmp(json_str(e, "signature_algorithm"), "pkcs1v15") == 0 &&
           strcmp(json_str(e, "hash_algorithm"), "sha2-256") == 0,
       "  ...signature_algorithm pkcs1v15, hash_algorithm sha2-256");
    json_object_put(e);
    memcpy(di, di_sha384, sizeof(di_sha384));
    EVP_Digest(msg, sizeof(msg), di + sizeof(di_sha384), NULL, EVP_sha384(), NULL);
    is_rv(ar_sign(sess, &pkcs, priv, di, sizeof(di_sha384) + 48, sig, &len), CKR_OK,
          "CKM_RSA_PKCS of a SHA-384 DigestInfo");
    ok(len == 256 && ar_openssl_ok(rsa, EVP_sha384(), 0, di + sizeof(di_sha384), sig, len),
       "  ...Vault signed it as PKCS#1 v1.5 SHA-384, OpenSSL verifies it");
    ar_sign_checked(sess, "rsa", rsa, CKM_SHA256_RSA_PKCS_PSS, EVP_sha256(), 1, msg, sizeof(msg),
                    "CKM_SHA256_RSA_PKCS_PSS (OpenSSL checks salt = 32)");
    e = last_of("sign");
    ok(e && strcmp(json_str(e, "signature_algorithm"), "pss") == 0 &&
           strcmp(json_str(e, "salt_length"), "hash") == 0,
       "  ...signature_algorithm pss with salt_length hash");
    json_object_put(e);
    ar_sign_checked(sess, "rsa", rsa, CKM_SHA512_RSA_PKCS_PSS, EVP_sha512(), 1, msg, sizeof(msg),
                    "CKM_SHA512_RSA_PKCS_PSS (salt = 64)");

    /* a Vault before salt_length (1.14) would sign with the longest salt: refused */
    ctl_do("POST", "/config", "{\"salt_length\": false}");
    {
        CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
        CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};

        len = sizeof(sig);
        is_rv(ar_sign(sess, &pss, priv, msg, sizeof(msg), sig, &len),
              CKR_KEY_FUNCTION_NOT_PERMITTED,
              "a Vault that ignores salt_length: the PSS signature is dropped");
    }
    ar_sign_checked(sess, "rsa", rsa, CKM_SHA256_RSA_PKCS, EVP_sha256(), 0, msg, sizeof(msg),
                    "  ...PKCS#1 v1.5 still signs there");
    ctl_do("POST", "/config", "{\"salt_length\": true}");
}

static void test_oaep(EVP_PKEY *rsa)
{
    CK_OBJECT_HANDLE priv = asym_find(sess, CKO_PRIVATE_KEY, "rsa"),
                     signonly = asym_find(sess, CKO_PRIVATE_KEY, "rsa3072");
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    uint8_t ct[256], pt[256];
    CK_ULONG len = sizeof(pt);
    long decrypts;
    json_object *e;

    ar_oaep(sess, "rsa", rsa);
    e = last_of("decrypt");
    ok(e && strcmp(json_str(e, "path"), "/v1/transit/decrypt/p11kms-rsa2048") == 0 &&
           asked_int(e, "status") == 200,
       "  ...by transit/decrypt/p11kms-rsa2048");
    json_object_put(e);

    decrypts = ctl_count("decrypt");
    memset(ct, 0x42, sizeof(ct));
    ct[0] = 0;
    is_rv(p11_crypt(sess, 0, &oaep, priv, ct, sizeof(ct), pt, &len), CKR_MECHANISM_PARAM_INVALID,
          "OAEP with SHA-1: refused (transit decrypts with SHA-256 only)");
    is_num(ctl_count("decrypt") - decrypts, 0, "  ...before Vault is asked");
    op.hashAlg = CKM_SHA256;
    op.mgf = CKG_MGF1_SHA256;
    len = sizeof(pt);
    is_rv(p11_crypt(sess, 0, &oaep, priv, ct, sizeof(ct), pt, &len), CKR_ENCRYPTED_DATA_INVALID,
          "a ciphertext that does not open: CKR_ENCRYPTED_DATA_INVALID (Vault's 500)");
    is_num(ctl_count("decrypt") - decrypts, 1, "  ...asked once: not retried");
    len = sizeof(pt);
    is_rv(p11->C_DecryptInit(sess, &oaep, signonly), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key without the decrypt permission does not decrypt");
}

/* The token's kill switch stops RSA-OAEP decryption by a Vault-held key before Vault is asked;
 * signing goes on (the switch cuts reads, not writes or signatures), and decryption resumes when
 * the switch is off. */
static void test_kill_switch(EVP_PKEY *ec, EVP_PKEY *rsa)
{
    CK_OBJECT_HANDLE priv = asym_find(sess, CKO_PRIVATE_KEY, "rsa");
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)};
    uint8_t ct[256], pt[256];
    CK_ULONG len = sizeof(pt);
    char path[500];
    long decrypts;
    FILE *f;

    mkdir(switches, 0755);
    snprintf(path, sizeof(path), "%s/vault", switches);
    f = fopen(path, "w");
    ok(f != NULL && fputs("on by the test\n", f) >= 0 && fclose(f) == 0,
       "the token's kill switch on");
    usleep(1200 * 1000); /* every process sees it within a second */
    decrypts = ctl_count("decrypt");
    memset(ct, 0x42, sizeof(ct));
    ct[0] = 0;
    is_rv(p11_crypt(sess, 0, &oaep, priv, ct, sizeof(ct), pt, &len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "  ...RSA-OAEP decryption by a Vault key is refused");
    is_num(ctl_count("decrypt") - decrypts, 0, "  ...before Vault is asked");
    ok(ar_sign_checked(sess, "ec", ec, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, 100,
                       "  ...ECDSA P-256 still signs"),
       "  ...signing is not cut off");
    unlink(path);
    usleep(1200 * 1000);
    ar_oaep(sess, "rsa", rsa);
    ok(ctl_count("decrypt") - decrypts == 2, "switch off: both decryptions are Vault's again");
}

static void test_versions(EVP_PKEY *v2)
{
    json_object *e;

    ar_sign_checked(sess, "rsa3072", v2, CKM_SHA256_RSA_PKCS, EVP_sha256(), 0, msg, sizeof(msg),
                    "a key with two versions signs with the latest (its public key's)");
    e = last_of("sign");
    ok(e && asked_int(e, "asked_key_version") == 2 && asked_int(e, "key_version") == 2,
       "  ...key_version 2 asked and answered");
    json_object_put(e);
    vault_post("transit/keys/p11kms-rsa3072/rotate", "{}", "Vault rotates the key (root token)");
    ar_sign_checked(sess, "rsa3072", v2, CKM_SHA256_RSA_PKCS, EVP_sha256(), 0, msg, sizeof(msg),
                    "rotated in Vault: still signs with version 2, the public key the objects "
                    "show");
    e = last_of("sign");
    ok(e && asked_int(e, "asked_key_version") == 2, "  ...key_version 2");
    json_object_put(e);
    vault_post("transit/keys/p11kms-rsa3072/config", "{\"min_encryption_version\": 3}",
               "Vault retires version 2 for signing (min_encryption_version 3)");
    {
        CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
        uint8_t sig[512];
        CK_ULONG len = sizeof(sig);

        is_rv(ar_sign(sess, &m, asym_find(sess, CKO_PRIVATE_KEY, "rsa3072"), msg, sizeof(msg), sig,
                      &len),
              CKR_KEY_FUNCTION_NOT_PERMITTED,
              "  ...then the key no longer signs (no silent switch to another public key)");
    }
}

static void test_refusals(void)
{
    CK_MECHANISM sha = {CKM_ECDSA_SHA256, NULL, 0};
    uint8_t sig[200];
    CK_ULONG len = sizeof(sig);
    long signs = ctl_count("sign");

    is_rv(ar_sign(sess, &sha, asym_find(sess, CKO_PRIVATE_KEY, "denied"), msg, sizeof(msg), sig,
                  &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "a policy that denies transit/sign: refused (403)");
    is_num(ctl_count("sign") - signs, 1, "  ...asked once: a 403 is not retried");
    len = sizeof(sig);
    is_rv(ar_sign(sess, &sha, asym_find(sess, CKO_PRIVATE_KEY, "wrong-type"), msg, sizeof(msg), sig,
                  &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "an rsa-2048 Vault key configured as ec-p256: refused");
    is_num(ctl_count("sign") - signs, 1, "  ...without a signature asked for");
}

int main(void)
{
    EVP_PKEY *ec, *ec384, *ec521, *rsa, *rsa3072;

    pubdir = getenv("P11KMS_TEST_PUBDIR");
    if (getenv("P11KMS_VAULT_CONTROL") == NULL || pubdir == NULL) {
        printf("1..0 # SKIP run through test-vault-asym.sh (needs the Vault test server)\n");
        return 0;
    }
    setenv("P11KMS_AWS_CONTROL", getenv("P11KMS_VAULT_CONTROL"), 1);
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(msg, 'm', sizeof(msg));
    ec = ar_public(pubdir, "p11kms-ec256");
    ec384 = ar_public(pubdir, "p11kms-ec384");
    ec521 = ar_public(pubdir, "p11kms-ec521");
    rsa = ar_public(pubdir, "p11kms-rsa2048");
    rsa3072 = ar_public(pubdir, "p11kms-rsa3072");
    p11_load();
    reads_before = ctl_count("keys-read");
    signs_before = ctl_count("sign");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize with asymmetric Vault keys");
    sess = p11_open(0);
    test_no_network_at_init();
    test_objects(ec, rsa);
    test_ecdsa(ec, ec384, ec521);
    test_rsa(rsa);
    test_oaep(rsa);
    test_kill_switch(ec, rsa);
    test_versions(rsa3072);
    test_refusals();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    dlclose(p11_dl);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ec521);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa3072);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
