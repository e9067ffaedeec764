"""One pre-commit run of the `sealer-scan` hook, however many batches it is run in.

pre-commit splits the staged files into batches, one `sealer scan` process each (at least one
per core), all children of the one pre-commit process. What no batch is named
(`files.unnamed_by_hook`) is the same in each: only the batch that claims the run first reports
it, so its findings are not printed once per batch.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

_MARK = "sealer-hook-run-"
_STALE_SECONDS = 86400


def claim(entry: str = "") -> bool:
    """True for the first batch of this run of the hook entry `entry` (its options: two entries
    of one config each report) and whenever that cannot be told: a finding printed twice beats
    one printed never."""
    from sealer import git
    from sealer.errors import GitError

    try:
        folder = git.git_dir(Path(os.curdir))
        mark = folder / (_MARK + _run_id(folder, entry))
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    except (OSError, GitError):
        return True
    _prune(folder)
    return True


def _run_id(git_dir: Path, entry: str) -> str:
    """pre-commit's process (pid, and its start where /proc tells it: a pid is reused) over the
    index as it is now: a later commit is another process, and a retry another pid."""
    parent = os.getppid()
    index = os.stat(os.environ.get("GIT_INDEX_FILE") or git_dir / "index")
    key = f"{parent} {_started(parent)} {index.st_ino} {index.st_size} {index.st_mtime_ns} {entry}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _started(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[19].decode("ascii")  # field 22: starttime
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def _prune(git_dir: Path) -> None:
    """Marks of runs over a day old: a run lasts seconds."""
    for old in git_dir.glob(_MARK + "*"):
        try:
            if time.time() - old.lstat().st_mtime > _STALE_SECONDS:
                old.unlink()
        except OSError:
            pass
