"""`sealer status ENV`: the key the cluster serves (the live Secret, read through the fake
Kubernetes API by the official client) against the ledger, fingerprints only."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.backend_repos import (
    ENV,
    NAMES,
    configure,
    current_keys,
    finish,
    leaks,
    ok,
    one_line_error,
    rotate,
)
from support.cli import sealer
from support.fake_kube import FakeKube
from support.fake_vault import FakeVault
from support.repos import run_sealer

from sealer import apikey, config, drift, ledger, registry, yamlio

SECRET = "engine-api-key"  # what `sealer init` names the Secret
REGISTRY = f"registry/{ENV}/{ENV}.yaml"


@pytest.fixture
def rotated_twice(backend_repo: Path, keys: list[Any]) -> tuple[Path, dict[str, str], dict[str, str]]:
    """(repo, the keys of the first rotation, the keys delivered now)."""
    rotate(backend_repo)
    first = current_keys(backend_repo, keys)
    rotate(backend_repo)
    return backend_repo, first, current_keys(backend_repo, keys)


def serve(
    kube: FakeKube, entries: dict[str, str], namespace: str = ENV, registry_of: Path | None = None
) -> None:
    """The Secret the cluster holds; with `registry_of`, also that repo's key registry, as a
    GitOps tool syncs it."""
    kube.add_secret(namespace, SECRET, {name: key.encode() for name, key in entries.items()})
    if registry_of is not None:
        kube.add_object(yamlio.load_documents((registry_of / REGISTRY).read_text(), REGISTRY)[0])


def entry_lines(result: Any) -> list[str]:
    return [line for line in result.stdout.splitlines() if not line.startswith("key registry ")]


def serial(repo: Path) -> int:
    return registry.serial_of(ledger.load(repo, ENV))


def status(repo: Path, kubeconfig: Path, *extra: str) -> Any:
    return sealer(repo, "status", ENV, "--kubeconfig", str(kubeconfig), *extra)


COMMITTED = "committed: deployed when merged and synced"  # the Git ledger's phase until it is served


key_id = apikey.key_id_of  # what status shows of a key


def test_in_sync(rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path) -> None:
    repo, first, now = rotated_twice
    serve(kube_server, now, registry_of=repo)
    result = ok(status(repo, kubeconfig))
    assert result.stdout.splitlines() == [
        *(
            f"{name}: in sync (cluster {key_id(now[name])}, ledger {key_id(now[name])}; deployed)"
            for name in NAMES
        ),
        f"key registry {ENV}: in sync (cluster serial {serial(repo)}, ledger {serial(repo)})",
    ]
    report = json.loads(ok(status(repo, kubeconfig, "-o", "json")).stdout)
    assert report["in_sync"] is True and (report["namespace"], report["secret"]) == (ENV, SECRET)
    assert not leaks(result.stdout + json.dumps(report), [*first.values(), *now.values()])
    assert kube_server.requests_to(f"/api/v1/namespaces/{ENV}/secrets/{SECRET}", "GET") == 2


def test_status_prints_no_line_a_ledger_forged(
    rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """A ledger is anyone's text: a newline in the current key's id stays in its entry's line."""
    repo, _first, now = rotated_twice
    serve(kube_server, now)
    forged = "kid_aaaaaaaaaaaa\napiKey: in sync (forged"
    records = [
        dataclasses.replace(r, key_id=forged) if r.key_id == key_id(now["apiKey"]) else r
        for r in ledger.load(repo, ENV)
    ]
    (repo / "ledger" / f"{ENV}.yaml").write_text(ledger.dump(ENV, records))
    result = status(repo, kubeconfig)
    # Such an id is not its fingerprint's: the ledger is refused in one line, the newline shown.
    assert result.exit_code == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "key id is not its fingerprint's" in result.stderr
    assert "\napiKey: in sync" not in result.stderr


