# gcp_kms_answers.py - injected answers of the Google Cloud KMS test server: the error bodies of
# the fault kinds in each endpoint's own format (google.rpc.Status, OAuth JSON, metadata text),
# and the alterations of a good KMS answer (wrong CRC, corrupted data, unverified flags).
"""fault_error(op, is_kms, fault) -> (status, body, content type, label); apply_answer_fault."""

import base64
import json

import gcp_kms_iam as iam
from gcp_kms_wire import HTTP_OF, JSON_TYPE, GcpError

QUOTA_MESSAGE = ("Quota exceeded for quota metric 'Cryptographic requests' and limit "
                 "'Cryptographic requests per minute per project' of service "
                 "'cloudkms.googleapis.com' for consumer 'project_number:%s'."
                 % iam.PROJECT_NUMBER)
KMS_FAULTS = {
    "http429": ("RESOURCE_EXHAUSTED", QUOTA_MESSAGE, "RATE_LIMIT_EXCEEDED"),
    "http500": ("INTERNAL", "Internal error encountered.", None),
    "http503": ("UNAVAILABLE", "The service is currently unavailable.", None),
    "http504": ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", None),
}
OAUTH_FAULTS = {
    "http429": (429, "rate_limit_exceeded", "Rate Limit Exceeded"),
    "http500": (500, "internal_failure", "Backend Error"),
    "http503": (503, "temporarily_unavailable", "The service is currently unavailable."),
    "http504": (504, "temporarily_unavailable", "Deadline exceeded."),
}
TEXT_FAULTS = {"http429": (429, "Too Many Requests"), "http500": (500, "Internal Server Error"),
               "http503": (503, "Service Unavailable"), "http504": (504, "Gateway Timeout")}

# Response fields: (data field, its CRC field) and the verified* flags.
CRC_PAIRS = (("ciphertext", "ciphertextCrc32c"), ("plaintext", "plaintextCrc32c"),
             ("signature", "signatureCrc32c"), ("pem", "pemCrc32c"))
VERIFIED = ("verifiedPlaintextCrc32c", "verifiedAdditionalAuthenticatedDataCrc32c",
            "verifiedDigestCrc32c", "verifiedDataCrc32c", "verifiedCiphertextCrc32c")


def fault_error(op, is_kms, fault):
    kind = fault["kind"]
    if is_kms or op == "iamcredentials":
        if kind == "error":
            status = fault["status"]
            err = GcpError(status, fault.get("message") or "Injected %s." % status,
                           http=fault.get("http"))
        else:
            status, message, reason = KMS_FAULTS[kind]
            err = GcpError(status, message, reason=reason, metadata={
                "service": "cloudkms.googleapis.com",
                "quota_metric": "cloudkms.googleapis.com/crypto_requests"} if reason else None)
        return err.http, err.body(), JSON_TYPE, err.status
    if op in ("token", "sts"):
        if kind == "error":
            http = fault.get("http") or HTTP_OF[fault["status"]]
            code, text = fault["status"].lower(), fault.get("message") or "Injected error."
        else:
            http, code, text = OAUTH_FAULTS[kind]
        body = json.dumps({"error": code, "error_description": text}).encode()
        return http, body, "application/json; charset=utf-8", code
    if kind == "error":
        http = fault.get("http") or HTTP_OF[fault["status"]]
        text = fault.get("message") or fault["status"]
    else:
        http, text = TEXT_FAULTS[kind]
    return http, text.encode(), "text/plain; charset=utf-8", str(http)


def apply_answer_fault(answer, kind):
    """Alter a good KMS answer in place the way a corrupting network or server would."""
    if kind == "unverified":
        for flag in VERIFIED:
            answer.pop(flag, None)
        return
    for data_field, crc_field in CRC_PAIRS:
        if data_field not in answer or crc_field not in answer:
            continue
        if kind == "crc_mismatch":
            answer[crc_field] = str((int(answer[crc_field]) + 1) & 0xFFFFFFFF)
        elif data_field == "pem":
            answer["pem"] = answer["pem"].replace("A", "B", 1)
        else:
            raw = bytearray(base64.b64decode(answer[data_field]))
            if not raw:
                raw = bytearray(b"\x00")
            raw[-1] ^= 0x01
            answer[data_field] = base64.b64encode(bytes(raw)).decode("ascii")
        return
