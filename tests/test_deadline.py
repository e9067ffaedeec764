"""sealer.deadline: one request bounded in wall-clock time, and Ctrl-C during a write."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sealer import deadline
from sealer.errors import EXIT_PARTLY_DONE, InterruptedInFlight

_JOIN = threading.Thread.join


class HeldRequest:
    """A store request that starts, then waits for `answered` before it lands."""

    def __init__(self) -> None:
        self.started, self.answered = threading.Event(), threading.Event()
        self.ended: list[str] = []

    def __call__(self) -> str:
        self.started.set()
        self.answered.wait(5)
        self.ended.append("landed")
        return "ok"


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldRequest]:
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 10.0)
    request = HeldRequest()
    yield request
    request.answered.set()  # whatever the test saw: its thread ends


def on_store_wait(
    monkeypatch: pytest.MonkeyPatch, wait: Callable[[threading.Thread, float | None], Any]
) -> None:
    """`Thread.join` as sealer's waits on the store request see it: `wait` for that thread."""

    def join(thread: threading.Thread, timeout: float | None = None) -> Any:
        return wait(thread, timeout) if thread.name == "sealer-store-request" else _JOIN(thread, timeout)

    monkeypatch.setattr(threading.Thread, "join", join)


@pytest.mark.parametrize("writes", [True, False], ids=["write", "read"])
def test_ctrl_c_during_a_write_waits_for_it_to_settle_before_the_undoing(
    monkeypatch: pytest.MonkeyPatch, held: HeldRequest, writes: bool
) -> None:
    """Ctrl-C while a write is on its way: the caller's undoing (a rotation removing what it
    registered) runs next, so the write must have ended first, or it lands after its undoing.
    A read is left behind at once."""
    pressed: list[str] = []

    def ctrl_c_in_the_first_wait(thread: threading.Thread, timeout: float | None) -> Any:
        if pressed:
            return _JOIN(thread, timeout)
        pressed.append("Ctrl-C")
        assert held.started.wait(5)
        if writes:  # its answer comes once Ctrl-C was pressed (a read's after the check below)
            held.answered.set()
        raise KeyboardInterrupt

    on_store_wait(monkeypatch, ctrl_c_in_the_first_wait)
    with pytest.raises(KeyboardInterrupt):
        deadline.request("vault: http://vault", "registering", held, writes)
    assert held.ended == (["landed"] if writes else [])


def test_ctrl_c_waiting_on_a_slow_write_says_so(
    monkeypatch: pytest.MonkeyPatch, held: HeldRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write that does not settle soon after Ctrl-C: one line says why the command has not
    ended yet and how to leave, then it waits for the write (a silent wait reads as a hang)."""
    waits: list[float | None] = []

    def slow(thread: threading.Thread, timeout: float | None) -> Any:
        waits.append(timeout)
        if len(waits) == 1:  # Ctrl-C in the first wait
            assert held.started.wait(5)
            raise KeyboardInterrupt
        if len(waits) == 2:  # the short wait ends with the write still on its way
            return None
        assert "waiting up to" in capsys.readouterr().err  # said before the long wait
        held.answered.set()
        return _JOIN(thread, timeout)

    on_store_wait(monkeypatch, slow)
    with pytest.raises(KeyboardInterrupt):
        deadline.request("vault: http://vault", "registering", held, writes=True)
    assert len(waits) == 3 and waits[1] == deadline._QUIET_SECONDS


@pytest.mark.parametrize("second", ["Ctrl-C again", "the wait runs out"])
def test_ctrl_c_leaving_a_write_under_way_says_it_may_still_land(
    monkeypatch: pytest.MonkeyPatch, held: HeldRequest, second: str
) -> None:
    """Ctrl-C, then Ctrl-C again (or the wait for the write ends first): the write is still on
    its way and may land after whatever the caller does next, so the interrupt says so
    (InterruptedInFlight: exit 4), never a plain one ("interrupted, nothing changed")."""
    waits: list[float | None] = []

    def still_on_its_way(thread: threading.Thread, timeout: float | None) -> Any:
        waits.append(timeout)
        if len(waits) == 1 or second == "Ctrl-C again":
            assert held.started.wait(5)
            raise KeyboardInterrupt
        return None  # each wait ends with the write still on its way

    on_store_wait(monkeypatch, still_on_its_way)
    with pytest.raises(KeyboardInterrupt) as caught:  # a plain one would end pytest's run
        deadline.request("vault: http://vault", "writing secret/sealer/dev", held, writes=True)
    assert isinstance(caught.value, InterruptedInFlight)
    assert str(caught.value) == (
        "interrupted with a write to vault: http://vault (writing secret/sealer/dev) still under way: "
        "it may still land"
    )
    assert caught.value.exit_code == EXIT_PARTLY_DONE
    assert len(waits) == (2 if second == "Ctrl-C again" else 3)
