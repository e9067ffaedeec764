"""Vault and Auth0 stores beyond the shared contract: their stores' own rules (check-and-set,
rate limits, metadata limits, no conditional writes) and failures, through the real client
libraries against the fake servers in fake_vault.py and fake_auth0.py."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from support.fake_auth0 import FakeAuth0
from support.fake_vault import FakeVault
from support.http_stores import Waits, backend_error
from support.records import pending_key

from sealer import apikey
from sealer.backends import open_store
from sealer.backends.auth0 import (
    CLIENT_KEYS,
    DOC_KEY,
    USER_BUDGET,
    Auth0Store,
    endpoint,
    retry_delay,
)
from sealer.backends.vault import VaultStore
from sealer.errors import BackendError, BadInput
from sealer.records import ACTIVE, REVOKED, VALID, KeyRecord, utcnow

ENV = "dev"
NAME = "apiKey"


def new_record(minutes_ago: int = 5) -> tuple[str, KeyRecord]:
    return pending_key(ENV, NAME, utcnow() - dt.timedelta(minutes=minutes_ago), sealed_with=("ab" * 32,))


# -- Vault ------------------------------------------------------------------------------------


def vault_data(vault: FakeVault, store: VaultStore, env: str = ENV) -> dict[str, Any]:
    data = vault.read_direct(store.mount, f"{store.prefix}/{env}")
    assert data is not None
    return data


def test_vault_store_is_opened_through_the_registry(vault_env: FakeVault, tmp_path: Path) -> None:
    store = open_store("vault", {"mount": "secret", "path": "team/keys"}, tmp_path)
    assert isinstance(store, VaultStore)
    _, record = new_record()
    store.register(record)
    assert vault_env.read_direct("secret", f"team/keys/{ENV}") == {"records": [record.as_dict()]}


def test_vault_writes_are_check_and_set(vault_store: VaultStore, vault_env: FakeVault) -> None:
    for _ in range(3):
        vault_store.register(new_record()[1])
    entry = vault_env.secrets[("secret", f"{vault_store.prefix}/{ENV}")]
    assert sorted(entry.versions) == [1, 2, 3]  # every write named the version it read


def test_vault_cas_conflict_rereads_and_keeps_both_changes(
    vault_store: VaultStore, vault_env: FakeVault
) -> None:
    first, theirs, mine = (new_record()[1] for _ in range(3))
    vault_store.register(first)
    path = f"{vault_store.prefix}/{ENV}"

    def concurrent_writer() -> None:  # lands between our read and our write
        data = vault_env.read_direct("secret", path) or {"records": []}
        vault_env.write_direct("secret", path, {"records": [*data["records"], theirs.as_dict()]})

    vault_env.on_next_write("secret", path, concurrent_writer)
    posts = vault_env.requests_to(path, "POST")
    vault_store.register(mine)
    assert vault_env.requests_to(path, "POST") == posts + 2  # refused once (CAS), then written
    assert [r.key_id for r in vault_store.list(ENV)] == [first.key_id, theirs.key_id, mine.key_id]


def test_vault_cas_conflict_makes_a_stale_activation_lose(
    vault_store: VaultStore, vault_env: FakeVault
) -> None:
    winner, loser = vault_store_pending(vault_store, 2)
    other = VaultStore(vault_store.options, vault_store.repo)  # a second writer
    path = f"{vault_store.prefix}/{ENV}"
    vault_env.on_next_write("secret", path, lambda: other.activate(ENV, NAME, winner.key_id, None))
    message = backend_error(lambda: vault_store.activate(ENV, NAME, loser.key_id, None))
    assert "only a pending or accepted key can be activated" in message
    states = {r.key_id: r.status for r in vault_store.list(ENV)}
    assert states == {winner.key_id: ACTIVE, loser.key_id: REVOKED}


def vault_store_pending(store: Any, count: int) -> list[KeyRecord]:
    records = [new_record()[1] for _ in range(count)]
    for record in records:
        store.register(record)
    return records


def test_vault_two_writers_lose_no_update(vault_store: VaultStore) -> None:
    writers = [VaultStore(vault_store.options, vault_store.repo) for _ in range(2)]
    batches = [[new_record()[1] for _ in range(8)] for _ in writers]
    barrier = threading.Barrier(len(writers), timeout=30)
    failures: list[BaseException] = []

    def work(store: VaultStore, records: list[KeyRecord]) -> None:
        barrier.wait()
        try:
            for record in records:
                store.register(record)
        except BaseException as err:  # reported below
            failures.append(err)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(writers, batches, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert {r.key_id for r in vault_store.list(ENV)} == {r.key_id for batch in batches for r in batch}


def test_vault_gives_up_when_the_secret_never_stops_changing(
    vault_store: VaultStore, vault_env: FakeVault
) -> None:
    path = f"{vault_store.prefix}/{ENV}"
    vault_store.register(new_record()[1])

    def meddle(request: Any) -> None:
        if request.method == "POST" and request.path.endswith(path):
            vault_env.write_direct("secret", path, vault_env.read_direct("secret", path) or {})

    vault_store.max_attempts = 3
    vault_env.before_request = meddle
    message = backend_error(lambda: vault_store.register(new_record()[1]))
    assert "kept changing" in message and "3 attempts" in message


def test_vault_health(vault_store: VaultStore, vault_env: FakeVault) -> None:
    report = vault_store.health()
    assert vault_env.url in report and "1.15" in report and vault_store.prefix in report
    vault_env.sealed = True
    assert "sealed (503)" in backend_error(vault_store.health)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda vault, mp: mp.setenv("VAULT_TOKEN", "hvs.not-a-token-for-this-vault"), "permission denied"),
        (lambda vault, mp: setattr(vault, "sealed", True), "sealed or down (503)"),
        (lambda vault, mp: vault.fail_next(503), "sealed or down (503)"),
        (lambda vault, mp: vault.fail_next(429), "rate limited (429)"),
        (lambda vault, mp: vault.fail_next(500), "failed: injected fault"),
        (lambda vault, mp: mp.setenv("VAULT_ADDR", "http://127.0.0.1:9"), "cannot reach http://127.0.0.1:9"),
        (lambda vault, mp: mp.delenv("VAULT_ADDR"), "VAULT_ADDR is not set"),
        (lambda vault, mp: mp.setenv("VAULT_ADDR", "vault:8200"), "VAULT_ADDR is not an http(s) URL"),
        (lambda vault, mp: mp.setenv("VAULT_ADDR", "http://[::1"), "VAULT_ADDR is not an http(s) URL"),
        (lambda vault, mp: mp.delenv("VAULT_TOKEN"), "VAULT_TOKEN is not set"),
    ],
    ids=[
        "bad-token",
        "sealed",
        "503",
        "429",
        "500",
        "unreachable",
        "no-addr",
        "not-a-url",
        "broken-ipv6",
        "no-token",
    ],
)
def test_vault_failures_are_one_line_without_secrets(
    vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: Any, expected: str
) -> None:
    key, record = new_record()
    setup(vault_env, monkeypatch)
    store = VaultStore({"path": "sealer/failures"}, tmp_path)
    message = backend_error(lambda: store.register(record))
    assert expected in message
    for secret in (vault_env.token, "hvs.not-a-token-for-this-vault", key, apikey.parse(key).random):
        assert secret not in message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"token": "x"}, "unknown option(s) token"),
        ({"path": "../escape"}, "cannot be used in a store path"),
        ({"mount": "a b"}, "cannot be used in a store path"),
    ],
)
def test_vault_bad_options(tmp_path: Path, options: dict[str, str], problem: str) -> None:
    with pytest.raises(BadInput, match=problem.replace("(", r"\(").replace(")", r"\)")):
        open_store("vault", options, tmp_path)


def test_vault_refuses_an_environment_that_would_leave_its_path(vault_store: VaultStore) -> None:
    with pytest.raises(BadInput):
        vault_store.list("../other")


def test_vault_stores_hashes_and_metadata_only(vault_store: VaultStore, vault_env: FakeVault) -> None:
    key, record = new_record()
    vault_store.register(record)
    vault_store.activate(ENV, NAME, record.key_id, None)
    text = json.dumps(vault_data(vault_env, vault_store))
    assert record.fingerprint in text and key not in text and apikey.parse(key).random not in text
    assert vault_store.verify(ENV, record.fingerprint) == VALID


# -- Auth0 ------------------------------------------------------------------------------------


def auth0_doc(auth0: FakeAuth0, store: Auth0Store) -> dict[str, Any]:
    metadata = auth0.metadata_of("users", store.options["user_id"])
    doc: dict[str, Any] = metadata[DOC_KEY]
    return doc


@pytest.fixture
def client_store(auth0_env: FakeAuth0, tmp_path: Path) -> Auth0Store:
    """A store in an application's client_metadata, two of its ten properties taken."""
    client_id = auth0_env.add_client({"homepage": "https://example.invalid", "team": "payments"})
    return Auth0Store({"client_id": client_id}, tmp_path, wait=Waits())


