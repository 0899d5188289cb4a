/* test-module-basic.c - the module through its function lists: interfaces, initialisation,
 * slots and tokens, sessions, objects and attributes, data keys, random, unsupported calls. */
#include "tests/module/p11.h"

static void test_interfaces(void)
{
    CK_INTERFACE list[4];
    CK_ULONG n = 0;
    CK_INTERFACE_PTR iface = NULL;
    CK_VERSION v240 = {2, 40}, v30 = {3, 0}, v99 = {9, 9};

    is_rv(p11v3->C_GetInterfaceList(NULL, &n), CKR_OK, "C_GetInterfaceList length query");
    is_num(n, 2, "two interfaces: 3.0 and 2.40");
    n = 1;
    is_rv(p11v3->C_GetInterfaceList(list, &n), CKR_BUFFER_TOO_SMALL, "short interface list");
    is_num(n, 2, "short list reports the length");
    n = 4;
    is_rv(p11v3->C_GetInterfaceList(list, &n), CKR_OK, "C_GetInterfaceList");
    ok(strcmp((char *)list[0].pInterfaceName, "PKCS 11") == 0, "interface name is \"PKCS 11\"");
    is_rv(p11v3->C_GetInterface(NULL, NULL, &iface, 0), CKR_OK, "default interface");
    is_num(((CK_VERSION *)iface->pFunctionList)->major, 3, "default interface is 3.0");
    is_rv(p11v3->C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &iface, 0), CKR_OK,
          "2.40 interface on request");
    ok(iface->pFunctionList == (void *)p11, "2.40 interface is C_GetFunctionList's list");
    is_rv(p11v3->C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &iface, 0), CKR_OK,
          "3.0 interface by version");
    is_rv(p11v3->C_GetInterface((CK_UTF8CHAR_PTR) "PKCS 11", &v99, &iface, 0), CKR_ARGUMENTS_BAD,
          "unknown version refused");
    is_rv(p11v3->C_GetInterface((CK_UTF8CHAR_PTR) "Vendor X", NULL, &iface, 0), CKR_ARGUMENTS_BAD,
          "unknown interface name refused");
    is_rv(p11v3->C_GetInterface(NULL, NULL, &iface, CKF_INTERFACE_FORK_SAFE), CKR_ARGUMENTS_BAD,
          "fork-safe interface not offered");
    is_num(p11->version.major, 2, "C_GetFunctionList gives 2.40");
    is_num(p11->version.minor, 40, "C_GetFunctionList gives 2.40 (minor)");
}

static CK_RV bad_create(CK_VOID_PTR_PTR m)
{
    return CKR_OK;
}

