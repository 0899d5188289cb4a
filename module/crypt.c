/* crypt.c - C_EncryptInit..C_DecryptFinal for every key kind: data keys run through OpenSSL
 * (cipher.c) in the session; KMS keys send small secrets (<= 4 KiB) to the KMS as an envelope; RSA
 * KMS keys do RSA-OAEP (crypt-asym.c). The key is looked up under g.lock at init; the work itself
 * runs with only the session held. */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "crypt-asym.h"
#include "envelope-seal.h"
#include "log.h"
#include "object.h"
#include "ops.h"
#include "state.h"
#include "store.h"

static p11kms_crypt_op *op_of(p11kms_session *s, int encrypt)
{
    return encrypt ? &s->enc : &s->dec;
}

CK_RV p11kms_crypt_init(p11kms_session *s, int encrypt, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_crypt_op *op = op_of(s, encrypt);
    p11kms_object *o = NULL;
    p11kms_crypt_asym *asym = NULL;
    uint8_t value[32];
    size_t value_len = 0;
    int rewrap = mech->mechanism == CKM_P11KMS_REWRAP;
    int vendor = mech->mechanism == CKM_P11KMS_ENVELOPE ||
                 mech->mechanism == CKM_P11KMS_ENVELOPE_ENCODED || rewrap;

    if (op->active)
        return CKR_OPERATION_ACTIVE;
    if (rewrap && !encrypt)
        return CKR_MECHANISM_INVALID;                /* an encrypt-only mechanism */
    rv = p11kms_store_use(s, key, P11KMS_USE_VALUE); /* a stored key is unsealed on first use */
    if (rv != CKR_OK)
        return rv;
    p11kms_lock();
    rv = p11kms_object_get_locked(s, key, &o);
    if (rv != CKR_OK) {
        rv = CKR_KEY_HANDLE_INVALID;
    } else if (o->kind == P11KMS_OBJ_PRIVATE_KEY || o->kind == P11KMS_OBJ_PUBLIC_KEY) {
        rv = p11kms_crypt_asym_begin(mech, o->asym,
                                     encrypt ? o->kind == P11KMS_OBJ_PUBLIC_KEY && o->encrypt
                                             : o->kind == P11KMS_OBJ_PRIVATE_KEY && o->decrypt,
                                     encrypt, &asym);
    } else if (o->kind == P11KMS_OBJ_KMS_KEY) {
        if (!vendor)
            rv = p11kms_cipher_supports(mech->mechanism) ? CKR_KEY_TYPE_INCONSISTENT
                                                         : CKR_MECHANISM_INVALID;
        else if (rewrap ? !(o->wrap && o->unwrap) : !(encrypt ? o->encrypt : o->decrypt))
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED; /* rewrap = unwrap + wrap */
    } else {
        if (vendor)
            rv = CKR_KEY_TYPE_INCONSISTENT;
        else if (!p11kms_cipher_supports(mech->mechanism))
            rv = CKR_MECHANISM_INVALID;
        else if (o->key_type != CKK_AES || o->value_len > sizeof(value))
            rv = CKR_KEY_TYPE_INCONSISTENT;
        else if (!(encrypt ? o->encrypt : o->decrypt))
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        else if (encrypt ? o->unwrap : o->wrap)
            rv = CKR_KEY_FUNCTION_NOT_PERMITTED; /* it would open AES key wrap (keywrap.c) */
        else if (!p11kms_object_value_ready(o))
            rv = CKR_GENERAL_ERROR;
        else {
            memcpy(value, o->value, o->value_len);
            value_len = o->value_len;
        }
    }
    p11kms_unlock();
    if (rv != CKR_OK)
        goto out;
    if (asym != NULL) {
        rv = p11kms_crypt_asym_start(asym);
        if (rv != CKR_OK)
            goto out;
        op->asym = asym;
        asym = NULL;
        op->kms = 1; /* the KMS path: one call, its result kept for a short buffer */
    } else if (o->kind == P11KMS_OBJ_KMS_KEY) {
        rv = p11kms_context_from_mechanism(mech, o->kcfg->context, &op->context);
        if (rv != CKR_OK)
            goto out;
        op->kms = 1;
        op->rewrap = rewrap;
        op->keyset = o->keyset; /* lives until C_Finalize */
    } else {
        rv = op->cipher ? p11kms_cipher_reinit(op->cipher, mech, encrypt, value, value_len)
                        : p11kms_cipher_init(&op->cipher, mech, encrypt, value, value_len);
        if (rv != CKR_OK)
            goto out;
        op->kms = 0;
    }
    op->active = 1;
out:
    OPENSSL_cleanse(value, sizeof(value));
    p11kms_crypt_asym_free(asym);
    p11kms_object_put(o);
    return rv;
}

