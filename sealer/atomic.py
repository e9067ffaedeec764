"""Writes that never leave a file half-written: temp file in the same folder, fsync, rename.

`write_unsynced` + `sync_filesystem` are the batch form for callers that write many temps and
rename them themselves (a rotation): one file-system sync instead of an fsync a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sealer.errors import BadInput


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step; a failure leaves the old file as it was.

    An unwritable target (missing folder, no permission) is a BadInput naming the path, and so
    is one that is no regular file (a device, FIFO or socket, or a symlink to one):
    `-w /dev/stdout` or `-w /dev/full` must not replace the device node with a file.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _refuse_special(path)
        _replace(path, payload, mode)
        _fsync_dir(path.parent)
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}") from None


def _refuse_special(path: Path) -> None:
    """A target that exists and is no regular file, folder or symlink to one is not sealer's
    to replace (a dangling symlink or one to a file is replaced by the rename, never followed)."""
    import stat

    try:
        found = path.lstat()
        if stat.S_ISLNK(found.st_mode):
            found = path.stat()
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(found.st_mode) or stat.S_ISDIR(found.st_mode)):  # a folder fails in the rename
        raise BadInput(
            f"cannot write {path}: not a regular file (a device, FIFO or socket is never replaced)"
        )


def _replace(path: Path, payload: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # before any byte lands: secrets never world-readable
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_unsynced(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Create `path` afresh with `data`, not yet durable: call `sync_filesystem` before relying
    on it. Whatever was at `path` is removed first, so a planted symlink is never followed."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)  # the umask must not widen or narrow what the caller asked for
            handle.write(payload)
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}") from None


def sync_filesystem(folder: Path) -> None:
    """Make every write to the file system holding `folder` durable: syncfs(2) where the C
    library has it (Linux), sync(2) elsewhere."""
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        os.sync()
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as err:
        raise BadInput(f"cannot write {folder}: {err.strerror or err}") from None
    try:
        if syncfs(fd) != 0:
            raise BadInput(f"cannot write {folder}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)
