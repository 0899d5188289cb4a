/* attr-rules.h - the one table of attribute rules: for every attribute the module knows, its value
 * kind, which objects have it, when a template may give it, how copy and set may change it, and
 * whether its value is secret; plus reading values and the CKA_(UN)WRAP_TEMPLATE arrays. */
#ifndef P11KMS_ATTR_RULES_H
#define P11KMS_ATTR_RULES_H

#include <stddef.h>
#include "pkcs11/p11kms.h"
#include "config.h"
#include "object.h"

enum p11kms_attr_kind {
    P11KMS_AK_BOOL = 1, /* CK_BBOOL */
    P11KMS_AK_ULONG,    /* CK_ULONG (classes, key types, lengths, mechanisms) */
    P11KMS_AK_BYTES,    /* byte string of 0..max bytes */
    P11KMS_AK_DATE,     /* CK_DATE of digits, or empty */
    P11KMS_AK_ARRAY,    /* CK_ATTRIBUTE array (CKF_ARRAY_ATTRIBUTE): a p11kms_attr_template */
    P11KMS_AK_MECHS,    /* CK_MECHANISM_TYPE array */
};

/* Which objects have an attribute: bit (1 << P11KMS_OBJ_*). */
#define P11KMS_ON_DATA_KEY (1u << P11KMS_OBJ_DATA_KEY)
#define P11KMS_ON_KMS_KEY (1u << P11KMS_OBJ_KMS_KEY)
#define P11KMS_ON_DATA (1u << P11KMS_OBJ_DATA)
#define P11KMS_ON_KEYS (P11KMS_ON_DATA_KEY | P11KMS_ON_KMS_KEY) /* secret keys */
#define P11KMS_ON_PRIVATE_KEY (1u << P11KMS_OBJ_PRIVATE_KEY)
#define P11KMS_ON_PUBLIC_KEY (1u << P11KMS_OBJ_PUBLIC_KEY)
#define P11KMS_ON_CERT (1u << P11KMS_OBJ_CERTIFICATE)
#define P11KMS_ON_ASYM (P11KMS_ON_PRIVATE_KEY | P11KMS_ON_PUBLIC_KEY)
#define P11KMS_ON_ANY_KEY (P11KMS_ON_KEYS | P11KMS_ON_ASYM)
#define P11KMS_ON_ALL (P11KMS_ON_ANY_KEY | P11KMS_ON_DATA | P11KMS_ON_CERT)

/*
 * Rules. An attribute a template gives where its rule does not allow it is accepted only with
 * the value the object gets anyway (the specification leaves that case open); any other value is
 * CKR_ATTRIBUTE_READ_ONLY for module-set attributes and after creation, and
 * CKR_TEMPLATE_INCONSISTENT at creation. Secret values are never compared: refused outright.
 */
#define P11KMS_AF_CREATE 0x0001u   /* C_CreateObject may give it */
#define P11KMS_AF_GENERATE 0x0002u /* C_GenerateKey may give it */
#define P11KMS_AF_UNWRAP 0x0004u   /* C_UnwrapKey may give it */
#define P11KMS_AF_COPY 0x0008u     /* C_CopyObject may change it */
#define P11KMS_AF_SET 0x0010u      /* C_SetAttributeValue may change it */
#define P11KMS_AF_TO_TRUE 0x0020u  /* copy and set may only turn it from false to true */
#define P11KMS_AF_TO_FALSE 0x0040u /* copy and set may only turn it from true to false */
#define P11KMS_AF_RO 0x0080u       /* only the module sets it */
#define P11KMS_AF_SECRET 0x0100u   /* unreadable when the key is sensitive or unextractable */
#define P11KMS_AF_USAGE 0x0200u    /* encrypt/decrypt/wrap/unwrap: the separation rule */
#define P11KMS_AF_TEMPLATE 0x0400u /* may appear in CKA_WRAP_TEMPLATE / CKA_UNWRAP_TEMPLATE */
#define P11KMS_AF_PERSIST 0x0800u  /* persists: kept in a stored object's file (store.h) */
#define P11KMS_AF_NEW (P11KMS_AF_CREATE | P11KMS_AF_GENERATE | P11KMS_AF_UNWRAP)
#define P11KMS_AF_CHANGE (P11KMS_AF_COPY | P11KMS_AF_SET)

#define P11KMS_ATTR_COMPUTED ((size_t)-1) /* no plain field: read by p11kms_attr_read's switch */

typedef struct p11kms_attr_rule {
    CK_ATTRIBUTE_TYPE type;
    const char *name; /* "CKA_SENSITIVE", for log lines */
    const char *conf; /* its name in a configured wrap/unwrap template, or NULL */
    unsigned char kind;
    unsigned char on;
    unsigned short flags;
    size_t field;     /* offsetof the value in p11kms_object, or P11KMS_ATTR_COMPUTED */
    size_t len_field; /* bytes: offsetof the size_t length */
    size_t max;       /* bytes: the longest value */
} p11kms_attr_rule;

