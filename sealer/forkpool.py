"""Run work on every core with forked workers.

Threads barely help sealer: cryptography holds the GIL for most of an RSA operation, and
scanning is pure Python. Forked workers inherit what this process already loaded (keys,
compiled rules, file contents) and send their results back pickled on a pipe, while this
process works on the first share. A worker that fails is not trusted: its share is redone here.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Forking a process with other threads can copy a lock one of them holds: stay in-process."""
    threading = sys.modules.get("threading")  # never imported: no Python thread was started
    return hasattr(os, "fork") and (threading is None or threading.active_count() == 1)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: for work that makes tens of thousands of objects that
    live to its end and almost no reference cycles (a 5,000-key rotation: ~500 objects freed by
    the collector, ~40 ms of its passes over everything else). Nests; workers forked inside
    inherit the pause."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def run_shares(work: Callable[[Sequence[T]], list[R]], shares: Sequence[Sequence[T]]) -> list[R]:
    """`work` over each share, results concatenated in share order."""
    if len(shares) < 2 or not can_fork():
        return [result for share in shares for result in work(share)]
    gc.freeze()  # the collector leaves inherited objects alone: fewer pages copied on write
    children: list[tuple[tuple[int, int], Sequence[T]]] = []
    try:
        children = [(_spawn(work, share), share) for share in shares[1:]]
        results = work(shares[0])
        while children:
            (pid, read_fd), share = children.pop(0)
            got: list[R] | None = _collect(pid, read_fd, len(share))
            results.extend(got if got is not None else work(share))
    finally:
        gc.unfreeze()
        for (pid, read_fd), _share in children:  # this process failed: their work is moot
            _stop(pid, read_fd)
    return results


def _stop(pid: int, read_fd: int) -> None:
    import signal

    os.close(read_fd)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def _spawn(work: Callable[[Sequence[T]], list[R]], share: Sequence[T]) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: work, send, leave without running the parent's cleanup
        status = 1
        try:
            import pickle

            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as pipe:
                pickle.dump(work(share), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _collect(pid: int, read_fd: int, expected: int) -> list[R] | None:
    import pickle

    got: object
    try:
        with os.fdopen(read_fd, "rb") as pipe:
            got = pickle.load(pipe)
    except (EOFError, pickle.UnpicklingError):
        got = None
    _, status = os.waitpid(pid, 0)
    if status != 0 or not isinstance(got, list) or len(got) != expected:
        return None
    return got


def split(items: Sequence[T], workers: int) -> list[Sequence[T]]:
    """`items` in `workers` contiguous shares of near-equal length (order kept when joined)."""
    workers = max(1, min(workers, len(items)))
    size, extra = divmod(len(items), workers)
    shares, start = [], 0
    for index in range(workers):
        end = start + size + (index < extra)
        shares.append(items[start:end])
        start = end
    return shares


MAX_CHUNKS = 255  # a queue holds one byte per chunk
CHUNKS_PER_WORKER = 16  # the last chunk to finish is what one process waits for at the end


def run_queued(work: Callable[[Sequence[T]], list[R]], items: Sequence[T], workers: int) -> list[R]:
    """`work` (one result per item) over `items` on `workers` processes that each take the next
    chunk from a shared queue when done with one, so they finish together even when another
    program slows one core down; results in item order. A failed worker's chunks are redone here."""
    chunks = split(items, min(workers * CHUNKS_PER_WORKER, MAX_CHUNKS))
    if workers < 2 or len(chunks) < 2 or not can_fork():
        return work(items)
    tickets = queue(len(chunks))

    def take(_: Sequence[None]) -> list[list[tuple[int, list[R]]]]:
        return [[(i, work(chunks[i])) for i in taken(tickets)]]  # one result per (dummy) item

    try:
        done = dict(pair for got in run_shares(take, [[None]] * workers) for pair in got)
    finally:
        os.close(tickets)
    return [result for i, chunk in enumerate(chunks) for result in (done[i] if i in done else work(chunk))]


def queue(count: int) -> int:
    """The read end of a pipe holding one byte per chunk, written in full and closed for writing
    before any fork: a one-byte read is a whole ticket, and an empty pipe reads as the end."""
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, bytes(range(count)))  # a pipe holds 64 KiB: nothing blocks
    finally:
        os.close(write_fd)
    return read_fd


def taken(tickets: int) -> Iterator[int]:
    while ticket := os.read(tickets, 1):
        yield ticket[0]
