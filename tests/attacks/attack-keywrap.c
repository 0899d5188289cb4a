/* attack-keywrap.c - AES key wrap with data keys, as someone holding a session would attack it:
 * read a wrapped key by decrypting the wrapped bytes with the wrapping key, forge wrapped bytes
 * with an encrypting key and unwrap a key of their choice, wrap what must not be wrapped, feed
 * changed wrapped bytes, MAC without permission, use keys shorter than asked. Each is refused. */
#include <openssl/evp.h>
#include "tests/attacks/attack.h"

enum { U_ENC = 1, U_DEC = 2, U_WRAP = 4, U_UNWRAP = 8, U_SIGN = 16, U_VERIFY = 32 };

/* A key with exactly the usages in `use` (value given, or generated when value is NULL). */
static CK_RV new_key(CK_SESSION_HANDLE s, const uint8_t *value, CK_ULONG len, CK_KEY_TYPE kt,
                     unsigned use, CK_BBOOL sensitive, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL b[6];
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_SENSITIVE, &sensitive, 1},
        {CKA_EXTRACTABLE, &p11_true, 1},
        {CKA_ENCRYPT, &b[0], 1},
        {CKA_DECRYPT, &b[1], 1},
        {CKA_WRAP, &b[2], 1},
        {CKA_UNWRAP, &b[3], 1},
        {CKA_SIGN, &b[4], 1},
        {CKA_VERIFY, &b[5], 1},
        {value ? CKA_VALUE : CKA_VALUE_LEN, value ? (void *)value : (void *)&len,
         value ? len : sizeof(len)},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    int i;

    for (i = 0; i < 6; i++)
        b[i] = (use & (1u << i)) ? CK_TRUE : CK_FALSE;
    *out = CK_INVALID_HANDLE;
    if (value != NULL)
        return p11->C_CreateObject(s, t, 11, out);
    return p11->C_GenerateKey(s, &gen, t, 11, out);
}

/* One AES block through key k by way of an ordinary cipher mode: ECB; CBC with a zero IV (one
 * block is ECB); CTR with the block as counter and zeros as data (encryption only). */
static int aes_oracle(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mode, int enc,
                      const uint8_t in[16], uint8_t out[16])
{
    static const uint8_t zero[16];
    CK_AES_CTR_PARAMS cp;
    CK_MECHANISM m = {mode, NULL, 0};
    CK_ULONG len = 16;
    CK_RV rv;

    if (mode == CKM_AES_CBC) {
        m.pParameter = (void *)zero;
        m.ulParameterLen = 16;
    } else if (mode == CKM_AES_CTR) {
        cp.ulCounterBits = 128;
        memcpy(cp.cb, in, 16);
        m.pParameter = &cp;
        m.ulParameterLen = sizeof(cp);
        in = zero;
    }
    rv = enc ? p11->C_EncryptInit(s, &m, k) : p11->C_DecryptInit(s, &m, k);
    if (rv != CKR_OK)
        return 0;
    rv = enc ? p11->C_Encrypt(s, (uint8_t *)in, 16, out, &len)
             : p11->C_Decrypt(s, (uint8_t *)in, 16, out, &len);
    return rv == CKR_OK && len == 16;
}

static const uint8_t iv3394[8] = {0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6};

/* RFC 3394 section 2.2.2 by hand, with the module's AES decryption through `mode` as the only
 * use of the key: the wrapped key in out (len - 8 bytes) when the integrity value comes out. */
static int unwrap_by_decrypting(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mode,
                                const uint8_t *c, size_t len, uint8_t *out)
{
    size_t n = len / 8 - 1, i;
    uint8_t a[8], b[16];
    int j, x;

    memcpy(a, c, 8);
    memcpy(out, c + 8, 8 * n);
    for (j = 5; j >= 0; j--) {
        for (i = n; i >= 1; i--) {
            uint64_t t = (uint64_t)n * (uint64_t)j + i;
            for (x = 0; x < 8; x++)
                b[x] = a[x] ^ (uint8_t)(t >> (56 - 8 * x));
            memcpy(b + 8, out + 8 * (i - 1), 8);
            if (!aes_oracle(s, k, mode, 0, b, b))
                return 0;
            memcpy(a, b, 8);
            memcpy(out + 8 * (i - 1), b + 8, 8);
        }
    }
    return memcmp(a, iv3394, 8) == 0;
}

