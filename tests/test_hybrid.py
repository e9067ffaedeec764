"""The hybrid value format, checked against tests/reference.py (written without sealer) and
against fixed vectors sealed by it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import reference as ref
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from sealer import hybrid
from sealer.errors import DecryptError

DATA = Path(__file__).parent / "data"
VALUES = [b"", b"x", bytes(range(256)), "wörld ✓".encode(), b"\x00" * 4096]


@pytest.fixture(scope="module")
def vector_key() -> ref.rsa.RSAPrivateKey:
    return ref.load_key(DATA / "vector_key.pem")


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{len(v)}b")
@pytest.mark.parametrize("label", [b"prod/app", b"prod", b""], ids=["strict", "namespace", "cluster"])
def test_sealer_output_opens_with_the_reference(any_keypair_dir: Path, label: bytes, value: bytes) -> None:
    key = ref.load_key(any_keypair_dir / "tls.key")
    blob = hybrid.encrypt(key.public_key(), label, value)
    assert ref.decrypt(key, label, base64.b64encode(blob).decode()) == value


@pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{len(v)}b")
def test_reference_output_opens_with_sealer(any_keypair_dir: Path, value: bytes) -> None:
    key = ref.load_key(any_keypair_dir / "tls.key")
    text = ref.encrypt(key.public_key(), b"ns/name", value)
    assert hybrid.decrypt(key, b"ns/name", base64.b64decode(text)) == value


def test_byte_layout_matches_kubeseal(any_keypair_dir: Path) -> None:
    """uint16 BE length of the RSA block, the RSA block, then GCM ciphertext and 16-byte tag;
    the RSA block wraps a 32-byte session key and GCM runs with a zero nonce."""
    key = ref.load_key(any_keypair_dir / "tls.key")
    blob = hybrid.encrypt(key.public_key(), b"ns/name", b"hello")
    modulus = key.key_size // 8
    assert int.from_bytes(blob[:2], "big") == modulus
    assert len(blob) == 2 + modulus + len(b"hello") + 16
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"ns/name")
    session_key = key.decrypt(blob[2 : 2 + modulus], oaep)
    assert len(session_key) == 32
    assert ref.AESGCM(session_key).decrypt(bytes(12), blob[2 + modulus :], None) == b"hello"


def test_every_value_gets_a_fresh_session_key(keypair_2048_dir: Path) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    first, second = (hybrid.encrypt(key.public_key(), b"l", b"same") for _ in range(2))
    assert first != second
    assert first[-20:] != second[-20:]  # different session keys, so different GCM output


@pytest.mark.parametrize("other", [b"prod/other", b"staging/app", b"prod", b""])
def test_wrong_label_does_not_open(keypair_2048_dir: Path, other: bytes) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    blob = hybrid.encrypt(key.public_key(), b"prod/app", b"v")
    with pytest.raises(DecryptError):
        hybrid.decrypt(key, other, blob)
    with pytest.raises(ValueError):
        ref.decrypt(key, other, base64.b64encode(blob).decode())


def test_wrong_key_and_tampering_do_not_open(keypair_2048_dir: Path, keypair_3072_dir: Path) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    other_same_size = ref.rsa_key(2048)
    blob = hybrid.encrypt(key.public_key(), b"l", b"value")
    with pytest.raises(DecryptError, match="no key opens"):
        hybrid.decrypt(other_same_size, b"l", blob)
    with pytest.raises(DecryptError, match="key of this size"):
        hybrid.decrypt(ref.load_key(keypair_3072_dir / "tls.key"), b"l", blob)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptError):
        hybrid.decrypt(key, b"l", tampered)
    with pytest.raises(InvalidTag):
        ref.decrypt(key, b"l", base64.b64encode(tampered).decode())


@pytest.mark.parametrize("cut", [0, 1, 2, 100, 258, 2 + 256 + 15])
def test_truncated_ciphertext_is_a_decrypt_error(keypair_2048_dir: Path, cut: int) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    blob = hybrid.encrypt(key.public_key(), b"l", b"")
    with pytest.raises(DecryptError):
        hybrid.decrypt(key, b"l", blob[:cut])


def test_layout_problem_names_what_is_wrong(keypair_2048_dir: Path) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    blob = hybrid.encrypt(key.public_key(), b"l", b"abc")
    assert hybrid.layout_problem(blob, 256) is None
    assert "4096-bit" in str(hybrid.layout_problem(blob, 512))
    assert "truncated" in str(hybrid.layout_problem(blob[:200], 256))
    assert "too short" in str(hybrid.layout_problem(b"\x01", 256))


@pytest.mark.parametrize(
    ("wrapped_len", "expected"),
    [
        (256, True),
        (384, True),
        (512, True),
        (640, True),
        (1024, True),
        (128, False),
        (300, False),
        (2048, False),
    ],
)
def test_looks_sealed_accepts_common_key_sizes_only(wrapped_len: int, expected: bool) -> None:
    blob = wrapped_len.to_bytes(2, "big") + bytes(wrapped_len + 16)
    assert hybrid.looks_sealed(blob) is expected
    assert not hybrid.looks_sealed(blob[:-1])


def test_checked_in_vectors_open_with_sealer(vector_key: ref.rsa.RSAPrivateKey) -> None:
    cases = yaml.safe_load((DATA / "vectors.yaml").read_text())["cases"]
    assert {c["scope"] for c in cases} == {"strict", "namespace-wide", "cluster-wide"}
    for case in cases:
        label = ref.scope_label(case["scope"], case["namespace"], case["name"])
        for entry, text in case["sealed"]["spec"]["encryptedData"].items():
            opened = hybrid.decrypt(vector_key, label, base64.b64decode(text))
            assert opened == base64.b64decode(case["plaintext"][entry])


def test_checked_in_vectors_are_bound_to_their_labels(vector_key: ref.rsa.RSAPrivateKey) -> None:
    case = yaml.safe_load((DATA / "vectors.yaml").read_text())["cases"][0]
    assert case["scope"] == "strict"
    text = case["sealed"]["spec"]["encryptedData"]["first"]
    with pytest.raises(DecryptError):
        hybrid.decrypt(vector_key, f"{case['namespace']}/other".encode(), base64.b64decode(text))
