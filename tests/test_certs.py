from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import reference as ref
from cryptography.hazmat.primitives import serialization

from sealer import certs
from sealer.errors import BadInput

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(scope="module")
def bad_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return ref.bad_certificates(tmp_path_factory.mktemp("badcerts"))


REFUSALS = {
    "garbage": "not a PEM certificate",
    "empty": "not a PEM certificate",
    "ec": "sealing needs RSA",
    "weak": "1024-bit RSA key is too weak",
    "expired": "certificate expired on",
    "missing": "cannot read certificate",
    "unreadable-key": "the certificate's public key cannot be read",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_unfit_certificates_are_refused_with_one_clear_line(bad_certs: dict[str, Path], case: str) -> None:
    with pytest.raises(BadInput) as err:
        certs.sealing_key(certs.load_certificate(bad_certs[case]), str(bad_certs[case]))
    assert REFUSALS[case] in str(err.value)
    assert "\n" not in str(err.value)


def test_fit_certificate_describes_itself(keypair_2048_dir: Path) -> None:
    path = keypair_2048_dir / "tls.crt"
    cert = certs.load_certificate(path)
    info = certs.describe(cert, str(path))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert info.fingerprint == hashlib.sha256(der).hexdigest()
    assert info.key_bits == 2048
    assert info.subject == "CN=sealed-secret"
    assert info.not_before < dt.datetime.now(dt.timezone.utc) < info.not_after  # not NOW: made later
    assert info.as_dict()["not_after"] == info.not_after.isoformat()
    assert certs.sealing_key(cert, str(path)).key_size == 2048


def test_expiry_is_judged_at_the_given_time(keypair_2048_dir: Path) -> None:
    cert = certs.load_certificate(keypair_2048_dir / "tls.crt")
    with pytest.raises(BadInput, match="expired"):
        certs.sealing_key(cert, "c", now=NOW + dt.timedelta(days=3651))


def test_a_folder_is_not_a_certificate(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read certificate"):
        certs.load_certificate(tmp_path)


# --- the fast path that `sealer seal` takes without importing cryptography.x509 ----------------


def _slow(pem: bytes) -> tuple[ref.rsa.RSAPublicNumbers, str]:
    cert = certs.parse_certificate(pem, "c")
    return certs.sealing_key(cert, "c").public_numbers(), certs.fingerprint(cert)


def _fast(pem: bytes) -> tuple[ref.rsa.RSAPublicNumbers, str] | None:
    found = certs.fast_sealing_key(pem)
    return (found[0].public_numbers(), found[1]) if found else None


def test_fast_path_reads_what_the_full_parser_reads(any_keypair_dir: Path) -> None:
    pem = (any_keypair_dir / "tls.crt").read_bytes()
    assert _fast(pem) == _slow(pem)
    assert _fast(b"Bag Attributes: x\r\n" + pem.replace(b"\n", b"\r\n")) == _slow(pem)


@pytest.mark.parametrize("years", [1, 30, 80])  # after 2049 a certificate carries GeneralizedTime
def test_fast_path_reads_both_time_encodings(years: int) -> None:
    key = ref.rsa_key(2048)
    cert = ref.certificate(key, not_after=NOW + dt.timedelta(days=365 * years))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert _fast(pem) == _slow(pem)
    assert certs.fast_sealing_key(pem, now=NOW + dt.timedelta(days=365 * years + 1)) is None


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_fast_path_leaves_every_refusal_to_the_full_parser(bad_certs: dict[str, Path], case: str) -> None:
    if bad_certs[case].exists():
        assert certs.fast_sealing_key(bad_certs[case].read_bytes()) is None


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # a damaged serial
def test_fast_path_on_damaged_certificates_reads_the_certificates_own_key(keypair_2048_dir: Path) -> None:
    """Flip each byte of a real certificate. Where the fast path still accepts it, it reads
    what the full parser reads, or, where the full parser refuses the damage (in parts
    sealing does not use: names, extensions, the signature), the certificate's own key."""
    import base64

    pem = (keypair_2048_dir / "tls.crt").read_bytes()
    own_key = _slow(pem)[0]
    der = certs.parse_certificate(pem, "c").public_bytes(serialization.Encoding.DER)
    accepted = 0
    for index in range(len(der)):
        damaged = der[:index] + bytes([der[index] ^ 0xFF]) + der[index + 1 :]
        damaged_pem = (
            b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(damaged) + b"-----END CERTIFICATE-----\n"
        )
        fast = _fast(damaged_pem)
        if fast is None:
            continue
        accepted += 1
        try:
            assert fast == _slow(damaged_pem)
        except BadInput:
            assert fast[0] == own_key
    assert 0 < accepted < len(der)


def test_one_public_key_has_one_key_fingerprint_however_its_certificate_encodes_it() -> None:
    """cert-distinct and review's same-key check compare `key_fingerprint`: a certificate that
    spells the same RSA key otherwise (no NULL parameters) must not pass as another key."""
    key = ref.rsa_key(2048)
    plain = ref.certificate(key)
    other = certs.parse_certificate(ref.spki_without_null_pem(key), "c")
    assert certs.fingerprint(other) != certs.fingerprint(plain)
    assert certs.key_fingerprint(other) == certs.key_fingerprint(plain)
