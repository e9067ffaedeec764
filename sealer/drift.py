"""Drift: what an environment's key store holds against what the committed ledger says (#17).

A revocation made in the Auth0 dashboard or by a DBA, a record edited by hand, a key added
behind sealer's back: sealer's own commands never see them. This compares, per key, the store
(through the KeyStore protocol only) with HEAD's ledger, the reviewed truth, and says for each
difference the command that reconciles it.

The phases of a rotation are not drift: a committed key the store accepts but has not
activated yet, the old key it replaced still active in the store until `sealer rotate --finish`
(and the one before, when that rotation was never finished either: `left_until_finish`), a new
key accepted on a rotation branch under review (`under_review`: a branch of sealer's own whose
ledger records the key as the store does, for at most REVIEW_WITHIN since the key's creation; any
other branch anyone pushed excuses nothing), a pending key (never valid), and an old key in
the grace window `--finish` began, which the store counts from the finish and the ledger from the
rotation (`finish_grace`: bounded by the merge's time). A wait for `--finish` longer than a day
after the merge is drift again (`finish_overdue`). Any other older key valid in the store is
drift, whatever rotation waits. A store that cannot be read is reported as drift of its own kind:
never "no drift" for what nobody looked at.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import branches, git, layout, ledger
from sealer.backends import open_store
from sealer.config import Config
from sealer.errors import SealerError
from sealer.records import (
    ACCEPTED,
    ACTIVE,
    CLOCK_SKEW,
    GRACE,
    PENDING,
    VALID,
    KeyRecord,
    effective_status,
    grace_after,
    iso,
    successor,
    utcnow,
)

# The kinds of drift, most dangerous first.
VALID_IN_STORE = "valid-in-store"  # revoked (or expired) in the ledger, still valid in the store
UNKNOWN_IN_STORE = "unknown-in-store"  # a valid key in the store that no ledger holds
METADATA = "metadata-mismatch"  # same key id, another fingerprint, name, creation or expiry
NOT_VALID_IN_STORE = "not-valid-in-store"  # valid in the ledger, revoked or expired in the store
NOT_ACCEPTED = "not-accepted"  # committed, but the store still holds it pending
MISSING_IN_STORE = "missing-in-store"  # valid in the ledger, absent from the store
UNREADABLE = "store-unreadable"  # the store could not be read: nothing is known to be in sync

KINDS = (
    VALID_IN_STORE,
    UNKNOWN_IN_STORE,
    METADATA,
    NOT_VALID_IN_STORE,
    NOT_ACCEPTED,
    MISSING_IN_STORE,
    UNREADABLE,
)


@dataclass(frozen=True)
class Drift:
    env: str
    kind: str
    key_id: str | None  # None: the whole store (unreadable)
    name: str | None  # the entry the key is sealed under
    ledger_status: str | None
    store_status: str | None
    message: str
    fix: str  # the command that reconciles it

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


# A store's records, or why it could not be read (its credentials missing included).
Listing = list[KeyRecord] | SealerError


def read_store(cfg: Config, env_name: str) -> Listing:
    """ENV's store opened and listed once: opening it may be a login (Vault, Auth0), so a command
    that shows the store twice (`sealer status`) passes this one listing to `compare`."""
    env = cfg.env(env_name)
    try:
        store = open_store(env.backend_kind, env.backend_options, cfg.root, env.backend_credentials, env.name)
        return store.list(env.name)
    except SealerError as err:
        return err


def compare(
    cfg: Config, env_name: str, now: dt.datetime | None = None, listing: Listing | None = None
) -> list[Drift]:
    """Every drift between ENV's store (`listing`, or read now) and HEAD's ledger; an unreadable
    store is one entry."""
    env = cfg.env(env_name)
    try:
        committed = ledger.at_revision(cfg.root, "HEAD", env.name)
    except SealerError as err:
        return [_unreadable(env.name, env.backend_kind, err)]
    stored = read_store(cfg, env.name) if listing is None else listing
    if isinstance(stored, SealerError):
        return [_unreadable(env.name, env.backend_kind, stored)]
    ledger_rel = layout.ledger_file(env.name)
    return differences(
        env.name,
        committed,
        stored,
        now or utcnow(),
        functools.partial(under_review, cfg.root, env.name),
        revoked_at_once(cfg, env.name),
        # cached: finish_overdue and finish_grace ask for the same keys (one `git log` each)
        functools.cache(functools.partial(_landed, cfg.root, ledger_rel, _on_own_branch(cfg.root))),
    )


def under_review(root: Path, env_name: str, theirs: KeyRecord) -> str | None:
    """The rotation branch whose pull request the store's accepted key `theirs` waits for: one of
    sealer's own (`branches.is_own_ref`), local or remote-tracking, whose ledger records the key as
    the store does (fingerprint, entry, creation, expiry). None when no such branch holds it: a
    branch of any other name, or a ledger that records another key under that id, is what someone
    with push access pushes to hide a rogue key, not a rotation under review."""
    ledger_rel = layout.ledger_file(env_name)
    for ref in git.refs_holding(root, theirs.key_id, ledger_rel):
        if not branches.is_own_ref(root, ref):
            continue
        try:
            records = ledger.at_revision(root, ref, env_name)
        except SealerError:
            continue  # a ledger that cannot be read vouches for nothing
        if any(r.key_id == theirs.key_id and _metadata(r) == _metadata(theirs) for r in records):
            return branches.short_name(root, ref)
    return None


def _on_own_branch(root: Path) -> bool:
    """On a branch of sealer's own, or detached where only such branches are."""
    here = git.current_branch(root)
    if here is not None:
        return branches.is_own(root, here)
    head = git.head(root)
    return head is not None and branches.own_branch_at(root, head) is not None


