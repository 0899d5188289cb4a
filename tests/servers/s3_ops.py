# s3_ops.py - the S3 operations of the test server, as S3 answers them: objects (put, get with
# ranges and conditions, head with metadata, delete), multipart uploads (create, upload part,
# complete with S3's part rules, abort, list parts, list uploads), listings (ListObjectsV2 with
# prefix, delimiter, continuation and url encoding; ListObjects; ListBuckets) and buckets.
"""S3 operations: each takes (store, req) and returns a Response or raises S3Error."""

import hashlib
import os
import re
import uuid

import s3_xml
from s3_store import (MAX_METADATA_BYTES, MAX_PARTS, OWNER_ID, Blob, Bucket, Object, S3Error,
                      Upload, continuation_key, continuation_token, http_date, iso8601)

SSE_VALUES = ("AES256", "aws:kms", "aws:kms:dsse")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class Response:
    """status, headers, and either body bytes or a file range (path, offset, length)."""

    def __init__(self, status, headers=None, body=b"", file_range=None):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.file_range = file_range


def xml_response(status, root, children, extra_headers=None):
    headers = {"Content-Type": "application/xml"}
    headers.update(extra_headers or {})
    return Response(status, headers, s3_xml.document(root, children))


def _invalid(message, **extra):
    return S3Error(400, "InvalidArgument", message, **extra)


# ---- what a write carries: metadata, content type, server-side encryption ------------------

def _metadata(req):
    meta = {}
    size = 0
    for name, value in req.header_pairs:
        lname = name.lower()
        if lname.startswith("x-amz-meta-"):
            short = lname[len("x-amz-meta-"):]
            meta[short] = value.strip()
            size += len(short.encode("utf-8")) + len(value.strip().encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise S3Error(400, "MetadataTooLarge", "Your metadata headers exceed the maximum "
                      "allowed metadata size.", Size=size, MaxSizeAllowed=MAX_METADATA_BYTES)
    return meta


def _sse(req, store):
    sse = req.headers.get("x-amz-server-side-encryption")
    kms_key = req.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
    if sse is None:
        if kms_key is not None:
            raise _invalid("Server Side Encryption with AWS KMS managed key requires HTTP "
                           "header x-amz-server-side-encryption : aws:kms",
                           ArgumentName="x-amz-server-side-encryption-aws-kms-key-id")
        return None, None
    if sse not in SSE_VALUES:
        raise _invalid("The encryption method specified is not supported",
                       ArgumentName="x-amz-server-side-encryption", ArgumentValue=sse)
    if sse == "AES256":
        if kms_key is not None:
            raise _invalid("Server Side Encryption with AWS KMS managed key requires HTTP "
                           "header x-amz-server-side-encryption : aws:kms")
        return sse, None
    if kms_key is None:
        kms_key = "arn:aws:kms:%s:111122223333:alias/aws/s3" % store.region
    return sse, kms_key


def _object_headers(o):
    h = {"ETag": o.etag, "Last-Modified": http_date(o.last_modified),
         "Content-Type": o.content_type or "binary/octet-stream", "Accept-Ranges": "bytes"}
    for name, value in o.metadata.items():
        h["x-amz-meta-" + name] = value
    if o.sse is not None:
        h["x-amz-server-side-encryption"] = o.sse
        if o.sse_kms_key is not None:
            h["x-amz-server-side-encryption-aws-kms-key-id"] = o.sse_kms_key
    return h


def _sse_headers(sse, kms_key):
    h = {}
    if sse is not None:
        h["x-amz-server-side-encryption"] = sse
        if kms_key is not None:
            h["x-amz-server-side-encryption-aws-kms-key-id"] = kms_key
    return h


def _if_none_match_star(req):
    v = req.headers.get("If-None-Match")
    if v is None:
        return False
    if v.strip() != "*":
        raise S3Error(501, "NotImplemented", "A header you provided implies functionality "
                      "that is not implemented", Header="If-None-Match")
    return True


# ---- objects --------------------------------------------------------------------------------

def put_object(store, req):
    meta = _metadata(req)
    sse, kms_key = _sse(req, store)
    if_none = _if_none_match_star(req)
    data = req.data                    # streamed to a blob file by the server, hashes known
    obj = Object(req.key, Blob(data.path, data.size), '"%s"' % data.md5_hex, meta,
                 req.headers.get("Content-Type"), sse, kms_key)
    with store.lock:
        store.put_locked(req.bucket, obj, if_none)
        data.taken = True
    h = {"ETag": obj.etag}
    h.update(_sse_headers(sse, kms_key))
    return Response(200, h)


def _parse_range(value, size):
    """(start, end inclusive) of a single "bytes=" range, None for a header S3 ignores, or
    S3Error InvalidRange."""
    m = re.match(r"^bytes=(\d*)-(\d*)$", value.strip())
    if m is None or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0 or size == 0:
            raise S3Error(416, "InvalidRange", "The requested range is not satisfiable",
                          RangeRequested=value, ActualObjectSize=size)
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) != "" else None
    if end is not None and end < start:
        return None
    if start >= size:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable",
                      RangeRequested=value, ActualObjectSize=size)
    return start, size - 1 if end is None else min(end, size - 1)


