"""`sealer check` over every environment: a path Git holds that is a sealer-managed one in another
case (`Ledger/production.yaml`, `SEALER.yaml`), or that another path Git holds differs from only
in case where either is managed. On a case-insensitive file system (macOS, Windows) Git checks
both out as one file, the last written, so sealer run there may read the other one's content.
No repository needs two spellings, so review's `case-collision` is never approved and here it
is an error. Only what Git holds counts: without Git nothing is checked out over anything.
"""

from __future__ import annotations

import shlex

from sealer import layout
from sealer.config import Config
from sealer.policy.model import ERROR, Problem

RULE = "case-collision"
_WHY = "a case-insensitive file system (macOS, Windows) checks both out as one file"


def problems(cfg: Config, held: set[str] | None) -> list[Problem]:
    """`held`: every path Git's index holds (`leftovers.tracked`), None when Git cannot say."""
    if held is None:
        return []
    spellings = layout.Spellings(cfg.managed_paths())
    found = []
    near = {top for top in {path.partition("/")[0] for path in held} if spellings.near(top)}
    variants = {
        path: spellings.variant(path) for path in sorted(p for p in held if p.partition("/")[0] in near)
    }
    for path, managed in variants.items():
        if managed:
            message = f"{path} is sealer's {managed} spelt in another case: {_WHY}"
            found.append(Problem(RULE, "", ERROR, message, _fix(path)))
    unflagged = [path for path in held if not variants.get(path)]
    told: set[str] = set()  # each pair once: `ledger/old.yaml` and `ledger/OLD.yaml`, say
    for path, spelt in sorted(layout.case_collisions(unflagged, held).items()):
        others = [other for other in spelt if not variants.get(other)]  # told above
        if others and path not in told and (spellings.holds(path) or any(map(spellings.holds, others))):
            told.update(others)
            message = f"{path} differs from {', '.join(others)} only in case: {_WHY}"
            found.append(Problem(RULE, "", ERROR, message, _fix(path)))
    return found


def _fix(path: str) -> str:
    """Removed from Git only: on such a file system the file in the work tree is the other's too."""
    return f"git rm --cached -- {shlex.quote(path)}, and keep one spelling"
