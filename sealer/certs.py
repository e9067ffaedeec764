"""Controller certificates: load, check they are fit to seal with, describe."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sealer.errors import BadInput

MIN_BITS = 2048


@dataclass(frozen=True)
class CertInfo:
    fingerprint: str
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_bits: int

    def as_dict(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "key_bits": self.key_bits,
        }


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise BadInput(f"cannot read {what} {path}: {err.strerror or err}") from None


def parse_certificate(data: bytes, source: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise BadInput(f"{source}: not a PEM certificate") from None


def load_certificate(path: str | Path) -> x509.Certificate:
    return parse_certificate(read_bytes(path, "certificate"), str(path))


def fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` shows it."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def rsa_public_key(cert: x509.Certificate, source: str) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadInput(f"{source}: certificate key is {type(key).__name__}, sealing needs RSA")
    if key.key_size < MIN_BITS:
        raise BadInput(f"{source}: {key.key_size}-bit RSA key is too weak (at least {MIN_BITS})")
    return key


def sealing_key(cert: x509.Certificate, source: str, now: dt.datetime | None = None) -> rsa.RSAPublicKey:
    """The cert's public key if it is fit to seal with: RSA, >= 2048 bits, not expired."""
    key = rsa_public_key(cert, source)
    now = now or dt.datetime.now(dt.timezone.utc)
    if cert.not_valid_after_utc < now:
        raise BadInput(f"{source}: certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return key


def describe(cert: x509.Certificate, source: str) -> CertInfo:
    return CertInfo(
        fingerprint=fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_bits=rsa_public_key(cert, source).key_size,
    )
