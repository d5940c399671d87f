"""
Self-signed certificates for tests, made with the cryptography package, and
handed to Twisted as cryptography objects where the installed pyOpenSSL takes
them (24.3 and later, where passing its own X509/PKey is deprecated), else as
pyOpenSSL objects (Debian 12's pyOpenSSL 23.0).
"""

from __future__ import annotations

import datetime
from importlib import metadata
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.python.filepath import FilePath

#: Whether pyOpenSSL takes cryptography keys and certificates (24.3 and later).
PYOPENSSL_TAKES_CRYPTOGRAPHY = tuple(
    int(part) for part in metadata.version("pyOpenSSL").split(".")[:2]
) >= (24, 3)


def make_self_signed(common_name: str) -> tuple[bytes, bytes]:
    """A (key PEM, certificate PEM) pair for C{common_name}, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def write_self_signed(
    directory: FilePath[str], common_name: str
) -> tuple[FilePath[str], FilePath[str]]:
    """
    Write C{<name>.key} and C{<name>.pem} (key and certificate, the layout
    Twisted's C{tls:} endpoint reads) into C{directory}; return their paths.
    """
    key_pem, cert_pem = make_self_signed(common_name)
    key = directory.child(f"{common_name}.key")
    key.setContent(key_pem)
    cert = directory.child(f"{common_name}.pem")
    cert.setContent(cert_pem + key_pem)
    return key, cert


def key_and_certificate(key_pem: bytes, cert_pem: bytes) -> tuple[Any, Any]:
    """
    The private key and certificate for C{CertificateOptions(privateKey=...,
    certificate=...)}: cryptography's objects where pyOpenSSL takes them,
    else pyOpenSSL's.
    """
    if PYOPENSSL_TAKES_CRYPTOGRAPHY:
        return (
            serialization.load_pem_private_key(key_pem, password=None),
            x509.load_pem_x509_certificate(cert_pem),
        )
    from OpenSSL import crypto

    return (
        crypto.load_privatekey(crypto.FILETYPE_PEM, key_pem),
        crypto.load_certificate(crypto.FILETYPE_PEM, cert_pem),
    )
