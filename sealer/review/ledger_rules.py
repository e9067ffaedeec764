"""The ledger's state machine: is one version of a ledger a legal successor of another?

A ledger is an append-only history. Records are only appended; a record keeps every field it
was made with except the two a status change sets (`status`, `revoke_at`); a status only moves
forward (pending -> active -> grace -> revoked, or straight to revoked) and revoked never
returns; a grace window has an end and only shortens; a new key's id is derived from its
fingerprint, its fingerprint is new, it is created no later than now and expires within the
environment's key lifetime; an entry has at most one current (active or pending) key.

Review applies this to every commit of the range against each parent, so a history rewritten
in one commit and "repaired" in a later one is seen; Git's own hash chain then makes the whole
history as evident as chaining the records would (see the README's threat model).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sealer.records import ACTIVE, CLOCK_SKEW, GRACE, PENDING, REVOKED, KeyRecord, iso
from sealer.review.model import DUPLICATE, KEY_LIFETIME, LEDGER_REWRITE, LEDGER_STATUS

FORWARD = {
    PENDING: {PENDING, ACTIVE, REVOKED},
    ACTIVE: {ACTIVE, GRACE, REVOKED},
    GRACE: {GRACE, REVOKED},
    REVOKED: {REVOKED},
}


class Problem(NamedTuple):
    rule: str
    entry: str | None
    message: str


def _fixed(record: KeyRecord) -> dict[str, object]:
    data = {**record.as_dict(), "sealed": dict(record.sealed)}  # the digests are fixed too
    del data["status"], data["revoke_at"]
    return data


def _changed_record(old: KeyRecord, new: KeyRecord) -> list[Problem]:
    problems = []
    was, now = _fixed(old), _fixed(new)
    moved = [k for k, v in was.items() if now[k] != v]
    if moved:
        problems.append(
            Problem(
                LEDGER_REWRITE, old.name, f"{old.key_id}: {', '.join(moved)} rewritten (fixed at creation)"
            )
        )
    if new.status not in FORWARD.get(old.status, set()):
        never = " (a revoked key never returns)" if old.status == REVOKED else ""
        problems.append(
            Problem(LEDGER_STATUS, old.name, f"{old.key_id}: status {old.status} -> {new.status}{never}")
        )
    elif new.status == GRACE and new.revoke_at is None and old.status != GRACE:
        problems.append(
            Problem(
                LEDGER_STATUS,
                old.name,
                f"{old.key_id}: status {old.status} -> grace with no revoke_at: the key registry lists it "
                "valid until it expires (sealer always ends a grace window)",
            )
        )
    elif _longer(old, new):
        problems.append(
            Problem(
                LEDGER_STATUS,
                old.name,
                f"{old.key_id}: revoke_at moved from {iso(old.revoke_at)} to {iso(new.revoke_at)} "
                "(a revocation never extends validity)",
            )
        )
    return problems


def _longer(old: KeyRecord, new: KeyRecord) -> bool:
    """Did a status change keep a key valid for longer than before?"""
    if old.status == new.status == REVOKED or (old.status == ACTIVE and new.status == ACTIVE):
        return old.revoke_at != new.revoke_at
    if old.status == GRACE and old.revoke_at is not None:
        return new.revoke_at is None or new.revoke_at > old.revoke_at
    return False


def new_record_problems(
    record: KeyRecord, lifetime_days: int, now: dt.datetime, known: set[str]
) -> list[Problem]:
    """What is wrong with a record that no earlier version of the ledger had."""
    found = []
    if record.fingerprint in known:
        found.append(
            Problem(DUPLICATE, record.name, f"{record.key_id}: this key (fingerprint) was in a ledger before")
        )
    if record.status not in (PENDING, ACTIVE):
        found.append(
            Problem(LEDGER_STATUS, record.name, f"{record.key_id}: a new key cannot be {record.status}")
        )
    if record.created > now + CLOCK_SKEW:
        found.append(
            Problem(
                KEY_LIFETIME, record.name, f"{record.key_id}: created {iso(record.created)}, in the future"
            )
        )
    limit = record.created + dt.timedelta(days=lifetime_days)
    if record.expires is None or record.expires > limit or record.expires <= record.created:
        found.append(
            Problem(
                KEY_LIFETIME,
                record.name,
                f"{record.key_id}: expires {iso(record.expires)}, not within the key lifetime of "
                f"{lifetime_days} days from {iso(record.created)}",
            )
        )
    return found


def _order_kept(before: Sequence[str], after: Sequence[str], appended_only: bool) -> bool:
    kept = [key_id for key_id in after if key_id in set(before)]
    if kept != [key_id for key_id in before if key_id in set(after)]:
        return False
    return not appended_only or list(after[: len(before)]) == list(before)


def _current_twice(records: Iterable[KeyRecord]) -> list[Problem]:
    seen: dict[str, str] = {}
    found = []
    for record in records:
        if record.status == ACTIVE:
            if record.name in seen:
                found.append(
                    Problem(
                        LEDGER_STATUS,
                        record.name,
                        f"{record.name}: two active keys ({seen[record.name]}, {record.key_id})",
                    )
                )
            seen[record.name] = record.key_id
    return found


def successor_problems(
    parents: Sequence[Sequence[KeyRecord]],
    after: Sequence[KeyRecord],
    lifetime_days: int,
    now: dt.datetime,
    known: set[str],
) -> list[Problem]:
    """Why `after` is not a legal successor of every version in `parents` (one for a plain
    commit, one per parent for a merge). `known`: fingerprints seen before (updated here)."""
    found: list[Problem] = []
    ids = [r.key_id for r in after]
    if len(set(ids)) != len(ids):
        found.append(Problem(LEDGER_REWRITE, None, "a key id appears twice"))
    by_id = {r.key_id: r for r in after}
    for before in parents:
        if not _order_kept([r.key_id for r in before], ids, appended_only=len(parents) == 1):
            found.append(Problem(LEDGER_REWRITE, None, "records reordered or inserted before existing ones"))
        for old in before:
            new = by_id.get(old.key_id)
            if new is None:
                found.append(Problem(LEDGER_REWRITE, old.name, f"{old.key_id} ({old.status}) removed"))
            else:
                found += _changed_record(old, new)
    older = {r.key_id for before in parents for r in before}
    for record in after:
        if record.key_id not in older:
            found += new_record_problems(record, lifetime_days, now, known)
            known.add(record.fingerprint)
    found += _current_twice(after)
    return list(dict.fromkeys(found))
