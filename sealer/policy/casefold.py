"""`sealer check` over every environment: a path Git holds that is a sealer-managed one in another
case (`Ledger/production.yaml`, `SEALER.yaml`), or that another path Git holds differs from only
in case where either is managed. On a case-insensitive file system (macOS, Windows) Git checks
both out as one file, the last written, so sealer run there may read the other one's content.
No repository needs two spellings, so review's `case-collision` is never approved and here it
is an error. Only what Git holds counts: without Git nothing is checked out over anything.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from sealer import layout
from sealer.config import Config, Environment
from sealer.policy.leftovers import Index
from sealer.policy.model import ERROR, Problem

RULE = "case-collision"
_WHY = "a case-insensitive file system (macOS, Windows) checks both out as one file"


def problems(cfg: Config, index: Index | None, envs: Iterable[Environment] | None = None) -> list[Problem]:
    """`index`: what Git's index holds (`leftovers.tracked`), None when Git cannot say;
    `envs`: the environments named (`check ENV`), whose own paths alone are then looked at."""
    if index is None:
        return []
    held = index.paths if envs is None else _own(index.paths, envs)
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


def _own(held: frozenset[str], envs: Iterable[Environment]) -> frozenset[str]:
    """The paths of `held` that are, in any case, one the environments `envs` have sealer
    manage, lie in one of their folders (`sealed/staging/Staging.yaml`, `Ledger/staging.yaml`)
    or are a file where a folder above one is (`Deploy/Staging` over
    `deploy/staging/values.yaml`): both spellings of a pair are kept, so a pair is told as over
    every environment."""
    own = {layout.folded(path) for env in envs for path in env.managed_paths()}
    above = {folder for key in own for folder in _prefixes(key)[:-1]}
    return frozenset(path for path in held if _mine(layout.folded(path), own, above))


def _mine(key: str, own: set[str], above: set[str]) -> bool:
    return key in above or not own.isdisjoint(_prefixes(key))


def _prefixes(key: str) -> list[str]:
    """`a`, `a/b` and `a/b/c` of `a/b/c`."""
    parts = key.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _fix(path: str) -> str:
    """Removed from Git only: on such a file system the file in the work tree is the other's too."""
    return f"git rm --cached -- {shlex.quote(path)}, and keep one spelling"
