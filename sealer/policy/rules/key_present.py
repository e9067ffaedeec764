"""key-present: every managed key is sealed for every pinned cluster."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer import layout, state
from sealer.config import Environment
from sealer.policy import schema
from sealer.policy.model import ERROR, WARNING, Context, Problem

ID = "key-present"
DESCRIPTION = "every managed key is sealed for every pinned cluster"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        path = layout.sealed_file(env.name, cluster.name)
        doc = ctx.sealed(env.name, cluster.name)
        if doc is None:
            yield Problem.rotating(
                ID,
                env.name,
                WARNING if ctx.never_rotated(env) else ERROR,
                f"{path} does not exist: no key is sealed for {env.name}/{cluster.name}",
            )
            continue
        entries = state.encrypted_data(doc)
        for name in env.keys:
            if name not in entries:
                yield Problem.rotating(ID, env.name, ERROR, f"{name} is not sealed in {path}", name)
