"""The KeyStore contract: the same tests against every backend.

Each name in STORES is a fixture returning a fresh, empty store, and `<name>_raw` a callable
that dumps everything the backend holds as text (rows, items, documents, files) for the
no-key-material test. One store instance must be usable from two threads at once (the
concurrency test shares it). Stores other than those in NO_SERVER are marked slow.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from support.http_stores import HTTP_OUTAGES
from support.records import pending_key as new_key
from support.sql_stores import OUTAGES

from sealer import apikey, registry
from sealer.backends import KeyStore
from sealer.errors import EXIT_BAD_INPUT, BackendError
from sealer.records import (
    ACCEPTED,
    ACTIVE,
    EXPIRED,
    GRACE,
    PENDING,
    REVOKED,
    UNKNOWN,
    VALID,
    KeyRecord,
    utcnow,
)

STORES = [
    "k8s_secrets_store",
    "k8s_direct_store",
    "postgres_store",
    "dynamo_store",
    "vault_store",
    "auth0_store",
]
NO_SERVER = ["k8s_secrets_store", "k8s_direct_store"]  # the fake Kubernetes API is quick

ENV = "dev"
NAME = "apiKey"
HOUR = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture(
    params=[
        pytest.param(
            name, id=name.removesuffix("_store"), marks=[] if name in NO_SERVER else [pytest.mark.slow]
        )
        for name in STORES
    ]
)
def store_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_name: str, request: pytest.FixtureRequest) -> KeyStore:
    return request.getfixturevalue(store_name)


def registered(store: KeyStore, **fields: Any) -> KeyRecord:
    record = new_key(**fields)[1]
    store.register(record)
    return record


def activated(store: KeyStore, **fields: Any) -> KeyRecord:
    record = registered(store, **fields)
    store.activate(record.env, record.name, record.key_id, None)
    return record


def current(store: KeyStore, record: KeyRecord) -> KeyRecord:
    found = [known for known in store.list(record.env) if known.key_id == record.key_id]
    assert len(found) == 1, f"{record.key_id} listed {len(found)} times"
    return found[0]


def statuses(store: KeyStore, env: str = ENV) -> dict[str, str]:
    return {record.key_id: record.status for record in store.list(env)}


def refused(call: Callable[[], object]) -> str:
    """The message of the BackendError `call` raises: one line, exit code 2."""
    with pytest.raises(BackendError) as err:
        call()
    message = str(err.value)
    assert message and "\n" not in message
    assert err.value.exit_code == EXIT_BAD_INPUT
    return message


# -- the phases of a rotation: rotate (accept), deployed (activate), abandoned (revoke) ------------


def test_rotate_phase_accepts_the_new_key_beside_the_old_and_revokes_nothing(store: KeyStore) -> None:
    old = activated(store)
    key, new = new_key()
    store.register(new)
    assert store.verify(ENV, new.fingerprint) == UNKNOWN  # pending: never valid
    store.accept(ENV, new.key_id)
    store.accept(ENV, new.key_id)  # idempotent: a re-run after an interruption
    assert statuses(store) == {old.key_id: ACTIVE, new.key_id: ACCEPTED}
    assert store.verify(ENV, apikey.fingerprint(key)) == VALID
    assert store.verify(ENV, old.fingerprint) == VALID


def test_deployed_phase_activates_and_counts_the_grace_from_then(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    store.accept(ENV, new.key_id)
    deployed = utcnow() + dt.timedelta(days=3)  # the grace window starts at the deployment
    store.activate(ENV, NAME, new.key_id, deployed + HOUR)
    store.activate(ENV, NAME, new.key_id, deployed + HOUR)  # idempotent
    assert statuses(store) == {old.key_id: GRACE, new.key_id: ACTIVE}
    assert current(store, old).revoke_at == deployed + HOUR
    assert store.verify(ENV, old.fingerprint, deployed + HOUR - SECOND) == VALID
    assert store.verify(ENV, old.fingerprint, deployed + HOUR) == REVOKED


def test_abandoned_phase_revokes_the_accepted_key_and_keeps_the_old(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    store.accept(ENV, new.key_id)
    store.revoke(ENV, new.key_id, utcnow() + HOUR)  # never deployed: no grace for it
    assert statuses(store) == {old.key_id: ACTIVE, new.key_id: REVOKED}
    assert store.verify(ENV, new.fingerprint) == REVOKED and store.verify(ENV, old.fingerprint) == VALID
    assert "only a pending key can be accepted" in refused(lambda: store.accept(ENV, new.key_id))


def test_activation_supersedes_an_accepted_key_of_an_earlier_rotation(store: KeyStore) -> None:
    old = activated(store)
    first, second = registered(store), registered(store)
    store.accept(ENV, first.key_id)
    store.accept(ENV, second.key_id)
    store.activate(ENV, NAME, second.key_id, None)
    assert statuses(store) == {old.key_id: REVOKED, first.key_id: REVOKED, second.key_id: ACTIVE}


def test_activation_ends_each_replaced_key_as_given_by_key_id(store: KeyStore) -> None:
    """`rotate --finish` of rotations stacked unfinished: the old active key and the accepted key
    of the earlier rotation each get their own end; an accepted key given none (a rotation that
    lost a race) is superseded as before, and an end in the past revokes."""
    old = activated(store)
    first, second, loser, lapsed = (registered(store) for _ in range(4))
    for record in (first, second, loser, lapsed):
        store.accept(ENV, record.key_id)
    now = utcnow()
    ends = {old.key_id: now + 3 * HOUR, first.key_id: now + HOUR, lapsed.key_id: now - HOUR}
    store.activate(ENV, NAME, second.key_id, ends)
    assert statuses(store) == {
        old.key_id: GRACE,
        first.key_id: GRACE,
        second.key_id: ACTIVE,
        loser.key_id: REVOKED,
        lapsed.key_id: REVOKED,
    }
    assert current(store, old).revoke_at == now + 3 * HOUR and current(store, first).revoke_at == now + HOUR
    assert store.verify(ENV, first.fingerprint, now + HOUR - SECOND) == VALID
    assert store.verify(ENV, first.fingerprint, now + HOUR) == REVOKED


def test_accepting_an_unknown_key_fails(store: KeyStore) -> None:
    assert "kid_000000000000" in refused(lambda: store.accept(ENV, "kid_000000000000"))


# -- register ---------------------------------------------------------------------------------


def test_register_stores_the_record_as_pending(store: KeyStore) -> None:
    record = new_key(expires=utcnow() + 90 * 24 * HOUR)[1]
    store.register(record)
    assert store.list(ENV) == [record]


def test_register_never_stores_an_active_key(store: KeyStore) -> None:
    record = new_key()[1]
    store.register(record.with_status(ACTIVE))
    assert current(store, record).status == PENDING
    assert store.verify(ENV, record.fingerprint) == UNKNOWN


def test_register_of_a_duplicate_key_id_fails(store: KeyStore) -> None:
    record = registered(store)
    other_fingerprint = apikey.fingerprint(apikey.generate(ENV))
    refused(lambda: store.register(record))
    refused(lambda: store.register(KeyRecord(**{**record.__dict__, "fingerprint": other_fingerprint})))
    assert store.list(ENV) == [record]


def test_environments_are_separate(store: KeyStore) -> None:
    dev = activated(store)
    prod = activated(store, env="prod")
    assert store.list(ENV) == [dev.with_status(ACTIVE)]
    assert store.list("prod") == [prod.with_status(ACTIVE)]
    assert store.verify("prod", dev.fingerprint) == UNKNOWN
    assert store.list("staging") == []


# -- activate ---------------------------------------------------------------------------------


def test_activate_makes_the_key_active_and_revokes_the_previous(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    store.activate(ENV, NAME, new.key_id, None)
    assert statuses(store) == {old.key_id: REVOKED, new.key_id: ACTIVE}
    assert store.verify(ENV, old.fingerprint) == REVOKED
    assert store.verify(ENV, new.fingerprint) == VALID


def test_activate_with_grace_keeps_the_previous_valid_until_revoke_at(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    until = utcnow() + HOUR
    store.activate(ENV, NAME, new.key_id, until)
    demoted = current(store, old)
    assert (demoted.status, demoted.revoke_at) == (GRACE, until)
    assert current(store, new).status == ACTIVE
    assert store.verify(ENV, old.fingerprint) == VALID
    assert store.verify(ENV, old.fingerprint, now=until - SECOND) == VALID
    assert store.verify(ENV, old.fingerprint, now=until + SECOND) == REVOKED


def test_activate_with_a_grace_end_in_the_past_revokes_at_once(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    store.activate(ENV, NAME, new.key_id, utcnow() - HOUR)
    assert current(store, old).status == REVOKED


def test_activating_an_unknown_key_fails_and_changes_nothing(store: KeyStore) -> None:
    old = activated(store)
    refused(lambda: store.activate(ENV, NAME, "kid_000000000000", None))
    assert statuses(store) == {old.key_id: ACTIVE}


def test_activating_a_revoked_key_or_one_of_another_name_fails(store: KeyStore) -> None:
    gone = registered(store)
    store.revoke(ENV, gone.key_id)
    other = registered(store, name="adminKey")
    refused(lambda: store.activate(ENV, NAME, gone.key_id, None))
    refused(lambda: store.activate(ENV, NAME, other.key_id, None))
    assert statuses(store) == {gone.key_id: REVOKED, other.key_id: PENDING}


def test_activating_the_active_key_again_changes_nothing(store: KeyStore) -> None:
    old = activated(store)
    new = registered(store)
    until = utcnow() + HOUR
    store.activate(ENV, NAME, new.key_id, until)
    before = store.list(ENV)
    store.activate(ENV, NAME, new.key_id, None)  # a re-run after an interruption
    assert store.list(ENV) == before
    assert current(store, old).status == GRACE


def test_activation_supersedes_the_other_pending_keys_of_its_name(store: KeyStore) -> None:
    winner, loser = registered(store), registered(store)
    elsewhere = registered(store, name="adminKey")
    store.activate(ENV, NAME, winner.key_id, None)
    assert statuses(store) == {winner.key_id: ACTIVE, loser.key_id: REVOKED, elsewhere.key_id: PENDING}
    refused(lambda: store.activate(ENV, NAME, loser.key_id, None))


def test_each_name_has_its_own_active_key(store: KeyStore) -> None:
    api = activated(store)
    admin = activated(store, name="adminKey")
    assert statuses(store) == {api.key_id: ACTIVE, admin.key_id: ACTIVE}


def race(store: KeyStore, contenders: list[KeyRecord]) -> dict[str, str]:
    """Activate every contender at once, one thread each: key id -> "won" or "lost: why"."""
    barrier = threading.Barrier(len(contenders), timeout=30)
    outcomes: dict[str, str] = {}

    def activate(record: KeyRecord) -> None:
        barrier.wait()
        try:
            store.activate(record.env, record.name, record.key_id, None)
            outcomes[record.key_id] = "won"
        except BackendError as err:
            outcomes[record.key_id] = f"lost: {err}"

    threads = [threading.Thread(target=activate, args=(record,)) for record in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_concurrent_activations_one_wins_and_one_key_is_active(store: KeyStore) -> None:
    for round_ in range(3):
        name = f"key{round_}"
        previous = activated(store, name=name)
        outcomes = race(store, [registered(store, name=name), registered(store, name=name)])
        winners = [key_id for key_id, outcome in outcomes.items() if outcome == "won"]
        assert len(outcomes) == 2 and len(winners) == 1, outcomes
        state = {record.key_id: record.status for record in store.list(ENV) if record.name == name}
        assert [key_id for key_id, status in state.items() if status == ACTIVE] == winners
        assert sorted(state.values()) == [ACTIVE, REVOKED, REVOKED], (previous.key_id, state)


# -- revoke and remove_pending ------------------------------------------------------------------


def test_revoke_now(store: KeyStore) -> None:
    key = activated(store)
    store.revoke(ENV, key.key_id)
    assert current(store, key).status == REVOKED
    assert store.verify(ENV, key.fingerprint) == REVOKED


def test_revoke_at_a_time_keeps_the_key_valid_until_then(store: KeyStore) -> None:
    key = activated(store)
    at = utcnow() + HOUR
    store.revoke(ENV, key.key_id, at)
    assert (current(store, key).status, current(store, key).revoke_at) == (GRACE, at)
    assert store.verify(ENV, key.fingerprint) == VALID
    assert store.verify(ENV, key.fingerprint, now=at + SECOND) == REVOKED


def test_revoke_never_extends_validity(store: KeyStore) -> None:
    key = activated(store)
    soon = utcnow() + HOUR
    store.revoke(ENV, key.key_id, soon)
    store.revoke(ENV, key.key_id, soon + HOUR)
    assert current(store, key).revoke_at == soon
    store.revoke(ENV, key.key_id, soon - 10 * SECOND)
    assert current(store, key).revoke_at == soon - 10 * SECOND
    store.revoke(ENV, key.key_id)
    store.revoke(ENV, key.key_id, soon)
    assert current(store, key).status == REVOKED


def test_revoking_a_pending_key_gives_it_no_grace(store: KeyStore) -> None:
    key = registered(store)
    store.revoke(ENV, key.key_id, utcnow() + HOUR)
    assert current(store, key).status == REVOKED
    assert store.verify(ENV, key.fingerprint) == REVOKED


def test_revoking_an_unknown_key_fails(store: KeyStore) -> None:
    assert "kid_000000000000" in refused(lambda: store.revoke(ENV, "kid_000000000000"))


def test_remove_pending_drops_the_key_and_can_be_repeated(store: KeyStore) -> None:
    kept = activated(store)
    failed = registered(store)
    store.remove_pending(ENV, failed.key_id)
    store.remove_pending(ENV, failed.key_id)  # compensation re-run
    assert statuses(store) == {kept.key_id: ACTIVE}
    assert store.verify(ENV, failed.fingerprint) == UNKNOWN


def test_remove_pending_refuses_a_serving_key_and_leaves_revoked_ones(store: KeyStore) -> None:
    serving = activated(store)
    gone = registered(store)
    store.revoke(ENV, gone.key_id)
    refused(lambda: store.remove_pending(ENV, serving.key_id))
    store.remove_pending(ENV, gone.key_id)
    assert statuses(store) == {serving.key_id: ACTIVE, gone.key_id: REVOKED}


# -- list, verify, health -----------------------------------------------------------------------


def test_list_is_oldest_first(store: KeyStore) -> None:
    base = utcnow() - 10 * HOUR
    middle = registered(store, created=base + HOUR)
    oldest = registered(store, created=base)
    newest = registered(store, created=base + 2 * HOUR)
    assert [record.key_id for record in store.list(ENV)] == [oldest.key_id, middle.key_id, newest.key_id]


def test_verify_tells_valid_revoked_expired_and_unknown(store: KeyStore) -> None:
    valid = activated(store)
    expired = activated(store, name="oldKey", expires=utcnow() - HOUR)
    revoked = activated(store, name="goneKey", expires=utcnow() - HOUR)
    store.revoke(ENV, revoked.key_id)
    pending = registered(store)
    never = apikey.fingerprint(apikey.generate(ENV))
    verdicts = {key: store.verify(ENV, key.fingerprint) for key in (valid, expired, revoked, pending)}
    assert verdicts == {valid: VALID, expired: EXPIRED, revoked: REVOKED, pending: UNKNOWN}
    assert store.verify(ENV, never) == UNKNOWN
    assert store.verify(ENV, valid.fingerprint, now=utcnow() + 1000 * 24 * HOUR) == VALID  # no expiry set


def test_the_key_registry_accepts_exactly_the_keys_the_store_calls_valid(store: KeyStore) -> None:
    """#16: what a verifier reading the registry of the store's records accepts is what the
    store itself says is valid, now and after a grace window ends."""
    kept, graced = activated(store), activated(store, name="oldKey")
    store.revoke(ENV, graced.key_id, utcnow() + HOUR)
    gone = activated(store, name="goneKey")
    store.revoke(ENV, gone.key_id)
    waiting, expired = registered(store), activated(store, name="lateKey", expires=utcnow() - HOUR)
    built = registry.build(ENV, "c1", store.list(ENV))
    for now in (utcnow(), utcnow() + 2 * HOUR):
        for record in (kept, graced, gone, waiting, expired):
            by_store, by_registry = (
                store.verify(ENV, record.fingerprint, now),
                registry.check(built, record.fingerprint, now),
            )
            assert (by_store == VALID) == (by_registry == VALID), (record.name, now, by_store, by_registry)
    assert {entry.key_id for entry in built.keys} == {kept.key_id, graced.key_id, expired.key_id}


def test_health_is_one_line(store: KeyStore) -> None:
    registered(store)
    report = store.health()
    assert report.strip() and "\n" not in report


# -- a server that is down ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("outage_name", OUTAGES + HTTP_OUTAGES)
def test_a_store_whose_server_is_down_fails_with_one_line_and_recovers(
    outage_name: str, request: pytest.FixtureRequest
) -> None:
    outage = request.getfixturevalue(outage_name)
    store = outage.store
    old, new = activated(store), registered(store)
    outage.down()
    calls = {
        "register": lambda: store.register(new_key()[1]),
        "accept": lambda: store.accept(ENV, new.key_id),
        "activate": lambda: store.activate(ENV, NAME, new.key_id, None),
        "revoke": lambda: store.revoke(ENV, old.key_id),
        "remove_pending": lambda: store.remove_pending(ENV, new.key_id),
        "list": lambda: store.list(ENV),
        "verify": lambda: store.verify(ENV, old.fingerprint),
        "health": store.health,
    }
    messages = {operation: refused(call) for operation, call in calls.items()}
    assert all(m.startswith(f"{store.kind}: cannot reach") for m in messages.values()), messages
    outage.up()
    assert statuses(store) == {old.key_id: ACTIVE, new.key_id: PENDING}
    store.activate(ENV, NAME, new.key_id, None)
    assert statuses(store) == {old.key_id: REVOKED, new.key_id: ACTIVE}


# -- secrecy ------------------------------------------------------------------------------------


def test_no_key_material_in_records_logs_or_errors(
    store: KeyStore, store_name: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dump = request.getfixturevalue(f"{store_name}_raw")
    keys = [new_key() for _ in range(4)]
    (_, old), (_, new), (_, spare), (_, lost) = keys
    store.register(old)
    store.activate(ENV, NAME, old.key_id, None)
    store.register(lost)
    store.remove_pending(ENV, lost.key_id)
    store.register(new)
    store.register(spare)
    store.activate(ENV, NAME, new.key_id, utcnow() + HOUR)  # supersedes spare
    store.revoke(ENV, new.key_id, utcnow() + 2 * HOUR)
    stranger = apikey.generate(ENV)
    verdicts = [store.verify(ENV, apikey.fingerprint(key)) for key, _ in keys] + [
        store.verify(ENV, apikey.fingerprint(stranger))
    ]
    assert verdicts == [VALID, VALID, REVOKED, UNKNOWN, UNKNOWN]
    errors = [
        refused(lambda: store.register(new)),
        refused(lambda: store.activate(ENV, NAME, spare.key_id, None)),
        refused(lambda: store.activate(ENV, NAME, "kid_000000000000", None)),
        refused(lambda: store.revoke(ENV, "kid_000000000000")),
        refused(lambda: store.remove_pending(ENV, new.key_id)),
    ]
    texts = {
        "stored data": dump(),
        "logs": caplog.text,
        "health": store.health(),
        "list": repr(store.list(ENV)),
        **{f"error {i}": text for i, text in enumerate(errors)},
    }
    assert old.fingerprint in texts["stored data"]  # the dump is what the backend really holds
    for key in [key for key, _ in keys] + [stranger]:
        secret = apikey.parse(key).random
        leaks = [where for where, text in texts.items() if key in text or secret in text]
        assert not leaks, f"key material found in {leaks}"


# -- migration: copy_in / drop_copy (`sealer backend set`) -----------------------------------------


def test_copy_in_stores_each_record_as_it_is_and_a_rerun_changes_nothing(store: KeyStore) -> None:
    now = utcnow()
    revoked = new_key(created=now - 3 * HOUR)[1].with_status(REVOKED, now - 2 * HOUR)
    grace = new_key(created=now - 2 * HOUR)[1].with_status(GRACE, now + HOUR)
    active = new_key(created=now - HOUR, expires=now + 90 * HOUR)[1].with_status(ACTIVE)
    accepted = new_key(created=now - SECOND)[1].with_status(ACCEPTED)
    for record in (revoked, grace, active, accepted):
        store.copy_in(record)
        store.copy_in(record)  # a re-run: the very record is there already
    assert store.list(ENV) == [revoked, grace, active, accepted]
    assert store.verify(ENV, active.fingerprint) == VALID and store.verify(ENV, grace.fingerprint) == VALID
    assert store.verify(ENV, revoked.fingerprint) == REVOKED


def test_copy_in_refuses_another_version_of_a_key_and_a_second_active_key(store: KeyStore) -> None:
    active = activated(store)
    held = store.list(ENV)
    assert active.key_id in refused(
        lambda: store.copy_in(current(store, active).with_status(REVOKED, utcnow()))
    )
    other = new_key()[1].with_status(ACTIVE)
    assert "another active key" in refused(lambda: store.copy_in(other))
    assert store.list(ENV) == held


def test_drop_copy_removes_only_the_very_copy(store: KeyStore) -> None:
    copy = new_key()[1].with_status(ACTIVE)
    store.copy_in(copy)
    store.revoke(ENV, copy.key_id)  # changed since the copy: not the migration's to remove
    assert "changed since it was copied" in refused(lambda: store.drop_copy(copy))
    kept = current(store, copy)
    store.drop_copy(kept)
    store.drop_copy(kept)  # gone: a no-op
    assert store.list(ENV) == []
    again = new_key()[1].with_status(ACTIVE)
    store.copy_in(again)  # the name's active slot is free again (DynamoDB's guard, PostgreSQL's index)
    store.drop_copy(again)
    assert store.list(ENV) == []