/* RFC 3394 section 2.2.1 by hand with the module's AES encryption through `mode`: wrapped
 * bytes of a key the attacker chose, as if made by k. */
static int wrap_by_encrypting(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, CK_MECHANISM_TYPE mode,
                              const uint8_t *p, size_t len, uint8_t *c)
{
    size_t n = len / 8, i;
    uint8_t a[8], b[16];
    int j, x;

    memcpy(a, iv3394, 8);
    memcpy(c + 8, p, len);
    for (j = 0; j <= 5; j++) {
        for (i = 1; i <= n; i++) {
            uint64_t t = (uint64_t)n * (uint64_t)j + i;
            memcpy(b, a, 8);
            memcpy(b + 8, c + 8 * i, 8);
            if (!aes_oracle(s, k, mode, 1, b, b))
                return 0;
            for (x = 0; x < 8; x++)
                a[x] = b[x] ^ (uint8_t)(t >> (56 - 8 * x));
            memcpy(c + 8 * i, b + 8, 8);
        }
    }
    memcpy(c, a, 8);
    return 1;
}

/* Whether guess is the value of the (sensitive) key k: both encrypt a block the same way. */
static int is_value_of(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k, const uint8_t guess[32])
{
    static const uint8_t block[16] = "attack-keywrap!";
    uint8_t a[16], b[16];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, same;

    same = aes_oracle(s, k, CKM_AES_ECB, 1, block, a) && c != NULL &&
           EVP_EncryptInit_ex(c, EVP_aes_256_ecb(), NULL, guess, NULL) &&
           EVP_CIPHER_CTX_set_padding(c, 0) && EVP_EncryptUpdate(c, b, &n, block, 16) && n == 16 &&
           memcmp(a, b, 16) == 0;
    EVP_CIPHER_CTX_free(c);
    return same;
}

/* The attribute rules: no data key holds CKA_WRAP with CKA_DECRYPT, or CKA_UNWRAP with
 * CKA_ENCRYPT, however it is made or changed. */
static void attack_combinations(CK_SESSION_HANDLE s)
{
    static const struct {
        unsigned use, add;
        const char *name;
    } pairs[] = {
        {U_WRAP, U_DEC, "CKA_WRAP with CKA_DECRYPT"},
        {U_UNWRAP, U_ENC, "CKA_UNWRAP with CKA_ENCRYPT"},
    };
    uint8_t v[32];
    size_t i;
    char what[160];

    memset(v, 0x77, sizeof(v));
    for (i = 0; i < 2; i++) {
        CK_OBJECT_HANDLE h, copy = CK_INVALID_HANDLE;
        CK_ATTRIBUTE on = {(pairs[i].add & U_DEC) ? CKA_DECRYPT : CKA_ENCRYPT, &p11_true, 1};
        CK_ATTRIBUTE role_off = {(pairs[i].use & U_WRAP) ? CKA_WRAP : CKA_UNWRAP, &p11_false, 1};
        CK_ATTRIBUTE swap[] = {role_off, on};

        snprintf(what, sizeof(what), "C_GenerateKey with %s refused", pairs[i].name);
        ok(new_key(s, NULL, 32, CKK_AES, pairs[i].use | pairs[i].add, CK_TRUE, &h) != CKR_OK, what);
        snprintf(what, sizeof(what), "C_CreateObject with %s refused", pairs[i].name);
        ok(new_key(s, v, 32, CKK_AES, pairs[i].use | pairs[i].add, CK_TRUE, &h) != CKR_OK, what);
        if (new_key(s, NULL, 32, CKK_AES, pairs[i].use, CK_TRUE, &h) != CKR_OK) {
            ok(0, "a key with one of the two");
            continue;
        }
        snprintf(what, sizeof(what), "C_SetAttributeValue adding the other of %s refused",
                 pairs[i].name);
        ok(p11->C_SetAttributeValue(s, h, &on, 1) != CKR_OK, what);
        snprintf(what, sizeof(what), "C_CopyObject adding the other of %s refused", pairs[i].name);
        ok(p11->C_CopyObject(s, h, &on, 1, &copy) != CKR_OK, what);
        snprintf(what, sizeof(what),
                 "C_CopyObject swapping the role (%s: drop one, take the other) refused",
                 pairs[i].name);
        copy = CK_INVALID_HANDLE;
        ok(p11->C_CopyObject(s, h, swap, 2, &copy) != CKR_OK, what);
        snprintf(what, sizeof(what),
                 "C_SetAttributeValue swapping the role in two steps (%s) refused", pairs[i].name);
        ok(p11->C_SetAttributeValue(s, h, &role_off, 1) != CKR_OK ||
               p11->C_SetAttributeValue(s, h, &on, 1) != CKR_OK,
           what);
    }
}

