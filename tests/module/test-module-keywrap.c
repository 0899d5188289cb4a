/* test-module-keywrap.c - C_WrapKey/C_UnwrapKey with an AES data key as the wrapping key
 * (CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP) through the function list:
 * round trips, IVs, the two-call convention, which keys may wrap which, and refused unwraps that
 * make no object. The same mechanisms with a KMS key stay the envelope. */
#include "tests/module/p11.h"

static const CK_OBJECT_CLASS cls_secret = CKO_SECRET_KEY;
static const CK_KEY_TYPE kt_aes = CKK_AES;

/* A key with the given value and usage: wrap/unwrap keys never encrypt or decrypt. */
static CK_OBJECT_HANDLE make_key(CK_SESSION_HANDLE s, CK_KEY_TYPE kt, const uint8_t *v,
                                 CK_ULONG len, CK_BBOOL wrap, CK_BBOOL unwrap, CK_BBOOL crypt)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, (void *)&cls_secret, sizeof(cls_secret)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE, (void *)v, len},
        {CKA_WRAP, &wrap, 1},
        {CKA_UNWRAP, &unwrap, 1},
        {CKA_ENCRYPT, &crypt, 1},
        {CKA_DECRYPT, &crypt, 1},
        {CKA_SENSITIVE, &p11_false, 1},
        {CKA_EXTRACTABLE, &p11_true, 1},
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (p11->C_CreateObject(s, t, 9, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

static CK_RV unwrap_as(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE u, uint8_t *in,
                       CK_ULONG len, CK_KEY_TYPE kt, CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, (void *)&cls_secret, sizeof(cls_secret)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_SENSITIVE, &p11_false, 1},
        {CKA_EXTRACTABLE, &p11_true, 1},
    };

    *out = CK_INVALID_HANDLE;
    return p11->C_UnwrapKey(s, m, u, in, len, t, 4, out);
}

static uint8_t kek_bytes[32], val[512];

