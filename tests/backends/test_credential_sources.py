"""#17: per-environment credential sources. Two environments in two stores of the same kind,
each reached with its own credentials (two Vault namespaces, two Auth0 tenants, two AWS
accounts in two regions, two PostgreSQL roles and databases), rotated by ONE `rotate --due`;
a missing credential names the environment and what is missing; a secret in sealer.yaml is
refused. The global variables are cleared (or set wrong) so nothing can borrow them."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from support.backend_repos import ok, one_line_error
from support.cli import sealer
from support.fake_auth0 import FakeAuth0
from support.fake_http import Request, Response, trickling
from support.fake_vault import FakeVault
from support.git import commit_all, git, head
from support.http_stores import AUTH0_VARS, VAULT_VARS
from support.repos import EnvSpec, copy_repo, keypairs, ledger_records, make_repo
from support.sql_stores import AWS_VARS_CLEARED, LOOPBACK, PG_VARS_CLEARED, PgCluster

from sealer import config, layout, yamlio
from sealer.backends import check_credentials, check_ready, open_store
from sealer.backends.credentials import VaultSource, secret_shape
from sealer.errors import BackendError, BadInput, ConfigError, MissingCredential

ENVS = ("staging", "production")
KEYS = ("apiKey", "adminKey")
VAULT_TOKEN_SHAPE = "hvs." + "A1b2C3d4E5f6G7h8I9j0K1l2"
JWT_SHAPE = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"


# -- the repo: staging and production, never rotated ---------------------------------------------


@pytest.fixture(scope="module")
def two_env_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    controllers = keypairs(tmp_path_factory, *ENVS)
    specs = [EnvSpec(env, controllers[env], keys=KEYS) for env in ENVS]
    return make_repo(tmp_path_factory.mktemp("creds-template") / "repo", specs)


@pytest.fixture
def repo(two_env_template: Path, tmp_path: Path) -> Path:
    return copy_repo(two_env_template, tmp_path / "repo")


def backend_set(repo: Path, env: str, kind: str, options: dict[str, str], sources: dict[str, str]) -> Result:
    args = [a for k, v in sorted(options.items()) for a in ("--option", f"{k}={v}")]
    args += [a for k, v in sorted(sources.items()) for a in ("--credential", f"{k}={v}")]
    return sealer(repo, "backend", "set", env, kind, *args, "--no-branch", "--output", "json")


def configure(repo: Path, kind: str, per_env: dict[str, tuple[dict[str, str], dict[str, str]]]) -> None:
    for env, (options, sources) in per_env.items():
        data = json.loads(ok(backend_set(repo, env, kind, options, sources)).stdout)
        assert data["credentials"] == sources  # each `backend set` a commit of its own


def configured_by_hand(
    repo: Path, kind: str, per_env: dict[str, tuple[dict[str, str], dict[str, str]]], wrong: str
) -> str:
    """`configure`, where environment `wrong`'s credentials cannot reach its store: `backend set`
    (which moves the keys, so reaches the store) refuses it, nothing written; so its config is
    written by hand, for the other commands to find it out. Returns the refusal's line."""
    options, sources = per_env[wrong]
    line = one_line_error(backend_set(repo, wrong, kind, options, sources), 2)
    configure(repo, kind, {env: spec for env, spec in per_env.items() if env != wrong})
    with config.edit(repo) as doc:
        doc["environments"][wrong]["backend"] = {"kind": kind, "options": options, "credentials": sources}
    commit_all(repo, f"{wrong}'s {kind} with credentials that cannot reach it")
    return line


def rotate_due(repo: Path) -> dict[str, Any]:
    result = ok(sealer(repo, "rotate", "--due", "--no-branch", "--output", "json"))
    data: dict[str, Any] = json.loads(result.stdout)
    assert sorted(e["env"] for e in data["rotations"]) == sorted(ENVS)
    return data


def ledger_ids(repo: Path, env: str) -> set[str]:
    return {r.key_id for r in ledger_records(repo, env)}


def assert_only_own_records(repo: Path, held: dict[str, list[dict[str, Any]]]) -> None:
    """Each environment's store holds exactly that environment's keys, and no other's."""
    for env in ENVS:
        assert {r["env"] for r in held[env]} == {env}, held[env]
        assert {r["key_id"] for r in held[env]} == ledger_ids(repo, env)
        assert {r["name"] for r in held[env]} == set(KEYS)


@pytest.fixture
def no_global_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*VAULT_VARS, *AUTH0_VARS, *AWS_VARS_CLEARED, *PG_VARS_CLEARED):
        monkeypatch.delenv(var, raising=False)
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(var, raising=False)


# -- Vault: two namespaces ----------------------------------------------------------------------


@dataclass
class VaultNamespaces:
    server: FakeVault
    names: dict[str, str]  # env -> namespace
    seen: list[tuple[str, str, str]]  # (namespace header, token, path) of every request

    def held(self, env: str) -> list[dict[str, Any]]:
        """Every record in env's namespace, whatever path it is under."""
        ns = self.names[env]
        with self.server.lock:
            found = [
                dict(record, env=path.rsplit("/", 1)[-1])
                for (mount, path), secret in self.server.secrets.items()
                if mount == f"{ns}/secret"
                for record in (secret.versions[secret.current].data or {}).get("records", [])
            ]
        return found


@pytest.fixture
def vault_namespaces(
    vault_server: FakeVault, monkeypatch: pytest.MonkeyPatch, no_global_credentials: None
) -> Iterator[VaultNamespaces]:
    """Two namespaces of the session's Vault, each with a token valid in it only, held in
    VAULT_TOKEN_<ENV>; every request's namespace and token recorded."""
    vault_server.clear_faults()
    vault_server.sealed = False
    names = {env: f"team-{env}-{uuid.uuid4().hex[:8]}" for env in ENVS}
    for env, ns in names.items():
        monkeypatch.setenv(f"VAULT_TOKEN_{env.upper()}", vault_server.add_namespace(ns))
    seen: list[tuple[str, str, str]] = []

    def record(request: Request) -> None:
        namespace = request.headers.get("x-vault-namespace", "")
        seen.append((namespace, request.headers.get("x-vault-token", ""), request.path))

    vault_server.before_request = record
    yield VaultNamespaces(vault_server, names, seen)
    vault_server.before_request = None


def vault_sources(ns: VaultNamespaces) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    return {
        env: (
            {"mount": "secret", "path": "sealer/keys"},
            {"address": ns.server.url, "namespace": ns.names[env], "token_env": f"VAULT_TOKEN_{env.upper()}"},
        )
        for env in ENVS
    }


