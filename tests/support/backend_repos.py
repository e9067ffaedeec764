"""A sealer-managed repo whose `staging` keys live in an external key store, driven through the
CLI: the store fixtures of support.sql_stores / support.http_stores, configured with
`sealer backend set`, credentials in the environment as the fixtures set them.

Fixtures (a plugin of the root conftest):
- `backend`: each external store in turn (postgres and dynamodb marked slow), with its
  `*_store_raw` dump; `outage_backend`: the same stores behind a ToggleProxy (`down()`/`up()`).
- `backend_repo`: a private copy of a repo with staging pinned (keys apiKey and adminKey),
  not yet rotated, not yet pointed at any store.
- `keys`: the private key of the staging controller, to open what the repo seals.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from sealer import apikey, config
from sealer.backends import KeyStore, open_store
from sealer.records import ACTIVE, PENDING, KeyRecord
from support.cli import sealer
from support.git import git
from support.repos import (
    EnvSpec,
    copy_repo,
    keypairs,
    ledger_records,
    make_repo,
    private_keys,
    unseal_values,
)
from support.sql_stores import Outage

ENV = "staging"
NAMES = ("apiKey", "adminKey")
FIXTURE = {"postgres": "postgres", "dynamodb": "dynamo", "vault": "vault", "auth0": "auth0"}
KINDS = [
    pytest.param("postgres", marks=pytest.mark.slow),
    pytest.param("dynamodb", marks=pytest.mark.slow),
    "vault",
    "auth0",
]
# What the fixtures put in the environment that a message, record or log must never show.
CREDENTIAL_VARS = ("VAULT_TOKEN", "AUTH0_CLIENT_SECRET", "AWS_SECRET_ACCESS_KEY", "PGPASSWORD")


@dataclass
class Backend:
    kind: str
    options: dict[str, str]  # what `sealer backend set` records
    raw: Callable[[], str] | None = None  # everything the store holds, as text
    outage: Outage | None = None

    def option_args(self) -> list[str]:
        return [
            arg for name, value in sorted(self.options.items()) for arg in ("--option", f"{name}={value}")
        ]


def options_of(kind: str, store: Any) -> dict[str, str]:
    """The non-secret settings that point a store from sealer.yaml where the fixture's store is."""
    if kind == "postgres":
        return {"schema": store.schema, "table": store.table, "connect_timeout": str(store.connect_timeout)}
    if kind == "dynamodb":
        return {
            "table": store.table,
            "region": store.region,
            "endpoint_url": store.endpoint_url,
            "max_attempts": str(store.max_attempts),
        }
    if kind == "vault":
        return {"mount": store.mount, "path": store.prefix}
    if kind == "auth0":
        return dict(store.options)
    raise ValueError(kind)


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    kind = request.param
    store = request.getfixturevalue(f"{FIXTURE[kind]}_store")
    raw = request.getfixturevalue(f"{FIXTURE[kind]}_store_raw")
    return Backend(kind, options_of(kind, store), raw=raw)


@pytest.fixture(params=KINDS)
def outage_backend(request: pytest.FixtureRequest) -> Backend:
    kind = request.param
    outage: Outage = request.getfixturevalue(f"{FIXTURE[kind]}_outage")
    return Backend(kind, options_of(kind, outage.store), outage=outage)


# -- the repo ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keypairs(tmp_path_factory, "staging")["staging"]


@pytest.fixture(scope="session")
def keys(controller: Path) -> list[Any]:
    return private_keys(controller)


@pytest.fixture(scope="session")
def backend_template(tmp_path_factory: pytest.TempPathFactory, controller: Path) -> Path:
    return make_repo(
        tmp_path_factory.mktemp("backend-template") / "repo", [EnvSpec(ENV, controller, keys=NAMES)]
    )


