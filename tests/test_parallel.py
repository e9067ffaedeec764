from __future__ import annotations

import base64
import os

import pytest

from sealer import forkpool, parallel


def tagged(value: bytes) -> bytes:
    """A stand-in for sealing that shows which process did the work."""
    return value + b"|" + str(os.getpid()).encode()


def opened(lines: list[str]) -> list[tuple[bytes, int]]:
    result = []
    for line in lines:
        value, _, pid = base64.b64decode(line).rpartition(b"|")
        result.append((value, int(pid)))
    return result


VALUES = [f"v{i}".encode() for i in range(parallel.MIN_PER_WORKER * 3 + 7)]


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers other tests leave running on threads would keep seal_all from forking."""
    monkeypatch.setattr(forkpool, "can_fork", lambda: True)


def test_workers_share_the_work_and_order_is_kept(no_threads: None) -> None:
    result = opened(parallel.seal_all(tagged, VALUES, workers=3))
    assert [value for value, _ in result] == VALUES
    pids = {pid for _, pid in result}
    assert len(pids) == 3 and os.getpid() in pids


def test_small_inputs_stay_in_this_process() -> None:
    values = VALUES[: parallel.MIN_PER_WORKER * 2 - 1]
    result = opened(parallel.seal_all(tagged, values, workers=4))
    assert {pid for _, pid in result} == {os.getpid()}
    assert parallel.seal_all(tagged, [], workers=4) == []


def test_a_failing_worker_is_not_trusted_and_its_share_is_redone_here(no_threads: None) -> None:
    parent = os.getpid()

    def fails_in_workers(value: bytes) -> bytes:
        if os.getpid() != parent:
            raise RuntimeError("worker broke")
        return tagged(value)

    result = opened(parallel.seal_all(fails_in_workers, VALUES, workers=3))
    assert [value for value, _ in result] == VALUES
    assert {pid for _, pid in result} == {parent}


def test_an_error_in_this_process_propagates(no_threads: None) -> None:
    def broken(value: bytes) -> bytes:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        parallel.seal_all(broken, VALUES, workers=2)


def test_a_process_with_threads_does_not_fork() -> None:
    import threading

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        result = opened(parallel.seal_all(tagged, VALUES, workers=3))
    finally:
        release.set()
        thread.join()
    assert {pid for _, pid in result} == {os.getpid()}
    assert [value for value, _ in result] == VALUES
