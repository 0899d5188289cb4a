# test-s3-server-boto3.py - boto3/botocore (an independent client and signer) against the
# loopback S3 server: transfers, ranges, listings, multipart rules, checksums, S3's 200-with-an-
# error answer, faults, and requests botocore signs but this test then alters (what the server
# must refuse).
"""boto3 fidelity test of tests/servers/s3_server.py; exit 77 when boto3 is missing."""

import hashlib
import http.client
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "servers"))

try:
    import boto3
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:
    print("# SKIP: %s cannot import boto3/botocore: %s" % (sys.executable, e))
    sys.exit(77)

import s3srv  # noqa: E402

n = 0
failures = 0


def check(cond, what):
    global n, failures
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failures += 1
        print("not ok %d - %s" % (n, what))
    return cond


def code_of(fn, *args, **kwargs):
    """The S3 error code fn raises, or None when it succeeds."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return e.response.get("Error", {}).get("Code") or \
            "HTTP %s" % e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return None


def client(srv, retries=3, **config):
    os.environ.update(srv.client_env())
    return boto3.session.Session().client(
        "s3", endpoint_url=srv.endpoint, region_name=s3srv.REGION,
        config=Config(retries={"max_attempts": retries, "mode": "standard"},
                      s3={"addressing_style": "path"}, **config))


def raw(srv, method, path, body=b"", headers=None, host=None, alter=None):
    """A request signed by botocore's S3 signer, optionally altered after signing; (status,
    headers, body)."""
    host = host or "127.0.0.1:%d" % srv.port
    req = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (host, path),
                                         data=body, headers=dict(headers or {}))
    req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    creds = botocore.credentials.Credentials(s3srv.ACCESS_KEY, s3srv.SECRET_KEY)
    botocore.auth.S3SigV4Auth(creds, "s3", s3srv.REGION).add_auth(req)
    sent = dict(req.headers.items())
    sent["Host"] = host
    if alter is not None:
        alter(sent)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def transfers(srv, s3):
    data = os.urandom(13 * 1024 * 1024 + 5)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024,
                         max_concurrency=3)
    s3.upload_fileobj(io.BytesIO(data), s3srv.BUCKET, "t/data", Config=cfg,
                      ExtraArgs={"Metadata": {"p11kms-format": "1"}})
    o = srv.objects()["t/data"]
    check(o["parts"] == 3 and o["size"] == len(data), "upload_fileobj: three parts")
    check(o["metadata"] == {"p11kms-format": "1"}, "  ... metadata from CreateMultipartUpload")
    out = io.BytesIO()
    s3.download_fileobj(s3srv.BUCKET, "t/data", out, Config=cfg)
    check(out.getvalue() == data, "download_fileobj: the same bytes")
    h = s3.head_object(Bucket=s3srv.BUCKET, Key="t/data")
    check(h["ContentLength"] == len(data) and h["Metadata"] == {"p11kms-format": "1"} and
          h["ETag"].endswith('-3"'), "head_object: length, metadata, multipart ETag")
    r = s3.get_object(Bucket=s3srv.BUCKET, Key="t/data", Range="bytes=-5")
    check(r["Body"].read() == data[-5:] and r["ContentRange"] ==
          "bytes %d-%d/%d" % (len(data) - 5, len(data) - 1, len(data)), "a suffix range")
    r = s3.get_object(Bucket=s3srv.BUCKET, Key="t/data", Range="bytes=%d-" % (len(data) - 3))
    check(r["Body"].read() == data[-3:], "an open-ended range")
    check(code_of(s3.get_object, Bucket=s3srv.BUCKET, Key="t/data",
                  Range="bytes=%d-" % len(data)) == "InvalidRange", "a range past the end: 416")
    s3.put_object(Bucket=s3srv.BUCKET, Key="t/empty", Body=b"")
    check(s3.get_object(Bucket=s3srv.BUCKET, Key="t/empty")["Body"].read() == b"",
          "an empty object")
    check(code_of(s3.get_object, Bucket=s3srv.BUCKET, Key="t/empty", Range="bytes=0-0")
          == "InvalidRange", "  ... has no byte 0")


def multipart_rules(srv, s3):
    b = s3srv.BUCKET
    uid = s3.create_multipart_upload(Bucket=b, Key="m")["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="m", UploadId=uid, PartNumber=1,
                        Body=b"x" * (5 * 1024 * 1024))["ETag"]
    e2 = s3.upload_part(Bucket=b, Key="m", UploadId=uid, PartNumber=2, Body=b"tail")["ETag"]
    check(code_of(s3.complete_multipart_upload, Bucket=b, Key="m", UploadId=uid,
                  MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2},
                                             {"PartNumber": 1, "ETag": e1}]})
          == "InvalidPartOrder", "parts out of order: InvalidPartOrder")
    check(code_of(s3.complete_multipart_upload, Bucket=b, Key="m", UploadId=uid,
                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]})
          == "InvalidPart", "a wrong ETag: InvalidPart")
    check(code_of(s3.upload_part, Bucket=b, Key="m", UploadId=uid, PartNumber=10001,
                  Body=b"x") == "InvalidArgument", "part number 10001: InvalidArgument")
    ups = s3.list_multipart_uploads(Bucket=b).get("Uploads", [])
    check([u["UploadId"] for u in ups] == [uid], "list_multipart_uploads shows it")
    check("m" not in srv.objects(), "  ... and no object exists before completion")
    # S3 may answer CompleteMultipartUpload 200 with an <Error> body; botocore retries it.
    before = srv.counters()["statuses"].get("CompleteMultipartUpload 200", 0)
    srv.fault("CompleteMultipartUpload", "error200")
    s3.complete_multipart_upload(Bucket=b, Key="m", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                            {"PartNumber": 2, "ETag": e2}]})
    check(srv.objects()["m"]["size"] == 5 * 1024 * 1024 + 4,
          "a 200 with an <Error> body is a failure botocore retries, then the object is there")
    st = srv.counters()["statuses"]
    check(st.get("CompleteMultipartUpload 200") - before == 2, "  ... two answers of 200")
    check(srv.uploads() == [], "  ... and the upload is gone")
    uid = s3.create_multipart_upload(Bucket=b, Key="m2")["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key="m2", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    srv.fault("CompleteMultipartUpload", "error200", count=10)
    code = code_of(client(srv, retries=2).complete_multipart_upload, Bucket=b, Key="m2",
                   UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    check(code is not None, "  ... and reported as a failure when it persists (%s)" % code)
    srv.ctl("DELETE", "/faults")
    check("m2" not in srv.objects(), "  ... with no object")
    s3.abort_multipart_upload(Bucket=b, Key="m2", UploadId=uid)


def listings(srv, s3):
    b = s3srv.BUCKET
    keys = ["l/a", "l/b/1", "l/b/2", "l/c", "l/d/1", "l/e"]
    for k in keys:
        s3.put_object(Bucket=b, Key=k, Body=k.encode())
    pages = list(s3.get_paginator("list_objects_v2").paginate(
        Bucket=b, Prefix="l/", Delimiter="/", PaginationConfig={"PageSize": 1}))
    got = [c["Key"] for p in pages for c in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    check(got == ["l/a", "l/c", "l/e"] and prefixes == ["l/b/", "l/d/"],
          "list_objects_v2 pages of 1 with a delimiter: each key and prefix once")
    check(len(pages) == 5, "  ... in five pages")
    pages = list(s3.get_paginator("list_objects").paginate(
        Bucket=b, Prefix="l/", PaginationConfig={"PageSize": 2}))
    check([c["Key"] for p in pages for c in p["Contents"]] == keys, "list_objects (v1) pages")
    r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in keys]})
    check(sorted(d["Key"] for d in r["Deleted"]) == keys, "delete_objects")
    check(s3.list_objects_v2(Bucket=b, Prefix="l/")["KeyCount"] == 0, "  ... all gone")
    s3.put_object(Bucket=b, Key="sp ace/ü+%.txt", Body=b"1")
    r = s3.list_objects_v2(Bucket=b, Prefix="sp ace/")
    check([c["Key"] for c in r["Contents"]] == ["sp ace/ü+%.txt"],
          "a key with a space, a non-ASCII letter, + and % (encoding-type=url)")
    check(s3.get_object(Bucket=b, Key="sp ace/ü+%.txt")["Body"].read() == b"1",
          "  ... read back by its name")


def refusals(srv, s3):
    b = s3srv.BUCKET
    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc")
    check(status == 200, "a request botocore signed, sent as signed")

    def add_meta(h):
        h["x-amz-meta-late"] = "1"

    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc", alter=add_meta)
    check(status == 403 and b"HeadersNotSigned" in body,
          "an x-amz-meta header added after signing: AccessDenied, HeadersNotSigned")

    def unsigned(h):
        h["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"

    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc", alter=unsigned)
    check(status == 403 and b"SignatureDoesNotMatch" in body,
          "the payload hash changed after signing: SignatureDoesNotMatch")
    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc",
                          headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    check(status == 200, "UNSIGNED-PAYLOAD signed as the payload hash is accepted")
    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc",
                          headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="})
    check(status == 400 and b"BadDigest" in body, "a wrong Content-MD5: BadDigest")
    status, _, body = raw(srv, "PUT", "/%s/raw" % b, b"abc",
                          headers={"x-amz-checksum-sha256": "AAAA"})
    check(status == 400 and b"BadDigest" in body, "a wrong x-amz-checksum-sha256: BadDigest")
    status, h, body = raw(srv, "PUT", "/raw-virtual", b"xyz",
                          host="%s.localhost:%d" % (b, srv.port))
    check(status == 200 and srv.objects()["raw-virtual"]["size"] == 3,
          "virtual-hosted addressing (Host: bucket.localhost)")
    status, _, body = raw(srv, "GET", "/%s/raw?versionId=1" % b)
    check(status == 501 and b"NotImplemented" in body,
          "a subresource this server does not serve: NotImplemented, not ignored")
    srv.ctl("POST", "/config", {"clock_offset_seconds": 3600})
    status, _, body = raw(srv, "GET", "/%s/raw" % b)
    check(status == 403 and b"RequestTimeTooSkewed" in body, "an hour of skew: "
          "RequestTimeTooSkewed")
    srv.ctl("POST", "/config", {"clock_offset_seconds": 0})
    check(code_of(s3.put_object, Bucket=b, Key="sse", Body=b"x",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId="k") is None and
          s3.head_object(Bucket=b, Key="sse")["SSEKMSKeyId"] == "k", "SSE-KMS headers kept")
    check(code_of(s3.put_object, Bucket=b, Key="sse", Body=b"x",
                  ServerSideEncryption="rot13") == "InvalidArgument", "an unknown SSE refused")


def faults(srv, s3):
    b = s3srv.BUCKET
    data = os.urandom(4096)
    s3.put_object(Bucket=b, Key="f", Body=data)
    srv.fault("GetObject", "corrupt")
    check(s3.get_object(Bucket=b, Key="f")["Body"].read() != data,
          "corrupt: one flipped byte in transit")
    srv.fault("GetObject", "truncate")
    try:
        client(srv, retries=1).get_object(Bucket=b, Key="f")["Body"].read()
        truncated = False
    except Exception as e:  # botocore's IncompleteReadError or urllib3's ProtocolError
        truncated = "ncomplete" in type(e).__name__ or "ncomplete" in str(e) or \
            "rotocol" in type(e).__name__
    check(truncated, "truncate: the client sees the body end early")
    srv.fault("PutObject", "drop", count=1)
    s3.put_object(Bucket=b, Key="dropped", Body=b"again")
    check(srv.counters()["requests"]["PutObject"] >= 2 and
          srv.objects()["dropped"]["size"] == 5, "a dropped PutObject is retried")
    srv.ctl("POST", "/denials", {"prefix": "ro/", "ops": ["write"]})
    check(code_of(s3.put_object, Bucket=b, Key="ro/x", Body=b"x") == "AccessDenied",
          "a denied write: AccessDenied")
    check(code_of(s3.list_objects_v2, Bucket=b, Prefix="ro/") is None,
          "  ... reads still allowed")
    srv.ctl("DELETE", "/denials")


def main():
    with s3srv.S3Server() as srv:
        s3 = client(srv)
        transfers(srv, s3)
        multipart_rules(srv, s3)
        listings(srv, s3)
        refusals(srv, s3)
        faults(srv, s3)
        check(code_of(s3.head_object, Bucket="no-such-bucket", Key="x") == "404",
              "head_object in a missing bucket: 404")
        check(code_of(s3.get_object, Bucket="no-such-bucket", Key="x") == "NoSuchBucket",
              "get_object in a missing bucket: NoSuchBucket")
        check(srv.counters()["signature_failures"] == 1,
              "botocore's own requests never failed the signature check")
    print("1..%d" % n)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
