"""Scan a large set of files on every core.

Forked workers see the files already read (copy-on-write, nothing is sent to them) and send
their results back pickled on a pipe; this process scans the first share meanwhile. A worker
that fails is not trusted: its share is scanned again here. Below MIN_BYTES a fork costs more
than it saves, so a pre-commit run never forks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
MIN_BYTES = 2 << 20


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shares(weights: Sequence[int], count: int) -> list[range]:
    """Contiguous index ranges with about the same total weight each."""
    total, bounds, acc = sum(weights), [0], 0
    for i, weight in enumerate(weights):
        acc += weight
        if len(bounds) < count and acc >= total * len(bounds) / count and i + 1 < len(weights):
            bounds.append(i + 1)
    bounds.append(len(weights))
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def map_shares(work: Callable[[list[T]], list[R]], items: list[T], weights: Sequence[int],
               workers: int) -> list[R]:
    """`work` over `items` split in `workers` shares, results in item order."""
    if workers <= 1 or sum(weights) < MIN_BYTES or not hasattr(os, "fork"):
        return work(items)
    parts = [items[r.start : r.stop] for r in shares(weights, workers)]
    children = [(_spawn(work, part), part) for part in parts[1:]]
    results = work(parts[0])
    for (pid, fd), part in children:
        got: list[R] | None = _collect(pid, fd, len(part))
        results.extend(got if got is not None else work(part))
    return results


def _spawn(work: Callable[[list[T]], list[R]], part: list[T]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: scan, send, leave without running the parent's cleanup
        status = 1
        try:
            import pickle

            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(work(part), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _collect(pid: int, fd: int, expected: int) -> list[R] | None:
    import pickle

    got: object
    try:
        with os.fdopen(fd, "rb") as pipe:
            got = pickle.load(pipe)
    except (EOFError, pickle.UnpicklingError):
        got = None
    _, status = os.waitpid(pid, 0)
    if status != 0 or not isinstance(got, list) or len(got) != expected:
        return None
    return got
