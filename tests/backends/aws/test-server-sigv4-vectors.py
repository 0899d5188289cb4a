# test-server-sigv4-vectors.py - the AWS test server's SigV4 oracle against the official suites.
# Each vector is fed to the oracle the way the server feeds a received request.
"""Check tests/servers/sigv4_oracle.py against the suites in sigv4-vectors/ (SOURCES.md).

botocore suite: NAME.sreq (with the Authorization of NAME.authz) must give NAME.creq, NAME.sts and
NAME.authz. aws-c-auth v4 suite: header-signed-request.txt must give the header-* files.
Skipped, with the reason printed: the S3-style cases (normalize=false), whose unnormalized
paths no KMS, STS or credential request uses.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import sigv4_oracle
except ImportError as e:
    print("# SKIP: botocore not importable by %s: %s" % (sys.executable, e))
    sys.exit(77)

VECTORS = os.environ.get("P11KMS_SIGV4_VECTORS") or os.path.join(HERE, "sigv4-vectors")

BOTO_AKID = "AKIDEXAMPLE"
BOTO_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

failures = 0
passed = 0
skipped = 0


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8").replace("\r\n", "\n")


def parse_raw(text):
    """Split a raw HTTP request into method, target, header pairs (folded lines joined), body."""
    head, sep, body = text.partition("\n\n")
    lines = head.rstrip("\n").split("\n")
    # The target may hold spaces (get-space): the method is the first word, the version the last.
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0] if rest.endswith("HTTP/1.1") else rest
    pairs = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError("malformed header line %r" % line)
        pairs.append((name, value))
    return method, target, pairs, body.encode("utf-8") if sep else b""


def check(name, method, target, pairs, body, auth_value, creds, region, service,
          want_creq, want_sts, want_authz):
    global failures, passed
    auth = sigv4_oracle.AuthHeader.parse(auth_value)
    if auth is None:
        print("not ok - %s: Authorization header not parsed: %r" % (name, auth_value))
        failures += 1
        return
    amzdate = next((v.strip() for n, v in pairs if n.lower() == "x-amz-date"), "")
    authz, sig, creq, sts = sigv4_oracle.compute(
        method, target, pairs, body, auth.signed_headers, creds[0], creds[1], creds[2],
        region, service, amzdate)
    problems = []
    if creq != want_creq:
        problems.append("canonical request\n got: %r\nwant: %r" % (creq, want_creq))
    if sts != want_sts:
        problems.append("string to sign\n got: %r\nwant: %r" % (sts, want_sts))
    if authz != want_authz:
        problems.append("authorization\n got: %r\nwant: %r" % (authz, want_authz))
    if not sigv4_oracle.signature_matches(sig, auth.signature):
        problems.append("signature does not verify")
    if not sigv4_oracle.payload_hash_ok(pairs, body):
        problems.append("x-amz-content-sha256 does not match the body")
    if problems:
        failures += 1
        print("not ok - %s" % name)
        for p in problems:
            print("#   " + p.replace("\n", "\n#   "))
    else:
        passed += 1
        print("ok - %s" % name)
    # A flipped signature digit or one more body byte must be caught, or a match proves nothing.
    flipped = auth.signature[:-1] + ("0" if auth.signature[-1] != "0" else "1")
    _, sig2, _, _ = sigv4_oracle.compute(
        method, target, pairs, body + b"x", auth.signed_headers, creds[0], creds[1], creds[2],
        region, service, amzdate)
    body_change_caught = not sigv4_oracle.payload_hash_ok(pairs, body + b"x") or \
        not sigv4_oracle.signature_matches(sig2, auth.signature)
    if sigv4_oracle.signature_matches(sig, flipped) or not body_change_caught:
        failures += 1
        print("not ok - %s: altered signature or body accepted" % name)


def skip(name, why):
    global skipped
    skipped += 1
    print("ok - %s # SKIP %s" % (name, why))


def botocore_cases(root):
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for fn in sorted(filenames):
            if not fn.endswith(".req"):
                continue
            case = fn[:-4]
            base = os.path.join(dirpath, case)
            name = "botocore/" + os.path.relpath(base, root)
            # .sreq is what a server receives, but its Authorization is stale in one case
            # (get-vanilla-with-session-token); .authz is right everywhere.
            method, target, pairs, body = parse_raw(read(base + ".sreq"))
            pairs = [(n, v) for n, v in pairs if n.lower() != "authorization"]
            want_authz = read(base + ".authz").strip("\n")
            has_token = [v.strip() for n, v in pairs if n.lower() == "x-amz-security-token"]
            creds = (BOTO_AKID, BOTO_SECRET, has_token[0] if has_token else None)
            check(name, method, target, pairs, body, want_authz, creds, "us-east-1",
                  "service", read(base + ".creq"), read(base + ".sts"), want_authz)


def c_auth_cases(root):
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        ctx_path = os.path.join(d, "context.json")
        if not os.path.isfile(ctx_path):
            continue
        name = "aws-c-auth/" + case
        ctx = json.loads(read(ctx_path))
        if not ctx.get("normalize", True):
            skip(name, "normalize=false (S3-style path handling)")
            continue
        method, target, pairs, body = parse_raw(
            read(os.path.join(d, "header-signed-request.txt")))
        auth_value = next(v for n, v in pairs if n.lower() == "authorization")
        pairs = [(n, v) for n, v in pairs if n.lower() != "authorization"]
        c = ctx["credentials"]
        want_creq = read(os.path.join(d, "header-canonical-request.txt"))
        want_sts = read(os.path.join(d, "header-string-to-sign.txt"))
        check(name, method, target, pairs, body, auth_value,
              (c["access_key_id"], c["secret_access_key"], c.get("token")),
              ctx["region"], ctx["service"], want_creq, want_sts, auth_value.strip())


def main():
    boto = os.path.join(VECTORS, "botocore")
    cauth = os.path.join(VECTORS, "aws-c-auth", "v4")
    if not os.path.isdir(boto) or not os.path.isdir(cauth):
        print("# no SigV4 vectors at %s" % VECTORS)
        return 1
    if os.path.isdir(boto):
        botocore_cases(boto)
    if os.path.isdir(cauth):
        c_auth_cases(cauth)
    print("# %d passed, %d failed, %d skipped" % (passed, failures, skipped))
    if passed == 0:
        print("# no vector was checked")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