static int digest_of(const uint8_t *p, size_t n, uint8_t out[SHA256_DIGEST_LENGTH])
{
    return EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1;
}

/* The KMS half: seal or open `in` once; the result waits in op->result when the caller's
 * buffer is too small, so the retry costs no second KMS call. */
static CK_RV kms_run(p11kms_crypt_op *op, int encrypt, const uint8_t *in, size_t in_len,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    int asked = 1;

    if (encrypt && op->asym == NULL && !op->rewrap &&
        (in_len == 0 || in_len > P11KMS_KMS_PLAINTEXT_MAX))
        return CKR_DATA_LEN_RANGE;
    if (!digest_of(in, in_len, digest))
        return CKR_HOST_MEMORY;
    if (op->result.data != NULL && CRYPTO_memcmp(digest, op->input_digest, sizeof(digest)) == 0)
        return p11kms_out_copy(out, out_len, op->result.data, op->result.len);
    p11kms_buf_wipe(&op->result);
    if (out == NULL) {
        /* Length query without a KMS call: an upper bound (a rewrapped key is shorter than the
         * envelope it came in). */
        *out_len = op->asym != NULL ? p11kms_crypt_asym_bound(op->asym, in_len)
                   : op->rewrap     ? p11kms_envelope_bound(op->keyset, in_len)
                   : encrypt        ? p11kms_envelope_bound(op->keyset, in_len)
                                    : in_len;
        return CKR_OK;
    }
    if (op->asym != NULL) {
        rv = p11kms_crypt_asym_run(op->asym, in, in_len, &op->result);
        if (rv != CKR_OK)
            return rv;
        memcpy(op->input_digest, digest, sizeof(digest));
        return p11kms_out_copy(out, out_len, op->result.data, op->result.len);
    }
    if (op->rewrap) {
        rv = p11kms_envelope_rewrap(op->keyset, op->context, in, in_len, &op->result, &asked);
        LOG_I("KMS rewrap of a %zu-byte envelope with key \"%s\": %s", in_len,
              op->keyset->kc->label, p11kms_rv_name(rv));
        if (rv == CKR_WRAPPED_KEY_INVALID)
            rv = CKR_DATA_INVALID; /* not a wrapped key of this key */
        if (rv != CKR_OK)
            return rv;
        memcpy(op->input_digest, digest, sizeof(digest));
        return p11kms_out_copy(out, out_len, op->result.data, op->result.len);
    }
    /* A C_Encrypt envelope says it holds data: C_UnwrapKey refuses it, and C_Decrypt refuses
     * any envelope that does not say so (wrap.c). */
    if (encrypt)
        rv = p11kms_envelope_seal(op->keyset, op->context, P11KMS_PURPOSE_DATA, in, in_len,
                                  &op->result);
    else
        rv = p11kms_envelope_open(op->keyset, op->context, P11KMS_PURPOSE_DATA, in, in_len,
                                  &op->result, &asked);
    if (asked)
        LOG_I("KMS %s of %zu bytes with key \"%s\": %s", encrypt ? "encrypt" : "decrypt", in_len,
              op->keyset->kc->label, p11kms_rv_name(rv));
    if (!encrypt && rv == CKR_WRAPPED_KEY_INVALID)
        rv = CKR_ENCRYPTED_DATA_INVALID; /* not an envelope, or not this key's */
    if (rv != CKR_OK)
        return rv;
    memcpy(op->input_digest, digest, sizeof(digest));
    return p11kms_out_copy(out, out_len, op->result.data, op->result.len);
}

