/* object.h - objects: KMS keys and the private key, public key and certificate objects of
 * asymmetric KMS keys (fixed, from configuration), data keys and data objects (created by the
 * application). Objects live in p11kms_g.objects; attributes are read and changed under g.lock,
 * except the templates, which never change after creation. */
#ifndef P11KMS_OBJECT_H
#define P11KMS_OBJECT_H

#include <stdint.h>
#include "pkcs11/p11kms.h"
#include "keyset.h"
#include "config.h"

struct p11kms_session;
struct p11kms_token;

#define P11KMS_DATA_KEY_MAX 512 /* bytes of a generic secret data key */

enum p11kms_object_kind {
    P11KMS_OBJ_KMS_KEY = 1,  /* a configured KMS key: value never here */
    P11KMS_OBJ_DATA_KEY = 2, /* a secret key whose value the module holds */
    P11KMS_OBJ_DATA = 3,     /* CKO_DATA: application bytes, never a key */
    /* An asymmetric KMS key (asym.h): its CKO_PRIVATE_KEY (signs and decrypts in the KMS), its
     * CKO_PUBLIC_KEY and its CKO_CERTIFICATE (when configured), sharing one p11kms_asym_key. */
    P11KMS_OBJ_PRIVATE_KEY = 4,
    P11KMS_OBJ_PUBLIC_KEY = 5,
    P11KMS_OBJ_CERTIFICATE = 6,
};

/* Whether objects of this kind come from the configuration: never changed, copied or destroyed
 * by an application. */
static inline int p11kms_object_kind_fixed(int kind)
{
    return kind == P11KMS_OBJ_KMS_KEY || kind == P11KMS_OBJ_PRIVATE_KEY ||
           kind == P11KMS_OBJ_PUBLIC_KEY || kind == P11KMS_OBJ_CERTIFICATE;
}

/* Usages a data key has ever had (p11kms_object.usage_history): the wrap/decrypt separation
 * holds over the key's whole life and its copies, not only at one moment. */
#define P11KMS_USED_ENCRYPT 0x1u
#define P11KMS_USED_DECRYPT 0x2u
#define P11KMS_USED_WRAP 0x4u
#define P11KMS_USED_UNWRAP 0x8u

typedef struct p11kms_object {
    CK_OBJECT_HANDLE handle;
    int kind;
    int refs; /* atomic (__atomic builtins); the map holds one */
    struct p11kms_token *token;
    CK_SESSION_HANDLE session; /* owner of a session object; 0 for token objects */

    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE key_type;
    CK_BBOOL is_token, is_private, modifiable, copyable, destroyable;
    CK_BBOOL sensitive, always_sensitive, extractable, never_extractable, local;
    CK_BBOOL encrypt, decrypt, wrap, unwrap, sign, verify, derive;
    CK_BBOOL wrap_with_trusted, trusted;
    CK_MECHANISM_TYPE key_gen_mechanism;
    CK_DATE start_date, end_date;
    uint8_t *label;
    size_t label_len;
    uint8_t *id;
    size_t id_len;

    unsigned usage_history; /* P11KMS_USED_*, data keys */
    /* Fixed at creation (configuration for KMS keys): read without g.lock while referenced. */
    p11kms_attr_template wrap_tmpl, unwrap_tmpl;

    /* data keys (secret) and data objects (CKA_VALUE of CKO_DATA, not secret). A stored
     * object's value is NULL until the store unsealed it (p11kms_object_value_ready). */
    uint8_t *value;
    size_t value_len;
    /* Token objects kept in the token's object store (store.h); NULL for everything else. */
    struct p11kms_stored *stored;

    /* data objects */
    uint8_t *application; /* CKA_APPLICATION */
    size_t application_len;
    uint8_t *object_id; /* CKA_OBJECT_ID */
    size_t object_id_len;

    /* KMS keys (kcfg also for asymmetric private keys) */
    const p11kms_key_config *kcfg;
    p11kms_keyset *keyset; /* its KMS entries (owned) */
    /* asymmetric key objects: the key they belong to (a reference; owns the key set) */
    struct p11kms_asym_key *asym;
    uint8_t *default_context; /* canonical encoding of kcfg->context */
    size_t default_context_len;
} p11kms_object;