def _landed(root: Path, ledger_rel: str, own_branch: bool, key_id: str) -> dt.datetime | None:
    """When the main line took `key_id` in (`git.first_landed`). On a rotation's own branch, HEAD's
    history holds commits no merge took in yet: a key only such branches hold has not landed."""
    if own_branch and all(
        branches.is_own_ref(root, ref) for ref in git.refs_holding(root, key_id, ledger_rel)
    ):
        return None
    return git.first_landed(root, key_id, ledger_rel)


def _unreadable(env_name: str, kind: str, err: SealerError) -> Drift:
    fix = f"sealer backend check {env_name}, then run this again"
    message = f"{kind} store cannot be read ({err}): drift unknown"
    return Drift(env_name, UNREADABLE, None, None, None, None, message, fix)


# `keys revoke`'s subject and `keys compromised`'s trailer: the store revokes at once (a
# rotation's own `Sealer-Key-Id:` trailers name its new keys, not revoked ones).
_AT_ONCE = re.compile(r"^(?:sealer: revoke \S+ key |Sealer-Compromised-Key-Id: *)(\S+) *$", re.MULTILINE)


def revoked_at_once(cfg: Config, env_name: str) -> frozenset[str]:
    """Key ids HEAD's history revoked with no wait for `rotate --finish` (a forged trailer only
    makes drift stricter)."""
    if git.head(cfg.root) is None:
        return frozenset()
    log = git.run(
        cfg.root, "--literal-pathspecs", "log", "--format=%B", "HEAD", "--", layout.ledger_file(env_name)
    )
    return frozenset(_AT_ONCE.findall(log))


def differences(
    env_name: str,
    committed: list[KeyRecord],
    stored: list[KeyRecord],
    now: dt.datetime,
    under_review: Callable[[KeyRecord], str | None] = lambda record: None,
    at_once: frozenset[str] = frozenset(),
    landed: Callable[[str], dt.datetime | None] = lambda key_id: None,
) -> list[Drift]:
    """The drift of each key, most dangerous first; `under_review(record)`: the rotation branch
    whose ledger holds the store's record (a rotation's pull request), so the store may accept it
    before HEAD's ledger knows it, or None;
    `at_once`: keys revoked by `keys revoke`/`keys compromised`, never left valid until --finish;
    `landed(key_id)`: when the main line first held the key (its merge), or None if unknown."""
    in_store = {r.key_id: r for r in stored}
    in_ledger = {r.key_id: r for r in committed}
    waiting = left_until_finish(committed, in_store, at_once)
    late = finish_overdue(committed, in_store, landed, now, waiting)
    excused = (waiting - set(late)) | finish_grace(committed, in_store, landed)
    found = [
        d
        for r in committed
        if (d := _of_ledger_key(env_name, r, in_store.get(r.key_id), now, excused, late.get(r.key_id)))
    ]
    found += [
        d
        for r in stored
        if r.key_id not in in_ledger and (d := _of_extra_key(env_name, r, now, under_review))
    ]
    return sorted(found, key=lambda d: KINDS.index(d.kind))


