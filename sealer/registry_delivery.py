"""The key registry around the commands (#16): direct publication after a rotation, the GitOps
files after a revocation, `sealer status`'s comparison and the reference verifier's CLI side.

The format and the verdict rules are `sealer.registry`'s; this module reads the repository,
the cluster and the verifier's last-seen-serial state file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import apikey, config, git, layout, ledger, registry, render, repofiles
from sealer.backends import publish_registry, read_live_registry
from sealer.errors import BadInput
from sealer.records import KeyRecord, utcnow

STATE_FORMAT = "sealer.dev/key-registry-state/v1"
IN_SYNC, PENDING, DRIFT = "in sync", "sync pending", "drift"
MALFORMED = "malformed"


def publish(cfg: config.Config, env_names: list[str], commit: str | None = None) -> None:
    """Direct delivery: write each environment's registry as its ledger gives it — the ledger of
    `commit` when given (a rotation's commit: the working tree may be on another branch)."""
    for name in env_names:
        env = cfg.environments.get(name)
        settings = env.registry if env else None
        if env is not None and settings is not None and settings.delivery == registry.DIRECT:
            publish_registry(settings, env.name, _ledger_at(cfg, env.name, commit))


def _ledger_at(cfg: config.Config, env: str, commit: str | None) -> list[KeyRecord]:
    if commit is None:
        return ledger.load(cfg.root, env)
    rel = layout.ledger_file(env)
    return ledger.parse(env, git.file_at(cfg.root, commit, rel) or "", f"{commit[:12]}:{rel}")


def write_files(cfg: config.Config, env_name: str) -> list[str]:
    """GitOps delivery: re-create the registry files after a ledger change; the changed paths."""
    env = cfg.env(env_name)
    written = []
    for path, new, old in render.registry_texts(cfg.root, env, ledger.load(cfg.root, env.name)):
        if new != old:
            repofiles.write(path, new)  # makes registry/ENV/ itself, never through a symlink (#13)
            written.append(str(path.relative_to(cfg.root)))
    return written


# -- sealer status ---------------------------------------------------------------------------


def _targets(
    env: config.Environment, settings: registry.Settings, context: str | None
) -> list[tuple[str, str | None]]:
    """(registry cluster name, kubeconfig context) of each registry to compare."""
    if settings.delivery == registry.DIRECT:
        return [(c or registry.CURRENT_CONTEXT, c) for c in settings.contexts or (None,)]
    several = len(env.clusters) > 1
    return [(c.name, context or (c.name if several else None)) for c in env.clusters]


def compare_live(
    cfg: config.Config, env_name: str, kubeconfig: str | None, context: str | None
) -> list[dict[str, Any]]:
    """Per cluster: the live registry against what the ledger gives (in sync / sync pending / drift)."""
    env = cfg.env(env_name)
    settings = env.registry
    if settings is None:
        return []
    if kubeconfig and settings.delivery == registry.GITOPS:
        settings = registry.Settings(**{**settings.__dict__, "kubeconfig": kubeconfig})
    records = ledger.load(cfg.root, env.name)
    return [
        _compare_one(settings, registry.build(env.name, cluster, records), where)
        for cluster, where in _targets(env, settings, context)
    ]


def _compare_one(
    settings: registry.Settings, wanted: registry.Registry, context: str | None
) -> dict[str, Any]:
    try:
        live = read_live_registry(settings, context)
    except registry.RegistryError as err:
        return _row(wanted, None, DRIFT, str(err))
    if live is None:
        state = PENDING if settings.delivery == registry.GITOPS else DRIFT
        return _row(wanted, None, state, f"no {settings.kind} {settings.namespace}/{settings.name}")
    if live.env == wanted.env and live.serial == wanted.serial and live.keys == wanted.keys:
        return _row(wanted, live, IN_SYNC, "")
    if live.env == wanted.env and live.serial < wanted.serial:
        return _row(wanted, live, PENDING, "the cluster has an older registry than the ledger")
    return _row(wanted, live, DRIFT, "the cluster's registry is not one the ledger gives")


def _row(wanted: registry.Registry, live: registry.Registry | None, state: str, why: str) -> dict[str, Any]:
    return {
        "cluster": wanted.cluster,
        "state": state,
        "live_serial": live.serial if live else None,
        "ledger_serial": wanted.serial,
        "why": why,
    }


# -- the reference verifier ------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyRequest:
    env: str
    state: Path  # the verifier's last-seen-serial file
    registry_file: Path | None = None  # else: the live registry
    kubeconfig: str | None = None
    context: str | None = None
    init_state: bool = False  # accept whatever serial is found when `state` does not exist yet


def read_seen(path: Path, env: str, init: bool) -> int:
    """The highest serial the verifier has seen; fail closed (RegistryError) when the file is
    missing (unless `init`), unreadable, or another environment's."""
    try:
        text = repofiles.read_text(path, user_path=True)
    except FileNotFoundError:
        if init:
            return 0
        raise registry.RegistryError(
            f"no last-seen serial in {path}: a verifier without one cannot refuse a rolled-back "
            "registry (create it with --init-state)"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise registry.RegistryError(f"cannot read the last-seen serial {path}: {err}") from None
    except BadInput as err:  # #13: a symlink, a FIFO, not UTF-8, too large
        raise registry.RegistryError(
            str(err).replace("cannot read", "cannot read the last-seen serial", 1)
        ) from None
    try:
        data = json.loads(text)
        serial = data["serial"]
        ok = data["format"] == STATE_FORMAT and data["env"] == env and type(serial) is int and serial >= 0
    except (ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        raise registry.RegistryError(f"{path} is not a last-seen serial of {env}'s key registry")
    return int(serial)


def remember(path: Path, env: str, serial: int) -> None:
    data = {"format": STATE_FORMAT, "env": env, "serial": serial}
    repofiles.write(path, json.dumps(data, sort_keys=True) + "\n", mode=0o600, user_path=True)


def verify_key(
    cfg: config.Config | None, request: VerifyRequest, presented: str, now: dt.datetime | None = None
) -> dict[str, Any]:
    """valid / revoked / expired / unknown / malformed / stale-serial for `presented`, by the registry a
    verifier in the cluster reads; the key is hashed at once and never kept or echoed."""
    seen = read_seen(request.state, request.env, request.init_state)
    found = _registry_for(cfg, request)
    presented = presented.strip()
    fingerprint = apikey.fingerprint(presented) if apikey.checksum_ok(presented) else "-"
    verdict = registry.verify(found, request.env, fingerprint, seen, now or utcnow())
    if verdict != registry.STALE and found.serial > seen:
        remember(request.state, request.env, found.serial)
    if fingerprint == "-" and verdict != registry.STALE:
        verdict = MALFORMED  # not a sealer key (format or checksum), as `keys verify` says
    return {
        "env": request.env,
        "result": verdict,
        "serial": found.serial,
        "seen_serial": max(seen, found.serial),
    }


def _registry_for(cfg: config.Config | None, request: VerifyRequest) -> registry.Registry:
    if request.registry_file is not None:
        return registry.load(request.registry_file)
    settings = cfg.env(request.env).registry if cfg else None
    if settings is None:
        raise registry.RegistryError(f"{request.env}: its key store publishes no key registry")
    if request.kubeconfig:
        settings = registry.Settings(**{**settings.__dict__, "kubeconfig": request.kubeconfig})
    live = read_live_registry(settings, request.context or (settings.contexts or (None,))[0])
    if live is None:
        raise registry.RegistryError(f"no key registry {settings.kind} {settings.namespace}/{settings.name}")
    return live
