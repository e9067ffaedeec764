"""Writes that never leave a file half-written: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sealer.errors import BadInput


def write_atomic(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step; a failure leaves the old file as it was.

    An unwritable target (missing folder, no permission) is a BadInput naming the path.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        _replace(path, payload, mode)
        _fsync_dir(path.parent)
    except OSError as err:
        raise BadInput(f"cannot write {path}: {err.strerror or err}") from None


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