/* Every handle with the value of wrapping key w that could decrypt: w itself, w with
 * CKA_DECRYPT set, a copy with CKA_DECRYPT, a copy that drops CKA_WRAP for CKA_DECRYPT. */
static size_t decrypting_twins(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE *out)
{
    CK_ATTRIBUTE dec = {CKA_DECRYPT, &p11_true, 1};
    CK_ATTRIBUTE swap[] = {{CKA_WRAP, &p11_false, 1}, {CKA_DECRYPT, &p11_true, 1}};
    CK_OBJECT_HANDLE h;
    size_t n = 0;

    out[n++] = w;
    if (p11->C_CopyObject(s, w, &dec, 1, &h) == CKR_OK)
        out[n++] = h;
    if (p11->C_CopyObject(s, w, swap, 2, &h) == CKR_OK)
        out[n++] = h;
    if (p11->C_CopyObject(s, w, NULL, 0, &h) == CKR_OK) {
        if (p11->C_SetAttributeValue(s, h, &swap[0], 1) == CKR_OK &&
            p11->C_SetAttributeValue(s, h, &swap[1], 1) == CKR_OK)
            out[n++] = h;
        else
            p11->C_DestroyObject(s, h);
    }
    return n;
}

/* Wrap a sensitive key with a data key, then decrypt the wrapped bytes with that key (or any
 * key with its value) under every mode, and run the unwrap by hand with ECB and CBC. */
static void attack_wrap_then_decrypt(CK_SESSION_HANDLE s)
{
    static const CK_MECHANISM_TYPE modes[] = {CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD,
                                              CKM_AES_CTR, CKM_AES_GCM};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
    uint8_t iv[16] = {0}, blob[40], plain[64], guess[32];
    CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
    CK_AES_CTR_PARAMS cp = {128, {0}};
    CK_OBJECT_HANDLE w, victim, twins[4];
    CK_ULONG len = sizeof(blob);
    size_t n, i, j;
    int refused = 1, read = 0;

    if (new_key(s, NULL, 32, CKK_AES, U_WRAP, CK_TRUE, &w) != CKR_OK ||
        new_key(s, NULL, 32, CKK_AES, U_ENC, CK_TRUE, &victim) != CKR_OK ||
        p11->C_WrapKey(s, &kw, w, victim, blob, &len) != CKR_OK) {
        ok(0, "a wrap-only data key wraps a sensitive key");
        return;
    }
    ok(!attack_value_readable(s, victim), "the victim key is sensitive");
    n = decrypting_twins(s, w, twins);
    for (i = 0; i < n; i++) {
        for (j = 0; j < sizeof(modes) / sizeof(modes[0]); j++) {
            CK_MECHANISM m = {modes[j], iv, 16};
            CK_ULONG pl = sizeof(plain);

            if (modes[j] == CKM_AES_ECB)
                m = (CK_MECHANISM){CKM_AES_ECB, NULL, 0};
            else if (modes[j] == CKM_AES_GCM)
                m = (CK_MECHANISM){CKM_AES_GCM, &gp, sizeof(gp)};
            else if (modes[j] == CKM_AES_CTR)
                m = (CK_MECHANISM){CKM_AES_CTR, &cp, sizeof(cp)};
            if (p11->C_DecryptInit(s, &m, twins[i]) == CKR_OK) {
                refused = 0;
                p11->C_Decrypt(s, blob, len, plain, &pl);
            }
        }
        read |= unwrap_by_decrypting(s, twins[i], CKM_AES_ECB, blob, len, guess) &&
                is_value_of(s, victim, guess);
        read |= unwrap_by_decrypting(s, twins[i], CKM_AES_CBC, blob, len, guess) &&
                is_value_of(s, victim, guess);
    }
    ok(refused, "C_DecryptInit (ECB, CBC, CBC-PAD, CTR, GCM) with the wrapping key, or any key "
                "made from it, refused");
    ok(!read, "the wrapped key cannot be read by running the unwrap with C_Decrypt");
}

