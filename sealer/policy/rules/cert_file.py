"""cert-file: the environment pins a certificate, and each pinned file is readable and matches its pin.

`sealer rotate` refuses a certificate file that no longer matches its pin, so this catches it first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, WARNING, Context, Problem

ID = "cert-file"
DESCRIPTION = "every environment pins a readable certificate that matches its pin"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    if not env.clusters:
        yield Problem(
            ID,
            env.name,
            WARNING if ctx.never_rotated(env) else ERROR,
            "no controller certificate is pinned, so no key can be sealed",
            fixes.cert_add(env.name, env.name),
        )
    for cluster in env.clusters:
        for held, facts in ctx.held(env.name, cluster):  # every certificate of the set
            if facts.error:
                yield Problem(ID, env.name, ERROR, facts.error, fixes.cert_add(env.name, cluster.name))
            elif facts.fingerprint != held.fingerprint:
                yield Problem(
                    ID,
                    env.name,
                    ERROR,
                    f"{held.cert} does not match the fingerprint pinned for "
                    f"{env.name}/{cluster.name} ({held.fingerprint[:16]}…)",
                    fixes.cert_add(env.name, cluster.name),
                )