def _of_ledger_key(
    env: str,
    mine: KeyRecord,
    theirs: KeyRecord | None,
    now: dt.datetime,
    excused: frozenset[str] = frozenset(),
    late: str | None = None,
) -> Drift | None:
    ledger_valid = effective_status(mine, now) == VALID
    rotate = f"sealer rotate {env} --key {mine.name}"
    if theirs is None:
        if not ledger_valid:
            return None  # a revoked key the store never held (it was configured later): harmless
        return _drift(
            env, MISSING_IN_STORE, mine, None, "valid in the ledger, missing from the store", rotate
        )
    if _metadata(mine) != _metadata(theirs):
        what = ", ".join(
            f for f, a, b in zip(_FIELDS, _metadata(mine), _metadata(theirs), strict=True) if a != b
        )
        message = f"the store's record differs from the ledger's in {what}"
        return _drift(env, METADATA, mine, theirs, message, f"sealer keys compromised {env} {mine.key_id}")
    store_valid = effective_status(theirs, now) == VALID
    if ledger_valid and not store_valid:
        if theirs.status == PENDING:
            message = "committed, but the store still holds it pending (the rotation did not finish)"
            return _drift(env, NOT_ACCEPTED, mine, theirs, message, "sealer rotate --resume")
        message = (
            f"valid in the ledger, {effective_status(theirs, now)} in the store: verifiers refuse it "
            "(a revocation made behind sealer's back, or one not merged yet)"
        )
        return _drift(env, NOT_VALID_IN_STORE, mine, theirs, message, rotate)
    if store_valid and not ledger_valid and mine.key_id not in excused:
        message = f"{effective_status(mine, now)} in the ledger, still valid in the store"
        if late:
            message += f": {late}, and `sealer rotate --finish` has not run since"
            return _drift(env, VALID_IN_STORE, mine, theirs, message, "sealer rotate --finish")
        return _drift(env, VALID_IN_STORE, mine, theirs, message, f"sealer keys revoke {env} {mine.key_id}")
    return None


def left_until_finish(
    committed: list[KeyRecord], in_store: dict[str, KeyRecord], at_once: frozenset[str] = frozenset()
) -> frozenset[str]:
    """Old keys a rotation waiting for `sealer rotate --finish` leaves valid in the store: per
    entry whose current key the store has not activated yet, the key that rotation replaced,
    and while that one was itself never activated (its rotation was not finished either), the
    key before it, back to the key the store activated last. Exactly what `--finish` revokes
    (`records.plan_activate` demotes the entry's accepted and active keys)."""
    excused: set[str] = set()
    for chain in _chains(committed).values():
        current = chain[-1]
        if current.status != ACTIVE or _store_status(in_store, current) not in (ACCEPTED, PENDING):
            continue  # no rotation of this entry waits for --finish
        for older in reversed(chain[:-1]):
            status = _store_status(in_store, older)
            if older.key_id in at_once or status not in _AWAITING_FINISH:
                break  # revoked at once, or out of the chain --finish demotes
            if status != PENDING:
                excused.add(older.key_id)
            if status == ACTIVE:
                break  # the key the store activated last: anything older was revoked then
    return frozenset(excused)


def finish_overdue(
    committed: list[KeyRecord],
    in_store: dict[str, KeyRecord],
    landed: Callable[[str], dt.datetime | None],
    now: dt.datetime,
    waiting: frozenset[str],
) -> dict[str, str]:
    """Old keys `left_until_finish` would excuse whose rotation landed on the main line more than
    FINISH_WITHIN ago: `--finish` is overdue (the pipeline failed, or a store writer set finished
    keys back to accepted), so they are drift again. Key id -> what landed, and when."""
    late: dict[str, str] = {}
    for chain in _chains(committed).values():
        current = chain[-1]
        if current.status != ACTIVE or _store_status(in_store, current) not in (ACCEPTED, PENDING):
            continue
        merged = landed(current.key_id)
        if merged is None or merged + FINISH_WITHIN >= now:
            continue  # not on the main line (or a shallow clone), or still within its day
        for older in chain[:-1]:
            if older.key_id in waiting:
                late[older.key_id] = f"{current.key_id} landed on the main line {iso(merged)}"
    return late


# How long after a rotation's merge the main-branch pipeline's `rotate --finish` may run and its
# grace window still be a phase, not drift (a finish delayed longer is reported: look at why).
FINISH_WITHIN = dt.timedelta(days=1)


def finish_grace(
    committed: list[KeyRecord],
    in_store: dict[str, KeyRecord],
    landed: Callable[[str], dt.datetime | None],
) -> frozenset[str]:
    """Old keys in the grace window `rotate --finish` began: the store counts it from the finish,
    the ledger from the rotation, so the store's window ends later than the ledger's. Excused
    while the store's end is no later than that window (`grace_after`, as `--finish` computes it
    from the ledger) counted from a finish within FINISH_WITHIN of the merge that landed the key
    now active (the ledger's last, or the one before rotations that still wait for `--finish`): a
    store edit that stretches it further, or renews it, is drift."""
    excused: set[str] = set()
    for chain in _chains(committed).values():
        current = _activated(chain, in_store)
        if current is None:
            continue  # no finished rotation of this entry
        upto = chain[: chain.index(current) + 1]
        for older in upto[:-1]:
            theirs = in_store.get(older.key_id)
            # as `--finish` ended it: by the key that replaced it, or the one it activated
            window = grace_after(older, successor(upto[:-1], older) or current)
            if theirs is None or theirs.status != GRACE or theirs.revoke_at is None or window is None:
                continue
            merged = landed(current.key_id)
            if merged is not None and theirs.revoke_at <= merged + FINISH_WITHIN + window:
                excused.add(older.key_id)
    return frozenset(excused)


