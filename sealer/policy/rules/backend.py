"""backend: the environment keeps its key hashes in the required key store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.backends import BACKENDS
from sealer.config import Environment
from sealer.policy import schema
from sealer.policy.model import ERROR, Context, Problem

ID = "backend"
DESCRIPTION = "each environment uses its required key-store backend"
DEFAULT: dict[str, Any] = {"required": None}
SCHEMA: dict[str, schema.Validator] = {"required": schema.one_of(*sorted(BACKENDS), nullable=True)}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    required = conf["required"]
    if required and env.backend_kind != required:
        yield Problem(
            ID,
            env.name,
            ERROR,
            f"key store is {env.backend_kind}; {env.name} requires {required}",
            f"sealer backend set {env.name} {required}",
        )
