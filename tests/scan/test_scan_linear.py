"""Every built-in detector costs what the text holds: adversarial text (pieces built from each
rule's own pattern, repeated) scanned at 16 and 64 KiB takes about four times as long, not
sixteen. A rule whose try at one keyword reads on through the next keywords (`eyJ-eyJ-…`) grew
with the square of the text: 64 KiB took ten seconds, the 1 MiB a file is scanned in minutes."""

from __future__ import annotations

import time

import pytest
from support.adversarial import units

from sealer.scan import hiding, rules, scanner

POLICY = rules.load()
PATTERN_RULES = [rule for rule in POLICY.rules if rule.regex is not None]
SCREENED = 48  # pieces per rule tried on a short text; the costliest are timed at two sizes


def _text(unit: str, size: int) -> bytes:
    return (unit * (size // len(unit) + 1))[:size].encode()


def _seconds(rule: rules.Rule, text: bytes, runs: int = 3) -> float:
    """The least CPU time of `runs` scans of `text` as a file (its hits placed on lines and
    columns too) by `rule` alone; the least is the one other work disturbed least."""
    alone = rules.unexempted(POLICY, rule.id)
    best = float("inf")
    for _ in range(runs):
        began = time.process_time()
        scanner.scan_file("adversarial.txt", text, alone)
        best = min(best, time.process_time() - began)
    return best


def _costliest(rule: rules.Rule) -> list[str]:
    assert rule.regex is not None
    pieces = sorted(units(rule.regex.pattern.decode("ascii")))
    step = max(1, len(pieces) // SCREENED)
    timed = sorted(pieces[::step], key=lambda unit: _seconds(rule, _text(unit, 2048), runs=1))
    return timed[-2:]


@pytest.mark.parametrize("rule", PATTERN_RULES, ids=[rule.id for rule in PATTERN_RULES])
def test_each_detector_costs_what_the_text_holds(rule: rules.Rule) -> None:
    for unit in _costliest(rule):
        small = _seconds(rule, _text(unit, 16 << 10))
        large = _seconds(rule, _text(unit, 64 << 10))
        # linear: 4x; the square of it: 16x. Slack for a machine busy elsewhere.
        assert large <= 8 * small + 0.02, f"{unit!r}: 16 KiB {small:.3f} s, 64 KiB {large:.3f} s"


def test_the_pieces_reach_a_rule_that_reads_on_through_its_keywords() -> None:
    """The generator finds the piece that made the JWT rule quadratic (`eyJ` then a character
    its first part takes)."""
    jwt = next(rule for rule in PATTERN_RULES if rule.id == "jwt")
    assert jwt.regex is not None
    assert "eyJ-" in units(jwt.regex.pattern.decode("ascii"))


def test_an_error_line_of_eyj_runs_is_hidden_at_once() -> None:
    """Error lines are searched with the token rules (hiding.py): 64 KiB of `eyJ-` took ten seconds."""
    began = time.process_time()
    hiding.hide_credentials("eyJ-" * (16 << 10) + " x")
    assert time.process_time() - began < 1
