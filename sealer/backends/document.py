"""Stores that keep an environment's records as one document (Vault, Auth0).

They read every record of the environment, apply one of the edits below with the rules every
backend shares (`sealer.records`), and write the result back as one document; the
`WholeDocumentStore` base turns that one `_update` into the KeyStore operations.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar

from sealer.errors import BackendError
from sealer.records import (
    PENDING,
    GraceEnds,
    KeyRecord,
    must_remove,
    plan_accept,
    plan_activate,
    plan_copy,
    plan_drop,
    plan_revoke,
    utcnow,
    verdict,
)

Records = list[KeyRecord]


def check_unique(records: Records, where: str) -> Records:
    """`records` as read, unless one key id appears twice (a hand edit: every verdict and edit
    would take whichever record it met first or last, so the store is refused)."""
    seen: set[tuple[str, str]] = set()
    for record in records:
        if (record.env, record.key_id) in seen:
            raise BackendError(f"{where} holds key {record.key_id} twice: fix the store by hand")
        seen.add((record.env, record.key_id))
    return records


def registered(records: Records, record: KeyRecord, kind: str) -> Records:
    if any(known.key_id == record.key_id for known in records):
        raise BackendError(f"{kind}: {record.env}: key {record.key_id} is registered already")
    return [*records, record.with_status(PENDING)]


def accepted(records: Records, env_name: str, key_id: str) -> Records:
    changed = plan_accept(
        next((known for known in records if known.key_id == key_id), None), env_name, key_id
    )
    return _apply(records, [changed] if changed else [])


def activated(
    records: Records, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds
) -> Records:
    return _apply(records, plan_activate(records, env_name, name, key_id, revoke_previous_at, utcnow()))


def revoked(records: Records, env_name: str, key_id: str, at: dt.datetime | None, kind: str) -> Records:
    record = next((known for known in records if known.key_id == key_id), None)
    if record is None:
        raise BackendError(f"{kind}: {env_name}: no key {key_id}")
    changed = plan_revoke(record, at, utcnow())
    return _apply(records, [changed] if changed else [])


def without_pending(records: Records, env_name: str, key_id: str) -> Records:
    record = next((known for known in records if known.key_id == key_id), None)
    if record is None or not must_remove(record, env_name, key_id):
        return records
    return [known for known in records if known.key_id != key_id]


def copied(records: Records, record: KeyRecord) -> Records:
    return [*records, record] if plan_copy(records, record) else records


def without_copy(records: Records, record: KeyRecord) -> Records:
    found = next((known for known in records if known.key_id == record.key_id), None)
    return (
        [known for known in records if known.key_id != record.key_id] if plan_drop(found, record) else records
    )


def _apply(records: Records, changes: Records) -> Records:
    new = {change.key_id: change for change in changes}
    return [new.get(record.key_id, record) for record in records]


class WholeDocumentStore:
    """register/activate/revoke/remove_pending/copy_in/drop_copy/verify for a store that provides `_update`
    (read the environment's records, apply a change, write them back atomically) and `list`."""

    kind: ClassVar[str]

    def _update(self, env_name: str, change: Callable[[Records], Records]) -> None:
        raise NotImplementedError

    def list(self, env_name: str) -> list[KeyRecord]:
        raise NotImplementedError

    def register(self, record: KeyRecord) -> None:
        self._update(record.env, lambda records: registered(records, record, self.kind))

    def accept(self, env_name: str, key_id: str) -> None:
        self._update(env_name, lambda records: accepted(records, env_name, key_id))

    def activate(self, env_name: str, name: str, key_id: str, revoke_previous_at: GraceEnds) -> None:
        self._update(env_name, lambda records: activated(records, env_name, name, key_id, revoke_previous_at))

    def revoke(self, env_name: str, key_id: str, at: dt.datetime | None = None) -> None:
        self._update(env_name, lambda records: revoked(records, env_name, key_id, at, self.kind))

    def remove_pending(self, env_name: str, key_id: str) -> None:
        self._update(env_name, lambda records: without_pending(records, env_name, key_id))

    def copy_in(self, record: KeyRecord) -> None:
        self._update(record.env, lambda records: copied(records, record))

    def drop_copy(self, record: KeyRecord) -> None:
        self._update(record.env, lambda records: without_copy(records, record))

    def verify(self, env_name: str, fingerprint: str, now: dt.datetime | None = None) -> str:
        return verdict(self.list(env_name), fingerprint, now or utcnow())
