/* attack-keyset.c - attacks on key sets (several KMS entries per key): someone holding a session
 * (and write access to stored envelopes) splices, relabels and pads envelopes so that a refusal
 * turns into a failover, a foreign or stale entry gets asked, or the module calls the KMS over
 * and over. Each is refused or bounded; the audit trail counts the KMS uses. */
#include "tests/attacks/attack.h"

/* A local key file (the format of module/backends/local/local.md), the set's second entry. */
#define KEY_FILE_TEXT                                                                              \
    "p11kms-key-file 1\n"                                                                          \
    "name 3f0c9a1e5b7d2c4a8e6f1b3d5c7a9e0b\n"                                                      \
    "version 1 q5YkVxJ0m4Xn9a2hZ8s1cT3bW6eR7uI0oP4lK2jH8gE=\n"

static CK_SESSION_HANDLE sess;
static char audit_path[400];

/* One blob of an envelope, as offsets into its bytes. */
typedef struct blob {
    size_t off, len;         /* the whole blob */
    size_t ref_off, ref_len; /* its key reference */
    size_t ct_off, ct_len;   /* its ciphertext */
} blob;

/* The blobs of a version-2 envelope; their number (0 when it does not parse). */
static size_t blobs_of(const uint8_t *e, size_t len, blob *b, size_t max)
{
    size_t off = 7, i, n = len > 6 ? e[6] : 0;

    for (i = 0; i < n && i < max; i++) {
        if (off + 3 > len)
            return 0;
        b[i].off = off;
        b[i].ref_len = ((size_t)e[off + 1] << 8) | e[off + 2];
        b[i].ref_off = off + 3;
        off = b[i].ref_off + b[i].ref_len + 4;
        if (off + 4 > len)
            return 0;
        b[i].ct_len = ((size_t)e[off] << 24) | ((size_t)e[off + 1] << 16) |
                      ((size_t)e[off + 2] << 8) | e[off + 3];
        b[i].ct_off = off + 4;
        off = b[i].ct_off + b[i].ct_len;
        if (off > len)
            return 0;
        b[i].len = off - b[i].off;
    }
    return off == len ? n : 0;
}

/* An envelope of header + the given blobs (each given as bytes of a source envelope). */
static size_t assemble(const uint8_t *hdr, const uint8_t *const *src, const blob *bl, size_t n,
                       uint8_t *out)
{
    size_t i, off = 7;

    memcpy(out, hdr, 6);
    out[6] = (uint8_t)n;
    for (i = 0; i < n; i++) {
        memcpy(out + off, src[i] + bl[i].off, bl[i].len);
        off += bl[i].len;
    }
    return off;
}

static CK_RV unwrap_to(CK_OBJECT_HANDLE kms, uint8_t *env, CK_ULONG len, uint8_t *val)
{
    P11_UNWRAP_TEMPLATE(t);
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG vlen = 32;
    CK_RV rv = p11_unwrap_default(sess, kms, env, len, t, 4, &h);

    if (rv == CKR_OK) {
        if (!p11_value(sess, h, val, &vlen))
            rv = CKR_GENERAL_ERROR;
        p11->C_DestroyObject(sess, h);
    }
    return rv;
}

static int uses(void)
{
    return p11_file_count(audit_path, "\"op\":\"unwrap\"");
}

static const char *config(void)
{
    static char text[8192];
    char key[512], backends[600];
    const char *kf = p11_write("set.key", KEY_FILE_TEXT, 0600);

    attack_key_members(key, sizeof(key));
    attack_backends_member(backends, sizeof(backends));
    snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", p11_tmp());
    snprintf(
        text, sizeof(text),
        "{%s\"audit\": {\"destination\": \"file:%s\"},\n"
        " \"tokens\": [{\"label\": \"attack\", \"keys\": [\n"
        "  {\"label\": \"set\", \"kms\": [{%s}, {\"backend\": \"local\", \"key_file\": \"%s\"}]},\n"
        "  {\"label\": \"first\", %s},\n"
        "  {\"label\": \"second\", \"backend\": \"local\", \"key_file\": \"%s\"},\n"
        "  {\"label\": \"rotated\", \"kms\": [{\"backend\": \"local\", \"key_file\": \"%s\"}],\n"
        "   \"previous\": [{%s}]}]}]}\n",
        backends, audit_path, key, kf, key, kf, kf, key);
    return p11_write("attack.conf", text, 0600);
}

