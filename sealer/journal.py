"""The journal of a change that sealer commits (a rotation, a revocation): what lets an
interrupted run finish instead of half-happening.

Files are first written beside their targets as complete temp files; then the journal is
written (atomically); then the temps are renamed over their targets and committed. Whoever
finds a journal (the next `sealer rotate`, after a crash or SIGKILL) rolls it forward: every
temp it names is complete, so finishing the renames can never produce a half-written file.

The journal lives in the git dir, which a pull request cannot write, yet it is still read as
untrusted input: its shape is checked here, and the engine re-derives from the repository what
it may do (the paths from sealer.yaml, the keys from the committed ledger, the store from the
configuration), never from the journal alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import repofiles, strictjson
from sealer.errors import BadInput

PREPARED = "prepared"  # temps written, renames may be incomplete, the ref may not have moved
WRITTEN = "written"  # working tree rotated, not committed (--no-commit)
COMMITTED = "committed"  # the ref moved: only rolled forward from here (index, outputs, push, stores)
PHASES = (PREPARED, WRITTEN, COMMITTED)

ROTATE = "rotate"
REVOKE = "revoke"


@dataclass
class Journal:
    kind: str  # ROTATE or REVOKE
    phase: str
    envs: list[str]
    files: list[dict[str, str]]  # {"path": repo-relative target, "tmp": repo-relative temp}
    branch: str | None  # the new branch, or None for the current one
    parent: str | None  # HEAD when the change began: the commit lands on top of it
    message: str
    push: str | None = None
    commit: str | None = None
    revocations: list[list[str]] = field(default_factory=list)  # [env, key_id] (REVOKE)
    pr_body: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # the report, for the outputs
    # The temps are renamed over their targets. Not for a commit on its own branch: that leaves
    # the checkout (which stays on the user's branch) untouched, and its files wait for a
    # roll-forward in one bundle beside the journal (`save_contents`) instead of in temps.
    in_place: bool = True


_TYPES: dict[str, Any] = {
    "kind": str,
    "phase": str,
    "envs": list,
    "files": list,
    "branch": (str, type(None)),
    "parent": (str, type(None)),
    "message": str,
    "push": (str, type(None)),
    "commit": (str, type(None)),
    "revocations": list,
    "pr_body": str,
    "result": dict,
    "in_place": bool,
}


def path(git_dir: Path) -> Path:
    return git_dir / "sealer-rotation.json"


def committed_path(git_dir: Path) -> Path:
    return git_dir / "sealer-rotation-committed"


def save(git_dir: Path, journal: Journal, envs_json: str | None = None) -> None:
    """`envs_json`: `journal.result["envs"]` as `envs_text` encoded it, when the caller has it: a
    --due run's list is a megabyte, encoded once for the journal and the outputs beside it."""
    # A mark of an earlier journal never applies to a new (PREPARED) one: gone before it is
    # written. A journal saved past its mark (COMMITTED, the steps left) says what the mark said:
    # the mark goes after it, or a kill in between leaves a PREPARED journal that lost its commit.
    if journal.phase == PREPARED:
        committed_path(git_dir).unlink(missing_ok=True)
    repofiles.write(path(git_dir), _text(journal, envs_json))
    committed_path(git_dir).unlink(missing_ok=True)


def envs_text(result: dict[str, Any]) -> str:
    """A report's environments as JSON, for `save` and the outputs alike."""
    return json.dumps(result["envs"], sort_keys=True)


def _text(journal: Journal, envs_json: str | None) -> str:
    # No indent: json's C encoder only runs without one, and a rotation's journal is large.
    if envs_json is None:
        return json.dumps(vars(journal), sort_keys=True)
    # The report last, its environments last in it, as given: a dict's key order is not read back.
    data = {name: value for name, value in vars(journal).items() if name != "result"}
    result = {name: value for name, value in journal.result.items() if name != "envs"}
    report = json.dumps(result, sort_keys=True)[:-1] + f'{", " if result else ""}"envs": {envs_json}}}'
    return json.dumps(data, sort_keys=True)[:-1] + f', "result": {report}}}'