static void test_initialize(void)
{
    CK_INFO info;
    CK_C_INITIALIZE_ARGS half = {bad_create, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
    CK_ULONG n = 99;

    p11_clean_env();
    is_rv(p11->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo before C_Initialize");
    is_rv(p11->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize before C_Initialize");
    is_rv(p11->C_Initialize(&half), CKR_ARGUMENTS_BAD, "one mutex callback of four refused");
    setenv("P11KMS_CONFIG", "/nonexistent/p11kms.conf", 1);
    is_rv(p11->C_Initialize(NULL), CKR_ARGUMENTS_BAD, "missing explicit config refused");
    unsetenv("P11KMS_CONFIG");
    /* No configuration at all: loads, with no tokens. */
    is_rv(p11->C_Initialize(NULL), CKR_OK, "C_Initialize without any configuration");
    is_rv(p11->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED, "second C_Initialize");
    is_rv(p11->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK, "slot count without config");
    is_num(n, 0, "no configuration, no slots");
    is_rv(p11->C_GetInfo(&info), CKR_OK, "C_GetInfo");
    is_num(info.cryptokiVersion.major, 2, "2.40 list reports 2.40");
    ok(memcmp(info.manufacturerID, "p11kms ", 7) == 0, "manufacturer is space padded");
    is_rv(p11v3->C_GetInfo(&info), CKR_OK, "C_GetInfo through 3.0");
    is_num(info.cryptokiVersion.major, 3, "3.0 list reports 3.0");
    is_rv(p11->C_Finalize((void *)1), CKR_ARGUMENTS_BAD, "C_Finalize with reserved pointer");
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

static void test_slots(void)
{
    CK_SLOT_ID slots[4];
    CK_ULONG n = 0;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_TYPE mechs[32];
    CK_MECHANISM_INFO mi;
    int found_env = 0, found_kwp = 0;
    CK_ULONG i;

    is_rv(p11_init_quick(), CKR_OK, "quick mode KMS_KEY_ID=insecure-test-key");
    is_rv(p11->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK, "slot count");
    is_num(n, 1, "quick mode: one slot");
    n = 0;
    is_rv(p11->C_GetSlotList(CK_TRUE, slots, &n), CKR_BUFFER_TOO_SMALL, "slot list too small");
    n = 4;
    is_rv(p11->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK, "slot list");
    is_rv(p11->C_GetSlotInfo(slots[0], &si), CKR_OK, "C_GetSlotInfo");
    ok(si.flags & CKF_TOKEN_PRESENT, "token present");
    is_rv(p11->C_GetSlotInfo(42, &si), CKR_SLOT_ID_INVALID, "bad slot id");
    is_rv(p11->C_GetTokenInfo(slots[0], &ti), CKR_OK, "C_GetTokenInfo");
    ok(memcmp(ti.label, "p11kms                          ", 32) == 0, "token label padded");
    ok(ti.flags & CKF_TOKEN_INITIALIZED, "token initialised");
    ok(!(ti.flags & CKF_LOGIN_REQUIRED), "no PIN configured: no login required");
    ok(ti.flags & CKF_RNG, "token has an RNG");
    n = 0;
    is_rv(p11->C_GetMechanismList(slots[0], NULL, &n), CKR_OK, "mechanism count");
    ok(n > 0 && n <= 32, "mechanism count sensible");
    is_rv(p11->C_GetMechanismList(slots[0], mechs, &n), CKR_OK, "mechanism list");
    for (i = 0; i < n; i++) {
        found_env |= mechs[i] == CKM_P11KMS_ENVELOPE;
        found_kwp |= mechs[i] == CKM_AES_KEY_WRAP_KWP;
    }
    ok(found_env && found_kwp, "vendor envelope and KWP offered");
    is_rv(p11->C_GetMechanismInfo(slots[0], CKM_P11KMS_ENVELOPE, &mi), CKR_OK, "mechanism info");
    ok((mi.flags & (CKF_WRAP | CKF_UNWRAP | CKF_ENCRYPT | CKF_DECRYPT)) ==
           (CKF_WRAP | CKF_UNWRAP | CKF_ENCRYPT | CKF_DECRYPT),
       "envelope wraps, unwraps, encrypts, decrypts");
    is_rv(p11->C_GetMechanismInfo(slots[0], CKM_ECDSA, &mi), CKR_OK, "ECDSA offered");
    ok((mi.flags & (CKF_SIGN | CKF_VERIFY)) == (CKF_SIGN | CKF_VERIFY) &&
           !(mi.flags & (CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)),
       "ECDSA signs and verifies, nothing else");
    is_rv(p11->C_GetMechanismInfo(slots[0], CKM_RSA_X_509, &mi), CKR_MECHANISM_INVALID,
          "raw RSA not offered");
    is_rv(p11->C_WaitForSlotEvent(0, slots, NULL), CKR_FUNCTION_NOT_SUPPORTED,
          "C_WaitForSlotEvent unsupported");
    is_rv(p11->C_InitToken(slots[0], NULL, 0, NULL), CKR_FUNCTION_NOT_SUPPORTED,
          "C_InitToken unsupported");
}

static void test_kms_key_attributes(CK_SESSION_HANDLE s)
{
    CK_OBJECT_HANDLE k = p11_find_label(s, "default");
    CK_OBJECT_CLASS cls = 0;
    CK_KEY_TYPE kt = 0;
    CK_BBOOL wrap = 0, unwrap = 0, extractable = 1, sensitive = 0;
    CK_ULONG len = 0, version = 0;
    char backend[16] = "", keyid[64] = "";
    uint8_t value[64], id[64];
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_WRAP, &wrap, 1},
        {CKA_UNWRAP, &unwrap, 1},
        {CKA_EXTRACTABLE, &extractable, 1},
        {CKA_SENSITIVE, &sensitive, 1},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_P11KMS_BACKEND, backend, sizeof(backend)},
        {CKA_P11KMS_KEY_ID, keyid, sizeof(keyid)},
        {CKA_P11KMS_KEY_VERSION, &version, sizeof(version)},
    };
    CK_ATTRIBUTE mixed[] = {
        {CKA_LABEL, NULL, 0},
        {CKA_VALUE, value, sizeof(value)},
        {0x7fff1234, value, sizeof(value)},
        {CKA_ID, id, 1},
    };

    ok(k != CK_INVALID_HANDLE, "KMS key object found by label");
    is_rv(p11->C_GetAttributeValue(s, k, t, 10), CKR_OK, "KMS key attributes");
    ok(cls == CKO_SECRET_KEY && kt == CKK_AES, "KMS key is an AES secret key");
    ok(wrap && unwrap, "quick-mode key wraps and unwraps");
    ok(!extractable && sensitive, "KMS key never extractable, sensitive");
    is_num(len, 32, "CKA_VALUE_LEN 32");
    ok(t[7].ulValueLen == 5 && memcmp(backend, "local", 5) == 0, "CKA_P11KMS_BACKEND local");
    ok(t[8].ulValueLen == 17 && memcmp(keyid, "insecure-test-key", 17) == 0,
       "CKA_P11KMS_KEY_ID names the key");
    is_num(version, 1, "built-in key is version 1");
    /* Precedence: sensitive beats invalid type beats too small; every entry is processed. */
    is_rv(p11->C_GetAttributeValue(s, k, mixed, 4), CKR_ATTRIBUTE_SENSITIVE,
          "sensitive reported first");
    is_num(mixed[0].ulValueLen, 7, "length query still answered");
    ok(mixed[1].ulValueLen == CK_UNAVAILABLE_INFORMATION, "CKA_VALUE unavailable");
    ok(mixed[2].ulValueLen == CK_UNAVAILABLE_INFORMATION, "unknown type unavailable");
    ok(mixed[3].ulValueLen == CK_UNAVAILABLE_INFORMATION, "short buffer unavailable");
    is_rv(p11->C_GetAttributeValue(s, k, mixed + 2, 2), CKR_ATTRIBUTE_TYPE_INVALID,
          "then invalid type");
    mixed[3].ulValueLen = 1;
    is_rv(p11->C_GetAttributeValue(s, k, mixed + 3, 1), CKR_BUFFER_TOO_SMALL,
          "then buffer too small");
    is_rv(p11->C_DestroyObject(s, k), CKR_ACTION_PROHIBITED, "KMS key cannot be destroyed");
    is_rv(p11->C_SetAttributeValue(s, k, t, 1), CKR_ACTION_PROHIBITED,
          "KMS key cannot be modified");
    is_rv(p11->C_GetAttributeValue(s, 999999, t, 1), CKR_OBJECT_HANDLE_INVALID,
          "unknown object handle");
}

static void test_data_keys(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
    CK_ULONG len17 = 17, len20 = 20, len32 = 32;
    uint8_t raw[32], value[64];
    CK_ULONG vlen = sizeof(value);
    CK_MECHANISM aeskg = {CKM_AES_KEY_GEN, NULL, 0}, genkg = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE no_len[] = {{CKA_CLASS, &cls, sizeof(cls)}};
    CK_ATTRIBUTE bad_len[] = {{CKA_VALUE_LEN, &len17, sizeof(len17)}};
    CK_ATTRIBUTE generic[] = {{CKA_VALUE_LEN, &len20, sizeof(len20)},
                              {CKA_SENSITIVE, &p11_false, 1}};
    CK_ATTRIBUTE create[] = {{CKA_CLASS, &cls, sizeof(cls)},
                             {CKA_KEY_TYPE, &aes, sizeof(aes)},
                             {CKA_VALUE, raw, sizeof(raw)},
                             {CKA_SENSITIVE, &p11_false, 1},
                             {CKA_LABEL, "imported", 8}};
    CK_ATTRIBUTE wrong_type[] = {{CKA_KEY_TYPE, &gen, sizeof(gen)},
                                 {CKA_VALUE_LEN, &len20, sizeof(len20)}};
    /* A generated key is local: saying so is harmless, saying otherwise is refused. */
    CK_ATTRIBUTE read_only[] = {{CKA_VALUE_LEN, &len32, sizeof(len32)}, {CKA_LOCAL, &p11_false, 1}};
    CK_ATTRIBUTE newlabel[] = {{CKA_LABEL, "renamed", 7}};
    CK_ATTRIBUTE unsens[] = {{CKA_SENSITIVE, &p11_false, 1}};
    CK_OBJECT_HANDLE h = 0, h2 = 0, copy = 0;
    CK_ULONG before = p11_count(s);

    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)i;
    is_rv(p11->C_GenerateKey(s, &aeskg, no_len, 1, &h), CKR_TEMPLATE_INCOMPLETE,
          "AES keygen needs CKA_VALUE_LEN");
    is_rv(p11->C_GenerateKey(s, &aeskg, bad_len, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID,
          "17-byte AES key refused");
    is_rv(p11->C_GenerateKey(s, &aeskg, wrong_type, 2, &h), CKR_TEMPLATE_INCONSISTENT,
          "key type against mechanism refused");
    is_rv(p11->C_GenerateKey(s, &aeskg, read_only, 2, &h), CKR_ATTRIBUTE_READ_ONLY,
          "CKA_LOCAL is read-only");
    is_rv(p11->C_GenerateKey(s, &genkg, generic, 2, &h), CKR_OK, "generic secret keygen");
    vlen = sizeof(value);
    ok(p11_value(s, h, value, &vlen) && vlen == 20, "20-byte generic secret readable");
    h = p11_data_key(s, 32);
    ok(h != CK_INVALID_HANDLE, "AES-256 keygen");
    is_num(p11_count(s), before + 2, "two more objects visible");
    is_rv(p11->C_CreateObject(s, create, 5, &h2), CKR_OK, "C_CreateObject AES key");
    vlen = sizeof(value);
    ok(p11_value(s, h2, value, &vlen) && vlen == 32 && memcmp(value, raw, 32) == 0,
       "imported value reads back");
    is_rv(p11->C_SetAttributeValue(s, h2, newlabel, 1), CKR_OK, "label can change");
    ok(p11_find_label(s, "renamed") == h2, "found under its new label");
    is_rv(p11->C_CopyObject(s, h2, NULL, 0, &copy), CKR_OK, "C_CopyObject");
    vlen = sizeof(value);
    ok(p11_value(s, copy, value, &vlen) && memcmp(value, raw, 32) == 0, "copy has the value");
    {
        CK_ATTRIBUTE sens[] = {{CKA_SENSITIVE, &p11_true, 1}};
        is_rv(p11->C_SetAttributeValue(s, h2, sens, 1), CKR_OK, "sensitive can be turned on");
        is_rv(p11->C_SetAttributeValue(s, h2, unsens, 1), CKR_ATTRIBUTE_READ_ONLY,
              "and never off again");
        vlen = sizeof(value);
        ok(!p11_value(s, h2, value, &vlen) && vlen == CK_UNAVAILABLE_INFORMATION,
           "sensitive value unreadable");
    }
    is_rv(p11->C_DestroyObject(s, h2), CKR_OK, "C_DestroyObject");
    is_rv(p11->C_DestroyObject(s, h2), CKR_OBJECT_HANDLE_INVALID, "destroyed handle is invalid");
}

static void test_sessions(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE a = p11_open(slot), b = p11_open(slot), ro = 0;
    CK_SESSION_INFO si;
    CK_OBJECT_HANDLE k;
    uint8_t rnd[64], zero[64] = {0};
    CK_TOKEN_INFO ti;

    is_rv(p11->C_OpenSession(slot, 0, NULL, NULL, &ro), CKR_SESSION_PARALLEL_NOT_SUPPORTED,
          "CKF_SERIAL_SESSION required");
    is_rv(p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK, "RO session");
    is_rv(p11->C_GetSessionInfo(ro, &si), CKR_OK, "C_GetSessionInfo");
    is_num(si.state, CKS_RO_PUBLIC_SESSION, "read-only public session");
    is_rv(p11->C_GetTokenInfo(slot, &ti), CKR_OK, "token info with sessions");
    is_num(ti.ulSessionCount, 3, "three sessions counted");
    is_num(ti.ulRwSessionCount, 2, "two read/write sessions counted");
    k = p11_data_key(a, 16);
    ok(k != CK_INVALID_HANDLE, "session object in a");
    {
        CK_ATTRIBUTE t[] = {{CKA_LABEL, NULL, 0}};
        is_rv(p11->C_GetAttributeValue(b, k, t, 1), CKR_OK,
              "session objects belong to the application: b sees a's");
    }
    is_rv(p11->C_GenerateRandom(a, rnd, sizeof(rnd)), CKR_OK, "C_GenerateRandom");
    ok(memcmp(rnd, zero, sizeof(rnd)) != 0, "random bytes are not all zero");
    is_rv(p11->C_SeedRandom(a, rnd, 8), CKR_RANDOM_SEED_NOT_SUPPORTED, "C_SeedRandom refused");
    is_rv(p11->C_SignInit(a, NULL, k), CKR_ARGUMENTS_BAD, "C_SignInit without a mechanism");
    {
        CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
        is_rv(p11->C_SignRecoverInit(a, &cmac, k), CKR_FUNCTION_NOT_SUPPORTED,
              "signing with recovery unsupported");
        is_rv(p11->C_VerifyRecoverInit(a, &cmac, k), CKR_FUNCTION_NOT_SUPPORTED,
              "verifying with recovery unsupported");
    }
    is_rv(p11->C_GetFunctionStatus(a), CKR_FUNCTION_NOT_PARALLEL, "legacy status call");
    is_rv(p11->C_CloseSession(a), CKR_OK, "C_CloseSession");
    is_rv(p11->C_CloseSession(a), CKR_SESSION_HANDLE_INVALID, "closed session is gone");
    is_rv(p11->C_CloseAllSessions(slot), CKR_OK, "C_CloseAllSessions");
    is_rv(p11->C_GetSessionInfo(b, &si), CKR_SESSION_HANDLE_INVALID, "all sessions closed");
    is_rv(p11->C_GetSessionInfo(0, &si), CKR_SESSION_HANDLE_INVALID, "handle 0 invalid");
    is_rv(p11->C_GetSessionInfo(ro, NULL), CKR_ARGUMENTS_BAD, "NULL info");
}

int main(void)
{
    CK_SESSION_HANDLE s;

    test_start();
    p11_load();
    test_interfaces();
    test_initialize();
    test_slots();
    s = p11_open(0);
    test_kms_key_attributes(s);
    test_data_keys(s);
    p11->C_CloseSession(s);
    test_sessions(0);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
