"""An independent implementation of Bitnami Sealed Secrets' value format, for the tests only.

Written from the byte layout, with cryptography's primitives and nothing from `sealer`:

    uint16 BE len(rsa_ct) || RSA-OAEP(SHA-256, MGF1-SHA-256, label)(32-byte session key)
                          || AES-256-GCM(session key, 12 zero bytes, no AAD)(value) || tag

as standard padded base64. The label is `namespace/name` (strict), `namespace`
(namespace-wide) or empty (cluster-wide), as kubeseal's EncryptionLabel builds it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

STRICT_ANNOTATIONS: dict[str, str] = {}
NAMESPACE_WIDE_ANNOTATIONS = {"sealedsecrets.bitnami.com/namespace-wide": "true"}
CLUSTER_WIDE_ANNOTATIONS = {"sealedsecrets.bitnami.com/cluster-wide": "true"}
# A value sealed for prod/app moved to (namespace, name): does the controller still open it?
MOVED_VALUES = [
    ("strict", "prod", "other", False),
    ("strict", "staging", "app", False),
    ("namespace-wide", "prod", "other", True),
    ("namespace-wide", "staging", "app", False),
    ("cluster-wide", "staging", "other", True),
]


def scope_label(scope: str, namespace: str, name: str) -> bytes:
    if scope == "cluster-wide":
        return b""
    if scope == "namespace-wide":
        return namespace.encode()
    return f"{namespace}/{name}".encode()


def _oaep(label: bytes) -> padding.OAEP:
    # The label as given, b"" included, as Go's rsa.EncryptOAEP takes it.
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def encrypt(public_key: rsa.RSAPublicKey, label: bytes, value: bytes) -> str:
    session_key = os.urandom(32)
    wrapped = public_key.encrypt(session_key, _oaep(label))
    sealed = AESGCM(session_key).encrypt(bytes(12), value, None)
    blob = len(wrapped).to_bytes(2, "big") + wrapped + sealed
    return base64.b64encode(blob).decode("ascii")


def decrypt(private_key: rsa.RSAPrivateKey, label: bytes, text: str) -> bytes:
    """Raises ValueError (bad layout, wrong key or label) or InvalidTag (tampered value)."""
    blob = base64.b64decode(text, validate=True)
    wrapped_len = int.from_bytes(blob[:2], "big")
    if len(blob) < 2 + wrapped_len + 16:
        raise ValueError("too short")
    wrapped, sealed = blob[2 : 2 + wrapped_len], blob[2 + wrapped_len :]
    session_key = private_key.decrypt(wrapped, _oaep(label))
    return AESGCM(session_key).decrypt(bytes(12), sealed, None)


def sealed_secret(
    public_key: rsa.RSAPublicKey, scope: str, namespace: str, name: str, values: dict[str, bytes]
) -> dict[str, object]:
    """A SealedSecret as kubeseal writes it, sealed by this module."""
    annotations = {
        "strict": STRICT_ANNOTATIONS,
        "namespace-wide": NAMESPACE_WIDE_ANNOTATIONS,
        "cluster-wide": CLUSTER_WIDE_ANNOTATIONS,
    }[scope]
    label = scope_label(scope, namespace, name)
    meta: dict[str, object] = {"name": name, "annotations": dict(annotations)}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": meta,
        "spec": {
            "encryptedData": {k: encrypt(public_key, label, v) for k, v in values.items()},
            "template": {"metadata": {**meta, "annotations": dict(annotations)}, "type": "Opaque"},
        },
    }


# Certificates and keys for bad-input tests, built here rather than through sealer.keypair.


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def certificate(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def padded_modulus_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PEM of a 2048-bit certificate of `key` whose modulus carries a superfluous leading zero:
    the same public key in a form DER does not allow, which cryptography (like kubeseal's Go)
    will not read, though the certificate around it parses. Built by splicing the DER."""
    import base64

    der = certificate(key).public_bytes(serialization.Encoding.DER)
    modulus = key.public_key().public_numbers().n.to_bytes(257, "big")
    spki = "30820122 300d06092a864886f70d0101010500 0382010f00 3082010a 02820101"
    padded = "30820123 300d06092a864886f70d0101010500 0382011000 3082010b 0282010200"
    assert der.count(bytes.fromhex(spki) + modulus) == 1
    der = der.replace(bytes.fromhex(spki) + modulus, bytes.fromhex(padded) + modulus)
    for at in (2, 6):  # the certificate's and the tbsCertificate's lengths (both 30 82 xx xx), one more
        der = der[:at] + (int.from_bytes(der[at : at + 2], "big") + 1).to_bytes(2, "big") + der[at + 2 :]
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def spki_without_null_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PEM of a 2048-bit certificate of `key` whose key's AlgorithmIdentifier leaves out the
    NULL parameters (RFC 4055 lets a reader take either): the same public key, other bytes."""
    import base64

    der = certificate(key).public_bytes(serialization.Encoding.DER)
    spki = bytes.fromhex("30820122300d06092a864886f70d0101010500")
    assert der.count(spki) == 1
    der = der.replace(spki, bytes.fromhex("30820120300b06092a864886f70d010101"))
    for at in (2, 6):  # the certificate's and the tbsCertificate's lengths, two less
        der = der[:at] + (int.from_bytes(der[at : at + 2], "big") - 2).to_bytes(2, "big") + der[at + 2 :]
    return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"


def write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


@functools.cache
def load_key(path: Path) -> rsa.RSAPrivateKey:
    """Cached: checking a 4096-bit key on load takes a good part of a second."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def load_public_key(cert_path: Path) -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def bad_certificates(folder: Path) -> dict[str, Path]:
    """Certificate files sealer must refuse: not PEM, empty, EC, 1024-bit, expired, missing, a
    key that cannot be read."""
    from cryptography.hazmat.primitives.asymmetric import ec

    now = dt.datetime.now(dt.timezone.utc)
    (folder / "garbage.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    )
    (folder / "empty.pem").write_bytes(b"")
    expired = certificate(rsa_key(2048), now - dt.timedelta(days=30), now - dt.timedelta(days=1))
    (folder / "unreadable-key.pem").write_bytes(padded_modulus_pem(rsa_key(2048)))
    return {
        "garbage": folder / "garbage.pem",
        "empty": folder / "empty.pem",
        "ec": write_cert(folder / "ec.pem", certificate(ec.generate_private_key(ec.SECP256R1()))),
        "weak": write_cert(folder / "weak.pem", certificate(rsa_key(1024))),
        "expired": write_cert(folder / "expired.pem", expired),
        "missing": folder / "missing.pem",
        "unreadable-key": folder / "unreadable-key.pem",
    }
