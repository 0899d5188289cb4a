/* test-keywrap.c - the AES key wrap algorithms of keywrap.c (p11kms_keywrap_run): RFC 3394 and
 * RFC 5649 known answers both ways, IVs, lengths the mechanisms refuse, and unwraps whose
 * integrity check must fail. The PKCS#11 rules around them: tests/module/test-module-keywrap. */
#include "tests/kat.h"
#include "tests/unit/cipher-test.h"
#include "module/keywrap.h"

static void test_kats(void)
{
    uint8_t kek[32], key[64], want[72], out[600];
    size_t i, kl, n, wl, len;
    char what[128];

    for (i = 0; i < KAT_N_WRAPS; i++) {
        const struct kat_wrap *v = &kat_wraps[i];

        kl = unhex(v->kek, kek, sizeof(kek));
        n = unhex(v->key, key, sizeof(key));
        wl = unhex(v->wrapped, want, sizeof(want));
        is_num(p11kms_keywrap_len(v->mech, n), wl, v->source);
        snprintf(what, sizeof(what), "%s wrap", v->source);
        ok(p11kms_keywrap_run(v->mech, NULL, kek, kl, 1, key, n, out, &len) && len == wl &&
               memcmp(out, want, wl) == 0,
           what);
        snprintf(what, sizeof(what), "%s unwrap", v->source);
        ok(p11kms_keywrap_run(v->mech, NULL, kek, kl, 0, want, wl, out, &len) && len == n &&
               memcmp(out, key, n) == 0,
           what);
        /* CKM_AES_KEY_WRAP_PAD is the same algorithm as _KWP. */
        if (v->mech == CKM_AES_KEY_WRAP_KWP) {
            snprintf(what, sizeof(what), "%s as CKM_AES_KEY_WRAP_PAD", v->source);
            ok(p11kms_keywrap_run(CKM_AES_KEY_WRAP_PAD, NULL, kek, kl, 1, key, n, out, &len) &&
                   len == wl && memcmp(out, want, wl) == 0,
               what);
        }
    }
}

static void test_tamper(void)
{
    const struct kat_wrap *kw = &kat_wraps[5], *kwp = &kat_wraps[6];
    uint8_t kek[32], a[64], b[64], t[64], out[600];
    size_t kl_a, kl_b, la, lb, i, len;
    int all = 1;

    kl_a = unhex(kw->kek, kek, sizeof(kek));
    la = unhex(kw->wrapped, a, sizeof(a));
    for (i = 0; i < la * 8; i++) {
        memcpy(t, a, la);
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        all &= !p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, kl_a, 0, t, la, out, &len);
    }
    ok(all, "RFC 3394: every one-bit change fails the integrity check");
    kl_b = unhex(kwp->kek, kek, sizeof(kek));
    lb = unhex(kwp->wrapped, b, sizeof(b));
    all = 1;
    for (i = 0; i < lb * 8; i++) {
        memcpy(t, b, lb);
        t[i / 8] ^= (uint8_t)(1u << (i % 8));
        all &= !p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, kl_b, 0, t, lb, out, &len);
    }
    ok(all, "RFC 5649: every one-bit change fails the integrity check");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, kl_b, 0, b, lb - 8, out, &len),
       "RFC 5649: truncated");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, 16, 0, b, lb, out, &len),
       "RFC 5649: another key");
    unhex(kw->kek, kek, sizeof(kek));
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, kl_a, 0, a + 8, la - 8, out, &len),
       "RFC 3394: truncated");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, kl_a, 0, a, la, out, &len),
       "an RFC 3394 result is no RFC 5649 one");
}

static void test_ivs_and_lengths(void)
{
    static const uint8_t iv8[8] = {1, 2, 3, 4, 5, 6, 7, 8}, iv4[4] = {1, 2, 3, 4};
    uint8_t kek[32] = {5}, key[512], w[600], out[600];
    size_t lw, len, n;
    int lens_ok = 1;

    memset(key, 0x3c, sizeof(key));
    ok(p11kms_keywrap_run(CKM_AES_KEY_WRAP, iv8, kek, 32, 1, key, 32, w, &lw) && lw == 40,
       "RFC 3394 with an IV of our own");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 32, 0, w, lw, out, &len),
       "  ...does not unwrap with the default");
    ok(p11kms_keywrap_run(CKM_AES_KEY_WRAP, iv8, kek, 32, 0, w, lw, out, &len) && len == 32 &&
           memcmp(out, key, 32) == 0,
       "  ...but with the same IV");
    ok(p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, iv4, kek, 24, 1, key, 5, w, &lw) && lw == 16,
       "RFC 5649 with an AIV of our own");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, 24, 0, w, lw, out, &len),
       "  ...does not unwrap with the default");
    ok(p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, iv4, kek, 24, 0, w, lw, out, &len) && len == 5,
       "  ...but with the same AIV");

    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 32, 1, key, 8, w, &lw),
       "RFC 3394 refuses 8 bytes");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 32, 1, key, 20, w, &lw),
       "RFC 3394 refuses 20 bytes");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 20, 1, key, 16, w, &lw),
       "a 20-byte KEK refused");
    ok(!p11kms_keywrap_run(CKM_AES_ECB, NULL, kek, 16, 1, key, 16, w, &lw),
       "another mechanism refused");
    ok(!p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, 16, 1, key, 0, w, &lw),
       "RFC 5649 refuses nothing to wrap");
    for (n = 1; n <= sizeof(key); n++) {
        lens_ok &= p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, 16, 1, key, n, w, &lw) &&
                   lw == p11kms_keywrap_len(CKM_AES_KEY_WRAP_KWP, n) &&
                   p11kms_keywrap_run(CKM_AES_KEY_WRAP_KWP, NULL, kek, 16, 0, w, lw, out, &len) &&
                   len == n;
        if (n % 8 == 0 && n >= 16)
            lens_ok &= p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 16, 1, key, n, w, &lw) &&
                       lw == n + 8 &&
                       p11kms_keywrap_run(CKM_AES_KEY_WRAP, NULL, kek, 16, 0, w, lw, out, &len) &&
                       len == n;
    }
    ok(lens_ok, "every length 1..512 (RFC 5649) and every multiple of 8 from 16 (RFC 3394)");
}

int main(void)
{
    test_start();
    test_kats();
    test_tamper();
    test_ivs_and_lengths();
    return test_exit_code();
}
