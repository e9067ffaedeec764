"""The file transaction of a change sealer commits (a rotation, a revocation).

  1. complete temps beside their targets (and into the commit being built), durable before
     the journal names them; until then a marker in the git dir names them;
  2. the journal (PREPARED); the renames; the commit, whose ref move is the point of no return;
  3. the journal says COMMITTED: from here the change is only rolled forward.
An exception or SIGINT before the ref moves restores every file and runs the caller's undo;
SIGINT is held back while the ref moves and the journal records it, so it never lands between.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from sealer import faults, git, journal, lock, repofiles
from sealer.errors import BadInput, SealerError
from sealer.journal import Journal
from sealer.rotation.plan import FileChange

TEMP_SUFFIX = ".sealer-tmp"
TEMPS_MARKER = "sealer-temps.json"  # in the git dir: the temps being written, until the journal names them


def tmp_of(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_SUFFIX}")


def run(
    root: Path,
    git_dir: Path,
    entry: Journal,
    files: dict[str, FileChange],
    undo: Callable[[], None],
    commit_it: bool = True,
    meanwhile: Callable[[Journal], str | None] | None = None,
    started: Started | None = None,
) -> Journal:
    """Write `files` and commit them (unless not `commit_it`); returns the journal at COMMITTED
    (or WRITTEN without a commit). Raises, with everything restored and `undo` run, when
    anything fails before the ref moves. `meanwhile` completes the journal (its message, say)
    once the files went to git: that work need not wait, and git compresses in the meantime; it
    returns the report's environments as `journal.envs_text` encoded them, if it has them.
    `started`: the commit on the journal's own branch, its files sent to git already (`start`)."""
    commit = started.commit if started is not None else None
    try:
        if started is None:
            commit = git.Commit(root) if commit_it else None
        # A commit on its own branch leaves the checkout as it is: nothing is written there (and
        # nothing restored afterwards); its files wait for a roll-forward beside the journal.
        entry.in_place = commit is None or entry.branch is None
        assert started is None or not entry.in_place, "only a commit on its own branch starts early"
        faults.point("before-temps")
        if entry.in_place:
            entry.files = _write_temps(root, git_dir, files, commit)
        else:
            assert commit is not None
            contents = started.contents if started is not None else _send_files(root, files, commit)
            entry.files = _save_contents(root, git_dir, files, contents)
        envs_json = meanwhile(entry) if meanwhile is not None else None
        faults.point("before-journal")
        journal.save(git_dir, entry, envs_json)
        (git_dir / TEMPS_MARKER).unlink(missing_ok=True)
        faults.point("before-rename")
        if entry.in_place:
            journal.apply_renames(root, entry)
            repofiles.sync(root)  # the renames too, before the commit that records them
        faults.point("before-commit")
        if commit is None:
            entry.phase = journal.WRITTEN
            journal.save(git_dir, entry, envs_json)
            return entry
        with lock.interrupts_held():
            entry.commit = commit.move(entry.message, entry.branch, entry.parent)
            faults.point("after-ref-move")
            _mark_committed(git_dir, entry)
    except BaseException:
        if commit is not None:
            commit.abort()
        if commit is not None and landed(root, entry):  # the ref moved after all: roll forward
            entry.commit = entry.commit or landed_commit(root, entry)
            entry.result["index_synced"] = False
            _mark_committed(git_dir, entry)
            return entry
        _roll_back(root, git_dir, entry, files)
        undo()
        raise
    _settle(root, git_dir, commit, entry)
    return entry


def _mark_committed(git_dir: Path, entry: Journal) -> None:
    entry.phase = journal.COMMITTED
    try:
        journal.mark_committed(git_dir, entry)
    except (OSError, BadInput):  # repofiles says BadInput for a failed write
        pass  # the PREPARED journal still rolls forward: `landed` finds the commit