def mark_committed(git_dir: Path, journal: Journal) -> None:
    """The saved PREPARED `journal` is COMMITTED on `journal.commit`: a small record beside it
    (which `load` folds in) instead of the whole journal (every key of a --due run) again.
    Lost, the journal is a PREPARED one whose commit landed: the next run finds it (`landed`)."""
    assert journal.phase == COMMITTED and journal.commit
    mark = {"commit": journal.commit, "branch": journal.branch, "parent": journal.parent}
    repofiles.write(committed_path(git_dir), json.dumps(mark, sort_keys=True))


def load(git_dir: Path) -> Journal | None:
    try:
        text = repofiles.read_text(path(git_dir))
    except FileNotFoundError:
        return None
    try:
        journal = _parsed(strictjson.loads(text))
        if journal.phase == PREPARED:
            _fold_mark(git_dir, journal)
        return journal
    except (ValueError, TypeError) as err:
        raise unreadable(git_dir, err) from None


def unreadable(git_dir: Path, why: object) -> BadInput:
    """The one line for a journal sealer cannot use: its shape here, its report's where the
    engine rebuilds the report (`RotationResult`)."""
    return BadInput(
        f"the journal {path(git_dir)} of an interrupted sealer run is unreadable ({why}): check "
        "`git status` and the branch it made, then remove the file"
    )


def load_here(git_dir: Path, common: Path) -> Journal | None:
    """This worktree's journal, for a command about to change what the repository holds (under
    the lock, which gives the common git dir, `common`): refused (BadInput) while another
    worktree of the repository holds one. Every worktree shares the branches, the key stores and
    the lock; a run interrupted there (its branch not made yet, its pending keys registered) is
    finished there, before anything here rotates on top of it."""
    found = load(git_dir)
    if found is None and (other := waiting_elsewhere(git_dir, common)) is not None:
        there = "run `sealer rotate --resume` there first"
        if not other.exists():  # removed without `git worktree remove`: its journal cannot finish
            there = "that folder is gone: `git worktree prune` forgets it and its journal"
        raise BadInput(
            f"an interrupted sealer run waits in another worktree of this repository ({other}): {there}"
        )
    return found


def waiting_elsewhere(git_dir: Path, common: Path) -> Path | None:
    """The work tree (or, for a bare main repository, the git dir) of another worktree whose git
    dir holds a journal. Worktrees' git dirs live in the common git dir (`common`, as
    `git.common_dir` names it), which no commit writes."""
    here = git_dir.resolve()
    linked = common / "worktrees"
    dirs = [common]
    if linked.is_dir() and not linked.is_symlink():
        dirs += sorted(d for d in linked.iterdir() if d.is_dir() and not d.is_symlink())
    for other in dirs:
        if other.resolve() != here and path(other).is_file():
            return _work_tree_of(other, common)
    return None


def _work_tree_of(git_dir: Path, common: Path) -> Path:
    """Where a user finds that worktree: the folder its `gitdir` file names (a linked worktree's
    `.git`), the common dir's parent for the main worktree, else the git dir itself."""
    if git_dir == common:
        return common.parent if common.name == ".git" else common
    try:
        return Path(repofiles.read_text(git_dir / "gitdir", limit=1 << 12).strip()).parent
    except (OSError, BadInput, ValueError):
        return git_dir


def _fold_mark(git_dir: Path, journal: Journal) -> None:
    """`mark_committed`'s record, when there is one for this journal (the same branch and start:
    one left by another journal is ignored). The commit it names is still only a hint, which
    the engine checks against git (`_is_landed_commit`) before it rolls anything forward."""
    try:
        mark = strictjson.loads(repofiles.read_text(committed_path(git_dir), limit=1 << 12))
    except FileNotFoundError:
        return
    if not isinstance(mark, dict) or set(mark) != {"commit", "branch", "parent"}:
        raise ValueError("its commit record is not one")
    commit = mark["commit"]
    if not isinstance(commit, str) or not 40 <= len(commit) <= 64 or commit.strip("0123456789abcdef"):
        raise ValueError("its commit record names no commit")
    if (mark["branch"], mark["parent"]) == (journal.branch, journal.parent):
        journal.phase, journal.commit = COMMITTED, commit


