"""JSON objects whose keys each appear once.

`json.loads` keeps the last value of a key given twice, where a reviewer (and many another
reader) takes the first: `"revoke_at": null, "revoke_at": "…"` would mean two things at once.
"""

from __future__ import annotations

import json
from typing import Any

# A server's answer nested past what `json` parses (its RecursionError), for the one line saying so.
TOO_DEEP = "sent an answer nested too deep to read"


class DuplicateKey(ValueError):
    """A JSON object gives one key twice (any other ValueError: not JSON at all)."""


def each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json`'s object_pairs_hook: the object, or ValueError for a key given twice."""
    item = dict(pairs)
    if len(item) != len(pairs):
        raise DuplicateKey("a key given twice")
    return item


# Built once: `json.loads` with a hook builds a decoder a call, more than a ledger line's parse.
_DECODER = json.JSONDecoder(object_pairs_hook=each_key_once)


def loads(text: str | bytes) -> Any:
    """`json.loads`, refusing (ValueError) an object that gives a key twice, or JSON nested past
    what `json` parses (its RecursionError, which readers catching ValueError would not)."""
    try:
        if isinstance(text, str) and not text.startswith("\ufeff"):
            return _DECODER.decode(text)
        return json.loads(text, object_pairs_hook=each_key_once)  # bytes decoded, a BOM refused as json does
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
