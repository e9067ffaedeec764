"""Token and assignment rules over one file's bytes.

Python's `re` runs an alternation of every rule's regex at about 4 MB/s, while a substring
search runs at GB/s. So the text is searched for the keywords first (`keywords.occurrences`: one
Aho-Corasick pass for all of them), and a rule's regex is tried only where one of its keywords starts
(`pattern.match(data, pos)`; `\\b` there still sees the byte before `pos`). Assignment rules do
the same on a lowercased copy: bytes lower only ASCII letters, so every offset stays put and
the value is read from the original.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from sealer.scan import ciphertext, keywords, values
from sealer.scan.keywords import Occurrences
from sealer.scan.rules import Policy, Rule

# After a value, one of these means it was the start of an expression (`get_token()`).
_EXPRESSION_NEXT = frozenset(b"([{<$\\")
_IDENT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_IDENT_TAIL = re.compile(rb"[A-Za-z0-9_.-]*")
MAX_NAME = 64


class Hit(NamedTuple):
    rule: Rule
    start: int  # offset of the match (or of the value it was decoded from) in the scanned bytes
    secret: bytes
    note: str = ""


def scan(data: bytes, rules: Sequence[Rule], policy: Policy, depth: int = 0) -> list[Hit]:
    """Every token hit in `data`, then every assignment hit outside what token rules matched."""
    hits: list[Hit] = []
    spans: list[tuple[int, int]] = []  # what token regexes matched, confirmed or not
    token_rules = [rule for rule in rules if rule.kind == "token"]
    assignment_rules = [rule for rule in rules if rule.kind == "assignment"]
    lowered = data.lower()
    # One search of the lowercased text for every keyword (`AKIA` and `akia` are one entry);
    # token keywords are then checked in their own case.
    found = keywords.occurrences(lowered, _lowered_keywords(rules))
    if found:  # most values decoded from base64 hold no keyword at all
        exact = _exact(data, found, token_rules)
        for rule in token_rules:
            hits.extend(_tokens(data, exact, rule, policy, spans))
        claimed = Claimed(spans)
        for rule in assignment_rules:
            hits.extend(_assignments(data, lowered, found, rule, policy, rules, claimed, depth))
    return hits


_LOWERED: dict[int, tuple[Sequence[Rule], tuple[bytes, ...]]] = {}


def _lowered_keywords(rules: Sequence[Rule]) -> tuple[bytes, ...]:
    """Every keyword lowercased, once per rule selection (cached by identity, checked)."""
    cached = _LOWERED.get(id(rules))
    if cached is None or cached[0] is not rules:
        if len(_LOWERED) > 256:  # callers that build a new list each time
            _LOWERED.clear()
        words = tuple(dict.fromkeys(keyword.lower() for rule in rules for keyword in rule.keywords))
        cached = _LOWERED[id(rules)] = (rules, words)
    return cached[1]


def _exact(data: bytes, found: Occurrences, rules: list[Rule]) -> Occurrences:
    """Where each token keyword occurs in its own case."""
    exact: Occurrences = {}
    for keyword in dict.fromkeys(keyword for rule in rules for keyword in rule.keywords):
        offsets = found.get(keyword.lower(), ())
        if keyword == keyword.lower():
            exact[keyword] = list(offsets)
        else:
            exact[keyword] = [at for at in offsets if data.startswith(keyword, at)]
    return exact


class Claimed:
    """Spans token rules matched, sorted, so an overlap test is a bisection, not a scan."""

    def __init__(self, spans: list[tuple[int, int]]) -> None:
        self.spans = sorted(spans)
        self.starts = [s for s, _ in self.spans]
        self.longest = max((e - s for s, e in self.spans), default=0)

    def overlaps(self, start: int, end: int) -> bool:
        low = bisect.bisect_left(self.starts, start - self.longest)
        high = bisect.bisect_left(self.starts, end)
        return any(e > start for _, e in self.spans[low:high])


def _anchored(text: bytes, found: Occurrences, rule: Rule) -> Iterator[re.Match[bytes]]:
    """Matches of the rule's regex that start where one of its keywords occurs, each once."""
    assert rule.regex is not None
    group = "secret" if "secret" in rule.regex.groupindex else 0
    seen: set[int] = set()
    for keyword in rule.keywords:
        for pos in found.get(keyword, ()):
            match = rule.regex.match(text, pos)
            if match is not None and match.start(group) not in seen:
                seen.add(match.start(group))
                yield match


def _tokens(
    data: bytes, found: Occurrences, rule: Rule, policy: Policy, spans: list[tuple[int, int]]
) -> Iterator[Hit]:
    group = "secret" if rule.regex is not None and "secret" in rule.regex.groupindex else 0
    canonical = rule.canonical
    for match in _anchored(data, found, rule):
        secret = match.group(group)
        if canonical is not None:  # `slr\_dev\_…` or `slr%5Fdev%5F…` is reported as the key it spells
            secret = canonical(secret)
        if rule.confirm is not None:
            real = rule.confirm(secret)  # confirmed tokens are real, whatever they spell
        else:
            real = not policy.ignored_value(secret.decode("utf-8", "replace"))
        if real or _stands_alone(data, *match.span()):
            spans.append(match.span())  # a lookalike inside a longer run is some other token
        if real:  # reported where the match starts (a PEM block's BEGIN line), secret as grouped
            yield Hit(rule, match.start(), secret)


def _stands_alone(data: bytes, start: int, end: int) -> bool:
    """No letter or digit right before or after the span."""
    return not data[start - 1 : start].isalnum() and not data[end : end + 1].isalnum()


def _assignments(
    data: bytes,
    lowered: bytes,
    found: Occurrences,
    rule: Rule,
    policy: Policy,
    rules: Sequence[Rule],
    claimed: Claimed,
    depth: int,
) -> Iterator[Hit]:
    for match in _anchored(lowered, found, rule):
        start, end = match.span("secret")
        if len(data) > end and data[end] in _EXPRESSION_NEXT or end - start < rule.min_length:
            continue
        if claimed.overlaps(start, end):
            continue  # a token rule has the final word (a key lookalike whose checksum fails)
        yield from _judge(data, match.start(), start, end, rule, policy, rules, depth)


def _judge(
    data: bytes,
    name_at: int,
    start: int,
    end: int,
    rule: Rule,
    policy: Policy,
    rules: Sequence[Rule],
    depth: int,
) -> list[Hit]:
    """The hits an assigned value stands for: none, itself, or what its base64 hides."""
    value = data[start:end]
    if rule.ignore_names is not None and rule.ignore_names.search(values.snake_name(_name(data, name_at))):
        return []
    decoded = values.base64_decoded(value)
    if decoded is not None:
        if ciphertext.looks_sealed(decoded) or values.is_public_material(decoded):
            return []
        if depth == 0:
            inner = scan(decoded, rules, policy, depth + 1)
            if inner:
                return [Hit(h.rule, start, h.secret, "base64-decoded") for h in inner]
    if not values.looks_random(value, rule.entropy, rule.hex_entropy):
        return []
    if policy.ignored_value(value.decode("utf-8", "replace")):
        return []
    return [Hit(rule, start, value)]


def _name(data: bytes, at: int) -> bytes:
    """The whole identifier around the keyword at `at` (`stripe_secret_key`, `apiKeyId`)."""
    begin = at
    while begin > 0 and at - begin < MAX_NAME and data[begin - 1] in _IDENT:
        begin -= 1
    tail = _IDENT_TAIL.match(data, at)
    return data[begin : tail.end() if tail else at]