def test_auth0_user_target_keeps_other_app_metadata(auth0_store: Auth0Store, auth0_env: FakeAuth0) -> None:
    _, record = new_record()
    auth0_store.register(record)
    auth0_store.activate(ENV, NAME, record.key_id, None)
    metadata = auth0_env.metadata_of("users", auth0_store.options["user_id"])
    assert metadata["plan"] == "team"
    assert metadata[DOC_KEY]["rev"] == 2
    assert metadata[DOC_KEY]["records"] == [record.with_status(ACTIVE).as_dict()]


def test_auth0_client_target_spreads_the_document_over_string_properties(
    client_store: Auth0Store, auth0_env: FakeAuth0
) -> None:
    records = [new_record()[1] for _ in range(3)]
    for record in records:
        client_store.register(record)
    metadata = auth0_env.metadata_of("clients", client_store.options["client_id"])
    chunks = [k for k in metadata if k.startswith(DOC_KEY)]
    assert len(chunks) > 1 and all(isinstance(metadata[k], str) and len(metadata[k]) <= 255 for k in chunks)
    assert metadata["team"] == "payments"
    assert client_store.list(ENV) == records
    client_store.remove_pending(ENV, records[0].key_id)
    client_store.remove_pending(ENV, records[1].key_id)  # the document shrinks: stale chunks go
    metadata = auth0_env.metadata_of("clients", client_store.options["client_id"])
    assert len([k for k in metadata if k.startswith(DOC_KEY)]) < len(chunks)
    assert client_store.list(ENV) == [records[2]]


