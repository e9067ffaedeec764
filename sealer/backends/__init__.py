"""Key-store backends: the registry, and the package's face to the rest of sealer.

One dict names every store kind; each store loads its client library only when used. Code
outside this package imports from here, never a store module or `base` (tests/test_static.py
checks it with import-linter).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sealer import extras
from sealer.backends import credentials as credential_sources
from sealer.backends.base import KeyStore
from sealer.backends.vault_kv import CasConflict, VaultKV, check_segment
from sealer.errors import BadInput, ConfigError
from sealer.records import KeyRecord
from sealer.registry import OPTIONS, Entry, Publication, Registry, Settings

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Backend",
    "CasConflict",
    "KeyStore",
    "VaultKV",
    "check_credentials",
    "check_options",
    "check_ready",
    "check_kind",
    "check_segment",
    "open_store",
    "publish_registry",
    "read_live_registry",
    "refuse_secret_values",
    "secret_shape",
]


@dataclass(frozen=True)
class Backend:
    """What sealer knows about a store kind before loading its code."""

    store: str  # "module:class", imported on first use so `sealer --help` never loads boto3 & co.
    options: tuple[str, ...]  # the non-secret settings sealer.yaml may hold for it
    credentials: str  # where the store reads its credentials from by default (never sealer.yaml)


BACKENDS: dict[str, Backend] = {
    "k8s-secrets": Backend(
        "sealer.backends.k8s_secrets:K8sSecretsStore",
        OPTIONS,
        "your kubeconfig, or the in-cluster service account (direct delivery of the key registry)",
    ),
    "postgres": Backend(
        "sealer.backends.postgres:PostgresStore",
        ("table", "schema", "service", "connect_timeout"),
        "the libpq environment (PGHOST, PGUSER, PGPASSFILE, …)",
    ),
    "dynamodb": Backend(
        "sealer.backends.dynamodb:DynamoStore",
        ("table", "region", "endpoint_url", "max_attempts", "create_table"),
        "the AWS credential chain",
    ),
    "vault": Backend("sealer.backends.vault:VaultStore", ("mount", "path"), "VAULT_ADDR and VAULT_TOKEN"),
    "auth0": Backend(
        "sealer.backends.auth0:Auth0Store",
        ("user_id", "client_id"),
        "AUTH0_DOMAIN with AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET or AUTH0_MANAGEMENT_TOKEN",
    ),
}
DEFAULT_BACKEND = "k8s-secrets"


def check_kind(kind: object, where: str = "") -> Backend:
    """The registry entry of `kind`; otherwise BadInput naming every kind (a ConfigError at
    `where` when the kind comes from a file)."""
    if isinstance(kind, str) and kind in BACKENDS:
        return BACKENDS[kind]
    kinds = ", ".join(sorted(BACKENDS))
    hint = _nearest_kind(kind)
    if where:
        raise ConfigError(where, f"must be one of {kinds}{hint}")
    raise BadInput(f"unknown backend {kind!r}: use one of {kinds}{hint}")


def _nearest_kind(kind: object) -> str:
    """`; did you mean 'postgres'?` for a kind one typo away from a known one (`postgress`), as
    click answers a mistyped command; "" when none is near."""
    import difflib

    close = difflib.get_close_matches(kind.lower(), list(BACKENDS), n=1) if isinstance(kind, str) else []
    return f"; did you mean {close[0]!r}?" if close else ""


def open_store(
    kind: str,
    options: Mapping[str, str],
    repo: Path,
    credentials: Mapping[str, str] | None = None,
    env_name: str = "",
) -> KeyStore:
    """The store of `kind`, configured with non-secret `options`; its credentials come from the
    source `credentials` names for environment `env_name` (#17: a profile or role, the variables
    holding a tenant's secrets, …) or, when it names none, from the store's own ecosystem
    (environment, credential files), never from sealer.yaml. Option names are checked here for
    every kind, and a named source's variables (MissingCredential naming `env_name` and what is
    missing); each store checks its option values."""
    backend = check_kind(kind)
    check_options(kind, options)
    settings = check_credentials(kind, credentials or {}, "--credential")
    if kind in extras.EXTRAS:
        extras.require(kind)  # one line naming the extra, not an ImportError deep inside
    source = credential_sources.source_for(kind, settings, env_name) if settings else None
    module_name, _, class_name = backend.store.partition(":")
    store_class = getattr(importlib.import_module(module_name), class_name)
    store: KeyStore = store_class(dict(options), repo, **({"source": source} if source else {}))
    return store


def check_credentials(kind: str, raw: Mapping[str, object], where: str) -> dict[str, str]:
    """The validated credential-source settings of a `kind` store: only names of places holding
    credentials, never a credential (ConfigError at `where`, or BadInput when `where` is a flag)."""
    check_kind(kind)
    return credential_sources.check(kind, raw, where)


def check_ready(kind: str, options: Mapping[str, str], credentials: Mapping[str, str], env_name: str) -> None:
    """What the store needs from this machine, checked without a request (MissingCredential)."""
    credential_sources.check_ready(kind, options, credentials, env_name)


def refuse_secret_values(settings: Mapping[str, str], where: str) -> None:
    credential_sources.refuse_secret_values(settings, where)


def secret_shape(value: str) -> str | None:
    """What `value` looks like when it looks like a credential (a token, a key), else None."""
    return credential_sources.secret_shape(value)


def check_options(kind: str, options: Mapping[str, str]) -> None:
    """Refuse settings a store does not know (a credential among them), naming the known ones."""
    backend = check_kind(kind)
    unknown = sorted(set(options) - set(backend.options))
    if unknown:
        known = ", ".join(backend.options) or "none"
        raise BadInput(
            f"{kind} backend: unknown option(s) {', '.join(unknown)} (known: {known}); "
            f"credentials come from {backend.credentials}"
        )


# #16: the key registry's direct delivery, loaded on first use (it brings the kubernetes client).


def publish_registry(
    settings: Settings, env: str, what: Publication | list[KeyRecord], written: list[str] | None = None
) -> list[Entry]:
    """Write `env`'s registry to its clusters; the accepted keys it dropped (abandoned). Each
    cluster written joins `written`."""
    from sealer.backends import k8s_registry

    return k8s_registry.publish(settings, env, what, written)


def read_live_registry(settings: Settings, context: str | None) -> Registry | None:
    from sealer.backends import k8s_registry

    return k8s_registry.read_live(settings, context)
