"""Which files a scan reads, and the reason for each one it does not.

Three sources: paths given (folders are walked, `.git` left out), the staged set (`--staged`:
the blobs in the index, which is what a commit will hold, not the working tree), and every
tracked file (`--all-files`). A symlink is never followed: its target text (what Git commits as
its blob) is scanned. Submodules and deleted files are skipped with a reason (`sealer scan -v`
prints them); every other file is read whole or in chunks (contents.py). Blobs are streamed
from git (blobs.py): a large one is scanned as it is read, never held whole.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sealer.errors import BadInput
from sealer.scan import contents
from sealer.scan.contents import Piece, Skip

if TYPE_CHECKING:
    from sealer.scan.blobs import Wanted

_GITLINK = "160000"
BLOCK = 1 << 20


class Candidate(NamedTuple):
    """A file to scan: its bytes, the reason it is skipped, or (`source`) where to read it.

    Files on disk are listed first (lstat only) and read by the worker that scans them, so the
    reading is spread over the cores too. `size` is what lstat said: how the work is cut up.
    """

    path: str  # as reported: given, or relative to the repository root
    data: bytes | None
    skipped: str | None = None
    source: str | None = None  # the file to read: neither data nor skipped is set yet
    size: int = 0
    commit: str = ""  # under --history: the commit that brought this blob in
    blocks: Iterator[bytes] | None = None  # a blob streamed from git: read it before the next candidate
    failed: bool = False  # `skipped` because it could not be examined: the scan fails

    @property
    def weight(self) -> int:
        return len(self.data) if self.data is not None else self.size


def _file_problem(info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "symlink"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return None


def listed(path: str, fs_path: str) -> Candidate:
    """The file at `fs_path` to be read later, or skipped for what lstat tells already."""
    try:
        info = os.lstat(fs_path)
    except FileNotFoundError:
        return Candidate(path, None, "deleted")
    if stat.S_ISLNK(info.st_mode):  # never followed; Git commits its target text as the blob
        return _link_target(path, fs_path)
    problem = _file_problem(info)
    if problem:
        return Candidate(path, None, problem)
    return Candidate(path, None, source=fs_path, size=info.st_size)


def _link_target(path: str, fs_path: str) -> Candidate:
    try:
        return Candidate(path, os.fsencode(os.readlink(fs_path)))
    except FileNotFoundError:
        return Candidate(path, None, "deleted")
    except OSError:  # no longer a symlink: read it as whatever it is now
        return Candidate(path, None, source=fs_path)


class Folders:
    """The folder of the last file read, kept open: files listed in order share folders, and
    walking a path one folder at a time (no symlink followed) was most of the system calls a
    small file costs. The descriptor is the folder as it was when opened: a symlink put in its
    place later is not followed either. One per worker, closed when its files are done."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.fd = -1

    def open(self, folder: str) -> int:
        if folder != self.path:
            from sealer import safeopen

            self.close()
            self.fd = safeopen.open_dir(folder)
            self.path = folder
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.path, self.fd = None, -1


def items(candidate: Candidate, chunk: int, folders: Folders | None = None) -> Iterator[Piece | Skip]:
    """What the scanner gets from one candidate: pieces of text, and skips (see contents.py).

    A file on disk is read as it is scanned, later than it was listed (in a worker), so the open
    file is checked again: a symlink put in its place, or in place of a folder on the way, is not
    followed (sealer.safeopen), a FIFO not waited on (O_NONBLOCK), and a file that keeps growing
    while read is not examined."""
    if candidate.data is not None:
        return contents.from_bytes(candidate.path, candidate.data, chunk)
    if candidate.blocks is not None:
        return contents.from_blocks(candidate.path, candidate.blocks, chunk)
    if candidate.source is None:
        return iter([Skip(candidate.path, candidate.skipped or "skipped", not candidate.failed)])
    return _from_disk(candidate.path, candidate.source, chunk, folders)