def test_one_due_rotates_two_vault_namespaces_each_with_its_own_token(
    repo: Path, vault_namespaces: VaultNamespaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(repo, "vault", vault_sources(vault_namespaces))
    rotate_due(repo)
    assert_only_own_records(repo, {env: vault_namespaces.held(env) for env in ENVS})
    home = vault_namespaces.server.namespace_tokens  # token -> the namespace it is valid in
    used = {(namespace, home.get(token)) for namespace, token, _ in vault_namespaces.seen}
    # every request went to a namespace with that namespace's own token, and both were used
    assert used == {(vault_namespaces.names[env], vault_namespaces.names[env]) for env in ENVS}


def test_a_vault_token_is_valid_in_its_own_namespace_only(
    repo: Path, vault_namespaces: VaultNamespaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake is honest: production's token in staging's namespace is refused (403)."""
    sources = vault_sources(vault_namespaces)
    sources["staging"][1]["token_env"] = "VAULT_TOKEN_PRODUCTION"
    options, wrong = sources["staging"]
    # `backend set` reaches the store to move the keys into it: refused, nothing written
    line = one_line_error(backend_set(repo, "staging", "vault", options, wrong), 2)
    assert "permission denied" in line and "VAULT_TOKEN_PRODUCTION" in line
    with config.edit(repo) as doc:  # written by hand, for `backend check` to find it out
        doc["environments"]["staging"]["backend"] = {
            "kind": "vault",
            "options": options,
            "credentials": wrong,
        }
    commit_all(repo, "staging's vault with production's token")
    result = sealer(repo, "backend", "check", "staging")
    assert result.exit_code == 1
    assert "refused VAULT_TOKEN_PRODUCTION (403 permission denied)" in result.stdout
    for token in (vault_namespaces.server.token, *vault_namespaces.server.namespace_tokens):
        assert token not in result.stdout + result.stderr


def test_a_missing_credential_names_the_environment_and_changes_nothing(
    repo: Path, vault_namespaces: VaultNamespaces, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(repo, "vault", vault_sources(vault_namespaces))
    before = head(repo)
    vault_namespaces.seen.clear()  # `backend set` read the stores to move the (no) keys
    monkeypatch.delenv("VAULT_TOKEN_PRODUCTION")
    line = one_line_error(sealer(repo, "rotate", "--due", "--no-branch"), 2)
    assert line == "sealer: production: vault token variable VAULT_TOKEN_PRODUCTION is not set"
    assert head(repo) == before and ledger_ids(repo, "staging") == set()
    assert vault_namespaces.held("staging") == []  # staging's store, opened first, saw no key
    assert not [path for _, _, path in vault_namespaces.seen if "/data/" in path]


def test_backend_set_refuses_a_source_whose_variable_is_not_set(
    repo: Path, vault_namespaces: VaultNamespaces
) -> None:
    config_before = (repo / layout.CONFIG_FILE).read_bytes()
    sources = {"address": vault_namespaces.server.url, "token_env": "VAULT_TOKEN_NOWHERE"}
    line = one_line_error(backend_set(repo, "production", "vault", {}, sources), 2)
    assert line == "sealer: production: vault token variable VAULT_TOKEN_NOWHERE is not set"
    assert (repo / layout.CONFIG_FILE).read_bytes() == config_before


@pytest.mark.parametrize(
    "command", [["check", "--drift"], ["keys", "list", "staging"]], ids=["drift", "keys"]
)
def test_a_pull_request_cannot_send_the_runners_global_vault_token_to_its_own_address(
    repo: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """A runner holds VAULT_ADDR and VAULT_TOKEN for the environments without a source; a pull
    request's sealer.yaml names its own Vault and that variable: nothing is sent there."""
    monkeypatch.setenv("VAULT_ADDR", "https://vault.internal:8200")
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN_SHAPE)
    with FakeVault() as theirs:
        asked: list[Request] = []
        theirs.before_request = asked.append
        path = repo / layout.CONFIG_FILE  # written as a pull request's author writes it
        doc = yamlio.round_trip_load(path.read_text(), str(path))
        doc["environments"]["staging"]["backend"] = {
            "kind": "vault",
            "credentials": {"address": theirs.url, "token_env": "VAULT_TOKEN"},
        }
        path.write_text(yamlio.round_trip_dump(doc))
        commit_all(repo, "a pull request's store")
        line = one_line_error(sealer(repo, *command), 2)
    assert "VAULT_TOKEN belongs to" in line and VAULT_TOKEN_SHAPE not in line
    assert asked == []


# -- Vault: logging in through an auth mount (JWT/OIDC ID token, AppRole) ------------------------


@dataclass
class VaultLogins:
    """staging logs in with AppRole in its namespace, production with a CI's ID token (JWT) in
    its own; neither has a Vault token in any variable."""

    ns: VaultNamespaces
    sources: dict[str, tuple[dict[str, str], dict[str, str]]]
    sent: dict[str, str]  # variable -> the credential it holds (never to be seen anywhere)

    def issued(self) -> dict[str, str]:
        """Each token a login issued -> the namespace it was issued in."""
        return {token: namespace for namespace, _, token in self.ns.server.logins}


@pytest.fixture
def vault_logins(vault_namespaces: VaultNamespaces, monkeypatch: pytest.MonkeyPatch) -> VaultLogins:
    server, names = vault_namespaces.server, vault_namespaces.names
    for env in ENVS:
        monkeypatch.delenv(f"VAULT_TOKEN_{env.upper()}")  # a login, not a token, reaches each store
    role_id, secret_id = server.add_approle(names["staging"], "sealer-staging")
    id_token = server.add_jwt_role(names["production"], "sealer-production", mount="ci-jwt")
    sent = {
        "VAULT_ROLE_ID_STAGING": role_id,
        "VAULT_SECRET_ID_STAGING": secret_id,
        "VAULT_ID_TOKEN_PRODUCTION": id_token,
    }
    for name, value in sent.items():
        monkeypatch.setenv(name, value)
    options = {"mount": "secret", "path": "sealer/keys"}
    sources = {
        "staging": (
            options,
            {
                "address": server.url,
                "namespace": names["staging"],
                "auth": "approle",
                "role_id_env": "VAULT_ROLE_ID_STAGING",
                "secret_id_env": "VAULT_SECRET_ID_STAGING",
            },
        ),
        "production": (
            options,
            {
                "address": server.url,
                "namespace": names["production"],
                "auth": "jwt",
                "auth_mount": "ci-jwt",
                "role": "sealer-production",
                "jwt_env": "VAULT_ID_TOKEN_PRODUCTION",
            },
        ),
    }
    return VaultLogins(vault_namespaces, sources, sent)


def everything_sealer_wrote(repo: Path) -> str:
    """The working tree (with .sealer/out) and every commit's patch, as text."""
    found = [git(repo, "log", "-p", "--all", "--format=%H %B")]
    for path in sorted(repo.rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(repo).parts:
            found.append(path.read_text(errors="replace"))
    return "\n".join(found)


def test_one_due_rotates_a_jwt_login_and_an_approle_login_in_two_namespaces(
    repo: Path, vault_logins: VaultLogins
) -> None:
    ns, server = vault_logins.ns, vault_logins.ns.server
    configure(repo, "vault", vault_logins.sources)
    ns.seen.clear()
    logins_before = len(server.logins)
    result = ok(sealer(repo, "rotate", "--due", "--no-branch", "--output", "json"))
    assert sorted(e["env"] for e in json.loads(result.stdout)["rotations"]) == sorted(ENVS)
    assert_only_own_records(repo, {env: ns.held(env) for env in ENVS})
    logins = server.logins[logins_before:]
    assert sorted((namespace, mount) for namespace, mount, _ in logins) == sorted(
        [(ns.names["staging"], "approle"), (ns.names["production"], "ci-jwt")]
    )  # one login per environment, each at its own mount in its own namespace
    issued = vault_logins.issued()
    used = {(namespace, issued.get(token)) for namespace, token, path in ns.seen if "/auth/" not in path}
    assert used == {(ns.names[env], ns.names[env]) for env in ENVS}  # each store, its own login's token
    written = everything_sealer_wrote(repo) + result.stdout + result.stderr
    for secret in (*vault_logins.sent.values(), *issued):
        assert secret not in written


def test_an_issued_token_is_valid_in_its_own_namespace_only(vault_logins: VaultLogins) -> None:
    """The fake is honest: a token a login issued in production's namespace is refused in
    staging's (403), and logins answer in Vault's shapes."""
    import requests

    server, names = vault_logins.ns.server, vault_logins.ns.names
    role_id, secret_id = server.add_approle(names["production"], "other")
    login = requests.post(
        f"{server.url}/v1/auth/approle/login",
        json={"role_id": role_id, "secret_id": secret_id},
        headers={"X-Vault-Namespace": names["production"]},
        timeout=5,
    )
    assert login.status_code == 200
    auth = login.json()["auth"]
    assert auth["policies"] and auth["lease_duration"] > 0 and auth["token_type"] == "service"
    data = f"{server.url}/v1/secret/data/sealer/keys/production"
    for namespace, status in ((names["production"], 404), (names["staging"], 403), ("", 403)):
        headers = {"X-Vault-Token": auth["client_token"], "X-Vault-Namespace": namespace}
        assert requests.get(data, headers=headers, timeout=5).status_code == status
    wrong = requests.post(
        f"{server.url}/v1/auth/approle/login",
        json={"role_id": role_id, "secret_id": str(uuid.uuid4())},
        headers={"X-Vault-Namespace": names["production"]},
        timeout=5,
    )
    assert (wrong.status_code, wrong.json()) == (400, {"errors": ["invalid role or secret ID"]})


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        (
            "VAULT_ID_TOKEN_PRODUCTION",
            JWT_SHAPE,
            "sealer: production: vault jwt login at auth mount ci-jwt refused (400: error validating "
            "token: no known key successfully validated the token signature)",
        ),
        (
            "VAULT_SECRET_ID_STAGING",
            "d6c3c1d0-0000-4000-8000-000000000000",
            "sealer: staging: vault approle login at auth mount approle refused "
            "(400: invalid role or secret ID)",
        ),
        (
            "VAULT_ID_TOKEN_PRODUCTION",
            "",
            "sealer: production: vault jwt variable VAULT_ID_TOKEN_PRODUCTION is not set",
        ),
    ],
)
def test_a_refused_or_missing_login_is_one_line_and_changes_nothing(
    repo: Path,
    vault_logins: VaultLogins,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    why: str,
) -> None:
    ns = vault_logins.ns
    configure(repo, "vault", vault_logins.sources)
    before = head(repo)
    ns.seen.clear()
    monkeypatch.setenv(variable, value)
    result = sealer(repo, "rotate", "--due", "--no-branch")
    assert one_line_error(result, 2) == why
    assert head(repo) == before and ledger_ids(repo, "staging") == ledger_ids(repo, "production") == set()
    assert ns.held("staging") == ns.held("production") == []
    assert not [path for _, _, path in ns.seen if "/data/" in path]  # no store was read or written
    for secret in (value, *vault_logins.sent.values(), *vault_logins.issued()):
        assert not secret or secret not in result.stdout + result.stderr


