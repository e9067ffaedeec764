from __future__ import annotations

import base64
import gc
import os
import select
from typing import Any

import pytest

from sealer import forkpool, parallel_seal


def tagged(value: bytes) -> bytes:
    """A stand-in for sealing that shows which process did the work."""
    return value + b"|" + str(os.getpid()).encode()


def opened(lines: list[str]) -> list[tuple[bytes, int]]:
    result = []
    for line in lines:
        value, _, pid = base64.b64decode(line).rpartition(b"|")
        result.append((value, int(pid)))
    return result


VALUES = [f"v{i}".encode() for i in range(parallel_seal.MIN_PER_WORKER * 3 + 7)]


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers other tests leave running on threads would keep seal_all from forking."""
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)


def test_workers_share_the_work_and_order_is_kept(no_threads: None) -> None:
    result = opened(parallel_seal.seal_all(tagged, VALUES, workers=3))
    assert [value for value, _ in result] == VALUES
    pids = {pid for _, pid in result}
    assert len(pids) == 3 and os.getpid() in pids


def test_small_inputs_stay_in_this_process() -> None:
    values = VALUES[: parallel_seal.MIN_PER_WORKER * 2 - 1]
    result = opened(parallel_seal.seal_all(tagged, values, workers=4))
    assert {pid for _, pid in result} == {os.getpid()}
    assert parallel_seal.seal_all(tagged, [], workers=4) == []


def test_a_failing_worker_is_not_trusted_and_its_share_is_redone_here(no_threads: None) -> None:
    parent = os.getpid()

    def fails_in_workers(value: bytes) -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("worker broke")
        return tagged(value)

    result = opened(parallel_seal.seal_all(fails_in_workers, VALUES, workers=3))
    assert [value for value, _ in result] == VALUES
    assert {pid for _, pid in result} == {parent}


def test_an_error_in_this_process_propagates(no_threads: None) -> None:
    def broken(value: bytes) -> bytes:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        parallel_seal.seal_all(broken, VALUES, workers=2)


def test_a_process_with_threads_does_not_fork() -> None:
    import threading

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        result = opened(parallel_seal.seal_all(tagged, VALUES, workers=3))
    finally:
        release.set()
        thread.join()
    assert {pid for _, pid in result} == {os.getpid()}
    assert [value for value, _ in result] == VALUES


def test_workers_still_busy_are_stopped_when_this_process_fails(
    no_threads: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    never = os.pipe()  # a worker blocks reading this forever: only a kill ends it
    spawned: list[int] = []
    spawn = forkpool._spawn

    def recorded(*args: Any) -> tuple[int, int]:
        pid, fd = spawn(*args)
        spawned.append(pid)
        return pid, fd

    def work(share: list[int]) -> list[int]:
        if os.getpid() == parent:
            raise ValueError("this process broke")
        os.read(never[0], 1)
        return share

    monkeypatch.setattr(forkpool, "_spawn", recorded)
    with pytest.raises(ValueError, match="this process broke"):
        forkpool.run_shares(work, [[1], [2], [3]])
    assert len(spawned) == 2
    for pid in spawned:  # each was killed and reaped: none is left running
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize("count, workers", [(0, 2), (1, 2), (7, 2), (7, 3), (10, 4), (3, 8), (5, 0)])
def test_split_keeps_order_and_evens_the_shares(count: int, workers: int) -> None:
    items = list(range(count))
    shares = forkpool.split(items, workers)
    assert [i for share in shares for i in share] == items
    assert len(shares) == max(1, min(workers, count))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_queued_work_keeps_order_and_a_failed_workers_chunks_are_redone_here(no_threads: None) -> None:
    parent, items = os.getpid(), list(range(200))
    worker_took, worker_signal = os.pipe()
    parent_took, parent_signal = os.pipe()
    first: list[bool] = []  # per process (copied on fork): did the other side take a chunk too?

    def work(chunk: Any) -> list[tuple[int, int, bool]]:
        # Each process, on its first chunk, says so and waits until the other took one, so that
        # neither can drain the queue alone however the scheduler orders them on a busy machine.
        if not first:
            mine, theirs = (
                (parent_signal, worker_took) if os.getpid() == parent else (worker_signal, parent_took)
            )
            os.write(mine, b"x")
            first.append(bool(select.select([theirs], [], [], 60)[0]))
        return [(item, os.getpid(), first[0]) for item in chunk]

    done = forkpool.run_queued(work, items, 2)
    for fd in (worker_took, worker_signal, parent_took, parent_signal):
        os.close(fd)
    assert [item for item, _, _ in done] == items and len({pid for _, pid, _ in done}) == 2
    assert all(saw_other for _, _, saw_other in done)

    def fails_in_workers(chunk: Any) -> list[tuple[int, int]]:
        if os.getpid() != parent:
            raise RuntimeError("worker broke")
        return [(item, os.getpid()) for item in chunk]

    redone = forkpool.run_queued(fails_in_workers, items, 2)
    assert [item for item, _ in redone] == items and {pid for _, pid in redone} == {parent}


def test_collector_paused_nests_and_restores_the_collector_even_on_an_error() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), forkpool.collector_paused():
        assert not gc.isenabled()
        with forkpool.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the outer one paused
        raise RuntimeError("stop")
    assert gc.isenabled()
    gc.disable()
    try:
        with forkpool.collector_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()
