"""Durations as people write them: 90m, 12h, 7d, 2w, 1d12h."""

from __future__ import annotations

import datetime as dt
import re

from sealer.errors import BadInput

_PART = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Added to today's date: a longer span would overflow the calendar (a traceback), and no grace
# window or key age is meant to last longer.
MAX_DAYS = 3650


def parse_duration(text: str) -> dt.timedelta:
    text = text.strip().lower()
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise BadInput(f"bad duration {text!r}: use e.g. 30m, 12h, 7d, 2w or 1d12h")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise BadInput(f"duration {text!r} must be longer than zero")
    if seconds > MAX_DAYS * _UNITS["d"]:
        raise BadInput(f"duration {text!r} is longer than {MAX_DAYS}d (10 years)")
    return dt.timedelta(seconds=seconds)


def format_duration(span: dt.timedelta) -> str:
    """The form parse_duration reads: 86400 s -> "1d", 90 min -> "1h30m" (not "1 day, 0:00:00")."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def whole_days(delta: dt.timedelta) -> int:
    """Whole days elapsed, rounded down: a key 29.9 days old is 29 days old."""
    return int(delta.total_seconds() // 86400)


def days_left(delta: dt.timedelta) -> int:
    """Days remaining, rounded up: 4.9 days before a deadline it is due in 5 days (and a day and
    a half after it, -1). Every command counts them alike."""
    return -int(-delta.total_seconds() // 86400)
