"""Stores whose server answers what no honest one would: an error quoting the credential that
was sent, a body of the wrong shape, a 200 that confirms nothing, a redirect. Each is one
BackendError line (exit 2), never a traceback, a credential in the text, or a write counted as
done. The real client libraries talk to the fake servers of tests/support, which answer so
through `answer_next`."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support import fake_kube
from support.backend_repos import ENV as REPO_ENV
from support.backend_repos import Backend, configure, finish, rotate, store_of
from support.cli import sealer
from support.fake_auth0 import FakeAuth0
from support.fake_http import FakeServer, Request, Response
from support.fake_kube import FakeKube
from support.fake_vault import FakeVault
from support.http_stores import backend_error
from support.records import pending_key
from support.tamper import tamper

from sealer import apikey, kube, kube_objects
from sealer.backends import auth0, dynamodb, vault_auth
from sealer.backends.auth0 import Auth0Store
from sealer.backends.vault import VaultStore
from sealer.errors import BackendError, BadInput, WriteUnconfirmed
from sealer.records import KeyRecord, utcnow

ENV = "dev"


def new_record() -> KeyRecord:
    return pending_key(ENV, "apiKey", utcnow() - dt.timedelta(minutes=5))[1]


# -- Vault ------------------------------------------------------------------------------------


def _quoting_the_token(request: Request) -> Response:
    """An error answer that quotes the X-Vault-Token it was sent (a proxy, a hostile server)."""
    sent = request.headers.get("x-vault-token", "")
    return Response.json(400, {"errors": [f"invalid request: token {sent} is not allowed here"]})


@pytest.mark.parametrize("token", ["batch-token-of-no-known-shape-0123", None], ids=["sent", "vault-shaped"])
def test_vault_error_quoting_the_token_is_withheld(
    vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str | None
) -> None:
    if token:
        monkeypatch.setenv("VAULT_TOKEN", token)
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(_quoting_the_token, match="/data/")
    message = backend_error(lambda: store.list(ENV))
    assert (token or vault_env.token) not in message
    assert "withheld" in message and "secret/sealer/hostile/dev" in message


@pytest.mark.parametrize("env", ["dev", "prod-eu"])
@pytest.mark.parametrize("slash", ["", "\\", "\\\\"], ids=["plain", "markdown", "json"])
def test_vault_error_quoting_a_sealer_key_is_withheld_escaped_or_not(
    vault_env: FakeVault, tmp_path: Path, env: str, slash: str
) -> None:
    """Vault's answer is checked as redaction reads a key: one Markdown wrote (`slr\\_dev\\_…`,
    MarkdownV2's `slr\\_prod\\-eu\\_…`, JSON's doubled backslash) was put in the line whole."""
    key = apikey.generate(env)
    quoted = key.replace("_", slash + "_").replace("-", slash + "-")
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(
        lambda request: Response.json(400, {"errors": [f"bad value {quoted}"]}), match="/data/"
    )
    message = backend_error(lambda: store.list(ENV))
    assert "withheld" in message and key.split("_")[2][:12] not in message


_HTML = Response(200, b"<html><body>Sign in to continue</body></html>", {"Content-Type": "text/html"})


@pytest.mark.parametrize(
    "answer",
    [
        Response.json(200, ["not", "a", "secret"]),
        _HTML,
        Response(204),
        Response.json(200, {"data": {"data": {"records": []}, "metadata": {"version": "7"}}}),
        Response.json(200, {"data": {"data": ["records"], "metadata": {"version": 3}}}),
        Response.json(200, {"data": {"data": {"records": []}, "metadata": []}}),
    ],
    ids=["list", "html-login-page", "204", "version-string", "data-list", "metadata-list"],
)
def test_vault_read_of_the_wrong_shape_is_one_line(
    vault_env: FakeVault, tmp_path: Path, answer: Response
) -> None:
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(answer, match="/data/")
    assert "not a KV v2 secret" in backend_error(lambda: store.list(ENV))


@pytest.mark.parametrize(
    "answer",
    [
        Response.json(200, {"errors": ["permission denied"]}),
        _HTML,
        Response(204),
        Response.json(200, {"data": {"version": 1}}),  # the version it was told to replace: no new one
    ],
    ids=["200-error-body", "html-login-page", "204", "stale-version"],
)
def test_vault_write_not_confirmed_is_not_reported_done(
    vault_env: FakeVault, tmp_path: Path, answer: Response
) -> None:
    """A revocation whose write Vault did not confirm (a new version) is an error, never "revoked"."""
    store = VaultStore({"path": f"sealer/hostile-{id(answer)}"}, tmp_path)
    record = new_record()
    store.register(record)
    store.accept(ENV, record.key_id)
    vault_env.answer_next(answer, match="/data/", method="POST")
    message = backend_error(lambda: store.revoke(ENV, record.key_id))
    assert "not counted as written" in message
    assert [r.status for r in store.list(ENV)] == ["accepted"]


def test_vault_answer_larger_than_the_bound_is_not_read(
    vault_env: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests read all a server sends into memory; a body past the bound is refused unread."""
    monkeypatch.setattr(vault_auth, "MAX_ANSWER_BYTES", 64 << 10)
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    huge = {"data": {"data": {"records": [], "padding": "x" * (80 << 10)}, "metadata": {"version": 1}}}
    vault_env.answer_next(Response.json(200, huge), match="/data/")
    assert "larger than 64 KiB: not read" in backend_error(lambda: store.list(ENV))
    assert store.list(ENV) == []  # an answer within the bound is read as before


