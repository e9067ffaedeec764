"""key-distinct: no key fingerprint is recorded in two environments."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem
from sealer.records import GRACE, REVOKED

ID = "key-distinct"
DESCRIPTION = "no key is shared between environments"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for record in ctx.records(env.name):
        others = sorted(ctx.recorded_in(record.fingerprint) - {env.name})
        if record.status == REVOKED or not others:
            continue
        message = (
            f"{record.name} key {record.key_id} ({record.status}) is also recorded in "
            f"{', '.join(others)}: whoever holds one environment's key can use the other's"
        )
        if record.status == GRACE:
            yield Problem(ID, env.name, ERROR, message, fixes.revoke(env.name, record.key_id))
        else:
            yield Problem.rotating(ID, env.name, ERROR, message, record.name)
