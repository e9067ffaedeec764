"""Named points where tests inject failures into a rotation running in another process, and
OS errors into file reads and writes (CI runs as root, where EACCES never happens).

SEALER_FAULT=<point> raises there; SEALER_FAULT=<point>:kill SIGKILLs the process there.
SEALER_IO_FAULT=<read|write>:<ERRNO>:<text> raises OSError(ERRNO) on a read or write of a path
containing <text> (a write fails after its temp file is made, so the clean-up is tested too).
Only honoured when SEALER_TEST is set, so a stray variable can never break a real rotation.
"""

from __future__ import annotations

import errno
import os
import signal


class InjectedFault(RuntimeError):
    pass


def point(name: str) -> None:
    if not os.environ.get("SEALER_TEST"):
        return
    wanted, _, action = os.environ.get("SEALER_FAULT", "").partition(":")
    if wanted != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
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