def test_a_login_whose_answer_trickles_is_cut_off_and_changes_nothing(
    repo: Path, vault_logins: VaultLogins, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login's answer comes a byte at a time, each within the socket timeout: the
    wall-clock bound ends it with one line (exit 2: no store was written)."""
    ns = vault_logins.ns
    configure(repo, "vault", vault_logins.sources)
    before = head(repo)
    with trickling(ns.server, monkeypatch, "/auth/ci-jwt/login", "POST", ns.server.handle):
        result = sealer(repo, "rotate", "--due", "--no-branch")
    assert one_line_error(result, 2) == (
        f"sealer: production: vault jwt login at auth mount ci-jwt: {ns.server.url} did not answer "
        "within 0.5 seconds while logging in"
    )
    assert head(repo) == before and ns.held("staging") == ns.held("production") == []


@pytest.mark.parametrize(
    ("setting", "value", "refusal"),
    [
        ("role", "not-a-role", 'ci-jwt refused (400: role "not-a-role" could not be found)'),
        ("auth_mount", "jwt", "jwt refused (403: permission denied)"),  # no such mount in the namespace
    ],
)
def test_backend_check_reports_a_refused_login(
    repo: Path, vault_logins: VaultLogins, setting: str, value: str, refusal: str
) -> None:
    sources = vault_logins.sources
    sources["production"][1][setting] = value
    line = configured_by_hand(repo, "vault", sources, "production")
    assert line == f"sealer: production: vault jwt login at auth mount {refusal}"
    result = sealer(repo, "backend", "check", "production")
    assert result.exit_code == 1
    assert result.stdout.strip() == line.removeprefix("sealer: ")  # the environment named once
    assert ok(sealer(repo, "backend", "check", "staging")).stdout.startswith("staging: vault ")


class QuotingVault(FakeVault):
    """A Vault whose login refusal quotes, after `reason`, the credential it was sent in the
    login's `field` (none does today; sealer must not care)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__()
        self.field, self.reason = field, reason

    def _login(self, namespace: str, mount: str, request: Request) -> Response:
        return Response.json(400, {"errors": [self.reason + request.json()[self.field]]})


def test_a_refusal_quoting_the_credential_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    with QuotingVault("jwt", "error validating token: malformed ") as server:
        monkeypatch.setenv("VAULT_ID_TOKEN_PROBE", JWT_SHAPE)
        source = VaultSource("production", server.url, auth="jwt", role="ci", jwt_env="VAULT_ID_TOKEN_PROBE")
        with pytest.raises(BackendError) as found:
            source.check()
    assert str(found.value) == (
        "production: vault jwt login at auth mount jwt refused "
        "(400: Vault's answer withheld: it quotes a credential)"
    )


def test_a_refusal_is_one_clean_line_of_what_vault_said(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vault's `errors` went into the line as they came: a line break there forged a line of
    `sealer backend check`, a U+2028 or a bidi override one in a CI log."""
    with QuotingVault("role", "bad role\nproduction: vault login ok\u2028\u202e ") as server:
        monkeypatch.setenv("VAULT_ID_TOKEN_PROBE", JWT_SHAPE)
        source = VaultSource("production", server.url, auth="jwt", role="ci", jwt_env="VAULT_ID_TOKEN_PROBE")
        with pytest.raises(BackendError) as found:
            source.check()
    assert str(found.value).endswith("refused (400: bad role production: vault login ok  ci)")


# -- Auth0: two tenants --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def second_tenant() -> Iterator[FakeAuth0]:
    with FakeAuth0() as server:
        yield server


@dataclass
class Tenants:
    servers: dict[str, FakeAuth0]
    users: dict[str, str]

    def held(self, env: str) -> list[dict[str, Any]]:
        data = self.servers[env].metadata_of("users", self.users[env]).get("sealer_keys") or {}
        return list(data.get("records", []))


@pytest.fixture
def tenants(
    auth0_server: FakeAuth0,
    second_tenant: FakeAuth0,
    monkeypatch: pytest.MonkeyPatch,
    no_global_credentials: None,
) -> Tenants:
    """staging: a machine-to-machine application of the first tenant (client id/secret);
    production: a management token of the second tenant."""
    servers = {"staging": auth0_server, "production": second_tenant}
    for server in servers.values():
        server.fresh()
    client_id, client_secret = auth0_server.add_m2m()
    monkeypatch.setenv("AUTH0_STAGING_CLIENT_ID", client_id)
    monkeypatch.setenv("AUTH0_STAGING_CLIENT_SECRET", client_secret)
    monkeypatch.setenv("AUTH0_PRODUCTION_TOKEN", second_tenant.issue_token())
    return Tenants(servers, {env: server.add_user({"plan": env}) for env, server in servers.items()})


def auth0_sources(tenants: Tenants) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    staging = {
        "domain": tenants.servers["staging"].url,
        "client_id_env": "AUTH0_STAGING_CLIENT_ID",
        "client_secret_env": "AUTH0_STAGING_CLIENT_SECRET",
    }
    production = {"domain": tenants.servers["production"].url, "token_env": "AUTH0_PRODUCTION_TOKEN"}
    return {
        "staging": ({"user_id": tenants.users["staging"]}, staging),
        "production": ({"user_id": tenants.users["production"]}, production),
    }


def test_one_due_rotates_two_auth0_tenants_each_with_its_own_credentials(
    repo: Path, tenants: Tenants
) -> None:
    configure(repo, "auth0", auth0_sources(tenants))
    rotate_due(repo)
    assert_only_own_records(repo, {env: tenants.held(env) for env in ENVS})
    staging, production = tenants.servers["staging"], tenants.servers["production"]
    assert staging.requests_to("/oauth/token", "POST") >= 1  # the client-credentials grant, on its tenant
    assert production.requests_to("/oauth/token") == 0  # production's token was used as is
    assert production.requests_to(f"/api/v2/users/{tenants.users['production']}", "PATCH") >= 1
    assert staging.requests_to(tenants.users["production"]) == 0
    assert production.requests_to(tenants.users["staging"]) == 0


def test_a_tenant_refuses_another_tenants_client_secret(repo: Path, tenants: Tenants) -> None:
    """The fake is honest: staging's application credentials on production's tenant get 401."""
    sources = auth0_sources(tenants)
    sources["staging"][1]["domain"] = tenants.servers["production"].url
    assert "401" in configured_by_hand(repo, "auth0", sources, "staging")
    result = sealer(repo, "backend", "check", "staging")
    assert result.exit_code == 1
    assert "refused the credentials (401); check AUTH0_STAGING_CLIENT_ID / AUTH0_STAGING_CLIENT_SECRET" in (
        result.stdout
    )


# -- DynamoDB: two accounts in two regions, through profiles and an assumed role ----------------

STAGING_ACCOUNT = "123456789012"  # moto's account for credentials it did not issue
PRODUCTION_ACCOUNT = "222222222222"


def _moto_client(endpoint: str, account: str, region: str) -> Any:
    """A client that asks moto for `account` explicitly (its x-moto-account-id header)."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="AKIAMOTOINSPECTOR000", aws_secret_access_key="inspect", region_name=region
    )
    client = session.client("dynamodb", endpoint_url=endpoint)

    def add_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-send.dynamodb.*", add_account)
    return client


@pytest.mark.slow
def test_one_due_rotates_two_aws_accounts_in_two_regions(
    repo: Path,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    no_global_credentials: None,
) -> None:
    from moto.sts.models import sts_backends

    credentials = tmp_path / "aws-credentials"
    credentials.write_text(
        "[staging]\naws_access_key_id = AKIASTAGINGPROFILE00\naws_secret_access_key = "
        f"{secrets.token_hex(20)}\n[ci]\naws_access_key_id = AKIACIPROFILE0000000\n"
        f"aws_secret_access_key = {secrets.token_hex(20)}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    table = f"sealer-keys-{uuid.uuid4().hex[:12]}"  # the same table name in both accounts
    role = f"arn:aws:iam::{PRODUCTION_ACCOUNT}:role/sealer-keys"
    session = f"sealer-prod-{uuid.uuid4().hex[:8]}"
    configure(
        repo,
        "dynamodb",
        {
            "staging": (
                {"table": table, "region": "eu-west-1", "endpoint_url": moto_endpoint},
                {"profile": "staging"},
            ),
            "production": (
                {"table": table, "region": "us-east-1", "endpoint_url": moto_endpoint},
                {
                    "profile": "ci",
                    "role_arn": role,
                    "external_id": "sealer-production",
                    "session_name": session,
                    "sts_endpoint_url": moto_endpoint,
                },
            ),
        },
    )
    rotate_due(repo)

    def held(account: str, region: str) -> list[dict[str, Any]]:
        client = _moto_client(moto_endpoint, account, region)
        if table not in client.list_tables()["TableNames"]:
            return []
        items = client.scan(TableName=table)["Items"]
        return [
            {k: v["S"] for k, v in i.items() if "S" in v} for i in items if i["sk"]["S"].startswith("key#")
        ]

    assert_only_own_records(
        repo,
        {"staging": held(STAGING_ACCOUNT, "eu-west-1"), "production": held(PRODUCTION_ACCOUNT, "us-east-1")},
    )
    assert held(STAGING_ACCOUNT, "us-east-1") == [] and held(PRODUCTION_ACCOUNT, "eu-west-1") == []
    assumed = [r for r in sts_backends[PRODUCTION_ACCOUNT]["aws"].assumed_roles if r.session_name == session]
    # assumed once by `backend set` (it reaches the store to move the keys), once by the rotation
    assert [(r.role_arn, r.external_id) for r in assumed] == [(role, "sealer-production")] * 2


@pytest.mark.slow
def test_an_unknown_aws_profile_names_the_environment(
    repo: Path, tmp_path: Path, no_global_credentials: None
) -> None:
    config_before = (repo / layout.CONFIG_FILE).read_bytes()
    result = backend_set(repo, "production", "dynamodb", {"region": "us-east-1"}, {"profile": "prod-keys"})
    line = one_line_error(result, 2)
    assert line == "sealer: production: AWS profile prod-keys is not in the AWS config or credentials files"
    assert (repo / layout.CONFIG_FILE).read_bytes() == config_before


# -- PostgreSQL: two roles, two databases -----------------------------------------------------------


@dataclass(frozen=True)
class PgTenant:
    role: str
    database: str
    passfile: Path


@pytest.fixture(scope="session")
def pg_tenants(pg_cluster: PgCluster) -> dict[str, PgTenant]:
    """A role and a database per environment in the session cluster; each role may connect to
    its own database only, and each passfile holds its own role's password only."""
    import psycopg
    from psycopg import sql

    from sealer.repofiles import write as write_atomic

    found = {}
    superuser = {"host": str(pg_cluster.socket_dir), "port": pg_cluster.port, "user": "postgres"}
    with psycopg.connect(**superuser, dbname="postgres", autocommit=True) as conn:
        for env in ENVS:
            role, password = f"sealer_{env}_{uuid.uuid4().hex[:6]}", secrets.token_hex(16)
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), password))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(role), sql.Identifier(role))
            )
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(role)))
            passfile = pg_cluster.socket_dir / f"pgpass-{env}"
            write_atomic(passfile, f"{LOOPBACK}:*:{role}:{role}:{password}\n", mode=0o600)
            found[env] = PgTenant(role, role, passfile)
    return found


