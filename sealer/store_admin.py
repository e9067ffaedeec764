"""What `sealer keys` and `sealer backend` do, above any one store: choose an environment's
store, and revoke and verify the keys in it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

from sealer import apikey, config, ledger, registry_delivery, yamlio
from sealer.backends import DEFAULT_BACKEND, KeyStore, check_kind, open_store
from sealer.errors import BadInput
from sealer.records import KeyRecord, utcnow

# Settings that look like credentials: those come from each store's own ecosystem only.
_SECRET_OPTION = re.compile(r"(?i)(pass(word)?|secret|token|credential|private|access[_-]?key|auth)")


def store_for(cfg: config.Config, env_name: str) -> KeyStore:
    environment = cfg.env(env_name)
    return open_store(environment.backend_kind, environment.backend_options, cfg.root)


def parse_options(kind: str, items: tuple[str, ...]) -> dict[str, str]:
    backend = check_kind(kind)
    options = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BadInput(f"--option {name or item!r}: use NAME=VALUE")
        if _SECRET_OPTION.search(name):
            raise BadInput(
                f"--option {name}: credentials never go in sealer.yaml; {kind} reads them from "
                f"{backend.credentials}"
            )
        options[name] = value
    return options


def set_backend(root: Path, env_name: str, kind: str, options: dict[str, str]) -> None:
    """Record ENV's store; opening it vets the options (the registry their names, the store its
    values) before anything is written, so `sealer.yaml` never names a store that cannot open."""
    from ruamel.yaml.comments import CommentedMap

    config.load(root).env(env_name)
    open_store(kind, options, root)
    with config.edit(root) as doc:
        backend = CommentedMap(kind=kind)
        if options:
            backend["options"] = CommentedMap(sorted(options.items()))
        environment = doc["environments"][env_name]
        yamlio.move_following_comment(yamlio.last_comment_slot(environment.get("backend")), backend)
        environment["backend"] = backend


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
    environment = cfg.env(env_name)
    store = store_for(cfg, environment.name)
    store.revoke(environment.name, key_id, at)
    revoked = next(r for r in store.list(environment.name) if r.key_id == key_id)
    registry_delivery.write_files(cfg, environment.name)  # #16: the GitOps key registry follows the ledger
    if environment.backend_kind != DEFAULT_BACKEND:
        records = ledger.load(cfg.root, environment.name)
        if any(r.key_id == key_id for r in records):
            ledger.save(
                cfg.root,
                environment.name,
                [replace(revoked, sealed_with=r.sealed_with) if r.key_id == key_id else r for r in records],
            )
    return revoked
