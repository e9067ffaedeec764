"""Keyword occurrences found in one pass: the same offsets as one `bytes.find` loop per keyword."""

from __future__ import annotations

import pytest

from sealer.scan import keywords


def one_find_loop_each(text: bytes, words: list[bytes]) -> dict[bytes, list[int]]:
    found = {}
    for word in words:
        at, offsets = text.find(word), []
        while at >= 0:
            offsets.append(at)
            at = text.find(word, at + 1)
        if offsets:
            found[word] = offsets
    return found


LONG = b"filler line, nothing to see here\n" * 20  # past keywords.SHORT: the automaton runs


@pytest.mark.parametrize(
    "words",
    [
        [b"AKIA", b"ASIA", b"AIza", b"slr_", b"sk_"],  # groups by first byte, and a keyword alone
        [b"aa", b"aab", b"a"],  # overlapping occurrences, one keyword the prefix of others
        [b"pass", b"passw", b"pwd", b"pass"],  # a duplicate
        [b"hooks.slack.com/", b"h(", b"h|x", b"-----BEGIN", b"-x"],  # bytes that mean something to re
        [],
    ],
)
@pytest.mark.parametrize(
    "text",
    [
        b"AKIAAKIA ASIA aab aaab passwd pwd sk_slr_ h(h|x -----BEGIN hooks.slack.com/x",
        LONG + b"AKIAAKIA ASIA aab aaab passwd pwd sk_slr_ h(h|x -----BEGIN hooks.slack.com/x" + LONG,
        b"nothing here",
        LONG,
        b"",
    ],
)
def test_occurrences_equal_a_find_loop_per_keyword(words: list[bytes], text: bytes) -> None:
    assert keywords.occurrences(text, words) == one_find_loop_each(text, words)
