"""`sealer scan --history [RANGE]`: every blob reachable in a revision range, each scanned once.

The blob set is what `git rev-list --objects` reaches (so nothing in the range is missed, a key
committed and deleted later included); `git log --raw -m` in commit order names the commit that
first brought each blob in; `git cat-file --batch` streams the blobs, oldest first, a large one
in blocks as it is scanned (blobs.py). A finding is
reported once, at the first commit whose blob holds it, with the file's path, so a baseline
written by a working-tree scan applies to the history as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sealer.errors import BadInput
from sealer.scan import files
from sealer.scan.files import Candidate

_SKIPPED_MODES = {"160000": "submodule"}  # a symlink's blob (its target text) is scanned
_NULL_SHA = "0" * 40


class Blob(NamedTuple):
    sha: str
    path: str
    commit: str


def check_range(revisions: str) -> list[str]:
    """The range as git arguments; ALL means every branch and tag. Options are refused
    (`--output=FILE` would write a file)."""
    if revisions == "ALL":
        return ["--all"]
    if not revisions or revisions.startswith("-") or any(c.isspace() for c in revisions):
        raise BadInput(f"--history: {revisions!r} is not a revision range (like HEAD, main..topic, ALL)")
    return [revisions, "--"]


def blobs(root: str, revisions: str) -> list[Blob]:
    """Each blob reachable in the range once, with the first commit (oldest first) and path that
    brought it in."""
    import threading

    args = check_range(revisions)
    reachable: dict[str, str] = {}
    failed: list[BaseException] = []
    # The two git walks run at once (each mostly waits for git); the thread ends before any fork.
    walker = threading.Thread(target=_collect_reachable, args=(root, args, reachable, failed))
    walker.start()
    try:
        introduced = list(_introduced(root, args))
    finally:
        walker.join()
    if failed:
        raise failed[0]
    seen: dict[str, Blob] = {}
    for blob in introduced:
        if blob.sha in reachable and blob.sha not in seen:
            seen[blob.sha] = blob
    for sha, path in reachable.items():  # not named by any diff (a grafted root): still scanned
        seen.setdefault(sha, Blob(sha, path, ""))
    return list(seen.values())


def _collect_reachable(root: str, args: list[str], into: dict[str, str], failed: list[BaseException]) -> None:
    try:
        into.update(_reachable(root, args))
    except BaseException as err:  # raised again by the caller, in its own thread
        failed.append(err)


def _reachable(root: str, args: list[str]) -> dict[str, str]:
    out = files.run_git(["rev-list", "--objects", "--filter=object:type=blob", *args], cwd=root)
    found: dict[str, str] = {}
    for line in out.split(b"\n"):
        sha, space, path = line.partition(b" ")
        if space:  # commits are listed without a path
            found.setdefault(sha.decode("ascii"), path.decode("utf-8", "surrogateescape"))
    return found


def _introduced(root: str, args: list[str]) -> Iterator[Blob]:
    """(blob, path, commit) for every blob a commit added or changed, oldest commit first."""
    out = files.run_git(
        [
            "log",
            "--raw",
            "-z",
            "-m",
            "--no-abbrev",
            "--no-renames",
            "--reverse",
            "--format=%x00commit %H",
            *args,
        ],
        cwd=root,
    )
    tokens = iter(out.split(b"\0"))
    commit = ""
    for token in tokens:
        token = token.lstrip(b"\n")
        if token.startswith(b"commit "):
            commit = token[7:].decode("ascii")
        elif token.startswith(b":"):
            path = next(tokens, b"").decode("utf-8", "surrogateescape")
            _, mode, _, sha, _ = token[1:].decode("ascii").split(" ")
            if sha != _NULL_SHA and mode not in _SKIPPED_MODES:
                yield Blob(sha, path, commit)


def candidates(root: str, found: list[Blob]) -> Iterator[Candidate]:
    """The blobs' bytes, streamed from one `git cat-file --batch` (a large one in blocks)."""
    from sealer.scan.blobs import Wanted

    return files.from_blobs([Wanted(blob.sha, blob.path, blob.commit) for blob in found], root)