/* Forge wrapped bytes of a key the attacker chose, then unwrap them into the token. */
static void attack_forge_then_unwrap(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms_wrap_only)
{
    static const CK_MECHANISM_TYPE enc_modes[] = {CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CTR};
    CK_ATTRIBUTE enc = {CKA_ENCRYPT, &p11_true, 1};
    CK_ATTRIBUTE swap[] = {{CKA_UNWRAP, &p11_false, 1}, {CKA_ENCRYPT, &p11_true, 1}};
    CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0}, kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_WRAP, &p11_true, 1},
                        {CKA_DECRYPT, &p11_false, 1},
                        {CKA_ENCRYPT, &p11_false, 1}};
    uint8_t chosen[32], known[32], blob[48];
    CK_OBJECT_HANDLE u, w, twins[3], got = CK_INVALID_HANDLE;
    size_t n = 0, i, j;
    int injected = 0, len;
    CK_ULONG before;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

    memset(chosen, 0xC5, sizeof(chosen));
    memset(known, 0x11, sizeof(known));
    if (new_key(s, NULL, 32, CKK_AES, U_UNWRAP, CK_TRUE, &u) != CKR_OK ||
        new_key(s, NULL, 32, CKK_AES, U_WRAP, CK_TRUE, &w) != CKR_OK) {
        ok(0, "an unwrap-only and a wrap-only data key");
        EVP_CIPHER_CTX_free(c);
        return;
    }
    /* Any key with the unwrapping key's value that encrypts gives the AES block function. */
    twins[n++] = u;
    if (p11->C_CopyObject(s, u, &enc, 1, &twins[n]) == CKR_OK)
        n++;
    if (p11->C_CopyObject(s, u, swap, 2, &twins[n]) == CKR_OK)
        n++;
    before = p11_count(s);
    for (i = 0; i < n; i++)
        for (j = 0; j < sizeof(enc_modes) / sizeof(enc_modes[0]); j++)
            if (wrap_by_encrypting(s, twins[i], enc_modes[j], chosen, 32, blob) &&
                p11->C_UnwrapKey(s, &kw, u, blob, 40, t, 5, &got) == CKR_OK)
                injected = 1;
    ok(!injected, "no key of the attacker's choosing unwrapped with bytes forged by C_Encrypt");

    /* Wrapped bytes made outside with a key the attacker knows. */
    if (c != NULL)
        EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok(c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, known, NULL, 1) &&
           EVP_CipherUpdate(c, blob, &len, chosen, 32) && len == 40,
       "wrapped bytes of a chosen key, made with a known key");
    is_rv(p11->C_UnwrapKey(s, &kwp, w, blob, 40, t, 2, &got), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "a wrap-only data key does not unwrap them");
    is_rv(p11->C_UnwrapKey(s, &kwp, u, blob, 40, t, 2, &got), CKR_WRAPPED_KEY_INVALID,
          "the unwrapping key does not take what another key wrapped");
    ok(p11->C_UnwrapKey(s, &kwp, kms_wrap_only, blob, 40, t, 2, &got) != CKR_OK,
       "a wrap-only KMS key does not unwrap them");
    is_num(p11_count(s), before, "no object was made");
    EVP_CIPHER_CTX_free(c);
}