def test_auth0_opened_through_the_registry_with_a_management_token(
    auth0_env: FakeAuth0, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AUTH0_CLIENT_ID")
    monkeypatch.delenv("AUTH0_CLIENT_SECRET")
    monkeypatch.setenv("AUTH0_MANAGEMENT_TOKEN", auth0_env.issue_token())
    tokens_before = auth0_env.requests_to("/oauth/token")
    store = open_store("auth0", {"user_id": auth0_env.add_user()}, tmp_path)
    store.register(new_record()[1])
    assert auth0_env.requests_to("/oauth/token") == tokens_before  # no grant needed
    assert len(store.list(ENV)) == 1


def test_auth0_429_retry_after_is_honoured(auth0_store: Auth0Store, auth0_env: FakeAuth0) -> None:
    _, record = new_record()
    auth0_store.register(record)
    auth0_env.fail_next(429, count=2, headers={"Retry-After": "7"})
    auth0_store.activate(ENV, NAME, record.key_id, None)
    assert auth0_store.wait == [7.0, 7.0]
    assert auth0_store.list(ENV)[0].status == ACTIVE


def test_auth0_429_without_retry_after_waits_for_the_rate_limit_reset(
    auth0_env: FakeAuth0, tmp_path: Path
) -> None:
    auth0_env.retry_after = ""
    now = 1_700_000_000.0
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path, wait=Waits(), clock=lambda: now)
    auth0_env.fail_next(429, headers={"x-ratelimit-reset": str(int(now) + 3)})
    assert store.list(ENV) == []
    assert store.wait == [3.0]


def test_auth0_429_retries_are_bounded(auth0_store: Auth0Store, auth0_env: FakeAuth0) -> None:
    auth0_store.list(ENV)  # connected
    auth0_env.fail_next(429, count=50)
    message = backend_error(lambda: auth0_store.register(new_record()[1]))
    assert "429" in message
    assert len(auth0_store.wait) == auth0_store.rate_retries
    auth0_env.clear_faults()