@pytest.mark.slow
def test_one_due_rotates_two_postgres_databases_each_as_its_own_role(
    repo: Path,
    pg_cluster: PgCluster,
    pg_tenants: dict[str, PgTenant],
    monkeypatch: pytest.MonkeyPatch,
    no_global_credentials: None,
) -> None:
    import psycopg

    monkeypatch.setenv("PGPASSWORD", "not-the-password")  # a configured source never reads it
    monkeypatch.setenv("PGPASSFILE", str(pg_cluster.passfile))  # nor the global passfile
    per_env = {}
    for env, tenant in pg_tenants.items():
        conninfo = f"host={LOOPBACK} port={pg_cluster.port} dbname={tenant.database} user={tenant.role}"
        monkeypatch.setenv(f"PG_{env.upper()}", conninfo)
        monkeypatch.setenv(f"PGPASS_{env.upper()}", str(tenant.passfile))
        per_env[env] = (
            {"connect_timeout": "5"},
            {"conninfo_env": f"PG_{env.upper()}", "passfile_env": f"PGPASS_{env.upper()}"},
        )
    configure(repo, "postgres", per_env)
    rotate_due(repo)

    held, owners = {}, {}
    for env, tenant in pg_tenants.items():
        superuser = {"host": str(pg_cluster.socket_dir), "port": pg_cluster.port, "user": "postgres"}
        with psycopg.connect(**superuser, dbname=tenant.database) as conn:
            rows = conn.execute("SELECT row_to_json(t)::text FROM public.sealer_keys t").fetchall()
            held[env] = [json.loads(row[0]) for row in rows]
            owner = conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'sealer_keys'"
            ).fetchone()
            owners[env] = owner[0] if owner else None
    assert_only_own_records(repo, held)
    assert owners == {env: tenant.role for env, tenant in pg_tenants.items()}  # created as its own role