def test_the_old_key_served_is_a_pending_sync(
    rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path
) -> None:
    repo, first, now = rotated_twice
    serve(kube_server, {"apiKey": first["apiKey"], "adminKey": now["adminKey"]})
    result = status(repo, kubeconfig)
    assert result.exit_code == 1 and result.stderr == ""
    assert entry_lines(result) == [
        f"apiKey: cluster serves revoked key (sync pending) (cluster {key_id(first['apiKey'])}, "
        f"ledger {key_id(now['apiKey'])}; {COMMITTED})",
        f"adminKey: in sync (cluster {key_id(now['adminKey'])}, ledger {key_id(now['adminKey'])}; deployed)",
    ]
    report = json.loads(status(repo, kubeconfig, "-o", "json").stdout)
    assert report["in_sync"] is False
    assert not leaks(result.stdout + json.dumps(report), [*first.values(), *now.values()])


def test_a_key_in_grace_served_is_a_pending_sync(
    backend_repo: Path, keys: list[Any], kube_server: FakeKube, kubeconfig: Path
) -> None:
    rotate(backend_repo)
    first = current_keys(backend_repo, keys)
    rotate(backend_repo, "--grace", "7d")
    serve(kube_server, first)
    result = status(backend_repo, kubeconfig)
    assert result.exit_code == 1
    assert all("cluster serves grace key (sync pending)" in line for line in entry_lines(result))


def test_status_shows_the_rotation_phase_of_an_external_store(
    backend_repo: Path, backend: Any, keys: list[Any], kube_server: FakeKube, kubeconfig: Path
) -> None:
    configure(backend_repo, backend)
    rotate(backend_repo)
    serve(kube_server, current_keys(backend_repo, keys))
    phases = [json.loads(status(backend_repo, kubeconfig, "-o", "json").stdout)]
    listed = json.loads(ok(sealer(backend_repo, "keys", "list", ENV, "-o", "json")).stdout)
    finish(backend_repo)
    phases.append(json.loads(status(backend_repo, kubeconfig, "-o", "json").stdout))
    assert [{e["phase"].split(":")[0] for e in report["entries"]} for report in phases] == [
        {"accepted"},
        {"deployed"},
    ]
    assert {row["phase"].split(":")[0] for row in listed} == {"accepted"}


def test_missing_entries_and_unknown_keys(
    rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path
) -> None:
    repo, _, now = rotated_twice
    stranger = apikey.generate(ENV)
    serve(kube_server, {"apiKey": stranger, "other": now["adminKey"]})
    result = status(repo, kubeconfig)
    assert result.exit_code == 1
    assert entry_lines(result) == [
        f"apiKey: cluster serves a key the ledger does not know (cluster -, ledger {key_id(now['apiKey'])}; "
        f"{COMMITTED})",
        f"adminKey: missing in cluster (cluster -, ledger {key_id(now['adminKey'])}; {COMMITTED})",
    ]
    assert stranger not in result.stdout


def test_missing_secret_is_one_clear_line(
    rotated_twice: Any, kubeconfig: Path, kube_server: FakeKube
) -> None:
    repo, _, now = rotated_twice
    serve(kube_server, now, namespace="elsewhere")
    line = one_line_error(status(repo, kubeconfig), 2)
    assert line == f"sealer: secret {ENV}/{SECRET} not found"


@pytest.mark.parametrize(
    ("context", "says", "code"),
    [
        ("viewer", "forbidden while reading secret staging/engine-api-key", 2),
        ("stranger", "rejected the credentials (401)", 2),
        ("nowhere", "has no context 'nowhere' (it has: admin, viewer, stranger)", 2),
    ],
)
def test_contexts_that_cannot_read_the_secret(
    rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path, context: str, says: str, code: int
) -> None:
    repo, _, now = rotated_twice
    serve(kube_server, now)
    line = one_line_error(status(repo, kubeconfig, "--context", context), code)
    assert says in line and kube_server.admin_token not in line and kube_server.viewer_token not in line


def test_kubeconfig_from_the_environment(rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path) -> None:
    """A process of its own: the kubernetes client reads $KUBECONFIG once, when imported."""
    repo, _, now = rotated_twice
    serve(kube_server, now, registry_of=repo)
    done = run_sealer(repo, "status", ENV, env={"KUBECONFIG": str(kubeconfig)})
    assert done.returncode == 0 and done.stdout.count("in sync") == len(NAMES) + 1, done.stderr


