"""Bitnami Sealed Secrets' hybrid encryption, byte for byte.

    uint16 BE len(rsa_ct) || RSA-OAEP-SHA256(session key, label) || AES-256-GCM(value)

with a fresh 32-byte session key per value, a 12-byte zero nonce (safe: every key seals
exactly one value) and no AAD; the label binds the value to its scope.
"""

from __future__ import annotations

import functools
import os
import struct
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealer.errors import DecryptError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

SESSION_KEY_LEN = 32
NONCE = bytes(12)
GCM_TAG_LEN = 16


@functools.lru_cache(maxsize=64)
def _oaep(label: bytes) -> padding.OAEP:
    """One padding object per label: sealing thousands of values builds it once."""
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None
    )


def encrypt(public_key: RSAPublicKey, label: bytes, plaintext: bytes) -> bytes:
    """Seal one value exactly as kubeseal's HybridEncrypt does."""
    session_key = os.urandom(SESSION_KEY_LEN)
    wrapped = public_key.encrypt(session_key, _oaep(label))
    sealed = AESGCM(session_key).encrypt(NONCE, plaintext, None)
    return b"".join((struct.pack(">H", len(wrapped)), wrapped, sealed))


def split(blob: bytes) -> tuple[bytes, bytes]:
    """(wrapped session key, GCM ciphertext) or DecryptError when the layout is broken."""
    if len(blob) < 2:
        raise DecryptError("ciphertext too short")
    (wrapped_len,) = struct.unpack(">H", blob[:2])
    if len(blob) < 2 + wrapped_len + GCM_TAG_LEN:
        raise DecryptError("ciphertext shorter than its length prefix says")
    return blob[2 : 2 + wrapped_len], blob[2 + wrapped_len :]


def decrypt(private_key: RSAPrivateKey, label: bytes, blob: bytes) -> bytes:
    wrapped, sealed = split(blob)
    if len(wrapped) != private_key.key_size // 8:
        raise DecryptError("ciphertext was not sealed for a key of this size")
    try:
        session_key = private_key.decrypt(wrapped, _oaep(label))
        return AESGCM(session_key).decrypt(NONCE, sealed, None)
    except (ValueError, InvalidTag):
        raise DecryptError("no key opens this value (wrong key, name, namespace or scope)") from None


def layout_problem(blob: bytes, modulus_bytes: int) -> str | None:
    """Why `blob` cannot be a value sealed for a key of `modulus_bytes`, or None."""
    if len(blob) < 2:
        return "too short to be sealed"
    (wrapped_len,) = struct.unpack(">H", blob[:2])
    if wrapped_len != modulus_bytes:
        return f"length prefix {wrapped_len} does not match the {modulus_bytes * 8}-bit key"
    if len(blob) < 2 + wrapped_len + GCM_TAG_LEN:
        return "truncated: shorter than the length prefix and GCM tag need"
    return None


def looks_sealed(blob: bytes) -> bool:
    """True when `blob` has the layout of a value sealed under an RSA key of 2048-8192 bits
    (a multiple of 1024 bits, as every common tool makes them)."""
    if len(blob) < 2:
        return False
    (wrapped_len,) = struct.unpack(">H", blob[:2])
    size_ok = 256 <= wrapped_len <= 1024 and wrapped_len % 128 == 0
    return size_ok and len(blob) >= 2 + wrapped_len + GCM_TAG_LEN
