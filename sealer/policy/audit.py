"""`sealer audit`: an inventory across environments, checked against the policy.

For each environment: its keys (age, due date, policy limit, status, last rotation and actor),
the keys still in grace, its pinned certificates and their expiry, and the policy problems.
The inventory is plain data; sealer.policy.audit_output presents it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sealer.config import Cluster, Config, Environment
from sealer.policy import loader, runner
from sealer.policy.model import ERROR, WARNING, CertFacts, Context, Problem, days_left, whole_days
from sealer.records import GRACE, PENDING, KeyRecord, iso


def key_status(
    record: KeyRecord | None, now: dt.datetime, rotation_days: int, max_days: int, warn_days: int
) -> str:
    """missing / pending / expired / overdue (past the policy limit) / due (past rotationDays or
    within warn-days of the limit) / ok."""
    if record is None:
        return "missing"
    limit = record.created + dt.timedelta(days=max_days)
    if record.status == PENDING:
        return "pending"
    if record.expires and record.expires <= now:
        return "expired"
    if now >= limit:
        return "overdue"
    past_period = now - record.created >= dt.timedelta(days=rotation_days)
    return "due" if past_period or limit - now <= dt.timedelta(days=warn_days) else "ok"


def _key(
    ctx: Context, env: Environment, name: str, record: KeyRecord | None, age_conf: dict[str, Any]
) -> dict[str, Any]:
    status = key_status(record, ctx.now, env.rotation_days, age_conf["max-days"], age_conf["warn-days"])
    if record is None:
        empty = ("ledger_status", "created", "age_days", "due", "limit", "days_left", "expires", "actor")
        return {"name": name, "key_id": None, "status": status, **dict.fromkeys(empty)}
    limit = record.created + dt.timedelta(days=age_conf["max-days"])
    return {
        "name": name,
        "key_id": record.key_id,
        "status": status,
        "ledger_status": record.status,
        "created": iso(record.created),
        "age_days": whole_days(ctx.now - record.created),
        "due": iso(record.created + dt.timedelta(days=env.rotation_days)),
        "limit": iso(limit),
        "days_left": days_left(limit - ctx.now),
        "expires": iso(record.expires),
        "actor": record.actor,
    }


def cert_status(facts: CertFacts, cluster: Cluster, now: dt.datetime, expiry_conf: dict[str, Any]) -> str:
    if facts.error:
        return "unreadable"
    if facts.fingerprint != cluster.fingerprint:
        return "mismatch"
    left = (facts.not_after or now) - now
    if left <= dt.timedelta(0):
        return "expired"
    return "expiring" if left < dt.timedelta(days=expiry_conf["warn-days"]) else "ok"


def _cert(ctx: Context, env: Environment, cluster: Cluster, expiry_conf: dict[str, Any]) -> dict[str, Any]:
    facts = ctx.cert(env.name, cluster)
    return {
        "cluster": cluster.name,
        "path": cluster.cert,
        "fingerprint": cluster.fingerprint,
        "key_type": facts.key_type,
        "key_bits": facts.key_bits,
        "not_after": iso(facts.not_after),
        "days_left": days_left(facts.not_after - ctx.now) if facts.not_after else None,
        "status": cert_status(facts, cluster, ctx.now, expiry_conf),
        "error": facts.error,
        "held": [held.fingerprint for held in cluster.cert_set],  # the whole set; `fingerprint` seals
    }


def _environment(
    ctx: Context, policy: loader.Policy, env: Environment, found: list[Problem]
) -> dict[str, Any]:
    age_conf = policy.conf("key-age", env.name)
    current = ctx.current(env)
    last = max(current.values(), key=lambda r: r.created, default=None)
    grace = [r for r in ctx.records(env.name) if r.status == GRACE and r.revoke_at and r.revoke_at > ctx.now]
    return {
        "name": env.name,
        "namespace": env.namespace,
        "scope": env.scope.value,
        "backend": env.backend_kind,
        "rotation_days": env.rotation_days,
        "max_age_days": age_conf["max-days"],
        "warn_days": age_conf["warn-days"],
        "last_rotation": iso(last.created) if last else None,
        "last_actor": last.actor if last else None,
        "keys": [_key(ctx, env, name, current.get(name), age_conf) for name in env.keys],
        "grace": [{"name": r.name, "key_id": r.key_id, "revoke_at": iso(r.revoke_at)} for r in grace],
        "certificates": [_cert(ctx, env, c, policy.conf("cert-expiry", env.name)) for c in env.clusters],
        "errors": sum(p.level == ERROR for p in found),
        "warnings": sum(p.level == WARNING for p in found),
        "problems": [p.as_dict() for p in found],
    }


def inventory(
    cfg: Config,
    env_names: Iterable[str] = (),
    policy_file: str | Path | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    envs = runner.select(cfg, env_names)
    policy = loader.load(cfg, policy_file)
    ctx = Context(cfg, now)
    # The policy rules alone: what Git's index holds (check's leftovers, deleted-file and the
    # others, git-index-unreadable when Git cannot say) is check's, which fails on it; audit
    # never fails, so it runs no git and inventories what the files say, where git is missing too.
    found = runner.problems(ctx, policy, envs)
    return {
        "generated": iso(ctx.now),
        "policy": policy.sources,
        "errors": sum(p.level == ERROR for p in found),
        "warnings": sum(p.level == WARNING for p in found),
        "environments": [
            _environment(ctx, policy, env, [p for p in found if p.env == env.name]) for env in envs
        ],
    }