def _from_disk(path: str, source: str, chunk: int, folders: Folders | None) -> Iterator[Piece | Skip]:
    try:
        fd = _open(source, folders)
    except OSError as err:
        yield _open_problem(path, err)
        return
    try:
        info = os.fstat(fd)
        problem = _file_problem(info)
        if problem:
            yield Skip(path, problem, True)
            return
        grew: list[int] = []
        blocks = _blocks(fd, info.st_size, info.st_size + contents.GROWTH_SLACK, grew)
        yield from contents.from_blocks(path, blocks, chunk)
        if grew:
            yield Skip(path, f"kept growing while read (past {grew[0]} bytes): not examined", False)
    except OSError as err:
        yield Skip(path, f"unreadable ({err.strerror}): not examined", False)
    finally:
        os.close(fd)


def _open(source: str, folders: Folders | None) -> int:
    from sealer import safeopen

    try:
        folder, name = safeopen.split(source)
        dir_fd = folders.open(folder) if folders is not None else safeopen.open_dir(folder)
    except safeopen.Refused:
        raise OSError(errno.ELOOP, "symlink") from None  # a folder on the way swapped for a symlink
    try:
        return os.open(name, safeopen.FILE_FLAGS, dir_fd=dir_fd)
    finally:
        if folders is None:
            os.close(dir_fd)


def _blocks(fd: int, size: int, limit: int, grew: list[int]) -> Iterator[bytes]:
    """The file's bytes in blocks, stopping (and saying so in `grew`) past `limit`. A read asks
    for what fstat said is left and one byte more (a 1 MiB buffer per small file is slow)."""
    got = 0
    while block := os.read(fd, min(BLOCK, max(size + 1 - got, 1))):
        got += len(block)
        if got > limit:
            grew.append(limit)
            return
        yield block


def _open_problem(path: str, err: OSError) -> Skip:
    if err.errno == errno.ENOENT:
        return Skip(path, "deleted", True)
    if err.errno == errno.ELOOP:
        return Skip(path, "symlink", True)
    return Skip(path, f"unreadable ({err.strerror}): not examined", False)


def from_paths(paths: Iterable[str]) -> Iterator[Candidate]:
    """The files named, folders walked in name order. A path that does not exist is bad input."""
    # The folders of an absolute path are the user's choice (resolved); below them, and in a
    # relative path, no symlink is followed (the files there may be an attacker's).
    paths = [_own_folders(given) for given in paths]
    for given in paths:
        if not os.path.lexists(given):
            raise BadInput(f"{given}: no such file or folder")
    return _as_git_holds(list(_from_paths(paths)))


def _as_git_holds(candidates: list[Candidate]) -> Iterator[Candidate]:
    """The candidates, those whose working-tree bytes Git does not commit as their index blobs:
    the hook on a CI runner's checkout (`pre-commit run --all-files`) would read a re-encoding
    (`_rewritten`), and pre-commit leaves an entry flagged assume-unchanged or skip-worktree as
    it is on disk (Git reads neither from there), while its staged blob is what is committed. A
    file a configured clean filter turns into its blob is scanned both ways (`_rewritten`)."""
    held = _index_blobs([c.source for c in candidates if c.source and not os.path.isabs(c.source)])
    wanted = []
    for candidate in candidates:
        sha, beside = (
            held.get(os.path.normpath(candidate.source), ("", True)) if candidate.source else ("", True)
        )
        if beside:
            yield candidate
        if sha:
            from sealer.scan.blobs import Wanted

            wanted.append(Wanted(sha, candidate.path))
    yield from from_blobs(wanted, os.curdir)


_ARGS_BYTES = 64 << 10  # paths named to `ls-files` on its command line, past this the whole index


def _index_blobs(sources: list[str]) -> dict[str, tuple[str, bool]]:
    """Normalised path -> (index blob, whether the working-tree copy is scanned too) of each of
    `sources` (relative paths) that Git re-encodes or runs a clean filter on, or that is flagged
    assume-unchanged (`ls-files -v`: a lowercase tag) or skip-worktree (S)."""
    from sealer.errors import GitError

    if not sources:
        return {}
    named = [os.fsencode(os.path.normpath(source)) for source in sources]
    pathspecs = [os.fsdecode(p) for p in named] if sum(map(len, named)) < _ARGS_BYTES else []
    try:
        out = run_git(["--literal-pathspecs", "ls-files", "-s", "-v", "-z", "--", *pathspecs])
        index: dict[bytes, tuple[bytes, str]] = {}  # path -> (ls-files -v tag, index blob)
        for entry in out.split(b"\0"):
            meta, _, path = entry.partition(b"\t")
            if meta:
                flag, _, blob = meta.split(b" ")[:3]
                index[path] = (flag, blob.decode("ascii"))
        tracked = [path for path in named if path in index]
        rewritten = _rewritten(os.curdir, tracked)
    except GitError:
        return {}  # not in a Git work tree: the files are what there is
    held: dict[str, tuple[str, bool]] = {}
    for path in tracked:
        tag, sha = index[path]
        if tag.islower() or tag == b"S" or path in rewritten.reencoded:
            held[os.fsdecode(path)] = (sha, False)
        elif path in rewritten.filtered:
            held[os.fsdecode(path)] = (sha, True)
    return held


