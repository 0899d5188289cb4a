# aws_kms_ops.py - the TrentService operations of the AWS KMS test server: request validation
# in the order and with the error codes AWS uses, then the work on the Store.
"""KMS operations: each takes the parsed JSON request and returns the JSON answer."""

import base64
import binascii
import secrets

from aws_kms_store import KmsError, client_error

MAX_PLAINTEXT = 4096
MAX_CIPHERTEXT = 6144
MAX_KEY_ID = 2048
MAX_DATA_KEY = 1024
MAX_GRANT_TOKENS = 10
ALGORITHM = "SYMMETRIC_DEFAULT"
ASYMMETRIC_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE")
KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}


def _validation(field, constraint):
    return client_error("ValidationException",
                        "1 validation error detected: Value at '%s' failed to satisfy "
                        "constraint: %s" % (field, constraint))


def _lower_first(name):
    return name[0].lower() + name[1:]


def _typed(req, name, kind, required=False):
    """Field of a JSON type; absent optional fields are None. Wrong types are serialization
    errors, as AWS's JSON deserializer reports them."""
    value = req.get(name)
    if value is None:
        if required:
            raise client_error("ValidationException",
                               "1 validation error detected: Value null at '%s' failed to "
                               "satisfy constraint: Member must not be null"
                               % _lower_first(name))
        return None
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise client_error("SerializationException",
                           "Unexpected value type for field %s" % name)
    return value


def _blob(req, name, max_len, required=True):
    text = _typed(req, name, str, required)
    if text is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise client_error("SerializationException",
                           "Invalid base64 in field %s" % name)
    if not 1 <= len(data) <= max_len:
        raise _validation(_lower_first(name),
                          "Member must have length between 1 and %d" % max_len)
    return data


def _key_ref(req, name, required=True):
    ref = _typed(req, name, str, required)
    if ref is not None and not 1 <= len(ref) <= MAX_KEY_ID:
        raise _validation(_lower_first(name),
                          "Member must have length between 1 and %d" % MAX_KEY_ID)
    return ref


def _context(req, name):
    ctx = _typed(req, name, dict)
    if ctx is None:
        return {}
    for k, v in ctx.items():
        if not isinstance(v, str):
            raise client_error("SerializationException",
                               "Unexpected value type in %s" % name)
    return ctx


def _algorithm(req, name):
    alg = _typed(req, name, str)
    if alg is None or alg == ALGORITHM:
        return ALGORITHM
    if alg in ASYMMETRIC_ALGORITHMS:
        raise client_error("InvalidKeyUsageException",
                           "%s is not a valid encryption algorithm for a symmetric key" % alg)
    raise _validation(_lower_first(name), "Member must satisfy enum value set: [%s, %s]"
                      % (ALGORITHM, ", ".join(ASYMMETRIC_ALGORITHMS)))


def _common(req):
    tokens = _typed(req, "GrantTokens", list)
    if tokens is not None:
        if len(tokens) > MAX_GRANT_TOKENS or not all(isinstance(t, str) for t in tokens):
            raise _validation("grantTokens", "Member must have length less than or equal "
                              "to %d" % MAX_GRANT_TOKENS)
    return bool(_typed(req, "DryRun", bool))


def _dry_run():
    return KmsError(412, "DryRunOperationException",
                    "The request would have succeeded, but the DryRun option is set.")


def _usable(store, key):
    if not key.enabled:
        raise client_error("DisabledException", "%s is disabled." % store.key_arn(key.key_id))
    return key


def _invalid_ciphertext():
    return client_error("InvalidCiphertextException",
                        "The ciphertext is invalid or was not encrypted under this key "
                        "and encryption context.")


def _decrypt_locked(store, blob, ctx, key_ref):
    """Shared by Decrypt and ReEncrypt: the blob's key, checked against key_ref, and the
    plaintext."""
    wanted = store.resolve_locked(key_ref) if key_ref is not None else None
    key_id = store.blob_key_id(blob)
    key = store.keys.get(key_id) if key_id else None
    if key is None:
        raise _invalid_ciphertext()
    if wanted is not None and wanted.key_id != key.key_id:
        raise client_error("IncorrectKeyException",
                           "The key ID in the request does not identify a CMK that can "
                           "perform this operation.")
    _usable(store, key)
    plaintext = store.open(key, blob, ctx)
    if plaintext is None:
        raise _invalid_ciphertext()
    return key, plaintext


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def encrypt(store, req):
    ref = _key_ref(req, "KeyId")
    plaintext = _blob(req, "Plaintext", MAX_PLAINTEXT)
    ctx = _context(req, "EncryptionContext")
    alg = _algorithm(req, "EncryptionAlgorithm")
    dry = _common(req)
    with store.lock:
        key = _usable(store, store.resolve_locked(ref))
        if dry:
            raise _dry_run()
        blob = store.seal(key, plaintext, ctx)
        return {"CiphertextBlob": _b64(blob), "KeyId": store.key_arn(key.key_id),
                "EncryptionAlgorithm": alg}


