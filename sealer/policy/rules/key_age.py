"""key-age: no key older than the environment's maximum age, none expired, none created in the future.

Also warns when a key reaches the limit within `warn-days`, and flags a `rotationDays` longer
than the limit (then `sealer rotate --due` would rotate too late).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import schema
from sealer.policy.model import ERROR, WARNING, Context, Problem, days_left, whole_days
from sealer.records import CLOCK_SKEW, KeyRecord

ID = "key-age"
DESCRIPTION = "keys are rotated before they reach the maximum age"
DEFAULT: dict[str, Any] = {"max-days": 90, "warn-days": 7}
SCHEMA: dict[str, schema.Validator] = {"max-days": schema.days(1), "warn-days": schema.days(0)}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    max_days = conf["max-days"]
    if env.rotation_days > max_days:
        yield Problem(
            ID,
            env.name,
            ERROR,
            f"rotationDays is {env.rotation_days}, longer than the {max_days}-day maximum key age: "
            "`sealer rotate --due` would rotate too late",
            f"set environments.{env.name}.rotationDays to {max_days} or less in sealer.yaml",
        )
    for name, record in ctx.current(env).items():
        yield from _record(ctx.now, env, name, record, max_days, conf["warn-days"])


def _record(
    now: dt.datetime, env: Environment, name: str, record: KeyRecord, max_days: int, warn_days: int
) -> Iterator[Problem]:
    limit = record.created + dt.timedelta(days=max_days)
    what = f"{name} key {record.key_id}"
    if record.created > now + CLOCK_SKEW:  # only a hand edit makes one: it would never age
        yield Problem.rotating(
            ID, env.name, ERROR, f"{what} was created {record.created:%Y-%m-%d %H:%M}Z, in the future", name
        )
    elif record.expires and record.expires <= now:
        yield Problem.rotating(ID, env.name, ERROR, f"{what} expired on {record.expires:%Y-%m-%d}", name)
    elif now >= limit:
        yield Problem.rotating(
            ID,
            env.name,
            ERROR,
            f"{what} is {whole_days(now - record.created)} days old; {env.name} allows {max_days} days",
            name,
        )
    elif limit - now <= dt.timedelta(days=warn_days):
        left = days_left(limit - now)
        yield Problem.rotating(
            ID,
            env.name,
            WARNING,
            f"{what} is due: it reaches the {max_days}-day limit on "
            f"{limit:%Y-%m-%d} (in {left} day{'' if left == 1 else 's'})",
            name,
        )
