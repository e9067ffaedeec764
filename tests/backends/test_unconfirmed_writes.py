"""A store that answers a write well without keeping it: the change is an error, never done.

DynamoDB sits behind `DroppingDynamo` (moto, with TransactWriteItems and PutItem answered 200
`{}` and never forwarded); Vault answers a check-and-set write with the next version number
while keeping nothing. Each state-changing operation reads back what the store then holds
(DynamoDB with ConsistentRead, once per write; Vault the version just written) and fails
with one line when it does not hold the change; the store is left as it was."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import ENV as REPO_ENV
from support.backend_repos import (
    Backend,
    assert_one_active_per_name,
    configure,
    finish,
    no_pending,
    one_line_error,
    rotate,
    store_of,
)
from support.cli import assert_one_line_error, in_dir, run_main, sealer
from support.fake_http import Request, Response, trickling
from support.fake_vault import FakeVault, _envelope
from support.git import git
from support.http_stores import backend_error
from support.lossy_dynamo import DroppingDynamo
from support.records import pending_key

from sealer.backends import KeyStore
from sealer.errors import BackendError
from sealer.records import KeyRecord, utcnow

ENV = "dev"
NAME = "apiKey"
Step = Callable[[KeyStore, KeyRecord, KeyRecord], None]


def _activate_old(store: KeyStore, old: KeyRecord, new: KeyRecord) -> None:
    store.register(old)
    store.activate(ENV, NAME, old.key_id, None)
    store.register(new)


# operation -> (what is in the store before, the operation whose write is dropped)
OPERATIONS: dict[str, tuple[Step, Step]] = {
    "register": (lambda s, old, new: None, lambda s, old, new: s.register(new)),
    "accept": (lambda s, old, new: s.register(new), lambda s, old, new: s.accept(ENV, new.key_id)),
    "activate": (_activate_old, lambda s, old, new: s.activate(ENV, NAME, new.key_id, None)),
    "revoke": (_activate_old, lambda s, old, new: s.revoke(ENV, old.key_id)),
    "grace": (
        _activate_old,
        lambda s, old, new: s.revoke(ENV, old.key_id, utcnow() + dt.timedelta(hours=1)),
    ),
}


def _keys() -> tuple[KeyRecord, KeyRecord]:
    return (
        pending_key(ENV, NAME, utcnow() - dt.timedelta(minutes=9))[1],
        pending_key(ENV, NAME, utcnow() - dt.timedelta(minutes=5))[1],
    )


# -- DynamoDB -----------------------------------------------------------------------------------


@pytest.fixture
def dropping(moto_endpoint: str, aws_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A DynamoDB store whose endpoint is `DroppingDynamo` in front of the session's moto."""
    from sealer.backends.dynamodb import DynamoStore

    with DroppingDynamo(moto_endpoint) as proxy:
        options = {
            "table": f"sealer-keys-{tmp_path.name[-12:]}",
            "region": "eu-west-1",
            "endpoint_url": proxy.url,
            "max_attempts": "1",
        }
        yield DynamoStore(options, tmp_path), proxy


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_dynamodb_write_acknowledged_but_not_stored_is_not_done(
    dropping: tuple[Any, DroppingDynamo], operation: str
) -> None:
    store, proxy = dropping
    old, new = _keys()
    before, step = OPERATIONS[operation]
    before(store, old, new)
    held = store.list(ENV)
    proxy.dropping = True
    message = backend_error(lambda: step(store, old, new))
    proxy.dropping = False
    assert proxy.dropped  # the write was answered 200 {} and never reached the table
    assert "does not hold what was written" in message and "not counted as done" in message
    assert store.list(ENV) == held


def test_dynamodb_reads_back_once_per_write_not_per_key(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An activation writes three items (the new key, the old one, the guard): one read."""
    store, _ = dropping
    old, new = _keys()
    _activate_old(store, old, new)
    reads: list[int] = []
    batch_get = store.client.batch_get_item

    def counted(**kwargs: Any) -> Any:
        reads.append(len(kwargs["RequestItems"][store.table]["Keys"]))
        assert kwargs["RequestItems"][store.table]["ConsistentRead"] is True
        return batch_get(**kwargs)

    monkeypatch.setattr(store.client, "batch_get_item", counted)
    store.activate(ENV, NAME, new.key_id, None)
    assert reads == [3]
    assert {r.key_id: r.status for r in store.list(ENV)} == {old.key_id: "revoked", new.key_id: "active"}


# -- Vault --------------------------------------------------------------------------------------


def _acked_not_kept(request: Request) -> Response:
    """Vault's answer to a kept write (the version after the one the CAS named), nothing kept."""
    cas = int((request.json().get("options") or {}).get("cas", 0))
    metadata = {"created_time": "2026-01-01T00:00:00Z", "deletion_time": "", "destroyed": False}
    return Response.json(200, _envelope({**metadata, "version": cas + 1, "custom_metadata": None}))


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_vault_write_acknowledged_but_not_kept_is_not_done(
    vault_env: FakeVault, tmp_path: Path, operation: str
) -> None:
    from sealer.backends.vault import VaultStore

    store = VaultStore({"path": f"sealer/unkept-{operation}"}, tmp_path)
    old, new = _keys()
    before, step = OPERATIONS[operation]
    before(store, old, new)
    held = store.list(ENV)
    vault_env.answer_next(_acked_not_kept, match="/data/", method="POST")
    message = backend_error(lambda: step(store, old, new))
    assert "does not hold what was written" in message and "not counted as written" in message
    assert store.list(ENV) == held


def test_vault_reads_back_the_version_it_wrote(vault_env: FakeVault, tmp_path: Path) -> None:
    from sealer.backends.vault import VaultStore

    store = VaultStore({"path": "sealer/read-back"}, tmp_path)
    old, _ = _keys()
    seen: list[str] = []
    vault_env.before_request = lambda request: seen.append(f"{request.method} {request.query}")
    store.register(old)
    assert seen == ["GET {}", "POST {}", "GET {'version': ['1']}"]


# -- a registration kept whose read-back fails ----------------------------------------------------
# The write's fate is unknown, so the failure is a WriteUnconfirmed: `sealer rotate`, undoing
# the run, removes that key too (a plain BackendError says the store kept nothing of it).


def _refused_after(server: Any, write: str, read: str, answer: Response) -> None:
    """The first `read` request after the first `write` request gets `answer` (a 503)."""
    armed: list[bool] = []

    def hook(request: Request) -> None:
        if request.method == write and not armed:
            armed.append(True)
            server.answer_next(answer, match=read, method="GET")

    server.before_request = hook


def test_vault_registration_kept_but_not_read_back_is_unconfirmed(
    vault_env: FakeVault, tmp_path: Path
) -> None:
    from sealer.backends.vault import VaultStore
    from sealer.errors import WriteUnconfirmed

    store = VaultStore({"path": "sealer/read-back-refused"}, tmp_path)
    _, new = _keys()
    _refused_after(vault_env, "POST", "/data/", Response.json(503, {"errors": ["Vault is sealed"]}))
    with pytest.raises(WriteUnconfirmed, match="sealed or down"):
        store.register(new)
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]  # kept after all


