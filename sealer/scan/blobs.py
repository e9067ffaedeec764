"""Blob contents from one `git cat-file --batch`, streamed blob by blob.

A blob up to STREAM_BYTES is read whole (the scanner batches many small ones and shares them
over the cores); a larger one is handed over as a one-shot stream of bounded blocks that the
scanner reads as it scans (contents.from_blocks), so no blob is ever held whole. Whatever of it
the scanner left unread is skipped before the next header. A blob git cannot produce (missing
in a partial clone, a damaged object) counts as not examined.

The blob ids reach git from a temporary file, not from a thread writing them into its pipe: a
thread blocked there (git waits on its full output while a batch is scanned) would keep the
scanner from forking its workers (forkpool.can_fork), and the batch would run on one core.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from sealer.errors import BadInput
from sealer.git import GIT, environment

STREAM_BYTES = 4 << 20
BLOCK = 1 << 20


class Wanted(NamedTuple):
    sha: str
    path: str
    commit: str = ""  # under --history: the commit that brought the blob in


class Read(NamedTuple):
    """One blob: its bytes (`data`), a one-shot stream of them (`blocks`), or why not (`problem`)."""

    blob: Wanted
    data: bytes | None
    blocks: Iterator[bytes] | None = None
    size: int = 0
    problem: str | None = None


def read(root: str, wanted: Iterable[Wanted]) -> Iterator[Read]:
    """Each blob in order. A stream must be read (or dropped) before the next blob is asked
    for: they share git's output."""
    wanted = list(wanted)
    if not wanted:
        return
    with tempfile.TemporaryFile() as ids:  # blob ids only; a file, not a feeder thread (see below)
        ids.write("".join(f"{blob.sha}\n" for blob in wanted).encode())
        ids.seek(0)
        proc = subprocess.Popen(
            [*GIT, "cat-file", "--batch"],
            cwd=root,
            stdin=ids,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=environment(),
        )
    assert proc.stdout is not None
    out = proc.stdout
    try:
        for blob in wanted:
            header = out.readline().split()
            if len(header) == 2 and header[1] == b"missing":
                yield Read(blob, None, problem=f"blob {blob.sha} missing from the repository: not examined")
                continue
            if len(header) != 3 or header[1] != b"blob":
                raise BadInput(f"git cat-file: cannot read blob {blob.sha} ({blob.path})")
            size = int(header[2])
            if size <= STREAM_BYTES:
                yield Read(blob, _exactly(out, size, blob), size=size)
            else:
                stream = _Stream(out, size, blob)
                yield Read(blob, None, stream.blocks(), size)
                stream.skip_rest()
            out.read(1)  # the newline after each object
    finally:
        out.close()
        proc.wait()


def _exactly(out: IO[bytes], size: int, blob: Wanted) -> bytes:
    data = out.read(size)
    if len(data) != size:
        raise BadInput(f"git cat-file: blob {blob.sha} ({blob.path}) cut short")
    return data


class _Stream:
    """One blob's bytes in blocks of at most BLOCK, straight from git's output."""

    def __init__(self, out: IO[bytes], size: int, blob: Wanted) -> None:
        self.out, self.left, self.blob = out, size, blob

    def blocks(self) -> Iterator[bytes]:
        while self.left:
            yield self._next()

    def skip_rest(self) -> None:
        while self.left:
            self._next()

    def _next(self) -> bytes:
        block = _exactly(self.out, min(self.left, BLOCK), self.blob)
        self.left -= len(block)
        return block
