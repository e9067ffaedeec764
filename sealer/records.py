"""The key-record model every store and the Git ledger share: records, statuses and the rules
of their life.

Stores hold hashes and metadata only, never a key. A record's life: pending (registered
during a rotation, never valid) -> accepted (the rotation is committed: valid beside the
active key, so the cluster may switch to it whenever the change is deployed) -> active (the
change is deployed: `sealer rotate --finish`) -> grace (old key, valid until `revoke_at`)
-> revoked. At most one key per (env, name) is active; an accepted key whose rotation is
abandoned is revoked.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sealer.errors import BackendError

PENDING = "pending"
ACCEPTED = "accepted"
ACTIVE = "active"
GRACE = "grace"
REVOKED = "revoked"
# Every status a record may have: any other one (a hand edit's "Revoked") is read by no rule, so
# a verdict or drift check would take the key for valid.
STATUSES = frozenset({PENDING, ACCEPTED, ACTIVE, GRACE, REVOKED})

VALID = "valid"
EXPIRED = "expired"
UNKNOWN = "unknown"


# A key "created" later than now by more than this is forged (or its clock is wrong): no age
# can be read from it.
CLOCK_SKEW = dt.timedelta(hours=1)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(moment: dt.datetime | None) -> str | None:
    return _iso(moment) if moment else None


@functools.lru_cache(maxsize=4096)  # a ledger repeats its few rotation times thousands of times
def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any) -> dt.datetime | None:
    if text in (None, ""):
        return None
    if isinstance(text, str):
        return _parse_iso(text)
    return _aware(text if isinstance(text, dt.datetime) else _parse_iso(str(text)))


@functools.lru_cache(maxsize=4096)  # as `_iso`: a ledger read repeats its few times thousands of times
def _parse_iso(text: str) -> dt.datetime:
    return _aware(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def _aware(moment: dt.datetime) -> dt.datetime:
    # a time without an offset is UTC, as sealer writes every time: never a naive one, which no
    # aware time compares with (drift and status would stop at a store's record written so)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class KeyRecord:
    env: str
    name: str  # the entry the key is sealed under, e.g. apiKey
    key_id: str
    fingerprint: str  # hex SHA-256 of the key
    created: dt.datetime
    expires: dt.datetime | None
    status: str
    actor: str
    revoke_at: dt.datetime | None = None  # end of the grace window
    sealed_with: tuple[str, ...] = ()  # fingerprints of the certificates that sealed it
    # (cluster, ciphertext_digest of the value sealer wrote there) for each cluster it sealed the
    # key for: no private key opens a ciphertext, so this is what ties a sealed file's value to
    # the key the ledger says is current (an older ciphertext put back has another digest). Only
    # the Git ledger keeps it (no store holds it: not in `as_dict`, not compared); a record an
    # older sealer wrote has none.
    sealed: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Every field but `sealed`, which only the Git ledger writes (`ledger.dump`)."""
        return {
            "env": self.env,
            "name": self.name,
            "key_id": self.key_id,
            "fingerprint": self.fingerprint,
            "created": iso(self.created),
            "expires": iso(self.expires),
            "status": self.status,
            "actor": self.actor,
            "revoke_at": iso(self.revoke_at),
            "sealed_with": list(self.sealed_with),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        created = parse_iso(data["created"])
        if created is None:  # read as "now", the key would never age: key-age and --due pass it by
            raise ValueError("no creation time")
        return cls(
            env=str(data["env"]),
            name=str(data["name"]),
            key_id=str(data["key_id"]),
            fingerprint=str(data["fingerprint"]),
            created=created,
            expires=parse_iso(data.get("expires")),
            status=str(data["status"]),
            actor=str(data.get("actor") or ""),
            revoke_at=parse_iso(data.get("revoke_at")),
            sealed_with=tuple(str(fp) for fp in data.get("sealed_with") or ()),
            sealed=_sealed(data.get("sealed")),
        )

    def with_status(self, status: str, revoke_at: dt.datetime | None = None) -> KeyRecord:
        # Every field spelled out: `dataclasses.replace` costs twice this, and a rotation retires
        # thousands of records (tests/test_ledger.py checks no field is left out).
        return KeyRecord(
            self.env,
            self.name,
            self.key_id,
            self.fingerprint,
            self.created,
            self.expires,
            status,
            self.actor,
            revoke_at,
            self.sealed_with,
            self.sealed,
        )

    def digest_for(self, cluster: str) -> str | None:
        """The digest of the ciphertext sealer wrote for `cluster`; None when none is recorded."""
        return dict(self.sealed).get(cluster)


def ciphertext_digest(value: str) -> str:
    """Hex SHA-256 of a sealed value as the SealedSecret's encryptedData holds it (base64 text)."""
    return hashlib.sha256(value.encode()).hexdigest()


def digest_owners(records: Iterable[KeyRecord]) -> dict[str, set[str]]:
    """digest -> the key ids of the records naming it: a ciphertext another record names holds
    that record's (older) key, whatever a newer record says."""
    owners: dict[str, set[str]] = {}
    for record in records:
        for _, digest in record.sealed:
            owners.setdefault(digest, set()).add(record.key_id)
    return owners


def _sealed(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError("`sealed` is not a mapping of cluster to digest")
    return tuple((str(cluster), digest) for cluster, digest in raw.items())


def from_store(data: dict[str, Any]) -> KeyRecord:
    """A record as a store holds it (a hand edit or another tool may have written it); ValueError
    when its status is none sealer gives."""
    record = KeyRecord.from_dict(data)
    if record.status not in STATUSES:
        raise ValueError(f"unknown status {record.status[:40]!r}")
    return record


def effective_status(record: KeyRecord, now: dt.datetime) -> str:
    """valid / revoked / expired / unknown for a presented key matching `record`."""
    if record.status == PENDING:
        return UNKNOWN
    if record.status == REVOKED or (record.status == GRACE and record.revoke_at and record.revoke_at <= now):
        return REVOKED
    if record.expires and record.expires <= now:
        return EXPIRED
    return VALID


def verdict(records: Iterable[KeyRecord], fingerprint: str, now: dt.datetime) -> str:
    """Compare against every stored hash in constant time per record; no early exit."""
    found: KeyRecord | None = None
    for record in records:
        if hmac.compare_digest(record.fingerprint.encode(), fingerprint.encode()):
            found = record
    return effective_status(found, now) if found else UNKNOWN


def grace_after(old: KeyRecord, new: KeyRecord) -> dt.timedelta | None:
    """The grace window a reviewed rotation gave `old` when `new` replaced it: the old key's end
    minus the new key's creation. The Git ledger counts it from the rotation (it ends at
    `revoke_at`); an external store counts it from `rotate --finish`. None: no grace window."""
    if old.status != GRACE or old.revoke_at is None:
        return None
    window = old.revoke_at - new.created
    return window if window > dt.timedelta(0) else None


def successor(records: Iterable[KeyRecord], old: KeyRecord) -> KeyRecord | None:
    """The key that replaced `old` in a ledger: the next of its entry that was ever active (in
    grace or active). A pending or revoked one in between replaced nothing `--finish` counts:
    a key copied in from a rotation that lost the race, or one revoked outright, must not move
    the start of `old`'s grace window back."""
    chain = [r for r in records if r.name == old.name]
    later = chain[chain.index(old) + 1 :] if old in chain else []
    return next((r for r in later if r.status in (GRACE, ACTIVE)), None)


# State transitions shared by every store: a store reads the records involved (locked, or
# with the versions it will condition its write on), asks these functions what changes, and
# writes the result atomically. One set of rules keeps every backend's behaviour identical.


def reviewed_grace(records: Iterable[KeyRecord], old: KeyRecord) -> dt.timedelta | None:
    """The grace window the rotation that replaced `old` gave it in this ledger (what review
    shows and `rotate --finish` grants); None: none, or nothing replaced it."""
    replaced_by = successor(records, old)
    return grace_after(old, replaced_by) if replaced_by else None


# When the keys an activation demotes stop being valid: one end for the previously active key
# (None: revoked now), or an end per key id (`rotate --finish` of rotations stacked unfinished:
# each replaced key keeps the grace its own rotation chose, an accepted one too).
GraceEnds = dt.datetime | None | Mapping[str, dt.datetime | None]


def plan_activate(
    records: Iterable[KeyRecord],
    env_name: str,
    name: str,
    key_id: str,
    revoke_previous_at: GraceEnds,
    now: dt.datetime,
) -> list[KeyRecord]:
    """The new versions of the records that change when `key_id` becomes the active key of
    (env, name): demotions first, the activated key last, so a store whose constraint allows
    one active key never sees two. Other pending keys of (env, name) are superseded (revoked):
    they belong to rotations that lost a race, so of two keys registered side by side at most
    one ever becomes active; so are accepted ones, unless `revoke_previous_at` gives them an end
    by key id. Empty when `key_id` is active already (a re-run)."""
    records = list(records)
    target = next((record for record in records if record.key_id == key_id), None)
    if target is None:
        raise BackendError(f"{env_name}: no key {key_id} to activate")
    if target.name != name:
        raise BackendError(f"{env_name}: key {key_id} belongs to {target.name!r}, not {name!r}")
    if target.status == ACTIVE:
        return []
    if target.status not in (PENDING, ACCEPTED):
        raise BackendError(
            f"{env_name}: key {key_id} is {target.status}: only a pending or accepted key can be activated"
        )
    changes = [
        _demoted(record, revoke_previous_at, now)
        for record in records
        if record.name == name and record.key_id != key_id and record.status in (PENDING, ACCEPTED, ACTIVE)
    ]
    return [*changes, target.with_status(ACTIVE)]


def _demoted(record: KeyRecord, ends: GraceEnds, now: dt.datetime) -> KeyRecord:
    if isinstance(ends, Mapping):
        grace_until, valid = ends.get(record.key_id), {ACTIVE, ACCEPTED}
    else:
        grace_until, valid = ends, {ACTIVE}
    if record.status in valid and grace_until is not None and grace_until > now:
        return record.with_status(GRACE, grace_until)
    return record.with_status(REVOKED, now)  # revoke_at of a revoked key: when it happened


def plan_accept(record: KeyRecord | None, env_name: str, key_id: str) -> KeyRecord | None:
    """The record after accepting it (pending -> accepted: valid beside the active key); None
    when it is accepted or active already (a re-run). BackendError when unknown or revoked."""
    if record is None:
        raise BackendError(f"{env_name}: no key {key_id} to accept")
    if record.status in (ACCEPTED, ACTIVE):
        return None
    if record.status != PENDING:
        raise BackendError(f"{env_name}: key {key_id} is {record.status}: only a pending key can be accepted")
    return record.with_status(ACCEPTED)


def plan_revoke(record: KeyRecord, at: dt.datetime | None, now: dt.datetime) -> KeyRecord | None:
    """The record after revoking it now (`at` None or past) or at `at`; None when nothing
    changes. A revocation never extends validity, and a pending key is revoked at once (a
    grace window would make a key valid that never was)."""
    if record.status == REVOKED:
        return None
    if at is not None and at > now and record.status in (ACTIVE, GRACE):
        end = min(at, record.revoke_at) if record.status == GRACE and record.revoke_at else at
        changed = record.with_status(GRACE, end)
    else:
        changed = record.with_status(REVOKED, now)
    return None if changed == record else changed


def must_remove(record: KeyRecord | None, env_name: str, key_id: str) -> bool:
    """For `remove_pending`: True to delete a pending record; False when there is nothing to
    compensate (gone already, or revoked); BackendError when the key is serving."""
    if record is None or record.status == REVOKED:
        return False
    if record.status != PENDING:
        raise BackendError(f"{env_name}: key {key_id} is {record.status}, not pending: not removed")
    return True


def oldest_first(records: Iterable[KeyRecord]) -> list[KeyRecord]:
    """Records by creation time; ties keep the store's own (insertion) order."""
    return sorted(records, key=lambda record: record.created)


# Migration (`sealer backend set`): a record copied as it is, any status, from the store in charge
# to the next one; a copy a failed migration left is dropped only while it is exactly that copy.


def plan_copy(records: Iterable[KeyRecord], record: KeyRecord) -> bool:
    """True to write `record` into a store holding `records`; False when it holds this very
    record already (a re-run). BackendError naming the key when the store holds another version
    of it, or another active key of its (env, name)."""
    records = list(records)
    found = next((known for known in records if known.key_id == record.key_id), None)
    if found is not None:
        if found == record:
            return False
        raise BackendError(
            f"{record.env}: key {record.key_id} is there already as {found.status} with other metadata"
        )
    if record.status == ACTIVE:
        other = next((r for r in records if r.name == record.name and r.status == ACTIVE), None)
        if other is not None:
            raise BackendError(f"{record.env}: {record.name!r} has another active key there ({other.key_id})")
    return True


def plan_drop(found: KeyRecord | None, record: KeyRecord) -> bool:
    """True to delete the copy `record`; False when it is gone. BackendError when the store holds
    another version of the key (changed since the copy: not ours to remove)."""
    if found is None:
        return False
    if found != record:
        raise BackendError(
            f"{record.env}: key {record.key_id} changed since it was copied ({found.status}): left in place"
        )
    return True
