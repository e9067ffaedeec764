"""Named points where tests inject failures into a rotation running in another process, and
OS errors into file reads and writes (CI runs as root, where EACCES never happens).

SEALER_FAULT=<point> raises there; <point>:kill SIGKILLs the process there; <point>:stop
SIGSTOPs it (a test then races another command against it and sends SIGCONT).
SEALER_SIGNAL_AT=<n>:<INT|KILL>[:<point>] sends the signal at the n-th line of sealer's code
run after `arm()` (or after fault point <point>): a deterministic spread over every line, no
timers; <n> = count prints the number of lines at exit instead.
SEALER_IO_FAULT=<read|write>:<ERRNO>:<text> raises OSError(ERRNO) on a read or write of a path
containing <text> (a write fails after its temp file is made, so the clean-up is tested too).
Only honoured when SEALER_TEST is set, so a stray variable can never break a real rotation.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from types import FrameType
from typing import Any


class InjectedFault(RuntimeError):
    pass


_ACTIONS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}
_counting: dict[str, Any] = {}  # the armed line counter: lines, target, signal, start point


def point(name: str) -> None:
    if not os.environ.get("SEALER_TEST"):
        return
    if _counting.get("start") == name:
        _counting["start"] = None  # count from here
    wanted, _, action = os.environ.get("SEALER_FAULT", "").partition(":")
    if wanted != name:
        return
    if action in _ACTIONS:
        os.kill(os.getpid(), _ACTIONS[action])
        if action == "stop":
            return  # continued: carry on
    raise InjectedFault(f"injected fault at {name}")


def io_error(operation: str, path: str) -> None:
    """Raise the OSError SEALER_IO_FAULT asks for on `operation` of `path`."""
    spec = os.environ.get("SEALER_IO_FAULT")
    if not spec or not os.environ.get("SEALER_TEST"):
        return
    wanted, name, text = (spec.split(":", 2) + ["", ""])[:3]
    if wanted == operation and text in path:
        code = getattr(errno, name, errno.EIO)
        raise OSError(code, os.strerror(code), path)


def arm() -> None:
    """Start counting sealer's lines for SEALER_SIGNAL_AT (tests only)."""
    spec = os.environ.get("SEALER_SIGNAL_AT", "") if os.environ.get("SEALER_TEST") else ""
    if not spec or _counting:
        return
    target, _, rest = spec.partition(":")
    name, _, start = rest.partition(":")
    _counting.update(
        lines=0,
        target=None if target == "count" else int(target),
        signal=getattr(signal, f"SIG{name or 'INT'}"),
        start=start or None,
    )
    if _counting["target"] is None:
        import atexit

        atexit.register(lambda: print(f"sealer-lines: {_counting['lines']}", file=sys.stderr))
    sys.settrace(_enter)
    frame = sys._getframe(1)
    while frame is not None:  # the frames running already: their next lines count too
        if _enter(frame, "call", None):
            frame.f_trace = _line
        frame = frame.f_back  # type: ignore[assignment]


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# Not counted: this file, and the entry point's last lines (its exception handlers and return),
# where no Python program can keep a SIGINT from ending in a traceback.
_UNCOUNTED = {__file__, os.path.join(_PACKAGE, "__main__.py"), os.path.join(_PACKAGE, "cli", "__init__.py")}


def _enter(frame: FrameType, event: str, arg: object) -> Any:
    name = frame.f_code.co_filename
    return _line if name.startswith(_PACKAGE) and name not in _UNCOUNTED else None


def _line(frame: FrameType, event: str, arg: object) -> Any:
    if event == "line" and _counting["start"] is None:
        _counting["lines"] += 1
        if _counting["lines"] == _counting["target"]:
            sys.settrace(None)
            os.kill(os.getpid(), _counting["signal"])
    return _line
