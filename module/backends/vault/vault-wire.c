/* vault-wire.c - Vault's answers read: error bodies and their CK_RV mapping (the one place it
 * is decided for Vault), the retry classes of Vault's Go client, ciphertexts and their
 * versions, transit answers, token (auth) blocks and the server version. Bounded; no state,
 * no locks. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec.h"
#include "log.h"
#include "net/http.h"
#include "net/json.h"
#include "secmem.h"
#include "vault-client.h"

#define ERRORS_READ 4       /* errors of one answer joined into the message */
#define ERROR_TEXT_MAX 4096 /* one error's text */
#define WARNINGS_READ 16
#define PREFIX "vault:v"

/* Append text to dst (printable ASCII; runs of whitespace, tabs and newlines of Vault's
 * multi-error texts collapsed into one space), keeping it terminated within dst_len. */
static void append_printable(char *dst, size_t dst_len, const char *text)
{
    size_t n = strlen(dst);
    int space = n > 0 && dst[n - 1] == ' ';

    for (; *text && n + 1 < dst_len; text++) {
        unsigned char c = (unsigned char)*text;

        if (isspace(c)) {
            if (!space && n > 0) {
                dst[n++] = ' ';
                space = 1;
            }
            continue;
        }
        dst[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        space = 0;
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = 0;
}

static int has(const char *text, const char *what)
{
    return strstr(text, what) != NULL;
}

/* The code of an error answer, from what its text says (Vault's stable messages). */
static const char *code_of(long status, const char *msg, size_t n_errors)
{
    if (status == 503 && has(msg, "Vault is sealed"))
        return P11KMS_VAULT_E_SEALED;
    if (status == 403)
        return has(msg, "invalid token") ? P11KMS_VAULT_E_INVALID_TOKEN : P11KMS_VAULT_E_DENIED;
    if (status == 429)
        return P11KMS_VAULT_E_RATE;
    if (status == 412)
        return P11KMS_VAULT_E_CONSISTENCY;
    if (status == 501)
        return P11KMS_VAULT_E_NOT_INITIALIZED;
    if (status == 404)
        return has(msg, "no handler for route") ? P11KMS_VAULT_E_NO_ROUTE
               : n_errors == 0                  ? P11KMS_VAULT_E_NOT_FOUND
                                                : NULL;
    /* keysutil answers an RSA-OAEP ciphertext that does not open as an internal error (500) */
    if (status == 500 && has(msg, "failed to RSA decrypt the ciphertext"))
        return P11KMS_VAULT_E_BAD_CIPHERTEXT;
    if (status != 400)
        return NULL;
    /* a version below min_decryption_version; one below min_encryption_version asked to sign */
    if (has(msg, "disallowed by policy (too old)") ||
        has(msg, "less than the minimum encryption key version"))
        return P11KMS_VAULT_E_TOO_OLD;
    if (has(msg, "encryption key not found") || has(msg, "signing key not found") ||
        has(msg, "no such key version"))
        return P11KMS_VAULT_E_NOT_FOUND;
    if (has(msg, "missing 'context'"))
        return P11KMS_VAULT_E_NEEDS_CONTEXT;
    if (has(msg, "message authentication failed") || has(msg, "invalid ciphertext"))
        return P11KMS_VAULT_E_BAD_CIPHERTEXT;
    return NULL;
}

void p11kms_vault_error_parse(const char *body, size_t len, long status, char *code,
                              size_t code_len, char *message, size_t message_len)
{
    p11kms_json root, errors, v;
    const char *c;
    char *s = NULL;
    size_t i, n = 0;

    if (code_len > 0)
        snprintf(code, code_len, "HTTP %ld", status);
    if (message_len == 0)
        return;
    message[0] = 0;
    if (body != NULL && p11kms_json_parse(body, len, &root) == 0 &&
        p11kms_json_member(&root, "errors", &errors)) {
        for (i = 0; p11kms_json_index(&errors, i, &v); i++) {
            if (p11kms_json_string(&v, ERROR_TEXT_MAX, &s) != 0)
                continue;
            if (n < ERRORS_READ) {
                if (n > 0 && strlen(message) + 2 < message_len)
                    strcat(message, "; ");
                append_printable(message, message_len, s);
            }
            n++;
            free(s);
            s = NULL;
        }
    }
    c = code_of(status, message, n);
    if (c != NULL && code_len > 0)
        snprintf(code, code_len, "%s", c);
}

int p11kms_vault_retry_kind(int http_result, long status)
{
    if (http_result != P11KMS_HTTP_OK)
        return p11kms_net_retry_default(http_result, status);
    if (status == 429)
        return P11KMS_NET_RETRY_THROTTLE;
    /* 412: an Enterprise performance standby has not caught up yet (X-Vault-Index) */
    if (status == 412 || (status >= 500 && status != 501))
        return P11KMS_NET_RETRY_TRANSIENT;
    return P11KMS_NET_NO_RETRY;
}

CK_RV p11kms_vault_error_rv(const char *code, long status)
{
    /* the KMS refused the ciphertext: wrong context, tampered, another key's */
    if (strcmp(code, P11KMS_VAULT_E_BAD_CIPHERTEXT) == 0)
        return CKR_ENCRYPTED_DATA_INVALID;
    /* the key may not be used this way: policy, missing key, retired version, a derived key
     * used without context */
    if (strcmp(code, P11KMS_VAULT_E_DENIED) == 0 || strcmp(code, P11KMS_VAULT_E_TOO_OLD) == 0 ||
        strcmp(code, P11KMS_VAULT_E_NOT_FOUND) == 0 ||
        strcmp(code, P11KMS_VAULT_E_NEEDS_CONTEXT) == 0)
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    /* a dead token is "no usable credentials": a device problem although it is a 403 */
    (void)status;
    return CKR_DEVICE_ERROR;
}

int p11kms_vault_ct_version(const uint8_t *ct, size_t len, uint32_t *version)
{
    size_t i = sizeof(PREFIX) - 1, digits = 0;
    uint64_t v = 0;

    if (ct == NULL || len > P11KMS_BLOB_CT_MAX || len < i + 3 || memcmp(ct, PREFIX, i) != 0)
        return -1;
    for (; i < len && ct[i] >= '0' && ct[i] <= '9'; i++) {
        v = v * 10 + (uint64_t)(ct[i] - '0');
        if (++digits > 10 || v > UINT32_MAX)
            return -1;
    }
    if (digits == 0 || i >= len || ct[i] != ':' || ++i >= len)
        return -1;
    for (; i < len; i++)
        if (!isalnum(ct[i]) && ct[i] != '+' && ct[i] != '/' && ct[i] != '=')
            return -1;
    *version = (uint32_t)v;
    return 0;
}

int p11kms_vault_answer_ciphertext(const p11kms_json *root, uint8_t **ct, size_t *ct_len,
                                   uint32_t *version, const char **why)
{
    p11kms_json data, v;
    uint64_t kv = 0;
    uint32_t prefix = 0;
    char *s = NULL;

    *ct = NULL;
    *ct_len = 0;
    *why = "no data.ciphertext";
    if (!p11kms_json_member(root, "data", &data) || !p11kms_json_member(&data, "ciphertext", &v) ||
        p11kms_json_string(&v, P11KMS_BLOB_CT_MAX, &s) != 0)
        return -1;
    if (p11kms_vault_ct_version((const uint8_t *)s, strlen(s), &prefix) != 0) {
        *why = "a ciphertext that is not vault:v<N>:<base64> (or over 8192 bytes)";
        free(s);
        return -1;
    }
    if (p11kms_json_member(&data, "key_version", &v) &&
        (p11kms_json_uint(&v, UINT32_MAX, &kv) != 0 || kv != prefix)) {
        *why = "a key_version that does not match the ciphertext's version";
        free(s);
        return -1;
    }
    *ct = (uint8_t *)s;
    *ct_len = strlen(s);
    *version = prefix;
    return 0;
}

int p11kms_vault_answer_signature(const p11kms_json *root, size_t max, uint8_t **sig,
                                  size_t *sig_len, uint32_t *version, const char **why)
{
    p11kms_json data, v;
    uint64_t kv = 0;
    uint32_t prefix = 0;
    const char *b64;
    char *s = NULL;
    uint8_t *out = NULL;
    long n;
    int rc = -1;

    *sig = NULL;
    *sig_len = 0;
    *why = "no data.signature";
    if (!p11kms_json_member(root, "data", &data) || !p11kms_json_member(&data, "signature", &v) ||
        p11kms_json_string(&v, P11KMS_BLOB_CT_MAX, &s) != 0)
        goto out;
    *why = "a signature that is not vault:v<N>:<base64>";
    if (p11kms_vault_ct_version((const uint8_t *)s, strlen(s), &prefix) != 0)
        goto out;
    b64 = strchr(s + sizeof(PREFIX) - 1, ':') + 1; /* the form checked it is there */
    out = malloc(P11KMS_BASE64_DECODED_MAX(strlen(b64)) + 1);
    if (out == NULL) {
        *why = "no memory";
        goto out;
    }
    n = p11kms_base64_decode(b64, strlen(b64), out);
    if (n <= 0 || (size_t)n > max) {
        *why = "a signature that is not standard base64 of 1 to the key's size of bytes";
        goto out;
    }
    if (p11kms_json_member(&data, "key_version", &v) &&
        (p11kms_json_uint(&v, UINT32_MAX, &kv) != 0 || kv != prefix)) {
        *why = "a key_version that does not match the signature's version";
        goto out;
    }
    *sig = out;
    *sig_len = (size_t)n;
    *version = prefix;
    out = NULL;
    rc = 0;
out:
    free(out);
    free(s);
    return rc;
}

int p11kms_vault_answer_plaintext(const p11kms_json *root, size_t max, uint8_t **pt, size_t *pt_len)
{
    p11kms_json data, v;

    *pt = NULL;
    *pt_len = 0;
    if (!p11kms_json_member(root, "data", &data) || !p11kms_json_member(&data, "plaintext", &v))
        return -1;
    return p11kms_json_base64(&v, max, pt, pt_len);
}

void p11kms_vault_answer_request_id(const p11kms_json *root, char *buf, size_t buf_len)
{
    p11kms_json v;
    char *s = NULL;

    if (buf_len == 0)
        return;
    buf[0] = 0;
    if (p11kms_json_member(root, "request_id", &v) && p11kms_json_string(&v, 256, &s) == 0)
        append_printable(buf, buf_len, s);
    free(s);
}

/* Whether the bracketed, space-separated list after "parameters: [" names param. */
static int lists_param(const char *w, const char *param)
{
    const char *p = strstr(w, "unrecognized parameters: ["), *end;
    size_t n = strlen(param);

    if (p == NULL)
        return 0;
    p += strlen("unrecognized parameters: [");
    end = strchr(p, ']');
    if (end == NULL)
        return 0;
    while (p < end) {
        const char *e = p + strcspn(p, " ]");

        if ((size_t)(e - p) == n && memcmp(p, param, n) == 0)
            return 1;
        p = *e == ' ' ? e + 1 : e;
        if (*p == ']')
            break;
    }
    return 0;
}

int p11kms_vault_answer_ignored(const p11kms_json *root, const char *param)
{
    p11kms_json list, v;
    char *s = NULL;
    size_t i;
    int found = 0;

    if (!p11kms_json_member(root, "warnings", &list))
        return 0;
    for (i = 0; !found && i < WARNINGS_READ && p11kms_json_index(&list, i, &v); i++) {
        if (p11kms_json_string(&v, ERROR_TEXT_MAX, &s) != 0)
            continue;
        found = lists_param(s, param);
        free(s);
        s = NULL;
    }
    return found;
}

/* A warning that renew-self capped the lease at the token's max TTL. */
static int warned_capped(const p11kms_json *root)
{
    p11kms_json list, v;
    char *s = NULL;
    size_t i;
    int found = 0;

    if (!p11kms_json_member(root, "warnings", &list))
        return 0;
    for (i = 0; !found && i < WARNINGS_READ && p11kms_json_index(&list, i, &v); i++) {
        if (p11kms_json_string(&v, ERROR_TEXT_MAX, &s) != 0)
            continue;
        found = has(s, "max_ttl") && has(s, "capped");
        free(s);
        s = NULL;
    }
    return found;
}

CK_RV p11kms_vault_auth_parse(const char *body, size_t len, const char *source, time_t now,
                              p11kms_cred *out, uint64_t *lease, int *capped)
{
    p11kms_json root, auth, v;
    char *token = NULL;
    int renewable = 0;
    CK_RV rv = CKR_DEVICE_ERROR;

    memset(out, 0, sizeof(*out));
    *lease = 0;
    *capped = 0;
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0 ||
        !p11kms_json_member(&root, "auth", &auth) ||
        !p11kms_json_member(&auth, "client_token", &v) ||
        p11kms_json_string(&v, P11KMS_VAULT_TOKEN_MAX, &token) != 0 || token[0] == 0)
        goto out;
    /* a lease over ten years is not a lease Vault gives: refused as malformed */
    if (!p11kms_json_member(&auth, "lease_duration", &v) ||
        p11kms_json_uint(&v, 10ull * 366 * 86400, lease) != 0)
        goto out;
    if (p11kms_json_member(&auth, "renewable", &v) && p11kms_json_bool(&v, &renewable) != 0)
        goto out;
    rv = p11kms_cred_set(out, NULL, NULL, token, *lease ? now + (time_t)*lease : 0, source);
    if (rv == CKR_GENERAL_ERROR)
        rv = CKR_DEVICE_ERROR; /* a control character in the token */
    if (rv != CKR_OK)
        goto out;
    out->renewable = renewable;
    out->refresh_at = *lease ? now + (time_t)(*lease * 2 / 3) : 0;
    *capped = warned_capped(&root);
out:
    p11kms_secure_free_str(token);
    if (rv != CKR_OK) {
        p11kms_cred_clear(out);
        *lease = 0;
    }
    return rv;
}

int p11kms_vault_health_version(const char *body, size_t len, char *version, size_t version_len,
                                unsigned *major, unsigned *minor)
{
    p11kms_json root, v;
    char *s = NULL, *end;
    unsigned long a, b;
    int rc = -1;

    if (version_len > 0)
        version[0] = 0;
    if (body == NULL || p11kms_json_parse(body, len, &root) != 0 ||
        !p11kms_json_member(&root, "version", &v) || p11kms_json_string(&v, 128, &s) != 0)
        goto out;
    if (version_len > 0)
        append_printable(version, version_len, s);
    if (!isdigit((unsigned char)s[0]))
        goto out;
    a = strtoul(s, &end, 10);
    if (*end != '.' || !isdigit((unsigned char)end[1]) || a > 1000)
        goto out;
    b = strtoul(end + 1, &end, 10);
    if (b > 1000)
        goto out;
    *major = (unsigned)a;
    *minor = (unsigned)b;
    rc = 0;
out:
    free(s);
    return rc;
}