def test_unreachable_api_server_and_bad_input(
    rotated_twice: Any, kube_server: FakeKube, kubeconfig: Path, tmp_path: Path
) -> None:
    repo, _, now = rotated_twice
    serve(kube_server, now)
    kube_server.fail_next(503)
    assert "503" in one_line_error(status(repo, kubeconfig), 2)
    assert "does not exist" in one_line_error(status(repo, tmp_path / "no-kubeconfig"), 2)
    assert one_line_error(status(repo, tmp_path), 2) == f"sealer: kubeconfig {tmp_path} is not a file"
    assert "unknown environment 'qa'" in one_line_error(
        sealer(repo, "status", "qa", "--kubeconfig", str(kubeconfig)), 2
    )


def test_status_of_an_environment_with_an_external_store(
    backend_repo: Path, keys: list[Any], vault_store: Any, kube_server: FakeKube, kubeconfig: Path
) -> None:
    """The cluster is compared with the ledger, which the rotation keeps equal to the store."""
    ok(
        sealer(
            backend_repo,
            "backend",
            "set",
            ENV,
            "vault",
            "--option",
            f"path={vault_store.prefix}",
            "--no-branch",
        )
    )
    rotate(backend_repo)
    serve(kube_server, current_keys(backend_repo, keys))
    assert ok(status(backend_repo, kubeconfig)).stdout.count("in sync") == len(NAMES)


def test_status_opens_an_external_store_once_and_fails_closed(
    backend_repo: Path,
    keys: list[Any],
    vault_env: FakeVault,
    kube_server: FakeKube,
    kubeconfig: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One Vault login and one listing per `sealer status`, for the phases and drift alike; a
    store that cannot be read is drift (`store-unreadable`), never clean."""
    namespace, path = f"team-{uuid.uuid4().hex[:8]}", f"sealer/t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("VAULT_ID_TOKEN_STAGING", vault_env.add_jwt_role(namespace, "sealer-staging"))
    source = {
        "address": vault_env.url,
        "namespace": namespace,
        "auth": "jwt",
        "role": "sealer-staging",
        "jwt_env": "VAULT_ID_TOKEN_STAGING",
    }
    credentials = [arg for k, v in sorted(source.items()) for arg in ("--credential", f"{k}={v}")]
    options = ["--option", "mount=secret", "--option", f"path={path}"]
    ok(sealer(backend_repo, "backend", "set", ENV, "vault", *options, *credentials, "--no-branch"))
    rotate(backend_repo)
    serve(kube_server, current_keys(backend_repo, keys))

    def cost(run: Callable[[], object]) -> tuple[int, int]:
        """(logins, requests for the records) that `run` makes."""
        logins = len(vault_env.logins)
        vault_env.clear_log()
        run()
        return len(vault_env.logins) - logins, vault_env.requests_to(f"{path}/{ENV}")

    one_listing = cost(lambda: drift.read_store(config.load(backend_repo), ENV))
    assert one_listing[0] == 1 and one_listing[1] >= 1
    report: dict[str, Any] = {}
    assert cost(
        lambda: report.update(json.loads(ok(status(backend_repo, kubeconfig, "-o", "json")).stdout))
    ) == (one_listing)
    assert {e["phase"].split(":")[0] for e in report["entries"]} == {"accepted"}
    assert report["drift"] == [] and report["in_sync"] is True

    def unreadable() -> dict[str, Any]:
        result = status(backend_repo, kubeconfig, "-o", "json")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        found: dict[str, Any] = json.loads(result.stdout)
        assert found["in_sync"] is False and [d["kind"] for d in found["drift"]] == [drift.UNREADABLE]
        assert {e["phase"].split(" ")[0] for e in found["entries"]} == {"unknown"}
        return found

    vault_env.sealed = True  # every request refused: one login tried, no listing
    try:
        assert cost(unreadable) == (0, 0) and vault_env.requests_to("/login") == 1
    finally:
        vault_env.sealed = False
    monkeypatch.delenv("VAULT_ID_TOKEN_STAGING")  # the credential missing: nothing asked at all
    assert cost(unreadable) == (0, 0) and vault_env.log == []