def _conditions(req, o):
    want = req.headers.get("If-Match")
    if want is not None and want.strip() not in ("*", o.etag):
        raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you "
                      "specified did not hold", Condition="If-Match")
    unwanted = req.headers.get("If-None-Match")
    if unwanted is not None and unwanted.strip() in ("*", o.etag):
        err = S3Error(304, "NotModified", "Not Modified")
        err.headers = {"ETag": o.etag}
        raise err


def get_object(store, req):
    with store.lock:
        o = store.object_locked(req.bucket, req.key)
        _conditions(req, o)
        path, size = o.blob.path, o.size
        h = _object_headers(o)
    rng = req.headers.get("Range")
    span = _parse_range(rng, size) if rng is not None else None
    if span is None:
        h["Content-Length"] = str(size)
        return Response(200, h, file_range=(path, 0, size))
    start, end = span
    h["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
    return Response(206, h, file_range=(path, start, end - start + 1))


def head_object(store, req):
    """GetObject's answer without its body; Content-Length is what a GET would send."""
    resp = get_object(store, req)
    resp.headers["Content-Length"] = str(resp.file_range[2])
    resp.file_range = None
    return resp


def delete_object(store, req):
    with store.lock:
        store.delete_locked(req.bucket, req.key)
    return Response(204)


def delete_objects(store, req):
    try:
        root = s3_xml.parse(req.body, "Delete")
    except s3_xml.BadXml:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did "
                      "not validate against our published schema")
    quiet = (s3_xml.child_text(root, "Quiet") or "").lower() == "true"
    out = []
    with store.lock:
        store.bucket_locked(req.bucket)
        for obj in s3_xml.children(root, "Object"):
            key = s3_xml.child_text(obj, "Key")
            if key is None:
                raise S3Error(400, "MalformedXML", "An Object lacks its Key")
            store.delete_locked(req.bucket, key)
            if not quiet:
                out.append("<Deleted>%s</Deleted>" % s3_xml.element("Key", key))
    return xml_response(200, "DeleteResult", out)


# ---- multipart uploads ----------------------------------------------------------------------

def create_multipart_upload(store, req):
    meta = _metadata(req)
    sse, kms_key = _sse(req, store)
    upload = Upload(uuid.uuid4().hex + uuid.uuid4().hex, req.bucket, req.key, meta,
                    req.headers.get("Content-Type"), sse, kms_key)
    with store.lock:
        store.bucket_locked(req.bucket)
        store.uploads[upload.upload_id] = upload
    return xml_response(200, "InitiateMultipartUploadResult",
                        [s3_xml.element("Bucket", req.bucket), s3_xml.element("Key", req.key),
                         s3_xml.element("UploadId", upload.upload_id)],
                        _sse_headers(sse, kms_key))


def _part_number(req):
    try:
        n = int(req.query.get("partNumber", ""))
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PARTS:
        raise _invalid("Part number must be an integer between 1 and 10000, inclusive",
                       ArgumentName="partNumber", ArgumentValue=req.query.get("partNumber"))
    return n


