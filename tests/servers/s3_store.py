# s3_store.py - the S3 test server's state: buckets, objects (bytes in files under the state
# dir, the rest in memory), multipart uploads, credentials, access denials, faults, counters and
# the request log. One lock (Store.lock) guards all of it; object bytes are written to fresh
# files first and published under the lock, so readers never see a half-written object.
"""State of the loopback S3 server, independent of HTTP."""

import base64
import collections
import hashlib
import os
import threading
import time
import uuid

LONG_TERM_CREDENTIALS = {
    "AKIDP11KMSTEST000001": "p11kms/Test+Secret/Key0000000000EXAMPLEKEY",
}
DEFAULT_BUCKETS = ("p11kms-test",)
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
REQUEST_LOG_LEN = 2000
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"

FAULT_KINDS = ("error", "slowdown", "internal", "drop", "truncate", "delay", "error200",
               "corrupt", "garbage")
OPERATIONS = (
    "ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "GetBucketLocation",
    "ListObjectsV2", "ListObjects", "ListMultipartUploads", "DeleteObjects",
    "PutObject", "GetObject", "HeadObject", "DeleteObject",
    "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
    "ListParts",
)
WRITE_OPS = ("CreateBucket", "DeleteBucket", "DeleteObjects", "PutObject", "DeleteObject",
             "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
             "AbortMultipartUpload")


class S3Error(Exception):
    """An S3 error answer: HTTP status, code, message and extra elements for the XML."""

    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers = {}


def http_date(epoch):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(epoch))