def _settle(root: Path, git_dir: Path, commit: git.Commit, entry: Journal) -> None:
    """HEAD and the index after the ref moved; when git refuses (another git holds the index),
    the roll-forward's `sync_index` retries, here or in the next run."""
    assert entry.commit
    try:
        if entry.in_place:
            commit.settle(entry.commit, entry.branch)
        else:
            journal.contents_path(git_dir).unlink(missing_ok=True)  # the checkout was never touched
        entry.result["index_synced"] = True
    except (git.GitError, OSError):
        entry.result["index_synced"] = False


def landed(root: Path, entry: Journal) -> bool:
    """Has the change's commit landed? Recomputed from git: its branch (new, so its tip's parent
    is where the change began), or the current branch's tip on top of that start with the
    journal's message. The journal's own `commit` field is only a hint."""
    if entry.branch is not None:
        if not git.branch_exists(root, entry.branch):
            return False
        tip = git.resolve_commit(root, f"refs/heads/{entry.branch}")
        return tip is not None and git.parent_of(root, tip) == entry.parent
    tip = git.head(root)
    if tip is None or tip == entry.parent or git.parent_of(root, tip) != entry.parent:
        return False
    return git.message_of(root, tip).strip() == entry.message.strip()


def landed_commit(root: Path, entry: Journal) -> str | None:
    """Where a change that `landed` is: its branch's tip, or HEAD."""
    return git.resolve_commit(root, f"refs/heads/{entry.branch}") if entry.branch else git.head(root)


def sync_index(root: Path, entry: Journal) -> None:
    """The checkout after the change landed: on its own branch, the user's files back as HEAD has
    them (the user stays where they were); on the current branch, the index agreeing with it."""
    paths = [f["path"] for f in entry.files]
    if not entry.in_place:
        journal.contents_path(git.git_dir(root)).unlink(missing_ok=True)  # the checkout was never touched
    elif entry.branch is not None:
        git.restore_from_head(root, paths)
    elif paths:
        git.run(root, "--literal-pathspecs", "reset", "-q", "--", *paths)


def _write_temps(
    root: Path, git_dir: Path, files: dict[str, FileChange], commit: git.Commit | None
) -> list[dict[str, str]]:
    """Complete temps beside their targets, durable before the journal names them; until then
    the marker names them. Each also goes to the commit being built."""
    moves = [{"path": rel, "tmp": str(tmp_of(root / rel).relative_to(root))} for rel in files]
    repofiles.write(git_dir / TEMPS_MARKER, json.dumps([m["tmp"] for m in moves]))
    try:
        # #13: the target's line endings and mode kept; folders made, no symlink followed
        written = repofiles.write_temps_beside(
            [(root / rel, tmp_of(root / rel), new) for rel, (new, _old) in files.items()]
        )
        if commit is not None:
            for rel, (data, executable) in zip(files, written, strict=True):
                commit.add(rel, data, executable)
        repofiles.sync(root)
    except BaseException:  # #13: the journal names no temp yet, so none may stay behind
        repofiles.remove_all([root / move["tmp"] for move in moves])
        raise
    return moves


class Started(NamedTuple):
    """A commit on its own branch begun before the run's last checks: git compresses its files
    while they run. Whoever `start`s it aborts it on any failure before `run` takes it over."""

    commit: git.Commit
    contents: dict[str, bytes]  # what went to git, for the bundle beside the journal


def start(root: Path, files: dict[str, FileChange]) -> Started:
    """The commit of a change on its own branch, its files on their way to git. Nothing the user
    sees changes (no ref, no file of the checkout) until `run` moves the new branch."""
    commit = git.Commit(root)
    try:
        return Started(commit, _send_files(root, files, commit))
    except BaseException:
        commit.abort()
        raise


