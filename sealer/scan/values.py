"""What a value must look like before an assignment rule calls it a secret.

A secret is random: high Shannon entropy, character classes mixed, not made of words. An
identifier (`redis-cache-01`, `getTokenV2`), a number or a path is not, and neither is
ciphertext or public material that decodes from base64.
"""

from __future__ import annotations

import binascii
import math
import re
from collections import Counter

_DIGITS = b"0123456789"
_LETTERS = bytes(range(65, 91)) + bytes(range(97, 123))
_UPPER = bytes(range(65, 91))
_HEX = re.compile(rb"[0-9a-f]+|[0-9A-F]+")
_WORD = re.compile(rb"[A-Z]?[a-z]{2,}")
_VOWEL = re.compile(rb"[aeiouyAEIOUY]")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{14,}={0,2}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PUBLIC = (b"-----BEGIN CERTIFICATE", b"PUBLIC KEY-----", b"ssh-rsa ", b"ssh-ed25519 ")
WORDY = 0.7  # at least this share of the letters and digits in words: an identifier


def entropy(value: bytes) -> float:
    """Shannon entropy in bits per byte."""
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in Counter(value).values())


def _count(value: bytes, alphabet: bytes) -> int:
    return len(value) - len(value.translate(None, alphabet))


def wordiness(value: bytes) -> float:
    """Share of the letters and digits that sit in pronounceable words (`[A-Z]?[a-z]{2,}`)."""
    alnum = _count(value, _DIGITS) + _count(value, _LETTERS)
    in_words = sum(len(w) for w in _WORD.findall(value) if _VOWEL.search(w))
    return in_words / alnum if alnum else 1.0


def looks_random(value: bytes, min_entropy: float, hex_entropy: float) -> bool:
    size, digits, letters = len(value), _count(value, _DIGITS), _count(value, _LETTERS)
    if digits == size or not letters:
        return False  # a number, or punctuation
    if not digits and not 0.25 <= _count(value, _UPPER) / letters <= 0.75:
        return False  # letters in one case, or capitalised words
    if wordiness(value) >= WORDY:
        return False
    return entropy(value) >= (hex_entropy if _HEX.fullmatch(value) else min_entropy)


def snake_name(name: bytes) -> str:
    """`apiKeyId`, `API-KEY.id` -> `api_key_id`: the form `ignore_names` is written for."""
    text = _CAMEL.sub("_", name.decode("ascii", "replace"))
    return text.lower().replace("-", "_").replace(".", "_")


def base64_decoded(value: bytes) -> bytes | None:
    """The bytes behind a value written in standard base64, or None when it is not."""
    import base64

    if len(value) % 4 or not _BASE64.fullmatch(value):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def is_public_material(decoded: bytes) -> bool:
    """A certificate or public key: published on purpose, not a secret."""
    return any(marker in decoded for marker in _PUBLIC)
