/* test-module-kat.c - the published known answers of tests/kat.h through the function list, as an
 * application meets them: the key made with C_CreateObject, then C_Encrypt/C_Decrypt (SP 800-38A
 * ECB and CTR), C_WrapKey/C_UnwrapKey (RFC 3394, RFC 5649), C_Sign/C_Verify (RFC 4493,
 * SP 800-38B), each compared with the published bytes. */
#include "tests/kat.h"
#include "tests/module/p11.h"

/* A hex test vector into out (room for max bytes); "" is zero bytes. */
static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = strlen(hex) / 2, i;
    unsigned byte;

    if (strlen(hex) % 2 != 0 || n > max) {
        printf("Bail out! bad test vector %s\n", hex);
        exit(99);
    }
    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) {
            printf("Bail out! bad test vector %s\n", hex);
            exit(99);
        }
        out[i] = (uint8_t)byte;
    }
    return n;
}

/* A secret key of type kt with value v and the given usage attributes (NULL-terminated list of
 * attribute types set to true; every other usage false). */
static CK_OBJECT_HANDLE make_key(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const uint8_t *v,
                                 CK_ULONG len, const CK_ATTRIBUTE_TYPE *on)
{
    static const CK_ATTRIBUTE_TYPE usages[] = {CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP,
                                               CKA_UNWRAP,  CKA_SIGN,    CKA_VERIFY};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL flags[6];
    CK_ATTRIBUTE t[3 + 6] = {{CKA_CLASS, &cls, sizeof(cls)},
                             {CKA_KEY_TYPE, &kt, sizeof(kt)},
                             {CKA_VALUE, (void *)v, len}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    size_t i, j;

    for (i = 0; i < 6; i++) {
        flags[i] = CK_FALSE;
        for (j = 0; on[j] != 0; j++)
            if (on[j] == usages[i])
                flags[i] = CK_TRUE;
        t[3 + i] = (CK_ATTRIBUTE){usages[i], &flags[i], 1};
    }
    if (p11->C_CreateObject(s, t, 9, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

/* C_EncryptUpdate of in[0..cut) and in[cut..len), then C_EncryptFinal; the bytes written. */
static CK_ULONG encrypt_parts(CK_SESSION_HANDLE s, const uint8_t *in, CK_ULONG len, CK_ULONG cut,
                              uint8_t *out)
{
    CK_ULONG total = 0, part = 64;

    if (p11->C_EncryptUpdate(s, (uint8_t *)in, cut, out, &part) != CKR_OK)
        return 0;
    total += part;
    part = 64;
    if (p11->C_EncryptUpdate(s, (uint8_t *)in + cut, len - cut, out + total, &part) != CKR_OK)
        return 0;
    total += part;
    part = 64;
    if (p11->C_EncryptFinal(s, out + total, &part) != CKR_OK)
        return 0;
    return total + part;
}

static void test_ciphers(CK_SESSION_HANDLE s)
{
    static const CK_ATTRIBUTE_TYPE crypt[] = {CKA_ENCRYPT, CKA_DECRYPT, 0};
    uint8_t key[32], iv[16], pt[64], ct[64], out[128];
    CK_AES_CTR_PARAMS cp;
    size_t i, kl, pl;
    char what[160];

    for (i = 0; i < KAT_N_CIPHERS; i++) {
        const struct kat_cipher *v = &kat_ciphers[i];
        CK_MECHANISM m = {v->mech, NULL, 0};
        CK_OBJECT_HANDLE k;
        CK_ULONG len;

        kl = unhex(v->key, key, sizeof(key));
        unhex(v->iv, iv, sizeof(iv));
        pl = unhex(v->pt, pt, sizeof(pt));
        unhex(v->ct, ct, sizeof(ct));
        if (v->mech == CKM_AES_CTR) {
            cp.ulCounterBits = 128;
            memcpy(cp.cb, iv, 16);
            m.pParameter = &cp;
            m.ulParameterLen = sizeof(cp);
        }
        k = make_key(s, CKK_AES, key, kl, crypt);
        snprintf(what, sizeof(what), "%s: C_Encrypt", v->source);
        len = sizeof(out);
        ok(k != CK_INVALID_HANDLE && p11->C_EncryptInit(s, &m, k) == CKR_OK &&
               p11->C_Encrypt(s, pt, pl, out, &len) == CKR_OK && len == pl &&
               memcmp(out, ct, pl) == 0,
           what);
        snprintf(what, sizeof(what), "%s: C_Decrypt", v->source);
        len = sizeof(out);
        ok(p11->C_DecryptInit(s, &m, k) == CKR_OK &&
               p11->C_Decrypt(s, ct, pl, out, &len) == CKR_OK && len == pl &&
               memcmp(out, pt, pl) == 0,
           what);
        snprintf(what, sizeof(what), "%s: C_EncryptUpdate 16 + 48, C_EncryptFinal", v->source);
        ok(p11->C_EncryptInit(s, &m, k) == CKR_OK && encrypt_parts(s, pt, pl, 16, out) == pl &&
               memcmp(out, ct, pl) == 0,
           what);
    }
}

static void test_wraps(CK_SESSION_HANDLE s)
{
    static const CK_ATTRIBUTE_TYPE wrap[] = {CKA_WRAP, CKA_UNWRAP, 0};
    static const CK_ATTRIBUTE_TYPE none[] = {0};
    uint8_t kek[32], key[32], want[40], out[64], back[64];
    size_t i, kl, n, wl;
    char what[160];

    for (i = 0; i < KAT_N_WRAPS; i++) {
        const struct kat_wrap *v = &kat_wraps[i];
        CK_MECHANISM m = {v->mech, NULL, 0};
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE kt;
        CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                            {CKA_KEY_TYPE, &kt, sizeof(kt)},
                            {CKA_SENSITIVE, &p11_false, 1},
                            {CKA_EXTRACTABLE, &p11_true, 1}};
        CK_OBJECT_HANDLE w, k, u = CK_INVALID_HANDLE;
        CK_ULONG len = sizeof(out), bl = sizeof(back);

        kl = unhex(v->kek, kek, sizeof(kek));
        n = unhex(v->key, key, sizeof(key));
        wl = unhex(v->wrapped, want, sizeof(want));
        /* RFC 3394's keys are AES keys; RFC 5649's 20 and 7 octets are generic secrets. */
        kt = n == 16 || n == 24 || n == 32 ? CKK_AES : CKK_GENERIC_SECRET;
        w = make_key(s, CKK_AES, kek, kl, wrap);
        k = make_key(s, kt, key, n, none);
        snprintf(what, sizeof(what), "%s: C_WrapKey", v->source);
        ok(w != CK_INVALID_HANDLE && k != CK_INVALID_HANDLE &&
               p11->C_WrapKey(s, &m, w, k, out, &len) == CKR_OK && len == wl &&
               memcmp(out, want, wl) == 0,
           what);
        snprintf(what, sizeof(what), "%s: C_UnwrapKey", v->source);
        ok(p11->C_UnwrapKey(s, &m, w, want, wl, t, 4, &u) == CKR_OK && p11_value(s, u, back, &bl) &&
               bl == n && memcmp(back, key, n) == 0,
           what);
    }
}

static void test_macs(CK_SESSION_HANDLE s)
{
    static const CK_ATTRIBUTE_TYPE mac[] = {CKA_SIGN, CKA_VERIFY, 0};
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    uint8_t key[32], msg[64], want[16], out[16];
    size_t i, kl;
    char what[160];

    unhex(KAT_SP_PT, msg, sizeof(msg));
    for (i = 0; i < KAT_N_MACS; i++) {
        const struct kat_mac *v = &kat_macs[i];
        CK_OBJECT_HANDLE k;
        CK_ULONG len = sizeof(out);

        kl = unhex(v->key, key, sizeof(key));
        unhex(v->mac, want, sizeof(want));
        k = make_key(s, CKK_AES, key, kl, mac);
        snprintf(what, sizeof(what), "%s: C_Sign", v->source);
        ok(k != CK_INVALID_HANDLE && p11->C_SignInit(s, &m, k) == CKR_OK &&
               p11->C_Sign(s, msg, v->msg_len, out, &len) == CKR_OK && len == 16 &&
               memcmp(out, want, 16) == 0,
           what);
        snprintf(what, sizeof(what), "%s: C_Verify", v->source);
        ok(p11->C_VerifyInit(s, &m, k) == CKR_OK &&
               p11->C_Verify(s, msg, v->msg_len, want, 16) == CKR_OK,
           what);
    }
}

int main(void)
{
    CK_SESSION_HANDLE s;

    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize");
    s = p11_open(0);
    test_ciphers(s);
    test_wraps(s);
    test_macs(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
