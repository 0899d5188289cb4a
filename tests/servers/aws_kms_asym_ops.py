# aws_kms_asym_ops.py - the key operations of the AWS KMS test server beyond symmetric envelope
# encryption: CreateKey (any spec), GetPublicKey, Sign, Verify, the RSA-OAEP branches of
# Encrypt/Decrypt/ReEncrypt, and the KeyMetadata every key answer carries.
"""Asymmetric KMS operations: each takes the parsed JSON request and returns the JSON answer."""

import secrets

import aws_kms_asym as asym
import aws_kms_fields as f
from aws_kms_store import Key, client_error

MAX_MESSAGE = 4096
MAX_SIGNATURE = 6144
MAX_DESCRIPTION = 8192
UNSUPPORTED_SPECS = ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")
ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")


def metadata(store, key):
    """KeyMetadata as DescribeKey and CreateKey answer it: the algorithm list that fits the key
    usage, and only that one (AWS leaves the other out)."""
    md = {
        "AWSAccountId": store.account,
        "KeyId": key.key_id,
        "Arn": store.key_arn(key.key_id),
        "CreationDate": key.created,
        "Enabled": key.enabled,
        "Description": key.description,
        "KeyUsage": key.usage,
        "KeyState": "Enabled" if key.enabled else "Disabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": key.spec,
        "KeySpec": key.spec,
        "MultiRegion": False,
    }
    if key.symmetric:
        md["EncryptionAlgorithms"] = [asym.SYMMETRIC]
    else:
        name, algs = asym.algorithms(key.spec, key.usage)
        md[name] = algs
    return md


def _unsupported(what):
    return client_error("UnsupportedOperationException",
                        "%s is not supported by the p11kms AWS KMS test server." % what)


def create_key(store, req):
    f.typed(req, "Policy", str)
    description = f.typed(req, "Description", str) or ""
    if len(description) > MAX_DESCRIPTION:
        raise f.validation("description", "Member must have length less than or equal to %d"
                           % MAX_DESCRIPTION)
    usage = f.enum(req, "KeyUsage", asym.KEY_USAGE_ENUM)
    cmk_spec = f.enum(req, "CustomerMasterKeySpec", asym.KEY_SPEC_ENUM)
    spec = f.enum(req, "KeySpec", asym.KEY_SPEC_ENUM)
    origin = f.enum(req, "Origin", ORIGINS)
    f.typed(req, "BypassPolicyLockoutSafetyCheck", bool)
    f.typed(req, "Tags", list)
    multi = f.typed(req, "MultiRegion", bool)
    store_id = f.typed(req, "CustomKeyStoreId", str)
    xks_id = f.typed(req, "XksKeyId", str)
    if spec is not None and cmk_spec is not None:
        raise client_error("ValidationException",
                           "You cannot specify KeySpec and CustomerMasterKeySpec in the same "
                           "request. CustomerMasterKeySpec is deprecated.")
    spec = spec or cmk_spec or asym.SYMMETRIC
    if usage is None:
        if spec != asym.SYMMETRIC:
            raise client_error("ValidationException",
                               "You must specify a KeyUsage value for all KMS keys except for "
                               "symmetric encryption keys.")
        usage = asym.ENCRYPT_DECRYPT
    if spec in UNSUPPORTED_SPECS:
        if usage != "GENERATE_VERIFY_MAC":
            raise _not_compatible(usage, spec)
        raise _unsupported("KeySpec %s (HMAC keys)" % spec)
    allowed = (asym.ENCRYPT_DECRYPT,) if spec == asym.SYMMETRIC else asym.SPECS[spec].usages
    if usage not in allowed:
        raise _not_compatible(usage, spec)
    if origin not in (None, "AWS_KMS"):
        raise _unsupported("Origin %s" % origin)
    if multi:
        raise _unsupported("MultiRegion")
    if store_id is not None or xks_id is not None:
        raise _unsupported("A custom key store")
    private = asym.generate(spec) if spec != asym.SYMMETRIC else None
    secret = None if private is not None else secrets.token_bytes(32)
    with store.lock:
        key = Key(store.new_key_id_locked(), secret, True, description, spec=spec, usage=usage,
                  private=private)
        store.add_key_locked(key)
        return {"KeyMetadata": metadata(store, key)}


def _not_compatible(usage, spec):
    return client_error("ValidationException",
                        "KeyUsage %s is not compatible with KeySpec %s" % (usage, spec))


def get_public_key(store, req):
    ref = f.key_ref(req, "KeyId")
    f.common(req)
    with store.lock:
        key = f.usable(store, store.resolve_locked(ref))
        if key.symmetric:
            raise client_error("UnsupportedOperationException",
                               "%s key spec is %s which is not valid for GetPublicKey."
                               % (store.key_arn(key.key_id), key.spec))
        der = asym.public_der(store.private_key_locked(key))
        name, algs = asym.algorithms(key.spec, key.usage)
        return {"KeyId": store.key_arn(key.key_id), "PublicKey": f.b64(der),
                "CustomerMasterKeySpec": key.spec, "KeySpec": key.spec, "KeyUsage": key.usage,
                name: algs}


