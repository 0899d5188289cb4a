# gcp_kms_admin.py - the resource operations of the Google Cloud KMS test server: get, list and
# create key rings, crypto keys and versions; primary rotation; enable, disable, destroy and
# restore of versions. Enough of the admin surface for rotation tests and for client libraries.
"""Each operation takes a gcp_kms_ops.Ctx and returns the JSON answer dict or raises."""

import re

from gcp_kms_keys import ALGORITHM_INFO, DEFAULT_ALGORITHM
from gcp_kms_ops import authorize
from gcp_kms_wire import (ALGORITHMS, PROTECTION_LEVELS, PURPOSES, STATES, GcpError, invalid,
                          parse_body)

ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
TEMPLATE_SCHEMA = {"protection_level": ("enum", PROTECTION_LEVELS,
                                        "google.cloud.kms.v1.ProtectionLevel"),
                   "algorithm": ("enum", ALGORITHMS,
                                 "google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm")}
VERSION_SCHEMA = {"name": "string", "state": ("enum", STATES, "google.cloud.kms.v1."
                                              "CryptoKeyVersion.CryptoKeyVersionState"),
                  "protection_level": "any", "algorithm": "any", "create_time": "timestamp",
                  "generate_time": "timestamp", "destroy_time": "timestamp",
                  "destroy_event_time": "timestamp"}
KEY_SCHEMA = {"name": "string", "purpose": ("enum", PURPOSES, "google.cloud.kms.v1.CryptoKey."
                                            "CryptoKeyPurpose"),
              "version_template": ("message", TEMPLATE_SCHEMA), "labels": ("map", "string"),
              "rotation_period": "duration", "next_rotation_time": "timestamp",
              "destroy_scheduled_duration": "duration", "import_only": "bool",
              "create_time": "timestamp", "primary": "any"}
KEY_RING_SCHEMA = {"name": "string", "create_time": "timestamp"}
PRIMARY_SCHEMA = {"name": "string", "crypto_key_version_id": "string"}


def _page(ctx, items, field):
    size = ctx.query.get("pageSize") or ctx.query.get("page_size") or "0"
    token = ctx.query.get("pageToken") or ctx.query.get("page_token") or "0"
    if not size.isdigit() or not token.isdigit():
        raise invalid("Invalid page size or page token.", "page_token")
    start, size = int(token), int(size) or 1000
    out = {field: items[start:start + size], "totalSize": len(items)}
    if start + size < len(items):
        out["nextPageToken"] = str(start + size)
    if not out[field]:
        del out[field]
    return out


def _new_id(ctx, param):
    value = ctx.query.get(param)
    if not value:
        raise invalid("%s is required." % param, param)
    if not ID_RE.match(value):
        raise invalid("%s must match [a-zA-Z0-9_-]{1,63}." % param, param)
    return value


def get_key_ring(ctx):
    authorize(ctx, "cloudkms.keyRings.get", ctx.name)
    with ctx.store.lock:
        ring = ctx.store.key_rings.get(ctx.name)
        if ring is None:
            raise GcpError("NOT_FOUND", "KeyRing %s not found." % ctx.name)
        return ring.to_json(ctx.numeric)


def list_key_rings(ctx):
    authorize(ctx, "cloudkms.keyRings.list", ctx.name)
    with ctx.store.lock:
        rings = [r.to_json(ctx.numeric) for n, r in sorted(ctx.store.key_rings.items())
                 if n.startswith(ctx.name + "/keyRings/")]
    return _page(ctx, rings, "keyRings")


def create_key_ring(ctx):
    authorize(ctx, "cloudkms.keyRings.create", ctx.name)
    parse_body(KEY_RING_SCHEMA, ctx.raw)
    ring_id = _new_id(ctx, "keyRingId")
    return ctx.store.create_key_ring("%s/keyRings/%s" % (ctx.name, ring_id)).to_json(ctx.numeric)


def get_crypto_key(ctx):
    authorize(ctx, "cloudkms.cryptoKeys.get", ctx.name)
    with ctx.store.lock:
        return ctx.store.key_locked(ctx.name).to_json(ctx.numeric)


def list_crypto_keys(ctx):
    authorize(ctx, "cloudkms.cryptoKeys.list", ctx.name)
    with ctx.store.lock:
        if ctx.name not in ctx.store.key_rings:
            raise GcpError("NOT_FOUND", "KeyRing %s not found." % ctx.name)
        keys = [k.to_json(ctx.numeric) for n, k in sorted(ctx.store.keys.items())
                if k.key_ring == ctx.name]
    return _page(ctx, keys, "cryptoKeys")


