"""Named points where tests inject failures into a rotation running in another process.

SEALER_FAULT=<point> raises there; SEALER_FAULT=<point>:kill SIGKILLs the process there.
Only honoured when SEALER_TEST is set, so a stray variable can never break a real rotation.
"""

from __future__ import annotations

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