/* Whether needle (n >= 8 bytes) occurs in hay. */
static int contains(const uint8_t *hay, size_t h, const uint8_t *needle, size_t n)
{
    size_t i;

    for (i = 0; n >= 8 && i + n <= h; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Wrap a key of len bytes of type kt with mech under a kek of kek_len, unwrap, compare. */
static int round_trip(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ULONG kek_len, CK_KEY_TYPE kt,
                      CK_ULONG len, CK_ULONG want_wrapped)
{
    CK_OBJECT_HANDLE kek = make_key(s, CKK_AES, kek_bytes, kek_len, CK_TRUE, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE k = make_key(s, kt, val, len, CK_FALSE, CK_FALSE, CK_TRUE), u;
    uint8_t wrapped[600], back[512];
    CK_ULONG wl = 0, bl = sizeof(back);
    int fine = kek != CK_INVALID_HANDLE && k != CK_INVALID_HANDLE;

    fine = fine && p11->C_WrapKey(s, m, kek, k, NULL, &wl) == CKR_OK && wl == want_wrapped;
    fine = fine && p11->C_WrapKey(s, m, kek, k, wrapped, &wl) == CKR_OK && wl == want_wrapped;
    fine = fine && !contains(wrapped, wl, val, len);
    fine = fine && unwrap_as(s, m, kek, wrapped, wl, kt, &u) == CKR_OK;
    fine = fine && p11_value(s, u, back, &bl) && bl == len && memcmp(back, val, len) == 0;
    p11->C_DestroyObject(s, kek);
    p11->C_DestroyObject(s, k);
    p11->C_DestroyObject(s, u);
    return fine;
}

static void test_round_trips(CK_SESSION_HANDLE s)
{
    static const CK_ULONG keks[] = {16, 24, 32};
    static const CK_ULONG kw_lens[] = {16, 24, 32, 40, 256, 512};
    static const CK_ULONG kwp_lens[] = {1, 7, 8, 9, 16, 20, 31, 32, 100, 511, 512};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, pad = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    size_t i, j;
    int kw_ok = 1, kwp_ok = 1, pad_ok = 1, aes_ok = 1;

    for (i = 0; i < 3; i++) {
        for (j = 0; j < sizeof(kw_lens) / sizeof(kw_lens[0]); j++)
            kw_ok &= round_trip(s, &kw, keks[i], CKK_GENERIC_SECRET, kw_lens[j], kw_lens[j] + 8);
        for (j = 0; j < sizeof(kwp_lens) / sizeof(kwp_lens[0]); j++) {
            CK_ULONG w = (kwp_lens[j] + 7) / 8 * 8 + 8;
            kwp_ok &= round_trip(s, &kwp, keks[i], CKK_GENERIC_SECRET, kwp_lens[j], w);
            pad_ok &= round_trip(s, &pad, keks[i], CKK_GENERIC_SECRET, kwp_lens[j], w);
        }
        for (j = 16; j <= 32; j += 8)
            aes_ok &= round_trip(s, &kw, keks[i], CKK_AES, j, j + 8) &&
                      round_trip(s, &kwp, keks[i], CKK_AES, j, j + 8);
    }
    ok(kw_ok, "CKM_AES_KEY_WRAP: generic secrets of 16..512 bytes under 128/192/256-bit keys");
    ok(kwp_ok, "CKM_AES_KEY_WRAP_KWP: generic secrets of 1..512 bytes, padded to 8");
    ok(pad_ok, "CKM_AES_KEY_WRAP_PAD: the same as KWP");
    ok(aes_ok, "AES keys of 16/24/32 bytes, with and without padding");
}

static void test_ivs_and_lengths(CK_SESSION_HANDLE s)
{
    uint8_t iv8[8] = {1, 2, 3, 4, 5, 6, 7, 8}, iv4[4] = {9, 8, 7, 6}, dflt8[8], dflt4[4];
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, kw_iv = {CKM_AES_KEY_WRAP, iv8, 8};
    CK_MECHANISM kw_dflt = {CKM_AES_KEY_WRAP, dflt8, 8},
                 kwp_dflt = {CKM_AES_KEY_WRAP_KWP, dflt4, 4};
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0}, kwp_iv = {CKM_AES_KEY_WRAP_KWP, iv4, 4};
    CK_MECHANISM bad[] = {
        {CKM_AES_KEY_WRAP, iv4, 4},     {CKM_AES_KEY_WRAP, iv8, 16},
        {CKM_AES_KEY_WRAP, NULL, 8},    {CKM_AES_KEY_WRAP_KWP, iv8, 8},
        {CKM_AES_KEY_WRAP_PAD, iv8, 8}, {CKM_AES_KEY_WRAP_KWP, NULL, 4},
    };
    CK_OBJECT_HANDLE kek = make_key(s, CKK_AES, kek_bytes, 32, CK_TRUE, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE k = make_key(s, CKK_AES, val, 32, CK_FALSE, CK_FALSE, CK_TRUE), u;
    uint8_t a[64], b[64];
    CK_ULONG la = sizeof(a), lb = sizeof(b), small = 39;
    size_t i;

    memset(dflt8, 0xA6, 8);
    memcpy(dflt4, "\xA6\x59\x59\xA6", 4);
    is_rv(p11->C_WrapKey(s, &kw, kek, k, a, &la), CKR_OK, "KW without a parameter");
    is_rv(p11->C_WrapKey(s, &kw_dflt, kek, k, b, &lb), CKR_OK, "KW with A6A6A6A6A6A6A6A6");
    ok(la == 40 && lb == 40 && memcmp(a, b, 40) == 0, "  ...the same: it is the default");
    lb = sizeof(b);
    is_rv(p11->C_WrapKey(s, &kw_iv, kek, k, b, &lb), CKR_OK, "KW with another IV");
    ok(lb == 40 && memcmp(a, b, 40) != 0, "  ...gives another result");
    is_rv(unwrap_as(s, &kw, kek, b, lb, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "which the default IV does not unwrap");
    is_rv(unwrap_as(s, &kw_iv, kek, b, lb, CKK_AES, &u), CKR_OK, "but the same IV does");
    la = sizeof(a);
    lb = sizeof(b);
    is_rv(p11->C_WrapKey(s, &kwp, kek, k, a, &la), CKR_OK, "KWP without a parameter");
    is_rv(p11->C_WrapKey(s, &kwp_dflt, kek, k, b, &lb), CKR_OK, "KWP with A65959A6");
    ok(la == 40 && lb == 40 && memcmp(a, b, 40) == 0, "  ...the same: it is the default");
    lb = sizeof(b);
    is_rv(p11->C_WrapKey(s, &kwp_iv, kek, k, b, &lb), CKR_OK, "KWP with another AIV");
    is_rv(unwrap_as(s, &kwp, kek, b, lb, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "which the default AIV does not unwrap");
    is_rv(unwrap_as(s, &kwp_iv, kek, b, lb, CKK_AES, &u), CKR_OK, "but the same AIV does");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        la = sizeof(a);
        is_rv(p11->C_WrapKey(s, &bad[i], kek, k, a, &la), CKR_MECHANISM_PARAM_INVALID,
              "an IV of the wrong length (or a length without an IV) refused");
    }
    is_rv(p11->C_WrapKey(s, &kw, kek, k, a, &small), CKR_BUFFER_TOO_SMALL, "39-byte buffer");
    is_num(small, 40, "  ...asks for 40");
}

static void test_rules(CK_SESSION_HANDLE s)
{
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    CK_OBJECT_HANDLE kek = make_key(s, CKK_AES, kek_bytes, 16, CK_TRUE, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE no_wrap = make_key(s, CKK_AES, kek_bytes, 16, CK_FALSE, CK_FALSE, CK_FALSE);
    CK_OBJECT_HANDLE generic_kek =
        make_key(s, CKK_GENERIC_SECRET, kek_bytes, 16, CK_TRUE, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE k20 = make_key(s, CKK_GENERIC_SECRET, val, 20, CK_FALSE, CK_FALSE, CK_TRUE);
    CK_OBJECT_HANDLE k8 = make_key(s, CKK_GENERIC_SECRET, val, 8, CK_FALSE, CK_FALSE, CK_TRUE);
    CK_OBJECT_HANDLE kms = p11_find_label(s, "default"), u;
    CK_ULONG l32 = 32;
    CK_ATTRIBUTE unx[] = {
        {CKA_CLASS, (void *)&cls_secret, sizeof(cls_secret)},
        {CKA_KEY_TYPE, (void *)&kt_aes, sizeof(kt_aes)},
        {CKA_VALUE_LEN, &l32, sizeof(l32)},
        {CKA_EXTRACTABLE, &p11_false, 1},
    };
    CK_ATTRIBUTE trusted_only[] = {
        {CKA_CLASS, (void *)&cls_secret, sizeof(cls_secret)},
        {CKA_KEY_TYPE, (void *)&kt_aes, sizeof(kt_aes)},
        {CKA_VALUE_LEN, &l32, sizeof(l32)},
        {CKA_WRAP_WITH_TRUSTED, &p11_true, 1},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE locked = 0, wwt = 0;
    uint8_t out[600];
    CK_ULONG len = sizeof(out);

    ok(kek && no_wrap && generic_kek && k20 && k8 && kms, "keys for the rules");
    is_rv(p11->C_GenerateKey(s, &gen, unx, 4, &locked), CKR_OK, "an unextractable key");
    is_rv(p11->C_GenerateKey(s, &gen, trusted_only, 4, &wwt), CKR_OK,
          "a key with CKA_WRAP_WITH_TRUSTED");
    is_rv(p11->C_WrapKey(s, &kwp, no_wrap, k20, out, &len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key without CKA_WRAP cannot wrap");
    is_rv(p11->C_WrapKey(s, &kwp, generic_kek, k20, out, &len), CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
          "a generic secret is no AES wrapping key");
    is_rv(p11->C_WrapKey(s, &kw, kms, k20, out, &len), CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
          "CKM_AES_KEY_WRAP with a KMS key: the envelope has no unpadded form");
    is_rv(p11->C_WrapKey(s, &kwp, kek, locked, out, &len), CKR_KEY_UNEXTRACTABLE,
          "an unextractable key is not wrapped");
    is_rv(p11->C_WrapKey(s, &kwp, kek, kms, out, &len), CKR_KEY_UNEXTRACTABLE,
          "a KMS key is never wrapped");
    is_rv(p11->C_WrapKey(s, &kwp, kek, wwt, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "CKA_WRAP_WITH_TRUSTED needs a trusted wrapping key");
    is_rv(p11->C_WrapKey(s, &kwp, kek, kek, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "a key does not wrap itself");
    is_rv(p11->C_WrapKey(s, &kwp, kek, no_wrap, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "...nor a key with its value");
    is_rv(p11->C_WrapKey(s, &kw, kek, k20, out, &len), CKR_KEY_SIZE_RANGE,
          "KW without padding: 20 bytes are not a multiple of 8");
    is_rv(p11->C_WrapKey(s, &kw, kek, k8, out, &len), CKR_KEY_SIZE_RANGE,
          "KW without padding: 8 bytes are too short");
    is_rv(p11->C_WrapKey(s, &kwp, kek, k8, out, &len), CKR_OK, "KWP wraps 8 bytes");
    is_rv(p11->C_WrapKey(s, &kwp, 424242, k8, out, &len), CKR_WRAPPING_KEY_HANDLE_INVALID,
          "unknown wrapping key");
    len = sizeof(out);
    is_rv(p11->C_WrapKey(s, &kw, kek, 424242, out, &len), CKR_KEY_HANDLE_INVALID, "unknown key");
    len = sizeof(out);
    is_rv(p11->C_WrapKey(s, &kwp, kek, k20, out, &len), CKR_OK, "KWP of 20 bytes");
    is_rv(unwrap_as(s, &kwp, no_wrap, out, len, CKK_GENERIC_SECRET, &u),
          CKR_KEY_FUNCTION_NOT_PERMITTED, "a key without CKA_UNWRAP cannot unwrap");
    is_rv(unwrap_as(s, &kwp, 424242, out, len, CKK_GENERIC_SECRET, &u),
          CKR_UNWRAPPING_KEY_HANDLE_INVALID, "unknown unwrapping key");
    is_rv(unwrap_as(s, &kwp, generic_kek, out, len, CKK_GENERIC_SECRET, &u),
          CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, "a generic secret is no AES unwrapping key");
    is_rv(unwrap_as(s, &kwp, kek, out, len, CKK_AES, &u), CKR_TEMPLATE_INCONSISTENT,
          "20 bytes unwrapped as an AES key refused");
    ok(u == CK_INVALID_HANDLE, "  ...no object");
}

/* A data key that may wrap must not decrypt, one that may unwrap must not encrypt: with both,
 * C_Decrypt runs RFC 3394's unwrap by hand and C_Encrypt forges wrapped keys. */
static void test_wrap_and_crypt(CK_SESSION_HANDLE s)
{
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0}, ecb = {CKM_AES_ECB, NULL, 0};
    CK_OBJECT_HANDLE both = make_key(s, CKK_AES, kek_bytes, 32, CK_TRUE, CK_TRUE, CK_TRUE);
    CK_OBJECT_HANDLE k = make_key(s, CKK_AES, val, 32, CK_FALSE, CK_FALSE, CK_TRUE), u;
    uint8_t out[64];
    CK_ULONG len = sizeof(out);

    if (both == CK_INVALID_HANDLE) {
        ok(1, "a key with CKA_WRAP and CKA_DECRYPT cannot even be made");
        return;
    }
    is_rv(p11->C_WrapKey(s, &kwp, both, k, out, &len), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that also decrypts does not wrap");
    len = 40;
    is_rv(unwrap_as(s, &kwp, both, out, len, CKK_AES, &u), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that also encrypts does not unwrap");
    is_rv(p11->C_DecryptInit(s, &ecb, both), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that may wrap does not decrypt");
    is_rv(p11->C_EncryptInit(s, &ecb, both), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a key that may unwrap does not encrypt");
}

static void test_unwrap_refusals(CK_SESSION_HANDLE s)
{
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    CK_OBJECT_HANDLE kek = make_key(s, CKK_AES, kek_bytes, 24, CK_TRUE, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE k = make_key(s, CKK_AES, val, 32, CK_FALSE, CK_FALSE, CK_TRUE), u;
    uint8_t w_kw[64], w_kwp[64], t[64];
    CK_ULONG l_kw = sizeof(w_kw), l_kwp = sizeof(w_kwp), before, i;
    int all = 1;

    is_rv(p11->C_WrapKey(s, &kw, kek, k, w_kw, &l_kw), CKR_OK, "KW wrap");
    is_rv(p11->C_WrapKey(s, &kwp, kek, k, w_kwp, &l_kwp), CKR_OK, "KWP wrap");
    before = p11_count(s);
    for (i = 0; i < l_kw * 8; i += 7) {
        memcpy(t, w_kw, l_kw);
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        all &= unwrap_as(s, &kw, kek, t, l_kw, CKK_AES, &u) == CKR_WRAPPED_KEY_INVALID;
        memcpy(t, w_kwp, l_kwp);
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        all &= unwrap_as(s, &kwp, kek, t, l_kwp, CKK_AES, &u) == CKR_WRAPPED_KEY_INVALID;
    }
    ok(all, "any changed bit: CKR_WRAPPED_KEY_INVALID");
    is_rv(unwrap_as(s, &kw, kek, w_kw, l_kw - 8, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "KW blob less its last semiblock");
    is_rv(unwrap_as(s, &kwp, kek, w_kwp + 8, l_kwp - 8, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "KWP blob less its first semiblock");
    is_rv(unwrap_as(s, &kw, kek, w_kwp, l_kwp, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "a KWP blob is not a KW blob");
    is_rv(unwrap_as(s, &kwp, kek, w_kw, l_kw, CKK_AES, &u), CKR_WRAPPED_KEY_INVALID,
          "a KW blob is not a KWP blob");
    is_rv(unwrap_as(s, &kw, kek, w_kw, l_kw - 1, CKK_AES, &u), CKR_WRAPPED_KEY_LEN_RANGE,
          "not a multiple of 8 bytes");
    is_rv(unwrap_as(s, &kw, kek, w_kw, 16, CKK_AES, &u), CKR_WRAPPED_KEY_LEN_RANGE,
          "KW: 16 bytes cannot hold a key");
    is_rv(unwrap_as(s, &kwp, kek, w_kwp, 8, CKK_AES, &u), CKR_WRAPPED_KEY_LEN_RANGE,
          "KWP: 8 bytes cannot hold a key");
    {
        static uint8_t big[528];
        is_rv(unwrap_as(s, &kwp, kek, big, sizeof(big), CKK_AES, &u), CKR_WRAPPED_KEY_LEN_RANGE,
              "longer than any data key");
    }
    is_num(p11_count(s), before, "no refused unwrap made an object");
}

/* The padded mechanisms with a KMS key are still the envelope. */
static void test_kms_alias(CK_SESSION_HANDLE s)
{
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    CK_OBJECT_HANDLE kms = p11_find_label(s, "default"), dk = p11_data_key(s, 32), u;
    uint8_t env[8192];
    CK_ULONG len = sizeof(env);

    is_rv(p11->C_WrapKey(s, &kwp, kms, dk, env, &len), CKR_OK, "KWP with a KMS key");
    ok(len > 40 && memcmp(env, "PKMS", 4) == 0, "  ...is a p11kms envelope");
    is_rv(unwrap_as(s, &kwp, kms, env, len, CKK_AES, &u), CKR_OK, "  ...that the KMS key opens");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    size_t i;

    test_start();
    p11_load();
    is_rv(p11_init_quick(), CKR_OK, "C_Initialize");
    s = p11_open(0);
    for (i = 0; i < sizeof(kek_bytes); i++)
        kek_bytes[i] = (uint8_t)(0x40 + i);
    for (i = 0; i < sizeof(val); i++)
        val[i] = (uint8_t)(i * 7 + 1);
    test_round_trips(s);
    test_ivs_and_lengths(s);
    test_rules(s);
    test_wrap_and_crypt(s);
    test_unwrap_refusals(s);
    test_kms_alias(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    if (getenv("P11KMS_TEST_KEEP_MODULE") == NULL)
        p11_unload();
    return test_exit_code();
}
