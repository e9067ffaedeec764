"""Adversarial inputs for a detector regex, built from the pattern's own literals and classes.

A rule's regex is tried at each occurrence of its keywords: text where the keyword recurs inside
what one try reads (`eyJ-eyJ-…` for the JWT rule) makes each try read to the end of the run, and
the scan's cost grows with the square of the text. `units` builds the repeating pieces that do
that from the pattern itself (Python's own regex parser), so a rule added later is covered too."""

from __future__ import annotations

import re
import string
import sys
from typing import Any

if sys.version_info >= (3, 11):
    import re._constants as sre_constants
    import re._parser as sre_parse
else:
    import sre_constants
    import sre_parse

C = sre_constants
PRINTABLE = string.ascii_letters + string.digits + string.punctuation + " \t\n"
MAX_PATHS = 48
_CATEGORIES = {
    str(C.CATEGORY_DIGIT): r"\d",
    str(C.CATEGORY_NOT_DIGIT): r"\D",
    str(C.CATEGORY_SPACE): r"\s",
    str(C.CATEGORY_NOT_SPACE): r"\S",
    str(C.CATEGORY_WORD): r"\w",
    str(C.CATEGORY_NOT_WORD): r"\W",
}


def _member(char: str, op: Any, av: Any) -> bool:
    if op is C.LITERAL:
        return char == chr(av)
    if op is C.NOT_LITERAL:
        return char != chr(av)
    if op is C.ANY:
        return char != "\n"
    if op is C.RANGE:
        return av[0] <= ord(char) <= av[1]
    if op is C.CATEGORY:
        return re.fullmatch(_CATEGORIES[str(av)], char) is not None
    if op is C.IN:
        negate = av[:1] == [(C.NEGATE, None)]
        return any(_member(char, o, a) for o, a in av[negate:]) != negate
    raise ValueError(op)


def _reps(op: Any, av: Any) -> list[str]:
    """One letter of each case, one digit and every other character the item matches."""
    chars = [c for c in PRINTABLE if _member(c, op, av)]
    picked = [
        next((c for c in chars if c in group), "")
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ]
    return list(dict.fromkeys(c for c in picked + [c for c in chars if not c.isalnum()] if c))


class _Walk:
    def __init__(self) -> None:
        self.units: set[str] = set()

    def seq(self, items: Any, paths: list[str], every: bool = False) -> list[str]:
        for op, av in items:
            paths = self.item(op, av, paths, every)[:MAX_PATHS]
        return paths

    def item(self, op: Any, av: Any, paths: list[str], every: bool) -> list[str]:
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            reps = _reps(op, av)
            return [p + c for p in paths for c in (reps if every else reps[:1])]
        if op is C.BRANCH:
            return [q for sub in av[1] for q in self.seq(sub, paths, every)]
        if op is C.SUBPATTERN:
            return self.seq(av[-1], paths, every)
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            low, _, sub = av
            firsts = self.seq(sub, [""], every=True)
            self.units.update(p + f for p in paths for f in firsts)
            out = []
            for count in dict.fromkeys((low, 1) if low == 0 else (low,)):
                done = paths
                for _ in range(count):
                    done = self.seq(sub, done)
                out += done
            return out
        if op is C.ASSERT and av[0] < 0:  # a lookbehind at the start: what must come before
            return [q for p in paths for q in (self.seq(av[1], [""]) if p == "" else [p])]
        return paths  # \b, lookaheads, negative lookarounds, backreferences


def units(pattern: str) -> set[str]:
    """Strings whose repetition makes the regex work hardest: each prefix of a shortest match up
    to a repetition, followed by one character that repetition takes, and each shortest match."""
    walk = _Walk()
    ends = walk.seq(sre_parse.parse(pattern), [""])
    return walk.units | set(ends)
