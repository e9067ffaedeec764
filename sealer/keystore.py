"""What `sealer keys` and `sealer backend` do, above any one store."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from sealer import apikey, config, ledger
from sealer.backends import BACKENDS, DEFAULT_BACKEND, open_store
from sealer.backends.base import KeyRecord, KeyStore, utcnow
from sealer.errors import BadInput

# Settings that look like credentials: those come from each store's own ecosystem only.
_SECRET_OPTION = re.compile(r"(?i)(pass(word)?|secret|token|credential|private|access[_-]?key|auth)")
CREDENTIAL_SOURCES = {
    "k8s-secrets": "your kubeconfig",
    "postgres": "the libpq environment (PGHOST, PGUSER, PGPASSFILE, …)",
    "dynamodb": "the AWS credential chain",
    "vault": "VAULT_ADDR and VAULT_TOKEN",
    "auth0": "AUTH0_DOMAIN with AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET or AUTH0_MANAGEMENT_TOKEN",
}


def store_for(cfg: config.Config, env_name: str) -> KeyStore:
    env = cfg.env(env_name)
    return open_store(env.backend_kind, env.backend_options, cfg.root)


def parse_options(kind: str, items: tuple[str, ...]) -> dict[str, str]:
    if kind not in BACKENDS:
        raise BadInput(f"unknown backend {kind!r}: use one of {', '.join(sorted(BACKENDS))}")
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadInput(f"--option {name or item!r}: use NAME=VALUE")
        if _SECRET_OPTION.search(name):
            raise BadInput(
                f"--option {name}: credentials never go in sealer.yaml; {kind} reads them from "
                f"{CREDENTIAL_SOURCES[kind]}"
            )
        options[name] = value
    return options


def set_backend(root: Path, env_name: str, kind: str, options: dict[str, str]) -> None:
    """Record ENV's store; the store's own constructor vets the options (unknown names, bad
    values) before anything is written, so `sealer.yaml` never names a store that cannot open."""
    from ruamel.yaml.comments import CommentedMap

    config.load(root).env(env_name)
    open_store(kind, options, root)
    with config.edit(root) as doc:
        backend = CommentedMap(kind=kind)
        if options:
            backend["options"] = CommentedMap(sorted(options.items()))
        env = doc["environments"][env_name]
        _keep_following_comment(env.get("backend"), backend)
        env["backend"] = backend


def _keep_following_comment(old: Any, new: Any) -> None:
    """ruamel files the comment lines below a mapping under its last (deepest) key: move them
    to the replacement so the comment above the next setting survives."""
    source, target = _last_slot(old), _last_slot(new)
    if source is None or target is None:
        return
    tokens = source[0].ca.items.get(source[1]) or []
    token = tokens[2] if len(tokens) > 2 else None
    if token is None or "\n" not in token.value.rstrip("\n"):
        return
    token.value = "\n" + token.value.split("\n", 1)[1]  # not the old line's own end-of-line comment
    target[0].ca.items[target[1]] = [None, None, token, None]


def _last_slot(node: Any) -> tuple[Any, Any] | None:
    from ruamel.yaml.comments import CommentedMap

    found = None
    while isinstance(node, CommentedMap) and len(node):
        found = (node, list(node)[-1])
        node = node[found[1]]
    return found


def verify(cfg: config.Config, env_name: str, presented: str) -> str:
    """valid / revoked / expired / unknown, or malformed (not a sealer key: bad format or
    checksum); the key is hashed at once and never kept or echoed."""
    presented = presented.strip()
    if not apikey.checksum_ok(presented):
        return "malformed"
    return store_for(cfg, env_name).verify(env_name, apikey.fingerprint(presented), utcnow())


def revoke(cfg: config.Config, env_name: str, key_id: str, at: dt.datetime | None) -> KeyRecord:
    """Revoke (or grace until `at`) in the store; an external store's change is mirrored in the
    Git ledger, so commit that change to keep the two agreeing."""
    env = cfg.env(env_name)
    store = store_for(cfg, env.name)
    store.revoke(env.name, key_id, at)
    revoked = next(r for r in store.list(env.name) if r.key_id == key_id)
    if env.backend_kind != DEFAULT_BACKEND:
        records = ledger.load(cfg.root, env.name)
        if any(r.key_id == key_id for r in records):
            ledger.save(
                cfg.root,
                env.name,
                [replace(revoked, sealed_with=r.sealed_with) if r.key_id == key_id else r for r in records],
            )
    return revoked