def _signing_request(req, with_signature):
    """The fields of Sign/Verify, checked in the order the AWS model lists them."""
    ref = f.key_ref(req, "KeyId")
    message = f.blob(req, "Message", MAX_MESSAGE)
    message_type = f.enum(req, "MessageType", asym.MESSAGE_TYPE_ENUM) or "RAW"
    signature = f.blob(req, "Signature", MAX_SIGNATURE) if with_signature else None
    alg = f.enum(req, "SigningAlgorithm", asym.SIGNING_ENUM, required=True)
    dry = f.common(req)
    return ref, message, message_type == "DIGEST", signature, alg, dry


def _signing_key_locked(store, ref, alg, message, is_digest, op):
    key = f.usable(store, store.resolve_locked(ref))
    f.require_usage(store, key, asym.SIGN_VERIFY, op)
    if alg not in asym.SPECS[key.spec].signing:
        raise f.incompatible(alg, key.spec)
    if is_digest and len(message) != asym.digest_length(alg):
        raise client_error("ValidationException",
                           "Digest is invalid length for algorithm %s." % alg)
    return key


def sign(store, req):
    ref, message, is_digest, _, alg, dry = _signing_request(req, False)
    with store.lock:
        key = _signing_key_locked(store, ref, alg, message, is_digest, "Sign")
        if dry:
            raise f.dry_run()
        signature = asym.sign(store.private_key_locked(key), alg, message, is_digest)
        return {"KeyId": store.key_arn(key.key_id), "Signature": f.b64(signature),
                "SigningAlgorithm": alg}


def verify(store, req):
    ref, message, is_digest, signature, alg, dry = _signing_request(req, True)
    with store.lock:
        key = _signing_key_locked(store, ref, alg, message, is_digest, "Verify")
        if dry:
            raise f.dry_run()
        public = store.private_key_locked(key).public_key()
        if not asym.verify(public, alg, message, is_digest, signature):
            # AWS answers an invalid signature with this error and an empty message.
            raise client_error("KMSInvalidSignatureException", "")
        return {"KeyId": store.key_arn(key.key_id), "SignatureValid": True,
                "SigningAlgorithm": alg}


# ---- RSA-OAEP branches of Encrypt / Decrypt / ReEncrypt ----------------------------------

def _no_context(ctx):
    if ctx:
        raise client_error("ValidationException",
                           "EncryptionContext is not supported when encrypting/decrypting "
                           "with asymmetric CMKs.")


def check_encrypt_locked(store, key, plaintext, ctx, alg, op):
    """Everything Encrypt checks before it encrypts, for any key and algorithm."""
    f.require_usage(store, key, asym.ENCRYPT_DECRYPT, op)
    offered = (asym.SYMMETRIC,) if key.symmetric else asym.SPECS[key.spec].encryption
    if alg not in offered:
        raise f.incompatible(alg, key.spec)
    if key.symmetric:
        return
    _no_context(ctx)
    limit = asym.max_plaintext(key.spec, alg)
    if len(plaintext) > limit:
        raise client_error("ValidationException",
                           "Algorithm %s and key spec %s cannot encrypt data larger than %d "
                           "bytes." % (alg, key.spec, limit))


def encrypt_locked(store, key, plaintext, ctx, alg):
    """The ciphertext: our AES-GCM blob for symmetric keys, raw RSA-OAEP for RSA keys."""
    if key.symmetric:
        return store.seal(key, plaintext, ctx)
    return asym.oaep_encrypt(store.private_key_locked(key), alg, plaintext)


def decrypt_locked(store, blob, ctx, ref, alg, op):
    """(key, plaintext) of an RSA-OAEP ciphertext. It names no key, so KeyId is required."""
    if ref is None:
        raise client_error("ValidationException",
                           "KeyId is required when EncryptionAlgorithm is %s." % alg)
    key = f.usable(store, store.resolve_locked(ref))
    f.require_usage(store, key, asym.ENCRYPT_DECRYPT, op)
    if key.symmetric or alg not in asym.SPECS[key.spec].encryption:
        raise f.incompatible(alg, key.spec)
    _no_context(ctx)
    plaintext = asym.oaep_decrypt(store.private_key_locked(key), alg, blob)
    if plaintext is None:
        raise f.invalid_ciphertext()
    return key, plaintext


OPERATIONS = {
    "CreateKey": create_key,
    "GetPublicKey": get_public_key,
    "Sign": sign,
    "Verify": verify,
}
