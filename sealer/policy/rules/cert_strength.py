"""cert-strength: pinned certificates hold RSA keys of at least `min-bits` (4096 for production)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, CertFacts, Context, Problem

ID = "cert-strength"
DESCRIPTION = "controller certificates use RSA keys of at least the required size"
DEFAULT: dict[str, Any] = {"min-bits": 2048}
SCHEMA: dict[str, schema.Validator] = {"min-bits": schema.whole(1024)}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    need = conf["min-bits"]
    for cluster in env.clusters:
        for held, facts in ctx.held(env.name, cluster):  # older ones too: entries are sealed with them
            older = "" if held.fingerprint == cluster.fingerprint else f" {held.fingerprint[:16]}…"
            yield from _check(env, f"{cluster.name}", older, facts, need)


def _check(env: Environment, cluster: str, older: str, facts: CertFacts, need: int) -> Iterator[Problem]:
    if facts.error:
        return  # cert-file reports it
    out = f"~/sealer-keys/{cluster}-{need}"  # outside the repository: keypair refuses a Git work tree
    fix = (
        f"give the controller an RSA key of at least {need} bits (e.g. `sealer keypair --out {out} "
        f"--bits {need}`), then `{fixes.cert_add(env.name, cluster, f'{out}/tls.crt')}`"
    )
    what = f"{env.name}/{cluster} certificate{older}"
    if facts.key_type != "RSA":
        yield Problem(ID, env.name, ERROR, f"{what} has a {facts.key_type} key; sealing needs RSA", fix)
    elif (facts.key_bits or 0) < need:
        yield Problem(
            ID,
            env.name,
            ERROR,
            f"{what} has a {facts.key_bits}-bit RSA key; {env.name} requires at least {need} bits",
            fix,
        )
