"""Checks a token must pass as well as its regex: the registry rules name in `confirm:`."""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable


def sealer_checksum(secret: bytes) -> bool:
    """sealer's own keys carry a CRC32: only a key whose checksum matches is reported."""
    from sealer import apikey

    return apikey.checksum_ok(unescaped(secret).decode("ascii", "replace"))


def unescaped(secret: bytes) -> bytes:
    """A sealer key its `_`s and `-`s backslash-escaped (Markdown's `slr\\_prod\\-eu\\_…`, JSON's
    doubled backslash) or spelt as a URL, a string literal or HTML writes them (`%5F`, `\\u005f`,
    `&#95;`), or the whole key hex-encoded (`736c725f…`), is the key: reported, hashed and
    baselined as the key itself, as `apikey.keys_in` reads it (latin-1: a policy's own regex may
    match any byte)."""
    from sealer import apikey

    return apikey.unescaped(secret.decode("latin-1")).encode("latin-1")


def jwt_header(secret: bytes) -> bool:
    """A JWT's first part decodes to a JSON object naming its algorithm."""
    import base64

    head = secret.split(b".", 1)[0].rstrip(b"=")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: nested past `json`
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def crc32_base62(secret: bytes) -> bool:
    """GitHub's classic tokens and npm's: `prefix_` + 30 random base62 characters + their CRC32 in
    6 base62 digits. GitHub's fine-grained tokens (`github_pat_`) carry no documented checksum."""
    import zlib

    if secret.startswith(b"github_pat_"):
        return True
    body = secret.partition(b"_")[2]
    if len(body) != 36:
        return False
    number = 0
    for char in body[-6:].decode("ascii", "replace"):
        if char not in _BASE62:
            return False
        number = number * 62 + _BASE62.index(char)
    return number == zlib.crc32(body[:-6])


def basic_auth(secret: bytes) -> bool:
    """Base64 of `user:password` (a Docker config `auth`, an npm `_auth`), both parts non-empty."""
    import base64

    try:
        text = base64.b64decode(secret, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    user, colon, password = text.partition(":")
    return bool(user and colon and password) and text.isprintable()


# Where the base64 group holding `slr_` starts before each keyword of `sealer-api-key-base64`
# (`slr_` encodes as `c2xyX` from a group's start, `?sl r_` as `..Nscl`, `??s lr_` as `...zbHJf`):
# filler characters whose bits before the keyword are what `s` needs, so decoding starts aligned.
_ALIGN = {ord("c"): b"", ord("N"): b"AH", ord("z"): b"AAB"}
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def sealer_checksum_base64(secret: bytes) -> bool:
    """A base64 run (either alphabet) that decodes to text holding a sealer key whose checksum
    matches: `echo "API_KEY=slr_…" | base64` in a ConfigMap, a basic-auth header, an env file."""
    return bool(base64_sealer_keys(secret))


def base64_sealer_keys(secret: bytes) -> list[str]:
    """The sealer keys a run `sealer-api-key-base64` matched decodes to (whatever each stands
    next to, escaped or not), as the keys themselves: what a plaintext check names by key id."""
    import base64

    from sealer import apikey

    text = _ALIGN.get(secret[0], b"") + secret.translate(_URLSAFE, b" \t\r\n")  # wrapped lines joined
    text = text[:-1] if len(text) % 4 == 1 else text + b"=" * (-len(text) % 4)  # its last bytes too
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return []
    return apikey.keys_in(decoded.decode("latin-1"))


# Confirmers that verify a checksum: a token passing one is a key whatever file holds it, so it
# is looked for in the files a policy path glob exempts too (they are exempt from false positives).
CHECKSUMS = (sealer_checksum, sealer_checksum_base64, crc32_base62)

# What a token a confirmer passed stands for, where its regex admits another spelling of it.
CANONICAL: dict[Callable[[bytes], bool], Callable[[bytes], bytes]] = {sealer_checksum: unescaped}

CONFIRMERS: dict[str, Callable[[bytes], bool]] = {
    "sealer-checksum": sealer_checksum,
    "jwt-header": jwt_header,
    "crc32-base62": crc32_base62,
    "basic-auth": basic_auth,
    "sealer-checksum-base64": sealer_checksum_base64,
}
