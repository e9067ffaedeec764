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
from support.fake_http import Request
from support.fake_vault import FakeVault
from support.git import commit_all, head
from support.http_stores import AUTH0_VARS, VAULT_VARS
from support.repos import EnvSpec, copy_repo, keypairs, ledger_records, make_repo
from support.sql_stores import AWS_VARS_CLEARED, LOOPBACK, PG_VARS_CLEARED, PgCluster

from sealer import layout
from sealer.backends import check_credentials
from sealer.backends.credentials import secret_shape
from sealer.errors import BadInput, ConfigError

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
    return sealer(repo, "backend", "set", env, kind, *args, "--output", "json")


def configure(repo: Path, kind: str, per_env: dict[str, tuple[dict[str, str], dict[str, str]]]) -> None:
    for env, (options, sources) in per_env.items():
        data = json.loads(ok(backend_set(repo, env, kind, options, sources)).stdout)
        assert data["credentials"] == sources
    commit_all(repo, f"keys in {kind}, per-environment credentials")


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
    configure(repo, "vault", sources)
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


# -- Auth0: two tenants --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def second_tenant() -> Iterator[FakeAuth0]:
    server = FakeAuth0()
    server.start()
    yield server
    server.stop()


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
        server.clear_faults()
        server.clear_log()
        server.before_request = None
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
    configure(repo, "auth0", sources)
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
    assert [(r.role_arn, r.external_id) for r in assumed] == [(role, "sealer-production")]


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
]
ACCEPTED = [
    ("vault", {"address": "https://vault.example:8200", "namespace": "team/payments", "token_env": "VT"}),
    ("auth0", {"domain": "tenant.eu.auth0.com", "token_env": "A0_TOKEN"}),
    ("auth0", {"domain": "tenant.eu.auth0.com", "client_id_env": "A0_ID", "client_secret_env": "A0_SECRET"}),
    ("dynamodb", {"profile": "prod"}),
    ("dynamodb", {"role_arn": "arn:aws:iam::222222222222:role/sealer", "external_id": "ext-1"}),
    ("postgres", {"conninfo_env": "PG_PROD", "passfile_env": "PGPASS_PROD"}),
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
        if secret_shape(value) or value in ("whatever", "abc", "hunter2"):
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


def test_a_literal_secret_in_sealer_yaml_is_refused_by_every_command(repo: Path) -> None:
    production_backend(
        repo,
        "kind: vault\n      credentials:\n        address: https://v.example\n"
        f"        token: {VAULT_TOKEN_SHAPE}",
    )
    for args in (("keys", "list", "production"), ("rotate", "--due", "--no-branch"), ("status", "staging")):
        line = one_line_error(sealer(repo, *args), 2)
        assert line == (
            "sealer: invalid config: environments.production.backend.credentials.token: "
            "credentials never go in sealer.yaml: name the variable holding it (*_env)"
        )


def test_a_token_pasted_into_a_store_option_is_refused(repo: Path) -> None:
    production_backend(repo, f"kind: vault\n      options:\n        path: {JWT_SHAPE}")
    line = one_line_error(sealer(repo, "keys", "list", "production"), 2)
    assert "backend.options.path: looks like a JSON web token" in line and JWT_SHAPE not in line


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
            repo, "backend", "set", "staging", "vault", "--option", f"path=sealer/t-{uuid.uuid4().hex[:8]}"
        )
    )
    assert "credentials" not in (repo / layout.CONFIG_FILE).read_text()
    assert ok(sealer(repo, "backend", "check", "staging")).stdout.startswith("staging: vault ")
