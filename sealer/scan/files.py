"""Which files a scan reads, and the reason for each one it does not.

Three sources: paths given (folders are walked, `.git` left out), the staged set (`--staged`:
the blobs in the index, which is what a commit will hold, not the working tree), and every
tracked file (`--all-files`). Symlinks, submodules, deleted, binary, oversized and non-UTF-8
files are skipped with a reason (`sealer scan -v` prints them).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from sealer.errors import BadInput

BINARY_SNIFF = 8000  # git's own heuristic: a NUL byte in the first 8000 bytes means binary
_SYMLINK, _GITLINK = "120000", "160000"


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

    @property
    def weight(self) -> int:
        return len(self.data) if self.data is not None else self.size


def text_problem(data: bytes) -> str | None:
    """Why `data` is not text sealer scans, or None."""
    if b"\0" in data[:BINARY_SNIFF]:
        return "binary"
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "not UTF-8 text"
    return None


def _checked(path: str, data: bytes) -> Candidate:
    problem = text_problem(data)
    return Candidate(path, None, problem) if problem else Candidate(path, data)


def _too_big(size: int, limit: int) -> str:
    return f"over the size limit ({size} > {limit} bytes)"


def _file_problem(info: os.stat_result, limit: int) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "symlink"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > limit:
        return _too_big(info.st_size, limit)
    return None


def listed(path: str, fs_path: str, limit: int) -> Candidate:
    """The file at `fs_path` to be read later, or skipped for what lstat tells already."""
    try:
        info = os.lstat(fs_path)
    except FileNotFoundError:
        return Candidate(path, None, "deleted")
    problem = _file_problem(info, limit)
    if problem:
        return Candidate(path, None, problem)
    return Candidate(path, None, source=fs_path, size=info.st_size)


def read(candidate: Candidate, limit: int) -> Candidate:
    """A listed candidate with its bytes, or skipped. It is read later than it was listed (in a
    worker), so the open file is checked again: a symlink put in its place, or in place of a
    folder on the way, is not followed (sealer.safeopen), a FIFO not waited on (O_NONBLOCK), a
    file grown past the limit not scanned."""
    if candidate.source is None:
        return candidate
    path = candidate.path
    try:
        fd = _open(candidate.source)
    except OSError as err:
        return Candidate(path, None, _open_problem(err))
    try:
        data = _read_open(fd, limit)
    except OSError as err:
        return Candidate(path, None, f"unreadable ({err.strerror})")
    finally:
        os.close(fd)
    return Candidate(path, None, data) if isinstance(data, str) else _checked(path, data)


def _open(source: str) -> int:
    from sealer import safeopen

    try:
        folder, name = safeopen.split(source)
        dir_fd = safeopen.open_dir(folder)
    except safeopen.Refused:
        raise OSError(errno.ELOOP, "symlink") from None  # a folder on the way swapped for a symlink
    try:
        return os.open(name, safeopen.FILE_FLAGS, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def _open_problem(err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "deleted"
    return "symlink" if err.errno == errno.ELOOP else f"unreadable ({err.strerror})"


def _read_open(fd: int, limit: int) -> bytes | str:
    """The bytes of the open file, or why it is skipped."""
    info = os.fstat(fd)
    problem = _file_problem(info, limit)
    if problem:
        return problem
    data = os.read(fd, info.st_size + 1)  # one call: a byte more than fstat said tells it grew
    if len(data) > info.st_size:
        with open(fd, "rb", closefd=False) as handle:
            data += handle.read()
    return _too_big(len(data), limit) if len(data) > limit else data


def from_paths(paths: Iterable[str], limit: int) -> Iterator[Candidate]:
    """The files named, folders walked in name order. A path that does not exist is bad input."""
    # The folders of an absolute path are the user's choice (resolved); below them, and in a
    # relative path, no symlink is followed (the files there may be an attacker's).
    paths = [_own_folders(given) for given in paths]
    for given in paths:
        if not os.path.lexists(given):
            raise BadInput(f"{given}: no such file or folder")
    return _from_paths(paths, limit)


def _own_folders(given: str) -> str:
    if not os.path.isabs(given):
        return given
    folder, name = os.path.split(given.rstrip("/") or "/")
    return os.path.join(os.path.realpath(folder), name)


def _from_paths(paths: list[str], limit: int) -> Iterator[Candidate]:
    for given in paths:
        if os.path.isdir(given) and not os.path.islink(given):
            yield from _walk(given, limit)
        else:
            yield listed(_display(given), given, limit)


def _display(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


def _walk(folder: str, limit: int) -> Iterator[Candidate]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            full = os.path.join(root, name)
            yield listed(_display(full), full, limit)


def _git(args: list[str], cwd: str | None = None, stdin: bytes | None = None) -> bytes:
    from sealer import git  # only --staged and --all-files need git: the hook's start stays light

    return git.run_bytes(cwd or ".", *args, stdin=stdin)


def repo_root() -> str:
    return os.fsdecode(_git(["rev-parse", "--show-toplevel"]).strip())


def tracked(root: str, limit: int) -> Iterator[Candidate]:
    """Every file in the index, as it is in the working tree (what pre-commit --all-files runs on)."""
    for entry in _git(["ls-files", "-s", "-z"], cwd=root).split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        path = os.fsdecode(raw_path)
        if meta.split(b" ")[0].decode() == _GITLINK:
            yield Candidate(path, None, "submodule")
        else:
            yield listed(path, os.path.join(root, path), limit)


def staged(root: str, limit: int) -> Iterator[Candidate]:
    """The staged blobs of added, copied, modified and type-changed files; deletions noted."""
    raw = _git(
        ["diff", "--cached", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-filter=ACMDT"], cwd=root
    )
    blobs: list[tuple[str, str]] = []
    for meta, path in _raw_entries(raw):
        _, new_mode, _, new_sha, status = meta.split(" ")
        if status == "D":
            yield Candidate(path, None, "deleted")
        elif new_mode == _SYMLINK:
            yield Candidate(path, None, "symlink")
        elif new_mode == _GITLINK:
            yield Candidate(path, None, "submodule")
        else:
            blobs.append((path, new_sha))
    yield from _read_blobs(blobs, root, limit)


def _raw_entries(raw: bytes) -> Iterator[tuple[str, str]]:
    """(`:old new oldsha newsha status` fields, path) from `git diff --raw -z --no-renames`."""
    fields = raw.split(b"\0")
    for i in range(0, len(fields) - 1, 2):
        yield fields[i].decode("ascii").lstrip(":"), os.fsdecode(fields[i + 1])


def _read_blobs(blobs: list[tuple[str, str]], root: str, limit: int) -> Iterator[Candidate]:
    if not blobs:
        return
    sizes = _git(
        ["cat-file", "--batch-check=%(objectsize)"],
        cwd=root,
        stdin="".join(f"{sha}\n" for _, sha in blobs).encode(),
    ).split()
    wanted = []
    for (path, sha), size_text in zip(blobs, sizes, strict=True):
        if int(size_text) > limit:
            yield Candidate(path, None, _too_big(int(size_text), limit))
        else:
            wanted.append((path, sha))
    if not wanted:
        return
    out = _git(["cat-file", "--batch"], cwd=root, stdin="".join(f"{sha}\n" for _, sha in wanted).encode())
    at = 0
    for path, _ in wanted:
        header_end = out.index(b"\n", at)
        length = int(out[at:header_end].split(b" ")[2])
        yield _checked(path, out[header_end + 1 : header_end + 1 + length])
        at = header_end + 1 + length + 1


def select(
    paths: tuple[str, ...], staged_only: bool, all_files: bool, limit: int
) -> tuple[str, Iterator[Candidate]]:
    """(the folder reported paths are relative to, the candidates) for one of the three sources."""
    if staged_only or all_files:
        root = repo_root()
        return root, staged(root, limit) if staged_only else tracked(root, limit)
    return os.curdir, from_paths(paths, limit)
