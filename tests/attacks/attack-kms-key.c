/* attack-kms-key.c - a KMS key object is a handle to a key that never leaves the KMS: its value
 * cannot be read, and no call can make it readable, copy it or turn it into something weaker. */
#include "tests/attacks/attack.h"

static void try_read(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    uint8_t v[64];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};

    is_rv(p11->C_GetAttributeValue(s, kms, &a, 1), CKR_ATTRIBUTE_SENSITIVE,
          "CKA_VALUE of a KMS key is sensitive");
    ok(a.ulValueLen == CK_UNAVAILABLE_INFORMATION, "  ...and no length is given out");
}

static void try_set(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    CK_ATTRIBUTE flip[] = {
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},
        {CKA_DECRYPT, &p11_true, sizeof(CK_BBOOL)},
        {CKA_UNWRAP, &p11_true, sizeof(CK_BBOOL)},
    };
    static const char *const what[] = {
        "C_SetAttributeValue CKA_SENSITIVE=false on a KMS key refused",
        "C_SetAttributeValue CKA_EXTRACTABLE=true on a KMS key refused",
        "C_SetAttributeValue CKA_DECRYPT=true on a wrap-only KMS key refused",
        "C_SetAttributeValue CKA_UNWRAP=true on a wrap-only KMS key refused",
    };
    size_t i;

    for (i = 0; i < sizeof(flip) / sizeof(flip[0]); i++)
        ok(p11->C_SetAttributeValue(s, kms, &flip[i], 1) != CKR_OK, what[i]);
}

static void try_copy(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    CK_ATTRIBUTE weaker[] = {
        {CKA_SENSITIVE, &p11_false, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &p11_true, sizeof(CK_BBOOL)},
    };
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;

    ok(p11->C_CopyObject(s, kms, NULL, 0, &copy) != CKR_OK, "C_CopyObject of a KMS key refused");
    ok(p11->C_CopyObject(s, kms, weaker, 2, &copy) != CKR_OK,
       "C_CopyObject of a KMS key into a readable one refused");
    ok(copy == CK_INVALID_HANDLE, "  ...and no object was made");
}

static void try_wrap_itself(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, NULL, 0};
    uint8_t out[8192];
    CK_ULONG len = sizeof(out);

    ok(p11->C_WrapKey(s, &m, kms, kms, out, &len) != CKR_OK,
       "C_WrapKey of a KMS key (by itself) refused");
    ok(p11->C_DestroyObject(s, kms) != CKR_OK, "C_DestroyObject of a KMS key refused");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE kms, wrap_only;

    test_start();
    p11_load();
    is_rv(attack_init(NULL, NULL), CKR_OK, "C_Initialize");
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
    wrap_only = p11_find_label(s, "kms-wrap");
    ok(kms != CK_INVALID_HANDLE && wrap_only != CK_INVALID_HANDLE, "the KMS keys are there");
    try_read(s, kms);
    try_set(s, wrap_only);
    try_copy(s, kms);
    try_wrap_itself(s, kms);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