def test_auth0_refuses_to_wait_longer_than_a_minute(auth0_store: Auth0Store, auth0_env: FakeAuth0) -> None:
    auth0_env.fail_next(429, headers={"Retry-After": "3600"})
    assert "asks to wait 3600 s" in backend_error(lambda: auth0_store.list(ENV))
    assert auth0_store.wait == []


@pytest.mark.parametrize(
    ("headers", "now", "expected"),
    [
        ({"Retry-After": "12"}, 0.0, 12.0),
        ({"retry-after": "0"}, 0.0, 0.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1445412475.0, 5.0),
        ({"X-RateLimit-Reset": "1000"}, 990.0, 10.0),
        ({"X-RateLimit-Reset": "1000"}, 2000.0, 0.0),
        ({"Retry-After": "soon"}, 0.0, 1.0),
        ({}, 0.0, 1.0),
    ],
)
def test_retry_delay(headers: dict[str, str], now: float, expected: float) -> None:
    assert retry_delay(headers, now) == expected


def test_auth0_size_limit_refuses_before_writing(auth0_env: FakeAuth0, tmp_path: Path) -> None:
    user = auth0_env.add_user({"roles": ["x" * 60] * 120})  # other tools' data: about 7.6 KB
    store = Auth0Store({"user_id": user}, tmp_path, wait=Waits())
    store.register(new_record()[1])
    patches = auth0_env.requests_to(f"/users/{user}", "PATCH")
    for _ in range(20):
        try:
            store.register(new_record()[1])
        except BackendError as err:
            message = str(err)
            break
    else:
        pytest.fail("the store never refused")
    assert "no longer fit" in message and f"{USER_BUDGET} bytes" in message
    written = auth0_env.requests_to(f"/users/{user}", "PATCH") - patches
    assert len(store.list(ENV)) == 1 + written  # the refused record was never sent
    assert len(json.dumps(auth0_env.metadata_of("users", user), separators=(",", ":"))) <= USER_BUDGET


def test_auth0_prunes_the_oldest_revoked_records_to_fit(auth0_env: FakeAuth0, tmp_path: Path) -> None:
    user = auth0_env.add_user({"roles": ["x" * 60] * 100})  # about 6.3 KB taken
    store = Auth0Store({"user_id": user}, tmp_path, wait=Waits())
    revoked = []
    for minutes in (50, 40, 30):
        _, record = new_record(minutes_ago=minutes)
        store.register(record)
        store.revoke(ENV, record.key_id)
        revoked.append(record)
    kept = []
    for _ in range(3):
        _, record = new_record(minutes_ago=1)
        store.register(record)
        kept.append(record)
    ids = {r.key_id for r in store.list(ENV)}
    assert {r.key_id for r in kept} <= ids  # every new key landed
    assert revoked[0].key_id not in ids  # room was made by dropping the oldest revoked first
    dropped = [r.key_id for r in revoked if r.key_id not in ids]
    assert dropped == [r.key_id for r in revoked][: len(dropped)]


def test_auth0_client_metadata_limit(client_store: Auth0Store, auth0_env: FakeAuth0) -> None:
    stored = 0
    with pytest.raises(BackendError, match=f"{CLIENT_KEYS} client_metadata properties"):
        for _ in range(40):
            client_store.register(new_record()[1])
            stored += 1
    metadata = auth0_env.metadata_of("clients", client_store.options["client_id"])
    assert len(metadata) <= CLIENT_KEYS and stored >= 5
    assert len(client_store.list(ENV)) == stored


def test_auth0_rereads_and_reapplies_when_a_concurrent_write_replaced_ours(
    auth0_store: Auth0Store, auth0_env: FakeAuth0
) -> None:
    _, first = new_record()
    auth0_store.register(first)
    user = auth0_store.options["user_id"]
    stale = auth0_env.metadata_of("users", user)[DOC_KEY]
    state = {"patched": False, "done": False}

    def lost_update(request: Any) -> None:
        """Right after our PATCH, another writer's document (read before it) replaces ours."""
        if request.method == "PATCH":
            state["patched"] = True
        elif request.method == "GET" and state["patched"] and not state["done"]:
            state["done"] = True
            with auth0_env.lock:
                auth0_env.users[user]["app_metadata"][DOC_KEY] = {**stale, "writer": "someone-else"}

    auth0_env.before_request = lost_update
    patches = auth0_env.requests_to(f"/users/{user}", "PATCH")
    _, second = new_record()
    auth0_store.register(second)
    assert auth0_env.requests_to(f"/users/{user}", "PATCH") == patches + 2
    assert [r.key_id for r in auth0_store.list(ENV)] == [first.key_id, second.key_id]