# -- what sealer.yaml may hold -------------------------------------------------------------------

JWT_LOGIN = {"address": "https://vault.example", "auth": "jwt", "role": "ci", "jwt_env": "VAULT_ID_TOKEN"}
APPROLE_LOGIN = {
    "address": "https://vault.example",
    "auth": "approle",
    "role_id_env": "VAULT_ROLE_ID",
    "secret_id_env": "VAULT_SECRET_ID",
}
REFUSED = [
    (
        "vault",
        {"address": "https://vault.example", "token": "whatever"},
        "credentials never go in sealer.yaml",
    ),
    (
        "vault",
        {"address": "https://vault.example", "token_env": VAULT_TOKEN_SHAPE},
        "looks like a Vault token",
    ),
    ("vault", {"address": "https://u:p@vault.example", "token_env": "T"}, "looks like a URL with a password"),
    ("auth0", {"domain": "t.example", "client_secret": "abc"}, "credentials never go in sealer.yaml"),
    ("auth0", {"domain": "t.example", "token_env": JWT_SHAPE}, "looks like a JSON web token"),
    ("auth0", {"domain": "t.example", "management_token": "x"}, "credentials never go in sealer.yaml"),
    ("dynamodb", {"profile": "p", "aws_secret_access_key": "x"}, "credentials never go in sealer.yaml"),
    ("dynamodb", {"role_arn": "AKIAABCDEFGHIJKLMNOP"}, "looks like an AWS access key id"),
    ("postgres", {"password": "hunter2"}, "credentials never go in sealer.yaml"),
    (
        "postgres",
        {"conninfo_env": "host=db password=hunter2"},
        "looks like a connection string with a password",
    ),
    ("postgres", {"passfile_env": "/etc/pgpass"}, "must name an environment variable"),
    ("vault", {"address": "https://vault.example"}, "needs address+token_env"),
    ("auth0", {"domain": "t.example", "client_id_env": "A"}, "needs domain+token_env or"),
    ("dynamodb", {"external_id": "x", "profile": "p"}, "external_id and session_name need role_arn"),
    ("dynamodb", {"role_arn": "arn:aws:iam::12:role/x"}, "must be an IAM role ARN"),
    ("k8s-secrets", {"profile": "p"}, "k8s-secrets takes no credential source"),
    ("vault", {"address": "https://vault.example", "token_env": "T", "mount": "kv"}, "unknown setting"),
    # logins through an auth mount: a literal credential, an unknown method, a half-configured one
    ("vault", {**JWT_LOGIN, "jwt": JWT_SHAPE}, "credentials never go in sealer.yaml"),
    ("vault", {**JWT_LOGIN, "jwt_env": JWT_SHAPE}, "looks like a JSON web token"),
    ("vault", {**JWT_LOGIN, "role": JWT_SHAPE}, "looks like a JSON web token"),
    ("vault", {**APPROLE_LOGIN, "secret_id": "5e5d-41"}, "credentials never go in sealer.yaml"),
    ("vault", {**APPROLE_LOGIN, "role_id": "7f3a-12"}, "credentials never go in sealer.yaml"),
    ("vault", {**JWT_LOGIN, "auth": "kubernetes"}, "unknown Vault auth method (known: token, jwt, approle)"),
    ("vault", {"address": "https://vault.example", "auth": "jwt", "role": "ci"}, "a vault jwt login needs"),
    (
        "vault",
        {"address": "https://vault.example", "auth": "approle", "role_id_env": "R"},
        "approle login needs",
    ),
    ("vault", {"address": "https://vault.example", "jwt_env": "ID"}, "needs address+token_env"),
    ("vault", {**JWT_LOGIN, "token_env": "T"}, "token_env goes with auth: token, not auth: jwt"),
    ("vault", {**APPROLE_LOGIN, "role": "ci"}, "role goes with auth: jwt, not auth: approle"),
    (
        "vault",
        {"address": "https://v.example", "token_env": "T", "auth_mount": "jwt"},
        "auth_mount goes with",
    ),
    ("vault", {**JWT_LOGIN, "auth_mount": "../sys"}, "must be a Vault auth mount path"),
    # a *_env naming the runner's, sealer's or the process's own variables: sent to the store's host
    ("vault", {"address": "https://vault.example", "token_env": "GITHUB_TOKEN"}, "GITHUB_TOKEN belongs to"),
    ("auth0", {"domain": "t.example", "token_env": "CI_JOB_TOKEN"}, "CI_JOB_TOKEN belongs to"),
    # sealer's own forge tokens (`sealer rotate`'s pull requests), Gitea's and Forgejo's Actions tokens
    ("vault", {"address": "https://vault.example", "token_env": "GITEA_TOKEN"}, "GITEA_TOKEN belongs to"),
    ("auth0", {"domain": "t.example", "token_env": "FORGEJO_TOKEN"}, "FORGEJO_TOKEN belongs to"),
    # the gh CLI's token (workflows set GH_TOKEN: the workflow's token, or a PAT), in any case
    ("vault", {"address": "https://vault.example", "token_env": "GH_TOKEN"}, "GH_TOKEN belongs to"),
    ("auth0", {"domain": "t.example", "token_env": "gh_enterprise_token"}, "gh_enterprise_token belongs"),
    ("auth0", {"domain": "t.example", "token_env": "SEALER_SIGNING_KEY"}, "belongs to the shell, the CI"),
    ("vault", {"address": "https://vault.example", "token_env": "AWS_SECRET_ACCESS_KEY"}, "belongs to"),
    ("postgres", {"conninfo_env": "LD_PRELOAD"}, "LD_PRELOAD belongs to"),
    ("postgres", {"passfile_env": "HOME"}, "HOME belongs to"),
    # the stores' global variables: an environment without a source uses them (a PR's address)
    ("vault", {"address": "https://vault.example", "token_env": "VAULT_TOKEN"}, "VAULT_TOKEN belongs to"),
    ("auth0", {"domain": "t.example", "token_env": "AUTH0_MANAGEMENT_TOKEN"}, "stores' global settings"),
    (
        "auth0",
        {
            "domain": "t.example",
            "client_id_env": "AUTH0_CLIENT_ID",
            "client_secret_env": "AUTH0_CLIENT_SECRET",
        },
        "AUTH0_CLIENT_ID belongs to",
    ),
    ("postgres", {"conninfo_env": "PGPASSWORD"}, "PGPASSWORD belongs to"),
    # a token or client secret sent in clear over the network
    ("vault", {"address": "http://vault.example:8200", "token_env": "VT"}, "must be https (plain http only"),
    ("auth0", {"domain": "http://tenant.example", "token_env": "A0"}, "must be https"),
    # a bare domain is the host the SDK puts after https://: user info or a path there names another
    ("auth0", {"domain": "tenant.eu.auth0.com@evil.example", "token_env": "A0"}, "must be a tenant domain"),
    ("auth0", {"domain": "evil.example/tenant.eu.auth0.com", "token_env": "A0"}, "must be a tenant domain"),
    ("auth0", {"domain": "evil.example#tenant.eu.auth0.com", "token_env": "A0"}, "must be a tenant domain"),
    # httpx connects to a port past 65535 modulo 65536: :99999 is port 34463
    ("auth0", {"domain": "tenant.eu.auth0.com:99999", "token_env": "A0"}, "its port must be 1-65535"),
    ("auth0", {"domain": "tenant.eu.auth0.com:0", "token_env": "A0"}, "its port must be 1-65535"),
    ("auth0", {"domain": "https://tenant.eu.auth0.com:99999", "token_env": "A0"}, "its port must be 1-65535"),
    ("vault", {"address": "https://vault.example:65536", "token_env": "VT"}, "its port must be 1-65535"),
    (
        "dynamodb",
        {"role_arn": "arn:aws:iam::222222222222:role/s", "sts_endpoint_url": "http://sts.x"},
        "https",
    ),
]
ACCEPTED = [
    ("vault", {"address": "https://vault.example:8200", "namespace": "team/payments", "token_env": "VT"}),
    ("vault", {**JWT_LOGIN, "namespace": "team/payments", "auth_mount": "gitlab/jwt"}),
    ("vault", {**APPROLE_LOGIN, "auth_mount": "ci-approle"}),
    ("vault", {"address": "https://vault.example", "auth": "token", "token_env": "VT"}),
    ("auth0", {"domain": "tenant.eu.auth0.com", "token_env": "A0_TOKEN"}),
    ("auth0", {"domain": "tenant.eu.auth0.com", "client_id_env": "A0_ID", "client_secret_env": "A0_SECRET"}),
    ("auth0", {"domain": "login.example.com:8443", "token_env": "A0_TOKEN"}),  # a custom domain, a port
    ("auth0", {"domain": "Tenant.EU.auth0.com:65535", "token_env": "A0_TOKEN"}),
    ("dynamodb", {"profile": "prod"}),
    ("dynamodb", {"role_arn": "arn:aws:iam::222222222222:role/sealer", "external_id": "ext-1"}),
    ("postgres", {"conninfo_env": "PG_PROD", "passfile_env": "PGPASS_PROD"}),
    ("vault", {"address": "https://vault.example", "token_env": "GITEAX_TOKEN"}),  # not Gitea's
    ("vault", {"address": "https://vault.example", "token_env": "GHOST_TOKEN"}),  # not the gh CLI's
    ("vault", {"address": "http://127.0.0.1:8200", "token_env": "VT"}),  # a local agent or proxy
    ("k8s-secrets", {}),
]


