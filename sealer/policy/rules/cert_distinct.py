"""cert-distinct: no certificate is pinned for two environments (one controller key each)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Cluster, Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, Context, Problem

ID = "cert-distinct"
DESCRIPTION = "each environment seals with its own controller certificate"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def pinned_elsewhere(ctx: Context, env_name: str, fingerprint: str, key: str | None) -> list[str]:
    """`env/cluster` of each cluster of another environment whose set holds `fingerprint`, or
    another certificate of the same public key `key` (one controller key re-issued in a new
    certificate opens the same entries)."""
    shared = {f"{env}/{cluster}": "" for env, cluster in ctx.pinned_by(fingerprint) if env != env_name}
    for env, cluster in ctx.key_holders(key) if key else ():
        if env != env_name:
            shared.setdefault(f"{env}/{cluster}", " (the same key in another certificate)")
    return [where + note for where, note in shared.items()]


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    for cluster in env.clusters:
        for held, facts in ctx.held(env.name, cluster):  # the whole set, not only the sealing one
            shared = pinned_elsewhere(ctx, env.name, held.fingerprint, facts.key_fingerprint)
            if shared:
                yield Problem(
                    ID,
                    env.name,
                    ERROR,
                    f"certificate {held.fingerprint[:16]}… of {env.name}/{cluster.name} is also "
                    f"pinned for {', '.join(shared)}: one controller key would open the keys of both",
                    _fix(env.name, cluster, held.fingerprint),
                )


def _fix(env: str, cluster: Cluster, fingerprint: str) -> str:
    """A certificate that does not seal is taken out of the set; the sealing one needs the
    cluster's own certificate first (adding it alone leaves the shared one pinned)."""
    remove = fixes.cert_remove(env, cluster.name, fingerprint)
    if fingerprint != cluster.fingerprint:
        return remove
    return f"`{fixes.cert_add(env, cluster.name)}` (this cluster's own certificate), then `{remove}`"
