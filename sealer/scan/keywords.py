"""Where keywords occur in a text, in as few passes over it as possible.

`bytes.find` runs at about 1.5 GB/s with a short keyword, so one pass per keyword adds up (25 of
them were a third of a scan). A regex that starts with a literal byte is as fast: `re` skips to
that byte in C before it tries the rest. So keywords that start with the same byte share one
pass (`A(?=KIA|SIA|BIA|CCA|Iza)`), and each place it stops at is checked against each of them.

Short texts (values decoded from base64, scanned again) are many and seldom hold a keyword: one
search for any keyword at all answers most of them before a pass is made.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import NamedTuple

# keyword -> every offset where it starts, ascending, overlapping occurrences included;
# keywords that do not occur are left out
Occurrences = dict[bytes, list[int]]
SHORT = 256  # bytes; below this an alternation of every keyword costs less than the passes


class _Search(NamedTuple):
    passes: list[tuple[re.Pattern[bytes] | None, tuple[bytes, ...]]]  # (None: bytes.find, group)
    any_keyword: re.Pattern[bytes]


def occurrences(text: bytes, keywords: Iterable[bytes]) -> Occurrences:
    search = _compiled(tuple(keywords))
    if len(text) < SHORT and not search.any_keyword.search(text):
        return {}
    found: Occurrences = {}
    for pattern, group in search.passes:
        if pattern is None:  # a keyword alone
            found[group[0]] = _find_all(text, group[0])
            continue
        starts = [match.start() for match in pattern.finditer(text)]
        for keyword in group:
            found[keyword] = [at for at in starts if text.startswith(keyword, at)]
    return {keyword: offsets for keyword, offsets in found.items() if offsets}


def _find_all(text: bytes, keyword: bytes) -> list[int]:
    found = []
    at = text.find(keyword)
    while at >= 0:
        found.append(at)
        at = text.find(keyword, at + 1)
    return found


@functools.lru_cache(maxsize=64)
def _compiled(keywords: tuple[bytes, ...]) -> _Search:
    """One pass per first byte: `bytes.find` for a keyword alone, else a regex matching that byte
    where one of the group starts. It matches the one byte only, so the next search starts at the
    next byte and no occurrence is stepped over."""
    groups: dict[int, list[bytes]] = {}
    for keyword in dict.fromkeys(keywords):  # each once, in order
        groups.setdefault(keyword[0], []).append(keyword)
    passes = [(_group_pattern(group) if len(group) > 1 else None, tuple(group)) for group in groups.values()]
    return _Search(passes, re.compile(b"|".join(re.escape(k) for k in keywords) or b"(?!)"))


def _group_pattern(group: list[bytes]) -> re.Pattern[bytes]:
    rests = b"|".join(re.escape(keyword[1:]) for keyword in group)
    return re.compile(re.escape(group[0][:1]) + b"(?=" + rests + b")")
