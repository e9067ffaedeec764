"""Calls bounded in wall-clock time. A socket timeout bounds each wait for a byte only, so a
server trickling one byte at a time could hold a request for hours; here the call runs in a
daemon thread that is left behind (it ends with its socket) once the time is up."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sealer.errors import BackendError, InterruptedInFlight, WriteInFlight

T = TypeVar("T")

# One request's bound to a key store or the Kubernetes API, in wall-clock time: each client
# library's timeout bounds one wait for a byte only, so a server trickling its answer could hold
# a command for hours.
MAX_REQUEST_SECONDS = 60.0
_QUIET_SECONDS = 0.5  # a write that settles this soon after Ctrl-C needs no word


def within(
    seconds: float,
    call: Callable[[], T],
    timed_out: Callable[[], BaseException],
    name: str,
    settle: bool = False,
    sent: str = "a write",
) -> T:
    """`call()`'s result or exception, or `timed_out()` raised when it takes longer than `seconds`.
    With `settle` (a write sent), Ctrl-C waits for the call to end within `seconds` before it is
    raised: the undoing that follows must not run before a write that then lands. A second
    Ctrl-C leaves at once, or the wait runs out: the write (`sent` names it) is still under way,
    so InterruptedInFlight is raised instead, never a plain "nothing changed" Ctrl-C."""
    done: list[tuple[T | None, BaseException | None]] = []
    ends = time.monotonic() + seconds

    def run() -> None:
        try:
            done.append((call(), None))
        except BaseException as err:  # handed to the caller's thread below
            done.append((None, err))

    worker = threading.Thread(target=run, name=name, daemon=True)
    try:
        worker.start()
        worker.join(seconds)
    except BaseException as stop:
        still = settle and worker.is_alive() and not _settled(worker, ends)
        if still and isinstance(stop, KeyboardInterrupt):
            raise InterruptedInFlight(f"interrupted with {sent} still under way: it may still land") from None
        raise
    if not done:
        raise timed_out()
    value, error = done[0]
    if error is not None:
        raise error
    return value  # type: ignore[return-value]  # `call` returned it: a T, None included


def _settled(worker: threading.Thread, ends: float) -> bool:
    """After Ctrl-C: wait for a write already sent to end (by `ends`); False when it is still
    under way, the wait run out or Ctrl-C pressed again."""
    try:
        worker.join(min(_QUIET_SECONDS, max(0.0, ends - time.monotonic())))
        if worker.is_alive():  # a slow server: say why Ctrl-C has not ended it yet
            left = max(0.0, ends - time.monotonic())
            sys.stderr.write(
                f"sealer: waiting up to {left:.0f} seconds for a write already sent to settle "
                "(Ctrl-C again leaves now; the write may then still land)\n"
            )
            worker.join(left)
    except KeyboardInterrupt:  # pressed again: leave now
        pass
    return not worker.is_alive()


def request(
    server: str, what: str, call: Callable[[], T], writes: bool = False, settle: bool | None = None
) -> T:
    """`call()` (one request of a store's or the API server's client), or BackendError once
    MAX_REQUEST_SECONDS pass: a WriteInFlight when the request `writes` (sent and still under
    way, it may land after any read-back; Ctrl-C waits for it to settle unless `settle` is
    False). `server` starts the message ("vault: https://…")."""
    error = WriteInFlight if writes else BackendError
    return within(
        MAX_REQUEST_SECONDS,
        call,
        lambda: error(f"{server} did not answer within {MAX_REQUEST_SECONDS:g} seconds while {what}"),
        "sealer-store-request",
        writes if settle is None else settle,
        f"a write to {server} ({what})",
    )