@pytest.mark.parametrize(
    "answer",
    [
        Response.json(429, ["not", "health"]),
        Response.json(473, "a string"),
        Response(472, b"<html>standby</html>", {"Content-Type": "text/html"}),
        Response(429, b"[" * 100_000, {"Content-Type": "application/json"}),
    ],
    ids=["standby-list", "standby-string", "standby-html", "standby-nested"],
)
def test_vault_health_answer_of_the_wrong_shape_is_one_line(
    vault_env: FakeVault, tmp_path: Path, answer: Response
) -> None:
    """A standby's health answer is read as JSON: a list there was a traceback (exit 3) of
    `backend check`, an HTML page 'cannot reach'."""
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(answer, match="/sys/health")
    assert "answered its health check (sys/health) with no JSON object" in backend_error(store.health)


@pytest.mark.parametrize(
    "version",
    ["1.15.6\nstaging: vault 1.15.6 at https://vault.internal:8200", "9" * 100_000, {"v": 1}, None],
    ids=["line-break", "huge", "object", "none"],
)
def test_vault_health_shows_a_version_only_shaped_as_one(
    vault_env: FakeVault, tmp_path: Path, version: Any
) -> None:
    """`backend check` prints the version Vault names: the address may be a pull request's, whose
    server could forge a line of the output with a line break in it, or flood it."""
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(Response.json(200, {"version": version, "sealed": False}), match="/sys/health")
    assert store.health() == f"vault ? at {vault_env.url}, KV v2 secret/sealer/hostile/<env>"
    assert store.health().startswith("vault 1.15.6 at ")  # a version shaped as one is shown


_NESTED = Response(200, b"[" * 100_000, {"Content-Type": "application/json"})  # past json's depth


@pytest.mark.parametrize(
    ("match", "method", "call"),
    [
        ("/data/", "GET", "list"),
        ("/sys/health", "GET", "health"),
        ("/auth/token/lookup-self", "GET", "health"),
    ],
    ids=["read", "health", "token-lookup"],
)
def test_vault_answer_nested_past_json_is_one_line(
    vault_env: FakeVault, tmp_path: Path, match: str, method: str, call: str
) -> None:
    """JSON nested past the parser's depth was json's RecursionError: a traceback (exit 3)."""
    store = VaultStore({"path": "sealer/hostile"}, tmp_path)
    vault_env.answer_next(_NESTED, match=match, method=method)
    message = backend_error(lambda: store.list(ENV) if call == "list" else store.health())
    assert f"{vault_env.url} sent an answer nested too deep to read" in message


def test_vault_write_answered_nested_past_json_is_not_counted_done(
    vault_env: FakeVault, tmp_path: Path
) -> None:
    store = VaultStore({"path": "sealer/hostile-nested"}, tmp_path)
    vault_env.answer_next(_NESTED, match="/data/", method="POST")
    with pytest.raises(WriteUnconfirmed, match="nested too deep to read"):
        store.register(new_record())


def test_vault_login_answered_nested_past_json_is_one_line(vault_env: FakeVault) -> None:
    vault_env.answer_next(_NESTED, match="/login", method="POST")
    where = "dev: vault jwt login at auth mount jwt"
    sent = {"role": "ci", "jwt": "id-token"}
    message = backend_error(
        lambda: vault_auth.login(
            "jwt",
            "jwt",
            sent,
            address=vault_env.url,
            namespace=None,
            verify=True,
            where=where,
            secretish=str.isspace,
        )
    )
    assert message.startswith(where) and "nested too deep to read" in message