def test_auth0_registration_kept_but_not_read_back_is_unconfirmed(auth0_store: Any, auth0_env: Any) -> None:
    from sealer.errors import WriteUnconfirmed

    _, new = _keys()
    refused = Response.json(503, {"statusCode": 503, "error": "Service Unavailable", "message": "down"})
    _refused_after(auth0_env, "PATCH", "/api/v2/users/", refused)
    with pytest.raises(WriteUnconfirmed):
        auth0_store.register(new)
    assert [r.key_id for r in auth0_store.list(ENV)] == [new.key_id]


def test_dynamodb_registration_kept_but_not_read_back_is_unconfirmed(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealer.errors import WriteUnconfirmed

    store, _ = dropping
    _, new = _keys()
    store.list(ENV)  # the table exists before the read-back is broken
    batch_get = store.client.batch_get_item
    monkeypatch.setattr(store.client, "batch_get_item", lambda **kwargs: _table_missing(store, []))
    with pytest.raises(WriteUnconfirmed, match="could not be read back"):
        store.register(new)
    monkeypatch.setattr(store.client, "batch_get_item", batch_get)
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]


def test_dynamodb_registration_kept_then_retried_is_registered(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore retries a put whose answer was lost (a dropped connection, a 500): the retry's
    condition fails on the item the first attempt stored, which read "exists already", and
    rotate's exit 2 (nothing changed) left it. The item is the one sent: registered."""
    store, _ = dropping
    _, new = _keys()
    store.list(ENV)
    put_item = store.client.put_item

    def answer_lost_then_retried(**kwargs: Any) -> Any:
        put_item(**kwargs)  # stored, its answer lost
        return put_item(**kwargs)  # botocore's retry

    monkeypatch.setattr(store.client, "put_item", answer_lost_then_retried)
    store.register(new)
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]
    other = dataclasses.replace(new, fingerprint="0" * 64)  # another key, the same id
    monkeypatch.setattr(store.client, "put_item", put_item)
    with pytest.raises(BackendError, match="exists already"):
        store.register(other)


def _read_timeout() -> Exception:
    from botocore.exceptions import ReadTimeoutError

    return ReadTimeoutError(endpoint_url="x")


def _closed() -> Exception:
    from botocore.exceptions import ConnectionClosedError

    return ConnectionClosedError(endpoint_url="x")


