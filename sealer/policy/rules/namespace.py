"""namespace: the environment deploys to an allowed namespace (never a system one by default)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem

ID = "namespace"
DESCRIPTION = "each environment deploys to an allowed namespace"
DEFAULT: dict[str, Any] = {
    "allowed": ["*"],
    "forbidden": ["default", "kube-system", "kube-public", "kube-node-lease"],
}
SCHEMA: dict[str, schema.Validator] = {"allowed": schema.names, "forbidden": schema.names}


def _matches(namespace: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(namespace, pattern) for pattern in patterns)


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    ns = env.namespace
    if _matches(ns, conf["forbidden"]):
        why = f"namespace {ns} is forbidden (forbidden: {', '.join(conf['forbidden'])})"
    elif not _matches(ns, conf["allowed"]):
        why = f"namespace {ns} is not allowed (allowed: {', '.join(conf['allowed']) or 'none'})"
    else:
        return
    yield Problem(
        ID, env.name, ERROR, why, fixes.edit_then_rotate(env.name, "namespace", "<an allowed namespace>")
    )