# -- Auth0 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "answer"),
    [
        ("users", Response.json(200, ["not", "a", "user"])),
        ("users", Response.json(200, "a string")),
        ("users", Response.json(200, {"user_id": "auth0|x", "app_metadata": [["sealer_keys", 1]]})),
        ("clients", Response.json(200, {"client_id": "x", "client_metadata": "sealer_keys_0"})),
    ],
    ids=["user-list", "user-string", "app-metadata-list", "client-metadata-string"],
)
def test_auth0_answer_of_the_wrong_shape_is_one_line(
    auth0_env: FakeAuth0, tmp_path: Path, target: str, answer: Response
) -> None:
    ident = auth0_env.add_user() if target == "users" else auth0_env.add_client()
    option = "user_id" if target == "users" else "client_id"
    store = Auth0Store({option: ident}, tmp_path)
    auth0_env.answer_next(answer, match=f"/api/v2/{target}/", method="GET")
    assert "not Auth0's" in backend_error(lambda: store.list(ENV))


@pytest.mark.parametrize("where", ["/oauth/token", "/api/v2/users/"])
def test_auth0_answer_larger_than_the_bound_is_not_read(
    auth0_env: FakeAuth0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """httpx read all a server sends into memory; a body past the bound is refused unread."""
    monkeypatch.setattr(auth0, "MAX_ANSWER_BYTES", 64 << 10)
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    padding = "x" * (80 << 10)
    huge = {"access_token": padding} if where == "/oauth/token" else {"app_metadata": {"note": padding}}
    auth0_env.answer_next(Response.json(200, huge), match=where)
    assert "larger than 64 KiB: not read" in backend_error(lambda: store.list(ENV))
    assert store.list(ENV) == []  # answers within the bound are read as before


def _gzip_bomb(request: Request) -> Response:
    """64 MiB of JSON whitespace, gzip-compressed twice: some 1 KiB sent, whatever was asked for."""
    assert request.headers.get("accept-encoding") == "identity"
    body = gzip.compress(gzip.compress(b" " * (64 << 20), 9), 9)
    return Response(200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"})


@pytest.mark.parametrize("where", ["/oauth/token", "/api/v2/users/"])
def test_auth0_compressed_answer_is_not_decoded(auth0_env: FakeAuth0, tmp_path: Path, where: str) -> None:
    """httpx decoded each network read whole before the bound saw it: 64 MiB from 1 KiB here,
    gigabytes from a few KiB more. Answers come uncompressed, as asked, or are not read."""
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    auth0_env.answer_next(_gzip_bomb, match=where)
    assert backend_error(lambda: store.list(ENV)).endswith("sent a compressed answer, asked not to: not read")
    assert store.list(ENV) == []  # answers as asked for are read as before


@pytest.mark.parametrize("backend", ["vault", "auth0"])
def test_a_write_answered_past_the_bound_is_not_confirmed(
    vault_env: FakeVault, auth0_env: FakeAuth0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The write arrived (its answer came): a registration so answered was 'nothing changed'
    (exit 2) with its pending record kept in the store."""
    monkeypatch.setattr(vault_auth, "MAX_ANSWER_BYTES", 64 << 10)
    monkeypatch.setattr(auth0, "MAX_ANSWER_BYTES", 64 << 10)
    huge = Response.json(200, {"data": {"version": 2}, "padding": "x" * (80 << 10)})
    server: FakeVault | FakeAuth0 = vault_env if backend == "vault" else auth0_env
    store = (
        VaultStore({"path": "sealer/hostile-big"}, tmp_path)
        if backend == "vault"
        else Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    )
    kept = lambda request: (server.handle(request), huge)[1]  # noqa: E731  # stored, then answered so
    server.answer_next(
        kept,
        match="/data/" if backend == "vault" else "/api/v2/users/",
        method="POST" if backend == "vault" else "PATCH",
    )
    with pytest.raises(WriteUnconfirmed, match="larger than 64 KiB: not read"):
        store.register(new_record())
    assert [r.status for r in store.list(ENV)] == ["pending"]


# -- records no rule reads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "fields"),
    [
        ("vault", {"status": "Revoked"}),
        ("auth0", {"status": "disabled"}),
        ("dynamodb", {"status": "Revoked"}),
        ("dynamodb", {"created": "yesterday"}),
        pytest.param("postgres", {"status": "Revoked"}, marks=pytest.mark.slow),
        pytest.param("postgres", {"created": None}, marks=pytest.mark.slow),
    ],
    indirect=["backend"],
    ids=[
        "vault-status",
        "auth0-status",
        "dynamodb-status",
        "dynamodb-created",
        "postgres-status",
        "postgres-created",
    ],
)
def test_a_record_sealer_cannot_read_is_unreadable_drift_not_clean(
    backend: Backend, backend_repo: Path, request: pytest.FixtureRequest, fields: dict[str, str]
) -> None:
    """A status no rule knows (a hand edit's "Revoked") was taken for a valid key, and drift was
    clean; a DynamoDB item of the wrong shape was a traceback. Both are a store sealer cannot read."""
    configure(backend_repo, backend)
    rotate(backend_repo)
    finish(backend_repo)
    key_id = next(r.key_id for r in store_of(backend_repo).list(REPO_ENV) if r.name == "apiKey")
    if backend.kind == "postgres":
        _drop_constraints(backend.options)  # a DBA's schema change: no rule keeps the rows sealer's
    tamper(request, backend, key_id, **fields)
    result = sealer(backend_repo, "check", REPO_ENV, "--drift", "-o", "json")
    assert result.exit_code == 1, result.stdout
    found = [p["message"] for p in json.loads(result.stdout)["problems"] if p["rule"] == "store-drift"]
    assert len(found) == 1 and found[0].startswith("store-unreadable") and "cannot read" in found[0]
    listed = sealer(backend_repo, "keys", "list", REPO_ENV)
    assert listed.exit_code == 2 and "cannot read" in listed.stderr and "Traceback" not in listed.stderr


@pytest.mark.parametrize(
    ("match", "method", "writes"),
    [("/oauth/token", "POST", False), ("/api/v2/users/", "GET", False), ("/api/v2/users/", "PATCH", True)],
    ids=["token", "read", "write"],
)
def test_auth0_answer_nested_past_json_is_one_line(
    auth0_env: FakeAuth0, tmp_path: Path, match: str, method: str, writes: bool
) -> None:
    """JSON nested past the parser's depth was json's RecursionError: a traceback (exit 3)."""
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    auth0_env.answer_next(_NESTED, match=match, method=method)
    with pytest.raises(WriteUnconfirmed if writes else BackendError, match="nested too deep to read") as err:
        store.register(new_record())
    assert isinstance(err.value, WriteUnconfirmed) is writes


# -- Kubernetes API -----------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["read", "create", "fingerprints"])
def test_kube_redirect_to_another_host_is_not_followed(
    kube_server: FakeKube, kubeconfig: Path, call: str
) -> None:
    """urllib3 followed a 307 from the API server: the token was dropped, but a write's body went
    to the other host and its answer counted (a registry reported written that no cluster holds)."""
    path = "/api/v1/namespaces/payments/secrets/engine-api-key-registry"
    body = {"metadata": {"name": "engine-api-key-registry"}, "data": {"registry.json": "e30="}}
    with FakeKube() as elsewhere:
        kube_server.answer_next(Response(307, b"", {"Location": elsewhere.url + path}), match="/secrets")
        api = kube_objects.client(str(kubeconfig), None)
        actions = {
            "read": lambda: kube_objects.read(api, "Secret", "payments", "engine-api-key-registry"),
            "create": lambda: kube_objects.create(api, "Secret", "payments", body),
            "fingerprints": lambda: kube.read_secret_fingerprints(
                str(kubeconfig), None, "payments", "engine-api-key-registry"
            ),
        }
        message = backend_error(actions[call])
        assert "redirect (307), not followed" in message and kube_server.url in message
        assert elsewhere.log == []


@pytest.mark.parametrize("code", [403, 500])
@pytest.mark.parametrize("call", ["read", "fingerprints"])
def test_a_kube_error_message_is_one_clean_bounded_line(
    kube_server: FakeKube, kubeconfig: Path, call: str, code: int
) -> None:
    """The API server's `message` went into the error as it came: a line break forged a line
    of `sealer backend check`, a U+2028 or bidi override one in a CI log, and it had no bound."""
    forged = "denied\nkubernetes: registry in sync\u2028ok \u202egnp.exe\x1b[2K " + "x" * 5000
    kube_server.answer_next(fake_kube.status(code, forged), match="/secrets")
    api = kube_objects.client(str(kubeconfig), None)
    actions = {
        "read": lambda: kube_objects.read(api, "Secret", "payments", "engine-api-key-registry"),
        "fingerprints": lambda: kube.read_secret_fingerprints(
            str(kubeconfig), None, "payments", "engine-api-key-registry"
        ),
    }
    message = backend_error(actions[call])
    assert "denied kubernetes: registry in sync ok  gnp.exe [2K…" in message and message.isprintable()
    assert len(message) < 500 and "x" not in message.rpartition("[2K")[2]  # bounded between words


# -- DynamoDB ---------------------------------------------------------------------------------


class EndlessPages(FakeServer):
    """A DynamoDB endpoint (an `endpoint_url` a pull request may name) whose Query always has a
    next page: an empty one, each with a new LastEvaluatedKey, as DynamoDB's JSON protocol says."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    def handle(self, request: Request) -> Response:
        action = request.headers.get("x-amz-target", "").rpartition(".")[2]
        table = request.json().get("TableName")
        if action == "DescribeTable":
            described = {"TableName": table, "TableStatus": "ACTIVE", "ItemCount": 0}
            return Response.json(200, {"Table": described}, {"Content-Type": "application/x-amz-json-1.0"})
        if action == "Query":
            self.pages += 1
            page = {"Items": [], "Count": 0, "ScannedCount": 0}
            page["LastEvaluatedKey"] = {"pk": {"S": ENV}, "sk": {"S": f"key#{self.pages:08d}"}}
            return Response.json(200, page, {"Content-Type": "application/x-amz-json-1.0"})
        body = {"__type": "com.amazon.coral.validate#ValidationException", "message": "unsupported"}
        return Response.json(400, body, {"Content-Type": "application/x-amz-json-1.0"})


def test_dynamodb_endless_pagination_is_refused_not_read_for_ever(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamodb, "MAX_PAGES", 12)
    with EndlessPages() as endpoint:
        options = {"table": "sealer-keys", "region": "us-east-1", "endpoint_url": endpoint.url}
        store = dynamodb.DynamoStore(options, tmp_path)
        message = backend_error(lambda: store.list(ENV))
        assert "more than 12 pages" in message and endpoint.pages == 13  # the one past the bound


_AMZ_JSON = {"Content-Type": "application/x-amz-json-1.0"}
_DESCRIBED = {"Table": {"TableName": "sealer-keys", "TableStatus": "ACTIVE", "ItemCount": 0}}


class WrongShapes(FakeServer):
    """A DynamoDB endpoint answering each action as `answers` says (DescribeTable: an active
    table), in shapes DynamoDB's API never gives: botocore's parser trusts the types it is sent."""

    def __init__(self, answers: dict[str, Any]) -> None:
        super().__init__()
        self.answers = {"DescribeTable": _DESCRIBED, **answers}

    def handle(self, request: Request) -> Response:
        action = request.headers.get("x-amz-target", "").rpartition(".")[2]
        answer = self.answers.get(action)
        if isinstance(answer, bytes):
            return Response(200, answer, _AMZ_JSON)
        if answer is not None:
            return Response.json(200, answer, _AMZ_JSON)
        body = {"__type": "com.amazon.coral.validate#ValidationException", "message": "unsupported"}
        return Response.json(400, body, _AMZ_JSON)


@pytest.mark.parametrize(
    ("answers", "call", "said"),
    [
        ({"Query": {"Items": {"pk": 1}}}, "list", "answered in a shape DynamoDB never gives"),
        ({"Query": {"Items": [["pk"]]}}, "list", "answered in a shape DynamoDB never gives"),
        ({"Query": {"Items": [{"pk": {"L": 5}}]}}, "list", "answered in a shape DynamoDB never gives"),
        ({"Query": b"[" * 100_000}, "list", "sent an answer nested too deep to read"),
        ({"DescribeTable": {}}, "health", "answered DescribeTable without the table's status"),
        ({"DescribeTable": {"Table": []}}, "health", "never gives"),
        (
            {"DescribeTable": {"Table": {"TableStatus": "ACTIVE\ndev: dynamodb: table t is ACTIVE"}}},
            "health",
            "answered DescribeTable without the table's status",
        ),
    ],
    ids=["items-map", "item-list", "list-value-number", "nested", "no-table", "table-list", "line-break"],
)
def test_a_dynamodb_answer_of_the_wrong_shape_is_one_line(
    aws_env: dict[str, str], tmp_path: Path, answers: dict[str, Any], call: str, said: str
) -> None:
    """`endpoint_url` may be a pull request's: an answer botocore's parser cannot read was a
    traceback (exit 3), and a table status with a line break forged a line of `backend check`."""
    with WrongShapes(answers) as endpoint:
        options = {"table": "sealer-keys", "region": "us-east-1", "endpoint_url": endpoint.url}
        store = dynamodb.DynamoStore(options, tmp_path)
        message = backend_error(lambda: store.list(ENV) if call == "list" else store.health())
        assert said in message and endpoint.url in message


def test_a_dynamodb_write_answered_in_the_wrong_shape_is_not_counted_done(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    """A write answered 200 reached the table, whatever shape its answer: one not confirmed."""
    for answer, said in [({"Attributes": [1]}, "never gives"), (b"[" * 100_000, "nested too deep")]:
        with WrongShapes({"PutItem": answer, "Query": {"Items": []}}) as endpoint:
            options = {"table": "sealer-keys", "region": "us-east-1", "endpoint_url": endpoint.url}
            store = dynamodb.DynamoStore(options, tmp_path)
            with pytest.raises(WriteUnconfirmed, match=said):
                store.register(new_record())


def _drop_constraints(options: dict[str, str]) -> None:
    import psycopg
    from psycopg import sql

    table = sql.Identifier(options["schema"], options["table"])
    check = sql.Identifier(f"{options['table']}_status_check")
    with psycopg.connect() as conn:  # the libpq environment the fixture set: the DBA's session
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, check))
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN created DROP NOT NULL").format(table))


class _ClearTextAsker:
    """A server on the way speaking PostgreSQL's wire protocol: it declines TLS, then asks for the
    password in clear (AuthenticationCleartextPassword) and keeps whatever the client sends."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        import struct

        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(5)
            while True:
                size = struct.unpack("!I", conn.recv(4))[0]
                body = conn.recv(size - 4)
                if body[:4] != struct.pack("!I", 80877103):  # not an SSLRequest: the startup
                    break
                conn.sendall(b"N")  # no TLS here
            conn.sendall(b"R" + struct.pack("!II", 8, 3))
            try:
                self.received = conn.recv(4096)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.mark.parametrize("way", ["passfile", "PGPASSWORD"])
def test_postgres_never_sends_the_password_in_clear_to_a_server_that_asks(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq's default `sslmode=prefer` lets a server on the way decline TLS and ask for the
    password in clear: sealer refuses (`require_auth`) and the password never leaves."""
    pytest.importorskip("psycopg")
    from support.sql_stores import PG_VARS_CLEARED

    from sealer.backends.postgres import PostgresStore

    secret = "s3cret-pg-password-never-in-clear"
    asker = _ClearTextAsker()
    for var in (*PG_VARS_CLEARED, "PGREQUIREAUTH"):
        monkeypatch.delenv(var, raising=False)
    env = {"PGHOST": "127.0.0.1", "PGPORT": str(asker.port), "PGUSER": "u", "PGDATABASE": "d"}
    if way == "passfile":
        (tmp_path / "pgpass").write_text(f"*:*:*:*:{secret}\n")
        (tmp_path / "pgpass").chmod(0o600)
        env["PGPASSFILE"] = str(tmp_path / "pgpass")
    else:
        env["PGPASSWORD"] = secret
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    try:
        with pytest.raises(BackendError, match="cannot reach the database"):
            PostgresStore({}, tmp_path).list("dev")
    finally:
        asker.close()
    assert secret.encode() not in asker.received


@pytest.mark.parametrize(
    ("conninfo", "variables", "added"),
    [
        ("host=db.example", {}, {"require_auth": "!password,!md5"}),
        ("", {"PGHOST": "127.0.0.1"}, {"require_auth": "!password,!md5"}),
        ("host=db.example sslmode=require", {}, {"require_auth": "!password,!md5"}),  # TLS to whoever answers
        ("sslmode=verify-full", {}, {}),
        ("", {"PGSSLMODE": "verify-full"}, {}),
        ("require_auth=md5", {}, {}),  # the user's own choice
        ("", {"PGREQUIREAUTH": "password"}, {}),
        # a Unix socket: nothing on the way, no TLS to have (a local `md5` line keeps working)
        ("host=/var/run/postgresql", {}, {}),
        ("", {"PGHOST": "/tmp,@pg"}, {}),
        # no host, or an empty one: libpq's socket directory (on POSIX systems, as here)
        ("", {}, {}),
        ("host=/tmp,", {}, {}),
        ("host=,db.example", {}, {"require_auth": "!password,!md5"}),
        ("hostaddr=192.0.2.1", {}, {"require_auth": "!password,!md5"}),
        ("host=/tmp,db.example", {}, {"require_auth": "!password,!md5"}),  # one host over TCP
        ("host=/tmp hostaddr=192.0.2.1", {}, {"require_auth": "!password,!md5"}),  # TCP all the same
        ("host=/tmp service=main", {}, {"require_auth": "!password,!md5"}),  # its file may say more
        ("", {"PGHOST": "/tmp", "PGSERVICE": "main"}, {"require_auth": "!password,!md5"}),
    ],
)
def test_postgres_weak_passwords_are_refused_unless_the_server_is_verified_or_the_user_chose(
    conninfo: str, variables: dict[str, str], added: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    from sealer.backends import postgres

    for var in ("PGSSLMODE", "PGREQUIREAUTH", "PGHOST", "PGHOSTADDR", "PGSERVICE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in variables.items():
        monkeypatch.setenv(var, value)
    assert postgres._password_never_in_clear(conninfo) == added


def test_postgres_with_no_host_reaches_a_local_server_asking_for_the_password(
    pg_local_password_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PGHOST, no host: libpq takes its Unix socket, where pg_hba.conf's `password` line is
    nothing anyone on the way could read; the store works there (a real server)."""
    from support.sql_stores import PG_VARS_CLEARED

    from sealer.backends.postgres import PostgresStore

    for var in (*PG_VARS_CLEARED, "PGREQUIREAUTH"):
        monkeypatch.delenv(var, raising=False)
    for var, value in pg_local_password_cluster.env().items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("PGHOST")
    store = PostgresStore({"table": "keys_no_host"}, tmp_path)
    record = new_record()
    store.register(record)
    assert [r.key_id for r in store.list(ENV)] == [record.key_id]
    assert "at /var/run/postgresql:" in store.health() or "at /tmp:" in store.health()  # the socket


class QuotingErrors(FakeServer):
    """A DynamoDB endpoint whose every error quotes a sealer key (escaped too), as a hostile or
    echoing one may: the message reaches `sealer backend check`'s stdout, which nothing redacts."""

    def __init__(self, quoted: str) -> None:
        super().__init__()
        self.quoted = quoted

    def handle(self, request: Request) -> Response:
        body = {"__type": "com.amazon.coral.validate#ValidationException", "message": f"bad {self.quoted}"}
        return Response.json(400, body, {"Content-Type": "application/x-amz-json-1.0"})


@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "escaped"])
def test_a_dynamodb_error_quoting_a_sealer_key_never_shows_it(
    aws_env: dict[str, str], tmp_path: Path, escaped: bool
) -> None:
    key = apikey.generate(ENV)
    quoted = key.replace("_", "\\_") if escaped else key
    with QuotingErrors(quoted) as endpoint:
        options = {"table": "sealer-keys", "region": "us-east-1", "endpoint_url": endpoint.url}
        store = dynamodb.DynamoStore(options, tmp_path)
        message = backend_error(store.health)
    assert "ValidationException" in message and "slr_dev_[redacted]" in message
    assert key[-20:] not in message


@pytest.mark.parametrize("call", ["health", "register"])
def test_an_aws_session_token_a_header_cannot_carry_is_one_line_naming_no_token(
    aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    """http.client's ValueError quotes the header whole, and botocore's HTTPClientError quoted
    that: the session token was in the line, a write's read as of unknown fate. Nothing is sent."""
    token = "FwoGZXIvYXdzE" + "x" * 40
    monkeypatch.setenv("AWS_SESSION_TOKEN", token + "\n")
    with QuotingErrors("") as endpoint:
        options = {"table": "sealer-keys", "region": "us-east-1", "endpoint_url": endpoint.url}
        store = dynamodb.DynamoStore(options, tmp_path)
        run = store.health if call == "health" else lambda: store.register(pending_key(ENV)[1])
        with pytest.raises(BadInput, match="the credential holds a line break") as err:
            run()
        assert type(err.value) is BadInput and token not in str(err.value) and endpoint.log == []


def test_a_vault_token_a_header_cannot_carry_is_one_line_naming_no_token(
    vault_env: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests refuses the header (InvalidHeader, quoting it): that was 'cannot reach' the
    address, and a write so refused one of unknown fate, though nothing was sent."""
    monkeypatch.setenv("VAULT_TOKEN", vault_env.token + "\nX-Injected: 1")  # a trailing one is stripped
    vault_env.clear_log()
    with pytest.raises(BadInput, match=r"^vault: \S+: the credential holds a line break") as err:
        VaultStore({"path": "sealer/unsendable"}, tmp_path).list(ENV)
    assert vault_env.token not in str(err.value) and vault_env.log == []


@pytest.mark.parametrize(
    "suffix", ["\nX-Injected: 1", "\u2028", "\u00e9"], ids=["line-break", "not-latin-1", "not-ascii"]
)
@pytest.mark.parametrize("call", ["list", "register"])
def test_an_auth0_token_a_header_cannot_carry_is_one_line_naming_no_token(
    auth0_env: FakeAuth0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, call: str
) -> None:
    """httpx refuses the header: a line break was 'cannot reach' the tenant (LocalProtocolError),
    a character past ASCII a traceback (UnicodeEncodeError). Nothing is sent."""
    token = auth0_env.issue_token()
    monkeypatch.setenv("AUTH0_MANAGEMENT_TOKEN", f"{token}{suffix}x")
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    auth0_env.clear_log()
    run = (lambda: store.list(ENV)) if call == "list" else lambda: store.register(pending_key(ENV)[1])
    with pytest.raises(BadInput, match=r"^auth0: \S+: the credential holds a line break") as err:
        run()
    assert type(err.value) is BadInput and token not in str(err.value) and auth0_env.log == []


@pytest.mark.parametrize(
    "token", ["eyJ\u00e9", "eyJ ", "eyJ\t"], ids=["not-ascii", "space-at-end", "tab-at-end"]
)
def test_an_auth0_access_token_a_header_cannot_carry_is_one_line(
    auth0_env: FakeAuth0, tmp_path: Path, token: str
) -> None:
    """The tenant's token endpoint (a pull request may name the domain) issuing one past ASCII
    was a traceback at the first request; one ending in a space or tab, which httpx (h11) sends
    in no header, 'cannot reach' the tenant."""
    store = Auth0Store({"user_id": auth0_env.add_user()}, tmp_path)
    auth0_env.answer_next(Response.json(200, {"access_token": token, "token_type": "Bearer"}), "/oauth/token")
    with pytest.raises(BackendError, match=r"issued an access token a header cannot carry$"):
        store.list(ENV)
    assert auth0_env.requests_to("/api/v2/") == 0


class _Said:
    """A cursor whose server names these as its version, database and user."""

    def __init__(self, *row: object) -> None:
        self.row = row
        self.connection = SimpleNamespace(info=SimpleNamespace(host="db.example", port=5432))

    def execute(self, query: str) -> None:
        pass

    def fetchone(self) -> tuple[object, ...]:
        return self.row


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (
            ("16.2 (Debian 16.2-1.pgdg120+2)", "keys", "sealer"),
            "PostgreSQL 16.2 (Debian 16.2-1.pgdg120+2) at db.example:5432, database keys as sealer",
        ),
        (
            ("16.2\npostgres: PostgreSQL 99", "keys\x1b[2J", "a\rb"),
            "PostgreSQL ? at db.example:5432, database ? as ?",
        ),
        (("9" * 81, "d" * 64, ""), "PostgreSQL ? at db.example:5432, database ? as ?"),
    ],
    ids=["as-sent", "forged", "too-long-or-empty"],
)
def test_postgres_check_shows_what_the_server_names_only_when_so_shaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: tuple[str, ...], shown: str
) -> None:
    """A server (a pull request may name it) writing a line break or an escape sequence into its
    version, database or user name forged a line of `backend check`'s output."""
    from sealer.backends.postgres import PostgresStore

    store = PostgresStore({}, tmp_path)
    monkeypatch.setattr(store, "_run", lambda what, work, write=True: work(_Said(*said)))
    assert store.health().startswith(f"postgres: {shown}, table ")


def test_a_postgres_error_quoting_a_sealer_key_never_shows_it() -> None:
    """A server's error (a value echoed back in a constraint's DETAIL) goes into BackendError
    through `_first_line`: a key it quotes is redacted there."""
    from sealer.backends import postgres

    key = apikey.generate(ENV)
    shown = postgres._first_line(Exception(f"\nnew row violates check: ({key})\nDETAIL: x"))
    assert shown == "new row violates check: (slr_dev_[redacted])"


@pytest.mark.parametrize("call", ["read", "fingerprints", "replace"])
def test_a_kube_answer_nested_past_json_is_one_line(
    kube_server: FakeKube, kubeconfig: Path, call: str
) -> None:
    """JSON nested past the parser's depth was json's RecursionError: a traceback (exit 3)."""
    kube_server.add_secret("payments", "engine-api-key-registry", {"registry.json": b"{}"})
    api = kube_objects.client(str(kubeconfig), None)
    current = kube_objects.read(api, "Secret", "payments", "engine-api-key-registry")
    kube_server.answer_next(_NESTED, match="/secrets", method="PUT" if call == "replace" else "GET")
    actions = {
        "read": lambda: kube_objects.read(api, "Secret", "payments", "engine-api-key-registry"),
        "fingerprints": lambda: kube.read_secret_fingerprints(
            str(kubeconfig), None, "payments", "engine-api-key-registry"
        ),
        "replace": lambda: kube_objects.replace(api, "Secret", "payments", current),
    }
    with pytest.raises(
        BackendError, match=f"{kube_server.url} sent an answer nested too deep to read"
    ) as err:
        actions[call]()
    assert isinstance(err.value, WriteUnconfirmed) is (call == "replace")  # it reached the API server