static void attack_wrap_rules(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE kms)
{
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0}, kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ULONG l32 = 32;
    CK_ATTRIBUTE trusted_only[] = {
        {CKA_CLASS, &cls, sizeof(cls)},     {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &l32, sizeof(l32)}, {CKA_WRAP_WITH_TRUSTED, &p11_true, 1},
        {CKA_SENSITIVE, &p11_true, 1},
    };
    CK_ATTRIBUTE make_trusted = {CKA_TRUSTED, &p11_true, 1};
    CK_ATTRIBUTE drop_wwt = {CKA_WRAP_WITH_TRUSTED, &p11_false, 1};
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE w, locked = attack_secret(s, 32, CK_TRUE, CK_FALSE), wwt = 0, copy = 0;
    uint8_t out[600];
    CK_ULONG len = sizeof(out);

    if (new_key(s, NULL, 32, CKK_AES, U_WRAP, CK_TRUE, &w) != CKR_OK) {
        ok(0, "a wrap-only data key");
        return;
    }
    is_rv(p11->C_WrapKey(s, &kwp, w, locked, out, &len), CKR_KEY_UNEXTRACTABLE,
          "C_WrapKey of an unextractable key with a data key refused");
    is_rv(p11->C_GenerateKey(s, &gen, trusted_only, 5, &wwt), CKR_OK,
          "a key that only a trusted key may wrap");
    is_rv(p11->C_WrapKey(s, &kwp, w, wwt, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "C_WrapKey of a CKA_WRAP_WITH_TRUSTED key with an untrusted data key refused");
    ok(p11->C_SetAttributeValue(s, w, &make_trusted, 1) != CKR_OK,
       "the application cannot make its data key CKA_TRUSTED");
    ok(p11->C_SetAttributeValue(s, wwt, &drop_wwt, 1) != CKR_OK, "nor drop CKA_WRAP_WITH_TRUSTED");
    if (p11->C_CopyObject(s, wwt, &drop_wwt, 1, &copy) == CKR_OK)
        ok(p11->C_WrapKey(s, &kwp, w, copy, out, &len) != CKR_OK,
           "a copy without CKA_WRAP_WITH_TRUSTED is not wrapped either");
    else
        ok(1, "nor copy it without CKA_WRAP_WITH_TRUSTED");
    is_rv(p11->C_WrapKey(s, &kwp, w, kms, out, &len), CKR_KEY_UNEXTRACTABLE,
          "C_WrapKey of a KMS key with a data key refused");
    is_rv(p11->C_WrapKey(s, &kw, w, kms, out, &len), CKR_KEY_UNEXTRACTABLE,
          "  ...also with CKM_AES_KEY_WRAP");
    is_rv(p11->C_WrapKey(s, &kwp, w, w, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "C_WrapKey of the wrapping key with itself refused");
    is_rv(p11->C_WrapKey(s, &kw, w, w, out, &len), CKR_KEY_NOT_WRAPPABLE,
          "  ...also with CKM_AES_KEY_WRAP");
}

static void attack_changed_blobs(CK_SESSION_HANDLE s)
{
    CK_MECHANISM mechs[] = {{CKM_AES_KEY_WRAP, NULL, 0}, {CKM_AES_KEY_WRAP_KWP, NULL, 0}};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_SENSITIVE, &p11_false, 1}};
    CK_OBJECT_HANDLE kek, k = attack_secret(s, 32, CK_TRUE, CK_TRUE), got;
    uint8_t blob[48], bad[48];
    CK_ULONG len, before, i, m;
    int all = 1;

    if (new_key(s, NULL, 16, CKK_AES, U_WRAP | U_UNWRAP, CK_TRUE, &kek) != CKR_OK) {
        ok(0, "a wrap and unwrap data key");
        return;
    }
    before = p11_count(s);
    for (m = 0; m < 2; m++) {
        len = sizeof(blob);
        all &= p11->C_WrapKey(s, &mechs[m], kek, k, blob, &len) == CKR_OK && len == 40;
        for (i = 0; i < len * 8; i++) {
            memcpy(bad, blob, len);
            bad[i / 8] ^= (uint8_t)(1u << (i % 8));
            got = CK_INVALID_HANDLE;
            all &= p11->C_UnwrapKey(s, &mechs[m], kek, bad, len, t, 3, &got) ==
                       CKR_WRAPPED_KEY_INVALID &&
                   got == CK_INVALID_HANDLE;
        }
        for (i = 1; i < len; i++)
            all &= p11->C_UnwrapKey(s, &mechs[m], kek, blob, i, t, 3, &got) != CKR_OK;
        all &= p11->C_UnwrapKey(s, &mechs[m], kek, blob + 8, len - 8, t, 3, &got) != CKR_OK;
    }
    ok(all, "KW and KWP: every changed bit, every truncation refused");
    is_num(p11_count(s), before, "no object was made from changed or truncated bytes");
}

