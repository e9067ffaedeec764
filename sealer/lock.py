"""One writer per repo at a time: rotate, keys revoke, render, backend set and cert pinning all
take this lock before they write sealer's files. flock dies with its process, so a SIGKILL
never leaves a stale lock. The lock lives in the git directory all worktrees share: a rotation
in one worktree moves the same branches and the same key store as one in another."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from sealer import git
from sealer.errors import BadInput

_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# What a git directory the caller cannot write gives: not theirs, read-only, or a read-only mount.
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextlib.contextmanager
def hold(git_dir: Path, what: str = "rotation", reading: bool = False) -> Iterator[Path]:
    """The repository's lock, held exclusively; it yields the common git dir it lives in (for
    `journal.load_here`: one git call less). `reading`: for a command that writes nothing (a
    dry run), which must work in a git directory the caller cannot write (a read-only CI
    workspace, a checkout of another user's): there the lock is held shared when it exists and
    skipped when it cannot be created; a command that holds it still stops the reader."""
    common = git.common_dir(git_dir)
    path = common / "sealer.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _FLAGS, 0o644)
    except OSError as err:  # a read-only checkout, a full disk, a lock that is not a plain file
        if not (reading and err.errno in _NOT_WRITABLE):
            raise BadInput(f"cannot take the lock {path}: {err.strerror or err}") from None
        fd = -1
    if fd == -1:
        with _held_for_reading(path):
            yield common
        return
    try:
        _take(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}".encode(), 0)
        yield common
    finally:
        os.close(fd)


@contextlib.contextmanager
def _held_for_reading(path: Path) -> Iterator[None]:
    """The lock of a git directory this process cannot write, held shared; none when it does not
    exist (no writer of this repository has run, and this one cannot create it)."""
    try:
        fd = os.open(path, os.O_RDONLY | _FLAGS)
    except FileNotFoundError:
        yield
        return
    except OSError as err:
        raise BadInput(f"cannot take the lock {path}: {err.strerror or err}") from None
    try:
        _take(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _take(fd: int, how: int) -> None:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        pid, _, holder = os.pread(fd, 64, 0).decode(errors="replace").strip().partition(" ")
        raise BadInput(
            f"another sealer {_printable(holder) or 'command'} is running in this repo "
            f"(pid {_printable(pid) or '?'}); try again when it ends"
        ) from None


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
