"""Big scans on every core: the same findings as one process, and a failed worker's chunks redone."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealer import apikey, forkpool
from sealer.scan import files as sealer_files
from sealer.scan import rules, scanner, workers
from sealer.scan.files import Candidate


@pytest.mark.parametrize(
    ("weights", "count", "expected"),
    [
        ([1, 1, 1, 1], 2, [range(0, 2), range(2, 4)]),
        ([10, 1, 1, 1, 1], 2, [range(0, 1), range(1, 5)]),
        ([1, 1, 1], 5, [range(0, 1), range(1, 2), range(2, 3)]),
        ([5], 3, [range(0, 1)]),
        ([], 2, []),
    ],
)
def test_shares_balance_by_weight(weights: list[int], count: int, expected: list[range]) -> None:
    assert workers.shares(weights, count) == expected


def corpus(n: int) -> list[Candidate]:
    filler = b"replicas: 3\nname: orders\n" * 400

    def text(i: int) -> bytes:
        return filler + (f"apiKey: {apikey.generate('dev')}\n".encode() if i % 3 == 0 else b"")

    return [Candidate(f"f{i}.yaml", text(i)) for i in range(n)] + [Candidate("link", None, "symlink")]


class HoldUntilAWorkerTakes:
    """Called at the start of every chunk: this process waits at its first one until a worker has
    taken a chunk, so what a test sees does not depend on how fast the workers start."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.read_fd, self.write_fd = os.pipe()
        self.held = False

    def __call__(self) -> None:
        if os.getpid() != self.parent:
            os.write(self.write_fd, b"t")
        elif not self.held:
            self.held = True
            assert select.select([self.read_fd], [], [], 60)[0], "no worker took a chunk"


@pytest.fixture()
def forking(monkeypatch: pytest.MonkeyPatch) -> Iterator[HoldUntilAWorkerTakes]:
    monkeypatch.setattr(workers, "MIN_BYTES", 1)
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)  # servers of other tests run threads
    hold = HoldUntilAWorkerTakes()
    yield hold
    os.close(hold.read_fd)
    os.close(hold.write_fd)


def spied_scan_part(monkeypatch: pytest.MonkeyPatch, hold: HoldUntilAWorkerTakes) -> list[str]:
    """The paths this process scans (a worker's appends stay in the worker)."""
    seen_here: list[str] = []
    real = scanner._scan_part

    def spy(part: list[Candidate], policy: rules.Policy) -> list[scanner.Outcome]:
        hold()
        seen_here.extend(c.path for c in part)
        return real(part, policy)

    monkeypatch.setattr(scanner, "_scan_part", spy)
    return seen_here


def test_parallel_scan_equals_sequential(
    monkeypatch: pytest.MonkeyPatch, forking: HoldUntilAWorkerTakes
) -> None:
    policy = rules.load()
    files = corpus(30)
    one = scanner.run(files, policy, workers=1)
    seen_here = spied_scan_part(monkeypatch, forking)
    three = scanner.run(files, policy, workers=3)
    assert three == one
    assert len(one.findings) == 10 and one.skipped == [("link", "symlink")]
    # Workers scanned some chunks (this process waits at its first until one has taken one); this
    # process may get none at all when the workers take every chunk before it asks.
    assert len(seen_here) < len(files)


def test_workers_read_the_files_they_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forking: HoldUntilAWorkerTakes
) -> None:
    for candidate in corpus(12):
        if candidate.data is None:
            (tmp_path / candidate.path).write_bytes(b"\x89PNG\r\n\x1a\n\0image")
        else:
            (tmp_path / candidate.path).write_bytes(candidate.data)
    policy = rules.load()
    listed = list(sealer_files.from_paths([str(tmp_path)]))
    one = scanner.run(listed, policy, workers=1)
    seen_here = spied_scan_part(monkeypatch, forking)
    two = scanner.run(listed, policy, workers=2)
    assert two == one
    assert len(one.findings) == 4 and [reason for _, reason in one.skipped] == [
        "PNG image: not decoded, raw bytes scanned (media, told by content)"
    ]
    assert one.size == sum(c.size for c in listed)  # an image's raw bytes are scanned too
    assert len(seen_here) < len(listed)


def test_chunks_a_failed_worker_took_are_redone_here(forking: HoldUntilAWorkerTakes) -> None:
    done_here: list[int] = []

    def work(items: list[int]) -> list[int]:
        forking()
        if os.getpid() != forking.parent:
            raise RuntimeError("worker crashed")
        done_here.extend(items)
        return [i * 2 for i in items]

    assert workers.map_shares(work, list(range(10)), [1] * 10, 3) == [i * 2 for i in range(10)]
    assert sorted(done_here) == list(range(10))


def test_small_scans_never_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    assert workers.map_shares(lambda xs: [x + 1 for x in xs], [1, 2], [100, 100], 4) == [2, 3]