def _answered(status: int) -> Exception:
    from botocore.exceptions import ClientError

    said = {"Error": {"Code": str(status), "Message": "Bad Gateway"}}
    return ClientError({**said, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")


def _refused() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="x")


def _connect_timeout() -> Exception:
    from botocore.exceptions import ConnectTimeoutError

    return ConnectTimeoutError(endpoint_url="x")


def _raising(failure: Callable[[], Exception]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise failure()

    return call


def _wrapped(store: Any, call: str, stores: bool, failure: Callable[[], Exception]) -> Callable[..., Any]:
    """The client's `call`, made (when `stores`) before failing as `failure` would."""
    real = getattr(store.client, call)

    def failing(**kwargs: Any) -> Any:
        if stores:
            real(**kwargs)
        raise failure()

    return failing


@pytest.mark.parametrize(
    "failure",
    [_read_timeout, _closed, lambda: _answered(500), lambda: _answered(502)],
    ids=["read-timeout", "closed", "500", "502"],
)
def test_dynamodb_registration_kept_but_answer_lost_is_unconfirmed(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, failure: Callable[[], Exception]
) -> None:
    """The put is stored and its answer lost after botocore's retries (a read timeout, the
    connection closed, a gateway's 5xx): "cannot reach" read as a refusal, so rotate's exit 2
    (nothing changed) left the pending item. Its fate is unknown: a WriteUnconfirmed."""
    from sealer.errors import WriteUnconfirmed

    store, _ = dropping
    _, new = _keys()
    store.list(ENV)
    monkeypatch.setattr(store.client, "put_item", _wrapped(store, "put_item", True, failure))
    with pytest.raises(WriteUnconfirmed):
        store.register(new)
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]  # what a rotation then removes


@pytest.mark.parametrize("operation", ["accept", "activate"])
def test_dynamodb_transaction_kept_but_answer_lost_is_unconfirmed(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    from sealer.errors import WriteUnconfirmed

    store, _ = dropping
    old, new = _keys()
    before, step = OPERATIONS[operation]
    before(store, old, new)
    call = "transact_write_items"
    monkeypatch.setattr(store.client, call, _wrapped(store, call, True, _read_timeout))
    with pytest.raises(WriteUnconfirmed):
        step(store, old, new)


@pytest.mark.parametrize(
    "failure", [_refused, _connect_timeout, lambda: _answered(400)], ids=["refused", "connect-timeout", "400"]
)
def test_dynamodb_write_never_sent_or_refused_is_a_plain_refusal(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, failure: Callable[[], Exception]
) -> None:
    """A connection never made (refused, connect timeout) sent nothing; a 4xx was refused."""
    from sealer.errors import WriteUnconfirmed

    store, _ = dropping
    _, new = _keys()
    store.list(ENV)
    monkeypatch.setattr(store.client, "put_item", _wrapped(store, "put_item", False, failure))
    with pytest.raises(BackendError) as caught:
        store.register(new)
    assert not isinstance(caught.value, WriteUnconfirmed)
    assert store.list(ENV) == []


def test_dynamodb_read_timing_out_is_a_plain_refusal(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealer.errors import WriteUnconfirmed

    store, _ = dropping
    store.list(ENV)
    monkeypatch.setattr(store.client, "get_paginator", _raising(_read_timeout))
    with pytest.raises(BackendError) as caught:
        store.list(ENV)
    assert not isinstance(caught.value, WriteUnconfirmed)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_auth0_registration_kept_but_answered_5xx_is_unconfirmed(
    auth0_store: Any, auth0_env: Any, status: int
) -> None:
    """Auth0 keeps the PATCH; a gateway then answers 5xx: "unavailable" read as a refusal, so
    rotate's exit 2 (nothing changed) left the pending record."""
    from sealer.errors import WriteUnconfirmed

    _, new = _keys()

    def kept_then_gateway_error(request: Request) -> Response:
        auth0_env.handle(request)
        return Response(status, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})

    auth0_env.answer_next(kept_then_gateway_error, match="/api/v2/users/", method="PATCH")
    with pytest.raises(WriteUnconfirmed, match=f"unavailable \\({status}\\)"):
        auth0_store.register(new)
    assert [r.key_id for r in auth0_store.list(ENV)] == [new.key_id]  # what a rotation then removes


def _auth0_write_failing(store: Any, monkeypatch: pytest.MonkeyPatch, kept: bool, failure: Exception) -> None:
    target, write = store.target, store.target.write

    def failing(api: Any, patch: dict[str, Any]) -> None:
        if kept:
            write(api, patch)
        raise failure

    monkeypatch.setattr(target, "write", failing)


@pytest.mark.parametrize("failure", ["ReadTimeout", "RemoteProtocolError", "ReadError"])
def test_auth0_registration_kept_but_its_answer_lost_is_unconfirmed(
    auth0_store: Any, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    import httpx

    from sealer.errors import WriteUnconfirmed

    _, new = _keys()
    _auth0_write_failing(auth0_store, monkeypatch, True, getattr(httpx, failure)("lost"))
    with pytest.raises(WriteUnconfirmed, match="cannot reach"):
        auth0_store.register(new)
    monkeypatch.undo()
    assert [r.key_id for r in auth0_store.list(ENV)] == [new.key_id]


@pytest.mark.parametrize("failure", ["ConnectError", "ConnectTimeout", "PoolTimeout", "ProxyError"])
def test_auth0_write_never_sent_is_a_plain_refusal(
    auth0_store: Any, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    import httpx

    from sealer.errors import WriteUnconfirmed

    _, new = _keys()
    _auth0_write_failing(auth0_store, monkeypatch, False, getattr(httpx, failure)("never made"))
    with pytest.raises(BackendError, match="cannot reach") as caught:
        auth0_store.register(new)
    assert not isinstance(caught.value, WriteUnconfirmed)


@pytest.mark.parametrize(("method", "status"), [("PATCH", 400), ("GET", 502)])
def test_auth0_write_refused_or_read_answered_5xx_is_a_plain_refusal(
    auth0_store: Any, auth0_env: Any, method: str, status: int
) -> None:
    from sealer.errors import WriteUnconfirmed

    _, new = _keys()
    auth0_env.answer_next(Response(status, b"no"), match="/api/v2/users/", method=method)
    with pytest.raises(BackendError) as caught:
        auth0_store.register(new)
    assert not isinstance(caught.value, WriteUnconfirmed)
    assert auth0_store.list(ENV) == []


@pytest.fixture
def retrying(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> tuple[Any, Any, dict[str, Any]]:
    """(the `dropping` store, one on its table whose botocore retries (no backoff), what the
    latter's put_item was last given)."""
    import botocore.retries.standard

    from sealer.backends.dynamodb import DynamoStore

    store, proxy = dropping
    retrying = DynamoStore({**_options(store, proxy), "max_attempts": "3"}, tmp_path)
    store.list(ENV)
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda *a: 0)
    sent: dict[str, Any] = {}
    put_item = retrying.client.put_item

    def recorded(**kwargs: Any) -> Any:
        sent.update(kwargs)
        return put_item(**kwargs)

    monkeypatch.setattr(retrying.client, "put_item", recorded)
    return store, retrying, sent


def _attempts(
    stores: tuple[Any, Any, dict[str, Any]], first_kept: bool, then: Callable[[], Exception] | None
) -> list[str]:
    """botocore's attempts of the next put: the first stored (through the other client, when
    `first_kept`) and its answer lost, each later one failing as `then` (sent as it is: None)."""
    store, retrying, sent = stores
    attempts: list[str] = []

    def attempt(**_: Any) -> None:
        attempts.append("sent")
        if len(attempts) == 1:
            if first_kept:
                store.client.put_item(**sent)
                raise _read_timeout()
            raise _refused()
        if then is not None:
            raise then()

    retrying.client.meta.events.register("before-send.dynamodb.PutItem", attempt)
    return attempts


@pytest.mark.parametrize("last", [_refused, _connect_timeout], ids=["refused", "connect-timeout"])
def test_dynamodb_registration_kept_then_retried_unreachable_is_unconfirmed(
    retrying: tuple[Any, Any, dict[str, Any]], last: Callable[[], Exception]
) -> None:
    """botocore's first attempt is stored and its answer lost; its retries then never connect
    (the endpoint went down): the last error, a connection never made, read as nothing sent."""
    from sealer.errors import WriteUnconfirmed

    store, other, _ = retrying
    _, new = _keys()
    attempts = _attempts(retrying, True, last)
    with pytest.raises(WriteUnconfirmed):
        other.register(new)
    assert len(attempts) == 3
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]


def test_dynamodb_registration_never_connected_in_any_attempt_is_a_plain_refusal(
    retrying: tuple[Any, Any, dict[str, Any]],
) -> None:
    from sealer.errors import WriteUnconfirmed

    store, other, _ = retrying
    _, new = _keys()
    attempts = _attempts(retrying, False, _refused)
    with pytest.raises(BackendError, match="cannot reach") as caught:
        other.register(new)
    assert not isinstance(caught.value, WriteUnconfirmed)
    assert len(attempts) == 3
    assert store.list(ENV) == []


def test_dynamodb_registration_kept_then_retried_finds_its_own_item(
    retrying: tuple[Any, Any, dict[str, Any]],
) -> None:
    """The retry reaches the table and its condition fails on the first attempt's item: that
    is the item sent (6ad2c86), registered, never "unconfirmed" for the lost first answer."""
    store, other, _ = retrying
    _, new = _keys()
    attempts = _attempts(retrying, True, None)
    other.register(new)
    assert len(attempts) == 2
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]


def _options(store: Any, proxy: DroppingDynamo) -> dict[str, str]:
    return {"table": store.table, "region": "eu-west-1", "endpoint_url": proxy.url}


# -- Vault's health check -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Response.json(200, {"errors": ["permission denied"]}),
        Response.json(200, _envelope(None)),
        Response.json(200, {"errors": ["permission denied"], "data": {"id": "x"}}),
        Response(200, b"<html>Sign in</html>", {"Content-Type": "text/html"}),
    ],
    ids=["error-body", "no-data", "error-beside-data", "html"],
)
def test_vault_token_lookup_without_the_tokens_data_is_unhealthy(
    vault_env: FakeVault, tmp_path: Path, answer: Response
) -> None:
    from sealer.backends.vault import VaultStore

    store = VaultStore({}, tmp_path)
    vault_env.answer_next(answer, match="/auth/token/lookup-self")
    message = backend_error(store.health)
    assert "lookup-self" in message and "without the token's data" in message
    assert vault_env.token not in message
    assert "KV v2" in store.health()  # the honest answer next time: healthy


# -- through the CLI ----------------------------------------------------------------------------


@pytest.fixture
def vault_repo(backend_repo: Path, vault_env: FakeVault) -> Path:
    configure(
        backend_repo, Backend("vault", {"mount": "secret", "path": f"sealer/cli-{backend_repo.parent.name}"})
    )
    return backend_repo


def test_backend_check_reports_a_vault_lookup_with_an_error_body_unhealthy(
    vault_repo: Path, vault_env: FakeVault
) -> None:
    vault_env.answer_next(Response.json(200, {"errors": ["permission denied"]}), match="lookup-self")
    result = sealer(vault_repo, "backend", "check", REPO_ENV)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stdout.splitlines() if "lookup-self" in line]
    assert len(lines) == 1 and "without the token's data" in lines[0]


def test_rotate_whose_vault_write_is_not_kept_changes_nothing(vault_repo: Path, vault_env: FakeVault) -> None:
    head = git(vault_repo, "rev-parse", "HEAD")
    vault_env.answer_next(_acked_not_kept, match="/data/", method="POST")
    line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 2)
    assert "does not hold what was written" in line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    assert store_of(vault_repo).list(REPO_ENV) == []


def _vault_path(repo: Path) -> tuple[str, str]:
    return "secret", f"sealer/cli-{repo.parent.name}/{REPO_ENV}"


