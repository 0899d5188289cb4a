#!/usr/bin/python3
# aws_kms_shapes.py - checks the AWS KMS test server's JSON answers against a botocore service
# model: every member known to the output shape, every value of the shape's type and enum.
# botocore's parser silently drops members it does not know, so a client never notices them.
"""problems(shape, value) -> list of strings; as a program, checks the answers in an AWS CLI
--debug log against the model the AWS CLI itself loads (v2 ships its own botocore)."""

import ast
import base64
import binascii
import importlib
import json
import os
import re
import sys


def problems(shape, value, path="$"):
    """What in value does not fit shape (a botocore Shape); [] when it fits."""
    t = shape.type_name
    if t == "structure":
        if not isinstance(value, dict):
            return ["%s: %s is not an object" % (path, type(value).__name__)]
        out = []
        for name, member in value.items():
            if name not in shape.members:
                out.append("%s.%s: not a member of %s" % (path, name, shape.name))
            else:
                out += problems(shape.members[name], member, "%s.%s" % (path, name))
        return out
    if t == "list":
        if not isinstance(value, list):
            return ["%s: %s is not a list" % (path, type(value).__name__)]
        out = []
        for i, item in enumerate(value):
            out += problems(shape.member, item, "%s[%d]" % (path, i))
        return out
    if t == "map":
        if not isinstance(value, dict):
            return ["%s: %s is not a map" % (path, type(value).__name__)]
        out = []
        for k, v in value.items():
            out += problems(shape.key, k, "%s{key}" % path)
            out += problems(shape.value, v, "%s[%r]" % (path, k))
        return out
    if t == "string":
        if not isinstance(value, str):
            return ["%s: %r is not a string" % (path, value)]
        if shape.enum and value not in shape.enum:
            return ["%s: %r is not in the enum %s" % (path, value, shape.name)]
        return []
    if t == "blob":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            return ["%s: %r is not base64" % (path, value)]
        return []
    if t == "boolean":
        return [] if isinstance(value, bool) else ["%s: %r is not a boolean" % (path, value)]
    if t in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else ["%s: %r is not an integer" % (path, value)]
    if t in ("timestamp", "double", "float"):
        # JSON 1.1 timestamps are epoch seconds, as numbers.
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else ["%s: %r is not a number" % (path, value)]
    return ["%s: unhandled shape type %s" % (path, t)]


# Error codes any operation may answer although no operation's model lists them: AWS common
# errors, JSON protocol errors, and DryRun (added to the model after botocore 1.29).
COMMON_ERRORS = ("ValidationException", "SerializationException", "ThrottlingException",
                 "AccessDeniedException", "UnrecognizedClientException",
                 "InvalidSignatureException", "IncompleteSignatureException",
                 "MissingAuthenticationTokenException", "ExpiredTokenException",
                 "ServiceUnavailableException", "UnknownOperationException",
                 "DryRunOperationException")


def answer_problems(service_model, op, body):
    """Check one raw JSON answer of op: a success against the output shape, an error's code
    against the errors the model lists for op (or the common ones)."""
    try:
        value = json.loads(body)
    except ValueError:
        return ["%s: the answer is not JSON" % op]
    opm = service_model.operation_model(op)
    if isinstance(value, dict) and "__type" in value:
        code = value["__type"].split("#")[-1]
        if code in COMMON_ERRORS or code in [e.name for e in opm.error_shapes]:
            return [] if isinstance(value.get("message", ""), str) else \
                ["%s: error message is not a string" % op]
        return ["%s: error %s is not one the model lists for %s" % (op, code, op)]
    return problems(opm.output_shape, value, op)


# `aws --debug` logs "Making request for OperationModel(name=Op)", then the raw answer as
# "Response body:\nb'{...}'" (twice for an error answer).
_OP = re.compile(r"OperationModel\(name=(\w+)\)")
_BODY = re.compile(r"Response body:\n(b'.*?')\n", re.S)


def cli_answers(log):
    """[(operation, raw body)]: the first answer logged after each request in an AWS CLI
    --debug log (a retried request logs its request again)."""
    out = []
    marks = list(_OP.finditer(log)) + [None]
    for here, after in zip(marks, marks[1:]):
        chunk = log[here.end():after.start() if after else len(log)]
        m = _BODY.search(chunk)
        if m:
            out.append((here.group(1), ast.literal_eval(m.group(1)).decode("utf-8")))
    return out


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: aws_kms_shapes.py DEBUG_LOG (prints the operations checked)\n")
        return 2
    importlib.import_module("awscli")     # puts the AWS CLI's own botocore first on sys.path
    import botocore.session
    model = botocore.session.get_session().get_service_model("kms")
    print("model: botocore %s from %s" % (botocore.__version__, os.path.dirname(botocore.__file__)))
    with open(argv[1], encoding="utf-8", errors="replace") as f:
        answers = cli_answers(f.read())
    if not answers:
        print("no KMS answer found in the log")
        return 1
    bad = 0
    for op, body in answers:
        found = answer_problems(model, op, body)
        for p in found:
            print("MISMATCH %s" % p)
        bad += len(found)
        print("checked %s" % op)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
