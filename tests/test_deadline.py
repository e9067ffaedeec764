"""sealer.deadline: one request bounded in wall-clock time, and Ctrl-C during a write."""

from __future__ import annotations

import signal
import threading

import pytest

from sealer import deadline


def _ctrl_c_when(started: threading.Event) -> threading.Thread:
    """SIGINT to the main thread once `started` is set (the request is on its way)."""
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        if started.wait(5):
            signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    return thread


@pytest.mark.parametrize("writes", [True, False], ids=["write", "read"])
def test_ctrl_c_during_a_write_waits_for_it_to_settle_before_the_undoing(
    monkeypatch: pytest.MonkeyPatch, writes: bool
) -> None:
    """Ctrl-C while a write is on its way: the caller's undoing (a rotation removing what it
    registered) runs next, so the write must have ended first, or it lands after its undoing.
    A read is left behind at once."""
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 10.0)
    started, interrupted, ended = threading.Event(), threading.Event(), []

    def request() -> str:
        started.set()
        interrupted.wait(5)  # the answer comes only after Ctrl-C reached the caller
        ended.append("landed")
        return "ok"

    ctrl_c = _ctrl_c_when(started)

    def on_ctrl_c(*args: object) -> None:
        if writes:  # a read's answer comes after the check below: it is never waited for
            interrupted.set()
        signal.default_int_handler(*args)  # type: ignore[arg-type]

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        with pytest.raises(KeyboardInterrupt):
            deadline.request("vault: http://vault", "registering", request, writes)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        ctrl_c.join()
    assert ended == (["landed"] if writes else [])
    interrupted.set()
