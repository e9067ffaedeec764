"""`sealer check`: a file sealer manages that is on disk but not in Git's index, so no commit
carries it, while every rule reading the disk passes it. Taken out of the index by hand (`git rm
--cached`, or held there as intent-to-add after it: `git add -N`) while HEAD holds it, the next
commit deletes it from Git, and the cluster stops getting it (`untracked-file`); ignored by a
rule (`*.yaml` in a `.gitignore` or `core.excludesFile`), `git add -A` and `git commit -a` leave
it out, so it never reaches Git (`ignored-file`). A new environment's files not added yet are
neither: `git add` takes them. Git is asked about these two only when such a file is on disk,
or one the index holds empty (as an intent-to-add entry; a clean hook run asks nothing more),
and then a fixed number of times, whatever the number of files. A file Git holds but is told
not to look at on disk (assume-unchanged, skip-worktree) is committed as the index holds it,
whatever check reads there (`unwatched-file`): the index listing says so, no question more."""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from sealer import git, layout
from sealer.config import Config, Environment
from sealer.policy.leftovers import Index
from sealer.policy.model import ERROR, Problem

UNTRACKED_RULE = "untracked-file"
IGNORED_RULE = "ignored-file"
UNWATCHED_RULE = "unwatched-file"


def problems(cfg: Config, envs: Iterable[Environment], held: Index | None) -> list[Problem]:
    """`held`: what Git's index holds (`leftovers.tracked`), None when Git cannot say (then the
    disk is all there is). Over sealer.yaml and the managed files of the environments checked."""
    if held is None:
        return []
    owners = {path: env.name for env in envs for path in env.managed_paths()}
    owners[layout.CONFIG_FILE] = ""
    unwatched = [p for p in sorted(owners) if held.unwatched(p) and _a_file(cfg.root / p)]
    marking = bool(held.assumed.intersection(unwatched)) and git.ignore_stat(cfg.root)
    found = [_unwatched(held, owners[p], p, marking) for p in unwatched]
    unheld = sorted(
        p for p in owners if _unsure(held, p) and _a_file(cfg.root / p) and not _in_submodule(held, p)
    )
    if not unheld:
        return found
    committed = _committed(cfg, unheld)
    others = [p for p in unheld if p not in committed and p not in held.paths]  # no intent-to-add entry
    ignored = git.ignored_untracked(cfg.root, others)
    for rel in unheld:
        if rel in committed:
            found.append(_untracked(owners[rel], rel))
        elif rel in ignored:
            found.append(_ignored(owners[rel], rel))
    return found


def _unsure(held: Index, rel: str) -> bool:
    """Whether the next commit may lack `rel`: the index does not hold it, or holds the empty
    blob there, as an intent-to-add entry (`git add -N`), which no commit carries, does."""
    return rel not in held.paths or rel in held.empty


def _a_file(entry: Path) -> bool:
    """On disk, and no folder (sealed/<env> is one of the paths sealer manages: Git holds files)."""
    return os.path.lexists(entry) and (entry.is_symlink() or not entry.is_dir())


def _in_submodule(held: Index, rel: str) -> bool:
    """Below a folder Git holds as a submodule: another repository's file (file-mode's)."""
    return any(str(folder) in held.gitlinks for folder in PurePosixPath(rel).parents)


def _committed(cfg: Config, paths: list[str]) -> set[str]:
    """Those of `paths` HEAD holds and the next commit would not (`git.staged_deletions`); none
    before the first commit."""
    return set() if git.head(cfg.root) is None else git.staged_deletions(cfg.root, paths)


def _untracked(env: str, rel: str) -> Problem:
    message = (
        f"{rel} is on disk and in HEAD, but Git's index no longer holds it (`git rm --cached`, or "
        "`git add -N` after it): the next commit deletes it from Git, and what Git stops holding no "
        "GitOps tool delivers"
    )
    return Problem(UNTRACKED_RULE, env, ERROR, message, f"git reset -q -- {shlex.quote(rel)}")


def _ignored(env: str, rel: str) -> Problem:
    message = (
        f"{rel} is on disk, but Git ignores it and does not hold it (`git add -A` and `git commit -a` "
        f"leave it out; `git check-ignore -v -- {shlex.quote(rel)}` names the rule): no commit carries it"
    )
    return Problem(IGNORED_RULE, env, ERROR, message, f"git add -f -- {shlex.quote(rel)}")


def _unwatched(held: Index, env: str, rel: str, ignore_stat: bool) -> Problem:
    """Each mark cleared by a command of its own: given both options, `git update-index` applies
    the first it checks (assume-unchanged) alone. `ignore_stat` (core.ignoreStat on): git sets
    assume-unchanged again at the next `git add`, so the fix turns it off first."""
    marks = [("assume-unchanged", held.assumed), ("skip-worktree", held.sparse)]
    named = [mark for mark, marked in marks if rel in marked]
    fixes = [f"git update-index --no-{mark} -- {shlex.quote(rel)}" for mark in named]
    why = " and ".join(named)
    if ignore_stat and "assume-unchanged" in named:
        fixes.insert(0, "git config core.ignoreStat false")
        why += "; core.ignoreStat is on, which marks each file git adds so"
    message = (
        f"{rel} is on disk, but Git is told not to look at it there ({why}): a change "
        "to it is not staged, nor stashed by pre-commit, so what check reads may be no commit's"
    )
    return Problem(UNWATCHED_RULE, env, ERROR, message, " && ".join(fixes))