def _activated(chain: list[KeyRecord], in_store: dict[str, KeyRecord]) -> KeyRecord | None:
    """The entry's key the store activated last, when the ledger's current key is it or the keys
    committed after it only wait for `--finish` (accepted or pending in the store)."""
    if chain[-1].status != ACTIVE:
        return None
    for record in reversed(chain):
        status = _store_status(in_store, record)
        if status == ACTIVE:
            return record
        if status not in (ACCEPTED, PENDING):
            return None
    return None


# Store statuses `--finish` demotes (pending ones are never valid, but their rotation was not
# finished either, so the key before them may still be active).
_AWAITING_FINISH = (ACTIVE, ACCEPTED, PENDING)


def _chains(committed: list[KeyRecord]) -> dict[str, list[KeyRecord]]:
    """Each entry's keys in ledger order: the ledger is append-only (review refuses a reorder), a
    rotation appends the new key after the one it replaces. Never the `created` times: two
    rotations within a second share one."""
    chains: dict[str, list[KeyRecord]] = {}
    for record in committed:
        chains.setdefault(record.name, []).append(record)
    return chains


def _store_status(in_store: dict[str, KeyRecord], record: KeyRecord) -> str | None:
    stored = in_store.get(record.key_id)
    return stored.status if stored else None


# How long a rotation's pull request may wait for its merge (or `rotate --abandon`) while the store
# accepts its keys: two weeks hold a review queue and a holiday, and are short against a key's
# lifetime. Longer, the accepted key is drift again (as FINISH_WITHIN bounds the wait for --finish).
REVIEW_WITHIN = dt.timedelta(days=14)
# A key created later than now by more than this is forged (review's rule for a new key too).


def _of_extra_key(
    env: str, theirs: KeyRecord, now: dt.datetime, under_review: Callable[[KeyRecord], str | None]
) -> Drift | None:
    if effective_status(theirs, now) != VALID:
        return None  # pending (never valid) or revoked: nothing a verifier accepts
    branch = under_review(theirs) if theirs.status == ACCEPTED else None
    # The wait is dated from the key's `created`, not the branch's commits: a commit's time is
    # whatever its author sets, and an honest rebase or amend renews it; `created` is written once
    # by the rotation, must be the same in the store and the branch's ledger (under_review), and a
    # merge review refuses one rewritten or in the future. So a rogue key stays hidden no longer
    # than REVIEW_WITHIN after the time it claims, and that claim cannot lie ahead of now.
    if branch is not None and now - REVIEW_WITHIN <= theirs.created <= now + CLOCK_SKEW:
        return None  # a rotation under review: its branch holds the key as the store does
    if branch is not None and theirs.created <= now + CLOCK_SKEW:
        message = (
            f"accepted in the store for rotation branch {branch}, under review since "
            f"{iso(theirs.created)}: longer than {REVIEW_WITHIN.days} days"
        )
        fix = f"merge {branch}, or sealer rotate --abandon {branch}"
        return _drift(env, UNKNOWN_IN_STORE, None, theirs, message, fix)
    message = "valid in the store, unknown to the ledger"
    return _drift(env, UNKNOWN_IN_STORE, None, theirs, message, f"sealer keys revoke {env} {theirs.key_id}")


_FIELDS = ("name", "fingerprint", "created", "expires")


def _metadata(record: KeyRecord) -> tuple[object, ...]:
    return (record.name, record.fingerprint, record.created, record.expires)


def _drift(
    env: str, kind: str, mine: KeyRecord | None, theirs: KeyRecord | None, message: str, fix: str
) -> Drift:
    record = mine or theirs
    assert record is not None
    return Drift(
        env,
        kind,
        record.key_id,
        record.name,
        mine.status if mine else None,
        theirs.status if theirs else None,
        message,
        fix,
    )


def compare_all(cfg: Config, env_names: Iterable[str], now: dt.datetime | None = None) -> list[Drift]:
    now = now or utcnow()
    return [d for name in env_names for d in compare(cfg, name, now)]
