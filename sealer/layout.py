"""Where a sealer-managed repo keeps things. One place, so every command agrees."""

from __future__ import annotations

from pathlib import Path

CERTS_DIR = "certs"
SEALED_DIR = "sealed"
DEPLOY_DIR = "deploy"


def cert_file(env: str, cluster: str) -> str:
    return f"{CERTS_DIR}/{env}.pem" if cluster == env else f"{CERTS_DIR}/{env}-{cluster}.pem"


def values_file(env: str, cluster: str) -> str:
    return (
        f"{DEPLOY_DIR}/{env}/values.yaml" if cluster == env else f"{DEPLOY_DIR}/{env}/values-{cluster}.yaml"
    )


def sealed_file(env: str, cluster: str) -> str:
    return f"{SEALED_DIR}/{env}/{cluster}.yaml"


def sealed_path(root: Path, env: str, cluster: str) -> Path:
    return root / sealed_file(env, cluster)
