/* aws-backend.c - the "aws" backend: data keys wrapped by AWS KMS Encrypt/Decrypt with the
 * encryption context as the native map, ReEncrypt, and DescribeKey for diagnostics; the
 * asymmetric operations are in aws-asym.c. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws-backend.h"
#include "aws-client.h"
#include "backend.h"
#include "kms-report.h"
#include "log.h"
#include "secmem.h"

/*
 * Locking: lock protects resolved_arn only (learned from the first Encrypt when the key is
 * configured by alias). The client's own parts lock themselves (credential cache, quota,
 * connection pool), so calls run in parallel.
 */

#define AWS_CIPHERTEXT_MAX 6144 /* the KMS model's bound on CiphertextBlob */
#define BODY_MAX P11KMS_AWS_BODY_MAX

int p11kms_aws_arn_fits(const aws_backend *ab, const char *arn)
{
    p11kms_aws_keyref r;

    if (arn == NULL || p11kms_aws_keyref_parse(arn, &r) != 0 || r.kind != P11KMS_AWS_KEY_ARN)
        return 0;
    switch (ab->ref.kind) {
    case P11KMS_AWS_KEY_ARN:
        return strcmp(arn, ab->key_id) == 0;
    case P11KMS_AWS_KEY_ID:
        return strcmp(r.id, ab->ref.id) == 0 && strcmp(r.region, ab->client->region) == 0;
    case P11KMS_AWS_ALIAS_ARN:
        return strcmp(r.partition, ab->ref.partition) == 0 &&
               strcmp(r.region, ab->ref.region) == 0 && strcmp(r.account, ab->ref.account) == 0;
    default:
        return strcmp(r.region, ab->client->region) == 0;
    }
}

static int aws_owns(p11kms_backend *be, const p11kms_kms_blob *in)
{
    aws_backend *ab = (aws_backend *)be;
    int owned;

    if (in->backend_id != P11KMS_AWS_ENVELOPE_ID || in->key_ref == NULL)
        return 0;
    pthread_mutex_lock(&ab->lock);
    owned = ab->resolved_arn != NULL ? strcmp(in->key_ref, ab->resolved_arn) == 0
                                     : p11kms_aws_arn_fits(ab, in->key_ref);
    pthread_mutex_unlock(&ab->lock);
    return owned;
}

/* ,"Name":{"k":"v",...} (nothing for an empty context: the same as no context to KMS) */
static void add_context(p11kms_sbuf *b, const char *name, const p11kms_context *ctx)
{
    size_t i;

    if (ctx == NULL || ctx->n == 0)
        return;
    p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_str(b, ":{");
    for (i = 0; i < ctx->n; i++) {
        if (i > 0)
            p11kms_sbuf_char(b, ',');
        p11kms_sbuf_json_string(b, ctx->pairs[i].key, ctx->pairs[i].key_len);
        p11kms_sbuf_char(b, ':');
        p11kms_sbuf_json_string(b, ctx->pairs[i].value, ctx->pairs[i].value_len);
    }
    p11kms_sbuf_char(b, '}');
}

void p11kms_aws_body_string(p11kms_sbuf *b, const char *name, const char *value)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_char(b, ':');
    p11kms_sbuf_json_string(b, value, strlen(value));
}

void p11kms_aws_body_blob(p11kms_sbuf *b, const char *name, const uint8_t *p, size_t n)
{
    if (b->len > 1)
        p11kms_sbuf_char(b, ',');
    p11kms_sbuf_json_string(b, name, strlen(name));
    p11kms_sbuf_str(b, ":\"");
    p11kms_sbuf_base64(b, p, n);
    p11kms_sbuf_char(b, '"');
}

char *p11kms_aws_answer_string(const p11kms_net_reply *r, const char *name, size_t max)
{
    p11kms_json v;
    char *s = NULL;

    if (!p11kms_json_member(&r->root, name, &v) || p11kms_json_string(&v, max, &s) != 0)
        return NULL;
    return s;
}

