"""JSON objects whose keys each appear once.

`json.loads` keeps the last value of a key given twice, where a reviewer (and many another
reader) takes the first: `"revoke_at": null, "revoke_at": "…"` would mean two things at once.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    """A JSON object gives one key twice (any other ValueError: not JSON at all)."""


def each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`json`'s object_pairs_hook: the object, or ValueError for a key given twice."""
    item = dict(pairs)
    if len(item) != len(pairs):
        raise DuplicateKey("a key given twice")
    return item


def loads(text: str | bytes) -> Any:
    """`json.loads`, refusing (ValueError) an object that gives a key twice, or JSON nested past
    what `json` parses (its RecursionError, which readers catching ValueError would not)."""
    try:
        return json.loads(text, object_pairs_hook=each_key_once)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