/* The ciphertext of the second entry relabelled with the first entry's key reference, put in
 * front of the genuine blobs: the first KMS refuses it, and that refusal must be the answer
 * (a failover would let a tampered envelope through on the other KMS). */
static void attack_relabelled_blob(CK_OBJECT_HANDLE set, const uint8_t *env, size_t len)
{
    blob b[8];
    uint8_t forged[8192], val[32];
    size_t n = blobs_of(env, len, b, 8), off, before;

    ok(n == 2, "the set's envelope has two blobs");
    if (n != 2)
        return;
    /* blob: id, ref of blob 0, version of blob 0, ct of blob 1 */
    memcpy(forged, env, 6);
    forged[6] = 1;
    off = 7;
    memcpy(forged + off, env + b[0].off, b[0].ct_off - 4 - b[0].off);
    off += b[0].ct_off - 4 - b[0].off;
    forged[off++] = (uint8_t)(b[1].ct_len >> 24);
    forged[off++] = (uint8_t)(b[1].ct_len >> 16);
    forged[off++] = (uint8_t)(b[1].ct_len >> 8);
    forged[off++] = (uint8_t)b[1].ct_len;
    memcpy(forged + off, env + b[1].ct_off, b[1].ct_len);
    off += b[1].ct_len;
    /* ...followed by the genuine second blob */
    memcpy(forged + off, env + b[1].off, b[1].len);
    off += b[1].len;
    forged[6] = 2;
    before = (size_t)uses();
    is_rv(unwrap_to(set, forged, (CK_ULONG)off, val), CKR_WRAPPED_KEY_INVALID,
          "a blob moved to another entry's reference is refused");
    is_num(uses() - (int)before, 1, "by the first KMS alone: no failover after a refusal");
}

/* Eight copies of a blob the first KMS refuses: one KMS use, not eight. */
static void attack_padding(CK_OBJECT_HANDLE set, const uint8_t *env, size_t len)
{
    blob b[8], many[8];
    const uint8_t *src[8];
    uint8_t forged[16384], val[32];
    size_t n = blobs_of(env, len, b, 8), i, flen, before;

    if (n != 2)
        return;
    for (i = 0; i < 8; i++) {
        many[i] = b[0];
        src[i] = env;
    }
    flen = assemble(env, src, many, 8, forged);
    /* break every copy's ciphertext the same way */
    for (i = 0; i < 8; i++)
        forged[7 + i * b[0].len + (b[0].ct_off - b[0].off) + b[0].ct_len / 2] ^= 0x5a;
    before = (size_t)uses();
    is_rv(unwrap_to(set, forged, (CK_ULONG)flen, val), CKR_WRAPPED_KEY_INVALID,
          "eight tampered copies of one entry's blob are refused");
    is_num(uses() - (int)before, 1, "with one KMS use, not eight");
}

/* Only blobs of KMS keys outside the set: refused before any KMS use. A genuine blob of the
 * set after them still serves (the foreign ones are never sent anywhere). */
static void attack_foreign(CK_OBJECT_HANDLE set, CK_OBJECT_HANDLE second, const uint8_t *env,
                           size_t len)
{
    CK_OBJECT_HANDLE dk = attack_secret(sess, 32, CK_FALSE, CK_TRUE);
    uint8_t other[4096], forged[8192], val[32];
    CK_ULONG olen;
    blob b[8], ob[8], pick[2];
    const uint8_t *src[2];
    size_t before, flen;

    /* a foreign entry: the "first" key alone wraps, then its reference is renamed */
    is_rv(p11_wrap_default(sess, second, dk, other, sizeof(other), &olen), CKR_OK,
          "an envelope of another key");
    if (blobs_of(other, olen, ob, 8) != 1 || blobs_of(env, len, b, 8) != 2)
        return;
    other[ob[0].ref_off] ^= 0x01; /* "name" of a key file nobody configured */
    before = (size_t)uses();
    is_rv(unwrap_to(set, other, olen, val), CKR_WRAPPED_KEY_INVALID,
          "an envelope naming no entry of the set is refused");
    is_num(uses() - (int)before, 0, "before any KMS use");
    pick[0] = ob[0];
    src[0] = other;
    pick[1] = b[0];
    src[1] = env;
    flen = assemble(env, src, pick, 2, forged);
    is_rv(unwrap_to(set, forged, (CK_ULONG)flen, val), CKR_OK,
          "a foreign blob in front of a genuine one: the genuine entry serves");
    p11->C_DestroyObject(sess, dk);
}