def test_auth0_accepts_a_later_writer_that_kept_our_change(
    auth0_store: Auth0Store, auth0_env: FakeAuth0
) -> None:
    user = auth0_store.options["user_id"]
    _, mine = new_record()
    _, theirs = new_record()

    def later_writer(request: Any) -> None:
        """Another writer reads after our PATCH and adds its own record on top of ours."""
        if request.method == "GET" and auth0_env.requests_to(f"/users/{user}", "PATCH") == 1:
            with auth0_env.lock:
                doc = auth0_env.users[user]["app_metadata"][DOC_KEY]
                if len(doc["records"]) == 1:
                    doc["records"] = [*doc["records"], theirs.as_dict()]
                    doc["writer"], doc["rev"] = "someone-else", doc["rev"] + 1

    auth0_env.before_request = later_writer
    auth0_store.register(mine)
    assert auth0_env.requests_to(f"/users/{user}", "PATCH") == 1  # nothing re-applied
    assert [r.key_id for r in auth0_store.list(ENV)] == [mine.key_id, theirs.key_id]


def test_auth0_gives_up_when_writes_keep_being_replaced(
    auth0_store: Auth0Store, auth0_env: FakeAuth0
) -> None:
    user = auth0_store.options["user_id"]

    def clobber(request: Any) -> None:
        if request.method == "GET" and auth0_env.requests_to(f"/users/{user}", "PATCH"):
            with auth0_env.lock:
                auth0_env.users[user]["app_metadata"].pop(DOC_KEY, None)

    auth0_store.max_attempts = 2
    auth0_env.before_request = clobber
    message = backend_error(lambda: auth0_store.register(new_record()[1]))
    assert "kept changing" in message and "answers writes without storing them" in message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            lambda a0, mp: mp.setenv("AUTH0_CLIENT_SECRET", "wrong-secret-value"),
            "refused the credentials (401)",
        ),
        (
            lambda a0, mp: mp.setenv("AUTH0_MANAGEMENT_TOKEN", "eyJwrong-management-token"),
            "refused the credentials (401)",
        ),
        (lambda a0, mp: a0.fail_next(503, match="/api/v2/"), "unavailable (503)"),
        (lambda a0, mp: mp.setenv("AUTH0_DOMAIN", "http://127.0.0.1:9"), "cannot reach 127.0.0.1:9"),
        (lambda a0, mp: mp.delenv("AUTH0_DOMAIN"), "AUTH0_DOMAIN is not set"),
        (lambda a0, mp: mp.delenv("AUTH0_CLIENT_SECRET"), "set AUTH0_MANAGEMENT_TOKEN"),
    ],
    ids=["bad-secret", "bad-token", "503", "unreachable", "no-domain", "no-credentials"],
)
def test_auth0_failures_are_one_line_without_secrets(
    auth0_env: FakeAuth0, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, setup: Any, expected: str
) -> None:
    import os

    key, record = new_record()
    user = auth0_env.add_user()
    secrets_known = [os.environ["AUTH0_CLIENT_SECRET"], key, apikey.parse(key).random]
    setup(auth0_env, monkeypatch)
    secrets_known += [os.environ.get("AUTH0_CLIENT_SECRET", ""), os.environ.get("AUTH0_MANAGEMENT_TOKEN", "")]
    store = Auth0Store({"user_id": user}, tmp_path, wait=Waits())
    message = backend_error(lambda: store.register(record))
    assert expected in message
    assert not [s for s in secrets_known if s and s in message]
    assert auth0_env.metadata_of("users", user) == {}