@pytest.mark.parametrize(("kind", "settings", "why"), REFUSED)
def test_a_credential_or_an_incomplete_source_is_refused(
    kind: str, settings: dict[str, str], why: str
) -> None:
    with pytest.raises(ConfigError) as found:
        check_credentials(kind, settings, "environments.production.backend.credentials")
    assert why in str(found.value) and "\n" not in str(found.value)
    for value in settings.values():
        if secret_shape(value) or value in ("whatever", "abc", "hunter2", "5e5d-41", "7f3a-12"):
            assert value not in str(found.value)  # never echoed
    with pytest.raises(BadInput):
        check_credentials(kind, settings, "--credential")


@pytest.mark.parametrize(("kind", "settings"), ACCEPTED)
def test_a_source_naming_places_is_accepted(kind: str, settings: dict[str, str]) -> None:
    assert check_credentials(kind, settings, "environments.production.backend.credentials") == settings


def production_backend(repo: Path, backend: str) -> None:
    """Write production's `backend:` by hand, as an attacker's pull request would."""
    path = repo / layout.CONFIG_FILE
    old = "      kind: k8s-secrets\n    # Keys are due for rotation after rotationDays and stop being "
    old += "valid after keyLifetimeDays.\n    rotationDays: 90"
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, f"      {backend}\n    rotationDays: 90"))


@pytest.mark.parametrize(
    ("field", "credentials"),
    [
        ("token", {"token": VAULT_TOKEN_SHAPE}),
        ("jwt", {"auth": "jwt", "role": "ci", "jwt": JWT_SHAPE}),
    ],
    ids=["token", "jwt"],
)
def test_a_literal_credential_in_sealer_yaml_is_refused_by_every_command(
    repo: Path, field: str, credentials: dict[str, str]
) -> None:
    lines = "".join(f"\n        {name}: {value}" for name, value in credentials.items())
    production_backend(repo, "kind: vault\n      credentials:\n        address: https://v.example" + lines)
    for args in (("keys", "list", "production"), ("rotate", "--due", "--no-branch"), ("status", "staging")):
        line = one_line_error(sealer(repo, *args), 2)
        assert line == (
            f"sealer: invalid config: sealer.yaml: environments.production.backend.credentials.{field}: "
            "credentials never go in sealer.yaml: name the variable holding it (*_env)"
        )


