/* seed-envelope.c - the first wrapped key of the pkcs11-tool test: imports a known 32-byte
 * value as a data key and wraps it with CKM_AES_KEY_WRAP_PAD under a KMS key of the module.
 *
 * pkcs11-tool finds its keys when it starts and the module keeps data keys only in the process
 * that made them, so pkcs11-tool can wrap only a key it unwrapped in the same run: this program
 * gives it that first envelope. Usage: seed-envelope MODULE TOKEN KEY-LABEL VALUE-FILE OUT-FILE */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11/p11kms.h"

static CK_FUNCTION_LIST_PTR p11;

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "seed-envelope: %s: rv 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

static int token_slot(const char *label, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64, i;
    CK_TOKEN_INFO ti;
    size_t len = strlen(label);

    if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK || len > sizeof(ti.label))
        return -1;
    for (i = 0; i < n; i++) {
        if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            return -1;
        if (memcmp(ti.label, label, len) == 0 &&
            (len == sizeof(ti.label) || ti.label[len] == ' ')) {
            *slot = slots[i];
            return 0;
        }
    }
    return -1;
}

static CK_RV find_key(CK_SESSION_HANDLE s, const char *label, CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_ULONG n = 0;
    CK_RV rv;

    if ((rv = p11->C_FindObjectsInit(s, t, 2)) != CKR_OK)
        return rv;
    rv = p11->C_FindObjects(s, h, 1, &n);
    p11->C_FindObjectsFinal(s);
    return rv == CKR_OK && n != 1 ? CKR_KEY_HANDLE_INVALID : rv;
}

int main(int argc, char **argv)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    unsigned char value[32], wrapped[4096];
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},    {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_TOKEN, &no, sizeof(no)},      {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_VALUE, value, sizeof(value)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_C_GetFunctionList get;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE kek, dk;
    CK_ULONG wlen = sizeof(wrapped);
    CK_SLOT_ID slot;
    CK_RV rv;
    FILE *f;
    void *lib;

    if (argc != 6) {
        fprintf(stderr, "usage: seed-envelope MODULE TOKEN KEY-LABEL VALUE-FILE OUT-FILE\n");
        return 2;
    }
    f = fopen(argv[4], "rb");
    if (f == NULL || fread(value, 1, sizeof(value), f) != sizeof(value) || fgetc(f) != EOF) {
        fprintf(stderr, "seed-envelope: %s must hold exactly 32 bytes\n", argv[4]);
        return 1;
    }
    fclose(f);
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    get = lib != NULL ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    if (get == NULL || get(&p11) != CKR_OK) {
        fprintf(stderr, "seed-envelope: cannot load %s\n", argv[1]);
        return 1;
    }
    if ((rv = p11->C_Initialize(NULL)) != CKR_OK)
        return fail("C_Initialize", rv);
    if (token_slot(argv[2], &slot) != 0) {
        fprintf(stderr, "seed-envelope: no token %s\n", argv[2]);
        return 1;
    }
    if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) !=
        CKR_OK)
        return fail("C_OpenSession", rv);
    if ((rv = find_key(s, argv[3], &kek)) != CKR_OK)
        return fail("finding the KMS key", rv);
    if ((rv = p11->C_CreateObject(s, t, sizeof(t) / sizeof(t[0]), &dk)) != CKR_OK)
        return fail("C_CreateObject", rv);
    if ((rv = p11->C_WrapKey(s, &m, kek, dk, wrapped, &wlen)) != CKR_OK)
        return fail("C_WrapKey", rv);
    f = fopen(argv[5], "wb");
    if (f == NULL || fwrite(wrapped, 1, wlen, f) != wlen || fclose(f) != 0) {
        fprintf(stderr, "seed-envelope: cannot write %s\n", argv[5]);
        return 1;
    }
    p11->C_CloseSession(s);
    p11->C_Finalize(NULL);
    return 0;
}