/* The rule for type on an object of kind (P11KMS_OBJ_*), or NULL when that object lacks it. */
const p11kms_attr_rule *p11kms_attr_rule_for(CK_ATTRIBUTE_TYPE type, int kind);
/* Any rule for type, or NULL when the module does not know the attribute at all. */
const p11kms_attr_rule *p11kms_attr_rule_any(CK_ATTRIBUTE_TYPE type);
/* The template attribute with this configuration name, or NULL. */
const p11kms_attr_rule *p11kms_attr_rule_conf(const char *conf);
/* The table itself: rows 0..p11kms_attr_rule_count()-1, and a row's index. */
size_t p11kms_attr_rule_count(void);
const p11kms_attr_rule *p11kms_attr_rule_at(size_t i);
size_t p11kms_attr_rule_index(const p11kms_attr_rule *r);
#define P11KMS_ATTR_RULES_MAX 96

/* Outcome of reading one attribute of an object. */
enum { P11KMS_VAL_OK, P11KMS_VAL_SECRET, P11KMS_VAL_ABSENT };

typedef struct p11kms_attr_val {
    const void *p; /* kinds other than ARRAY */
    size_t len;
    const p11kms_attr_template *tmpl; /* ARRAY */
    union {
        CK_BBOOL b;
        CK_ULONG ul;
        CK_MECHANISM_TYPE mechs[5];
    } u;
} p11kms_attr_val;

/* Read type from o: P11KMS_VAL_ABSENT when o has no such attribute, P11KMS_VAL_SECRET when its
 * value may not be revealed. v points into o (or into v itself): use it under g.lock. */
int p11kms_attr_read(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v);
/* Whether template entry a holds exactly o's value of that attribute (booleans: any non-zero
 * byte is true). Never true for secret or array attributes. */
int p11kms_attr_equal(const p11kms_object *o, const CK_ATTRIBUTE *a);
/* Whether a and b carry the same value of rule r's attribute. */
int p11kms_attr_same(const p11kms_attr_rule *r, const CK_ATTRIBUTE *a, const CK_ATTRIBUTE *b);
/* The form of a template value: length, digits of a date, NULL pointers;
 * CKR_ATTRIBUTE_VALUE_INVALID when wrong. Arrays are checked by p11kms_template_parse. */
CK_RV p11kms_attr_check(const p11kms_attr_rule *r, const CK_ATTRIBUTE *a);
/* Store a checked bool, ulong, bytes or date value in o's field (the old bytes are wiped). */
CK_RV p11kms_attr_store(p11kms_object *o, const p11kms_attr_rule *r, const CK_ATTRIBUTE *a);

/* The objects of asymmetric KMS keys (attr-asym.c), g.lock held: whether o has the attribute
 * at all (an EC key has no CKA_MODULUS, an RSA key no CKA_EC_POINT), and the value of one of its
 * computed attributes (P11KMS_VAL_*; ABSENT for one that needs the public half before it is
 * loaded). */
int p11kms_asym_attr_has(const p11kms_object *o, CK_ATTRIBUTE_TYPE type);
int p11kms_asym_attr_read(const p11kms_object *o, CK_ATTRIBUTE_TYPE type, p11kms_attr_val *v);

/* The CK_BBOOL field of o for a boolean rule. */
CK_BBOOL *p11kms_attr_bool(p11kms_object *o, const p11kms_attr_rule *r);

/*
 * Wrap and unwrap templates. Entries are P11KMS_AF_TEMPLATE attributes of data keys; class must
 * be CKO_SECRET_KEY, key type CKK_AES or CKK_GENERIC_SECRET, value length 1..512.
 */
/* Add one entry; the same type again with the same value is fine, with another value (or a
 * full template, or a value out of range) CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV p11kms_template_add(p11kms_attr_template *t, const p11kms_attr_rule *r, CK_ULONG value);
const struct p11kms_template_entry *p11kms_template_find(const p11kms_attr_template *t,
                                                         CK_ATTRIBUTE_TYPE type);
/* Whether a key made by this unwrap template could exist: not both CKA_WRAP and CKA_DECRYPT,
 * nor both CKA_UNWRAP and CKA_ENCRYPT true. */
int p11kms_template_separated(const p11kms_attr_template *t);
/* An application's CKA_(UN)WRAP_TEMPLATE value (a CK_ATTRIBUTE array) into t;
 * CKR_ATTRIBUTE_VALUE_INVALID for anything but a well-formed array of template attributes. */
CK_RV p11kms_template_parse(const CK_ATTRIBUTE *a, int unwrap, p11kms_attr_template *t);
/* Whether object o has every attribute of t with t's value. */
int p11kms_template_matches(const p11kms_attr_template *t, const p11kms_object *o);
/* C_GetAttributeValue of an array attribute (type set in each element on output):
 * CKR_OK, or CKR_BUFFER_TOO_SMALL with CK_UNAVAILABLE_INFORMATION where the room is short. */
CK_RV p11kms_template_get(const p11kms_attr_template *t, CK_ATTRIBUTE *a);
/* Add every entry of defaults whose type t lacks (t's own entries win). */
void p11kms_template_merge(p11kms_attr_template *t, const p11kms_attr_template *defaults);

#endif
