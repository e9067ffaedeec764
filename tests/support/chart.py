"""Helpers for the chart tests: sealed values per environment, rendering, schemas."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealer import apikey, certs, yamlio
from sealer.scope import Scope
from sealer.sealing import CertSealer

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "chart"
CRD_FILE = "crds/sealedsecrets.bitnami.com.yaml"
SECRET_NAME = "engine-api-key"
ENTRY = "apiKey"


def shared_dir() -> Path:
    """`../shared` next to the checkout (CI), else /work/shared; a missing folder fails the test."""
    for candidate in (REPO.parent / "shared", Path("/work/shared")):
        if (candidate / CRD_FILE).is_file():
            return candidate
    pytest.fail(f"shared folder with {CRD_FILE} not found next to {REPO} nor at /work/shared")


def crd_schema() -> dict[str, Any]:
    """The SealedSecret CRD's openAPIV3Schema, as the real controller installs it."""
    crd = yaml.safe_load((shared_dir() / CRD_FILE).read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def chart_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
    return schema


@dataclass(frozen=True)
class Environment:
    """One environment of a sample GitOps repo: its sealed values and what opens them."""

    name: str
    namespace: str
    scope: Scope
    release: str
    api_key: str = field(repr=False)  # test failures print fixtures: never the key
    key_file: Path
    values_yaml: str = field(repr=False)

    @property
    def values(self) -> dict[str, Any]:
        """The values as `helm template -f` reads the environment's values file."""
        import helm_python

        return helm_python.values_from_yaml(self.values_yaml)


def key_metadata(api_key: str, created: str, expires: str) -> dict[str, str]:
    fingerprint = apikey.fingerprint(api_key)
    return {
        "keyId": apikey.key_id(fingerprint),
        "fingerprintPrefix": fingerprint[:12],
        "created": created,
        "expires": expires,
    }


def checksum(keys: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()


def sealer_values(
    cert_file: Path, cluster: str, scope: Scope, namespace: str, api_key: str
) -> dict[str, Any]:
    """The `sealer:` subtree the values contract describes, sealed for real."""
    sealer = CertSealer.from_certificate(certs.load_certificate(cert_file), str(cert_file))
    [ciphertext] = sealer.seal_values(scope, namespace, SECRET_NAME, [api_key.encode()])
    keys = {ENTRY: key_metadata(api_key, "2026-11-27T02:00:00Z", "2027-02-25T02:00:00Z")}
    return {
        "secretName": SECRET_NAME,
        "namespace": namespace,
        "scope": scope.value,
        "cluster": cluster,
        "certFingerprint": sealer.fingerprint,
        "encryptedData": {ENTRY: ciphertext},
        "keys": keys,
        "checksum": checksum(keys),
    }


def values_file(sealer_subtree: dict[str, Any]) -> str:
    """An environment values file: the user's own values plus sealer's subtree."""
    user = {"replicaCount": 2, "extraEnv": [{"name": "LOG_LEVEL", "value": "info"}]}
    return yamlio.dump({**user, "sealer": sealer_subtree})


def parse_manifests(rendered: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every Kubernetes object of a render (NOTES.txt is not a manifest)."""
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith(".txt"):
            docs.extend(yamlio.load_documents(text, path))
    return docs


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def container_env(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    [container] = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return {var["name"]: var for var in container["env"]}
