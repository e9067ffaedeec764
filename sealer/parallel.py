"""Seal many values on every core.

cryptography holds the GIL for most of an RSA public-key operation, so threads barely help;
forked workers (which inherit the loaded key) do. Each worker returns base64 lines on a pipe.
A worker that fails is not trusted: its share is sealed again in this process.
"""

from __future__ import annotations

import base64
import gc
import os
import sys
from collections.abc import Callable, Sequence

# Below this many values a fork costs more than it saves.
MIN_PER_WORKER = 256


def _b64(seal: Callable[[bytes], bytes], values: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(seal(v)).decode("ascii") for v in values]


def _spawn(seal: Callable[[bytes], bytes], values: Sequence[bytes]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: seal, write, leave without running the parent's cleanup
        status = 1
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "w") as pipe:
                pipe.write("\n".join(_b64(seal, values)))
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _collect(pid: int, read_fd: int, expected: int) -> list[str] | None:
    with os.fdopen(read_fd) as pipe:
        lines = pipe.read().split("\n")
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(lines) != expected:
        return None
    return lines


def _has_threads() -> bool:
    """Forking a process with other threads can copy a lock one of them holds; stay in-process."""
    threading = sys.modules.get("threading")  # never imported: no Python thread was started
    return threading is not None and threading.active_count() > 1


def seal_all(
    seal: Callable[[bytes], bytes], values: Sequence[bytes], workers: int | None = None
) -> list[str]:
    """`seal` applied to every value, base64-encoded, in order."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    workers = max(1, min(workers, len(values) // MIN_PER_WORKER))
    if workers == 1 or not hasattr(os, "fork") or _has_threads():
        return _b64(seal, values)
    size = -(-len(values) // workers)
    chunks = [values[i : i + size] for i in range(0, len(values), size)]
    gc.freeze()  # the collector leaves inherited objects alone: fewer pages copied on write
    try:
        children = [(_spawn(seal, chunk), chunk) for chunk in chunks[1:]]
        result = _b64(seal, chunks[0])
        for (pid, read_fd), chunk in children:
            lines = _collect(pid, read_fd, len(chunk))
            result.extend(lines if lines is not None else _b64(seal, chunk))
    finally:
        gc.unfreeze()
    return result
