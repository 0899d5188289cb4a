# s3_xml.py - the XML the S3 test server writes (answers and errors, as S3 spells them) and the
# bounded reading of the XML bodies it accepts (CompleteMultipartUpload, DeleteObjects,
# CreateBucket).
"""XML of the loopback S3 server."""

from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _text(value):
    return escape(str(value))


def element(name, value):
    return "<%s>%s</%s>" % (name, _text(value), name)


def document(root, children, namespaced=True):
    """root with its children (strings already XML) as a complete document."""
    attrs = ' xmlns="%s"' % NS if namespaced else ""
    return (HEADER + "<%s%s>%s</%s>" % (root, attrs, "".join(children), root)).encode("utf-8")


def error(code, message, request_id, host_id, extra):
    parts = [element("Code", code), element("Message", message)]
    for name, value in extra.items():
        parts.append(element(name, value))
    parts += [element("RequestId", request_id), element("HostId", host_id)]
    return document("Error", parts, namespaced=False)


def encode_key(key, encoding_type):
    """Keys in listings: with encoding-type=url, percent-encoded (botocore unquotes them)."""
    return quote(key, safe="/") if encoding_type == "url" else key


class BadXml(Exception):
    pass


def _strip(tag):
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def parse(body, root_name):
    """The root element of body if it is root_name (namespace optional); BadXml otherwise.
    Entity declarations are refused (no billion laughs from a test client)."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadXml("DTDs are not accepted")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as e:
        raise BadXml(str(e))
    if _strip(root.tag) != root_name:
        raise BadXml("root element is %s, not %s" % (_strip(root.tag), root_name))
    return root


def children(elem, name):
    return [c for c in elem if _strip(c.tag) == name]


def child_text(elem, name):
    for c in elem:
        if _strip(c.tag) == name:
            return c.text or ""
    return None
