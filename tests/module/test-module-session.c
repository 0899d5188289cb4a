/* test-module-session.c - what sessions share and what they do not: session objects belong to
 * the application (every session sees them, closing their session destroys them), and private
 * objects need the login. */
#include "tests/module/p11.h"

static CK_RV login(CK_SESSION_HANDLE s, const char *pin)
{
    return p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
}

/* One GCM round trip with key k: encrypt in session `e`, decrypt in session `d`. */
static int gcm_across(CK_SESSION_HANDLE e, CK_SESSION_HANDLE d, CK_OBJECT_HANDLE k)
{
    uint8_t iv[12] = {1, 2, 3}, ct[64], pt[64];
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_ULONG ctlen = sizeof(ct), ptlen = sizeof(pt);

    return p11->C_EncryptInit(e, &m, k) == CKR_OK &&
           p11->C_Encrypt(e, (CK_BYTE_PTR) "across sessions", 15, ct, &ctlen) == CKR_OK &&
           p11->C_DecryptInit(d, &m, k) == CKR_OK &&
           p11->C_Decrypt(d, ct, ctlen, pt, &ptlen) == CKR_OK && ptlen == 15 &&
           memcmp(pt, "across sessions", 15) == 0;
}

/* Java SunPKCS11 and others make a key in one session and use it in another. */
static void test_shared_session_objects(void)
{
    CK_SESSION_HANDLE a = p11_open(0), b = p11_open(0), ro = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE k = p11_data_key(a, 32), kms = p11_find_label(a, "open");
    CK_ATTRIBUTE label = {CKA_LABEL, (void *)"made-in-a", 9};
    CK_MECHANISM env = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t blob[4096];
    CK_ULONG len = sizeof(blob);

    ok(k != CK_INVALID_HANDLE && kms != CK_INVALID_HANDLE, "session key made in session a");
    is_rv(p11->C_SetAttributeValue(a, k, &label, 1), CKR_OK, "labelled in a");
    is_num(p11_find_label(b, "made-in-a"), k, "session b finds it");
    ok(gcm_across(b, a, k), "b encrypts with it, a decrypts");
    is_rv(p11->C_WrapKey(b, &env, kms, k, blob, &len), CKR_OK, "b wraps it");
    is_rv(p11->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK,
          "a read-only session");
    ok(gcm_across(ro, ro, k), "a read-only session uses it too");
    is_rv(p11->C_DestroyObject(ro, k), CKR_OK,
          "and may destroy it (a session object, not a token object)");
    is_rv(p11->C_GetAttributeValue(a, k, &label, 1), CKR_OBJECT_HANDLE_INVALID,
          "gone for a, its creator, too");

    k = p11_data_key(a, 16);
    is_rv(p11->C_SetAttributeValue(a, k, &label, 1), CKR_OK, "another session key in a");
    is_rv(p11->C_CloseSession(a), CKR_OK, "a closes");
    is_rv(p11->C_GetAttributeValue(b, k, &label, 1), CKR_OBJECT_HANDLE_INVALID,
          "closing a destroyed its session objects: b's handle is dead");
    is_num(p11_find_label(b, "made-in-a"), CK_INVALID_HANDLE, "and b does not find it");
    p11->C_CloseSession(b);
    p11->C_CloseSession(ro);
}

/* Private session objects follow the login, whichever session made them. */
static void test_private_session_objects(void)
{
    CK_SESSION_HANDLE a = p11_open(1), b = p11_open(1);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG vlen = 32;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},         {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &vlen, sizeof(vlen)},   {CKA_PRIVATE, &p11_true, sizeof(CK_BBOOL)},
        {CKA_LABEL, (void *)"private-one", 11},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
    CK_ATTRIBUTE lab = {CKA_LABEL, NULL, 0};

    is_rv(login(a, "1234"), CKR_OK, "login on the token with a PIN");
    is_rv(p11->C_GenerateKey(a, &gen, t, 5, &k), CKR_OK, "a private session key in a");
    is_num(p11_find_label(b, "private-one"), k, "b sees it while the user is logged in");
    is_rv(p11->C_Logout(b), CKR_OK, "logout (from b)");
    is_num(p11_find_label(b, "private-one"), CK_INVALID_HANDLE, "then b does not find it");
    is_rv(p11->C_GetAttributeValue(a, k, &lab, 1), CKR_OBJECT_HANDLE_INVALID,
          "nor can a use its handle");
    p11->C_CloseSession(a);
    p11->C_CloseSession(b);
}

int main(void)
{
    const char *conf =
        "{\"tokens\": [\n"
        " {\"label\": \"open\", \"keys\": [{\"label\": \"open\", \"backend\": \"local\", "
        "\"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"pin\", \"pin\": \"1234\", \"keys\": [{\"label\": \"k1\", "
        "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n";

    test_start();
    p11_load();
    is_rv(p11_init_config(p11_write("p11kms.conf", conf, 0600)), CKR_OK, "C_Initialize");
    test_shared_session_objects();
    test_private_session_objects();
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        dlclose(p11_dl);
    return test_exit_code();
}