def test_auth0_missing_target_and_missing_scope(
    auth0_env: FakeAuth0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = Auth0Store({"user_id": "auth0|nobody"}, tmp_path, wait=Waits())
    assert "user auth0|nobody does not exist" in backend_error(lambda: missing.list(ENV))
    reader_id, reader_secret = auth0_env.add_m2m(frozenset({"read:users"}))
    monkeypatch.setenv("AUTH0_CLIENT_ID", reader_id)
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", reader_secret)
    reader = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path, wait=Waits())
    assert reader.list(ENV) == []
    assert "403 insufficient scope" in backend_error(lambda: reader.register(new_record()[1]))


def test_auth0_unreadable_document_is_refused(auth0_env: FakeAuth0, tmp_path: Path) -> None:
    user = auth0_env.add_user({DOC_KEY: {"something": "else"}})
    store = Auth0Store({"user_id": user}, tmp_path, wait=Waits())
    assert "sealer cannot read" in backend_error(lambda: store.list(ENV))


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "exactly one of"),
        ({"user_id": "a", "client_id": "b"}, "exactly one of"),
        ({"user_id": "a", "client_secret": "b"}, "unknown option"),
    ],
)
def test_auth0_bad_options(tmp_path: Path, options: dict[str, str], problem: str) -> None:
    with pytest.raises(BadInput, match=problem):
        open_store("auth0", options, tmp_path)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tenant.eu.auth0.com", ("https", "tenant.eu.auth0.com")),
        ("https://tenant.eu.auth0.com/", ("https", "tenant.eu.auth0.com")),
        ("http://127.0.0.1:8080", ("http", "127.0.0.1:8080")),
        ("http://localhost:1234", ("http", "localhost:1234")),
        ("http://tenant.eu.auth0.com", None),
        ("ftp://tenant.eu.auth0.com", None),
    ],
)
def test_auth0_domain_plain_http_only_for_loopback(raw: str, expected: tuple[str, str] | None) -> None:
    if expected is None:
        with pytest.raises(BadInput):
            endpoint(raw)
    else:
        assert endpoint(raw) == expected


# -- both -------------------------------------------------------------------------------------


def test_client_libraries_load_lazily() -> None:
    code = (
        "import sys, sealer.backends.vault, sealer.backends.auth0, sealer.kube, sealer.escrow; "
        "heavy = ('hvac', 'auth0', 'kubernetes', 'requests', 'httpx'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_auth0_token_request_follows_no_redirect_with_the_client_secret(
    auth0_env: FakeAuth0, tmp_path: Path
) -> None:
    """requests follows a 307 to any host re-sending the body: the token request's client
    secret would go wherever a Location names (the management API's httpx follows none)."""
    import os

    where = "/oauth/token"
    elsewhere = FakeAuth0()
    seen: list[Any] = []
    elsewhere.before_request = seen.append
    elsewhere.start()
    try:
        store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path, wait=Waits())
        auth0_env.fail_next(307, headers={"Location": elsewhere.url + where}, match=where)
        message = backend_error(lambda: store.list(ENV))
    finally:
        elsewhere.stop()
        auth0_env.clear_faults()
    assert seen == []
    assert "redirect" in message and os.environ["AUTH0_CLIENT_SECRET"] not in message


def test_a_key_twice_in_a_document_store_is_refused(
    vault_store: VaultStore, vault_env: FakeVault, auth0_env: FakeAuth0, tmp_path: Path
) -> None:
    """A hand edit that lists one key id twice (say valid and revoked): every verdict would take
    whichever record it met first, so neither store reads such a document."""
    _, record = new_record()
    revoked = {**record.as_dict(), "status": "revoked"}
    path = f"{vault_store.prefix}/{ENV}"
    vault_env.write_direct("secret", path, {"records": [record.as_dict(), revoked]})
    assert f"holds key {record.key_id} twice" in backend_error(lambda: vault_store.list(ENV))
    document = {
        "rev": 1,
        "writer": "x",
        "records": [{**record.as_dict(), "env": ENV}, {**revoked, "env": ENV}],
    }
    store = Auth0Store({"user_id": auth0_env.add_user({DOC_KEY: document})}, tmp_path, wait=Waits())
    assert f"holds key {record.key_id} twice" in backend_error(lambda: store.list(ENV))
