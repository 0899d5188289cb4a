/* test-sign-cmac.c - the AES-CMAC family of sign.h on its own: RFC 4493 and SP 800-38B known
 * answers in one piece and byte by byte, CKM_AES_CMAC_GENERAL truncation, verification, and the
 * keys and parameters it refuses. The call sequence around it: tests/module/test-module-sign. */
#include "tests/kat.h"
#include "tests/unit/cipher-test.h"
#include "module/sign.h"

static const p11kms_sign_family *f = &p11kms_sign_cmac;

/* A data-key object as the object table would hold it. */
static p11kms_object key_obj(CK_KEY_TYPE kt, uint8_t *value, size_t len)
{
    p11kms_object o;

    memset(&o, 0, sizeof(o));
    o.kind = P11KMS_OBJ_DATA_KEY;
    o.key_type = kt;
    o.value = value;
    o.value_len = len;
    return o;
}

/* The MAC of msg with key o under mech, fed in pieces of `step` bytes (0: at once). */
static CK_RV mac(const CK_MECHANISM *m, const p11kms_object *o, const uint8_t *msg, size_t len,
                 size_t step, uint8_t *out, size_t *out_len)
{
    void *st = NULL;
    CK_RV rv = f->begin_locked(m, o, 1, &st);
    size_t i;

    if (rv == CKR_OK)
        rv = f->start(st);
    for (i = 0; rv == CKR_OK && i < len; i += step ? step : len)
        rv = f->update(st, msg + i, step && len - i > step ? step : len - i);
    if (rv == CKR_OK) {
        *out_len = f->length(st);
        rv = f->sign(st, out);
    }
    f->end(st);
    return rv;
}

static void test_kats(void)
{
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    uint8_t key[32], msg[64], want[16], out[16];
    size_t i, kl, n;
    char what[128];

    unhex(KAT_SP_PT, msg, sizeof(msg));
    ok(f->owns(CKM_AES_CMAC) && f->owns(CKM_AES_CMAC_GENERAL) && !f->owns(CKM_AES_ECB),
       "the family owns CKM_AES_CMAC and CKM_AES_CMAC_GENERAL only");
    for (i = 0; i < KAT_N_MACS; i++) {
        const struct kat_mac *v = &kat_macs[i];
        p11kms_object o;

        kl = unhex(v->key, key, sizeof(key));
        unhex(v->mac, want, sizeof(want));
        o = key_obj(CKK_AES, key, kl);
        is_rv(mac(&m, &o, msg, v->msg_len, 0, out, &n), CKR_OK, v->source);
        ok(n == 16 && memcmp(out, want, 16) == 0, v->source);
        snprintf(what, sizeof(what), "%s, one byte at a time", v->source);
        ok(mac(&m, &o, msg, v->msg_len, 1, out, &n) == CKR_OK && memcmp(out, want, 16) == 0, what);
    }
}

static void test_general_and_verify(void)
{
    CK_ULONG want_len;
    CK_MECHANISM gen = {CKM_AES_CMAC_GENERAL, &want_len, sizeof(want_len)};
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0};
    uint8_t key[16], msg[64], full[16], out[16], bad[16];
    p11kms_object o;
    size_t n;
    void *st = NULL;
    int all = 1;

    unhex(KAT_SP_K128, key, sizeof(key));
    unhex(KAT_SP_PT, msg, sizeof(msg));
    unhex(kat_macs[3].mac, full, sizeof(full));
    o = key_obj(CKK_AES, key, 16);
    for (want_len = 1; want_len <= 16; want_len++)
        all &= mac(&gen, &o, msg, 64, 0, out, &n) == CKR_OK && n == want_len &&
               memcmp(out, full, n) == 0;
    ok(all, "CKM_AES_CMAC_GENERAL 1..16: the leftmost bytes of RFC 4493 example 4");

    is_rv(f->begin_locked(&m, &o, 0, &st), CKR_OK, "verify begins");
    is_rv(f->start(st), CKR_OK, "verify starts");
    is_rv(f->update(st, msg, 64), CKR_OK, "verify update");
    is_rv(f->verify(st, full), CKR_OK, "the published MAC verifies");
    f->end(st);
    memcpy(bad, full, 16);
    bad[15] ^= 0x80;
    st = NULL;
    is_rv(f->begin_locked(&m, &o, 0, &st), CKR_OK, "verify begins");
    is_rv(f->start(st), CKR_OK, "verify starts");
    is_rv(f->update(st, msg, 64), CKR_OK, "verify update");
    is_rv(f->verify(st, bad), CKR_SIGNATURE_INVALID, "its last bit changed: invalid");
    f->end(st);
    f->end(NULL);
}

static void test_refusals(void)
{
    CK_ULONG len = 0;
    CK_MECHANISM gen = {CKM_AES_CMAC_GENERAL, &len, sizeof(len)};
    CK_MECHANISM short_param = {CKM_AES_CMAC_GENERAL, &len, 4};
    CK_MECHANISM m = {CKM_AES_CMAC, NULL, 0}, m_param = {CKM_AES_CMAC, &len, sizeof(len)};
    uint8_t key[32] = {1};
    p11kms_object aes = key_obj(CKK_AES, key, 32), gs = key_obj(CKK_GENERIC_SECRET, key, 32);
    p11kms_object short_aes = key_obj(CKK_AES, key, 20), kms = key_obj(CKK_AES, key, 32);
    void *st = NULL;

    kms.kind = P11KMS_OBJ_KMS_KEY;
    is_rv(f->begin_locked(&gen, &aes, 1, &st), CKR_MECHANISM_PARAM_INVALID, "MAC length 0");
    len = 17;
    is_rv(f->begin_locked(&gen, &aes, 1, &st), CKR_MECHANISM_PARAM_INVALID, "MAC length 17");
    len = 8;
    is_rv(f->begin_locked(&short_param, &aes, 1, &st), CKR_MECHANISM_PARAM_INVALID,
          "parameter shorter than a CK_ULONG");
    is_rv(f->begin_locked(&m_param, &aes, 1, &st), CKR_MECHANISM_PARAM_INVALID,
          "CKM_AES_CMAC takes no parameter");
    is_rv(f->begin_locked(&m, &gs, 1, &st), CKR_KEY_TYPE_INCONSISTENT, "a generic secret");
    is_rv(f->begin_locked(&m, &kms, 1, &st), CKR_KEY_TYPE_INCONSISTENT, "a KMS key");
    is_rv(f->begin_locked(&m, &short_aes, 1, &st), CKR_KEY_SIZE_RANGE, "a 20-byte AES key");
    ok(st == NULL, "no state after refusals");
}

int main(void)
{
    test_start();
    test_kats();
    test_general_and_verify();
    test_refusals();
    return test_exit_code();
}