class Sending:
    """A commit on its own branch whose files go to git while the rest of the change is still
    planned (`send`, from the planning process alone): git compresses them on a core the
    planning leaves idle at times. `started` completes it where `start` would have run; a
    failure to send is not raised early but redone there, so every refusal comes as before."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.commit: git.Commit | None = None
        self.sent: dict[str, FileChange] = {}
        self.contents: dict[str, bytes] = {}
        self.failed = False

    def send(self, files: dict[str, FileChange]) -> None:
        if self.failed:
            return
        try:
            self.commit = self.commit or git.Commit(self.root)
            self.contents.update(_send_files(self.root, files, self.commit))
            self.sent.update(files)
        except (SealerError, OSError):  # `started` sends everything again and raises it in order
            self.failed = True
            self.abort()

    def started(self, files: dict[str, FileChange]) -> Started:
        """The commit of `files`, every one sent to git (those not sent yet now)."""
        changed = any(self.sent.get(rel, new) is not new for rel, new in files.items())
        if self.failed or changed or not self.sent.keys() <= files.keys():
            self.abort()  # a file sent as another plan had it, or one no plan keeps: start afresh
            self.sent, self.contents, self.commit = {}, {}, None
        rest = {rel: change for rel, change in files.items() if rel not in self.sent}
        if self.commit is None:
            began = start(self.root, rest)
            self.commit = began.commit
            self.contents.update(began.contents)
        elif rest:
            self.contents.update(_send_files(self.root, rest, self.commit))
        return Started(self.commit, {rel: self.contents[rel] for rel in files})

    def abort(self) -> None:
        """Stop git; nothing once the commit is written."""
        if self.commit is not None:
            self.commit.abort()


def _send_files(root: Path, files: dict[str, FileChange], commit: git.Commit) -> dict[str, bytes]:
    """A commit on its own branch: its files, as the targets' line endings and modes have them,
    into the commit being built, each as soon as it is encoded (git starts compressing at once)."""
    contents = {}
    encoded = repofiles.encode_all_like((root / rel, new) for rel, (new, _old) in files.items())
    for rel, (data, executable) in zip(files, encoded, strict=True):
        commit.add(rel, data, executable)
        contents[rel] = data
    return contents


def _save_contents(
    root: Path, git_dir: Path, files: dict[str, FileChange], contents: dict[str, bytes]
) -> list[dict[str, str]]:
    """The files of a commit on its own branch, durable before the journal names them, in one
    bundle beside the journal for a roll-forward. The journal still names each target and the
    temp a roll-forward may never use, so it is checked like any other."""
    journal.save_contents(git_dir, contents)
    return [{"path": rel, "tmp": str(tmp_of(root / rel).relative_to(root))} for rel in files]


def forget_marker(git_dir: Path) -> None:
    """The journal names the temps now (and has renamed them): the marker is no longer needed."""
    (git_dir / TEMPS_MARKER).unlink(missing_ok=True)


def sweep_temps(root: Path, git_dir: Path) -> None:
    """Remove the temps of a run killed before its journal (never renamed, never needed)."""
    marker = git_dir / TEMPS_MARKER
    try:
        listed = json.loads(repofiles.read_text(marker))
    except FileNotFoundError:
        return
    except ValueError:
        listed = []
    for rel in listed if isinstance(listed, list) else []:
        # Inside the work tree only: `root / "/abs"` is "/abs", and `..` climbs out.
        inside = isinstance(rel, str) and not Path(rel).is_absolute() and ".." not in Path(rel).parts
        if inside and rel.endswith(TEMP_SUFFIX):
            repofiles.remove(root / rel)  # #13: never through a symlinked folder
    marker.unlink(missing_ok=True)


def checked_moves(root: Path, entry: Journal, allowed: set[str]) -> None:
    """The journal's files, checked against what sealer.yaml lets this change write: a target
    outside `allowed`, or a temp that is not its target's temp, refuses the journal."""
    for item in entry.files:
        rel = item["path"]
        if rel not in allowed or item["tmp"] != str(tmp_of(root / rel).relative_to(root)):
            raise BadInput(
                f"the journal of the interrupted sealer run names {rel!r}, which it may not write: "
                f"remove {journal.path(git.git_dir(root))} after checking `git status`"
            )


def _roll_back(root: Path, git_dir: Path, entry: Journal, files: dict[str, FileChange]) -> None:
    if entry.in_place:
        journal.discard_temps(root, entry)
    (git_dir / TEMPS_MARKER).unlink(missing_ok=True)
    for rel, (_new, old) in files.items() if entry.in_place else ():
        if old is None:
            repofiles.remove(root / rel)
        else:
            repofiles.write(root / rel, old)
    journal.clear(git_dir)
