"""Scan a large set of files on every core (see `sealer.forkpool`).

Workers see the files already read (copy-on-write, nothing is sent to them). Below MIN_BYTES a
fork costs more than it saves, so a pre-commit run never forks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sealer import forkpool
from sealer.forkpool import cores

T = TypeVar("T")
R = TypeVar("R")
MIN_BYTES = 2 << 20
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


def map_shares(work: Callable[[list[T]], list[R]], items: list[T], weights: Sequence[int],
               workers: int) -> list[R]:
    """`work` over `items` split in `workers` shares, results in item order."""
    if workers <= 1 or sum(weights) < MIN_BYTES:
        return work(items)
    parts = [items[r.start : r.stop] for r in shares(weights, workers)]
    return forkpool.run_shares(lambda part: work(list(part)), parts)
