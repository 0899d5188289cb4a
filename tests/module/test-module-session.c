/* test-module-session.c - what sessions share and what they do not: session objects belong to
 * the application (every session sees them, closing their session destroys them), private
 * objects need the login, and the wrong-PIN count with its token flags and lockout. */
#include "tests/module/p11.h"

static CK_ULONG token_flags(CK_SLOT_ID slot)
{
    CK_TOKEN_INFO ti;

    if (p11->C_GetTokenInfo(slot, &ti) != CKR_OK)
        return 0;
    return ti.flags;
}

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

static void test_pin_count(void)
{
    CK_SESSION_HANDLE s = p11_open(1);
    CK_ULONG f;

    f = token_flags(1);
    ok(!(f & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)),
       "no PIN flags before a wrong PIN");
    is_rv(login(s, "0000"), CKR_PIN_INCORRECT, "wrong PIN");
    f = token_flags(1);
    ok(f & CKF_USER_PIN_COUNT_LOW, "CKF_USER_PIN_COUNT_LOW after a wrong PIN");
    ok(!(f & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)),
       "no final try or lock without pin_max_attempts");
    is_rv(login(s, "0000"), CKR_PIN_INCORRECT, "wrong again");
    is_rv(login(s, "0000"), CKR_PIN_INCORRECT, "and again: no lockout configured");
    is_rv(login(s, "1234"), CKR_OK, "the right PIN still works");
    ok(!(token_flags(1) & CKF_USER_PIN_COUNT_LOW), "a right login resets the count");
    p11->C_Logout(s);
    p11->C_CloseSession(s);
}

/* Token 2 has "pin_max_attempts": 3. */
static void test_pin_lockout(void)
{
    CK_SESSION_HANDLE s = p11_open(2), other;
    CK_ULONG f;

    is_rv(login(s, "bad"), CKR_PIN_INCORRECT, "wrong PIN 1 of 3");
    f = token_flags(2);
    ok((f & CKF_USER_PIN_COUNT_LOW) && !(f & CKF_USER_PIN_FINAL_TRY), "count low, two left");
    is_rv(login(s, "5678"), CKR_OK, "the right PIN");
    ok(!(token_flags(2) & CKF_USER_PIN_COUNT_LOW), "resets the count");
    p11->C_Logout(s);
    is_rv(login(s, "bad"), CKR_PIN_INCORRECT, "wrong PIN 1 of 3 again");
    is_rv(login(s, "bad"), CKR_PIN_INCORRECT, "wrong PIN 2 of 3");
    f = token_flags(2);
    ok((f & CKF_USER_PIN_FINAL_TRY) && !(f & CKF_USER_PIN_LOCKED),
       "CKF_USER_PIN_FINAL_TRY when one attempt is left");
    is_rv(login(s, "bad"), CKR_PIN_INCORRECT, "wrong PIN 3 of 3");
    f = token_flags(2);
    ok(f & CKF_USER_PIN_LOCKED, "CKF_USER_PIN_LOCKED");
    ok(!(f & CKF_USER_PIN_FINAL_TRY), "  ...and no longer the final try");
    is_rv(login(s, "5678"), CKR_PIN_LOCKED, "even the right PIN is refused now");
    other = p11_open(2);
    is_rv(login(other, "5678"), CKR_PIN_LOCKED, "from any session");
    is_num(p11_count(other), 0, "its private keys stay hidden");
    p11->C_CloseSession(other);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

int main(void)
{
    const char *conf =
        "{\"tokens\": [\n"
        " {\"label\": \"open\", \"keys\": [{\"label\": \"open\", \"backend\": \"local\", "
        "\"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"pin\", \"pin\": \"1234\", \"keys\": [{\"label\": \"k1\", "
        "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]},\n"
        " {\"label\": \"lockout\", \"pin\": \"5678\", \"pin_max_attempts\": 3, \"keys\": "
        "[{\"label\": \"k2\", \"backend\": \"local\", \"key_id\": \"insecure-test-key\"}]}]}\n";
    const char *bad = "{\"tokens\": [{\"label\": \"x\", \"pin_max_attempts\": 3}]}\n";
    const char *zero =
        "{\"tokens\": [{\"label\": \"x\", \"pin\": \"1\", \"pin_max_attempts\": 0}]}\n";

    test_start();
    p11_load();
    is_rv(p11_init_config(p11_write("bad.conf", bad, 0600)), CKR_ARGUMENTS_BAD,
          "pin_max_attempts without a pin refused");
    is_rv(p11_init_config(p11_write("zero.conf", zero, 0600)), CKR_ARGUMENTS_BAD,
          "pin_max_attempts 0 refused");
    is_rv(p11_init_config(p11_write("p11kms.conf", conf, 0600)), CKR_OK, "C_Initialize");
    test_shared_session_objects();
    test_private_session_objects();
    test_pin_count();
    test_pin_lockout();
    /* The count lives in memory: a new C_Initialize starts again. */
    is_rv(p11_init_config(p11_write("p11kms.conf", conf, 0600)), CKR_OK, "C_Initialize again");
    ok(!(token_flags(2) & CKF_USER_PIN_LOCKED), "the count starts at zero (no state at rest)");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