def test_rotate_whose_first_registration_is_kept_but_not_read_back_removes_it(
    vault_repo: Path, vault_env: FakeVault
) -> None:
    """The write is kept, its read-back refused (503): exit 2 says nothing changed, so the
    pending record the store did keep is removed again (and that removal read back)."""
    head = git(vault_repo, "rev-parse", "HEAD")
    refused = Response.json(503, {"errors": ["Vault is sealed"]})
    vault_env.on_next_write(
        *_vault_path(vault_repo), lambda: vault_env.answer_next(refused, match="/data/", method="GET")
    )
    line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 2)
    assert "sealed or down" in line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    assert store_of(vault_repo).list(REPO_ENV) == []


def test_rotate_whose_registration_is_kept_but_its_connection_dropped_removes_it(
    vault_repo: Path, vault_env: FakeVault
) -> None:
    """Vault keeps the write, then the connection drops before its answer: "cannot reach" read
    as a refusal (nothing sent), so exit 2 said nothing changed with the pending record left."""
    head = git(vault_repo, "rev-parse", "HEAD")

    def kept_then_dropped(request: Request) -> Response:
        vault_env.handle(request)
        raise ConnectionResetError  # the fake server closes the connection unanswered

    vault_env.answer_next(kept_then_dropped, match="/data/", method="POST")
    line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 2)
    assert "cannot reach" in line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    assert store_of(vault_repo).list(REPO_ENV) == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_rotate_whose_registration_is_kept_but_answered_5xx_removes_it(
    vault_repo: Path, vault_env: FakeVault, status: int
) -> None:
    """Vault keeps the write; a gateway in front of it then answers 5xx (its upstream timed out,
    or dropped Vault's answer): a refusal to Vault's client, so exit 2 said nothing changed with
    the pending record left."""
    head = git(vault_repo, "rev-parse", "HEAD")

    def kept_then_gateway_error(request: Request) -> Response:
        vault_env.handle(request)
        return Response(status, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})

    vault_env.answer_next(kept_then_gateway_error, match="/data/", method="POST")
    one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 2)
    assert git(vault_repo, "rev-parse", "HEAD") == head
    assert store_of(vault_repo).list(REPO_ENV) == []


@pytest.mark.parametrize("status", [400, 404, 405, 413, 429])
def test_a_vault_write_refused_4xx_is_a_plain_refusal(vault_env: FakeVault, status: int) -> None:
    """Vault (or a gateway) refused the request: nothing kept, nothing to undo."""
    from sealer.backends.vault_kv import VaultKV
    from sealer.errors import WriteUnconfirmed

    kv = VaultKV.from_env("secret")
    vault_env.answer_next(Response.json(status, {"errors": ["refused"]}), match="/data/", method="POST")
    with pytest.raises(BackendError) as caught:
        kv.write("sealer/refused", {"a": "b"}, 0)
    assert not isinstance(caught.value, WriteUnconfirmed)


def test_a_vault_read_answered_5xx_is_a_plain_refusal(vault_env: FakeVault) -> None:
    from sealer.backends.vault_kv import VaultKV
    from sealer.errors import WriteUnconfirmed

    vault_env.answer_next(Response(502, b"Bad Gateway"), match="/data/", method="GET")
    with pytest.raises(BackendError) as caught:
        VaultKV.from_env("secret").read("sealer/gateway")
    assert not isinstance(caught.value, WriteUnconfirmed)


def test_a_vault_write_never_connected_is_a_plain_refusal() -> None:
    """A connection refused sent nothing: no write to undo (a rotation then exits 2 as ever)."""
    import requests
    import urllib3.exceptions

    from sealer.backends import base

    refused = urllib3.exceptions.NewConnectionError(None, "refused")  # type: ignore[arg-type]
    unmade = requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", refused))  # type: ignore[arg-type]
    dropped = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("aborted"))
    assert not base.may_have_arrived(unmade)
    assert base.may_have_arrived(dropped)
    assert base.may_have_arrived(requests.exceptions.ReadTimeout())


def test_rotate_whose_registration_cannot_be_undone_says_partly_done_naming_the_key(
    vault_repo: Path, vault_env: FakeVault
) -> None:
    """README (Never half-done): the write is kept and the store goes down before its read-back:
    the pending record may be there and cannot be removed. Not exit 2 ("nothing changed"): exit
    4, naming the key; the next rotation removes it."""
    head = git(vault_repo, "rev-parse", "HEAD")
    vault_env.on_next_write(*_vault_path(vault_repo), lambda: setattr(vault_env, "sealed", True))
    try:
        line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 4)
    finally:
        vault_env.sealed = False
    assert git(vault_repo, "rev-parse", "HEAD") == head
    left = store_of(vault_repo).list(REPO_ENV)
    assert [r.status for r in left] == ["pending"]
    assert f"{left[0].key_id} ({REPO_ENV}" in line and "may be left pending" in line, line
    assert vault_env.token not in line
    rotate(vault_repo)  # the next rotation removes it
    assert left[0].key_id not in {r.key_id for r in store_of(vault_repo).list(REPO_ENV)}


# -- the key registry written through the Kubernetes API (k8s-secrets, direct delivery) ------------


def _echoed_not_stored(request: Request) -> Response:
    """The API server's answer to a stored write (the object, a new resourceVersion), nothing stored."""
    body = request.json()
    return Response.json(200, {**body, "metadata": {**body["metadata"], "resourceVersion": "999999"}})


@pytest.mark.parametrize("operation", ["activate", "revoke"])
def test_kubernetes_registry_write_acknowledged_but_not_stored_is_not_done(
    k8s_direct_store: Any, kube_server: Any, operation: str
) -> None:
    old, new = _keys()
    _activate_old(k8s_direct_store, old, new)
    where = ("payments", "engine-api-key-registry")
    live = kube_server.secrets[where]["data"]
    kube_server.answer_next(_echoed_not_stored, match="/secrets/engine-api-key-registry", method="PUT")
    _, step = OPERATIONS[operation]
    message = backend_error(lambda: step(k8s_direct_store, old, new))
    assert "does not hold what was written" in message
    assert kube_server.secrets[where]["data"] == live