def create_crypto_key(ctx):
    authorize(ctx, "cloudkms.cryptoKeys.create", ctx.name)
    body = parse_body(KEY_SCHEMA, ctx.raw)
    key_id = _new_id(ctx, "cryptoKeyId")
    purpose = body.get("purpose")
    if purpose is None:
        raise invalid("The purpose of the CryptoKey is required.", "crypto_key.purpose")
    template = body.get("version_template", {})
    algorithm = template.get("algorithm") or DEFAULT_ALGORITHM.get(purpose)
    if algorithm is None or algorithm not in ALGORITHM_INFO:
        raise invalid("The version template needs an algorithm this server implements.",
                      "crypto_key.version_template.algorithm")
    if ALGORITHM_INFO[algorithm][0] != purpose:
        raise invalid("Algorithm %s is not valid for purpose %s." % (algorithm, purpose),
                      "crypto_key.version_template.algorithm")
    level = template.get("protection_level", "SOFTWARE")
    if level not in ("SOFTWARE", "HSM"):
        raise invalid("This server implements the SOFTWARE and HSM protection levels only.",
                      "crypto_key.version_template.protection_level")
    skip = ctx.query.get("skipInitialVersionCreation",
                         ctx.query.get("skip_initial_version_creation", "false"))
    if skip not in ("true", "false"):
        raise invalid("Invalid value for skipInitialVersionCreation: %s" % skip)
    key = ctx.store.create_key(ctx.name, key_id, purpose, algorithm, level,
                               0 if skip == "true" else 1, body.get("labels"))
    with ctx.store.lock:
        return key.to_json(ctx.numeric)


def get_version(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.get", ctx.name)
    with ctx.store.lock:
        return ctx.store.version_locked(ctx.name).to_json(ctx.numeric)


def list_versions(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.list", ctx.name)
    flt = ctx.query.get("filter", "")
    m = re.match(r"^\s*state\s*[=:]\s*([A-Z_]+)\s*$", flt) if flt else None
    if flt and (m is None or m.group(1) not in STATES):
        raise invalid("This server understands only the filter state=STATE.", "filter")
    with ctx.store.lock:
        key = ctx.store.key_locked(ctx.name)
        versions = [v.to_json(ctx.numeric) for _, v in sorted(key.versions.items())
                    if m is None or v.state == m.group(1)]
    return _page(ctx, versions, "cryptoKeyVersions")


def create_version(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.create", ctx.name)
    parse_body(VERSION_SCHEMA, ctx.raw)
    v = ctx.store.create_version(ctx.name)
    with ctx.store.lock:
        return v.to_json(ctx.numeric)


def update_primary(ctx):
    authorize(ctx, "cloudkms.cryptoKeys.update", ctx.name)
    body = parse_body(PRIMARY_SCHEMA, ctx.raw)
    vid = body.get("crypto_key_version_id")
    if not vid or not vid.isdigit():
        raise invalid("crypto_key_version_id must be a version number.",
                      "crypto_key_version_id")
    key = ctx.store.set_primary(ctx.name, int(vid))
    with ctx.store.lock:
        return key.to_json(ctx.numeric)


def update_version(ctx):
    """PATCH with updateMask=state: ENABLED <-> DISABLED only, as the API allows."""
    authorize(ctx, "cloudkms.cryptoKeyVersions.update", ctx.name)
    body = parse_body(VERSION_SCHEMA, ctx.raw)
    mask = ctx.query.get("updateMask") or ctx.query.get("update_mask")
    if mask is None:
        raise invalid("update_mask is required.", "update_mask")
    if [m.strip() for m in mask.split(",")] != ["state"]:
        raise invalid("This server can update the state field only.", "update_mask")
    state = body.get("state")
    if state not in ("ENABLED", "DISABLED"):
        raise invalid("The state can be set to ENABLED or DISABLED only.",
                      "crypto_key_version.state")
    with ctx.store.lock:
        v = ctx.store.version_locked(ctx.name)
        if v.state not in ("ENABLED", "DISABLED"):
            raise GcpError("FAILED_PRECONDITION", "%s is not in state ENABLED or DISABLED, "
                           "current state is: %s." % (v.name, v.state))
        return ctx.store.set_state(ctx.name, state).to_json(ctx.numeric)


def destroy_version(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.destroy", ctx.name)
    parse_body({"name": "string"}, ctx.raw)
    with ctx.store.lock:
        v = ctx.store.version_locked(ctx.name)
        if v.state not in ("ENABLED", "DISABLED"):
            raise GcpError("FAILED_PRECONDITION", "%s is not in state ENABLED or DISABLED, "
                           "current state is: %s." % (v.name, v.state))
        return ctx.store.set_state(ctx.name, "DESTROY_SCHEDULED").to_json(ctx.numeric)


def restore_version(ctx):
    authorize(ctx, "cloudkms.cryptoKeyVersions.restore", ctx.name)
    parse_body({"name": "string"}, ctx.raw)
    with ctx.store.lock:
        v = ctx.store.version_locked(ctx.name)
        if v.state != "DESTROY_SCHEDULED":
            raise GcpError("FAILED_PRECONDITION", "%s is not in state DESTROY_SCHEDULED, "
                           "current state is: %s." % (v.name, v.state))
        return ctx.store.set_state(ctx.name, "DISABLED").to_json(ctx.numeric)