def _parsed(data: Any) -> Journal:
    if not isinstance(data, dict) or set(data) - set(_TYPES):
        raise ValueError("not a journal")
    for name, kinds in _TYPES.items():
        if name in data and not isinstance(data[name], kinds):
            raise ValueError(f"{name} has the wrong type")
    journal = Journal(**data)
    if journal.kind not in (ROTATE, REVOKE) or journal.phase not in PHASES:
        raise ValueError("unknown kind or phase")
    if not all(isinstance(e, str) for e in journal.envs):
        raise ValueError("envs")
    if not all(isinstance(f, dict) and {"path", "tmp"} == set(f) for f in journal.files):
        raise ValueError("files")
    if not all(
        isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
        for r in journal.revocations
    ):
        raise ValueError("revocations")
    return journal


def clear(git_dir: Path) -> None:
    # The journal first: a mark without one is never read (and a new journal removes it), but a
    # PREPARED journal without its mark would be rolled forward again (committed again in place
    # when HEAD moved on since).
    path(git_dir).unlink(missing_ok=True)
    committed_path(git_dir).unlink(missing_ok=True)
    contents_path(git_dir).unlink(missing_ok=True)


def contents_path(git_dir: Path) -> Path:
    return git_dir / "sealer-rotation-files"


def save_contents(git_dir: Path, contents: dict[str, bytes]) -> None:
    """The files of a change that is not renamed in place, durable before the journal names
    them: one file written once, instead of a temp per file written, synced and removed."""
    parts = []
    for rel, data in contents.items():
        name = rel.encode()
        parts += [b"%d %d\n" % (len(name), len(data)), name, data]
    repofiles.write(contents_path(git_dir), b"".join(parts), mode=0o600)


def load_contents(git_dir: Path) -> dict[str, bytes]:
    """What `save_contents` wrote; BadInput when it is missing or broken."""
    where = contents_path(git_dir)
    try:
        data = repofiles.read_bytes(where, limit=1 << 30)
    except FileNotFoundError:
        data = None
    found: dict[str, bytes] = {}
    at = 0
    while data is not None and at < len(data):
        end = data.find(b"\n", at)
        try:
            name_len, data_len = (int(n) for n in data[at:end].split(b" ")) if end > 0 else (-1, -1)
        except ValueError:
            name_len = data_len = -1
        start = end + 1
        if min(name_len, data_len) < 0 or start + name_len + data_len > len(data):
            data = None
            break
        found[data[start : start + name_len].decode(errors="replace")] = data[
            start + name_len : start + name_len + data_len
        ]
        at = start + name_len + data_len
    if data is None:
        raise BadInput(
            f"{where}, the files of the interrupted sealer run, is missing or broken: check `git status` "
            f"and the branch it made, then remove {path(git_dir)}"
        )
    return found


def apply_renames(root: Path, journal: Journal) -> None:
    """Move every temp over its target; idempotent, so a second run after a crash is safe.
    The engine checked each pair against the paths it may write before calling this."""
    if not journal.in_place:
        return
    for item in journal.files:
        repofiles.rename_if_exists(root / item["tmp"], root / item["path"])  # #13: no symlink followed


def discard_temps(root: Path, journal: Journal) -> None:
    repofiles.remove_all([root / item["tmp"] for item in journal.files])


# -- the commits sealer made here ----------------------------------------------------------------
# A rerun of `keys compromised` or `keys revoke` takes an earlier run's commit for done: only a
# commit a run made in this repository may count, never one that only looks like it (a branch
# checked out from anyone's pull request). Kept in the git dir, which no commit can write.

MADE_KEPT = 1000  # the newest; an older run's commit found no more only means a new commit
_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def made_path(git_dir: Path) -> Path:
    return git_dir / "sealer-made-commits"


def made(git_dir: Path) -> list[str]:
    """The commits sealer's runs made here, oldest first; none when the record is unreadable."""
    try:
        text = repofiles.read_text(made_path(git_dir))
    except (FileNotFoundError, BadInput, OSError):
        return []
    return [line for line in text.split() if _COMMIT_ID.fullmatch(line)]


def record_made(git_dir: Path, commit: str) -> None:
    kept = made(git_dir)
    if commit not in kept:
        repofiles.write(made_path(git_dir), "".join(f"{c}\n" for c in [*kept[-(MADE_KEPT - 1) :], commit]))
