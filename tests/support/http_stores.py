"""Fixtures for the stores reached over HTTP (Vault, Auth0) and for the Kubernetes API.

A plugin of the root conftest. Each fake server runs once per session on 127.0.0.1 and is
reached by the real client library (hvac, auth0-python, kubernetes) through the ecosystem's
usual settings (VAULT_ADDR/VAULT_TOKEN, AUTH0_DOMAIN/AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET, a
kubeconfig file). Store fixtures follow support.sql_stores: `X_store`, `X_store_raw` (all
the backend holds, as text) and `X_outage` (the store behind a ToggleProxy).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sealer.errors import BackendError
from support.fake_auth0 import FakeAuth0
from support.fake_kube import FakeKube
from support.fake_vault import FakeVault
from support.sql_stores import Outage, ToggleProxy

__all__ = [
    "HTTP_OUTAGES",
    "Waits",
    "backend_error",
    "auth0_env",
    "auth0_outage",
    "auth0_server",
    "auth0_store",
    "auth0_store_raw",
    "k8s_direct_store",
    "k8s_direct_store_raw",
    "kube_server",
    "kubeconfig",
    "vault_env",
    "vault_outage",
    "vault_server",
    "vault_store",
    "vault_store_raw",
]

HTTP_OUTAGES = ["vault_outage", "auth0_outage"]
AUTH0_VARS = (
    "AUTH0_DOMAIN",
    "AUTH0_CLIENT_ID",
    "AUTH0_CLIENT_SECRET",
    "AUTH0_MANAGEMENT_TOKEN",
    "AUTH0_AUDIENCE",
)
VAULT_VARS = ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT")


class Waits(list[float]):
    """An injectable `wait`: records what a store was asked to wait, never sleeps."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- Vault ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vault_server() -> Iterator[FakeVault]:
    with FakeVault() as server:
        yield server


@pytest.fixture
def vault_env(vault_server: FakeVault, monkeypatch: pytest.MonkeyPatch) -> FakeVault:
    """VAULT_ADDR / VAULT_TOKEN pointed at the session's Vault, healthy and fault-free."""
    vault_server.fresh()
    vault_server.sealed = False
    for var in VAULT_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VAULT_ADDR", vault_server.url)
    monkeypatch.setenv("VAULT_TOKEN", vault_server.token)
    return vault_server


@pytest.fixture
def vault_store(vault_env: FakeVault, tmp_path: Path) -> Any:
    """A store under its own fresh path prefix."""
    from sealer.backends.vault import VaultStore

    return VaultStore({"mount": "secret", "path": f"sealer/t-{uuid.uuid4().hex[:12]}"}, tmp_path)


@pytest.fixture
def vault_store_raw(vault_store: Any, vault_env: FakeVault) -> Callable[[], str]:
    def dump() -> str:
        with vault_env.lock:
            found = [
                json.dumps(version.data, sort_keys=True)
                for (mount, path), secret in sorted(vault_env.secrets.items())
                if mount == vault_store.mount and path.startswith(vault_store.prefix + "/")
                for version in secret.versions.values()
            ]
        return "\n".join(found)

    return dump


@pytest.fixture
def vault_outage(vault_env: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Outage]:
    from sealer.backends.vault import VaultStore

    with ToggleProxy(vault_env.port) as proxy:
        monkeypatch.setenv("VAULT_ADDR", f"http://127.0.0.1:{proxy.port}")
        yield Outage(VaultStore({"path": f"sealer/t-{uuid.uuid4().hex[:12]}"}, tmp_path), proxy)


# -- Auth0 ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def auth0_server() -> Iterator[FakeAuth0]:
    with FakeAuth0() as server:
        yield server


@pytest.fixture
def auth0_env(auth0_server: FakeAuth0, monkeypatch: pytest.MonkeyPatch) -> FakeAuth0:
    """AUTH0_DOMAIN and a machine-to-machine application's credentials for the session tenant."""
    auth0_server.fresh()
    auth0_server.retry_after = "1"
    client_id, client_secret = auth0_server.add_m2m()
    for var in AUTH0_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AUTH0_DOMAIN", auth0_server.url)
    monkeypatch.setenv("AUTH0_CLIENT_ID", client_id)
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", client_secret)
    return auth0_server


@pytest.fixture
def auth0_store(auth0_env: FakeAuth0, tmp_path: Path) -> Any:
    """A store on a fresh user's app_metadata; 429 waits are recorded in `store.wait`, not slept."""
    from sealer.backends.auth0 import Auth0Store

    return Auth0Store({"user_id": auth0_env.add_user({"plan": "team"})}, tmp_path, wait=Waits())


@pytest.fixture
def auth0_store_raw(auth0_store: Any, auth0_env: FakeAuth0) -> Callable[[], str]:
    def dump() -> str:
        return json.dumps(auth0_env.metadata_of("users", auth0_store.options["user_id"]), sort_keys=True)

    return dump


@pytest.fixture
def auth0_outage(auth0_env: FakeAuth0, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Outage]:
    from sealer.backends.auth0 import Auth0Store

    with ToggleProxy(auth0_env.port) as proxy:
        monkeypatch.setenv("AUTH0_DOMAIN", f"http://127.0.0.1:{proxy.port}")
        yield Outage(Auth0Store({"user_id": auth0_env.add_user()}, tmp_path, wait=Waits()), proxy)


# -- Kubernetes API ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube_server() -> Iterator[FakeKube]:
    with FakeKube() as server:
        yield server


@pytest.fixture
def kubeconfig(kube_server: FakeKube, tmp_path: Path) -> Path:
    """A kubeconfig for the session's API server (contexts admin, viewer, stranger), which
    starts every test with no objects, no faults and an empty request log."""
    kube_server.reset()
    return kube_server.kubeconfig(tmp_path)


# -- the k8s-secrets store delivering its key registry through the API (#16) --------------------


@pytest.fixture
def k8s_direct_store(kubeconfig: Path, tmp_path: Path) -> Any:
    """The ledger in a fresh folder; every activation and revocation writes the registry Secret."""
    from sealer.backends.k8s_secrets import K8sSecretsStore

    repo = tmp_path / "direct-repo"
    repo.mkdir()
    options = {
        "delivery": "direct",
        "registry_namespace": "payments",
        "registry_name": "engine-api-key-registry",
        "registry_env": "dev",  # its registry is dev's; the other environments' records only in the ledger
        "kubeconfig": str(kubeconfig),
    }
    return K8sSecretsStore(options, repo)


@pytest.fixture
def k8s_direct_store_raw(k8s_direct_store: Any, kube_server: FakeKube) -> Callable[[], str]:
    def dump() -> str:
        files = [p.read_text() for p in sorted(k8s_direct_store.repo.rglob("*")) if p.is_file()]
        with kube_server.lock:
            objects = [json.dumps(o, sort_keys=True) for o in kube_server.secrets.values()]
        decoded = [
            base64.b64decode(o["data"]["registry.json"]).decode()
            for o in kube_server.secrets.values()
            if "registry.json" in o.get("data", {})
        ]
        return "\n".join(files + objects + decoded)

    return dump


def backend_error(call: Any) -> str:
    """The one-line BackendError a store call raises."""
    with pytest.raises(BackendError) as err:
        call()
    message = str(err.value)
    assert message and "\n" not in message
    return message