def test_a_token_pasted_into_a_store_option_is_refused(repo: Path) -> None:
    production_backend(repo, f"kind: vault\n      options:\n        path: {JWT_SHAPE}")
    line = one_line_error(sealer(repo, "keys", "list", "production"), 2)
    assert "backend.options.path: looks like a JSON web token" in line and JWT_SHAPE not in line


def test_a_pull_requests_plain_http_dynamodb_endpoint_is_refused_before_any_request(
    repo: Path, aws_env: dict[str, str]
) -> None:
    """The runner's AWS-signed requests (and the keys registered) never go in clear text to an
    address a pull request's sealer.yaml names."""
    production_backend(
        repo, "kind: dynamodb\n      options:\n        endpoint_url: http://dynamodb.attacker.invalid:8000"
    )
    commit_all(repo, "a pull request's store")
    for args in (("keys", "list", "production"), ("rotate", "--due", "--no-branch")):
        line = one_line_error(sealer(repo, *args), 2)
        assert line == (
            "sealer: dynamodb: endpoint_url must be https "
            "(plain http only to this machine: 127.0.0.0/8, ::1, localhost)"
        )


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://127.8.9.10:8000", False),
        ("http://[::1]:8000", False),
        ("http://LocalHost:8000", False),
        ("https://dynamodb.eu-west-1.amazonaws.com", False),
        ("http://dynamodb.eu-west-1.amazonaws.com", True),
        ("http://127.0.0.1.nip.io:8000", True),
        ("http://10.0.0.1:8000", True),
        ("http://user@127.0.0.1:8000", True),
        ("ftp://127.0.0.1", True),
        ("http://[::1", True),
    ],
)
def test_a_dynamodb_endpoint_takes_plain_http_only_to_this_machine(url: str, refused: bool) -> None:
    options = {"table": "t", "region": "eu-west-1", "endpoint_url": url}
    if refused:
        with pytest.raises(BadInput, match="^dynamodb: endpoint_url must be"):
            open_store("dynamodb", options, Path("."))
    else:
        assert open_store("dynamodb", options, Path(".")).endpoint_url == url  # type: ignore[attr-defined]


def test_backend_set_refuses_a_token_pasted_into_an_option(repo: Path) -> None:
    """As sealer.yaml's `options:` refuse it: before any store is opened or a file written."""
    config_before = (repo / layout.CONFIG_FILE).read_bytes()
    result = backend_set(
        repo, "production", "vault", {"path": JWT_SHAPE}, {"address": "https://v.example", "token_env": "T"}
    )
    line = one_line_error(result, 2)
    assert line == "sealer: --option path: looks like a JSON web token: credentials never go in sealer.yaml"
    assert (repo / layout.CONFIG_FILE).read_bytes() == config_before


def test_backend_set_refuses_a_literal_credential(repo: Path) -> None:
    config_before = (repo / layout.CONFIG_FILE).read_bytes()
    result = backend_set(repo, "production", "vault", {}, {"address": "https://v.example", "token": "hvs.x"})
    line = one_line_error(result, 2)
    assert "--credential token: credentials never go in sealer.yaml" in line and "hvs.x" not in line
    assert (repo / layout.CONFIG_FILE).read_bytes() == config_before


def test_an_environment_without_a_source_keeps_the_global_variables(
    repo: Path, vault_env: FakeVault, tmp_path: Path
) -> None:
    """Backwards compatible: no `credentials:`, VAULT_ADDR / VAULT_TOKEN as before."""
    ok(
        sealer(
            repo,
            "backend",
            "set",
            "staging",
            "vault",
            "--option",
            f"path=sealer/t-{uuid.uuid4().hex[:8]}",
            "--no-branch",
        )
    )
    assert "credentials" not in (repo / layout.CONFIG_FILE).read_text()
    assert ok(sealer(repo, "backend", "check", "staging")).stdout.startswith("staging: vault ")


def test_status_logs_in_once_however_many_keys_it_phases(repo: Path, vault_logins: VaultLogins) -> None:
    """`sealer status` asks the store each entry's phase: one login per run, not one per key."""
    from sealer import ledger, status

    configure(repo, "vault", vault_logins.sources)
    ok(sealer(repo, "rotate", "--due", "--no-branch"))
    cfg = config.load(repo)
    env = cfg.env("production")
    key_ids = [record.key_id for record in ledger.load(repo, "production")]
    assert len(key_ids) >= 2
    server = vault_logins.ns.server
    before = len(server.logins)
    phase_of = status._Phases()
    phases = [phase_of(cfg, env, key_id, False) for key_id in key_ids * 3]
    assert len(server.logins) - before == 1
    assert not [p for p in phases if p.startswith("unknown") or p == "not in the store"]


def test_a_cacert_that_is_no_regular_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO (or a device) as the CA file would block TLS, or feed it forever: refused at open."""
    import os

    from sealer.backends.credentials import source_for
    from sealer.errors import MissingCredential

    monkeypatch.setenv("VT_STAGING", "t")
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    link = tmp_path / "ca-link.pem"
    link.symlink_to("/dev/zero")
    settings = {"address": "https://vault.example", "token_env": "VT_STAGING"}
    for path in (fifo, link):
        with pytest.raises(MissingCredential, match="is not a regular file") as err:
            source_for("vault", {**settings, "cacert": str(path)}, "staging")
        assert str(err.value).startswith("staging: vault cacert ") and "\n" not in str(err.value)
    ca = tmp_path / "real.pem"
    ca.write_text("-")
    assert source_for("vault", {**settings, "cacert": str(ca)}, "staging") is not None


@pytest.mark.parametrize("auth", ["token", "jwt"])
def test_a_redirect_to_another_address_never_carries_the_token_or_the_login(
    auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests follows a 307 to any host with every header but Authorization (X-Vault-Token
    included) and, for a 307, the body (the ID token): a Vault that redirects is not followed."""
    from sealer.backends.vault_kv import VaultKV

    vault, elsewhere = FakeVault(token=VAULT_TOKEN_SHAPE), FakeVault()
    seen: list[Request] = []
    elsewhere.before_request = seen.append
    with vault, elsewhere:
        monkeypatch.setenv("VAULT_SECRET_PROBE", VAULT_TOKEN_SHAPE if auth == "token" else JWT_SHAPE)
        if auth == "token":
            source = VaultSource("production", vault.url, token_env="VAULT_SECRET_PROBE")
            path = "/v1/secret/data/x"
        else:
            source = VaultSource("production", vault.url, auth="jwt", role="ci", jwt_env="VAULT_SECRET_PROBE")
            path = "/v1/auth/jwt/login"
        vault.fail_next(307, headers={"Location": elsewhere.url + path})
        with pytest.raises(BackendError) as found:
            VaultKV.from_source("secret", source).read("x")
    assert seen == []
    assert "redirect" in str(found.value)
    assert VAULT_TOKEN_SHAPE not in str(found.value) and JWT_SHAPE not in str(found.value)


