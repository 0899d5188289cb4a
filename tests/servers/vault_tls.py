# vault_tls.py - the loopback Vault server's test PKI: a CA, the HTTPS server certificate, client
# certificates for cert auth (good, wrong CN, other CA), a CA directory for VAULT_CAPATH.
"""Test PKI for the loopback Vault server, made once per state directory and then reused."""

import datetime
import ipaddress
import logging
import os
import shutil
import subprocess

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOG = logging.getLogger("vault")

SERVER_NAME = "vault.p11kms.test"
CLIENT_CN = "p11kms-client"
# file name -> what it is; README.md lists the same names.
FILES = {
    "ca.pem": "test CA (trusted by the server for cert auth; clients trust it for HTTPS)",
    "server.pem": "HTTPS server certificate: DNS vault.p11kms.test, localhost; IP 127.0.0.1",
    "server-key.pem": "its key",
    "client.pem": "client certificate CN=p11kms-client, issued by ca.pem",
    "client-key.pem": "its key",
    "client-wrong-cn.pem": "client certificate CN=p11kms-intruder, issued by ca.pem",
    "client-wrong-cn-key.pem": "its key",
    "other-ca.pem": "a second CA that no cert auth role trusts",
    "client-other-ca.pem": "client certificate CN=p11kms-client, issued by other-ca.pem",
    "client-other-ca-key.pem": "its key",
    "capath/": "directory with ca.pem and its OpenSSL hash link (VAULT_CAPATH)",
}


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "p11kms test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now():
    return datetime.datetime.utcnow().replace(microsecond=0)


def _make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1))
            .not_valid_after(_now() + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _issue(ca_key, ca_cert, cn, server):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(_now() - datetime.timedelta(days=1))
               .not_valid_after(_now() + datetime.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName(SERVER_NAME), x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(path, data, private=False):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _capath(tls_dir):
    """capath/ holds ca.pem plus the <subject hash>.0 link OpenSSL (and so libcurl) looks
    for; Vault's own Go client reads every PEM file in the directory instead."""
    capath = os.path.join(tls_dir, "capath")
    shutil.rmtree(capath, ignore_errors=True)
    os.makedirs(capath)
    shutil.copyfile(os.path.join(tls_dir, "ca.pem"), os.path.join(capath, "p11kms-ca.pem"))
    try:
        out = subprocess.run(["openssl", "x509", "-subject_hash", "-noout", "-in",
                              os.path.join(capath, "p11kms-ca.pem")], check=True,
                             capture_output=True, text=True).stdout.strip()
        os.symlink("p11kms-ca.pem", os.path.join(capath, out + ".0"))
    except (OSError, subprocess.CalledProcessError) as e:
        LOG.warning("capath: no OpenSSL hash link (%s); capath/ has ca.pem only", e)


def ensure_pki(tls_dir):
    """Create the PKI in tls_dir unless it is already there (a restarted server keeps its CA,
    so clients configured with it keep working)."""
    os.makedirs(tls_dir, exist_ok=True)
    if all(os.path.exists(os.path.join(tls_dir, f)) for f in FILES):
        return
    ca_key, ca_cert = _make_ca("p11kms test Vault CA")
    other_key, other_cert = _make_ca("p11kms other CA")
    items = [("ca", None, ca_cert)]
    items.append(("server",) + _issue(ca_key, ca_cert, "localhost", True))
    items.append(("client",) + _issue(ca_key, ca_cert, CLIENT_CN, False))
    items.append(("client-wrong-cn",) + _issue(ca_key, ca_cert, "p11kms-intruder", False))
    items.append(("other-ca", None, other_cert))
    items.append(("client-other-ca",) + _issue(other_key, other_cert, CLIENT_CN, False))
    for base, key, cert in items:
        _write(os.path.join(tls_dir, base + ".pem"), _pem_cert(cert))
        if key is not None:
            _write(os.path.join(tls_dir, base + "-key.pem"), _pem_key(key), private=True)
    _capath(tls_dir)
    LOG.info("test PKI written to %s", tls_dir)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def issued_by(cert, ca):
    """Whether ca signed cert and cert is within its validity period (cert auth's check)."""
    if cert.issuer != ca.subject:
        return False
    try:
        ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))
    except (InvalidSignature, TypeError, ValueError):
        return False
    now = _now()
    return cert.not_valid_before <= now <= cert.not_valid_after