def upload_part(store, req):
    n = _part_number(req)
    data = req.data
    etag = '"%s"' % data.md5_hex
    with store.lock:
        u = store.upload_locked(req.bucket, req.key, req.query["uploadId"])
        old = u.parts.get(n)
        u.parts[n] = (Blob(data.path, data.size), etag, bytes.fromhex(data.md5_hex))
        data.taken = True
        if old is not None:
            store.drop_blob(old[0])
    h = {"ETag": etag}
    h.update(_sse_headers(u.sse, u.sse_kms_key))
    return Response(200, h)


def _completed_parts(req):
    try:
        root = s3_xml.parse(req.body, "CompleteMultipartUpload")
    except s3_xml.BadXml:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did "
                      "not validate against our published schema")
    parts = []
    for p in s3_xml.children(root, "Part"):
        num, etag = s3_xml.child_text(p, "PartNumber"), s3_xml.child_text(p, "ETag")
        try:
            num = int(num)
        except (TypeError, ValueError):
            raise S3Error(400, "MalformedXML", "A Part lacks a valid PartNumber")
        if etag is None:
            raise S3Error(400, "MalformedXML", "A Part lacks its ETag")
        etag = etag.strip()
        if not etag.startswith('"'):
            etag = '"%s"' % etag
        parts.append((num, etag))
    if not parts:
        raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did "
                      "not validate against our published schema")
    for (a, _), (b, _) in zip(parts, parts[1:]):
        if b <= a:
            raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending "
                          "order. Parts must be ordered by part number.", UploadId=req.query[
                              "uploadId"])
    return parts


def complete_multipart_upload(store, req):
    wanted = _completed_parts(req)
    if_none = _if_none_match_star(req)
    with store.lock:
        u = store.upload_locked(req.bucket, req.key, req.query["uploadId"])
        chosen = []
        for i, (num, etag) in enumerate(wanted):
            have = u.parts.get(num)
            if have is None or have[1] != etag:
                raise S3Error(400, "InvalidPart", "One or more of the specified parts could "
                              "not be found.  The part may not have been uploaded, or the "
                              "specified entity tag may not match the part's entity tag.",
                              UploadId=u.upload_id, PartNumber=num, ETag=etag)
            if i < len(wanted) - 1 and have[0].size < store.config["min_part_size"]:
                raise S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the "
                              "minimum allowed size", ProposedSize=have[0].size,
                              MinSizeAllowed=store.config["min_part_size"], PartNumber=num,
                              ETag=etag)
            chosen.append(have)
        sources = [(blob.path, blob.size) for blob, _, _ in chosen]
    # The object is assembled outside the lock from the part files, which stay until the
    # upload is dropped below.
    path = store.new_blob_path()
    total = 0
    with open(path, "wb") as out:
        for src, size in sources:
            with open(src, "rb") as f:
                copied = 0
                while copied < size:
                    n = os.copy_file_range(f.fileno(), out.fileno(), size - copied)
                    if n == 0:
                        break
                    copied += n
            total += size
    digest = hashlib.md5(b"".join(md5 for _, _, md5 in chosen)).hexdigest()
    obj = Object(req.key, Blob(path, total), '"%s-%d"' % (digest, len(chosen)), u.metadata,
                 u.content_type, u.sse, u.sse_kms_key, parts=len(chosen))
    try:
        with store.lock:
            store.upload_locked(req.bucket, req.key, u.upload_id)  # not aborted meanwhile
            store.put_locked(req.bucket, obj, if_none)
            store.drop_upload_locked(u)
    except S3Error:
        os.unlink(path)
        raise
    location = "http://%s/%s/%s" % (req.host, req.bucket, req.key)
    return xml_response(200, "CompleteMultipartUploadResult",
                        [s3_xml.element("Location", location),
                         s3_xml.element("Bucket", req.bucket), s3_xml.element("Key", req.key),
                         s3_xml.element("ETag", obj.etag)],
                        _sse_headers(u.sse, u.sse_kms_key))


