"""scope: the environment seals at least as strictly as required (strict for production)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem
from sealer.scope import Scope

ID = "scope"
DESCRIPTION = "sealed keys are bound at least as tightly as the required scope"
# From loosest to strictest: strict binds to namespace and name, namespace-wide to the namespace.
ORDER = (Scope.CLUSTER_WIDE.value, Scope.NAMESPACE_WIDE.value, Scope.STRICT.value)
DEFAULT: dict[str, Any] = {"required": None}
SCHEMA: dict[str, schema.Validator] = {"required": schema.one_of(*ORDER, nullable=True)}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    required = conf["required"]
    if required and ORDER.index(env.scope.value) < ORDER.index(required):
        yield Problem(
            ID,
            env.name,
            ERROR,
            f"scope is {env.scope.value}; {env.name} requires {required} "
            "(a looser scope lets the ciphertext be reused in other namespaces or Secrets)",
            fixes.edit_then_rotate(env.name, "scope", required),
        )