def test_a_refusal_quoting_the_credential_past_the_cut_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs on all Vault said: cut first, a quoted secret id's start stayed in the line."""
    secret_id = str(uuid.uuid4())
    with QuotingVault("secret_id", f"invalid role ({'.' * 170}): ") as server:  # past the 200 kept
        monkeypatch.setenv("VAULT_ROLE_ID_PROBE", str(uuid.uuid4()))
        monkeypatch.setenv("VAULT_SECRET_ID_PROBE", secret_id)
        source = VaultSource(
            "production",
            server.url,
            auth="approle",
            role_id_env="VAULT_ROLE_ID_PROBE",
            secret_id_env="VAULT_SECRET_ID_PROBE",
        )
        with pytest.raises(BackendError) as found:
            source.check()
    assert secret_id[:8] not in str(found.value)
    assert "Vault's answer withheld" in str(found.value)


def test_a_login_never_carries_the_runners_own_vault_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """hvac takes VAULT_TOKEN (or ~/.vault-token) for a client given none: the login request
    would carry another environment's token to this environment's address."""
    server = FakeVault()
    seen: list[Request] = []
    server.before_request = seen.append
    with server:
        id_token = server.add_jwt_role("", "ci")
        monkeypatch.setenv("VAULT_ID_TOKEN_PROBE", id_token)
        monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN_SHAPE)
        monkeypatch.setenv("HOME", str(tmp_path))
        (tmp_path / ".vault-token").write_text(VAULT_TOKEN_SHAPE + "x\n")
        VaultSource("production", server.url, auth="jwt", role="ci", jwt_env="VAULT_ID_TOKEN_PROBE").check()
        monkeypatch.delenv("VAULT_TOKEN")
        VaultSource("production", server.url, auth="jwt", role="ci", jwt_env="VAULT_ID_TOKEN_PROBE").check()
    logins = [r for r in seen if r.path.endswith("/login")]
    assert len(logins) == 2 and all("x-vault-token" not in r.headers for r in logins)


def test_a_dynamodb_store_with_no_region_is_a_missing_credential_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rotate --finish` checks this up front (exit 2, nothing changed), never as a store
    failure met halfway (exit 4); the store's option, AWS_DEFAULT_REGION or the profile's region do."""
    for var in (*AWS_VARS_CLEARED, "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    config_file = tmp_path / "aws-config"
    config_file.write_text("[profile eu]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    no_region = r"^staging: dynamodb: no AWS region: set the store's `region`"
    with pytest.raises(MissingCredential, match=no_region):
        check_ready("dynamodb", {"table": "keys"}, {}, "staging")
    check_ready("dynamodb", {"region": "eu-west-1"}, {}, "staging")
    check_ready("dynamodb", {}, {"profile": "eu"}, "staging")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    check_ready("dynamodb", {}, {}, "staging")


def test_a_dynamodb_store_opened_with_no_region_says_where_to_set_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`backend set ENV dynamodb` with no region anywhere: the line says where one goes, as
    check_ready's does, not botocore's "You must specify a region."."""
    for var in (*AWS_VARS_CLEARED, "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store("dynamodb", {"table": "keys"}, tmp_path, {}, "staging")
    with pytest.raises(BackendError) as found:
        store.list("staging")
    assert str(found.value) == (
        "dynamodb: no AWS region: set the store's `region` option, AWS_DEFAULT_REGION or the profile's"
    )


@pytest.mark.parametrize(
    ("variables", "config_text", "missing"),
    [
        ({}, "", True),
        ({"AWS_ACCESS_KEY_ID": "AKIATESTSEALER000000", "AWS_SECRET_ACCESS_KEY": "x" * 40}, "", False),
        ({}, "[default]\naws_access_key_id = AKIATESTSEALER000000\naws_secret_access_key = xx\n", False),
        ({}, "[default]\ncredential_process = /bin/false\n", False),  # only running it tells
        ({"AWS_EC2_METADATA_DISABLED": "false"}, "", False),  # only asking EC2's endpoint tells
        ({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials"}, "", False),
    ],
    ids=["none", "variables", "config-file", "credential-process", "ec2-metadata", "container"],
)
def test_a_dynamodb_store_with_no_aws_credentials_is_a_missing_credential_when_known_without_a_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    config_text: str,
    missing: bool,
) -> None:
    """`rotate --finish` with no AWS credentials at all was exit 4 ("run it again") at the first
    request: what the chain reads on this machine is checked up front (exit 2); where only a
    request or a command could tell, the store's first request does."""
    for var in (*AWS_VARS_CLEARED, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(var, raising=False)
    config_file = tmp_path / "aws-config"
    config_file.write_text(config_text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for var, value in variables.items():
        monkeypatch.setenv(var, value)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert (
        "So are no AWS credentials at all for a DynamoDB store, when that is known without a request"
        in " ".join(readme.split())
    )
    if missing:
        with pytest.raises(MissingCredential, match=r"^staging: dynamodb: no AWS credentials: set "):
            check_ready("dynamodb", {"region": "eu-west-1"}, {}, "staging")
    else:
        check_ready("dynamodb", {"region": "eu-west-1"}, {}, "staging")


@pytest.mark.parametrize(
    ("config_text", "profile", "says"),
    [
        (
            "[profile eu\nregion = eu-west-1\n",
            None,
            r"^staging: dynamodb: the AWS configuration: Unable to parse",
        ),
        ("[default]\nregion = eu-west-1\n", "gone", r"^staging: AWS profile gone is not in the AWS config"),
    ],
    ids=["unparsable-config", "AWS_PROFILE-names-no-profile"],
)
def test_an_aws_configuration_boto3_refuses_is_one_missing_credential_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_text: str, profile: str | None, says: str
) -> None:
    """The up-front region check reads the AWS config file: one it cannot parse (or an
    AWS_PROFILE naming no profile) is exit 2 in one line naming it, never botocore's traceback
    (exit 3) nor "AWS profile None"."""
    for var in (*AWS_VARS_CLEARED, "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    config_file = tmp_path / "aws-config"
    config_file.write_text(config_text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    with pytest.raises(MissingCredential, match=says):
        check_ready("dynamodb", {"table": "keys"}, {}, "staging")


@pytest.mark.parametrize("env", ["dev", "prod-eu"])
def test_a_sealer_key_escaped_as_markdown_writes_it_is_a_credential_shape(env: str) -> None:
    """`secret_shape` reads a key as redaction does: an escaped one in a setting is refused and
    one quoted by a store's answer withheld (`slr\\_prod\\-eu\\_…`, JSON's doubled backslash)."""
    from sealer import apikey

    key = apikey.generate(env)
    for slash in ("\\", "\\\\"):
        written = key.replace("_", slash + "_").replace("-", slash + "-")
        assert secret_shape(f"https://vault/{written}") == "a sealer API key"
        with pytest.raises(ConfigError, match="looks like a sealer API key"):
            check_credentials("vault", {"address": written}, "environments.production.backend.credentials")
