"""What `sealer keys` and `sealer backend` do, above any one store: choose an environment's
store, and revoke and verify the keys in it."""

from __future__ import annotations

import re

from sealer import apikey, config
from sealer.backends import (
    KeyStore,
    check_credentials,
    check_kind,
    check_options,
    open_store,
    refuse_secret_values,
)
from sealer.errors import BadInput
from sealer.records import utcnow

# Settings that look like credentials: those come from each store's own ecosystem only.
_SETTING_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # what every store's options and sources are called
_SECRET_OPTION = re.compile(r"(?i)(pass(word)?|secret|token|credential|private|access[_-]?key|auth)")


def store_for(cfg: config.Config, env_name: str) -> KeyStore:
    environment = cfg.env(env_name)
    return open_store(
        environment.backend_kind,
        environment.backend_options,
        cfg.root,
        environment.backend_credentials,
        environment.name,
    )


def _pairs(flag: str, items: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:  # echoed only when it reads as a setting's name, never a pasted token
            shown = repr(item) if _SETTING_NAME.fullmatch(item) else "(not echoed)"
            raise BadInput(f"{flag} {shown}: use NAME=VALUE")
        pairs.append((name, value))
    return pairs


def parse_credentials(kind: str, items: tuple[str, ...]) -> dict[str, str]:
    """`--credential NAME=VALUE` pairs: where KIND's credentials come from (#17), checked as
    sealer.yaml's `backend.credentials` is (a literal secret is refused)."""
    return check_credentials(kind, dict(_pairs("--credential", items)), "--credential")


def parse_options(kind: str, items: tuple[str, ...]) -> dict[str, str]:
    backend = check_kind(kind)
    options = {}
    for name, value in _pairs("--option", items):
        if _SECRET_OPTION.search(name):
            raise BadInput(
                f"--option {name}: credentials never go in sealer.yaml; {kind} reads them from "
                f"{backend.credentials}"
            )
        options[name] = value
    refuse_secret_values(options, "--option")  # a pasted token: never sent to a store, never committed
    check_options(kind, options)  # before sealer.yaml's own check, which would name the file
    filled = config.filled_option(options)
    if filled:
        raise BadInput(f"--option {filled}: {config.FILLED_BY_SEALER}")
    return options


def verify(cfg: config.Config, env_name: str, presented: str) -> str:
    """valid / revoked / expired / unknown, or malformed (not a sealer key: bad format or
    checksum); the key is hashed at once and never kept or echoed."""
    presented = presented.strip()
    cfg.env(env_name)  # an unknown environment is bad input, whatever the key (never "malformed")
    if not apikey.checksum_ok(presented):
        return "malformed"
    return store_for(cfg, env_name).verify(env_name, apikey.fingerprint(presented), utcnow())
