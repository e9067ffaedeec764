"""Scan a large set of files on every core (see `sealer.forkpool`).

The files are cut into chunks and every process (this one and the forked workers) takes the next
chunk from a shared queue when it is done with one, so the processes finish together even when
files differ in cost (manifests are parsed, code is not) or another program slows one core down.
A worker reads the files of its chunks itself. Below MIN_BYTES a fork costs more than it saves,
so a pre-commit run never forks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from sealer import forkpool
from sealer.forkpool import cores

T = TypeVar("T")
R = TypeVar("R")
MIN_BYTES = 2 << 20
CHUNKS_PER_WORKER = forkpool.CHUNKS_PER_WORKER
MAX_CHUNKS = forkpool.MAX_CHUNKS
__all__ = ["MIN_BYTES", "cores", "map_shares", "shares"]


def shares(weights: Sequence[int], count: int) -> list[range]:
    """Contiguous index ranges with about the same total weight each."""
    total, bounds, acc = sum(weights), [0], 0
    for i, weight in enumerate(weights):
        acc += weight
        if len(bounds) < count and acc >= total * len(bounds) / count and i + 1 < len(weights):
            bounds.append(i + 1)
    bounds.append(len(weights))
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def map_shares(
    work: Callable[[list[T]], list[R]], items: list[T], weights: Sequence[int], workers: int
) -> list[R]:
    """`work` (one result per item) over `items` on `workers` processes, results in item order."""
    if workers <= 1 or sum(weights) < MIN_BYTES:
        return work(items)
    count = min(workers * CHUNKS_PER_WORKER, MAX_CHUNKS)
    chunks = [items[r.start : r.stop] for r in shares(weights, count)]
    queue = forkpool.queue(len(chunks))

    def take(_: Sequence[None]) -> list[list[tuple[int, list[R]]]]:
        return [[(i, work(chunks[i])) for i in forkpool.taken(queue)]]  # one result per (dummy) item

    try:
        done = dict(pair for got in forkpool.run_shares(take, [[None]] * workers) for pair in got)
    finally:
        os.close(queue)
    # The chunks a failed worker had taken are missing: scanned here.
    return [result for i, chunk in enumerate(chunks) for result in (done[i] if i in done else work(chunk))]
