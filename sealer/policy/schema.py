"""Hand-written validators for policy options: each says what is wrong with a value, or None.

Small on purpose: `sealer check` runs on every commit, so it loads no schema library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Validator = Callable[[Any], "str | None"]


def whole(minimum: int = 0) -> Validator:
    """A whole number of at least `minimum` (booleans are not numbers here)."""

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            return f"must be a whole number of at least {minimum}, got {value!r}"
        return None

    return check


def days(minimum: int = 0) -> Validator:
    """A number of days, added to dates: at most durations.MAX_DAYS (more overflows the calendar)."""
    from sealer.durations import MAX_DAYS

    at_least = whole(minimum)

    def check(value: Any) -> str | None:
        problem = at_least(value)
        if problem is None and value > MAX_DAYS:
            return f"must be at most {MAX_DAYS}, got {value!r}"
        return problem

    return check


def one_of(*choices: str, nullable: bool = False) -> Validator:
    """One of `choices` (or null when `nullable`)."""

    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str) or value not in choices:
            extra = " or null" if nullable else ""
            return f"must be one of {', '.join(choices)}{extra}, got {value!r}"
        return None

    return check


def flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def names(value: Any) -> str | None:
    """A list of non-empty strings (names or glob patterns)."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        return f"must be a list of non-empty strings, got {value!r}"
    return None
