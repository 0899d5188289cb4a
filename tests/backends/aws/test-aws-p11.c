/* test-aws-p11.c - a small PKCS#11 client for the interop test: wraps a fresh data key (or
 * unwraps an envelope) with the configured "k" key and a context, through the function list.
 * Usage: test-aws-p11 wrap|unwrap FILE [k=v ...]; prints the data key's value in hex. */
#include "tests/module/p11.h"

#define MAX_PAIRS 8

static int run(int wrap, const char *path, int argc, char **argv)
{
    CK_P11KMS_CONTEXT_PAIR pairs[MAX_PAIRS];
    CK_P11KMS_ENVELOPE_PARAMS params;
    CK_MECHANISM m = {CKM_P11KMS_ENVELOPE, &params, sizeof(params)};
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE kms, dk = CK_INVALID_HANDLE;
    uint8_t env[8192], value[64];
    CK_ULONG len = sizeof(env), vlen = sizeof(value), i;
    CK_RV rv;
    FILE *f;
    P11_UNWRAP_TEMPLATE(t);

    if (argc > MAX_PAIRS)
        return 2;
    p11_context(&params, pairs, (const char *const *)argv, (CK_ULONG)argc);
    s = p11_open(0);
    kms = p11_find_label(s, "k");
    if (wrap) {
        dk = p11_data_key(s, 32);
        rv = p11->C_WrapKey(s, &m, kms, dk, env, &len);
        if (rv == CKR_OK) {
            f = fopen(path, "wb");
            if (f == NULL || fwrite(env, 1, len, f) != len || fclose(f) != 0)
                return 3;
        }
    } else {
        f = fopen(path, "rb");
        if (f == NULL)
            return 3;
        len = (CK_ULONG)fread(env, 1, sizeof(env), f);
        fclose(f);
        rv = p11->C_UnwrapKey(s, &m, kms, env, len, t, 4, &dk);
    }
    if (rv != CKR_OK) {
        printf("0x%lx\n", (unsigned long)rv);
        return 1;
    }
    if (!p11_value(s, dk, value, &vlen))
        return 4;
    for (i = 0; i < vlen; i++)
        printf("%02x", value[i]);
    printf("\n");
    p11->C_CloseSession(s);
    return 0;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 3 || (strcmp(argv[1], "wrap") != 0 && strcmp(argv[1], "unwrap") != 0)) {
        fprintf(stderr, "usage: %s wrap|unwrap FILE [k=v ...]\n", argv[0]);
        return 2;
    }
    p11_load();
    if (p11->C_Initialize(NULL) != CKR_OK) {
        fprintf(stderr, "C_Initialize failed\n");
        return 5;
    }
    rc = run(strcmp(argv[1], "wrap") == 0, argv[2], argc - 3, argv + 3);
    p11->C_Finalize(NULL);
    return rc;
}