/* What the object store (store.h) keeps with a stored object (p11kms_object.stored), here so
 * that an object is freed and matched without the store. Under g.lock. */
#define P11KMS_STORE_ID_LEN 16
typedef struct p11kms_stored {
    uint8_t id[P11KMS_STORE_ID_LEN];
    uint64_t generation; /* of the file the attributes came from */
    /* The attributes and the value come from a file the KMS opened in this process (or that this
     * process wrote). Until then the value is NULL and the attributes are the file's word only. */
    int verified;
    /* A verified object whose file another process changed since: the new file's attributes,
     * not verified, which only C_FindObjects matches against until the object's next use
     * verifies the new file and replaces the object. NULL: none. */
    struct p11kms_object *pending;
} p11kms_stored;
void p11kms_stored_free(p11kms_stored *sd);

/* A new object of a kind with that kind's defaults. */
p11kms_object *p11kms_object_alloc(int kind);
void p11kms_object_free(p11kms_object *o); /* wipes the value */
/* A deep copy of a data key or data object, not in the map (for copies and staged changes).
 * g.lock held. */
p11kms_object *p11kms_object_clone_locked(const p11kms_object *src);
/* Move the attributes of staged (a clone of o that C_SetAttributeValue changed) into o; staged
 * is left holding o's old byte strings, for p11kms_object_free. g.lock held. */
void p11kms_object_commit_locked(p11kms_object *o, p11kms_object *staged);
/* Give o a handle and put it in the map (takes the map's reference). CKR_SESSION_CLOSED when o
 * is a session object whose session is no longer open. g.lock held. */
CK_RV p11kms_object_insert_locked(p11kms_object *o);
/* Put o in the map under handle h, which no object holds (a stored object's new version takes
 * its old version's handle, store-use.c). g.lock held. */
CK_RV p11kms_object_insert_as_locked(p11kms_object *o, CK_OBJECT_HANDLE h);

/* The attributes a find template is matched against: a stored object's pending ones when its
 * file changed since it was verified, else the object's own. g.lock held. */
static inline const p11kms_object *p11kms_object_match_view_locked(const p11kms_object *o)
{
    return o->stored != NULL && o->stored->pending != NULL ? o->stored->pending : o;
}

/* Whether o's value is here to use: a stored object's only once the store unsealed it, which
 * every caller that needs it asks for first (p11kms_store_use). A guard, so a missing value is
 * an error and never a read through NULL. */
static inline int p11kms_object_value_ready(const p11kms_object *o)
{
    return o->value != NULL || o->value_len == 0;
}

/* Look up a handle visible to session s (any object of its token; private ones need a login).
 * Returns a referenced object; release with p11kms_object_put.
 * CKR_OBJECT_HANDLE_INVALID otherwise. g.lock held. */
CK_RV p11kms_object_get_locked(struct p11kms_session *s, CK_OBJECT_HANDLE h, p11kms_object **out);
void p11kms_object_put(p11kms_object *o); /* lock-free; NULL is fine */

/* Remove every session object of session h / every object of a token. g.lock held. */
void p11kms_objects_drop_session_locked(CK_SESSION_HANDLE h);

/* Session rights over a new or changed object: token objects need a read/write session
 * (CKR_SESSION_READ_ONLY), private ones a login on a token with a PIN (CKR_USER_NOT_LOGGED_IN).
 * g.lock held. */
CK_RV p11kms_object_rights_locked(const struct p11kms_session *s, const p11kms_object *o);
/* Put a new session object made for session s in the map and give its handle: it belongs to s.
 * Refused (and not added) when s lacks the rights over it (p11kms_object_rights_locked). Token
 * objects go through the object store (store.h: p11kms_store_add_new); here they are refused.
 * Takes g.lock. */
CK_RV p11kms_object_add_new(struct p11kms_session *s, p11kms_object *o, CK_OBJECT_HANDLE_PTR out);

/* Whether the object may be seen by s: same token, and logged in for a private object. Session
 * objects of other sessions are seen too (they belong to the application). g.lock held. */
int p11kms_object_visible_locked(const struct p11kms_session *s, const p11kms_object *o);

#endif
