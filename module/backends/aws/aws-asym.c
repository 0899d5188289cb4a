/* aws-asym.c - asymmetric AWS KMS keys: GetPublicKey (asked once by the core, then kept), Sign
 * of a digest (MessageType DIGEST) and Decrypt with RSA-OAEP. Every answer must name the
 * configured key. No shared state beyond the instance (aws-backend.h). */
#include <stdlib.h>
#include <string.h>
#include "aws-backend.h"
#include "keytype.h"
#include "log.h"
#include "secmem.h"

#define PUBLIC_KEY_MAX 4096 /* a DER SubjectPublicKeyInfo of RSA-4096 is about 550 bytes */
#define SIGNATURE_MAX 1024  /* RSA-4096: 512 bytes; ECDSA P-521 DER: 139 */
#define OAEP_PLAINTEXT_MAX 512

static const char *signing_algorithm(int alg)
{
    switch (alg) {
    case P11KMS_SIG_ECDSA_SHA256:
        return "ECDSA_SHA_256";
    case P11KMS_SIG_ECDSA_SHA384:
        return "ECDSA_SHA_384";
    case P11KMS_SIG_ECDSA_SHA512:
        return "ECDSA_SHA_512";
    case P11KMS_SIG_RSA_PKCS1_SHA256:
        return "RSASSA_PKCS1_V1_5_SHA_256";
    case P11KMS_SIG_RSA_PKCS1_SHA384:
        return "RSASSA_PKCS1_V1_5_SHA_384";
    case P11KMS_SIG_RSA_PKCS1_SHA512:
        return "RSASSA_PKCS1_V1_5_SHA_512";
    case P11KMS_SIG_RSA_PSS_SHA256:
        return "RSASSA_PSS_SHA_256";
    case P11KMS_SIG_RSA_PSS_SHA384:
        return "RSASSA_PSS_SHA_384";
    case P11KMS_SIG_RSA_PSS_SHA512:
        return "RSASSA_PSS_SHA_512";
    default:
        return NULL;
    }
}

/* The answer's KeyId must be the configured key: anything else is a confused or hostile
 * endpoint. 0, or -1 (logged). */
static int answer_key(aws_backend *ab, const char *op, const p11kms_net_reply *r)
{
    char *arn = p11kms_aws_answer_string(r, "KeyId", P11KMS_KEY_REF_MAX);
    int fits = p11kms_aws_arn_fits(ab, arn);

    if (!fits)
        LOG_E("aws: %s %s: the KMS answered for key %s, not the configured key (request id %s)", op,
              ab->key_id, arn != NULL ? arn : "(none)", r->request_id);
    free(arn);
    return fits ? 0 : -1;
}

/* One call with body {"KeyId": ..., <members>}; the answer in *reply after the key check. */
static CK_RV call(aws_backend *ab, const char *op, p11kms_sbuf *body, p11kms_net_reply *reply)
{
    CK_RV rv;

    p11kms_sbuf_char(body, '}');
    rv = p11kms_aws_call(ab->client, op, ab->key_id, body, p11kms_aws_client_deadline(ab->client),
                         reply);
    if (rv == CKR_OK && answer_key(ab, op, reply) != 0)
        rv = CKR_DEVICE_ERROR;
    return rv;
}

static void start(p11kms_sbuf *body, const aws_backend *ab)
{
    p11kms_sbuf_init(body, P11KMS_AWS_BODY_MAX);
    p11kms_sbuf_char(body, '{');
    p11kms_aws_body_string(body, "KeyId", ab->key_id);
}

CK_RV p11kms_aws_public_key(p11kms_backend *be, p11kms_buf *spki)
{
    aws_backend *ab = (aws_backend *)be;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    start(&body, ab);
    rv = call(ab, "GetPublicKey", &body, &reply);
    if (rv == CKR_OK &&
        !p11kms_aws_answer_blob(&reply, "PublicKey", PUBLIC_KEY_MAX, &spki->data, &spki->len)) {
        LOG_E("aws: GetPublicKey %s: answer without a usable PublicKey (request id %s)", ab->key_id,
              reply.request_id);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK)
        LOG_D("aws: GetPublicKey %s: %zu bytes (request id %s)", ab->key_id, spki->len,
              reply.request_id);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

CK_RV p11kms_aws_sign_digest(p11kms_backend *be, int alg, const uint8_t *digest, size_t digest_len,
                             p11kms_buf *sig)
{
    aws_backend *ab = (aws_backend *)be;
    const char *name = signing_algorithm(alg);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    CK_RV rv;

    if (name == NULL || digest_len != p11kms_sig_alg_digest_len(alg)) {
        LOG_E("aws: Sign %s: no AWS signing algorithm for a %zu-byte digest of algorithm %d",
              ab->key_id, digest_len, alg);
        return CKR_GENERAL_ERROR;
    }
    memset(&reply, 0, sizeof(reply));
    start(&body, ab);
    p11kms_aws_body_blob(&body, "Message", digest, digest_len);
    p11kms_aws_body_string(&body, "MessageType", "DIGEST");
    p11kms_aws_body_string(&body, "SigningAlgorithm", name);
    rv = call(ab, "Sign", &body, &reply);
    if (rv == CKR_OK &&
        !p11kms_aws_answer_blob(&reply, "Signature", SIGNATURE_MAX, &sig->data, &sig->len)) {
        LOG_E("aws: Sign %s: answer without a usable Signature (request id %s)", ab->key_id,
              reply.request_id);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK)
        LOG_D("aws: Sign %s with %s (request id %s)", ab->key_id, name, reply.request_id);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

CK_RV p11kms_aws_asym_decrypt(p11kms_backend *be, int alg, const uint8_t *ct, size_t ct_len,
                              p11kms_buf *pt)
{
    aws_backend *ab = (aws_backend *)be;
    const char *name = alg == P11KMS_OAEP_SHA1     ? "RSAES_OAEP_SHA_1"
                       : alg == P11KMS_OAEP_SHA256 ? "RSAES_OAEP_SHA_256"
                                                   : NULL;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint8_t *data = NULL;
    size_t len = 0;
    CK_RV rv;

    if (name == NULL || ct_len == 0 || ct_len > OAEP_PLAINTEXT_MAX) {
        LOG_E("aws: Decrypt %s: no RSA-OAEP ciphertext of algorithm %d", ab->key_id, alg);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    memset(&reply, 0, sizeof(reply));
    start(&body, ab);
    p11kms_aws_body_blob(&body, "CiphertextBlob", ct, ct_len);
    p11kms_aws_body_string(&body, "EncryptionAlgorithm", name);
    rv = call(ab, "Decrypt", &body, &reply);
    if (rv == CKR_OK &&
        !p11kms_aws_answer_blob(&reply, "Plaintext", OAEP_PLAINTEXT_MAX, &data, &len)) {
        LOG_E("aws: Decrypt %s: answer without a usable Plaintext (request id %s)", ab->key_id,
              reply.request_id);
        rv = CKR_DEVICE_ERROR;
    }
    if (rv == CKR_OK) {
        pt->data = data;
        pt->len = len;
        data = NULL;
        LOG_D("aws: Decrypt %s with %s: %zu bytes (request id %s)", ab->key_id, name, len,
              reply.request_id);
    }
    p11kms_secure_free(data, len);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}
