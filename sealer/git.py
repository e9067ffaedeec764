"""The few Git operations sealer needs, through the real `git`: every git subprocess is here.

A git that refuses (or is missing) is a `GitError` naming the git command and git's last line.

Commits are built with plumbing on a private index, so whatever the user has staged stays out
of sealer's commit, and the branch moves in one atomic `update-ref` at the very end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import posixpath
import queue
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sealer import repofiles, safeopen, terminal
from sealer.errors import BadInput, GitError

# A folder holding HEAD, objects/ and refs/ is a bare repository to git's discovery: committed
# beside a sealer.yaml that is not at the top of the checkout (a monorepo's folder), it would be
# the repository sealer reads (a made-up history for `review`) and its config git's. Refused.
# No `core.fsmonitor` program either (a speed-up only, run by status, add, diff...): like a driver
# or a hook, a command from git's configuration must not run on a CI runner because sealer did.
_WITH_HOOKS = ("git", "-c", "safe.bareRepository=explicit", "-c", "core.fsmonitor=false")
# Nor a hook: sealer's commits are plumbing, whose fast-import, update-ref and update-index run
# hooks (reference-transaction, post-index-change) no `git commit` user expects from them. A push
# keeps the pre-push hook: that one guards what leaves the machine.
GIT = (*_WITH_HOOKS, "-c", f"core.hooksPath={os.devnull}")

# Variables that point git at another repository, work tree, object store or ref namespace than
# the one it finds from the folder sealer names (`-C`). Exported by a caller, or by git itself
# (a linked worktree's hooks get GIT_DIR), GIT_DIR alone made `--show-toplevel` answer the
# current folder: a sealer.yaml below the top of its work tree passed as the top. sealer always
# works on the repository holding its folder. GIT_INDEX_FILE is kept: during `git commit -a` or
# `git commit PATH` a pre-commit hook finds the index being committed only there.
_ELSEWHERE = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_COMMON_DIR",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_GRAFT_FILE",
        "GIT_EXTERNAL_DIFF",
    }
)

# Commands that may run a filter driver's clean or smudge command (they compare or write the
# working tree) or a diff driver's textconv. Which driver a file gets is its `.gitattributes`
# line, which a pull request writes: every command driver git's configuration defines is
# blanked for them, so none runs on a file sealer reads or writes (git then reads and writes the
# bytes as they are; a `required` filter makes git refuse, which fails closed).
_MAY_RUN_DRIVERS = frozenset(
    {"status", "checkout", "reset", "rm", "add", "update-index", "diff", "log", "show"}
)
_DRIVER_COMMANDS = r"^(filter|diff|merge)\..+\.(clean|smudge|process|textconv|command|driver)$"
_BLANK = "SEALER_GIT_BLANK"  # an empty variable: `--config-env=KEY=` it sets KEY to ""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every git sealer runs: the caller's, without `_ELSEWHERE`."""
    kept = {name: value for name, value in os.environ.items() if name not in _ELSEWHERE}
    return {**kept, _BLANK: "", **(extra or {})}