static void attack_cmac_without_permission(CK_SESSION_HANDLE s)
{
    CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
    CK_OBJECT_HANDLE k;
    uint8_t mac[16];
    CK_ULONG len = sizeof(mac);

    if (new_key(s, NULL, 32, CKK_AES, U_ENC | U_DEC, CK_TRUE, &k) != CKR_OK) {
        ok(0, "a data key without CKA_SIGN");
        return;
    }
    is_rv(p11->C_SignInit(s, &cmac, k), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "CMAC with a key lacking CKA_SIGN refused");
    is_rv(p11->C_VerifyInit(s, &cmac, k), CKR_KEY_FUNCTION_NOT_PERMITTED,
          "CMAC verify with a key lacking CKA_VERIFY refused");
    is_rv(p11->C_Sign(s, (uint8_t *)"x", 1, mac, &len), CKR_OPERATION_NOT_INITIALIZED,
          "  ...and nothing signs");
}

/* Keys shorter than the mechanism asks for. */
static void attack_short_keys(CK_SESSION_HANDLE s)
{
    CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_KWP, NULL, 0}, kw = {CKM_AES_KEY_WRAP, NULL, 0};
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, cmac = {CKM_AES_CMAC, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG l32 = 32;
    CK_ATTRIBUTE want32[] = {{CKA_CLASS, &cls, sizeof(cls)},
                             {CKA_KEY_TYPE, &aes, sizeof(aes)},
                             {CKA_VALUE_LEN, &l32, sizeof(l32)}};
    uint8_t v[16], blob[64];
    CK_OBJECT_HANDLE h, g1, g8, kek, k16, got = CK_INVALID_HANDLE;
    CK_ULONG len = sizeof(blob), before;

    memset(v, 0x42, sizeof(v));
    ok(new_key(s, v, 8, CKK_AES, U_ENC, CK_TRUE, &h) != CKR_OK, "an 8-byte AES key refused");
    ok(new_key(s, v, 15, CKK_AES, U_ENC, CK_TRUE, &h) != CKR_OK, "a 15-byte AES key refused");
    if (new_key(s, v, 1, CKK_GENERIC_SECRET, U_WRAP | U_UNWRAP | U_SIGN, CK_TRUE, &g1) != CKR_OK ||
        new_key(s, v, 8, CKK_GENERIC_SECRET, U_ENC | U_DEC, CK_TRUE, &g8) != CKR_OK ||
        new_key(s, NULL, 16, CKK_AES, U_WRAP | U_UNWRAP, CK_TRUE, &kek) != CKR_OK ||
        new_key(s, NULL, 16, CKK_AES, U_ENC, CK_TRUE, &k16) != CKR_OK) {
        ok(0, "short generic secrets and a 16-byte key");
        return;
    }
    is_rv(p11->C_WrapKey(s, &kwp, g1, k16, blob, &len), CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
          "a 1-byte generic secret does not wrap as an AES key");
    is_rv(p11->C_SignInit(s, &cmac, g1), CKR_KEY_TYPE_INCONSISTENT, "  ...nor CMAC as one");
    is_rv(p11->C_EncryptInit(s, &ecb, g8), CKR_KEY_TYPE_INCONSISTENT,
          "an 8-byte generic secret does not encrypt as an AES key");
    len = sizeof(blob);
    is_rv(p11->C_WrapKey(s, &kw, kek, k16, blob, &len), CKR_OK, "a 16-byte key wrapped");
    before = p11_count(s);
    ok(p11->C_UnwrapKey(s, &kw, kek, blob, len, want32, 3, &got) != CKR_OK,
       "unwrapped into a template that asks for 32 bytes: refused");
    ok(got == CK_INVALID_HANDLE && p11_count(s) == before, "  ...and no object made");
}

int main(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE kms, kms_wrap;

    test_start();
    p11_load();
    is_rv(attack_init(NULL, NULL), CKR_OK, "C_Initialize");
    s = p11_open(0);
    kms = p11_find_label(s, "kms");
    kms_wrap = p11_find_label(s, "kms-wrap");
    ok(kms != CK_INVALID_HANDLE && kms_wrap != CK_INVALID_HANDLE, "the KMS keys are there");
    attack_combinations(s);
    attack_wrap_then_decrypt(s);
    attack_forge_then_unwrap(s, kms_wrap);
    attack_wrap_rules(s, kms);
    attack_changed_blobs(s);
    attack_cmac_without_permission(s);
    attack_short_keys(s);
    p11->C_CloseSession(s);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