int p11kms_aws_answer_blob(const p11kms_net_reply *r, const char *name, size_t max, uint8_t **p,
                           size_t *n)
{
    p11kms_json v;

    return p11kms_json_member(&r->root, name, &v) && p11kms_json_base64(&v, max, p, n) == 0;
}

/* Take CiphertextBlob and KeyId of an Encrypt/ReEncrypt answer into a blob for dst. */
static CK_RV take_ciphertext(aws_backend *dst, const char *op, const p11kms_net_reply *r,
                             p11kms_kms_blob *out)
{
    char *arn = p11kms_aws_answer_string(r, "KeyId", P11KMS_KEY_REF_MAX);
    uint8_t *ct = NULL;
    size_t ct_len = 0;

    if (arn == NULL ||
        !p11kms_aws_answer_blob(r, "CiphertextBlob", P11KMS_BLOB_CT_MAX, &ct, &ct_len)) {
        LOG_E("aws: %s %s: answer without a usable KeyId or CiphertextBlob (request id %s)", op,
              dst->key_id, r->request_id);
        p11kms_kms_report_fault(P11KMS_FAULT_UNAVAILABLE); /* a broken endpoint, not a no */
        free(arn);
        free(ct);
        return CKR_DEVICE_ERROR;
    }
    if (!p11kms_aws_arn_fits(dst, arn)) {
        LOG_E("aws: %s %s: the KMS used key %s, which is not the configured key (request id %s)",
              op, dst->key_id, arn, r->request_id);
        free(arn);
        free(ct);
        return CKR_DEVICE_ERROR;
    }
    if (dst->ref.kind == P11KMS_AWS_ALIAS_NAME || dst->ref.kind == P11KMS_AWS_ALIAS_ARN) {
        pthread_mutex_lock(&dst->lock);
        if (dst->resolved_arn == NULL || strcmp(dst->resolved_arn, arn) != 0) {
            if (dst->resolved_arn != NULL)
                LOG_I("aws: alias %s now names %s (was %s)", dst->key_id, arn, dst->resolved_arn);
            free(dst->resolved_arn);
            dst->resolved_arn = strdup(arn);
        }
        pthread_mutex_unlock(&dst->lock);
    }
    out->backend_id = P11KMS_AWS_ENVELOPE_ID;
    out->key_ref = arn;
    out->key_version = 0; /* AWS ciphertexts carry their key material version themselves */
    out->ct = ct;
    out->ct_len = ct_len;
    return CKR_OK;
}