/* Whether the operation goes on after rv: only length queries and short buffers keep it. */
static void settle(p11kms_crypt_op *op, CK_RV rv, CK_BYTE_PTR out)
{
    if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL))
        return;
    p11kms_crypt_op_reset(op);
}

CK_RV p11kms_crypt_oneshot(p11kms_session *s, int encrypt, CK_BYTE_PTR in, CK_ULONG in_len,
                           CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_crypt_op *op = op_of(s, encrypt);
    size_t written = 0;
    int done;

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (op->started) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if (op->kms) {
        rv = kms_run(op, encrypt, in, in_len, out, out_len);
        goto out;
    }
    rv = p11kms_out_room(out, out_len, p11kms_cipher_oneshot_len(op->cipher, in_len), &done);
    if (done)
        goto out;
    rv = p11kms_cipher_oneshot(op->cipher, in, in_len, out, &written);
    if (rv == CKR_OK)
        *out_len = written;
out:
    settle(op, rv, out);
    return rv;
}

CK_RV p11kms_crypt_update(p11kms_session *s, int encrypt, CK_BYTE_PTR in, CK_ULONG in_len,
                          CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_crypt_op *op = op_of(s, encrypt);
    size_t written = 0, limit;
    int done;

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (op->kms) {
        /* Collected and sent to the KMS at C_*Final: the KMS has no streaming interface. */
        uint8_t *grown;
        limit = encrypt && !op->rewrap ? P11KMS_KMS_PLAINTEXT_MAX : 65536;
        if (in_len > limit - op->input.len) {
            rv = encrypt ? CKR_DATA_LEN_RANGE : CKR_ENCRYPTED_DATA_LEN_RANGE;
            goto out;
        }
        grown = malloc(op->input.len + in_len + 1);
        if (grown == NULL) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
        if (op->input.len)
            memcpy(grown, op->input.data, op->input.len);
        if (in_len)
            memcpy(grown + op->input.len, in, in_len);
        written = op->input.len + in_len;
        p11kms_buf_wipe(&op->input);
        op->input.data = grown;
        op->input.len = written;
        op->started = 1;
        *out_len = 0;
        rv = CKR_OK;
        goto out;
    }
    rv = p11kms_out_room(out, out_len, p11kms_cipher_update_len(op->cipher, in_len), &done);
    if (done)
        goto out;
    rv = p11kms_cipher_update(op->cipher, in, in_len, out, &written);
    if (rv == CKR_OK) {
        *out_len = written;
        op->started = 1;
    }
out:
    /* Any failure but a short buffer ends a multi-part operation. */
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        p11kms_crypt_op_reset(op);
    return rv;
}

CK_RV p11kms_crypt_final(p11kms_session *s, int encrypt, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    p11kms_crypt_op *op = op_of(s, encrypt);
    size_t written = 0;
    int done;

    if (!op->active)
        return CKR_OPERATION_NOT_INITIALIZED;
    if (op->kms) {
        rv = kms_run(op, encrypt, op->input.data, op->input.len, out, out_len);
        goto out;
    }
    rv = p11kms_out_room(out, out_len, p11kms_cipher_final_len(op->cipher), &done);
    if (done)
        goto out;
    rv = p11kms_cipher_final(op->cipher, out, &written);
    if (rv == CKR_OK)
        *out_len = written;
out:
    settle(op, rv, out);
    return rv;
}
