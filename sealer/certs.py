"""Controller certificates: load, check they are fit to seal with, describe.

`cryptography.x509` is imported only when needed: it is the largest part of `sealer seal`'s
start-up, and sealing needs just the RSA key, the expiry and the fingerprint, which
`fast_sealing_key` reads straight from the DER of a plainly fit certificate. Anything
else (another key type, a weak or expired key, an unusual encoding) goes through
`cryptography.x509`, which also explains the refusal.
"""

from __future__ import annotations

import binascii
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from sealer import repofiles
from sealer.errors import BadInput

if TYPE_CHECKING:
    import datetime as dt

    from cryptography import x509

MIN_BITS = 2048
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----")
# AlgorithmIdentifier { rsaEncryption, NULL }, as every RSA certificate encodes it.
# A pinned certificate file: its one certificate, whitespace around it and nothing else.
# What editors and checkouts do to a file stays readable: a UTF-8 byte-order mark, CRLF or CR
# line ends (Git's autocrlf on Windows), spaces at line ends; anything else beside it does not.
_ONE_PEM = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*-----BEGIN CERTIFICATE-----[ \t]*(?:\r\n?|\n)[A-Za-z0-9+/=\s]+?"
    rb"-----END CERTIFICATE-----\s*"
)
_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")
_TIME = "%Y%m%d%H%M%S"  # how the fast path compares times: as UTC digit strings
_SEQUENCE, _INTEGER, _BIT_STRING, _UTC_TIME, _GENERALIZED_TIME, _VERSION = 0x30, 0x02, 0x03, 0x17, 0x18, 0xA0


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


def parse_certificate(data: bytes, source: str) -> x509.Certificate:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise BadInput(f"{source}: not a PEM certificate{_key_hint(data)}") from None
    try:  # read lazily by cryptography: read here, so that no later use of it fails as a bug
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise BadInput(f"{source}: the certificate's public key cannot be read") from None
    return cert


def _key_hint(data: bytes) -> str:
    """What the wrong file is and what to give instead: the usual one is the private key
    `sealer keypair` wrote beside the certificate (`tls.key`, or the key Secret
    `sealed-secrets-key.yaml`); then the certificate's public key, the certificate in DER (as
    a browser or Windows exports it), or an empty file."""
    from cryptography import x509

    if not data.strip():
        return " (the file is empty)"
    if b" PRIVATE KEY-----" in data or b"tls.key:" in data:
        return " (it holds a private key: give the certificate, e.g. tls.crt)"
    if b" PUBLIC KEY-----" in data:
        return " (it holds a public key: give the certificate, e.g. tls.crt)"
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return ""
    return " (it is in DER: convert it with `openssl x509 -inform DER -in FILE -out tls.crt`)"


def load_certificate(path: str | Path) -> x509.Certificate:
    return parse_certificate(repofiles.read_input(path, "certificate"), str(path))


PINNED_RULE = "a pinned certificate file must hold one PEM certificate and nothing else"
# What `sealer check` and `sealer review` hold any other file of the certificates folder to.
FOLDER_RULE = "a file under certs/ must hold one PEM certificate and nothing else"


def parse_pinned(data: bytes, source: str) -> x509.Certificate:
    """A pinned certificate: exactly one PEM certificate. kubeseal and `cert-change` would each
    read a different part of a file holding more (a second certificate, a key, other text)."""
    cert = parse_certificate(data, source)
    extra = beside_the_certificate(data)
    if extra:
        raise BadInput(f"{source}: {PINNED_RULE} (it holds {extra})")
    return cert


def beside_the_certificate(data: bytes) -> str | None:
    """What a file holding a PEM certificate holds besides it (`2 certificates`, …); None for
    nothing but whitespace (a byte-order mark, CRLF or CR, spaces at line ends)."""
    if _ONE_PEM.fullmatch(data):
        return None
    count = data.count(b"-----BEGIN CERTIFICATE-----")
    if count > 1:
        return f"{count} certificates"
    if b" PRIVATE KEY-----" in data:
        return "a private key beside the certificate"
    return "text beside the certificate"


def not_just_a_certificate(data: bytes) -> str | None:
    """What a file of the certificates folder holds instead of one PEM certificate and nothing
    else (`a private key and no certificate`, …); None for just that, or for an empty file (a
    `.gitkeep`: nothing a reader could take for a certificate)."""
    if not data:
        return None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return "a private key and no certificate" if b" PRIVATE KEY-----" in data else "no PEM certificate"
    extra = beside_the_certificate(data)
    if extra:
        return extra
    try:
        parse_certificate(data, "certificate")
    except BadInput:
        return "no readable PEM certificate"
    return None


def load_pinned(path: str | Path) -> x509.Certificate:
    return parse_pinned(repofiles.read_input(path, "certificate"), str(path))


def fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` shows it."""
    from cryptography.hazmat.primitives import serialization

    return _sha256(cert.public_bytes(serialization.Encoding.DER))


def key_fingerprint(cert: x509.Certificate) -> str:
    """Hex SHA-256 of the certificate's public key (SubjectPublicKeyInfo, DER): two certificates
    of one controller key (a re-issued one) share it, where their `fingerprint`s differ."""
    from cryptography.hazmat.primitives import serialization

    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return _sha256(cert.public_key().public_bytes(serialization.Encoding.DER, spki))


def _sha256(data: bytes) -> str:
    """Hex SHA-256 through cryptography, already loaded, rather than hashlib (not yet loaded)."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def rsa_public_key(cert: x509.Certificate, source: str) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadInput(f"{source}: certificate key is {type(key).__name__}, sealing needs RSA")
    if key.key_size < MIN_BITS:
        raise BadInput(f"{source}: {key.key_size}-bit RSA key is too weak (at least {MIN_BITS})")
    return key


def sealing_key(cert: x509.Certificate, source: str, now: dt.datetime | None = None) -> rsa.RSAPublicKey:
    """The cert's public key if it is fit to seal with: RSA, >= 2048 bits, not expired."""
    import datetime as dt

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


def fast_sealing_key(data: bytes, now: dt.datetime | None = None) -> tuple[rsa.RSAPublicKey, str] | None:
    """(RSA key, SHA-256 fingerprint) of the first PEM certificate in `data` when it is plainly
    fit to seal with (RSA, >= 2048 bits, not expired), read without `cryptography.x509`;
    None for anything else, so the caller takes the full path."""
    match = _PEM.search(data)
    if not match:
        return None
    try:
        der = binascii.a2b_base64(match.group(1))
        modulus, exponent, not_after = _rsa_certificate(der)
        key = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except (ValueError, IndexError, binascii.Error):
        return None
    if key.key_size < MIN_BITS or not_after < _utc_text(now):
        return None
    return key, _sha256(der)


def _utc_text(now: dt.datetime | None) -> str:
    if now is None:
        return time.strftime(_TIME, time.gmtime())
    import datetime as dt

    return now.astimezone(dt.timezone.utc).strftime(_TIME)


def _element(der: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the contents of the DER element at `pos`, which must carry `tag`."""
    if der[pos] != tag:
        raise ValueError("unexpected tag")
    length, pos = der[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 3:
            raise ValueError("unsupported length")
        length, pos = int.from_bytes(der[pos : pos + count], "big"), pos + count
        if length < 0x80 or length >> (8 * count - 8) == 0:
            raise ValueError("length not in its shortest form")
    if pos + length > len(der):
        raise ValueError("truncated")
    return pos, pos + length


def _check_structure(der: bytes, pos: int, end: int) -> None:
    """Every element from `pos` to `end`, and inside every constructed one, is well-formed DER."""
    while pos < end:
        tag = der[pos]
        if tag & 0x1F == 0x1F:
            raise ValueError("high tag numbers are not used in certificates")
        start, pos = _element(der, pos, tag)
        if pos > end:
            raise ValueError("element overruns its container")
        if tag & 0x20:
            _check_structure(der, start, pos)


def _rsa_certificate(der: bytes) -> tuple[int, int, str]:
    """(modulus, exponent, notAfter as UTC `YYYYMMDDHHMMSS`) of an X.509 certificate whose key
    is RSA (RFC 5280 4.1)."""
    _check_structure(der, 0, len(der))
    start, end = _element(der, 0, _SEQUENCE)
    if end != len(der):
        raise ValueError("trailing data")
    pos, _ = _element(der, start, _SEQUENCE)  # tbsCertificate
    if der[pos] == _VERSION:
        pos = _element(der, pos, _VERSION)[1]
    for tag in (_INTEGER, _SEQUENCE, _SEQUENCE):  # serialNumber, signature, issuer
        pos = _element(der, pos, tag)[1]
    validity, pos = _element(der, pos, _SEQUENCE)
    _time(der, validity)  # notBefore: read only to refuse a damaged one
    not_after = _time(der, _element(der, validity, der[validity])[1])
    pos = _element(der, pos, _SEQUENCE)[1]  # subject
    spki, spki_end = _element(der, pos, _SEQUENCE)
    if der[spki : spki + len(_RSA_ALGORITHM)] != _RSA_ALGORITHM:
        raise ValueError("not an RSA key")
    bits, bits_end = _element(der, spki + len(_RSA_ALGORITHM), _BIT_STRING)
    if der[bits] != 0 or bits_end != spki_end:
        raise ValueError("bad key bit string")
    key, key_end = _element(der, bits + 1, _SEQUENCE)
    modulus, pos = _positive_integer(der, key)
    exponent, pos = _positive_integer(der, pos)
    if pos != key_end or key_end != bits_end:
        raise ValueError("bad RSA key")
    return modulus, exponent, not_after


def _positive_integer(der: bytes, pos: int) -> tuple[int, int]:
    start, end = _element(der, pos, _INTEGER)
    if end == start or der[start] & 0x80:
        raise ValueError("not a positive integer")
    if der[start] == 0 and end - start > 1 and not der[start + 1] & 0x80:
        raise ValueError("integer not in its shortest form")  # which cryptography and kubeseal refuse
    return int.from_bytes(der[start:end], "big"), end


def _time(der: bytes, pos: int) -> str:
    """A UTCTime or GeneralizedTime in the `YYMMDDHHMMSSZ` / `YYYYMMDDHHMMSSZ` form RFC 5280
    asks for, as `YYYYMMDDHHMMSS`."""
    tag = der[pos]
    start, end = _element(der, pos, tag)
    text = der[start:end].decode("ascii")
    if tag == _UTC_TIME and len(text) == 13:
        year = int(text[:2])
        text = str(year + (1900 if year >= 50 else 2000)) + text[2:]
    elif not (tag == _GENERALIZED_TIME and len(text) == 15):
        raise ValueError("unsupported time")
    if not (text.endswith("Z") and text[:-1].isdigit()):
        raise ValueError("unsupported time")
    month, day, hour, minute, second = (int(text[i : i + 2]) for i in range(4, 14, 2))
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60):
        raise ValueError("not a date")
    return text[:-1]
