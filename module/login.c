/* login.c - C_Login/C_Logout against a token's optional user PIN from the configuration, and
 * the wrong-PIN count. Login state and the count belong to the token (all its sessions), under
 * g.lock. The count lives in memory from C_Initialize to C_Finalize: nothing is kept at rest. */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "log.h"
#include "ops.h"
#include "state.h"

static int pin_locked_locked(const p11kms_token *t)
{
    return t->cfg->pin_max_attempts != 0 && t->pin_failures >= t->cfg->pin_max_attempts;
}

CK_FLAGS p11kms_token_pin_flags_locked(const p11kms_token *t)
{
    CK_FLAGS f = 0;
    unsigned max = t->cfg->pin_max_attempts;

    if (!t->has_pin)
        return 0;
    if (t->pin_failures > 0)
        f |= CKF_USER_PIN_COUNT_LOW;
    if (max != 0 && t->pin_failures >= max)
        f |= CKF_USER_PIN_LOCKED;
    else if (max != 0 && max - t->pin_failures == 1)
        f |= CKF_USER_PIN_FINAL_TRY;
    return f;
}

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
    if (atomic_load_explicit(&s->closed, memory_order_relaxed)) {
        /* Closed by another thread since this call began (C_CloseSession, C_CloseAllSessions):
         * a login now would outlive the token's last session and open its private objects to
         * the next session. */
        rv = CKR_SESSION_CLOSED;
    } else if (t->logged_in) {
        rv = CKR_USER_ALREADY_LOGGED_IN;
    } else if (!t->has_pin) {
        /* A token without a PIN needs no login; accepting one keeps generic tools working. */
        t->logged_in = 1;
        rv = CKR_OK;
    } else if (pin_locked_locked(t)) {
        rv = CKR_PIN_LOCKED;
    } else if (CRYPTO_memcmp(digest, t->pin_hash, sizeof(digest)) == 0) {
        t->logged_in = 1;
        t->pin_failures = 0;
        rv = CKR_OK;
    } else {
        t->pin_failures++;
        rv = CKR_PIN_INCORRECT;
    }
    p11kms_unlock();
    OPENSSL_cleanse(digest, sizeof(digest));
    if (rv == CKR_PIN_INCORRECT)
        LOG_W("C_Login: wrong PIN for token \"%s\"", t->cfg->label);
    else if (rv == CKR_PIN_LOCKED)
        LOG_W("C_Login: the PIN of token \"%s\" is locked after %u wrong attempts", t->cfg->label,
              t->cfg->pin_max_attempts);
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