def test_kubernetes_registry_read_back_trickling_is_cut_off(
    k8s_direct_store: Any, kube_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write is stored; the API server then trickles the read-back's answer a byte at a
    time, each well within the socket timeout: the wall-clock bound ends it with one line."""
    import threading

    from sealer import deadline
    from sealer.errors import WriteUnconfirmed

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    old, new = _keys()
    _activate_old(k8s_direct_store, old, new)
    stop = threading.Event()
    timer = threading.Timer(5, stop.set)  # without the bound, the call ends here (and passes)

    def trickled(request: Request) -> Response:
        answer = kube_server.handle(request)
        answer.trickle_until = stop
        return answer

    once = threading.Lock()  # requests come on several server threads: start the timer once

    def hook(request: Request) -> None:
        if request.method == "PUT" and once.acquire(blocking=False):
            timer.start()
            kube_server.answer_next(trickled, match="/secrets/engine-api-key-registry", method="GET")

    kube_server.before_request = hook
    try:
        with pytest.raises(WriteUnconfirmed) as caught:
            k8s_direct_store.activate(ENV, NAME, new.key_id, None)
    finally:
        stop.set()
        timer.cancel()
    assert str(caught.value) == (
        f"kubernetes: {kube_server.url} did not answer within 0.5 seconds while reading Secret "
        "payments/engine-api-key-registry"
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_kubernetes_registry_write_stored_but_answered_5xx_is_unconfirmed(
    k8s_direct_store: Any, kube_server: Any, status: int
) -> None:
    """The API server stores the registry; a gateway then answers 5xx: the write's fate is
    unknown (after the commit: exit 4 says to run again), never "failed" as if refused."""
    from sealer.errors import WriteUnconfirmed

    old, new = _keys()
    _activate_old(k8s_direct_store, old, new)

    def stored_then_gateway_error(request: Request) -> Response:
        kube_server.handle(request)
        return Response(status, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})

    kube_server.answer_next(stored_then_gateway_error, match="/secrets/engine-api-key-registry", method="PUT")
    with pytest.raises(WriteUnconfirmed) as caught:
        k8s_direct_store.activate(ENV, NAME, new.key_id, None)
    assert str(caught.value).startswith(
        f"kubernetes: replacing Secret payments/engine-api-key-registry failed ({status} "
    ) and str(caught.value).endswith("it may have been written; not counted as done")


def _kube_write_failing(monkeypatch: pytest.MonkeyPatch, kept: bool, failure: Exception) -> None:
    """Each API write made (when `kept`) before failing as `failure` would; reads as they are."""
    from sealer import kube_objects

    bounded = kube_objects._bounded

    def failing(api: Any, what: str, call: Callable[[], Any], writes: bool = False) -> Any:
        if not writes:
            return bounded(api, what, call, writes)
        if kept:
            call()
        raise failure

    monkeypatch.setattr(kube_objects, "_bounded", failing)


def _never_made() -> Exception:
    import urllib3.exceptions as failed

    return failed.MaxRetryError(None, "/", failed.NewConnectionError(None, "refused"))  # type: ignore[arg-type]


def _timed_out() -> Exception:
    import urllib3.exceptions as failed

    return failed.ReadTimeoutError(None, "/", "read timed out")  # type: ignore[arg-type]


def _retried_then_dropped() -> Exception:
    import urllib3.exceptions as failed

    return failed.MaxRetryError(None, "/", failed.ProtocolError("Connection aborted."))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kept", "failure", "unconfirmed"),
    [(True, _timed_out, True), (True, _retried_then_dropped, True), (False, _never_made, False)],
    ids=["read-timeout", "dropped", "never-made"],
)
def test_kubernetes_registry_write_whose_answer_was_lost_is_unconfirmed(
    k8s_direct_store: Any,
    monkeypatch: pytest.MonkeyPatch,
    kept: bool,
    failure: Callable[[], Exception],
    unconfirmed: bool,
) -> None:
    from sealer.errors import WriteUnconfirmed

    old, new = _keys()
    _activate_old(k8s_direct_store, old, new)
    _kube_write_failing(monkeypatch, kept, failure())
    with pytest.raises(BackendError, match="kubernetes: cannot reach") as caught:
        k8s_direct_store.activate(ENV, NAME, new.key_id, None)
    assert isinstance(caught.value, WriteUnconfirmed) is unconfirmed


def test_kubernetes_registry_read_answered_5xx_is_a_plain_refusal(
    k8s_direct_store: Any, kube_server: Any
) -> None:
    from sealer.errors import WriteUnconfirmed

    old, new = _keys()
    _activate_old(k8s_direct_store, old, new)
    kube_server.answer_next(Response(502, b"no"), match="/secrets/engine-api-key-registry", method="GET")
    with pytest.raises(BackendError) as caught:
        k8s_direct_store.activate(ENV, NAME, new.key_id, None)
    assert not isinstance(caught.value, WriteUnconfirmed)


# -- a store server trickling its answer: each store request is bounded in wall-clock time --------


def test_rotate_whose_registration_write_is_cut_off_removes_it(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write's answer trickles past the bound after Vault kept it: its fate is unknown to
    sealer, so the run removes it again; still under way, it is named as maybe left (exit 4)."""
    head = git(vault_repo, "rev-parse", "HEAD")
    with trickling(vault_env, monkeypatch, "/data/", "POST", vault_env.handle):
        line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--no-branch"), 4)
    assert "did not answer within 0.5 seconds while writing" in line
    assert "its write still under way) may be left pending" in line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    assert store_of(vault_repo).list(REPO_ENV) == []


def test_rotate_whose_registration_lands_after_it_was_given_up_on_is_partly_done(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vault keeps the registration only once sealer gave up on it (the request bound) and read
    the store as clean: exit 2 said "nothing changed" while a pending key then appeared. Of
    unknown fate, it is named (exit 4), and the next plain `sealer rotate` removes it."""
    import threading

    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    ended, landed = threading.Event(), threading.Event()

    def late(request: Request) -> Response:
        ended.wait(10)  # sealer has given up on it, undone the run and read the store
        answer = vault_env.handle(request)
        landed.set()
        return answer

    vault_env.answer_next(late, match="/data/", method="POST")
    result = sealer(vault_repo, "rotate", REPO_ENV, "--no-branch")
    ended.set()
    assert landed.wait(10)
    line = one_line_error(result, 4)
    (left,) = store_of(vault_repo).list(REPO_ENV)
    assert left.status == "pending"
    assert f"{left.key_id} ({REPO_ENV}, vault store, its write still under way) may be left pending" in line
    assert line.startswith("sealer: vault: ") and "nothing was committed" in line
    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 60.0)
    rotate(vault_repo)
    assert left.key_id not in {r.key_id for r in store_of(vault_repo).list(REPO_ENV)}


@contextlib.contextmanager
def _held_registration(vault_env: FakeVault, presses: int) -> Iterator[threading.Event]:
    """Vault holds the registration's write until the block ends (or, with one press, until
    Ctrl-C); Ctrl-C is pressed `presses` times while sealer waits on it (the first in its wait,
    the next in its wait for the write to settle). Yields the event set once the write landed."""
    started, release, landed = threading.Event(), threading.Event(), threading.Event()
    pressed: list[str] = []
    join = threading.Thread.join

    def held(request: Request) -> Response:
        started.set()
        release.wait(10)
        answer = vault_env.handle(request)
        landed.set()
        return answer

    def ctrl_c(thread: threading.Thread, timeout: float | None = None) -> Any:
        if thread.name != "sealer-store-request" or len(pressed) >= presses:
            return join(thread, timeout)
        while not pressed and not started.is_set() and thread.is_alive():  # another request
            join(thread, 0.01)
        if not started.is_set():
            return join(thread, timeout)
        pressed.append("Ctrl-C")
        if presses == 1:
            release.set()  # the write settles in the wait that follows
        raise KeyboardInterrupt

    vault_env.answer_next(held, match="/data/", method="POST")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threading.Thread, "join", ctrl_c)
        try:
            yield landed
        finally:
            release.set()
    assert landed.wait(10)


def test_rotate_ctrl_c_twice_while_its_registration_is_held_is_partly_done(
    vault_repo: Path, vault_env: FakeVault, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C, then Ctrl-C again while sealer waits for the registration already sent: the run
    leaves with the write still under way, so it may land after any undoing. Never exit 130
    ("interrupted", nothing changed): exit 4 names the key, and the next plain `sealer rotate`
    leaves one current key per entry and no pending key."""
    head = git(vault_repo, "rev-parse", "HEAD")
    with _held_registration(vault_env, presses=2), in_dir(vault_repo):
        run = run_main(["rotate", REPO_ENV, "--no-branch"], capsys)
    assert_one_line_error(run, 4)
    line = run.stderr.strip()
    (left,) = store_of(vault_repo).list(REPO_ENV)
    assert left.status == "pending"
    assert line.startswith("sealer: interrupted with a write to vault: ")
    assert "still under way: it may still land; nothing was committed" in line
    assert f"{left.key_id} ({REPO_ENV}, vault store, its write still under way) may be left pending" in line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    rotate(vault_repo)
    finish(vault_repo)
    records = store_of(vault_repo).list(REPO_ENV)
    assert left.key_id not in {r.key_id for r in records}
    no_pending(records)
    assert_one_active_per_name(records)


def test_rotate_ctrl_c_once_while_its_registration_settles_is_undone(
    vault_repo: Path, vault_env: FakeVault, capsys: pytest.CaptureFixture[str]
) -> None:
    """One Ctrl-C while the registration is on its way: sealer waits for it to land, removes it,
    and exits 130 with the store as it was."""
    head = git(vault_repo, "rev-parse", "HEAD")
    with _held_registration(vault_env, presses=1), in_dir(vault_repo):
        run = run_main(["rotate", REPO_ENV, "--no-branch"], capsys)
    assert (run.code, run.stderr.strip()) == (130, "sealer: interrupted")
    assert store_of(vault_repo).list(REPO_ENV) == []
    assert git(vault_repo, "rev-parse", "HEAD") == head


def test_ctrl_c_again_while_a_rotation_undoes_its_registration_is_partly_done(
    vault_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C before the commit, then again while the run removes the key it registered: the key
    may be left pending, so the run is partly done (exit 4) naming it, never 130."""
    from sealer import faults
    from sealer.backends.vault import VaultStore

    def interrupt(name: str) -> None:
        if name == "before-temps":
            raise KeyboardInterrupt

    def interrupted_again(store: VaultStore, env: str, key_id: str) -> None:
        raise KeyboardInterrupt

    head = git(vault_repo, "rev-parse", "HEAD")
    with monkeypatch.context() as patch, in_dir(vault_repo):
        patch.setattr(faults, "point", interrupt)
        patch.setattr(VaultStore, "remove_pending", interrupted_again)
        run = run_main(["rotate", REPO_ENV, "--no-branch"], capsys)
    assert_one_line_error(run, 4)
    left = store_of(vault_repo).list(REPO_ENV)
    assert left and {r.status for r in left} == {"pending"}
    line = run.stderr.strip()
    assert line.startswith("sealer: interrupted; nothing was committed, but what this run registered")
    assert all(f"{r.key_id} ({REPO_ENV}, vault store)" in line for r in left), line
    assert git(vault_repo, "rev-parse", "HEAD") == head
    rotate(vault_repo)
    finish(vault_repo)
    records = store_of(vault_repo).list(REPO_ENV)
    assert not {r.key_id for r in left} & {r.key_id for r in records}
    no_pending(records)


def test_the_readme_states_the_bound_of_a_store_request() -> None:
    from sealer import deadline

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    said = " ".join(readme.split())
    assert f"answered within {deadline.MAX_REQUEST_SECONDS:g} seconds in all" in said
    assert "each PostgreSQL transaction, DynamoDB's table creation and credential fetching included" in said
    assert "PostgreSQL write whose `COMMIT` is not answered (the connection lost or ended)" in said
    assert (
        "a write cut off so is one not confirmed, and may still land after any later read: a rotation "
        "stopped by it before its commit exits 4 naming the key, which the next `sealer rotate` "
        "removes, never exit 2; a PostgreSQL transaction cut off before its `COMMIT` was sent is "
        "rolled back instead: nothing changed"
    ) in said
    assert "or whose registration was given up on while under way (it may still land: each is named" in said


def test_the_readme_states_ctrl_c_leaving_a_write_under_way_is_partly_done() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    said = " ".join(readme.split())
    assert (
        "A second Ctrl-C leaves at once, and so does a wait that runs out (and PostgreSQL's first Ctrl-C "
        "once its `COMMIT` was sent): the write still under way may land after that, so the command "
        "exits 4 (partly done), never 130, and its one line says the write may still land: a rotation "
        "stopped so before its commit leaves that key alone (a removal could run before it lands) and "
        "names it as maybe left pending (never valid; the next plain `sealer rotate` removes it), and "
        "`backend set` names that copy in the new store likewise."
    ) in said
    assert "a command interrupted with a store write still under way (see 130)" in said
    assert (
        "| 130 | interrupted: nothing changed, and no write sealer sent is still under way (Ctrl-C pressed "
        "again while sealer waited for a store write to settle, or that wait ran out, leaves the write "
        "under way: it may still land, so the exit code is 4"
    ) in said
    assert "exit 2 (130 when interrupted; 4 naming the copy when Ctrl-C left its write under way)" in said


def test_vault_trickling_its_answer_is_cut_off(
    vault_env: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealer.backends.vault import VaultStore

    store = VaultStore({"path": "sealer/trickled"}, tmp_path)
    with trickling(vault_env, monkeypatch, "/data/", "GET", vault_env.handle):
        message = backend_error(lambda: store.list(ENV))
    assert message == (
        f"vault: {vault_env.url} did not answer within 0.5 seconds while reading secret/sealer/trickled/{ENV}"
    )


def test_auth0_trickling_its_answer_is_cut_off(
    auth0_store: Any, auth0_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = auth0_store.options["user_id"]
    with trickling(auth0_env, monkeypatch, "/api/v2/users/", "GET", auth0_env.dispatch):
        message = backend_error(lambda: auth0_store.list(ENV))
    assert message.startswith("auth0: ") and message.endswith(
        f" did not answer within 0.5 seconds while requesting user {user}"
    )


def test_dynamodb_trickling_its_answer_is_cut_off(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, proxy = dropping
    store.list(ENV)  # the table made
    with trickling(proxy, monkeypatch, "/", "POST", proxy.handle):
        message = backend_error(lambda: store.list(ENV))
    assert message == (
        f"dynamodb: {proxy.url} did not answer within 0.5 seconds while reading the items of {ENV}"
    )


def _trickled_write(kind: str, fixtures: pytest.FixtureRequest) -> tuple[Any, Any, str, str]:
    """The store of `kind` (its table or document made), its server, and its write request."""
    if kind == "dynamodb":
        store, proxy = fixtures.getfixturevalue("dropping")
        store.list(ENV)
        return store, proxy, "/", "POST"
    if kind == "auth0":
        store = fixtures.getfixturevalue("auth0_store")
        return store, fixtures.getfixturevalue("auth0_env"), "/api/v2/users/", "PATCH"
    return fixtures.getfixturevalue("vault_store"), fixtures.getfixturevalue("vault_env"), "/data/", "POST"


@pytest.mark.parametrize("kind", ["vault", "auth0", "dynamodb"])
def test_a_write_given_up_on_by_the_bound_is_still_in_flight(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose answer never came within the bound goes on in its thread: it may land
    after any read-back (a rotation's undo), so it is a WriteInFlight, not only unconfirmed."""
    from sealer.errors import WriteInFlight

    store, server, match, method = _trickled_write(kind, request)

    def padded(sent: Request) -> Response:  # a short answer ("{}") would end within the bound
        answer = server.handle(sent)
        return dataclasses.replace(answer, body=b" " * 64 + answer.body)

    with trickling(server, monkeypatch, match, method, padded):
        with pytest.raises(WriteInFlight) as caught:
            store.register(_keys()[1])
    assert " did not answer within 0.5 seconds while " in str(caught.value)


def test_finish_whose_vault_activation_is_not_kept_is_not_reported_done(
    vault_repo: Path, vault_env: FakeVault
) -> None:
    rotate(vault_repo)
    held = store_of(vault_repo).list(REPO_ENV)
    vault_env.answer_next(_acked_not_kept, match="/data/", method="POST")
    result = sealer(vault_repo, "rotate", "--finish", "--output", "json")
    line = one_line_error(result, 4)  # the rotation is committed: partly done, says how to finish
    assert "does not hold what was written" in line and "rotate --finish` again" in line
    assert json.loads(result.stdout)["activated"] == []  # nothing reported done
    assert store_of(vault_repo).list(REPO_ENV) == held
    assert finish(vault_repo)["activated"]  # the store keeps writes again: the rerun finishes


def _table_missing(store: Any, keys: list[Any]) -> Any:
    return {"Responses": {}}


def _unprocessed_unnamed(store: Any, keys: list[Any]) -> Any:
    return {"Responses": {store.table: []}, "UnprocessedKeys": {store.table: {"Keys": {}}}}


def _unprocessed_not_a_map(store: Any, keys: list[Any]) -> Any:
    return {"Responses": {store.table: []}, "UnprocessedKeys": {store.table: "all of them"}}


def _left_unprocessed(store: Any, keys: list[Any]) -> Any:
    return {"Responses": {store.table: []}, "UnprocessedKeys": {store.table: {"Keys": keys}}}


@pytest.mark.parametrize(
    "answer", [_table_missing, _unprocessed_unnamed, _unprocessed_not_a_map, _left_unprocessed]
)
def test_dynamodb_read_back_naming_no_item_is_no_confirmed_delete(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, answer: Callable[..., Any]
) -> None:
    """A dropped Delete read back through an answer that lists nothing for the table (or leaves
    its keys unprocessed, named or not) is not "the item is gone": the removal is not done."""
    store, proxy = dropping
    _, new = _keys()
    store.register(new)
    monkeypatch.setattr(
        store.client,
        "batch_get_item",
        lambda **kwargs: answer(store, kwargs["RequestItems"][store.table]["Keys"]),
    )
    proxy.dropping = True
    message = backend_error(lambda: store.remove_pending(ENV, new.key_id))
    proxy.dropping = False
    assert proxy.dropped == ["TransactWriteItems"]
    assert "not counted as done" in message
    assert [r.key_id for r in store.list(ENV)] == [new.key_id]


def test_finish_reports_the_abandoned_keys_revoked_before_a_revocation_failed(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two keys of a rotation closed unmerged: the first revocation is kept and read back, the
    second is not confirmed. The run is partly done and names the key it did revoke."""
    from sealer.backends import vault_kv
    from sealer.errors import BackendError

    ok_result = sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/first", "-o", "json")
    assert ok_result.exit_code == 0, ok_result.stderr
    git(vault_repo, "branch", "-q", "-D", "sealer/first")  # its pull request closed
    confirm, confirmed = vault_kv.VaultKV._confirm, []

    def second_unconfirmed(kv: Any, path: str, data: dict[str, Any], version: int) -> None:
        confirm(kv, path, data, version)
        confirmed.append(version)
        if len(confirmed) == 2:
            raise BackendError("vault: writing: not counted as written")

    monkeypatch.setattr(vault_kv.VaultKV, "_confirm", second_unconfirmed)
    result = sealer(vault_repo, "rotate", "--finish", "--output", "json")
    assert "not counted as written" in one_line_error(result, 4)
    abandoned = [a["key_id"] for a in json.loads(result.stdout)["abandoned"]]
    assert len(abandoned) == 1
    assert {r.key_id: r.status for r in store_of(vault_repo).list(REPO_ENV)}[abandoned[0]] == "revoked"


def test_rotate_whose_registration_is_refused_leaves_the_earlier_runs_keys_alone(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README (Never half-done): the clean-up of earlier runs (an abandoned key revoked) comes after
    the registrations: a refused registration exits 2 with the store as it was; the next
    rotation that gets through makes the clean-up, and keeps its own pending keys."""
    from sealer.backends.vault import VaultStore

    first = sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/first", "-o", "json")
    assert first.exit_code == 0, first.stderr
    abandoned = {k["key_id"] for k in json.loads(first.stdout)["keys"]}
    git(vault_repo, "branch", "-q", "-D", "sealer/first")  # its pull request closed
    held = store_of(vault_repo).list(REPO_ENV)
    assert {r.status for r in held if r.key_id in abandoned} == {"accepted"}

    def refused(store: Any, record: KeyRecord) -> None:
        raise BackendError("vault: registering: permission denied")

    with monkeypatch.context() as patch:
        patch.setattr(VaultStore, "register", refused)
        line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/second"), 2)
    assert "permission denied" in line
    assert store_of(vault_repo).list(REPO_ENV) == held  # nothing changed: the abandoned key too
    second = sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/second", "-o", "json")
    assert second.exit_code == 0, second.stderr
    new = {k["key_id"] for k in json.loads(second.stdout)["keys"]}
    statuses = {r.key_id: r.status for r in store_of(vault_repo).list(REPO_ENV)}
    assert {statuses[k] for k in abandoned} == {"revoked"} and {statuses[k] for k in new} == {"accepted"}


def test_rotate_stopped_before_its_commit_names_the_clean_up_it_made(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README (Never half-done): the clean-up of earlier runs is done, then the run stops: its own keys
    are removed, the abandoned key stays revoked, and the exit code (4, not 2) and line say so."""
    first = sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/first", "-o", "json")
    assert first.exit_code == 0, first.stderr
    abandoned = {k["key_id"] for k in json.loads(first.stdout)["keys"]}
    git(vault_repo, "branch", "-q", "-D", "sealer/first")
    from sealer import journal
    from sealer.errors import BadInput

    def unwritable(*args: Any) -> None:
        raise BadInput("cannot write the journal: disk full")

    monkeypatch.setattr(journal, "save", unwritable)
    line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/second"), 4)
    assert "disk full; nothing was committed" in line and "revoked as abandoned" in line, line
    assert all(k in line for k in abandoned), line
    statuses = {r.key_id: r.status for r in store_of(vault_repo).list(REPO_ENV)}
    assert set(statuses.values()) == {"revoked"} and set(statuses) == abandoned  # its own keys gone


def test_rotate_whose_clean_up_write_is_not_confirmed_says_it_may_have_landed(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README (Never half-done): the first clean-up of an earlier run (an abandoned key revoked)
    is sent but its read-back fails: it may have landed, so not exit 2 but 4, saying so."""
    from sealer.backends import vault_kv
    from sealer.errors import WriteUnconfirmed

    first = sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/first", "-o", "json")
    assert first.exit_code == 0, first.stderr
    git(vault_repo, "branch", "-q", "-D", "sealer/first")
    registrations = len(json.loads(first.stdout)["keys"])
    confirm, confirmed = vault_kv.VaultKV._confirm, []

    def clean_up_unconfirmed(kv: Any, path: str, data: dict[str, Any], version: int) -> None:
        confirm(kv, path, data, version)
        confirmed.append(version)
        if len(confirmed) == registrations + 1:  # the registrations, then the first revocation
            raise WriteUnconfirmed("vault: writing: not counted as written")

    monkeypatch.setattr(vault_kv.VaultKV, "_confirm", clean_up_unconfirmed)
    line = one_line_error(sealer(vault_repo, "rotate", REPO_ENV, "--branch", "sealer/second"), 4)
    assert "nothing was committed" in line and "was sent (not confirmed)" in line, line


@pytest.mark.parametrize("command", ["revoke", "compromised"])
def test_keys_revoke_in_the_store_alone_whose_write_is_not_confirmed_is_partly_done(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """README (exit 4): a key no ledger holds is revoked in the store alone (no commit); its
    write is sent but not read back: it may have landed, so not exit 2 ("nothing changed") but
    4, and running the same command again finishes it."""
    from sealer.backends import vault_kv
    from sealer.errors import WriteUnconfirmed

    outside = pending_key(REPO_ENV, "apiKey", utcnow())[1]
    store_of(vault_repo).register(outside)
    store_of(vault_repo).accept(REPO_ENV, outside.key_id)
    confirm = vault_kv.VaultKV._confirm

    def unconfirmed(kv: Any, path: str, data: dict[str, Any], version: int) -> None:
        confirm(kv, path, data, version)
        raise WriteUnconfirmed("vault: writing: not counted as written")

    with monkeypatch.context() as patch:
        patch.setattr(vault_kv.VaultKV, "_confirm", unconfirmed)
        line = one_line_error(sealer(vault_repo, "keys", command, REPO_ENV, outside.key_id), 4)
    assert f"may hold {outside.key_id} revoked already: run the same command again" in line, line
    again = sealer(vault_repo, "keys", command, REPO_ENV, outside.key_id)
    assert again.exit_code == 0, again.output
    assert {r.key_id: r.status for r in store_of(vault_repo).list(REPO_ENV)}[outside.key_id] == "revoked"


def _trickle_action(
    proxy: DroppingDynamo, monkeypatch: pytest.MonkeyPatch, action: str, after: str = ""
) -> Any:
    """The first request for `action` (x-amz-target, or the form's Action for STS) made after one
    for `after` (or after none) gets its answer a byte at a time for 5 s; the bound is 0.5 s."""
    import threading

    from sealer import deadline

    monkeypatch.setattr(deadline, "MAX_REQUEST_SECONDS", 0.5)
    stop = threading.Event()
    timer = threading.Timer(5, stop.set)  # without the bound, the call ends here (and succeeds)
    seen: list[str] = []

    def trickled(request: Request) -> Response:
        answer = proxy.handle(request)
        answer.trickle_until = stop
        return answer

    once = threading.Lock()  # a retry may come on another server thread while the timer starts

    def hook(request: Request) -> None:
        name = request.headers.get("x-amz-target", "").rsplit(".", 1)[-1] or request.body.decode()
        if action in name and (not after or after in seen) and once.acquire(blocking=False):
            timer.start()
            proxy.answer_next(trickled, match="/", method="POST")
        seen.append(name)

    proxy.before_request = hook
    return stop, timer


@pytest.mark.parametrize(
    ("action", "after", "what"),
    [("CreateTable", "", "creating table"), ("DescribeTable", "CreateTable", "waiting for table")],
    ids=["create", "wait"],
)
def test_dynamodb_table_creation_trickling_is_cut_off(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, action: str, after: str, what: str
) -> None:
    """The first use creates the table, then waits for it: each is one bounded request."""
    store, proxy = dropping
    store._made_client()  # before the bound drops to 0.5 s: a busy machine loads botocore slower
    stop, timer = _trickle_action(proxy, monkeypatch, action, after)
    try:
        message = backend_error(lambda: store.list(ENV))
    finally:
        stop.set()
        timer.cancel()
    assert message == (
        f"dynamodb: {proxy.url} did not answer within 0.5 seconds while {what} {store.table}"
        + (" to be created" if action == "DescribeTable" else "")
    )


def test_dynamodb_credentials_trickling_are_cut_off(
    dropping: tuple[Any, DroppingDynamo], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Credentials from a role assumed through STS: an STS endpoint trickling its answer fails
    the command with one line, as a store request does."""
    from sealer.backends.credentials import AwsSource
    from sealer.backends.dynamodb import DynamoStore

    store, proxy = dropping
    role = "arn:aws:iam::123456789012:role/sealer"
    options = {"table": store.table, "region": "eu-west-1", "endpoint_url": proxy.url}
    assuming = DynamoStore(
        options, tmp_path, source=AwsSource(env=ENV, role_arn=role, sts_endpoint_url=proxy.url)
    )
    stop, timer = _trickle_action(proxy, monkeypatch, "AssumeRole")
    try:
        message = backend_error(lambda: assuming.list(ENV))
    finally:
        stop.set()
        timer.cancel()
    assert message == (
        f"dynamodb: {ENV}: AWS (role {role}) did not answer within 0.5 seconds while fetching credentials"
    )


def test_keys_compromised_in_the_store_alone_whose_read_after_the_revocation_fails_is_partly_done(
    vault_repo: Path, vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store revoked the key (and confirmed it); the read that reports its record then fails
    (the store went down): the revocation landed, so not exit 2 ("nothing changed") but 4."""
    from sealer.backends.vault import VaultStore

    outside = pending_key(REPO_ENV, "apiKey", utcnow())[1]
    store_of(vault_repo).register(outside)
    store_of(vault_repo).accept(REPO_ENV, outside.key_id)
    listed, revoke = VaultStore.list, VaultStore.revoke
    revoked: list[str] = []

    def down_after_the_revocation(store: Any, env_name: str) -> list[KeyRecord]:
        if revoked:
            raise BackendError("vault: cannot reach the server: connection refused")
        return listed(store, env_name)

    def noted(store: Any, env_name: str, key_id: str, at: Any = None) -> None:
        revoke(store, env_name, key_id, at)
        revoked.append(key_id)

    with monkeypatch.context() as patch:
        patch.setattr(VaultStore, "list", down_after_the_revocation)
        patch.setattr(VaultStore, "revoke", noted)
        line = one_line_error(sealer(vault_repo, "keys", "compromised", REPO_ENV, outside.key_id), 4)
    assert revoked == [outside.key_id]
    assert f"may hold {outside.key_id} revoked already" in line, line
    assert {r.key_id: r.status for r in store_of(vault_repo).list(REPO_ENV)}[outside.key_id] == "revoked"
