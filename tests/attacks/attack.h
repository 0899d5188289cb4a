/* attack.h - shared set-up of the attack programs in tests/attacks/: each program plays someone
 * who holds a session and tries a call sequence that could get a key value out, weaken a key or
 * make the KMS open what it should not, and asserts the module refuses it. */
#ifndef P11KMS_TEST_ATTACK_H
#define P11KMS_TEST_ATTACK_H

#include "tests/module/p11.h"

/*
 * The KMS keys every attack program finds in slot 0 (token "attack"), in the backend named by
 * P11KMS_ATTACK_BACKEND: "local" (default; the built-in test key), "aws" (the loopback AWS
 * KMS test server that tests/backends/aws/aws-env.sh started: P11KMS_AWS_ENDPOINT,
 * P11KMS_AWS_KEY_ARN), "gcp" (the loopback Cloud KMS test server of
 * tests/backends/gcp/gcp-env.sh: P11KMS_GCP_ENDPOINT, P11KMS_GCP_KEY) or "vault" (the loopback
 * Vault test server that tests/backends/vault/vault-env.sh started: P11KMS_VAULT_ADDR, its
 * derived transit key p11kms-derived, the root test token in VAULT_TOKEN). "kms"          every
 * permission (wrap, unwrap, encrypt, decrypt): the default, quick mode "kms-wrap"     wrap and
 * encrypt only "kms-unwrap"   unwrap and decrypt only `extra_keys` is more JSON key objects for the
 * same token (", {...}") or NULL; `token_extra` more members of the token object (", \"pin\":
 * \"1234\"") or NULL. Token objects go to attack_store_dir(), sealed by "kms".
 */
static inline const char *attack_backend(void)
{
    const char *b = getenv("P11KMS_ATTACK_BACKEND");

    return b != NULL && *b ? b : "local";
}

/* The JSON members naming the KMS key of the chosen backend: "backend": ..., "key_id": ... */
static inline void attack_key_members(char *out, size_t cap)
{
    if (strcmp(attack_backend(), "aws") == 0) {
        const char *arn = getenv("P11KMS_AWS_KEY_ARN");
        if (arn == NULL || getenv("P11KMS_AWS_ENDPOINT") == NULL) {
            printf("Bail out! P11KMS_ATTACK_BACKEND=aws needs tests/backends/aws/aws-env.sh\n");
            exit(1);
        }
        snprintf(out, cap, "\"backend\": \"aws\", \"key_id\": \"%s\"", arn);
    } else if (strcmp(attack_backend(), "gcp") == 0) {
        const char *name = getenv("P11KMS_GCP_KEY");
        if (name == NULL || getenv("P11KMS_GCP_ENDPOINT") == NULL) {
            printf("Bail out! P11KMS_ATTACK_BACKEND=gcp needs tests/backends/gcp/gcp-env.sh\n");
            exit(1);
        }
        snprintf(out, cap, "\"backend\": \"gcp\", \"key_id\": \"%s\"", name);
    } else if (strcmp(attack_backend(), "vault") == 0) {
        if (getenv("P11KMS_VAULT_ADDR") == NULL) {
            printf(
                "Bail out! P11KMS_ATTACK_BACKEND=vault needs tests/backends/vault/vault-env.sh\n");
            exit(1);
        }
        snprintf(out, cap, "\"backend\": \"vault\", \"key_id\": \"p11kms-derived\"");
    } else {
        snprintf(out, cap, "\"backend\": \"local\", \"key_id\": \"insecure-test-key\"");
    }
}

/* The "backends" member that points the selected backend at its loopback test server (with one
 * attempt per call), or "" for the local backend. */
static inline void attack_backends_member(char *out, size_t cap)
{
    const char *name = attack_backend(), *endpoint = NULL;

    if (strcmp(name, "aws") == 0)
        endpoint = getenv("P11KMS_AWS_ENDPOINT");
    else if (strcmp(name, "gcp") == 0)
        endpoint = getenv("P11KMS_GCP_ENDPOINT");
    else if (strcmp(name, "vault") == 0)
        endpoint = getenv("P11KMS_VAULT_ADDR");
    if (endpoint == NULL) {
        snprintf(out, cap, "%s", "");
        return;
    }
    snprintf(out, cap, "\"backends\": {\"%s\": {\"endpoint\": \"%s\", \"max_attempts\": 1}}, ",
             name, endpoint);
}

/* Where the attack token keeps its token objects: a directory of the program's own, sealed by
 * its "kms" key (docs/store.md). */
static inline const char *attack_store_dir(void)
{
    static char dir[320];

    snprintf(dir, sizeof(dir), "%s/store", p11_tmp());
    return dir;
}

/* Write the configuration; returns its path. */
static inline const char *attack_config(const char *token_extra, const char *extra_keys)
{
    static char text[16384];
    char key[512];
    char backends[600];

    attack_key_members(key, sizeof(key));
    attack_backends_member(backends, sizeof(backends));
    snprintf(text, sizeof(text),
             "{%s\"tokens\": [{\"label\": \"attack\", \"store\": \"%s\", \"storage_key\": "
             "\"kms\"%s, \"keys\": [\n"
             "  {\"label\": \"kms\", %s},\n"
             "  {\"label\": \"kms-wrap\", %s, \"permissions\": [\"wrap\", \"encrypt\"]},\n"
             "  {\"label\": \"kms-unwrap\", %s, \"permissions\": [\"unwrap\", \"decrypt\"]}%s\n"
             "]}]}\n",
             backends, attack_store_dir(), token_extra ? token_extra : "", key, key, key,
             extra_keys ? extra_keys : "");
    return p11_write("attack.conf", text, 0600);
}

/* Load the module and initialise it with attack_config(token_extra, extra_keys). */
static inline CK_RV attack_init(const char *token_extra, const char *extra_keys)
{
    diag("backend: %s", attack_backend());
    return p11_init_config(attack_config(token_extra, extra_keys));
}

/* A fresh data key of len bytes with the given sensitivity; CK_INVALID_HANDLE on failure. */
static inline CK_OBJECT_HANDLE attack_secret(CK_SESSION_HANDLE s, CK_ULONG len, CK_BBOOL sensitive,
                                             CK_BBOOL extractable)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_VALUE_LEN, &len, sizeof(len)},
        {CKA_SENSITIVE, &sensitive, sizeof(CK_BBOOL)},
        {CKA_EXTRACTABLE, &extractable, sizeof(CK_BBOOL)},
    };
    CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

    if (p11->C_GenerateKey(s, &m, t, 5, &h) != CKR_OK)
        return CK_INVALID_HANDLE;
    return h;
}

/* Whether CKA_VALUE of h can be read at all (the attacker's goal for a sensitive key). */
static inline int attack_value_readable(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
    uint8_t v[1024];
    CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};

    return p11->C_GetAttributeValue(s, h, &a, 1) == CKR_OK;
}

#endif