def abort_multipart_upload(store, req):
    with store.lock:
        u = store.upload_locked(req.bucket, req.key, req.query["uploadId"])
        store.drop_upload_locked(u)
    return Response(204)


def _int_param(req, name, default, low, high):
    v = req.query.get(name)
    if v is None:
        return default
    try:
        n = int(v)
    except ValueError:
        raise _invalid("Provided %s not an integer or within integer range" % name,
                       ArgumentName=name, ArgumentValue=v)
    if n < low:
        raise _invalid("Argument %s must be an integer between %d and %d" % (name, low, high),
                       ArgumentName=name, ArgumentValue=v)
    return min(n, high)


def list_parts(store, req):
    max_parts = _int_param(req, "max-parts", 1000, 0, 1000)
    marker = _int_param(req, "part-number-marker", 0, 0, MAX_PARTS)
    with store.lock:
        u = store.upload_locked(req.bucket, req.key, req.query["uploadId"])
        nums = sorted(n for n in u.parts if n > marker)
        page = nums[:max_parts]
        truncated = len(nums) > len(page)
        out = [s3_xml.element("Bucket", req.bucket), s3_xml.element("Key", req.key),
               s3_xml.element("UploadId", u.upload_id),
               s3_xml.element("PartNumberMarker", marker),
               s3_xml.element("NextPartNumberMarker", page[-1] if page else 0),
               s3_xml.element("MaxParts", max_parts),
               s3_xml.element("IsTruncated", "true" if truncated else "false"),
               s3_xml.element("StorageClass", "STANDARD")]
        for n in page:
            blob, etag, _ = u.parts[n]
            out.append("<Part>%s%s%s%s</Part>" % (
                s3_xml.element("PartNumber", n),
                s3_xml.element("LastModified", iso8601(u.initiated)),
                s3_xml.element("ETag", etag), s3_xml.element("Size", blob.size)))
    return xml_response(200, "ListPartsResult", out)


def list_multipart_uploads(store, req):
    prefix = req.query.get("prefix", "")
    with store.lock:
        store.bucket_locked(req.bucket)
        ups = sorted((u for u in store.uploads_of_locked(req.bucket)
                      if u.key.startswith(prefix)), key=lambda u: (u.key, u.initiated))
        out = [s3_xml.element("Bucket", req.bucket), s3_xml.element("KeyMarker", ""),
               s3_xml.element("UploadIdMarker", ""), s3_xml.element("Prefix", prefix),
               s3_xml.element("MaxUploads", 1000), s3_xml.element("IsTruncated", "false")]
        for u in ups[:1000]:
            out.append("<Upload>%s%s%s%s</Upload>" % (
                s3_xml.element("Key", u.key), s3_xml.element("UploadId", u.upload_id),
                s3_xml.element("StorageClass", "STANDARD"),
                s3_xml.element("Initiated", iso8601(u.initiated))))
    return xml_response(200, "ListMultipartUploadsResult", out)


# ---- listings -------------------------------------------------------------------------------

def _listing(store, req, start_after):
    """(entries, common prefixes, truncated, last key or prefix) for a listing request."""
    prefix = req.query.get("prefix", "")
    delimiter = req.query.get("delimiter", "")
    max_keys = _int_param(req, "max-keys", 1000, 0, 1000)
    with store.lock:
        max_keys = min(max_keys, store.config["list_page_max"])
        b = store.bucket_locked(req.bucket)
        keys = sorted(k for k in b.objects if k.startswith(prefix) and k > start_after)
        entries, prefixes, seen = [], [], set()
        truncated, last = False, None
        for k in keys:
            if delimiter:
                i = k.find(delimiter, len(prefix))
                if i >= 0:
                    cp = k[:i + len(delimiter)]
                    # A prefix at or before the start was on an earlier page.
                    if cp in seen or cp <= start_after:
                        continue
                    if len(entries) + len(prefixes) >= max_keys:
                        truncated = True
                        break
                    seen.add(cp)
                    prefixes.append(cp)
                    last = cp
                    continue
            if len(entries) + len(prefixes) >= max_keys:
                truncated = True
                break
            o = b.objects[k]
            entries.append((k, o.last_modified, o.etag, o.size))
            last = k
    return entries, prefixes, truncated and last is not None, last


