"""Every read and write of a file in a sealer-managed repo (or a file a user hands in) goes
through here, so the rules for handling files an attacker may have written live in one place.

Reads: `read_bytes`/`read_text` (OSError propagates, for callers that treat a missing file as
data), `read_text_if_exists`, `read_input` (any failure is one BadInput line), `load_yaml`.
Writes: `write` replaces a file atomically (temp file, fsync, rename); `write_unsynced` +
`sync` are the batch form a rotation uses (see sealer.atomic).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sealer.errors import BadInput

# sealer.atomic (tempfile) and sealer.yamlio (PyYAML) load on first use: the pre-commit hook reads
# files here and writes none, so it starts without them.


def read_bytes(path: str | Path) -> bytes:
    return Path(path).read_bytes()


def read_text(path: str | Path) -> str:
    """The file as UTF-8 text (newlines translated, as Python's text mode reads them)."""
    return Path(path).read_text(encoding="utf-8")


def read_text_if_exists(path: str | Path) -> str | None:
    try:
        return read_text(path)
    except FileNotFoundError:
        return None


def read_input(path: str | Path, what: str = "file") -> bytes:
    """The bytes of a file the command needs; a file it cannot read is one BadInput line."""
    try:
        return read_bytes(path)
    except OSError as err:
        raise BadInput(f"cannot read {what} {path}: {err.strerror or err}") from None


def load_yaml(path: str | Path) -> list[Any]:
    """Every non-empty YAML document of the file (safe loading; see yamlio.load_documents)."""
    from sealer import yamlio

    return yamlio.load_documents(read_bytes(path), str(path))


def write(path: str | Path, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one step; a failure leaves the old file as it was."""
    from sealer import atomic

    atomic.write_atomic(path, data, mode)


def write_unsynced(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Create `path` afresh, not yet durable: call `sync` before relying on it."""
    from sealer import atomic

    atomic.write_unsynced(path, data, mode)


def sync(folder: Path) -> None:
    """Make every write to the file system holding `folder` durable."""
    from sealer import atomic

    atomic.sync_filesystem(folder)