def _own_folders(given: str) -> str:
    if not os.path.isabs(given):
        return given
    folder, name = os.path.split(given.rstrip("/") or "/")
    return os.path.join(os.path.realpath(folder), name)


def _from_paths(paths: list[str]) -> Iterator[Candidate]:
    for given in paths:
        if os.path.isdir(given) and not os.path.islink(given):
            yield from _walk(given)  # a FIFO or socket met on the walk: nothing Git can commit
        else:
            yield _named(listed(_display(given), given))


def _named(candidate: Candidate) -> Candidate:
    """A file named to the scan (the hook names the files being committed) that is a FIFO, socket
    or device: whatever Git commits under that name, the scan did not read it, so it fails."""
    if candidate.skipped != "not a regular file":
        return candidate
    reason = "a FIFO, socket or device, not what Git commits: scan with --staged"
    return candidate._replace(skipped=reason, failed=True)


def _display(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


def _walk(folder: str) -> Iterator[Candidate]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            full = os.path.join(root, name)
            yield listed(_display(full), full)


def run_git(args: list[str], cwd: str | None = None, stdin: bytes | None = None) -> bytes:
    from sealer import git  # only --staged, --all-files and --history need git: the hook starts light

    return git.run_bytes(cwd or ".", *args, stdin=stdin)


def repo_root() -> str:
    from sealer import git
    from sealer.errors import GitError

    try:
        return os.fsdecode(run_git(["rev-parse", "--show-toplevel"]).strip())
    except GitError:
        if git.top_level(Path.cwd(), any_owner=True) is not None:
            raise  # a work tree git refuses for another reason: its own words say which
        raise BadInput(
            f"{os.getcwd()} is not inside a Git work tree: --staged, --all-files and --history read "
            "one (run it there, or give PATHs to scan files)"
        ) from None


def tracked(root: str) -> Iterator[Candidate]:
    """Every file in the index, as it is in the working tree (what pre-commit --all-files runs on).

    A skip-worktree entry (sparse checkout, `update-index --skip-worktree`) is often absent from
    the working tree, yet it is committed as the index has it: then its index blob is scanned, as
    it is for a file the repository has Git re-encode on checkout, and beside the working-tree
    copy of a file a configured clean filter rewrites (`_rewritten`)."""
    from sealer.scan.blobs import Wanted

    from_index: list[Wanted] = []
    entries = [entry for entry in run_git(["ls-files", "-s", "-t", "-z"], cwd=root).split(b"\0") if entry]
    rewritten = _rewritten(root, [entry.partition(b"\t")[2] for entry in entries])
    for entry in entries:
        meta, _, raw_path = entry.partition(b"\t")
        tag, mode, sha = meta.decode("ascii").split(" ")[:3]
        path = os.fsdecode(raw_path)
        if mode == _GITLINK:
            yield Candidate(path, None, "submodule")
            continue
        if raw_path in rewritten.reencoded or raw_path in rewritten.filtered:
            from_index.append(Wanted(sha, path))
            if raw_path in rewritten.reencoded:
                continue
        candidate = listed(path, os.path.join(root, path))
        if tag == "S" and candidate.skipped == "deleted":
            from_index.append(Wanted(sha, path))
        else:
            yield candidate
    yield from from_blobs(from_index, root)


_UNSET = (b"unspecified", b"unset")


class _Rewritten(NamedTuple):
    reencoded: set[bytes]
    filtered: set[bytes]


def _rewritten(root: str, paths: list[bytes]) -> _Rewritten:
    """The paths whose working-tree bytes are not what Git commits, by `.gitattributes`: those a
    `working-tree-encoding` has Git re-encode on checkout (EBCDIC shows no ASCII token at all:
    their index blob is scanned instead), and those with a `filter` whose driver has a clean
    command configured (a decoding one commits a key the working tree shows encoded, while a
    key in a Git LFS file is pushed as the file: both are scanned)."""
    if not paths:
        return _Rewritten(set(), set())
    out = run_git(
        ["check-attr", "-z", "--stdin", "working-tree-encoding", "filter"],
        cwd=root,
        stdin=b"".join(p + b"\0" for p in paths),
    )
    fields = out.split(b"\0")
    said = [(fields[i], fields[i + 1], fields[i + 2]) for i in range(0, len(fields) - 2, 3)]
    reencoded = {
        path for path, name, value in said if name == b"working-tree-encoding" and value not in _UNSET
    }
    drivers = {path: value for path, name, value in said if name == b"filter" and value not in _UNSET}
    if not drivers:
        return _Rewritten(reencoded, set())
    from sealer import git

    cleaning = git.clean_filters(root)
    return _Rewritten(
        reencoded, {path for path, driver in drivers.items() if os.fsdecode(driver) in cleaning}
    )


def staged(root: str) -> Iterator[Candidate]:
    """The staged blobs of added, copied, modified and type-changed files; deletions noted."""
    from sealer.scan.blobs import Wanted

    wanted: list[Wanted] = []
    for meta, path in _staged_entries(root):
        _, new_mode, _, new_sha, status = meta.split(" ")
        if status == "D":
            yield Candidate(path, None, "deleted")
        elif new_mode == _GITLINK:
            yield Candidate(path, None, "submodule")
        else:
            wanted.append(Wanted(new_sha, path))
    yield from from_blobs(wanted, root)


def unnamed_by_hook() -> list[Wanted]:
    """Under pre-commit (run at the top of the work tree): the staged blobs of entries flagged
    skip-worktree or assume-unchanged whose working copy is gone or not a file (read with
    `from_blobs`). pre-commit names only files and symlinks that exist (the hook's `types_or`), so
    it never names them (nor one whose working copy is a folder or a FIFO), yet Git commits them."""
    from sealer.errors import GitError
    from sealer.scan.blobs import Wanted

    try:
        entries = _staged_entries(os.curdir)
    except GitError:
        return []  # not in a Git work tree: nothing is staged
    paths = [path for meta, path in entries if meta[-1] != "D" and meta.split(" ")[1] != _GITLINK]
    held = _index_blobs([path for path in paths if not _hook_names(path)])
    return [Wanted(sha, path) for path, (sha, beside) in held.items() if not beside]


def _hook_names(path: str) -> bool:
    """Whether pre-commit names `path` to the hook: a file or a symlink that exists."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _staged_entries(root: str) -> list[tuple[str, str]]:
    raw = run_git(
        [
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--cached",
            "--raw",
            "-z",
            "--no-abbrev",
            "--no-renames",
            "--diff-filter=ACMDT",
        ],
        cwd=root,
    )
    return list(_raw_entries(raw))


def _raw_entries(raw: bytes) -> Iterator[tuple[str, str]]:
    """(`:old new oldsha newsha status` fields, path) from `git diff --raw -z --no-renames`."""
    fields = raw.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        yield fields[i].decode("ascii").lstrip(":"), os.fsdecode(fields[i + 1])


def from_blobs(wanted: list[Wanted], root: str) -> Iterator[Candidate]:
    """The blobs as candidates, streamed from git in order (see blobs.py): small ones whole, large
    ones as a stream the scanner reads before it asks for the next candidate."""
    from sealer.scan import blobs

    for got in blobs.read(root, wanted):
        path, commit = got.blob.path, got.blob.commit
        if got.problem is not None:
            yield Candidate(path, None, got.problem, commit=commit, failed=True)
        else:
            yield Candidate(path, got.data, size=got.size, commit=commit, blocks=got.blocks)


def select(paths: tuple[str, ...], staged_only: bool, all_files: bool) -> tuple[str, Iterator[Candidate]]:
    """(the folder reported paths are relative to, the candidates) for one of the three sources."""
    if staged_only or all_files:
        root = repo_root()
        return root, staged(root) if staged_only else tracked(root)
    return os.curdir, from_paths(paths)
