"""One writer per repo at a time: rotate, keys revoke, render, backend set and cert pinning all
take this lock before they write sealer's files. flock dies with its process, so a SIGKILL
never leaves a stale lock. The lock lives in the git directory all worktrees share: a rotation
in one worktree moves the same branches and the same key store as one in another."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from sealer import git
from sealer.errors import BadInput


@contextlib.contextmanager
def hold(git_dir: Path, what: str = "rotation") -> Iterator[None]:
    path = git.common_dir(git_dir) / "sealer.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:  # a read-only checkout, a full disk, a lock that is not a plain file
        raise BadInput(f"cannot take the lock {path}: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, _, holder = os.pread(fd, 64, 0).decode(errors="replace").strip().partition(" ")
            raise BadInput(
                f"another sealer {_printable(holder) or 'command'} is running in this repo "
                f"(pid {_printable(pid) or '?'}); try again when it ends"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}".encode(), 0)
        yield
    finally:
        os.close(fd)


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isalnum() or c in " -")[:32]


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (delivered on exit) while a ref moves and the journal says so."""
    held = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
