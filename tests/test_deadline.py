"""sealer.deadline: one request bounded in wall-clock time, and Ctrl-C during a write."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from sealer import deadline
from sealer.errors import EXIT_PARTLY_DONE, InterruptedInFlight


@pytest.mark.parametrize("writes", [True, False], ids=["write", "read"])
def test_ctrl_c_during_a_write_waits_for_it_to_settle_before_the_undoing(
    monkeypatch: pytest.MonkeyPatch, writes: bool
) -> None:
    """Ctrl-C while a write is on its way: the caller's undoing (a rotation removing what it
    registered) runs next, so the write must have ended first, or it lands after its undoing.
    A read is left behind at once."""
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 10.0)
    started, answered = threading.Event(), threading.Event()
    ended: list[str] = []
    pressed: list[str] = []
    join = threading.Thread.join

    def request() -> str:
        started.set()
        answered.wait(5)
        ended.append("landed")
        return "ok"

    def ctrl_c_in_the_first_wait(thread: threading.Thread, timeout: float | None = None) -> Any:
        if thread.name == "sealer-store-request" and not pressed:
            pressed.append("Ctrl-C")
            assert started.wait(5)
            if writes:  # its answer comes once Ctrl-C was pressed (a read's after the check below)
                answered.set()
            raise KeyboardInterrupt
        return join(thread, timeout)

    monkeypatch.setattr(threading.Thread, "join", ctrl_c_in_the_first_wait)
    try:
        with pytest.raises(KeyboardInterrupt):
            deadline.request("vault: http://vault", "registering", request, writes)
        assert ended == (["landed"] if writes else [])
    finally:
        answered.set()


def test_ctrl_c_waiting_on_a_slow_write_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A write that does not settle soon after Ctrl-C: one line says why the command has not
    ended yet and how to leave, then it waits for the write (a silent wait reads as a hang)."""
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 10.0)
    started, answered = threading.Event(), threading.Event()
    waits: list[float | None] = []
    join = threading.Thread.join

    def request() -> str:
        started.set()
        answered.wait(5)
        return "ok"

    def slow(thread: threading.Thread, timeout: float | None = None) -> Any:
        if thread.name != "sealer-store-request":
            return join(thread, timeout)
        waits.append(timeout)
        if len(waits) == 1:  # Ctrl-C in the first wait
            assert started.wait(5)
            raise KeyboardInterrupt
        if len(waits) == 2:  # the short wait ends with the write still on its way
            return None
        assert "waiting up to" in capsys.readouterr().err  # said before the long wait
        answered.set()
        return join(thread, timeout)

    monkeypatch.setattr(threading.Thread, "join", slow)
    try:
        with pytest.raises(KeyboardInterrupt):
            deadline.request("vault: http://vault", "registering", request, writes=True)
        assert len(waits) == 3 and waits[1] == deadline._QUIET_SECONDS
    finally:
        answered.set()


@pytest.mark.parametrize("second", ["Ctrl-C again", "the wait runs out"])
def test_ctrl_c_leaving_a_write_under_way_says_it_may_still_land(
    monkeypatch: pytest.MonkeyPatch, second: str
) -> None:
    """Ctrl-C, then Ctrl-C again (or the wait for the write ends first): the write is still on
    its way and may land after whatever the caller does next, so the interrupt says so
    (InterruptedInFlight: exit 4), never a plain one ("interrupted, nothing changed")."""
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 10.0)
    started, answered = threading.Event(), threading.Event()
    waits: list[float | None] = []
    join = threading.Thread.join

    def request() -> str:
        started.set()
        answered.wait(5)
        return "ok"

    def held(thread: threading.Thread, timeout: float | None = None) -> Any:
        if thread.name != "sealer-store-request":
            return join(thread, timeout)
        waits.append(timeout)
        if len(waits) == 1 or second == "Ctrl-C again":
            assert started.wait(5)
            raise KeyboardInterrupt
        return None  # each wait ends with the write still on its way

    monkeypatch.setattr(threading.Thread, "join", held)
    try:
        with pytest.raises(KeyboardInterrupt) as caught:  # a plain one would end pytest's run
            deadline.request("vault: http://vault", "writing secret/sealer/dev", request, writes=True)
    finally:
        answered.set()
    assert isinstance(caught.value, InterruptedInFlight)
    assert str(caught.value) == (
        "interrupted with a write to vault: http://vault (writing secret/sealer/dev) still under way: "
        "it may still land"
    )
    assert caught.value.exit_code == EXIT_PARTLY_DONE
    assert len(waits) == (2 if second == "Ctrl-C again" else 3)
