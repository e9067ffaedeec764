"""Is a value a well-formed sealed value? The layout alone, with struct and base64 only.

    base64( uint16 BE len(rsa_ct) || rsa_ct || AES-GCM ct+tag )

sealer.hybrid has the same check next to the cryptography that makes the values; this copy
keeps cryptography out of the pre-commit hook (the test `test_ciphertext_layout_agrees_with_hybrid`
holds the two to the same answers).
"""

from __future__ import annotations

import binascii
import struct

GCM_TAG_LEN = 16
MIN_MODULUS, MAX_MODULUS, MODULUS_STEP = 256, 1024, 128  # RSA 2048-8192 bits, multiples of 1024


def layout_problem(blob: bytes) -> str | None:
    """Why `blob` cannot be a value sealed under any RSA key of 2048-8192 bits, or None."""
    if len(blob) < 2:
        return "too short to be sealed"
    (wrapped_len,) = struct.unpack(">H", blob[:2])
    if not (MIN_MODULUS <= wrapped_len <= MAX_MODULUS and wrapped_len % MODULUS_STEP == 0):
        return f"length prefix {wrapped_len} is no RSA key size"
    if len(blob) < 2 + wrapped_len + GCM_TAG_LEN:
        return "shorter than its length prefix and GCM tag need"
    return None


def looks_sealed(blob: bytes) -> bool:
    return layout_problem(blob) is None


def value_problem(text: str) -> str | None:
    """Why the base64 text `text` is not a sealed value, or None when it is well-formed."""
    import base64

    try:
        blob = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "not base64"
    return layout_problem(blob)
