"""grace-window: an old key stays valid at most `max-days` after the rotation that replaced it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem
from sealer.records import CLOCK_SKEW, GRACE, KeyRecord

ID = "grace-window"
DESCRIPTION = "replaced keys stop being valid within the maximum grace window"
DEFAULT: dict[str, Any] = {"max-days": 7}
SCHEMA: dict[str, schema.Validator] = {"max-days": schema.days(0)}


def rotated_at(record: KeyRecord, records: list[KeyRecord], now: dt.datetime) -> dt.datetime | None:
    """When `record` was replaced: the creation of the next key of the same entry. A record
    "created" in the future is forged (a hand edit): a grace counted from it would never start."""
    later = [
        r.created for r in records if r.name == record.name and record.created < r.created <= now + CLOCK_SKEW
    ]
    return min(later, default=None)


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    allowed = dt.timedelta(days=conf["max-days"])
    records = ctx.records(env.name)
    for record in records:
        # A grace window with no end lasts as long as the key: the registry lists it so.
        end = record.revoke_at or record.expires
        if record.status != GRACE or end is not None and end <= ctx.now:
            continue  # a lapsed grace is over: the key is no longer valid
        start = rotated_at(record, records, ctx.now) or ctx.now
        if end is None or end - start > allowed:
            hours = int((start + allowed - ctx.now).total_seconds() // 3600)
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"{record.name} key {record.key_id} stays valid {_until(end, start)} after its rotation"
                f"{'' if record.revoke_at else ' (its grace has no end)'}; "
                f"{env.name} allows {conf['max-days']} days of grace",
                fixes.revoke(env.name, record.key_id, hours),
            )


def _until(end: dt.datetime | None, start: dt.datetime) -> str:
    return "for ever" if end is None else f"until {end:%Y-%m-%d %H:%M}Z, {_days(end - start)} days"


def _days(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds() / 86400:.1f}".removesuffix(".0")
