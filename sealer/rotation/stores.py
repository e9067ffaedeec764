"""Key-store synchronisation, phase by phase. With an external store (PostgreSQL, DynamoDB,
Vault, Auth0) a key goes pending (registered before the commit, never valid) -> accepted (the
rotation is committed: valid beside the old key) -> active (deployed: `sealer rotate --finish`
after the merge; the old key is revoked or enters its grace window then). With the default
k8s-secrets store the committed ledger *is* the store, so the merge itself is the deployment
(its direct delivery of the key registry follows the same phases: `registry_delivery`).

What a phase does is derived from the committed ledger and sealer.yaml, never taken from a
journal: the keys to accept are those the commit's ledger holds as active, the store is the one
sealer.yaml configures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sealer import clusters, faults, git, layout, ledger
from sealer.backends import DEFAULT_BACKEND, KeyStore, check_ready, open_store
from sealer.config import Config, Environment
from sealer.errors import (
    BadInput,
    InterruptedInFlight,
    PartlyDone,
    SealerError,
    WriteInFlight,
    WriteUnconfirmed,
)
from sealer.records import (
    ACCEPTED,
    ACTIVE,
    GRACE,
    PENDING,
    REVOKED,
    KeyRecord,
    iso,
    reviewed_grace,
    successor,
)


@dataclass(frozen=True)
class Activation:
    """One key made active by the deployed phase (or revoked as abandoned)."""

    env: str
    name: str
    key_id: str
    previous_key_id: str | None
    revoke_previous_at: str | None  # end of the old key's grace window; None: revoked now
    # Every key the activation ended and its end: with rotations stacked unfinished, the key the
    # cluster serves (an earlier rotation's) is not `previous_key_id` and may end first.
    replaced: dict[str, str | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(vars(self))


class Stores:
    """One client per configured store: each costs a connection (and Auth0 a token). The
    credential source is part of what makes a store (#17): environments in different accounts
    or tenants never share a client, even with the same options."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._open: dict[str, KeyStore] = {}

    def of(self, env: Environment) -> KeyStore:
        where = json.dumps([env.backend_kind, env.backend_options, env.backend_credentials], sort_keys=True)
        if where not in self._open:
            self._open[where] = open_store(
                env.backend_kind, env.backend_options, self.cfg.root, env.backend_credentials, env.name
            )
        return self._open[where]


def external(env: Environment) -> bool:
    # The GitOps store is the committed ledger itself: the commit is its registration and activation.
    return env.backend_kind != DEFAULT_BACKEND


def open_external(stores: Stores, envs: Iterable[Environment]) -> None:
    """Open every external store before a phase changes any (as `register` does): what no run
    on this machine gets past (a missing extra or credential variable, a refused setting) stops
    the command with nothing changed (exit 2, README). An outage stays each environment's own
    failure, named in the phase's `left` while the others finish."""
    for env in filter(external, envs):
        try:
            stores.of(env)
        except BadInput:
            raise
        except SealerError:
            pass
        check_ready(env.backend_kind, env.backend_options, env.backend_credentials, env.name)


# -- rotate phase, before the commit -------------------------------------------------------------


def register(
    stores: Stores, envs: list[Environment], new: dict[str, list[KeyRecord]], tidied: list[str]
) -> list[tuple[KeyStore, KeyRecord]]:
    """Register every new key as pending, then clean up earlier runs' leftovers (`tidy`), each
    named in `tidied` once done (what `compensate` reports kept); on failure remove the keys
    already registered."""
    done: list[tuple[KeyStore, KeyRecord]] = []
    in_flight: list[str] = []  # given up on under way: no read-back shows them absent
    for env in envs:
        stores.of(env)  # #17: every environment's credentials are there before any store changes
    try:
        for env in filter(external, envs):
            store = stores.of(env)
            for record in new[env.name]:
                try:
                    store.register(record.with_status(PENDING))
                except BaseException as err:
                    if _may_have_landed(err):
                        done.append((store, record))  # undone (and checked) with the others
                    if isinstance(err, (WriteInFlight, InterruptedInFlight)):
                        in_flight.append(record.key_id)
                    raise
                done.append((store, record))
                faults.point("after-register")
        # Earlier runs' leftovers go once every registration is in: a refused one leaves the
        # store as it was (exit 2: nothing changed), clean-ups included.
        for env in filter(external, envs):
            tidy_noted(stores.cfg.root, stores.of(env), env.name, tidied, {r.key_id for r in new[env.name]})
    except BaseException:
        compensate(done, tidied, in_flight)
        raise
    return done


def _may_have_landed(err: BaseException) -> bool:
    """A registration that failed this way may still be in the store: its read-back could not
    confirm it (kept, or not), or the run stopped (Ctrl-C, a bug) with the write under way. A
    store's refusal or outage before the write (BackendError) left nothing."""
    return isinstance(err, WriteUnconfirmed) or not isinstance(err, SealerError)


def tidy(
    root: Path,
    store: KeyStore,
    env_name: str,
    revoked: list[KeyRecord] | None = None,
    keep: Collection[str] = (),
    removed: list[KeyRecord] | None = None,
) -> None:
    """Drop pending keys no ledger knows (a run killed before its journal: never valid) but
    those in `keep` (the running rotation's own), and revoke accepted keys no branch holds any
    more (abandoned rotations: never deployed). Each key joins `revoked` (or `removed`) once
    done: one failing later leaves those before it reported."""
    known = {r.key_id for r in ledger.load(root, env_name)} | set(keep)
    revoked = [] if revoked is None else revoked
    for record in store.list(env_name):
        if record.status == PENDING and record.key_id not in known:
            store.remove_pending(env_name, record.key_id)
            if removed is not None:
                removed.append(record)
        elif record.status == ACCEPTED and record.key_id not in known and _abandoned(root, record):
            store.revoke(env_name, record.key_id)
            revoked.append(record)


def tidy_noted(
    root: Path, store: KeyStore, env_name: str, tidied: list[str], keep: Collection[str] = ()
) -> None:
    """`tidy`, each change it made (and a write it sent unconfirmed) named in `tidied`, for
    the partly-done message of a run it then fails."""
    revoked: list[KeyRecord] = []
    removed: list[KeyRecord] = []
    unsure: list[str] = []
    try:
        tidy(root, store, env_name, revoked, keep, removed)
    except (WriteUnconfirmed, InterruptedInFlight):
        unsure.append(f"one more in {env_name} was sent (not confirmed)")
        raise
    finally:
        tidied += [f"{r.key_id} ({env_name}) removed as a stale pending key" for r in removed]
        tidied += [f"{r.key_id} ({env_name}) revoked as abandoned" for r in revoked] + unsure


def _abandoned(root: Path, record: KeyRecord) -> bool:
    """No local or remote-tracking branch carries the key in its ledger: its pull request was
    closed unmerged and its branch deleted (fetch with --prune first in CI)."""
    return not git.refs_holding(root, record.key_id, layout.ledger_file(record.env))


def compensate(
    registered: list[tuple[KeyStore, KeyRecord]],
    tidied: list[str] | None = None,
    in_flight: Collection[str] = (),
) -> None:
    """Undo a run stopped before its commit (called while its exception is handled): remove each
    pending key it registered, and read the store again to see it gone. What may be left turns
    a refusal or Ctrl-C (exit 2 or 130: nothing changed) into PartlyDone naming each key: it is
    never valid, and the next rotation removes it (`tidy`). So do earlier runs' leftovers this
    run cleaned up (`tidied`) before it stopped: they stay done. A key whose registration was
    given up on while under way (`in_flight`: WriteInFlight, or InterruptedInFlight, whose user
    pressed Ctrl-C again: not even tried) may land after the read-back: left."""
    left, envs = [], set()
    cause = sys.exc_info()[1]
    stopped = False  # Ctrl-C during the undoing itself: what is not seen removed yet is left
    for store, record in registered:
        if stopped or (record.key_id in in_flight and isinstance(cause, InterruptedInFlight)):
            gone = False
        else:
            try:
                gone = _removed(store, record)
            except KeyboardInterrupt:
                stopped, gone = True, False
        if record.key_id in in_flight or not gone:
            under_way = ", its write still under way" if record.key_id in in_flight else ""
            left.append(f"{record.key_id} ({record.env}, {store.kind} store{under_way})")
            envs.add(record.env)
    if not (left or tidied) or not isinstance(cause, (SealerError, KeyboardInterrupt)):
        return  # a bug's exit 3 claims nothing
    plain_ctrl_c = isinstance(cause, KeyboardInterrupt) and not isinstance(cause, InterruptedInFlight)
    why = "interrupted" if plain_ctrl_c else str(cause)
    why += " (then interrupted while undoing)" if stopped and not plain_ctrl_c else ""
    stayed = []
    if left:
        stayed.append(
            f"what this run registered could not be removed: {'key' if len(left) == 1 else 'keys'} "
            f"{', '.join(left)} may be left pending (never valid: no ledger holds it; the next "
            f"`sealer rotate` removes it, `sealer keys list "
            f"{next(iter(envs)) if len(envs) == 1 else 'ENV'}` shows it)"
        )
    if tidied:
        stayed.append(f"the key store's clean-up of earlier runs stays done: {', '.join(tidied)}")
    raise PartlyDone(f"{why}; nothing was committed, but {'; and '.join(stayed)}") from None


def _removed(store: KeyStore, record: KeyRecord) -> bool:
    """Remove a pending key this run registered; True once a read of the store shows it gone."""
    try:
        store.remove_pending(record.env, record.key_id)
        return all(r.key_id != record.key_id or r.status == REVOKED for r in store.list(record.env))
    except SealerError:
        return False


# -- rotate phase, after the commit (rolled forward) -----------------------------------------------


def accept_committed(
    stores: Stores, commit: str, envs: list[Environment], still: str | None = None
) -> list[str]:
    """Accept each key the commit's ledger holds as active and the store holds as pending; a
    no-op when done already. `still`: a later revision whose ledger must hold it active too (a
    branch that revoked it since). Returns the accepted key ids."""
    accepted = []
    for env in filter(external, envs):
        store = stores.of(env)
        in_store = {r.key_id: r.status for r in store.list(env.name)}
        root = stores.cfg.root
        active = (
            None
            if still is None
            else {r.key_id for r in ledger.at_revision(root, still, env.name) if r.status == ACTIVE}
        )
        for record in ledger.at_revision(root, commit, env.name):
            if active is not None and record.key_id not in active:
                continue
            if record.status == ACTIVE and in_store.get(record.key_id) == PENDING:
                store.accept(env.name, record.key_id)
                accepted.append(record.key_id)
                faults.point("after-accept-one")
    return accepted


def revoke_committed(stores: Stores, commit: str, revocations: list[list[str]], cfg: Config) -> list[str]:
    """`keys revoke` after its commit: the store follows what the committed ledger records for
    each named key (revoked, or in grace until its end)."""
    done = []
    for env_name, key_id in revocations:
        env = cfg.env(env_name)
        if not external(env):
            continue
        record = next((r for r in ledger.at_revision(cfg.root, commit, env.name) if r.key_id == key_id), None)
        if record is None or record.status not in (REVOKED, GRACE):
            continue  # the commit does not revoke it: nothing a journal alone may ask
        store = stores.of(env)
        if not any(r.key_id == key_id for r in store.list(env.name)):
            continue  # a store that never held it (drift, #17) has nothing to revoke
        store.revoke(env.name, key_id, record.revoke_at if record.status == GRACE else None)
        done.append(key_id)
    return done


@contextlib.contextmanager
def outside_git(key_id: str) -> Iterator[None]:
    """A revocation the store alone makes (no commit: the ledger holds the key revoked already,
    or never held it). A write sent but not confirmed may have landed: partly done, never
    "nothing changed" (exit 2)."""
    try:
        yield
    except WriteUnconfirmed as err:
        raise PartlyDone(
            f"{err}; the key store may hold {key_id} revoked already: run the same command again to finish"
        ) from None


def follow_ledger_revocation(store: KeyStore, env_name: str, key_id: str) -> bool:
    """The ledger holds the key revoked: revoke it in a store that still holds it unrevoked (drift,
    #17). True when the store changed."""
    if any(r.key_id == key_id and r.status != REVOKED for r in store.list(env_name)):
        store.revoke(env_name, key_id)
        return True
    return False


# -- deployed phase -----------------------------------------------------------------------------


def activate_deployed(stores: Stores, env: Environment, now: dt.datetime, done: list[Activation]) -> None:
    """After the merge: each key HEAD's ledger holds as active and the store holds as accepted
    (or still pending) becomes active; the old key is revoked now, or enters the grace window the
    reviewed rotation chose, counted from now. Idempotent: an active key is left alone. Each
    activation joins `done` once made: one failing later leaves those before it reported."""
    if not external(env):
        return  # k8s-secrets: the merged ledger is the store; the merge was the deployment
    store = stores.of(env)
    in_store = {r.key_id: r for r in store.list(env.name)}
    ledger_now = ledger.at_revision(stores.cfg.root, "HEAD", env.name)
    due = [r for r in ledger_now if r.status == ACTIVE and _waiting(in_store.get(r.key_id))]
    if due and clusters.several(env):
        clusters.require_deployed(env, due)  # #17: deployed means served by every cluster
    rel = layout.ledger_file(env.name)
    landing = functools.cache(lambda key_id: git.landing_commit(stores.cfg.root, key_id, rel))
    for record in due:
        previous = _previous(in_store.values(), record)
        ends = _grace_ends(ledger_now, in_store, record, previous, now, landing)
        store.activate(env.name, record.name, record.key_id, ends)
        until = ends.get(previous) if previous else None
        replaced = {key_id: iso(end) for key_id, end in ends.items()}
        done.append(Activation(env.name, record.name, record.key_id, previous, iso(until), replaced))
        faults.point("after-activate-one")


def _grace_ends(
    ledger_now: list[KeyRecord],
    in_store: dict[str, KeyRecord],
    record: KeyRecord,
    previous: str | None,
    now: dt.datetime,
    landing: Callable[[str], str | None],
) -> dict[str, dt.datetime | None]:
    """When each key `record`'s activation replaces stops being valid: the grace window of the
    rotation that replaced it (`records.successor`, what `sealer review` showed), counted from
    now. One key, usually. With rotations stacked unfinished (the store still accepts an earlier
    one's keys), an earlier key the main line took in before the key that replaced it may be the
    one the cluster serves: it keeps its own window too. One that landed with its successor (two
    rotations in one pull request) was never served: it is superseded, revoked now. `landing`:
    the main-line commit that took a key in (None: unknown, so not served)."""
    chain = [r for r in ledger_now if r.name == record.name]
    by_id = {r.key_id: r for r in ledger_now}
    replaced = [by_id[previous]] if previous in by_id else []
    for older in reversed(chain[: chain.index(record)]):
        if older.status != GRACE:
            continue  # no rotation step (`records.successor`): superseded, revoked now
        if not _waiting(in_store.get(older.key_id)):
            break  # the key the store activated last (or revoked): the chain starts after it
        if _landed_before_its_successor(ledger_now, older, landing):
            replaced.append(older)
    ends: dict[str, dt.datetime | None] = {previous: None} if previous else {}
    for old in replaced:
        grace = reviewed_grace(ledger_now, old)
        ends[old.key_id] = now + grace if grace else None
    return ends


def _landed_before_its_successor(
    ledger_now: list[KeyRecord], old: KeyRecord, landing: Callable[[str], str | None]
) -> bool:
    replaced_by = successor(ledger_now, old)
    if replaced_by is None:
        return False
    took_in, took_successor = landing(old.key_id), landing(replaced_by.key_id)
    return took_in is not None and took_successor is not None and took_in != took_successor


def _waiting(stored: KeyRecord | None) -> bool:
    """A key the store holds as accepted (or still pending): the deployed phase activates it."""
    return stored is not None and stored.status in (ACCEPTED, PENDING)


def _previous(records: Iterable[KeyRecord], new: KeyRecord) -> str | None:
    return next((r.key_id for r in records if r.name == new.name and r.status == ACTIVE), None)


# -- abandoned phase ----------------------------------------------------------------------------


def abandon_branch(stores: Stores, env: Environment, branch_ref: str) -> list[Activation]:
    """`sealer rotate --abandon BRANCH`: the keys BRANCH's ledger added that HEAD's does not hold
    are revoked in the store (never deployed); pending ones are dropped."""
    if not external(env):
        return []
    root = stores.cfg.root
    on_head = {r.key_id for r in ledger.at_revision(root, "HEAD", env.name)}
    added = [r for r in ledger.at_revision(root, branch_ref, env.name) if r.key_id not in on_head]
    store = stores.of(env)
    in_store = {r.key_id: r.status for r in store.list(env.name)}
    done = []
    for record in added:
        status = in_store.get(record.key_id)
        if status == PENDING:
            store.remove_pending(env.name, record.key_id)
        elif status == ACCEPTED:
            store.revoke(env.name, record.key_id)
        else:
            continue  # gone, revoked, or active (deployed after all): not ours to undo
        done.append(Activation(env.name, record.name, record.key_id, None, None))
    return done
