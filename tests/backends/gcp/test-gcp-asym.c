/* test-gcp-asym.c - asymmetric Cloud KMS keys through the built module's function list against
 * the loopback Cloud KMS test server: the objects, ECDSA P-256/P-384/secp256k1, RSA PKCS#1 v1.5
 * and PSS signatures checked by OpenSSL against the public keys the test script fetched with
 * curl, what asymmetricSign is sent (the digest and its CRC32C), RSA-OAEP decryption with SHA-256
 * and SHA-1 keys, integrity failures asked again, and the refusals before Cloud KMS is asked: a
 * mechanism the version's algorithm does not do, a version of another key type, a signing key
 * asked to decrypt; and IAM's. Run by test-gcp-asym.sh. */
#include "tests/backends/asym-remote.h"
#define CTL_CONTROL_ENV "P11KMS_GCP_CONTROL"
#include "tests/backends/aws/test-aws-ctl.h"

static CK_SESSION_HANDLE sess;
static uint8_t msg[2100];
static const char *ring;

static const char *write_config(void)
{
    static char text[8192];
    const char *ep = getenv("P11KMS_GCP_ENDPOINT"), *dir = getenv("P11KMS_GCP_STATE_DIR");

    snprintf(
        text, sizeof(text),
        "{\"backends\": {\"gcp\": {\"endpoint\": \"%s\"}},\n"
        " \"tokens\": [{\"label\": \"gcp\", \"keys\": [\n"
        "  {\"label\": \"ec\", \"backend\": \"gcp\", \"type\": \"ec-p256\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-p256/cryptoKeyVersions/1\", \"id\": \"01\"},\n"
        "  {\"label\": \"ec384\", \"backend\": \"gcp\", \"type\": \"ec-p384\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-p384\", \"key_version\": \"1\"},\n"
        "  {\"label\": \"k256\", \"backend\": \"gcp\", \"type\": \"ec-secp256k1\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-k256/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"pkcs1\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-rsa2048/cryptoKeyVersions/1\", \"id\": "
        "\"02\"},\n"
        "  {\"label\": \"pss\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-pss2048/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"oaep\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
        "\"permissions\": [\"decrypt\"], "
        "\"key_id\": \"%s/cryptoKeys/p11kms-decrypt-rsa2048/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"oaep1\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
        "\"permissions\": [\"decrypt\"], "
        "\"key_id\": \"%s/cryptoKeys/p11kms-decrypt-rsa2048-sha1/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"sign-decrypt\", \"backend\": \"gcp\", \"type\": \"rsa-2048\", "
        "\"permissions\": [\"sign\", \"decrypt\"], "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-rsa2048/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"wrong-type\", \"backend\": \"gcp\", \"type\": \"rsa-3072\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-rsa2048/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"denied\", \"backend\": \"gcp\", \"type\": \"ec-p256\", "
        "\"credentials_file\": \"%s/sa-encrypter.json\", "
        "\"key_id\": \"%s/cryptoKeys/p11kms-sign-p256/cryptoKeyVersions/1\"},\n"
        "  {\"label\": \"envelope\", \"backend\": \"gcp\", \"key_id\": \"%s/cryptoKeys/"
        "p11kms-key\"}\n"
        "]}]}\n",
        ep, ring, ring, ring, ring, ring, ring, ring, ring, ring, dir, ring, ring);
    return p11_write("gcp-asym.conf", text, 0600);
}

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

static long pubs_before, signs_before;

static void test_objects(EVP_PKEY *ec, EVP_PKEY *pkcs1, EVP_PKEY *oaep)
{
    long pubs;

    is_num(ctl_count("GetPublicKey") - pubs_before, 0, "C_Initialize asks for no public key");
    is_num(ctl_count("AsymmetricSign") - signs_before, 0, "  ...and signs nothing");
    pubs = ctl_count("GetPublicKey");
    ar_objects(sess, "ec", ec, 1, 0);
    ar_objects(sess, "pkcs1", pkcs1, 1, 0);
    ar_objects(sess, "oaep", oaep, 0, 1);
    is_num(ctl_count("GetPublicKey") - pubs, 3, "each version's public key asked for once");
    ar_objects(sess, "ec", ec, 1, 0);
    is_num(ctl_count("GetPublicKey") - pubs, 3, "  ...and kept");
}

