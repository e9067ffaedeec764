"""Where keywords occur in a text, in one pass over it.

Python's `re` has no multi-literal search: one alternation of every keyword runs at about
12 MB/s, and one pass per keyword (or per first byte, `A(?=KIA|SIA|…)`) stops at every common
letter and costs as much as the rest of the scan. An Aho–Corasick automaton (ahocorasick-rs, the
Rust `aho-corasick` crate) finds every occurrence of every keyword, overlapping ones included,
in one pass at a few hundred MB/s, whatever the number of keywords.

Short texts (values decoded from base64, scanned again) are many and seldom hold a keyword: one
`re` search for any keyword at all answers most of them without the automaton's call overhead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ahocorasick_rs import BytesAhoCorasick

# keyword -> every offset where it starts, ascending, overlapping occurrences included;
# keywords that do not occur are left out
Occurrences = dict[bytes, list[int]]
SHORT = 256  # bytes; below this a regex alternation answers "any keyword?" faster than the automaton


class _Search(NamedTuple):
    words: tuple[bytes, ...]
    automaton: BytesAhoCorasick | None  # None: no keywords at all
    any_keyword: re.Pattern[bytes]


def occurrences(text: bytes, keywords: Iterable[bytes]) -> Occurrences:
    search = _compiled(tuple(keywords))
    if search.automaton is None or len(text) < SHORT and not search.any_keyword.search(text):
        return {}
    found: Occurrences = {}
    words = search.words
    # Matches come in the order they end; one keyword's occurrences all have its length, so
    # each keyword's offsets come out ascending.
    for index, start, _ in search.automaton.find_matches_as_indexes(text, overlapping=True):
        word = words[index]
        offsets = found.get(word)
        if offsets is None:
            found[word] = [start]
        else:
            offsets.append(start)
    return found


@functools.lru_cache(maxsize=64)
def _compiled(keywords: tuple[bytes, ...]) -> _Search:
    from ahocorasick_rs import BytesAhoCorasick, MatchKind  # the hook on a few small files seldom needs it

    words = tuple(dict.fromkeys(keywords))  # each once, in order
    automaton = BytesAhoCorasick(words, matchkind=MatchKind.Standard) if words else None
    return _Search(words, automaton, re.compile(b"|".join(re.escape(k) for k in words) or b"(?!)"))
