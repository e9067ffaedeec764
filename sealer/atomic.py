"""Durability for a batch of writes: one file-system sync instead of an fsync a file.

The writes themselves (temp file, fsync, rename; no symlink followed) are sealer.repofiles'.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealer.errors import BadInput


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