static void test_sign(EVP_PKEY *ec, EVP_PKEY *ec384, EVP_PKEY *k256, EVP_PKEY *pkcs1, EVP_PKEY *pss)
{
    static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                        0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    CK_MECHANISM raw = {CKM_ECDSA, NULL, 0}, pkcs = {CKM_RSA_PKCS, NULL, 0};
    uint8_t digest[32], di[64], sig[512];
    CK_ULONG len = sizeof(sig);
    json_object *e;
    long signs = ctl_count("AsymmetricSign");

    ar_sign_checked(sess, "ec", ec, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, sizeof(msg),
                    "P-256 CKM_ECDSA_SHA256");
    e = last_of("AsymmetricSign");
    ok(e && strcmp(json_str(e, "name"),
                   "projects/p11kms-test/locations/global/keyRings/p11kms-ring/cryptoKeys/"
                   "p11kms-sign-p256/cryptoKeyVersions/1") == 0,
       "  ...asymmetricSign on the configured CryptoKeyVersion");
    json_object_put(e);
    EVP_Digest(msg, sizeof(msg), digest, NULL, EVP_sha256(), NULL);
    is_rv(ar_sign(sess, &raw, asym_find(sess, CKO_PRIVATE_KEY, "ec"), digest, 32, sig, &len),
          CKR_OK, "CKM_ECDSA of a digest");
    ok(len == 64 && ar_openssl_ok(ec, EVP_sha256(), 0, digest, sig, len),
       "  ...r||s from Cloud KMS's DER, OpenSSL verifies it");
    ar_sign_checked(sess, "ec384", ec384, CKM_ECDSA_SHA384, EVP_sha384(), 0, msg, sizeof(msg),
                    "P-384 (key_id + key_version) CKM_ECDSA_SHA384");
    ar_sign_checked(sess, "k256", k256, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, sizeof(msg),
                    "secp256k1 CKM_ECDSA_SHA256");
    ar_sign_checked(sess, "pkcs1", pkcs1, CKM_SHA256_RSA_PKCS, EVP_sha256(), 0, msg, sizeof(msg),
                    "RSA_SIGN_PKCS1_2048_SHA256 CKM_SHA256_RSA_PKCS");
    memcpy(di, di_sha256, sizeof(di_sha256));
    memcpy(di + sizeof(di_sha256), digest, 32);
    len = sizeof(sig);
    is_rv(ar_sign(sess, &pkcs, asym_find(sess, CKO_PRIVATE_KEY, "pkcs1"), di,
                  sizeof(di_sha256) + 32, sig, &len),
          CKR_OK, "CKM_RSA_PKCS of a SHA-256 DigestInfo");
    ok(len == 256 && ar_openssl_ok(pkcs1, EVP_sha256(), 0, digest, sig, len),
       "  ...OpenSSL verifies it");
    ar_sign_checked(sess, "pss", pss, CKM_SHA256_RSA_PKCS_PSS, EVP_sha256(), 1, msg, sizeof(msg),
                    "RSA_SIGN_PSS_2048_SHA256 CKM_SHA256_RSA_PKCS_PSS (salt 32)");
    is_num(ctl_count("AsymmetricSign") - signs, 7, "one asymmetricSign per signature");
}

