"""Key-store backends. One dict names them all; each loads its client library only when used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from sealer import extras
from sealer.backends.base import KeyStore
from sealer.errors import BadInput

# kind -> "module:class"; imported on first use so `sealer --help` never loads boto3 & co.
BACKENDS: dict[str, str] = {
    "k8s-secrets": "sealer.backends.gitops:GitOpsStore",
    "postgres": "sealer.backends.postgres:PostgresStore",
    "dynamodb": "sealer.backends.dynamodb:DynamoStore",
    "vault": "sealer.backends.vault:VaultStore",
    "auth0": "sealer.backends.auth0:Auth0Store",
}
DEFAULT_BACKEND = "k8s-secrets"


def open_store(kind: str, options: Mapping[str, str], repo: Path) -> KeyStore:
    """The store of `kind`, configured with non-secret `options`; credentials come from the
    store's own ecosystem (environment, credential files), never from sealer.yaml."""
    if kind not in BACKENDS:
        raise BadInput(f"unknown backend {kind!r}: use one of {', '.join(sorted(BACKENDS))}")
    if kind in extras.EXTRAS:
        extras.require(kind)  # one line naming the extra, not an ImportError deep inside
    module_name, _, class_name = BACKENDS[kind].partition(":")
    store_class = getattr(importlib.import_module(module_name), class_name)
    store: KeyStore = store_class(dict(options), repo)
    return store
