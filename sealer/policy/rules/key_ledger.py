"""key-ledger: every managed key has exactly one current key recorded in the ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from sealer import layout
from sealer.config import Environment
from sealer.policy import fixes, schema
from sealer.policy.model import ERROR, WARNING, Context, Problem
from sealer.records import ACTIVE, GRACE, PENDING, VALID, KeyRecord, effective_status

ID = "key-ledger"
DESCRIPTION = "every managed key is recorded in the ledger, with one active key and no other valid one"
DEFAULT: dict[str, Any] = {}
SCHEMA: dict[str, schema.Validator] = {}


def check(ctx: Context, env: Environment, conf: Mapping[str, Any]) -> Iterator[Problem]:
    path = layout.ledger_file(env.name)
    records = ctx.records(env.name)
    current = ctx.current(env)
    active = Counter(r.name for r in records if r.status == ACTIVE)
    for name in env.keys:
        if name not in current:
            yield _unkeyed(ctx, env, name, path)
        elif current[name].status == PENDING:
            yield Problem(
                ID,
                env.name,
                WARNING,
                f"{name} key {current[name].key_id} is still pending: its rotation was not "
                "committed or not finished",
                "commit the rotation's files, then run `sealer rotate`",
            )
        if active[name] > 1:
            older = [r.key_id for r in records if r.name == name and r.status == ACTIVE][:-1]
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"{active[name]} keys of {name} are active in {path}; at most one may be",
                "; ".join(fixes.revoke(env.name, kid) for kid in older),
            )
    for record in records:
        if _stray(record, env, ctx, current, active):
            yield Problem(
                ID,
                env.name,
                ERROR,
                f"{record.name} key {record.key_id} is {record.status} in {path}: the key registry lists "
                f"it as valid, yet it is neither the current key of an entry {env.name} manages nor in grace",
                fixes.revoke(env.name, record.key_id),
            )


def _unkeyed(ctx: Context, env: Environment, name: str, path: str) -> Problem:
    """An entry with no current key: rotating it issues one, once a certificate is pinned."""
    if ctx.never_rotated(env):  # a new environment: no key yet, nothing to lose
        level, message = WARNING, f"{name} has no key yet (never rotated)"
    else:
        level, message = ERROR, f"{name} has no active key in {path}"
    if env.clusters:
        return Problem.rotating(ID, env.name, level, message, name)
    pin, rotate = fixes.cert_add(env.name, env.name), fixes.rotate(env.name, name)
    return Problem(ID, env.name, level, message, f"pin a certificate (`{pin}`), then `{rotate}`")


def _stray(
    record: KeyRecord, env: Environment, ctx: Context, current: Mapping[str, KeyRecord], active: Counter[str]
) -> bool:
    """A key a verifier accepts that no rule bounds: `accepted` (a status sealer never writes in
    a ledger; a hand edit gives it to a key of anyone's choosing), a valid key of an entry
    sealer.yaml does not list, or an entry's one active key behind a newer pending record (key-age
    and `rotate --due` judge the pending one). Grace keys are grace-window's; two active keys of an
    entry are reported above."""
    if record.status == GRACE or effective_status(record, ctx.now) != VALID:
        return False
    if record.status != ACTIVE or record.name not in env.keys:
        return True
    return active[record.name] == 1 and current.get(record.name) is not record