/* A mechanism the version's algorithm does not do: refused before asymmetricSign. */
static void test_algorithm_refusals(void)
{
    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32},
                           pp384 = {CKM_SHA384, CKG_MGF1_SHA384, 48};
    CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)},
                 pss384 = {CKM_SHA384_RSA_PKCS_PSS, &pp384, sizeof(pp384)},
                 sha384 = {CKM_SHA384_RSA_PKCS, NULL, 0}, pkcs = {CKM_SHA256_RSA_PKCS, NULL, 0};
    uint8_t sig[512];
    CK_ULONG len = sizeof(sig);
    long signs = ctl_count("AsymmetricSign");

    is_rv(
        ar_sign(sess, &pss, asym_find(sess, CKO_PRIVATE_KEY, "pkcs1"), msg, sizeof(msg), sig, &len),
        CKR_KEY_FUNCTION_NOT_PERMITTED, "PSS with a RSA_SIGN_PKCS1_2048_SHA256 version: refused");
    len = sizeof(sig);
    is_rv(ar_sign(sess, &sha384, asym_find(sess, CKO_PRIVATE_KEY, "pkcs1"), msg, sizeof(msg), sig,
                  &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "PKCS#1 v1.5 with SHA-384 on a SHA-256 version: refused");
    len = sizeof(sig);
    is_rv(
        ar_sign(sess, &pkcs, asym_find(sess, CKO_PRIVATE_KEY, "pss"), msg, sizeof(msg), sig, &len),
        CKR_KEY_FUNCTION_NOT_PERMITTED, "PKCS#1 v1.5 with a RSA_SIGN_PSS version: refused");
    len = sizeof(sig);
    is_rv(ar_sign(sess, &pss384, asym_find(sess, CKO_PRIVATE_KEY, "pss"), msg, sizeof(msg), sig,
                  &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "PSS SHA-384 with a PSS SHA-256 version: refused");
    len = sizeof(sig);
    is_rv(ar_sign(sess, &pkcs, asym_find(sess, CKO_PRIVATE_KEY, "wrong-type"), msg, sizeof(msg),
                  sig, &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an RSA_SIGN_PKCS1_2048 version configured as rsa-3072: refused");
    is_num(ctl_count("AsymmetricSign") - signs, 0, "  ...none of them reached asymmetricSign");
}

static void test_decrypt(EVP_PKEY *oaep, EVP_PKEY *oaep1)
{
    CK_RSA_PKCS_OAEP_PARAMS op = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0},
                            op256 = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_MECHANISM sha1 = {CKM_RSA_PKCS_OAEP, &op, sizeof(op)},
                 sha256 = {CKM_RSA_PKCS_OAEP, &op256, sizeof(op256)};
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(oaep1, NULL);
    uint8_t ct[256], pt[256], secret[20] = "a SHA-1 OAEP secret";
    size_t ct_len = sizeof(ct);
    CK_ULONG len = sizeof(pt);
    long decs;

    ar_oaep(sess, "oaep", oaep);
    ok(ctx != NULL && EVP_PKEY_encrypt_init(ctx) == 1 &&
           EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) == 1 &&
           EVP_PKEY_encrypt(ctx, ct, &ct_len, secret, sizeof(secret)) == 1,
       "OpenSSL encrypts to the RSA_DECRYPT_OAEP_2048_SHA1 version (OAEP SHA-1)");
    EVP_PKEY_CTX_free(ctx);
    is_rv(
        p11_crypt(sess, 0, &sha1, asym_find(sess, CKO_PRIVATE_KEY, "oaep1"), ct, ct_len, pt, &len),
        CKR_OK, "  ...C_Decrypt CKM_RSA_PKCS_OAEP with SHA-1 in Cloud KMS");
    ok(len == sizeof(secret) && memcmp(pt, secret, len) == 0, "  ...the plaintext");
    decs = ctl_count("AsymmetricDecrypt");
    len = sizeof(pt);
    is_rv(p11_crypt(sess, 0, &sha256, asym_find(sess, CKO_PRIVATE_KEY, "oaep1"), ct, ct_len, pt,
                    &len),
          CKR_MECHANISM_PARAM_INVALID, "OAEP SHA-256 parameters for a SHA-1 version: refused");
    len = sizeof(pt);
    is_rv(p11_crypt(sess, 0, &sha1, asym_find(sess, CKO_PRIVATE_KEY, "oaep"), ct, ct_len, pt, &len),
          CKR_MECHANISM_PARAM_INVALID, "OAEP SHA-1 parameters for a SHA-256 version: refused");
    len = sizeof(pt);
    is_rv(p11_crypt(sess, 0, &sha256, asym_find(sess, CKO_PRIVATE_KEY, "sign-decrypt"), ct, ct_len,
                    pt, &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a signing version given the decrypt permission does not decrypt");
    is_num(ctl_count("AsymmetricDecrypt") - decs, 0, "  ...none of them reached asymmetricDecrypt");
    memset(ct, 0x11, sizeof(ct));
    len = sizeof(pt);
    is_rv(p11_crypt(sess, 0, &sha256, asym_find(sess, CKO_PRIVATE_KEY, "oaep"), ct, 256, pt, &len),
          CKR_ENCRYPTED_DATA_INVALID,
          "a ciphertext that does not open: CKR_ENCRYPTED_DATA_INVALID");
}

/* CRC32C failures: the answer is dropped and asked for again. */
static void test_integrity(EVP_PKEY *ec, EVP_PKEY *oaep)
{
    long signs = ctl_count("AsymmetricSign"), decs;

    ctl_fault("AsymmetricSign", "crc_mismatch", 1, NULL);
    ok(ar_sign_checked(sess, "ec", ec, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, sizeof(msg),
                       "a signature whose signatureCrc32c is wrong"),
       "  ...is dropped; the next answer's signature verifies");
    is_num(ctl_count("AsymmetricSign") - signs, 2, "  ...two asymmetricSign calls");
    signs = ctl_count("AsymmetricSign");
    ctl_fault("AsymmetricSign", "unverified", 1, NULL);
    ar_sign_checked(sess, "ec", ec, CKM_ECDSA_SHA256, EVP_sha256(), 0, msg, sizeof(msg),
                    "an answer without verifiedDigestCrc32c");
    is_num(ctl_count("AsymmetricSign") - signs, 2, "  ...asked again");
    decs = ctl_count("AsymmetricDecrypt");
    ctl_fault("AsymmetricDecrypt", "crc_mismatch", 1, NULL);
    ar_oaep(sess, "oaep", oaep);
    is_num(ctl_count("AsymmetricDecrypt") - decs, 3,
           "a plaintext whose CRC32C is wrong is asked for again (2 decryptions, 3 calls)");
    ctl_clear_faults();
}

static void test_iam(void)
{
    CK_MECHANISM sha = {CKM_ECDSA_SHA256, NULL, 0};
    uint8_t sig[200];
    CK_ULONG len = sizeof(sig);
    char body[512];
    long signs;

    snprintf(body, sizeof(body),
             "{\"resource\": \"%s/cryptoKeys/p11kms-sign-p256\", \"member\": "
             "\"serviceAccount:p11kms-encrypter@p11kms-test.iam.gserviceaccount.com\", "
             "\"roles\": [\"roles/cloudkms.publicKeyViewer\"]}",
             ring);
    ctl_do("POST", "/iam", body);
    signs = ctl_count("AsymmetricSign");
    is_rv(ar_sign(sess, &sha, asym_find(sess, CKO_PRIVATE_KEY, "denied"), msg, sizeof(msg), sig,
                  &len),
          CKR_KEY_FUNCTION_NOT_PERMITTED,
          "an identity that may read the public key but not sign: refused (PERMISSION_DENIED)");
    is_num(ctl_count("AsymmetricSign") - signs, 1, "  ...asked once: a 403 is not retried");
}

int main(void)
{
    const char *dir = getenv("P11KMS_TEST_PUBDIR");
    EVP_PKEY *ec, *ec384, *k256, *pkcs1, *pss, *oaep, *oaep1;

    ring = getenv("P11KMS_GCP_KEY_RING");
    if (getenv("P11KMS_GCP_CONTROL") == NULL || dir == NULL || ring == NULL) {
        printf("1..0 # SKIP run through test-gcp-asym.sh (needs the GCP test server)\n");
        return 0;
    }
    test_start();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(msg, 'g', sizeof(msg));
    ec = ar_public(dir, "p11kms-sign-p256");
    ec384 = ar_public(dir, "p11kms-sign-p384");
    k256 = ar_public(dir, "p11kms-sign-k256");
    pkcs1 = ar_public(dir, "p11kms-sign-rsa2048");
    pss = ar_public(dir, "p11kms-sign-pss2048");
    oaep = ar_public(dir, "p11kms-decrypt-rsa2048");
    oaep1 = ar_public(dir, "p11kms-decrypt-rsa2048-sha1");
    p11_load();
    pubs_before = ctl_count("GetPublicKey");
    signs_before = ctl_count("AsymmetricSign");
    is_rv(p11_init_config(write_config()), CKR_OK, "C_Initialize with asymmetric Cloud KMS keys");
    sess = p11_open(0);
    test_objects(ec, pkcs1, oaep);
    test_sign(ec, ec384, k256, pkcs1, pss);
    test_algorithm_refusals();
    test_decrypt(oaep, oaep1);
    test_integrity(ec, oaep);
    test_iam();
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    dlclose(p11_dl);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(k256);
    EVP_PKEY_free(pkcs1);
    EVP_PKEY_free(pss);
    EVP_PKEY_free(oaep);
    EVP_PKEY_free(oaep1);
    ctl_close();
    curl_global_cleanup();
    return test_exit_code();
}
