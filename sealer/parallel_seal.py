"""Seal many values on every core (see `sealer.forkpool` for why forked workers)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

from sealer import forkpool

# Below this many values a fork costs more than it saves.
MIN_PER_WORKER = 256


def seal_all(
    seal: Callable[[bytes], bytes], values: Sequence[bytes], workers: int | None = None
) -> list[str]:
    """`seal` applied to every value, base64-encoded, in order."""
    workers = max(1, min(workers or forkpool.cores(), len(values) // MIN_PER_WORKER))
    shares = forkpool.split(values, workers)

    def work(share: Sequence[bytes]) -> list[str]:
        return [base64.b64encode(seal(v)).decode("ascii") for v in share]

    return forkpool.run_shares(work, shares)