@pytest.fixture
def backend_repo(backend_template: Path, tmp_path: Path) -> Path:
    return copy_repo(backend_template, tmp_path / "repo")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def one_line_error(result: Result, code: int) -> str:
    """A refused command: `code`, one `sealer: …` line on stderr, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sealer: "), result.stderr
    return lines[0]


def configure(repo: Path, backend: Backend) -> None:
    """`sealer backend set staging KIND --option …`, which commits on the current branch."""
    ok(sealer(repo, "backend", "set", ENV, backend.kind, *backend.option_args(), "--no-branch"))


def rotate(repo: Path, *args: str) -> dict[str, Any]:
    result = ok(sealer(repo, "rotate", ENV, "--no-branch", "--output", "json", *args))
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def finish(repo: Path) -> dict[str, Any]:
    """`sealer rotate --finish` (the deployed phase, as the main-branch pipeline runs it)."""
    result = ok(sealer(repo, "rotate", "--finish", "--output", "json"))
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def current_keys(repo: Path, keys: list[Any]) -> dict[str, str]:
    """entry -> the plaintext key the repo delivers now (opened with the controller's key)."""
    return unseal_values(repo, ENV, keys)


def verify(repo: Path, key: str) -> tuple[int, str]:
    """`sealer keys verify staging` with `key` on stdin: (exit code, what it printed)."""
    result = sealer(repo, "keys", "verify", ENV, stdin=key + "\n")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout.strip()


def store_of(repo: Path) -> KeyStore:
    """The store sealer.yaml names for staging (one per repo and setting: a client is costly)."""
    env = config.load(repo).env(ENV)
    return _store(repo, env.backend_kind, json.dumps(env.backend_options, sort_keys=True))


@functools.lru_cache(maxsize=8)
def _store(repo: Path, kind: str, options: str) -> KeyStore:
    return open_store(kind, json.loads(options), repo)


def statuses(records: list[KeyRecord]) -> dict[str, str]:
    return {r.key_id: r.status for r in records}


def assert_one_active_per_name(records: list[KeyRecord]) -> dict[str, KeyRecord]:
    found: dict[str, KeyRecord] = {}
    for record in records:
        if record.status == ACTIVE:
            assert record.name not in found, f"two active {record.name} keys: {statuses(records)}"
            found[record.name] = record
    assert set(found) == set(NAMES), statuses(records)
    return found


def assert_ledger_agrees(repo: Path, store_records: list[KeyRecord]) -> None:
    """The committed ledger and the store name the same keys with the same metadata and status
    (a store may also hold revoked keys of rotations before it was configured)."""
    committed = git(repo, "show", f"HEAD:ledger/{ENV}.yaml")
    assert committed == (repo / "ledger" / f"{ENV}.yaml").read_text()
    in_store = {r.key_id: r for r in store_records}
    for record in ledger_records(repo, ENV):
        if record.key_id not in in_store:
            continue
        other = in_store[record.key_id]
        mine = (record.name, record.fingerprint, record.created, record.expires)
        assert mine == (other.name, other.fingerprint, other.created, other.expires)
        # The commit records the state after deployment; before `--finish` the store accepts the key.
        assert record.status == other.status or (record.status, other.status) in (
            ("active", "accepted"),
            ("revoked", "active"),
            ("grace", "active"),
        )
        if other.status == "grace":  # the store's window counts from the deployment, after the commit
            assert other.revoke_at and record.revoke_at and other.revoke_at >= record.revoke_at
    ledger_ids = {r.key_id for r in ledger_records(repo, ENV)}
    assert {r.key_id for r in store_records if r.status != "revoked"} <= ledger_ids


def no_pending(records: list[KeyRecord]) -> None:
    assert [r.key_id for r in records if r.status == PENDING] == [], statuses(records)


def secrets_in_env() -> list[str]:
    return [os.environ[var] for var in CREDENTIAL_VARS if os.environ.get(var)]


def leaks(text: str, secrets: set[str] | list[str]) -> list[str]:
    """Which of `secrets` (keys, credentials) or anything shaped like a key `text` shows."""
    found = [s for s in secrets if s and s in text]
    found += [match.group(0) for match in re.finditer(apikey.KEY_PATTERN, text)]
    return found