def decrypt(store, req):
    blob = _blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    ctx = _context(req, "EncryptionContext")
    ref = _key_ref(req, "KeyId", required=False)
    alg = _algorithm(req, "EncryptionAlgorithm")
    dry = _common(req)
    with store.lock:
        key, plaintext = _decrypt_locked(store, blob, ctx, ref)
        if dry:
            raise _dry_run()
        return {"KeyId": store.key_arn(key.key_id), "Plaintext": _b64(plaintext),
                "EncryptionAlgorithm": alg}


def re_encrypt(store, req):
    blob = _blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    src_ctx = _context(req, "SourceEncryptionContext")
    src_ref = _key_ref(req, "SourceKeyId", required=False)
    dst_ref = _key_ref(req, "DestinationKeyId")
    dst_ctx = _context(req, "DestinationEncryptionContext")
    src_alg = _algorithm(req, "SourceEncryptionAlgorithm")
    dst_alg = _algorithm(req, "DestinationEncryptionAlgorithm")
    dry = _common(req)
    with store.lock:
        dst = _usable(store, store.resolve_locked(dst_ref))
        src, plaintext = _decrypt_locked(store, blob, src_ctx, src_ref)
        if dry:
            raise _dry_run()
        new_blob = store.seal(dst, plaintext, dst_ctx)
        return {"CiphertextBlob": _b64(new_blob), "SourceKeyId": store.key_arn(src.key_id),
                "KeyId": store.key_arn(dst.key_id), "SourceEncryptionAlgorithm": src_alg,
                "DestinationEncryptionAlgorithm": dst_alg}


def _data_key(store, req, with_plaintext):
    ref = _key_ref(req, "KeyId")
    ctx = _context(req, "EncryptionContext")
    nbytes = _typed(req, "NumberOfBytes", int)
    spec = _typed(req, "KeySpec", str)
    dry = _common(req)
    if (nbytes is None) == (spec is None):
        raise client_error("ValidationException",
                           "Please specify either number of bytes or key spec.")
    if spec is not None:
        if spec not in KEY_SPEC_BYTES:
            raise _validation("keySpec", "Member must satisfy enum value set: [AES_256, "
                              "AES_128]")
        nbytes = KEY_SPEC_BYTES[spec]
    elif not 1 <= nbytes <= MAX_DATA_KEY:
        raise _validation("numberOfBytes", "Member must have value between 1 and %d"
                          % MAX_DATA_KEY)
    with store.lock:
        key = _usable(store, store.resolve_locked(ref))
        if dry:
            raise _dry_run()
        data_key = secrets.token_bytes(nbytes)
        out = {"CiphertextBlob": _b64(store.seal(key, data_key, ctx)),
               "KeyId": store.key_arn(key.key_id)}
        if with_plaintext:
            out["Plaintext"] = _b64(data_key)
        return out


def generate_data_key(store, req):
    return _data_key(store, req, True)


def generate_data_key_without_plaintext(store, req):
    return _data_key(store, req, False)


def describe_key(store, req):
    ref = _key_ref(req, "KeyId")
    _common(req)
    with store.lock:
        key = store.resolve_locked(ref)
        return {"KeyMetadata": {
            "AWSAccountId": store.account,
            "KeyId": key.key_id,
            "Arn": store.key_arn(key.key_id),
            "CreationDate": key.created,
            "Enabled": key.enabled,
            "Description": key.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": "Enabled" if key.enabled else "Disabled",
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": [ALGORITHM],
            "MultiRegion": False,
        }}


OPERATIONS = {
    "Encrypt": encrypt,
    "Decrypt": decrypt,
    "ReEncrypt": re_encrypt,
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "DescribeKey": describe_key,
}
