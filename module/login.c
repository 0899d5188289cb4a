/* login.c - C_Login/C_Logout against a token's optional user PIN from the configuration.
 * Login state belongs to the token (all its sessions), under g.lock. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "init.h"
#include "log.h"
#include "ops.h"

CK_RV p11kms_login(p11kms_session *s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
    CK_RV rv = CKR_GENERAL_ERROR;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    p11kms_token *t = s->token;

    if (user == CKU_CONTEXT_SPECIFIC)
        return CKR_OPERATION_NOT_INITIALIZED; /* no operation here asks for re-authentication */
    if (user != CKU_USER) {
        LOG_W("C_Login: token \"%s\" has no security officer; only CKU_USER exists",
              t->cfg->label);
        return CKR_USER_TYPE_INVALID;
    }
    if (pin == NULL)
        return CKR_ARGUMENTS_BAD; /* no protected authentication path */
    SHA256(pin, pin_len, digest);
    p11kms_lock();
    if (s->closed) {
        /* Closed by another thread since this call began (C_CloseSession, C_CloseAllSessions):
         * a login now would outlive the token's last session and open its private objects to
         * the next session. */
        rv = CKR_SESSION_CLOSED;
    } else if (t->logged_in) {
        rv = CKR_USER_ALREADY_LOGGED_IN;
    } else if (!t->has_pin || CRYPTO_memcmp(digest, t->pin_hash, sizeof(digest)) == 0) {
        /* A token without a PIN needs no login; accepting one keeps generic tools working. */
        t->logged_in = 1;
        rv = CKR_OK;
    } else {
        rv = CKR_PIN_INCORRECT;
    }
    p11kms_unlock();
    OPENSSL_cleanse(digest, sizeof(digest));
    if (rv == CKR_PIN_INCORRECT)
        LOG_W("C_Login: wrong PIN for token \"%s\"", t->cfg->label);
    return rv;
}

CK_RV p11kms_logout(p11kms_session *s)
{
    CK_RV rv;

    p11kms_lock();
    if (!s->token->logged_in) {
        rv = CKR_USER_NOT_LOGGED_IN;
    } else {
        s->token->logged_in = 0;
        rv = CKR_OK;
    }
    p11kms_unlock();
    return rv;
}