def _contents(entries, enc, owner):
    out = []
    for k, modified, etag, size in entries:
        out.append("<Contents>%s%s%s%s%s%s</Contents>" % (
            s3_xml.element("Key", s3_xml.encode_key(k, enc)),
            s3_xml.element("LastModified", iso8601(modified)), s3_xml.element("ETag", etag),
            s3_xml.element("Size", size), owner, s3_xml.element("StorageClass", "STANDARD")))
    return out


def _owner():
    return "<Owner>%s%s</Owner>" % (s3_xml.element("ID", OWNER_ID),
                                    s3_xml.element("DisplayName", "p11kms-test"))


def list_objects_v2(store, req):
    enc = req.query.get("encoding-type")
    if enc not in (None, "url"):
        raise _invalid("Invalid Encoding Method specified in Request",
                       ArgumentName="encoding-type", ArgumentValue=enc)
    token = req.query.get("continuation-token")
    start_after = req.query.get("start-after", "")
    if token is not None:
        key = continuation_key(token)
        if key is None:
            raise _invalid("The continuation token provided is incorrect",
                           ArgumentName="continuation-token")
        start_after = max(start_after, key)
    entries, prefixes, truncated, last = _listing(store, req, start_after)
    owner = _owner() if req.query.get("fetch-owner") == "true" else ""
    out = [s3_xml.element("Name", req.bucket),
           s3_xml.element("Prefix", s3_xml.encode_key(req.query.get("prefix", ""), enc))]
    if req.query.get("delimiter"):
        out.append(s3_xml.element("Delimiter", s3_xml.encode_key(req.query["delimiter"], enc)))
    out += [s3_xml.element("MaxKeys", _int_param(req, "max-keys", 1000, 0, 1000)),
            s3_xml.element("KeyCount", len(entries) + len(prefixes))]
    if enc:
        out.append(s3_xml.element("EncodingType", enc))
    out.append(s3_xml.element("IsTruncated", "true" if truncated else "false"))
    if token is not None:
        out.append(s3_xml.element("ContinuationToken", token))
    if truncated:
        out.append(s3_xml.element("NextContinuationToken", continuation_token(last)))
    if "start-after" in req.query:
        out.append(s3_xml.element("StartAfter", s3_xml.encode_key(req.query["start-after"],
                                                                  enc)))
    out += _contents(entries, enc, owner)
    for p in prefixes:
        out.append("<CommonPrefixes>%s</CommonPrefixes>" %
                   s3_xml.element("Prefix", s3_xml.encode_key(p, enc)))
    return xml_response(200, "ListBucketResult", out)


def list_objects(store, req):
    enc = req.query.get("encoding-type")
    marker = req.query.get("marker", "")
    entries, prefixes, truncated, last = _listing(store, req, marker)
    out = [s3_xml.element("Name", req.bucket),
           s3_xml.element("Prefix", s3_xml.encode_key(req.query.get("prefix", ""), enc)),
           s3_xml.element("Marker", s3_xml.encode_key(marker, enc))]
    if truncated and req.query.get("delimiter"):
        out.append(s3_xml.element("NextMarker", s3_xml.encode_key(last, enc)))
    if req.query.get("delimiter"):
        out.append(s3_xml.element("Delimiter", s3_xml.encode_key(req.query["delimiter"], enc)))
    out.append(s3_xml.element("MaxKeys", _int_param(req, "max-keys", 1000, 0, 1000)))
    if enc:
        out.append(s3_xml.element("EncodingType", enc))
    out.append(s3_xml.element("IsTruncated", "true" if truncated else "false"))
    out += _contents(entries, enc, _owner())
    for p in prefixes:
        out.append("<CommonPrefixes>%s</CommonPrefixes>" %
                   s3_xml.element("Prefix", s3_xml.encode_key(p, enc)))
    return xml_response(200, "ListBucketResult", out)


# ---- buckets --------------------------------------------------------------------------------

