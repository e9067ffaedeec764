"""cert-expiry: no pinned certificate expires within `min-days` (a warning within `warn-days`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, WARNING, Context, Problem, days_left

ID = "cert-expiry"
DESCRIPTION = "controller certificates are renewed well before they expire"
DEFAULT: dict[str, Any] = {"min-days": 30, "warn-days": 60}
SCHEMA: dict[str, schema.Validator] = {"min-days": schema.days(0), "warn-days": schema.days(0)}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        facts = ctx.cert(env.name, cluster)
        if facts.error or facts.not_after is None:
            continue  # cert-file reports it
        left = facts.not_after - ctx.now
        what = f"{env.name}/{cluster.name} certificate"
        fix = f"renew the controller's certificate, then pin it: `{fixes.cert_fetch(env.name, cluster.name)}`"
        if facts.not_before and facts.not_before > ctx.now:  # sealWith names it; its dates do not decide
            yield Problem(
                ID,
                env.name,
                WARNING,
                f"{what} (sealWith) is not valid before {facts.not_before:%Y-%m-%d}: is it the key the "
                "controller seals with?",
                f"`{fixes.cert_fetch(env.name, cluster.name)}` to compare with the controller",
            )
        if left <= dt.timedelta(0):
            yield Problem(ID, env.name, ERROR, f"{what} expired on {facts.not_after:%Y-%m-%d}", fix)
        elif left < dt.timedelta(days=conf["min-days"]):
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"{what} expires on {facts.not_after:%Y-%m-%d} (in {days_left(left)} days); "
                f"{env.name} needs at least {conf['min-days']} days left",
                fix,
            )
        elif left < dt.timedelta(days=conf["warn-days"]):
            yield Problem(
                ID,
                env.name,
                WARNING,
                f"{what} expires on {facts.not_after:%Y-%m-%d} (in {days_left(left)} days)",
                fix,
            )