static CK_RV aws_encrypt(p11kms_backend *be, const p11kms_context *ctx, const uint8_t *pt,
                         size_t pt_len, p11kms_kms_blob *out)
{
    aws_backend *ab = (aws_backend *)be;
    uint64_t deadline = p11kms_aws_client_deadline(ab->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    memset(&reply, 0, sizeof(reply));
    if (pt_len == 0 || pt_len > P11KMS_KMS_PLAINTEXT_MAX) {
        LOG_E("aws: Encrypt %s: %zu bytes; AWS KMS encrypts 1 to %d bytes", ab->key_id, pt_len,
              P11KMS_KMS_PLAINTEXT_MAX);
        return CKR_DATA_LEN_RANGE;
    }
    p11kms_sbuf_init(&body, BODY_MAX);
    p11kms_sbuf_char(&body, '{');
    p11kms_aws_body_string(&body, "KeyId", ab->key_id);
    p11kms_aws_body_blob(&body, "Plaintext", pt, pt_len);
    add_context(&body, "EncryptionContext", ctx);
    p11kms_sbuf_char(&body, '}');
    rv = p11kms_aws_call(ab->client, "Encrypt", ab->key_id, &body, deadline, &reply);
    if (rv == CKR_OK)
        rv = take_ciphertext(ab, "Encrypt", &reply, out);
    if (rv == CKR_OK)
        LOG_D("aws: Encrypt %s: %zu bytes under %s (request id %s)", ab->key_id, pt_len,
              out->key_ref, reply.request_id);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static CK_RV aws_decrypt(p11kms_backend *be, const p11kms_context *ctx, const p11kms_kms_blob *in,
                         p11kms_buf *pt)
{
    aws_backend *ab = (aws_backend *)be;
    uint64_t deadline = p11kms_aws_client_deadline(ab->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint8_t *data = NULL;
    size_t len = 0;
    char *arn = NULL;
    CK_RV rv;

    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    if (in->ct == NULL || in->ct_len == 0 || in->ct_len > P11KMS_BLOB_CT_MAX) {
        LOG_E("aws: Decrypt %s: no usable ciphertext in the blob", ab->key_id);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    /* KeyId is sent so the KMS refuses a ciphertext of any other key (IncorrectKeyException),
     * even one the caller's credentials could decrypt. */
    p11kms_sbuf_char(&body, '{');
    p11kms_aws_body_string(&body, "KeyId", ab->key_id);
    p11kms_aws_body_blob(&body, "CiphertextBlob", in->ct, in->ct_len);
    add_context(&body, "EncryptionContext", ctx);
    p11kms_sbuf_char(&body, '}');
    rv = p11kms_aws_call(ab->client, "Decrypt", ab->key_id, &body, deadline, &reply);
    if (rv != CKR_OK)
        goto out;
    rv = CKR_DEVICE_ERROR;
    arn = p11kms_aws_answer_string(&reply, "KeyId", P11KMS_KEY_REF_MAX);
    if (arn == NULL ||
        !p11kms_aws_answer_blob(&reply, "Plaintext", P11KMS_KMS_PLAINTEXT_MAX, &data, &len)) {
        LOG_E("aws: Decrypt %s: answer without a usable KeyId or Plaintext (request id %s)",
              ab->key_id, reply.request_id);
        p11kms_kms_report_fault(P11KMS_FAULT_UNAVAILABLE); /* a broken endpoint, not a no */
        goto out;
    }
    /* The answer must come from the key the envelope names (the AWS Encryption SDK checks the
     * same): anything else means a confused or hostile endpoint, and the plaintext is dropped. */
    if (strcmp(arn, in->key_ref) != 0) {
        LOG_E("aws: Decrypt %s: the KMS answered for key %s but the envelope names %s; refused "
              "(request id %s)",
              ab->key_id, arn, in->key_ref, reply.request_id);
        p11kms_kms_report_fault(P11KMS_FAULT_DEFINITIVE);
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    pt->data = data;
    pt->len = len;
    data = NULL;
    LOG_D("aws: Decrypt %s: %zu bytes (request id %s)", ab->key_id, len, reply.request_id);
    rv = CKR_OK;
out:
    p11kms_secure_free(data, len);
    free(arn);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static size_t aws_blob_bound(p11kms_backend *be, size_t pt_len)
{
    aws_backend *ab = (aws_backend *)be;
    size_t ref = P11KMS_KEY_REF_MAX;

    (void)pt_len; /* AWS ciphertexts are opaque: bound by the model's maximum */
    if (ab->ref.kind == P11KMS_AWS_KEY_ARN) {
        ref = strlen(ab->key_id);
    } else {
        pthread_mutex_lock(&ab->lock);
        if (ab->resolved_arn != NULL)
            ref = strlen(ab->resolved_arn);
        pthread_mutex_unlock(&ab->lock);
    }
    return ref + AWS_CIPHERTEXT_MAX;
}

static uint32_t aws_current_version(p11kms_backend *be)
{
    (void)be;
    return 0;
}

static CK_RV aws_reencrypt(p11kms_backend *src, const p11kms_context *src_ctx,
                           const p11kms_kms_blob *in, p11kms_backend *dst,
                           const p11kms_context *dst_ctx, p11kms_kms_blob *out)
{
    aws_backend *sa = (aws_backend *)src, *da = (aws_backend *)dst;
    p11kms_net_reply reply;
    p11kms_sbuf body;
    uint64_t deadline;
    char *source = NULL;
    CK_RV rv;

    memset(out, 0, sizeof(*out));
    if (dst->ops != src->ops)
        return CKR_FUNCTION_NOT_SUPPORTED; /* AWS KMS to AWS KMS only (backend.h) */
    if (in->ct == NULL || in->ct_len == 0 || in->ct_len > P11KMS_BLOB_CT_MAX) {
        LOG_E("aws: ReEncrypt %s: no usable ciphertext in the blob", sa->key_id);
        return CKR_ENCRYPTED_DATA_INVALID;
    }
    memset(&reply, 0, sizeof(reply));
    deadline = p11kms_aws_client_deadline(da->client);
    p11kms_sbuf_init(&body, BODY_MAX);
    p11kms_sbuf_char(&body, '{');
    p11kms_aws_body_blob(&body, "CiphertextBlob", in->ct, in->ct_len);
    p11kms_aws_body_string(&body, "SourceKeyId", sa->key_id);
    add_context(&body, "SourceEncryptionContext", src_ctx);
    p11kms_aws_body_string(&body, "DestinationKeyId", da->key_id);
    add_context(&body, "DestinationEncryptionContext", dst_ctx);
    p11kms_sbuf_char(&body, '}');
    /* sent to the destination key's endpoint with its credentials (kms:ReEncryptTo there,
     * kms:ReEncryptFrom on the source key) */
    rv = p11kms_aws_call(da->client, "ReEncrypt", da->key_id, &body, deadline, &reply);
    if (rv != CKR_OK)
        goto out;
    source = p11kms_aws_answer_string(&reply, "SourceKeyId", P11KMS_KEY_REF_MAX);
    if (source == NULL || strcmp(source, in->key_ref) != 0) {
        LOG_E("aws: ReEncrypt %s: the KMS decrypted with key %s but the envelope names %s; "
              "refused (request id %s)",
              da->key_id, source ? source : "(none)", in->key_ref, reply.request_id);
        rv = CKR_ENCRYPTED_DATA_INVALID;
        goto out;
    }
    rv = take_ciphertext(da, "ReEncrypt", &reply, out);
out:
    free(source);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static CK_RV aws_describe(p11kms_backend *be, char **text)
{
    aws_backend *ab = (aws_backend *)be;
    uint64_t deadline = p11kms_aws_client_deadline(ab->client);
    p11kms_net_reply reply;
    p11kms_sbuf body;
    p11kms_json meta, algs, v;
    char *buf = NULL, *s;
    size_t len = 0, i;
    FILE *f = NULL;
    CK_RV rv;

    *text = NULL;
    memset(&reply, 0, sizeof(reply));
    p11kms_sbuf_init(&body, BODY_MAX);
    p11kms_sbuf_char(&body, '{');
    p11kms_aws_body_string(&body, "KeyId", ab->key_id);
    p11kms_sbuf_char(&body, '}');
    rv = p11kms_aws_call(ab->client, "DescribeKey", ab->key_id, &body, deadline, &reply);
    if (rv != CKR_OK)
        goto out;
    if (!p11kms_json_member(&reply.root, "KeyMetadata", &meta)) {
        LOG_E("aws: DescribeKey %s: answer without KeyMetadata (request id %s)", ab->key_id,
              reply.request_id);
        rv = CKR_DEVICE_ERROR;
        goto out;
    }
    rv = CKR_HOST_MEMORY;
    f = open_memstream(&buf, &len);
    if (f == NULL)
        goto out;
    fprintf(f, "backend: aws\nkey id: %s\nregion: %s\nendpoint: %s\n", ab->key_id,
            ab->client->region, ab->client->net.settings.url);
    p11kms_json_print_member(f, &meta, "Arn", "arn");
    p11kms_json_print_member(f, &meta, "AWSAccountId", "account");
    p11kms_json_print_member(f, &meta, "KeyState", "state");
    p11kms_json_print_member(f, &meta, "Enabled", "enabled");
    p11kms_json_print_member(f, &meta, "KeyUsage", "usage");
    p11kms_json_print_member(f, &meta, "KeySpec", "spec");
    p11kms_json_print_member(f, &meta, "Origin", "origin");
    p11kms_json_print_member(f, &meta, "KeyManager", "manager");
    p11kms_json_print_member(f, &meta, "MultiRegion", "multi-region");
    p11kms_json_print_member(f, &meta, "CreationDate", "created (epoch seconds)");
    p11kms_json_print_member(f, &meta, "DeletionDate", "deletion date (epoch seconds)");
    p11kms_json_print_member(f, &meta, "Description", "description");
    if (p11kms_json_member(&meta, "EncryptionAlgorithms", &algs)) {
        fprintf(f, "encryption algorithms:");
        for (i = 0; p11kms_json_index(&algs, i, &v) && i < 16; i++) {
            if (p11kms_json_string(&v, 64, &s) == 0)
                fprintf(f, "%s %s", i ? "," : "", s);
            free(s);
            s = NULL;
        }
        fprintf(f, "\n");
    }
    fprintf(f, "request id: %s\n", reply.request_id[0] ? reply.request_id : "none");
    if (fclose(f) != 0) {
        f = NULL;
        goto out;
    }
    f = NULL;
    *text = buf;
    buf = NULL;
    rv = CKR_OK;
out:
    if (f != NULL)
        fclose(f);
    free(buf);
    p11kms_net_reply_clear(&reply);
    p11kms_sbuf_wipe(&body);
    return rv;
}

static void aws_destroy(p11kms_backend *be)
{
    aws_backend *ab = (aws_backend *)be;

    if (ab == NULL)
        return;
    p11kms_aws_client_free(ab->client);
    pthread_mutex_destroy(&ab->lock);
    free(ab->resolved_arn);
    free(ab->key_id);
    free(ab);
}

static CK_RV aws_create(const p11kms_key_config *kc, p11kms_backend **out)
{
    aws_backend *ab;
    CK_RV rv;

    *out = NULL;
    ab = calloc(1, sizeof(*ab));
    if (ab == NULL)
        return CKR_HOST_MEMORY;
    ab->base.ops = &p11kms_backend_aws_ops;
    pthread_mutex_init(&ab->lock, NULL);
    if (kc->key_id == NULL || p11kms_aws_keyref_parse(kc->key_id, &ab->ref) != 0) {
        LOG_E("%s: key_id \"%s\" is not an AWS KMS key ARN, key id, alias name or alias ARN",
              kc->origin, kc->key_id ? kc->key_id : "");
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    ab->key_id = strdup(kc->key_id);
    if (ab->key_id == NULL) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    rv = p11kms_aws_client_new(kc, ab->ref.region[0] ? ab->ref.region : NULL, &ab->client);
out:
    if (rv != CKR_OK) {
        aws_destroy(&ab->base);
        return rv;
    }
    *out = &ab->base;
    return CKR_OK;
}

const p11kms_backend_ops p11kms_backend_aws_ops = {
    .name = "aws",
    .envelope_id = P11KMS_AWS_ENVELOPE_ID,
    .options = p11kms_aws_option_names,
    .quick_forms = p11kms_aws_quick_forms,
    .quick = p11kms_aws_quick,
    .doctor = p11kms_aws_doctor,
    .create = aws_create,
    .destroy = aws_destroy,
    .encrypt = aws_encrypt,
    .decrypt = aws_decrypt,
    .owns = aws_owns,
    .blob_bound = aws_blob_bound,
    .current_version = aws_current_version,
    .reencrypt = aws_reencrypt,
    .describe = aws_describe,
    .public_key = p11kms_aws_public_key,
    .sign_digest = p11kms_aws_sign_digest,
    .asym_decrypt = p11kms_aws_asym_decrypt,
};