def _call(
    root: Path | str, args: Sequence[str], stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(_argv(root, args), input=stdin, capture_output=True, env=environment(env))
    except FileNotFoundError:
        raise GitError("git is not installed") from None


def _calls(root: Path | str, commands: Sequence[Sequence[str]]) -> list[subprocess.CompletedProcess[bytes]]:
    """`_call` of each of `commands` (no input), side by side: a git takes milliseconds to start,
    most of what a small question costs."""
    with contextlib.ExitStack() as stack:  # each waited for, as `subprocess.run` does
        started: list[subprocess.Popen[bytes]] = []
        try:
            for args in commands:
                proc = subprocess.Popen(
                    _argv(root, args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment()
                )
                started.append(stack.enter_context(proc))
            return [_completed(args, proc) for args, proc in zip(commands, started, strict=True)]
        except BaseException as err:
            for proc in started:  # as `subprocess.run`: none left running when this failed
                proc.kill()
            if isinstance(err, FileNotFoundError):
                raise GitError("git is not installed") from None
            raise


def _completed(args: Sequence[str], proc: subprocess.Popen[bytes]) -> subprocess.CompletedProcess[bytes]:
    out, err = proc.communicate()  # sets the return code
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _argv(root: Path | str, args: Sequence[str]) -> list[str]:
    command = _command(args)
    blanked = _no_drivers(str(root)) if command in _MAY_RUN_DRIVERS else ()
    return [*(_WITH_HOOKS if command == "push" else GIT), *blanked, "-C", str(root), *args]


def _command(args: Sequence[str]) -> str:
    """The git command `args` run: the first argument that is no option (nor a `-c` value)."""
    given = iter(args)
    for arg in given:
        if arg == "-c":
            next(given, None)
        elif not arg.startswith("-"):
            return arg
    return ""


@functools.lru_cache(maxsize=64)
def _no_drivers(root: str) -> tuple[str, ...]:
    """`--config-env` options blanking each filter, diff and merge driver command configured
    for the repository at `root` (any scope, includes followed). Read once per folder and
    process: no command writes git's configuration but `init`, whose one driver is sealer's own
    textconv."""
    return tuple(f"--config-env={key}={_BLANK}" for key in sorted(_driver_keys(root)))


def clean_filters(root: str) -> set[str]:
    """The filter drivers configured with a command that turns a working-tree file into the
    blob Git stores (`filter.<name>.clean` or `.process`): what `git add` commits differs."""
    keys = [key.split(".") for key in _driver_keys(root) if key.startswith("filter.")]
    return {".".join(parts[1:-1]) for parts in keys if parts[-1] in ("clean", "process")}


@functools.lru_cache(maxsize=64)
def _driver_keys(root: str) -> frozenset[str]:
    try:
        done = subprocess.run(
            [*GIT, "-C", str(root), "config", "-z", "--get-regexp", _DRIVER_COMMANDS],
            capture_output=True,
            env=environment(),
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    return frozenset(os.fsdecode(entry.split(b"\n", 1)[0]) for entry in done.stdout.split(b"\0") if entry)


def _refused(args: Sequence[str], done: subprocess.CompletedProcess[bytes]) -> GitError:
    stderr = done.stderr.decode("utf-8", "replace").strip()
    command = _command(args) or args[0]  # `log`, not the `--no-replace-objects` before it
    return GitError(f"git {command}: {one_line(stderr) if stderr else f'failed (exit {done.returncode})'}")


def run_bytes(root: Path | str, *args: str, stdin: bytes | None = None) -> bytes:
    """git's output; GitError when git refuses."""
    done = _call(root, args, stdin)
    if done.returncode:
        raise _refused(args, done)
    return done.stdout


def run(root: Path | str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> str:
    """git's output as text; GitError when git refuses."""
    done = _call(root, args, None if stdin is None else stdin.encode(), env)
    if done.returncode:
        raise _refused(args, done)
    return done.stdout.decode()


def probe(root: Path | str, *args: str) -> str | None:
    """git's stripped output when it succeeds, None when it says no (a question, not a command)."""
    done = _call(root, args)
    return done.stdout.decode().strip() if done.returncode == 0 else None


NO_IDENTITY = (
    "git has no identity to commit with: set it with `git config user.name NAME` "
    "and `git config user.email EMAIL` (or GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL)"
)


def one_line(stderr: str) -> str:
    """git's multi-line complaint as one line: its `fatal:`/`error:` lines and rejected refs,
    without the hints; the "Please tell me who you are" block as what to set."""
    if "Please tell me who you are" in stderr or "unable to auto-detect email address" in stderr:
        return NO_IDENTITY
    picked = []
    for line in stderr.splitlines():
        line = line.strip()
        for prefix in ("fatal: ", "error: ", "! "):
            if line.startswith(prefix):
                picked.append(line[len(prefix) :].strip().rstrip("."))
    if not picked:
        picked = [line.strip() for line in stderr.splitlines() if line.strip()][-1:] or ["failed"]
    return terminal.cut(" ".join("; ".join(dict.fromkeys(picked)).split()), 500)


def _path_of(root: Path, *args: str) -> Path:
    """A path git prints, as the file system names it: a folder's name need not be UTF-8."""
    return _as_path(run_bytes(root, *args))


def _as_path(printed: bytes) -> Path:
    return Path(os.fsdecode(printed.rstrip(b"\n")))


def git_dir(root: Path) -> Path:
    return (root / _path_of(root, "rev-parse", "--git-dir")).resolve()


def common_dir(git_dir: Path) -> Path:
    """The git directory every worktree of the repository shares (refs, config), from the git
    directory of one worktree (`git_dir`). Named with --git-dir: safe.bareRepository=explicit
    refuses to find a repository from inside a git directory."""
    return (git_dir / _path_of(git_dir, f"--git-dir={git_dir}", "rev-parse", "--git-common-dir")).resolve()


def top_level(path: Path, any_owner: bool = False) -> Path | None:
    """The root of the work tree holding `path`, None outside one. `any_owner`: also a work
    tree another account owns, which git otherwise refuses to name ("dubious ownership")."""
    trust = ("-c", "safe.directory=*") if any_owner else ()
    done = _call(path, (*trust, "rev-parse", "--show-toplevel"))
    return _as_path(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def shallow_cuts(root: Path) -> set[str]:
    """The commits a shallow clone cut the history at: git knows none of their parents."""
    where = root / _path_of(root, "rev-parse", "--git-path", "shallow")
    try:
        return set(where.read_text().split())
    except FileNotFoundError:
        return set()


def resolve_commit(root: Path, rev: str) -> str | None:
    return probe(root, "rev-parse", "-q", "--verify", f"{rev}^{{commit}}") or None


def head(root: Path) -> str | None:
    return resolve_commit(root, "HEAD")


def current_branch(root: Path) -> str | None:
    """The checked-out branch's name; --short would say heads/NAME when a tag is named so too."""
    ref = probe(root, "symbolic-ref", "-q", "HEAD") or ""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None


def ref_exists(root: Path, ref: str) -> bool:
    return probe(root, "show-ref", "-q", "--verify", ref) is not None


def ref_is_there(root: Path, ref: str) -> bool:
    """`ref_exists` for a caller that must not read git's failure as "no such ref": git says no
    with exit 1; anything else (a ref naming no object, no repository, no git) is GitError."""
    args = ("show-ref", "-q", "--verify", ref)
    done = _call(root, args)
    if done.returncode not in (0, 1):
        raise _refused(args, done)
    return done.returncode == 0


def indexed(root: Path, path: str) -> bool:
    """Whether Git's index holds `path` (a file a commit brought, not one sealer wrote there)."""
    return bool(run_bytes(root, "--literal-pathspecs", "ls-files", "-z", "--", path))


def changed_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """Which of `paths` differ from HEAD in the index or the working tree, an untracked file git
    ignores among them (a command writing it reads it and commits it). Git's index is not
    refreshed on the way: a dry run asks this too, and it writes nothing."""
    return list(path_changes(root, paths))


def path_changes(root: Path, paths: Sequence[str]) -> dict[str, bool]:
    """`changed_paths`, each with whether it is an untracked file git ignores (`git add -A`
    leaves it out): one `git status` for a caller that needs both."""
    if not paths:
        return {}
    out = run(
        root,
        "--literal-pathspecs",
        "--no-optional-locks",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--ignored=traditional",  # each ignored file by its name, not its folder's
        "--no-renames",  # a rename's second NUL-separated name is no status entry
        "--",
        *paths,
    )
    # One path may be listed twice: staged as deleted and untracked, when the index lacks it
    # (GIT_INDEX_FILE naming a missing file, say). Each is named once.
    changes: dict[str, bool] = {}
    for entry in filter(None, out.split("\0")):
        changes[entry[3:]] = changes.get(entry[3:], True) and entry.startswith("!!")
    return changes


def unwatched_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """Which of `paths` git is told not to look at on disk (`update-index --assume-unchanged`
    or `--skip-worktree`): `git status` lists no change to them, whatever the file holds."""
    if not paths:
        return []
    out = run(root, "--literal-pathspecs", "ls-files", "-v", "-z", "--", *paths)
    # -v tags each entry: `S` skip-worktree, a lower-case letter assume-unchanged.
    return [entry[2:] for entry in out.split("\0") if entry and (entry[0] == "S" or entry[0].islower())]


def ignored_untracked(root: Path, paths: Sequence[str]) -> set[str]:
    """Those of `paths` that are files on disk the index lacks and git ignores (`git add -A`
    leaves them out), each by its name, in an ignored folder too: one `git ls-files`."""
    if not paths:
        return set()
    args = ("--literal-pathspecs", "ls-files", "-z", "--others", "--ignored", "--exclude-standard")
    return {os.fsdecode(p) for p in run_bytes(root, *args, "--", *paths).split(b"\0") if p}


def sparse_checkout(root: Path) -> bool:
    """Whether a sparse checkout is on (`core.sparseCheckout`): what it leaves out is marked
    skip-worktree, as `git update-index --skip-worktree` marks a file by hand."""
    return probe(root, "config", "--bool", "core.sparseCheckout") == "true"


def restore_line(rel: str, shown: str, skip_worktree: bool, sparse: bool) -> str:
    """The command bringing back `rel` (from the top), which Git's index holds and the disk lacks;
    `shown` is `rel` as the command line takes it (quoted, or from where sealer ran). `git
    checkout --` brings back no skip-worktree file: in a sparse checkout (`sparse`) its folder is
    added (a top-level file's: the sparse checkout disabled), a mark set by hand is cleared first."""
    if not skip_worktree:
        return f"git checkout -- {shown}"
    if not sparse:
        return f"git update-index --no-skip-worktree -- {shown} && git checkout -- {shown}"
    folder = posixpath.dirname(rel)
    # `--`: a configured values file's folder may start with a dash (`-x/values.yaml`)
    return f"git sparse-checkout add -- {shlex.quote(folder)}" if folder else UNSPARSE


UNSPARSE = "git sparse-checkout disable"


def ignore_stat(root: Path) -> bool:
    """Whether `core.ignoreStat` is on: git marks each file it adds assume-unchanged, so a mark
    cleared by hand comes back with the next `git add`."""
    return probe(root, "config", "--bool", "core.ignoreStat") == "true"


def staged_deletions(root: Path, paths: Sequence[str]) -> set[str]:
    """Those of `paths` HEAD holds that the next commit would not: gone from the index (`git rm
    --cached`), or held there as intent-to-add (`git add -N`), which no commit carries and `git
    diff --cached` shows as a deletion. One `git diff`; HEAD must be a commit."""
    if not paths:
        return set()
    args = ("--literal-pathspecs", "diff", "--cached", "--no-renames", "--no-ext-diff", "--no-textconv")
    out = run_bytes(root, *args, "--name-only", "-z", "--diff-filter=D", "HEAD", "--", *paths)
    return {os.fsdecode(p) for p in out.split(b"\0") if p}


def intent_to_add(root: Path, paths: Sequence[str]) -> dict[str, bool]:
    """Those of `paths` the index holds as intent-to-add (`git add -N`), each with whether HEAD
    holds it. `git diff --cached` shows such an entry as none at all (a deletion where HEAD has
    the file), and with `--ita-visible-in-index` as an empty file, while a real entry's status is
    the same in both (its empty blob is no tell: an empty file holds it too). Two diffs side by
    side, against no commit before the first."""
    diff = ("--literal-pathspecs", "diff", "--cached", "--no-renames", "--no-ext-diff", "--name-status", "-z")
    found: dict[str, bool] = {}
    for batch in batches(paths):  # tens of thousands of paths exceed a command line (E2BIG)
        asked = [(*diff, f"--ita-{seen}-in-index", "--", *batch) for seen in ("invisible", "visible")]
        hidden, shown = (_statuses(args, done) for args, done in zip(asked, _calls(root, asked), strict=True))
        found |= {path: hidden.get(path) == "D" for path in batch if hidden.get(path) != shown.get(path)}
    return found


# What one git command line carries of paths: Linux allows 2 MiB for the arguments and the
# environment together, macOS 1 MiB, a single argument 128 KiB.
ARGV_PATH_BYTES = 256 << 10


def batches(paths: Sequence[str], limit: int = ARGV_PATH_BYTES) -> Iterator[list[str]]:
    """`paths` in order, in runs whose bytes (each with its NUL) stay within `limit`, a path longer
    than that alone: each run fits one command line."""
    batch: list[str] = []
    size = 0
    for path in paths:
        cost = len(os.fsencode(path)) + 1
        if batch and size + cost > limit:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += cost
    if batch:
        yield batch


def _statuses(args: Sequence[str], done: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    """path -> status letter of a `diff --name-status -z` (no renames: one path each)."""
    if done.returncode:
        raise _refused(args, done)
    fields = done.stdout.split(b"\0")[:-1]  # each field ends with a NUL
    pairs = zip(fields[::2], fields[1::2], strict=True)
    return {os.fsdecode(path): status.decode() for status, path in pairs}


def uncommitted_line(changes: dict[str, bool]) -> str:
    """What to do about `path_changes` (some) before a command commits them. An ignored file
    apart: `git add -A`, `git commit -a` and `git stash` leave it as it is."""
    changed = [path for path, ignored in changes.items() if not ignored]
    ignored = [path for path, ignored in changes.items() if ignored]
    said = [f"uncommitted changes in {', '.join(changed)}: commit or stash them first"] if changed else []
    if ignored:
        said.append(
            f"untracked files git ignores in {', '.join(ignored)} (`git add -A` and `git stash` leave "
            "them out): `git add -f` and commit them first (`git check-ignore -v PATH` names the rule)"
        )
    return "; ".join(said)


def uncommitted_refusal(root: Path, paths: Sequence[str]) -> BadInput | None:
    """Why a command that writes `paths` refuses to run over uncommitted changes to any of them
    (a dry run tells it); None when none differs from HEAD. A path git does not look at could
    hold any (a local edit the command would read and commit): it is refused too."""
    changes = path_changes(root, paths)
    if changes:
        return BadInput(uncommitted_line(changes))
    return unwatched_refusal(root, paths)


def unwatched_refusal(root: Path, paths: Sequence[str]) -> BadInput | None:
    """Why `paths` git does not look at (`unwatched_paths`) are refused as uncommitted changes
    are; None when git looks at each. A sparse checkout marks what it leaves out skip-worktree."""
    unwatched = unwatched_paths(root, paths)
    if not unwatched:
        return None
    return BadInput(
        f"git is told not to look at {', '.join(unwatched)} (assume-unchanged, skip-worktree, or "
        "outside a sparse checkout), so a local change there cannot be seen: `git update-index "
        "--no-assume-unchanged PATH` and `git update-index --no-skip-worktree PATH` first (given "
        "both, git clears the first alone; `git sparse-checkout disable` for a sparse checkout)"
    )


def refuse_uncommitted(root: Path, paths: Sequence[str]) -> None:
    refused = uncommitted_refusal(root, paths)
    if refused is not None:
        raise refused


def branch_exists(root: Path, branch: str) -> bool:
    return ref_exists(root, f"refs/heads/{branch}")


def check_branch_name(root: Path, branch: str) -> str:
    valid_branch_name(root, branch)
    if branch_exists(root, branch):
        raise BadInput(f"branch {branch} exists already")
    return branch


def valid_branch_name(root: Path, branch: str) -> str:
    """`branch`, when git would make a branch of that name (whether one exists is not asked)."""
    if not branch.isprintable() or not _is_utf8(branch):  # it goes into trailers, JSON, messages
        raise BadInput(f"{branch!r} is not a valid branch name")
    if probe(root, "check-ref-format", "--branch", branch) != branch:  # @{-1}: git's name for another
        raise BadInput(f"{branch!r} is not a valid branch name")
    return branch


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # an argument's bytes that are not UTF-8 (surrogate escapes)
        return False
    return True


def identity(root: Path) -> str:
    """Who is rotating: CI's actor variables first, then the Git identity."""
    for var in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR", "USER_LOGIN"):
        if os.environ.get(var):
            return os.environ[var]
    ident = probe(root, "var", "GIT_COMMITTER_IDENT")
    if ident:
        return ident.rsplit(">", 1)[0].strip() + ">"
    return os.environ.get("USER", "unknown")


SCRATCH_REF = "refs/sealer/commit"  # where fast-import leaves the commit before the checked ref move


class Commit:
    """A commit on top of HEAD built by a running `git fast-import`: files go in while the
    caller is still writing them (git compresses them on another core, fed by a thread, so the
    caller never waits for git before `move`), then `finish` writes
    the commit and moves the branch in one checked `update-ref`. One fast-import writes one
    pack; a loose object per file made this most of a 100-environment rotation. Nothing the
    user staged is included; `abort` leaves only unreferenced objects, which `git gc` drops."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = tempfile.TemporaryDirectory(prefix="sealer-commit-")
        self._marks = Path(self._tmp.name) / "marks"
        self._stderr = open(Path(self._tmp.name) / "stderr", "w+b")  # a file: a full pipe would block git
        # --depth=0: never a delta against the blob sent before. Sealed values are random: files
        # sent in path order (a sealed file after another) had git search for a delta that saves
        # ~1% of the pack in a third of its time. `git gc` deltifies later anyway.
        self._proc = subprocess.Popen(
            [
                *GIT,
                "-C",
                str(root),
                "fast-import",
                "--quiet",
                "--force",
                "--depth=0",
                f"--export-marks={self._marks}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=environment(),
        )
        _widen_pipe(self._proc.stdin)
        # A thread writes to git, so that `add` never waits for git: the caller goes on (writing
        # the journal, say) while git compresses. None in the queue: no more data.
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._stopped_reading = False  # git closed its end: what is still queued is moot
        self._closed = False
        self._feeder = threading.Thread(target=self._feed, name="sealer-fast-import", daemon=True)
        self._feeder.start()
        self._paths: list[str] = []  # mark of path i: i + 2 (mark 1 is the commit)
        self._changes: list[str] = []
        self._modes: list[str] = []  # #13: the file mode of each path, as the working tree has it
        self._by_mark: dict[str, str] = {}

    def add(self, rel: str, data: bytes | None, executable: bool = False) -> None:
        """`rel` holds `data` in the commit (mode 100755 when `executable`); None deletes it."""
        self._paths.append(rel)
        self._modes.append("100755" if executable else "100644")
        if data is None:
            self._changes.append(f"D {_quote(rel)}\n")
            return
        mark = len(self._paths) + 1
        self._send(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
        self._send(data)  # queued as it is, not copied
        self._send(b"\n")
        self._changes.append(f"M {self._modes[-1]} :{mark} {_quote(rel)}\n")

    def finish(self, message: str, branch: str | None) -> str:
        """Commit on `branch` (new) or the current branch; returns the commit id."""
        commit = self.move(message, branch)
        self.settle(commit, branch)
        return commit

    def move(self, message: str, branch: str | None, base: str | None = None) -> str:
        """Write the commit on top of `base` (default: HEAD now) and move the branch to it,
        checked: a current branch that moved away from `base` meanwhile refuses (the point of no
        return is this ref move); `settle` then points HEAD at a new branch and syncs the index."""
        try:
            parent = base or head(self.root)
            target = f"refs/heads/{branch}" if branch else _current_ref(self.root)
            author, committer, signing = _commit_settings(self.root)
            text = message.encode()
            lines = f"reset {SCRATCH_REF}\ncommit {SCRATCH_REF}\nmark :1\n"
            lines += f"author {author}\ncommitter {committer}\ndata {len(text)}\n"
            self._send(lines.encode() + text + b"\n")
            self._send(((f"from {parent}\n" if parent else "") + "".join(self._changes) + "\n").encode())
        except BaseException:
            self.abort()
            raise
        by_mark = self._close()
        commit = by_mark[":1"]
        try:  # #19: signed as `git commit` would sign it, before any ref moves
            commit = signed_copy(self.root, commit) if signing else commit
        except GitError:
            run(self.root, "update-ref", "-d", SCRATCH_REF)
            raise
        expected = _null_oid(commit) if branch or not parent else parent  # a new branch must not exist yet
        try:
            moves = f"update {target} {commit} {expected}\ndelete {SCRATCH_REF}\n"
            run(self.root, "update-ref", "--stdin", stdin=moves)
        except GitError:
            run(self.root, "update-ref", "-d", SCRATCH_REF)  # the branch moved or exists: leave no trace
            raise
        self._by_mark = by_mark
        return commit

    def settle(self, commit: str, branch: str | None) -> None:
        """After `move`: HEAD on the new branch, the index agreeing with the commit."""
        by_mark = self._by_mark
        if branch:
            # The commit lives on its own branch; the user stays where they were, as they were.
            restore_from_head(self.root, self._paths)
            return
        # The user's index now agrees with the new HEAD for these paths (their other entries stay).
        info = "".join(
            f"{m} {by_mark[f':{n}']}\t{_quote(p)}\n"
            if f":{n}" in by_mark
            else f"0 {_null_oid(commit)}\t{_quote(p)}\n"
            for n, (p, m) in enumerate(zip(self._paths, self._modes, strict=True), start=2)
        )
        run(self.root, "update-index", "--index-info", stdin=info)

    def abort(self) -> None:
        """Stop git; nothing once the commit is written (or the commit aborted already)."""
        if self._closed:
            return
        temps = []
        if self._proc.poll() is None:
            temps = self._frozen_temp_packs()
            self._proc.kill()
        self._proc.wait()
        for temp in temps:  # a killed git leaves its half-written pack behind (MBs for a --due)
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self._stop_feeder()  # git is gone: a write the feeder is blocked in fails at once
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()  # the pipe too, or it leaks (what is still buffered is moot)
        except BrokenPipeError:
            pass
        self._cleanup()

    def _frozen_temp_packs(self) -> list[str]:
        """`_temp_packs` of this git stopped first: one just started opens its temp pack at any
        moment, also between a look at its files and the kill."""
        try:
            os.kill(self._proc.pid, signal.SIGSTOP)
            os.waitpid(self._proc.pid, os.WUNTRACED)  # back once it is stopped (or gone)
        except (ProcessLookupError, ChildProcessError):
            return []  # gone already: no file of its left open to look at
        return self._temp_packs()

    def _temp_packs(self) -> list[str]:
        """The temp pack files this git has open (Linux's /proc; elsewhere none): its own alone,
        never another git's that happens to write the same folder."""
        found = []
        fds = f"/proc/{self._proc.pid}/fd"
        with contextlib.suppress(OSError):
            for fd in os.listdir(fds):
                with contextlib.suppress(OSError):
                    target = os.readlink(os.path.join(fds, fd))
                    folder, name = os.path.split(target)
                    if os.path.basename(folder) == "pack" and name.startswith(("tmp_pack_", "tmp_idx_")):
                        found.append(target)
        return found

    def _send(self, data: bytes) -> None:
        if self._stopped_reading:
            self._close()  # git stopped reading: raises with git's own message
        self._queue.put(data)

    def _feed(self) -> None:
        """The feeder thread: the queued data into git's stdin, until None or a closed pipe."""
        assert self._proc.stdin is not None
        while (data := self._queue.get()) is not None:
            if self._stopped_reading:
                continue
            try:
                self._proc.stdin.write(data)
            except (OSError, ValueError):  # a broken pipe, mostly
                self._stopped_reading = True

    def _stop_feeder(self) -> None:
        if self._feeder.is_alive():
            self._queue.put(None)
            self._feeder.join()

    def _close(self) -> dict[str, str]:
        self._stop_feeder()
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        try:
            if code or self._stopped_reading:
                self._stderr.seek(0)
                said = one_line(self._stderr.read().decode(errors="replace")) if code else "stopped reading"
                raise GitError(f"git fast-import: {said}")
            return dict(line.split(" ", 1) for line in self._marks.read_text(encoding="ascii").splitlines())
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        self._closed = True
        self._stderr.close()
        self._tmp.cleanup()


def _widen_pipe(pipe: Any) -> None:
    """Let the writer run ahead of git by up to 1 MiB (Linux; the default pipe holds 64 KiB)."""
    import fcntl

    try:
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass  # above the system's limit: the default size only costs some overlap


def commit_paths(root: Path, paths: Sequence[str], message: str, branch: str | None) -> str:
    """Commit the working-tree state of `paths` (see `Commit`); returns the commit id."""
    commit = Commit(root)
    try:
        for rel in paths:
            try:
                data: bytes | None = repofiles.read_bytes(root / rel)
            except FileNotFoundError:
                data = None
            commit.add(rel, data, repofiles.is_executable(root / rel))
    except BaseException:
        commit.abort()
        raise
    return commit.finish(message, branch)


def _quote(path: str) -> str:
    """C-style quoting (fast-import, update-index), so any path reads back as given."""
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _null_oid(like: str) -> str:
    return "0" * len(like)  # 40 digits, or 64 in a SHA-256 repository


def _commit_settings(root: Path) -> tuple[str, str, bool]:
    """(author, committer) as `git commit` takes them (environment, then config), and whether it
    signs (#19: `commit.gpgsign`); git asked all three at once. One clear error when git has no
    identity, as `git commit` would refuse then too."""
    author, committer, signing = _calls(
        root, [("var", "GIT_AUTHOR_IDENT"), ("var", "GIT_COMMITTER_IDENT"), _SIGNING]
    )
    if author.returncode or committer.returncode:
        raise GitError(NO_IDENTITY)
    return author.stdout.decode().strip(), committer.stdout.decode().strip(), _signs(signing)


HEAD_REF = "HEAD"


def files_under(root: Path, rev: str, folder: str) -> list[str]:
    """The files `rev` holds below `folder`; none when `rev` does not exist yet."""
    if resolve_commit(root, rev) is None:
        return []
    out = run_bytes(
        root, NO_REPLACE, "--literal-pathspecs", "ls-tree", "-r", "-z", "--name-only", rev, "--", folder
    )
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def tree_under(root: Path, rev: str, folder: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob) of every file and symlink `rev` holds below `folder`; one `git ls-tree`."""
    if resolve_commit(root, rev) is None:
        return {}
    return ls_tree(root, rev, "-r", paths=[folder])


def ls_tree(
    root: Path,
    rev: str,
    *options: str,
    paths: Sequence[str] = (),
    decode: Callable[[bytes], str] = os.fsdecode,
) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob) of each entry `git ls-tree -z OPTIONS REV -- PATHS` lists, the paths
    read literally."""
    out = run_bytes(root, NO_REPLACE, "--literal-pathspecs", "ls-tree", "-z", *options, rev, "--", *paths)
    found = {}
    for item in out.split(b"\0"):
        meta, _, path = item.partition(b"\t")
        if meta:
            mode, _kind, blob = meta.decode().split(" ")
            found[decode(path)] = (mode, blob)
    return found


def _grep_failed(done: subprocess.CompletedProcess[bytes]) -> bool:
    """git grep failed. Its exit code 1 says no file matched, and it says so too when it could
    not read a file (an object missing, as in a partial clone), naming that one on stderr: a
    search that did not look everywhere is no answer."""
    return done.returncode not in (0, 1) or re.search(rb"(?m)^(error|fatal): ", done.stderr) is not None


def files_holding(root: Path, rev: str, texts: Sequence[str], pathspecs: Sequence[str]) -> list[str]:
    """The files of `rev` matching `pathspecs` (globs) whose bytes hold one of `texts` (any
    case); one `git grep` over the tree, nothing checked out."""
    args = ["grep", "-l", "-z", "-F", "-i", "--no-textconv"]
    args += [f for text in texts for f in ("-e", text)]
    done = _call(root, [NO_REPLACE, *args, rev, "--", *pathspecs])
    if _grep_failed(done):
        raise _refused(args, done)
    prefix = f"{rev}:".encode()
    return [os.fsdecode(p.removeprefix(prefix)) for p in done.stdout.split(b"\0") if p]


def binary_files(root: Path, rev: str, pathspecs: Sequence[str]) -> list[str]:
    """The files of `rev` matching `pathspecs` (globs) that git reads as binary (any NUL byte:
    UTF-16 text too, whose words no byte search of `files_holding` finds); two `git grep`s."""
    found = []
    for binary in (False, True):
        args = ["grep", "-l", "-z", "-e", "", *(() if binary else ("-I",))]
        done = _call(root, [NO_REPLACE, *args, rev, "--", *pathspecs])
        if _grep_failed(done):
            raise _refused(args, done)
        prefix = f"{rev}:".encode()
        found.append({os.fsdecode(p.removeprefix(prefix)) for p in done.stdout.split(b"\0") if p})
    return sorted(found[1] - found[0])


def restore_from_head(root: Path, paths: Sequence[str]) -> None:
    """Put `paths` back as HEAD has them (index and working tree); those HEAD lacks are removed."""
    listed = (
        run(root, "--literal-pathspecs", "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *paths).split(
            "\0"
        )
        if head(root)
        else []
    )
    tracked = [p for p in paths if p in set(listed)]
    if tracked:
        run(root, "--literal-pathspecs", "checkout", "-q", "HEAD", "--", *tracked)
    for rel in paths:
        if rel not in tracked:
            run(root, "--literal-pathspecs", "rm", "-q", "--cached", "--ignore-unmatch", "--", rel)
            (root / rel).unlink(missing_ok=True)


def _current_ref(root: Path) -> str:
    args = ("symbolic-ref", "-q", HEAD_REF)
    ref = _call(root, args)
    if ref.returncode == 1:
        raise BadInput("HEAD is detached: give --branch NAME or check out a branch")
    if ref.returncode:
        raise _refused(["symbolic-ref"], ref)
    return ref.stdout.decode().strip()


def parent_of(root: Path, rev: str) -> str | None:
    """The first parent of `rev` (None for a root commit or an unknown rev)."""
    return resolve_commit(root, f"{rev}^")


def message_of(root: Path, rev: str) -> str:
    return run(root, "log", "-1", "--format=%B", rev)


def branches_at(root: Path, commit: str) -> list[str]:
    """The local and remote-tracking branches (full ref names) whose tip is `commit`."""
    return _branches(root, f"--points-at={commit}")


def remotes(root: Path) -> list[str]:
    """The remotes' names, one a line (a name may hold a Unicode space, as a branch's may)."""
    return lines(run(root, "remote"))


def remote_urls(root: Path) -> list[str]:
    """Every fetch URL of every remote the checkout has (the repository as others name it), one
    a line: a local path may hold a space."""
    return [url for name in remotes(root) for url in lines(run(root, "remote", "get-url", "--all", name))]


def remote_default_branches(root: Path) -> set[str]:
    """The default branch each remote's `HEAD` names (`refs/remotes/NAME/HEAD`, which a clone
    and `git remote set-head` record; a checkout may hold none)."""
    found = set()
    for name in remotes(root):
        ref = probe(root, "symbolic-ref", "-q", f"refs/remotes/{name}/HEAD") or ""
        if ref.startswith(f"refs/remotes/{name}/"):
            found.add(ref.removeprefix(f"refs/remotes/{name}/"))
    return found


def branches_containing(root: Path, commit: str) -> list[str]:
    """The local and remote-tracking branches (full ref names) whose history holds `commit`."""
    return _branches(root, f"--contains={commit}")


def _branches(root: Path, *conditions: str) -> list[str]:
    """The local and remote-tracking branches (full ref names) `for-each-ref` finds."""
    return lines(run(root, "for-each-ref", *conditions, "--format=%(refname)", "refs/heads", "refs/remotes"))


def lines(out: str) -> list[str]:
    """Git's output one item a line: a ref name may hold a Unicode space or line separator (git
    refuses only ASCII ones), which str.split() and splitlines() would cut it at."""
    return [line for line in out.split("\n") if line]


def refs_holding(root: Path, text: str, path: str, outside: str | None = None) -> list[str]:
    """The local and remote-tracking branches whose `path` contains `text` (a key id); with
    `outside`, only those whose tip that commit does not contain."""
    refs = _branches(root, *(("--no-merged", outside) if outside else ()))
    if not refs:
        return []
    args = ("--literal-pathspecs", "grep", "--no-textconv", "-l", "-F", "-e", text, *refs, "--", path)
    done = _call(root, args)
    if _grep_failed(done):  # a branch git could not read might hold it
        raise _refused(args, done)
    return [line.split(":", 1)[0] for line in lines(done.stdout.decode())]


def first_landed(root: Path, text: str, path: str) -> dt.datetime | None:
    """When HEAD's first-parent history (the main line: a pull request's merge, not its branch's
    own commits) first added `text` (a key id) to `path`: that commit's committer time, or the
    earliest of the main line's later commits (a commit landed by fast-forward keeps the time its
    author chose). None in a shallow clone (the commit that shows it added may not be the one that
    added it) or when no such commit is found."""
    landing = landing_commit(root, text, path)
    if landing is None:
        return None
    since = run(root, "log", "--first-parent", "--format=%H %ct", "HEAD", f"^{landing}^@").splitlines()
    # each one's time, none skipped: one git cannot show is no reason to date the landing later
    times = [committer_time(commit, stamp) for commit, _, stamp in (line.partition(" ") for line in since)]
    return dt.datetime.fromtimestamp(min(times), dt.timezone.utc)


def landing_commit(root: Path, text: str, path: str) -> str | None:
    """The commit of HEAD's first-parent history that first added `text` to `path` (a merge, a
    squash, or a commit made on the main line itself); None in a shallow clone or when none did."""
    if run(root, "rev-parse", "--is-shallow-repository").strip() != "false":
        return None
    log = run(
        root,
        "--literal-pathspecs",
        "log",
        "--no-textconv",
        "--no-ext-diff",
        "--first-parent",
        "--format=%H",
        f"-S{text}",
        "HEAD",
        "--",
        path,
    ).split()
    return log[-1] if log else None


def push(root: Path, remote: str, branch: str) -> None:
    run(root, "push", "-q", _known_remote(root, remote), f"refs/heads/{branch}:refs/heads/{branch}")


def _remote(remote: str) -> str:
    if remote.startswith("-") or not remote:
        raise BadInput(f"{remote!r} is not a remote")
    return remote


def check_push_target(root: Path, remote: str | None) -> None:
    """A --push REMOTE checked before anything changes (`_known_remote`)."""
    if remote is not None:
        _known_remote(root, remote)


def _known_remote(root: Path, remote: str) -> str:
    """`remote`, when it is one of the repository's remotes or reads as a URL or path; a
    mistyped name is one clear line, not git's guess that it is a repository's path. Never a
    repository inside this work tree: a pull request may have committed one, and a push to a
    local repository runs its hooks on this machine (a configured remote's push URL too)."""
    known = remotes(root)
    if remote in known:
        for url in lines(run(root, "remote", "get-url", "--push", "--all", _remote(remote))):
            _refuse_inside(root, remote, _local_path(root, url) if url else None)
        return _remote(remote)
    local = _local_path(root, remote)
    if local is None and ("/" in remote or ":" in remote):
        return _remote(remote)  # a URL, or ssh's host:path
    if local is not None and ("/" in remote or local.exists()):
        _refuse_inside(root, remote, local)
        return _remote(remote)
    raise GitError(f"no remote named {remote!r} in this repository (it has: {', '.join(known) or 'none'})")


def _refuse_inside(root: Path, remote: str, local: Path | None) -> None:
    if local is not None and local.resolve(strict=False).is_relative_to(root.resolve()):
        raise GitError(f"{remote!r} is a folder of this repository, not a remote to push to")


def _local_path(root: Path, remote: str) -> Path | None:
    """Where a remote that git reads as a local repository is (a path or a file:// URL), as
    git resolves it from the work tree's top; None for another URL or ssh's `host:path`. Git
    decodes a file:// URL whole (%2F is a slash, %00 its end) and ignores its host (file://localhost/…)."""
    if remote.startswith("file://"):
        decoded = os.fsdecode(urllib.parse.unquote_to_bytes(remote).split(b"\0")[0]).removeprefix("file://")
        return Path("/" + decoded.partition("/")[2].lstrip("/"))
    _, colon, _ = remote.partition("://")
    if colon or (":" in remote.split("/", 1)[0]):
        return None
    return root / remote


def remote_heads(root: Path, remote: str, pattern: str) -> dict[str, str]:
    """branch -> commit of each branch on `remote` whose name matches `pattern` (a glob, as
    ls-remote reads it); one `git ls-remote`."""
    out = run(root, "ls-remote", "--heads", _remote(remote), f"refs/heads/{pattern}")
    found = {}
    for line in lines(out):  # a branch anyone pushed may hold a line separator (U+2028)
        commit, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            found[ref.removeprefix("refs/heads/")] = commit
    return found


def push_new_branch(root: Path, remote: str, branch: str) -> None:
    """Create `branch` on `remote` at the local branch's commit, or find it there at that commit
    already (a retried push). A branch someone else made under that name is never moved and
    never taken as ours: git's lease makes the push fail if the branch exists at push time,
    also when it appeared after the check."""
    commit = resolve_commit(root, f"refs/heads/{branch}")
    there = remote_heads(root, _known_remote(root, remote), branch).get(branch)
    if there is not None and there == commit:
        return
    if there is not None:
        raise GitError(
            f"branch {branch} exists on {remote} at {there[:12]}, not at this commit "
            f"({(commit or '')[:12]}): someone else's branch; nothing pushed (delete it on the remote, "
            "or rotate again for a new name)"
        )
    run(
        root,
        "push",
        "-q",
        f"--force-with-lease=refs/heads/{branch}:",
        remote,
        f"refs/heads/{branch}:refs/heads/{branch}",
    )


def read_blobs(root: Path, revs: Sequence[str]) -> dict[str, str]:
    """`rev:path` -> text for each that exists, in one `git cat-file --batch`."""
    out = run_bytes(root, "cat-file", "--batch", stdin="".join(f"{rev}\n" for rev in revs).encode())
    at, found = 0, {}
    for rev in revs:
        header_end = out.index(b"\n", at)
        header = out[at:header_end].split()
        at = header_end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            found[rev] = out[at : at + size].decode("utf-8", "replace")
            at += size + 1
        elif len(header) == 3:
            at += int(header[2]) + 1  # not a blob (a tree at that path): skip its content
    return found


_OBJECT_TYPES = frozenset({"blob", "tree", "commit", "tag"})
FILE_MODES = ("100644", "100755")  # a plain file's tree modes: executable or not


def objects_held(root: Path, revs: Sequence[str]) -> set[str]:
    """Which of `revs` (`rev:path`) name an object the repository holds, of any type (a folder
    too), in one `git cat-file --batch-check`: what `cat-file -e` says of each, contents unread."""
    out = run(root, "cat-file", "--batch-check=%(objecttype)", stdin="".join(f"{rev}\n" for rev in revs))
    return {rev for rev, line in zip(revs, out.splitlines(), strict=True) if line in _OBJECT_TYPES}


def object_info(root: Path, revs: Sequence[str]) -> dict[str, tuple[str, int]]:
    """`rev` (`rev:path`) -> the id and size in bytes of the object it names, for each the
    repository holds, in one `git cat-file --batch-check`, contents unread: objects of the same
    id need reading once, and what is too large to read is known before it is read."""
    if not revs:
        return {}
    out = run(
        root,
        "cat-file",
        "--batch-check=%(objecttype) %(objectname) %(objectsize)",
        stdin="".join(f"{rev}\n" for rev in revs),
    )
    found = {}
    for rev, line in zip(revs, out.removesuffix("\n").split("\n"), strict=True):
        fields = line.split(" ")  # or `REV missing` (REV may hold a space)
        if len(fields) == 3 and fields[0] in _OBJECT_TYPES and fields[2].isdigit():
            found[rev] = (fields[1], int(fields[2]))
    return found


def object_ids(root: Path, revs: Sequence[str]) -> dict[str, str]:
    """`rev` (`rev:path`) -> the id of the object it names, for each the repository holds."""
    return {rev: name for rev, (name, _) in object_info(root, revs).items()}


def file_at(root: Path, rev: str, path: str) -> str | None:
    """The text of `path` at `rev` (None when it has none); any branch may hold it (a remote
    one anyone pushed): bounded like a file on disk, and not UTF-8 is BadInput, not a crash."""
    shown = f"{rev}:{path}"
    size = probe(root, "cat-file", "-s", shown)
    if size is None:
        return None
    if int(size) > repofiles.MAX_BYTES:
        raise BadInput(f"{shown}: larger than the limit of {repofiles.MAX_BYTES} bytes")
    done = _call(root, ("show", "--no-textconv", shown))
    return safeopen.decode(done.stdout, shown) if done.returncode == 0 else None


# -- signing (#19): sealer's commits honour git's signing configuration like `git commit` ------


_SIGNING = ("config", "--bool", "commit.gpgsign")


def _signs(done: subprocess.CompletedProcess[bytes]) -> bool:
    """`git config --bool commit.gpgsign` said true (unset, it fails: not signed)."""
    return done.returncode == 0 and done.stdout.decode().strip() == "true"


def signed_copy(root: Path, commit: str) -> str:
    """`commit` re-created signed (`git commit-tree -S`: gpg.format, user.signingkey, gpg.program
    as `git commit` uses them) with the same tree, parents, message, author and dates."""
    raw = run_bytes(root, "cat-file", "commit", commit)
    header, _, message = raw.partition(b"\n\n")
    fields = [line.decode().split(" ", 1) for line in header.split(b"\n")]
    tree = next(value for key, value in fields if key == "tree")
    parents = [arg for key, value in fields if key == "parent" for arg in ("-p", value)]
    env = {}
    for key, value in fields:
        if key in ("author", "committer"):
            name, rest = value.split(" <", 1)
            email, stamp = rest.split("> ", 1)
            who = key.upper()
            env.update({f"GIT_{who}_NAME": name, f"GIT_{who}_EMAIL": email, f"GIT_{who}_DATE": f"@{stamp}"})
    done = _call(root, ("commit-tree", "-S", tree, *parents, "-F", "-"), message, env)
    if done.returncode:
        raise _refused(("commit-tree -S (signing the commit as commit.gpgsign asks)",), done)
    return done.stdout.decode().strip()


def verify_commit(root: Path, commit: str, allowed_signers: Path | None, gnupg_home: Path | None) -> bool:
    """Is `commit` signed by a key in `allowed_signers` (SSH) or in the keyring at `gnupg_home`
    (OpenPGP)? Only those anchors count: the programs and files are set here, not by the repo."""
    return _verified(root, ("verify-commit", commit), allowed_signers, gnupg_home)


def ref_objects(root: Path, *patterns: str) -> dict[str, list[str]]:
    """Object id -> the refs naming it (their names as text), every ref (or those `patterns`
    match): the objects are not read, so a ref whose object git cannot hand back is listed too
    (`%(objecttype)` would fail)."""
    out = run_bytes(root, NO_REPLACE, "for-each-ref", "--format=%(objectname) %(refname)", *patterns)
    found: dict[str, list[str]] = {}
    for line in out.split(b"\n"):
        oid, _, ref = line.partition(b" ")
        if ref:
            found.setdefault(oid.decode("ascii", "replace"), []).append(ref.decode("utf-8", "replace"))
    return found


_TAG_HEAD = re.compile(rb"object ([0-9a-fA-F]{40}(?:[0-9a-fA-F]{24})?)\ntype ([a-z]+)\n")


def tag_target(data: bytes) -> tuple[str, str] | None:
    """(id, type) of what a tag object points at, from its first two lines (git writes them so);
    None when they are not there. Git reads the id in either case (`git fsck` too): so does this."""
    match = _TAG_HEAD.match(data)
    return (match[1].decode().lower(), match[2].decode()) if match else None


# A tag object's tagger as `%(taggeremail)` shows it: from the line's first `<` to the next `>`.
_TAGGER = re.compile(rb"^tagger [^<\n]*(<[^>\n]*>)", re.MULTILINE)
TAG_HEADER = 64 << 10  # a tag object's first lines name what it points at: this much is read


def tags_at(root: Path, commit: str, prefix: str) -> list[tuple[str, str]]:
    """(tag ref, tagger) of every annotated tag under `prefix` that points at `commit`, read from
    the objects: `for-each-ref --points-at` stops at the first ref whose object git cannot hand
    back; here such a ref is left out (review's tag pass fails it as not examined, by name)."""
    refs = ref_objects(root, prefix)
    found = []
    for oid, kind, data in stream_objects(root, list(refs), TAG_HEADER):
        head = (data if isinstance(data, bytes) else next(data, b"")).split(b"\n\n", 1)[0]
        if kind == "tag" and tag_target(head + b"\n") == (commit, "commit"):
            tagger = _TAGGER.search(head)
            found += [(ref, tagger[1].decode("utf-8", "replace") if tagger else "") for ref in refs[oid]]
    return sorted(found)


def verify_tag(root: Path, tag: str, allowed_signers: Path | None, gnupg_home: Path | None) -> bool:
    return _verified(root, ("verify-tag", tag), allowed_signers, gnupg_home)


def _verified(root: Path, args: tuple[str, ...], signers: Path | None, home: Path | None) -> bool:
    trust = (
        "-c",
        f"gpg.ssh.allowedSignersFile={signers or os.devnull}",
        "-c",
        "gpg.ssh.revocationFile=",
        "-c",
        "gpg.ssh.program=ssh-keygen",
        "-c",
        "gpg.program=gpg",
    )
    env = {"GNUPGHOME": str(home)} if home else {"GNUPGHOME": str(Path(os.devnull))}
    # the object as it is, as review listed it: a replacement (`git replace`) lends no signature
    return _call(root, (NO_REPLACE, *trust, *args), None, env).returncode == 0


# -- one walk over a range (#19): what each commit changed, and the blobs to read ---------------


# Review reads history as the objects are: replacement refs (`git replace`) cannot dress it up.
NO_REPLACE = "--no-replace-objects"


class FileChange(NamedTuple):
    path: str
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str


class CommitChanges(NamedTuple):
    commit: str
    parents: list[str]
    time: int
    changes: list[FileChange]  # against the first parent (the empty tree for a root commit)


def range_changes(root: Path, base: str, head: str) -> list[CommitChanges]:
    """Every commit of base..head, oldest first, with its changed paths, modes and blobs; one
    `git log` for the whole range."""
    out = run_bytes(
        root,
        NO_REPLACE,
        "log",
        "--reverse",
        "--topo-order",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "-z",
        "--diff-merges=first-parent",
        "--root",
        "--format=%x01%H %P %ct",
        f"{base}..{head}",
        "--",
    )
    found = []
    for chunk in out.split(b"\x01")[1:]:
        header, _, rest = chunk.partition(b"\0")
        commit, *parents, stamp = header.decode().split(" ")
        found.append(CommitChanges(commit, parents, committer_time(commit, stamp), _raw_changes(rest)))
    return found


def committer_time(commit: str, stamp: str) -> int:
    """`%ct` as git printed it: git re-encodes a whole commit object from the encoding its
    `encoding` header names (EBCDIC, say), garbling the header it then reads no time from."""
    if not stamp.strip().isdigit():
        raise BadInput(f"commit {commit[:12]}: git shows no committer time (its encoding header?)")
    return int(stamp)


def changes_path(root: Path, commit: str, path: str) -> bool:
    """Whether `commit` changes anything under `path` from its (first) parent."""
    done = _call(
        root,
        (
            "--literal-pathspecs",
            "diff-tree",
            "--no-textconv",
            "--no-ext-diff",
            "--quiet",
            "-r",
            commit,
            "--",
            path,
        ),
    )
    if done.returncode not in (0, 1):
        raise GitError(f"git diff-tree {commit}: {one_line(done.stderr.decode(errors='replace'))}")
    return done.returncode == 1


def range_is_empty(root: Path, base: str, head: str) -> bool:
    """base..head holds no commit: the same commit, or `head` an ancestor of `base`."""
    return not run(root, NO_REPLACE, "rev-list", "--max-count=1", f"{base}..{head}", "--").strip()


def tree_changes(root: Path, base: str, head: str) -> list[FileChange]:
    """What differs between the trees of `base` and `head`, as `range_changes` lists a commit's."""
    out = run_bytes(
        root,
        NO_REPLACE,
        "diff",
        "--no-ext-diff",
        "--no-textconv",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "-z",
        base,
        head,
        "--",
    )
    return _raw_changes(out)


def _raw_changes(raw: bytes) -> list[FileChange]:
    """The entries of `--raw -z` output (`:old_mode new_mode old_blob new_blob status`, path)."""
    parts = raw.lstrip(b"\n").split(b"\0")
    changes = []
    for meta, path in zip(parts[0::2], parts[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        old_mode, new_mode, old_blob, new_blob, _status = meta[1:].decode().split(" ")
        changes.append(FileChange(path.decode("utf-8", "replace"), old_mode, new_mode, old_blob, new_blob))
    return changes


def tree_entries(root: Path, rev: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob) at `rev` for those of `paths` it holds; one `git ls-tree`."""
    if not paths:
        return {}
    return ls_tree(root, rev, "--full-tree", paths=paths, decode=lambda path: path.decode("utf-8", "replace"))


def blobs_under(root: Path, rev: str, folder: str) -> list[str]:
    """Every blob a path under `folder` held in any commit `rev` reaches, first seen first: one
    `git log` listing what each commit changing `folder` wrote there, every side of a merge and
    no history simplification (a side branch a merge left out held its blobs too)."""
    out = run_bytes(
        root, NO_REPLACE, "--literal-pathspecs", "log", "--no-textconv", "--no-ext-diff", "--format=",
        "--raw", "--no-abbrev", "-z", "--no-renames", "--full-history", "--diff-merges=separate",
        rev, "--", folder,
    )  # fmt: skip
    parts = out.split(b"\0")
    found: dict[str, None] = {}
    for meta in parts[:-1]:
        fields = meta.lstrip(b"\n").decode(errors="replace").split(" ")
        if fields[0].startswith(":") and len(fields) == 5 and fields[1] in FILE_MODES:
            found.setdefault(fields[3])
    return list(found)


def stream_blobs(root: Path, ids: Sequence[str], limit: int) -> Iterator[tuple[str, bytes | Iterator[bytes]]]:
    """(id, data) of each blob through one `git cat-file --batch`, streamed: a blob up to `limit`
    bytes comes whole, a bigger one as an iterator of chunks (read it before the next)."""
    for blob, _, data in stream_objects(root, ids, limit):
        yield blob, data


def stream_objects(
    root: Path, ids: Sequence[str], limit: int
) -> Iterator[tuple[str, str, bytes | Iterator[bytes]]]:
    """`stream_blobs` with each object's type (`commit`, `tag`…); one git does not return is left out."""
    if not ids:
        return
    proc = subprocess.Popen(
        [*GIT, "-C", str(root), NO_REPLACE, "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment(),
    )
    assert proc.stdin is not None and proc.stdout is not None
    feeder = threading.Thread(target=_feed, args=(proc.stdin, "".join(f"{i}\n" for i in ids).encode()))
    feeder.start()
    try:
        for blob in ids:
            header = proc.stdout.readline().decode().split()
            if len(header) != 3:
                continue  # "<id> missing"
            kind, size = header[1], int(header[2])
            if size <= limit:
                yield blob, kind, proc.stdout.read(size)
            else:
                chunks = _chunks(proc.stdout, size, limit)
                yield blob, kind, chunks
                for _ in chunks:
                    pass  # the caller stopped early: skip the rest of this blob
            proc.stdout.read(1)
    finally:
        # Our end of git's output first: if the reader stopped early (an error, Ctrl-C), git then
        # fails its next write and exits, which frees a feeder stuck on a full pipe.
        proc.stdout.close()
        feeder.join()
        proc.wait()


def _feed(pipe: Any, data: bytes) -> None:
    try:
        pipe.write(data)
    except BrokenPipeError:
        pass  # git stopped reading: the reader stopped early
    finally:
        with contextlib.suppress(BrokenPipeError):
            pipe.close()


def _chunks(stream: Any, size: int, chunk: int) -> Iterator[bytes]:
    while size > 0:
        data = stream.read(min(chunk, size))
        if not data:
            return
        size -= len(data)
        yield data