/* Entries that disagree: blob 1 of one envelope with blob 2 of another. The set answers with
 * its preferred entry, the same key every time; the second entry alone answers with its own. */
static void attack_disagree(CK_OBJECT_HANDLE set, CK_OBJECT_HANDLE second, const uint8_t *e1,
                            size_t l1, const uint8_t *v1)
{
    CK_OBJECT_HANDLE dk = attack_secret(sess, 32, CK_FALSE, CK_TRUE);
    uint8_t e2[4096], forged[8192], val[32], val2[32];
    CK_ULONG l2;
    blob b1[8], b2[8], pick[2];
    const uint8_t *src[2];
    size_t flen;

    is_rv(p11_wrap_default(sess, set, dk, e2, sizeof(e2), &l2), CKR_OK, "a second envelope");
    if (blobs_of(e1, l1, b1, 8) != 2 || blobs_of(e2, l2, b2, 8) != 2)
        return;
    pick[0] = b1[0];
    src[0] = e1;
    pick[1] = b2[1];
    src[1] = e2;
    flen = assemble(e1, src, pick, 2, forged);
    is_rv(unwrap_to(set, forged, (CK_ULONG)flen, val), CKR_OK, "a spliced envelope unwraps");
    ok(memcmp(val, v1, 32) == 0, "to the preferred entry's key");
    is_rv(unwrap_to(set, forged, (CK_ULONG)flen, val), CKR_OK, "again");
    ok(memcmp(val, v1, 32) == 0, "the same key (no entry is chosen at random)");
    is_rv(unwrap_to(second, forged, (CK_ULONG)flen, val2), CKR_OK,
          "the second entry alone opens its own blob");
    ok(memcmp(val2, v1, 32) != 0, "which holds the other key: disagreement is not detected "
                                  "(an attacker who may wrap could write a whole envelope anyway)");
    p11->C_DestroyObject(sess, dk);
}

/* A previous entry never wraps: an envelope of a rotated key names only its current entry, so
 * retiring the previous key cannot strand new envelopes. */
static void attack_previous(CK_OBJECT_HANDLE rotated)
{
    CK_OBJECT_HANDLE dk = attack_secret(sess, 32, CK_FALSE, CK_TRUE);
    uint8_t e[4096];
    CK_ULONG l;
    blob b[8];

    is_rv(p11_wrap_default(sess, rotated, dk, e, sizeof(e), &l), CKR_OK, "a rotated key wraps");
    /* a local key file's blobs name the file's key: "local:<name>" */
    ok(blobs_of(e, l, b, 8) == 1 && b[0].ref_len == 38 &&
           memcmp(e + b[0].ref_off, "local:3f0c9a1e5b7d2c4a8e6f1b3d5c7a9e0b", 38) == 0,
       "under its current entry only, never the previous one");
    p11->C_DestroyObject(sess, dk);
}

int main(void)
{
    CK_OBJECT_HANDLE set, first, second, rotated, dk;
    uint8_t env[4096], v[32], got[32];
    CK_ULONG len, vlen = 32;

    test_start();
    p11_load();
    diag("backend: %s", attack_backend());
    is_rv(p11_init_config(config()), CKR_OK, "C_Initialize with a key set and an audit trail");
    sess = p11_open(0);
    set = p11_find_label(sess, "set");
    first = p11_find_label(sess, "first");
    second = p11_find_label(sess, "second");
    rotated = p11_find_label(sess, "rotated");
    ok(set && first && second && rotated, "the keys");
    dk = attack_secret(sess, 32, CK_FALSE, CK_TRUE);
    ok(p11_value(sess, dk, v, &vlen), "a readable data key");
    is_rv(p11_wrap_default(sess, set, dk, env, sizeof(env), &len), CKR_OK, "wrapped by the set");
    is_rv(unwrap_to(set, env, len, got), CKR_OK, "and unwrapped");
    ok(memcmp(got, v, 32) == 0, "the same key");
    attack_relabelled_blob(set, env, len);
    attack_padding(set, env, len);
    attack_foreign(set, first, env, len);
    attack_disagree(set, second, env, len, v);
    attack_previous(rotated);
    is_num(p11_file_count(audit_path, "\"outcome\":\"ok\"") > 0, 1, "the audit trail was kept");
    p11->C_CloseSession(sess);
    is_rv(p11->C_Finalize(NULL), CKR_OK, "C_Finalize");
    return test_exit_code();
}
