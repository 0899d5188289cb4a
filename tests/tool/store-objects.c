/* store-objects.c - a helper for the store tests: token objects made through the module as an
 * application would make them, and a stored key used. P11KMS_CONFIG names the configuration.
 *   store-objects MODULE TOKEN create N      N token keys obj-0 .. obj-N-1 (AES-256, sensitive)
 *   store-objects MODULE TOKEN gcm LABEL     AES-GCM of a fixed block with the key LABEL, in hex
 * Exit status 0 on success, 1 with a line on stderr otherwise. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pkcs11/p11kms.h"

static CK_FUNCTION_LIST_PTR f;

static int fail(const char *what, CK_RV rv)
{
    fprintf(stderr, "store-objects: %s: 0x%lx\n", what, (unsigned long)rv);
    return 1;
}

static CK_SESSION_HANDLE open_token(const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64, i;
    CK_TOKEN_INFO ti;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;

    if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
        return CK_INVALID_HANDLE;
    for (i = 0; i < n; i++)
        if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
            strncmp((char *)ti.label, label, strlen(label)) == 0 &&
            (strlen(label) == 32 || ti.label[strlen(label)] == ' '))
            f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
    return s;
}

static int create(CK_SESSION_HANDLE s, long n)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE;
    char label[32];
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &yes, 1},
                        {CKA_SENSITIVE, &yes, 1},           {CKA_LABEL, label, 0}};
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_RV rv;
    long i;

    for (i = 0; i < n; i++) {
        t[5].ulValueLen = (CK_ULONG)snprintf(label, sizeof(label), "obj-%ld", i);
        rv = f->C_GenerateKey(s, &m, t, 6, &h);
        if (rv != CKR_OK)
            return fail("C_GenerateKey", rv);
    }
    return 0;
}

static int gcm(CK_SESSION_HANDLE s, const char *label)
{
    CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)};
    uint8_t iv[12] = {0}, pt[16] = "p11kms-store-t.", ct[64];
    CK_GCM_PARAMS gp = {iv, sizeof(iv), 96, NULL, 0, 128};
    CK_MECHANISM m = {CKM_AES_GCM, &gp, sizeof(gp)};
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0, i, ctl = sizeof(ct);
    CK_RV rv;

    if ((rv = f->C_FindObjectsInit(s, &t, 1)) != CKR_OK ||
        (rv = f->C_FindObjects(s, &h, 1, &n)) != CKR_OK || n != 1)
        return fail("no such key", rv);
    f->C_FindObjectsFinal(s);
    if ((rv = f->C_EncryptInit(s, &m, h)) != CKR_OK ||
        (rv = f->C_Encrypt(s, pt, sizeof(pt), ct, &ctl)) != CKR_OK)
        return fail("C_Encrypt", rv);
    for (i = 0; i < ctl; i++)
        printf("%02x", ct[i]);
    printf("\n");
    return 0;
}

int main(int argc, char **argv)
{
    void *dl;
    CK_C_GetFunctionList gfl;
    CK_SESSION_HANDLE s;
    int ret;

    if (argc != 5 || (strcmp(argv[3], "create") != 0 && strcmp(argv[3], "gcm") != 0)) {
        fprintf(stderr, "usage: store-objects MODULE TOKEN create N | gcm LABEL\n");
        return 2;
    }
    dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    gfl = dl != NULL ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
    if (gfl == NULL || gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK) {
        fprintf(stderr, "store-objects: cannot load and initialise %s\n", argv[1]);
        return 1;
    }
    s = open_token(argv[2]);
    if (s == CK_INVALID_HANDLE) {
        fprintf(stderr, "store-objects: no token %s\n", argv[2]);
        return 1;
    }
    ret = strcmp(argv[3], "create") == 0 ? create(s, strtol(argv[4], NULL, 10)) : gcm(s, argv[4]);
    f->C_Finalize(NULL);
    return ret;
}