def iso8601(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


class Blob:
    """Bytes kept in one file of the state dir; removed when nothing refers to it."""

    def __init__(self, path, size):
        self.path = path
        self.size = size


class Object:
    def __init__(self, key, blob, etag, metadata, content_type, sse, sse_kms_key, parts=0):
        self.key = key
        self.blob = blob
        self.etag = etag                  # with its quotes, as S3 sends it
        self.metadata = metadata          # {lowercased name without x-amz-meta-: value}
        self.content_type = content_type
        self.sse = sse
        self.sse_kms_key = sse_kms_key
        self.parts = parts
        self.last_modified = int(time.time())

    @property
    def size(self):
        return self.blob.size


class Upload:
    def __init__(self, upload_id, bucket, key, metadata, content_type, sse, sse_kms_key):
        self.upload_id = upload_id
        self.bucket = bucket
        self.key = key
        self.metadata = metadata
        self.content_type = content_type
        self.sse = sse
        self.sse_kms_key = sse_kms_key
        self.parts = {}                   # part number -> (Blob, etag, md5 bytes)
        self.initiated = int(time.time())


class Bucket:
    def __init__(self, name, region):
        self.name = name
        self.region = region
        self.objects = {}
        self.created = int(time.time())


class Store:
    def __init__(self, state_dir, region):
        self.lock = threading.Lock()
        self.state_dir = state_dir
        self.data_dir = os.path.join(state_dir, "s3-data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.region = region
        self.credentials = dict(LONG_TERM_CREDENTIALS)   # access key -> (secret)
        self.tokens = {}                                 # access key -> session token
        self.buckets = {}
        self.uploads = {}
        self.faults = []
        self.denials = []
        self.config = {"min_part_size": MIN_PART_SIZE, "clock_offset_seconds": 0,
                       "list_page_max": 1000}
        self.reset_counters()
        for name in DEFAULT_BUCKETS:
            self.buckets[name] = Bucket(name, region)

    # ---- counters and the request log ---------------------------------------------------

    def reset_counters(self):
        self.requests = collections.Counter()
        self.statuses = collections.Counter()
        self.log = collections.deque(maxlen=REQUEST_LOG_LEN)
        self.n_connections = 0
        self.signature_failures = 0
        self.faults_served = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.in_flight = collections.Counter()
        self.max_in_flight = collections.Counter()

    def new_connection(self):
        with self.lock:
            self.n_connections += 1
            return self.n_connections

    def begin(self, op):
        with self.lock:
            self.requests[op] += 1
            self.in_flight[op] += 1
            if self.in_flight[op] > self.max_in_flight[op]:
                self.max_in_flight[op] = self.in_flight[op]

    def end(self, op):
        with self.lock:
            self.in_flight[op] -= 1

    def record(self, entry, signature_failed=False):
        with self.lock:
            self.log.append(entry)
            self.statuses["%s %s" % (entry["op"], entry["status"])] += 1
            if signature_failed:
                self.signature_failures += 1

    def add_bytes(self, n_in=0, n_out=0):
        with self.lock:
            self.bytes_in += n_in
            self.bytes_out += n_out

    def counters(self):
        with self.lock:
            return {"requests": dict(self.requests), "statuses": dict(self.statuses),
                    "connections": self.n_connections,
                    "signature_failures": self.signature_failures,
                    "faults_served": self.faults_served, "bytes_in": self.bytes_in,
                    "bytes_out": self.bytes_out, "max_in_flight": dict(self.max_in_flight),
                    "pending_faults": len(self.faults)}

    def request_entries(self):
        with self.lock:
            return list(self.log)

    # ---- faults and denials -------------------------------------------------------------

    def take_fault(self, op):
        """The first queued fault for op: skipped while its "skip" lasts, used "count" times."""
        with self.lock:
            for f in self.faults:
                if f["op"] not in ("*", op):
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    return None
                f["count"] -= 1
                if f["count"] <= 0:
                    self.faults.remove(f)
                self.faults_served += 1
                return dict(f)
        return None

    def denied(self, access_key, op, bucket, key):
        with self.lock:
            for d in self.denials:
                if d.get("access_key") not in (None, access_key):
                    continue
                if d.get("bucket") not in (None, bucket):
                    continue
                if d.get("prefix") and not (key or "").startswith(d["prefix"]):
                    continue
                ops = d.get("ops") or ["*"]
                if "*" in ops or op in ops or ("write" in ops and op in WRITE_OPS):
                    return True
        return False

    # ---- credentials --------------------------------------------------------------------

    def secret_for(self, access_key):
        """(secret, session token or None), or KeyError."""
        with self.lock:
            return self.credentials[access_key], self.tokens.get(access_key)

    def now(self):
        return int(time.time()) + self.config["clock_offset_seconds"]

    # ---- blobs --------------------------------------------------------------------------

    def new_blob_path(self):
        return os.path.join(self.data_dir, uuid.uuid4().hex)

    def drop_blob(self, blob):
        try:
            os.unlink(blob.path)
        except OSError:
            pass

    # ---- buckets and objects ------------------------------------------------------------

    def bucket_locked(self, name):
        b = self.buckets.get(name)
        if b is None:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist",
                          BucketName=name)
        return b

    def object_locked(self, bucket, key):
        b = self.bucket_locked(bucket)
        o = b.objects.get(key)
        if o is None:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
        return o

    def put_locked(self, bucket, obj, if_none_match):
        b = self.bucket_locked(bucket)
        old = b.objects.get(obj.key)
        if if_none_match and old is not None:
            raise S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you "
                          "specified did not hold", Condition="If-None-Match")
        b.objects[obj.key] = obj
        if old is not None:
            self.drop_blob(old.blob)

    def delete_locked(self, bucket, key):
        b = self.bucket_locked(bucket)
        old = b.objects.pop(key, None)
        if old is not None:
            self.drop_blob(old.blob)

    def uploads_of_locked(self, bucket):
        return [u for u in self.uploads.values() if u.bucket == bucket]

    def upload_locked(self, bucket, key, upload_id):
        u = self.uploads.get(upload_id)
        if u is None or u.bucket != bucket or u.key != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload "
                          "ID may be invalid, or the upload may have been aborted or "
                          "completed.", UploadId=upload_id)
        return u

    def drop_upload_locked(self, upload):
        self.uploads.pop(upload.upload_id, None)
        for blob, _, _ in upload.parts.values():
            self.drop_blob(blob)

    def reset(self, region=None):
        with self.lock:
            for b in self.buckets.values():
                for o in b.objects.values():
                    self.drop_blob(o.blob)
            for u in list(self.uploads.values()):
                self.drop_upload_locked(u)
            self.buckets = {name: Bucket(name, self.region) for name in DEFAULT_BUCKETS}
            self.faults = []
            self.denials = []
            self.credentials = dict(LONG_TERM_CREDENTIALS)
            self.tokens = {}
            self.config = {"min_part_size": MIN_PART_SIZE, "clock_offset_seconds": 0,
                       "list_page_max": 1000}
            self.reset_counters()


def continuation_token(key):
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:6] +
                                    key.encode("utf-8")).decode("ascii")


def continuation_key(token):
    """The key a continuation token stands for, or None for a token we did not make."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        key = raw[6:].decode("utf-8")
    except (ValueError, UnicodeError):
        return None
    if hashlib.sha256(key.encode()).digest()[:6] != raw[:6]:
        return None
    return key
