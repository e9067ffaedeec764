"""Big scans on every core: the same findings as one process, and a failed worker's share redone."""

from __future__ import annotations

import os

import pytest

from sealer import apikey, forkpool
from sealer.scan import rules, scanner, workers
from sealer.scan.files import Candidate


@pytest.mark.parametrize(("weights", "count", "expected"), [
    ([1, 1, 1, 1], 2, [range(0, 2), range(2, 4)]),
    ([10, 1, 1, 1, 1], 2, [range(0, 1), range(1, 5)]),
    ([1, 1, 1], 5, [range(0, 1), range(1, 2), range(2, 3)]),
    ([5], 3, [range(0, 1)]),
    ([], 2, []),
])
def test_shares_balance_by_weight(weights: list[int], count: int, expected: list[range]) -> None:
    assert workers.shares(weights, count) == expected


def corpus(n: int) -> list[Candidate]:
    filler = b"replicas: 3\nname: orders\n" * 400
    def text(i: int) -> bytes:
        return filler + (f"apiKey: {apikey.generate('dev')}\n".encode() if i % 3 == 0 else b"")

    return [Candidate(f"f{i}.yaml", text(i)) for i in range(n)] + [Candidate("bin.dat", None, "binary")]


def test_parallel_scan_equals_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = rules.load()
    files = corpus(30)
    one = scanner.run(files, policy, workers=1)
    monkeypatch.setattr(workers, "MIN_BYTES", 1)
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)  # servers of other tests run threads
    seen_here: list[str] = []  # a worker's appends stay in the worker

    def spy(part: list[Candidate], policy: rules.Policy) -> list[scanner.Outcome]:
        seen_here.extend(c.path for c in part)
        return real(part, policy)

    real = scanner._scan_part
    monkeypatch.setattr(scanner, "_scan_part", spy)
    three = scanner.run(files, policy, workers=3)
    assert three == one
    assert len(one.findings) == 10 and one.skipped == [("bin.dat", "binary")]
    assert 0 < len(seen_here) < len(files)  # this process scanned its share only


def test_a_failed_worker_share_is_redone_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MIN_BYTES", 1)
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)
    parent = os.getpid()

    def work(items: list[int]) -> list[int]:
        if os.getpid() != parent:
            raise RuntimeError("worker crashed")
        return [i * 2 for i in items]

    assert workers.map_shares(work, list(range(10)), [1] * 10, 3) == [i * 2 for i in range(10)]


def test_small_scans_never_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    assert workers.map_shares(lambda xs: [x + 1 for x in xs], [1, 2], [100, 100], 4) == [2, 3]
