"""Checks a token must pass as well as its regex: the registry rules name in `confirm:`."""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable


def sealer_checksum(secret: bytes) -> bool:
    """sealer's own keys carry a CRC32: only a key whose checksum matches is reported."""
    from sealer import apikey

    return apikey.checksum_ok(secret.decode("ascii", "replace"))


def jwt_header(secret: bytes) -> bool:
    """A JWT's first part decodes to a JSON object naming its algorithm."""
    import base64

    head = secret.split(b".", 1)[0].rstrip(b"=")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + b"=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


CONFIRMERS: dict[str, Callable[[bytes], bool]] = {
    "sealer-checksum": sealer_checksum,
    "jwt-header": jwt_header,
}
