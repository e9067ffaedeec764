"""Pull requests that change which keys a cluster accepts while `sealer review` once passed them
with no finding: files a GitOps tool applies that review did not read as that tool reads them
(another key registry, a foreign file in sealed/), and a grace window with no end."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.cli import sealer as cli
from support.git import commit_all, git
from support.isolation import isolated
from support.repos import copy_repo, keypairs, ledger_records, pinned_repo

from sealer import ledger, yamlio
from sealer.records import GRACE, REVOKED

REGISTRY = "registry/staging/staging.yaml"
REGISTRY_NAME = "engine-api-key-registry"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: staging and production rotated once each."""
    controllers = keypairs(tmp_path_factory, "staging", "production")
    with isolated(tmp_path_factory.mktemp("home")):
        root = pinned_repo(tmp_path_factory, controllers)
        for env in ("staging", "production"):
            assert cli(root, "rotate", env, "--no-branch").exit_code == 0
    return root


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:
    root = copy_repo(template, tmp_path / "repo")
    git(root, "checkout", "-q", "-b", "pr")
    return root


def run_review(repo: Path) -> tuple[int, dict[str, Any]]:
    result = cli(repo, "review", "main", "HEAD", "--output", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def write(repo: Path, rel: str, data: str | bytes) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_bytes(data.encode() if isinstance(data, str) else data)


def registry(repo: Path) -> str:
    """staging's key registry as sealer writes it: a copy elsewhere may list any fingerprint."""
    return (repo / REGISTRY).read_text()


# -- a key registry applied from a file review did not read as a GitOps tool does -------------------


def registry_without_namespace(repo: Path) -> None:
    """The Argo CD application's destination (or a kustomization) puts it in staging."""
    lines = [line for line in registry(repo).splitlines(True) if "namespace:" not in line]
    write(repo, "apps/registry.yaml", "".join(lines))


def registry_kind_escaped(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("kind: ConfigMap", 'kind: "Config\\x4dap"'))


def registry_in_json_with_escapes(repo: Path) -> None:
    doc = yamlio.load_documents(registry(repo), REGISTRY)[0]
    text = json.dumps(doc).replace('"ConfigMap"', '"Config\\u004dap"')
    write(repo, "apps/registry.json", text)


def registry_in_utf16(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).encode("utf-16"))


def registry_with_a_key_twice(repo: Path) -> None:
    """sealer's own reader refuses a key given twice; Kubernetes' YAML reader keeps the last."""
    write(repo, "apps/registry.yaml", registry(repo) + "apiVersion: v1\n")


def registry_under_a_tag(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("metadata:", "metadata: !meta", 1))


def registry_named_in_binary(repo: Path) -> None:
    name = base64.b64encode(REGISTRY_NAME.encode()).decode()
    write(
        repo, "apps/registry.yaml", registry(repo).replace(f"name: {REGISTRY_NAME}", f"name: !!binary {name}")
    )


def registry_from_a_merge_key(repo: Path) -> None:
    write(repo, "apps/registry.yaml", registry(repo).replace("kind: ConfigMap", "<<: {kind: ConfigMap}"))


def registry_made_by_kustomize(repo: Path) -> None:
    write(
        repo,
        "apps/registry.json",
        yamlio.load_documents(registry(repo), REGISTRY)[0]["data"]["registry.json"],
    )
    kustomization = (
        "namespace: staging\n"
        f"configMapGenerator:\n  - name: {REGISTRY_NAME}\n    files: [registry.json]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    )
    write(repo, "apps/kustomization.yaml", kustomization)


def sealed_secret_without_namespace(repo: Path) -> None:
    """A SealedSecret any PR author can make for staging with its public certificate."""
    lines = (repo / "sealed/staging/staging.yaml").read_text().splitlines(True)
    write(repo, "apps/api-key.yaml", "".join(line for line in lines if "namespace: staging" not in line))


# -- a file in sealed/ that review never read ---------------------------------------------------------


def registry_beside_the_sealed_file(repo: Path) -> None:
    """Argo CD reads *.yaml, *.yml and *.json in sealed/staging/; review read staging.yaml alone."""
    write(repo, "sealed/staging/registry.json", json.dumps(yamlio.load_documents(registry(repo), "r")[0]))


def registry_as_yml_beside_the_sealed_file(repo: Path) -> None:
    write(repo, "sealed/staging/registry.yml", registry(repo))


def registry_in_a_folder_named_like_an_environment(repo: Path) -> None:
    write(repo, "sealed/Staging/staging.yaml", registry(repo))


# -- a grace window with no end ------------------------------------------------------------------------


def grace_without_end(repo: Path) -> None:
    """A rotation that revoked the old key, edited to keep it in grace with no end: the registry
    (rendered to match) lists it as valid until it expires, and review showed 'grace none'."""
    assert cli(repo, "rotate", "staging", "--no-branch").exit_code == 0
    records = ledger_records(repo, "staging")
    assert [r.status for r in records] == [REVOKED, "active"]
    ledger.save(repo, "staging", [replace(records[0], status=GRACE, revoke_at=None), records[1]])
    assert cli(repo, "render", "staging").exit_code == 0
    git(repo, "commit", "-q", "-a", "--amend", "--no-edit")  # as if the rotation wrote it


ATTACKS: list[tuple[Callable[[Path], None], str]] = [
    (registry_without_namespace, "stray-sealed-data"),
    (registry_kind_escaped, "stray-sealed-data"),
    (registry_in_json_with_escapes, "stray-sealed-data"),
    (registry_in_utf16, "stray-sealed-data"),
    (registry_with_a_key_twice, "stray-sealed-data"),
    (registry_under_a_tag, "stray-sealed-data"),
    (registry_named_in_binary, "stray-sealed-data"),
    (registry_from_a_merge_key, "stray-sealed-data"),
    (registry_made_by_kustomize, "stray-sealed-data"),
    (sealed_secret_without_namespace, "stray-sealed-data"),
    (registry_beside_the_sealed_file, "manifest-mismatch"),
    (registry_as_yml_beside_the_sealed_file, "manifest-mismatch"),
    (registry_in_a_folder_named_like_an_environment, "manifest-mismatch"),
    (grace_without_end, "ledger-status"),
]


@pytest.mark.parametrize(("attack", "kind"), ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_attack_fails_review(repo: Path, attack: Callable[[Path], None], kind: str) -> None:
    attack(repo)
    if git(repo, "status", "--porcelain"):
        commit_all(repo, attack.__name__)
    code, data = run_review(repo)
    assert code == 1, data
    assert kind in {f["rule"] for f in data["findings"]}, data["findings"]


def test_application_manifests_pass(repo: Path) -> None:
    """What application teams commit beside sealer's files: a verifier mounting the registry, a
    ConfigMap and a generated one of other names, a Helm template sealer cannot read."""
    write(
        repo,
        "apps/verifier.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: verifier, namespace: staging}\n"
        f"spec:\n  template:\n    spec:\n      volumes:\n        - name: keys\n"
        f"          configMap: {{name: {REGISTRY_NAME}}}\n",
    )
    write(repo, "apps/settings.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    write(repo, "apps/kustomization.yaml", "configMapGenerator:\n  - name: settings\n    literals: [a=b]\n")
    write(repo, "chart/templates/secret.yaml", "{{- if .Values.secret }}\nkind: Secret\n{{- end }}\n")
    commit_all(repo, "application manifests")
    code, data = run_review(repo)
    assert code == 0, data["findings"]
