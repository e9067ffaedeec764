"""key-sealed: every sealed key is sealed with the currently pinned certificate, for the Secret
sealer.yaml names (a key sealed with a replaced certificate, or for another target, cannot be opened)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer import layout, provenance, state
from sealer.config import Cluster, Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem

ID = "key-sealed"
DESCRIPTION = "sealed keys use the pinned certificate and the configured Secret"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def _which_cert(fp: str, env: Environment, cluster: Cluster) -> str:
    if fp == provenance.UNKNOWN:
        return f"an unknown certificate (no {provenance.CERT_ANNOTATION} annotation)"
    if fp in env.cert_history:
        return f"a replaced certificate ({fp[:16]}…)"
    return f"certificate {fp[:16]}…, which is not pinned for {env.name}/{cluster.name}"


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        doc = ctx.sealed(env.name, cluster.name)
        if doc is None:
            continue  # key-present reports it
        path = layout.sealed_file(env.name, cluster.name)
        mismatch = state.target_mismatch(doc, env, path)
        if mismatch:
            yield Problem(
                ID, env.name, ERROR, f"{mismatch}: no entry in it can be opened", fixes.rotate(env.name)
            )
            continue
        entries = state.encrypted_data(doc)
        annotations = (doc.get("metadata") or {}).get("annotations")
        for name, fp in provenance.sealed_with(annotations, [n for n in env.keys if n in entries]).items():
            if fp != cluster.fingerprint:
                yield Problem(
                    ID,
                    env.name,
                    ERROR,
                    f"{name} in {path} is sealed with {_which_cert(fp, env, cluster)}",
                    fixes.rotate(env.name, name),
                )