def list_buckets(store, req):
    with store.lock:
        names = sorted(store.buckets.values(), key=lambda b: b.name)
        items = ["<Bucket>%s%s</Bucket>" % (s3_xml.element("Name", b.name),
                                            s3_xml.element("CreationDate", iso8601(b.created)))
                 for b in names]
    return xml_response(200, "ListAllMyBucketsResult",
                        [_owner(), "<Buckets>%s</Buckets>" % "".join(items)])


def create_bucket(store, req):
    region = store.region
    if req.body:
        try:
            root = s3_xml.parse(req.body, "CreateBucketConfiguration")
        except s3_xml.BadXml:
            raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed or "
                          "did not validate against our published schema")
        region = s3_xml.child_text(root, "LocationConstraint") or store.region
    if not BUCKET_RE.match(req.bucket) or ".." in req.bucket:
        raise S3Error(400, "InvalidBucketName", "The specified bucket is not valid.",
                      BucketName=req.bucket)
    with store.lock:
        if req.bucket in store.buckets:
            raise S3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the "
                          "named bucket succeeded and you already own it.",
                          BucketName=req.bucket)
        store.buckets[req.bucket] = Bucket(req.bucket, region)
    return Response(200, {"Location": "/" + req.bucket})


def head_bucket(store, req):
    with store.lock:
        b = store.bucket_locked(req.bucket)
    return Response(200, {"x-amz-bucket-region": b.region})


def delete_bucket(store, req):
    with store.lock:
        b = store.bucket_locked(req.bucket)
        if b.objects or store.uploads_of_locked(req.bucket):
            raise S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty",
                          BucketName=req.bucket)
        del store.buckets[req.bucket]
    return Response(204)


def get_bucket_location(store, req):
    with store.lock:
        b = store.bucket_locked(req.bucket)
    loc = "" if b.region == "us-east-1" else b.region
    return Response(200, {"Content-Type": "application/xml"},
                    s3_xml.document("LocationConstraint", [s3_xml._text(loc)]))


OPERATIONS = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "DeleteBucket": delete_bucket,
    "GetBucketLocation": get_bucket_location,
    "ListObjectsV2": list_objects_v2,
    "ListObjects": list_objects,
    "ListMultipartUploads": list_multipart_uploads,
    "DeleteObjects": delete_objects,
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
    "ListParts": list_parts,
}
# Operations whose body is object bytes: streamed to a blob file while it is hashed.
STREAMED = ("PutObject", "UploadPart")


def operation(method, bucket, key, query):
    """The S3 operation a request is, or S3Error for what this server does not implement."""
    sub = set(query)
    if bucket is None:
        if method == "GET":
            return "ListBuckets"
    elif key is None:
        known = {"location", "uploads", "delete", "list-type", "prefix", "delimiter",
                 "max-keys", "continuation-token", "start-after", "encoding-type",
                 "fetch-owner", "marker", "key-marker", "upload-id-marker", "max-uploads"}
        if sub - known:
            raise S3Error(501, "NotImplemented", "A header or query you provided implies "
                          "functionality that is not implemented")
        if method == "PUT":
            return "CreateBucket"
        if method == "HEAD":
            return "HeadBucket"
        if method == "DELETE":
            return "DeleteBucket"
        if method == "POST" and "delete" in sub:
            return "DeleteObjects"
        if method == "GET":
            if "location" in sub:
                return "GetBucketLocation"
            if "uploads" in sub:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    else:
        if method == "PUT":
            if "partNumber" in sub and "uploadId" in sub:
                return "UploadPart"
            if not sub:
                return "PutObject"
        elif method == "GET":
            if "uploadId" in sub:
                return "ListParts"
            if not sub:
                return "GetObject"
        elif method == "HEAD":
            if not sub:
                return "HeadObject"
        elif method == "DELETE":
            if "uploadId" in sub:
                return "AbortMultipartUpload"
            if not sub:
                return "DeleteObject"
        elif method == "POST":
            if "uploads" in sub:
                return "CreateMultipartUpload"
            if "uploadId" in sub:
                return "CompleteMultipartUpload"
    raise S3Error(501, "NotImplemented", "A header or query you provided implies functionality "
                  "that is not implemented")

