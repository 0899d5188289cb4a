# aws_kms_ops.py - the TrentService operations of the AWS KMS test server: request validation
# in the order and with the error codes AWS uses, then the work on the Store. Encrypt, Decrypt
# and ReEncrypt take RSA keys too (their RSA-OAEP branch is in aws_kms_asym_ops).
"""KMS operations: each takes the parsed JSON request and returns the JSON answer."""

import secrets

import aws_kms_asym
import aws_kms_asym_ops as asym_ops
import aws_kms_fields as f
from aws_kms_store import client_error

MAX_PLAINTEXT = 4096
MAX_CIPHERTEXT = 6144
MAX_DATA_KEY = 1024
ALGORITHM = aws_kms_asym.SYMMETRIC
KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}


def _algorithm(req, name):
    return f.enum(req, name, aws_kms_asym.ENCRYPTION_ENUM) or ALGORITHM


def _decrypt_locked(store, blob, ctx, key_ref, alg, op):
    """Shared by Decrypt and ReEncrypt: the blob's key, checked against key_ref, and the
    plaintext."""
    if alg != ALGORITHM:
        return asym_ops.decrypt_locked(store, blob, ctx, key_ref, alg, op)
    wanted = store.resolve_locked(key_ref) if key_ref is not None else None
    key_id = store.blob_key_id(blob)
    key = store.keys.get(key_id) if key_id else None
    if key is None:
        # Also the answer for a raw RSA ciphertext sent without its algorithm, as on AWS.
        raise f.invalid_ciphertext()
    if wanted is not None and wanted.key_id != key.key_id:
        raise client_error("IncorrectKeyException",
                           "The key ID in the request does not identify a CMK that can "
                           "perform this operation.")
    f.usable(store, key)
    plaintext = store.open(key, blob, ctx)
    if plaintext is None:
        raise f.invalid_ciphertext()
    return key, plaintext


def encrypt(store, req):
    ref = f.key_ref(req, "KeyId")
    plaintext = f.blob(req, "Plaintext", MAX_PLAINTEXT)
    ctx = f.context(req, "EncryptionContext")
    alg = _algorithm(req, "EncryptionAlgorithm")
    dry = f.common(req)
    with store.lock:
        key = f.usable(store, store.resolve_locked(ref))
        asym_ops.check_encrypt_locked(store, key, plaintext, ctx, alg, "Encrypt")
        if dry:
            raise f.dry_run()
        blob = asym_ops.encrypt_locked(store, key, plaintext, ctx, alg)
        return {"CiphertextBlob": f.b64(blob), "KeyId": store.key_arn(key.key_id),
                "EncryptionAlgorithm": alg}


def decrypt(store, req):
    blob = f.blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    ctx = f.context(req, "EncryptionContext")
    ref = f.key_ref(req, "KeyId", required=False)
    alg = _algorithm(req, "EncryptionAlgorithm")
    dry = f.common(req)
    with store.lock:
        key, plaintext = _decrypt_locked(store, blob, ctx, ref, alg, "Decrypt")
        if dry:
            raise f.dry_run()
        return {"KeyId": store.key_arn(key.key_id), "Plaintext": f.b64(plaintext),
                "EncryptionAlgorithm": alg}


def re_encrypt(store, req):
    blob = f.blob(req, "CiphertextBlob", MAX_CIPHERTEXT)
    src_ctx = f.context(req, "SourceEncryptionContext")
    src_ref = f.key_ref(req, "SourceKeyId", required=False)
    dst_ref = f.key_ref(req, "DestinationKeyId")
    dst_ctx = f.context(req, "DestinationEncryptionContext")
    src_alg = _algorithm(req, "SourceEncryptionAlgorithm")
    dst_alg = _algorithm(req, "DestinationEncryptionAlgorithm")
    dry = f.common(req)
    with store.lock:
        dst = f.usable(store, store.resolve_locked(dst_ref))
        src, plaintext = _decrypt_locked(store, blob, src_ctx, src_ref, src_alg, "ReEncrypt")
        asym_ops.check_encrypt_locked(store, dst, plaintext, dst_ctx, dst_alg, "ReEncrypt")
        if dry:
            raise f.dry_run()
        new_blob = asym_ops.encrypt_locked(store, dst, plaintext, dst_ctx, dst_alg)
        return {"CiphertextBlob": f.b64(new_blob), "SourceKeyId": store.key_arn(src.key_id),
                "KeyId": store.key_arn(dst.key_id), "SourceEncryptionAlgorithm": src_alg,
                "DestinationEncryptionAlgorithm": dst_alg}


def _data_key(store, req, op):
    ref = f.key_ref(req, "KeyId")
    ctx = f.context(req, "EncryptionContext")
    nbytes = f.typed(req, "NumberOfBytes", int)
    spec = f.typed(req, "KeySpec", str)
    dry = f.common(req)
    if (nbytes is None) == (spec is None):
        raise client_error("ValidationException",
                           "Please specify either number of bytes or key spec.")
    if spec is not None:
        if spec not in KEY_SPEC_BYTES:
            raise f.validation("keySpec", "Member must satisfy enum value set: [AES_256, "
                               "AES_128]")
        nbytes = KEY_SPEC_BYTES[spec]
    elif not 1 <= nbytes <= MAX_DATA_KEY:
        raise f.validation("numberOfBytes", "Member must have value between 1 and %d"
                           % MAX_DATA_KEY)
    with store.lock:
        key = f.usable(store, store.resolve_locked(ref))
        # Data keys are sealed under symmetric keys only (SYMMETRIC_DEFAULT is implied).
        f.require_usage(store, key, aws_kms_asym.ENCRYPT_DECRYPT, op)
        if not key.symmetric:
            raise f.incompatible(ALGORITHM, key.spec)
        if dry:
            raise f.dry_run()
        data_key = secrets.token_bytes(nbytes)
        out = {"CiphertextBlob": f.b64(store.seal(key, data_key, ctx)),
               "KeyId": store.key_arn(key.key_id)}
        if op == "GenerateDataKey":
            out["Plaintext"] = f.b64(data_key)
        return out


def generate_data_key(store, req):
    return _data_key(store, req, "GenerateDataKey")


def generate_data_key_without_plaintext(store, req):
    return _data_key(store, req, "GenerateDataKeyWithoutPlaintext")


def describe_key(store, req):
    ref = f.key_ref(req, "KeyId")
    f.common(req)
    with store.lock:
        return {"KeyMetadata": asym_ops.metadata(store, store.resolve_locked(ref))}


OPERATIONS = {
    "Encrypt": encrypt,
    "Decrypt": decrypt,
    "ReEncrypt": re_encrypt,
    "GenerateDataKey": generate_data_key,
    "GenerateDataKeyWithoutPlaintext": generate_data_key_without_plaintext,
    "DescribeKey": describe_key,
}
OPERATIONS.update(asym_ops.OPERATIONS)
