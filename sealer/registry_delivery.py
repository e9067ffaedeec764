"""The key registry around the commands (#16): direct publication after a rotation, the GitOps
files after a revocation, `sealer status`'s comparison and the reference verifier's CLI side.

The format and the verdict rules are `sealer.registry`'s; this module reads the repository,
the cluster and the verifier's last-seen-serial state file.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealer import apikey, clusters, config, git, layout, ledger, registry, render, repofiles, strictjson
from sealer.backends import publish_registry, read_live_registry
from sealer.errors import BadInput, InterruptedInFlight, PartlyDone, SealerError, WriteUnconfirmed
from sealer.records import ACTIVE, KeyRecord, utcnow

STATE_FORMAT = "sealer.dev/key-registry-state/v1"
IN_SYNC, PENDING, DRIFT = "in sync", "sync pending", "drift"
MALFORMED = "malformed"


def publish(cfg: config.Config, env_names: list[str], commit: str) -> list[tuple[str, registry.Entry]]:
    """Direct delivery of the ledger of `commit` (the deployed phase: HEAD after the merge; a
    `keys revoke`'s commit: a revocation follows at once). Returns the accepted keys of
    abandoned rotations (no branch holds them any more) it dropped, per environment."""
    dropped = []
    for env in _direct(cfg, env_names):
        base = _ledger_at(cfg, env.name, commit)
        dropped += _publish(cfg, env, registry.Publication(tuple(base), held=_holder(cfg, env.name)))
    return dropped


def publish_accepted(cfg: config.Config, env_names: list[str], commit: str) -> None:
    """Direct delivery at rotate time: the ledger the rotation started from, with the keys its
    commit adds as accepted — valid beside the old ones, nothing revoked before the deployed
    phase (`publish` of the merged ledger, by `rotate --finish`)."""
    direct = _direct(cfg, env_names)
    parent = git.parent_of(cfg.root, commit) if direct else None  # git asked only when it is used
    for env in direct:
        base = _ledger_at(cfg, env.name, parent) if parent else []
        final = _ledger_at(cfg, env.name, commit)
        known = {r.key_id for r in base}
        new = tuple(r for r in final if r.key_id not in known and r.status == ACTIVE)
        pub = registry.Publication(
            tuple(base), new, _holder(cfg, env.name), done_at=registry.serial_of(final)
        )
        _publish(cfg, env, pub)


def publish_abandoned(cfg: config.Config, env_names: list[str], ref: str) -> list[tuple[str, registry.Entry]]:
    """Direct delivery of `rotate --abandon REF`: HEAD's ledger, without the keys REF's ledger
    adds (the serial still grows); the accepted keys dropped, per environment."""
    head = git.head(cfg.root) or "HEAD"
    dropped = []
    for env in _direct(cfg, env_names):
        base = _ledger_at(cfg, env.name, head)
        on_head = {r.key_id for r in base}
        added = frozenset(r.key_id for r in _ledger_at(cfg, env.name, ref) if r.key_id not in on_head)
        pub = registry.Publication(tuple(base), held=_holder(cfg, env.name), dropped=added)
        dropped += _publish(cfg, env, pub)
    return dropped


def drop_compromised(cfg: config.Config, env_name: str, key_id: str) -> KeyRecord | None:
    """`keys compromised` of a key only a rotation's branch holds, which direct delivery lists as
    accepted (valid to every verifier): HEAD's ledger is published without it, as `rotate
    --abandon` would (the serial still grows). The key's record as the branch has it, None when
    no branch holds it; the caller reports it revoked."""
    direct = _direct(cfg, [env_name])
    if not direct:
        return None  # a GitOps registry lists the key only once its branch is merged
    rel = layout.ledger_file(env_name)
    found = None
    for ref in git.refs_holding(cfg.root, key_id, rel):
        try:
            text = git.file_at(cfg.root, ref, rel)
            records = ledger.parse(env_name, text, f"{ref}:{rel}") if text else []
        except SealerError:
            continue  # anyone who can push a branch can leave an unreadable ledger there
        found = found or next((r for r in records if r.key_id == key_id), None)
    if found is None:
        return None
    head = git.head(cfg.root) or "HEAD"
    written: list[str] = []
    for env in direct:
        base = _ledger_at(cfg, env.name, head)
        pub = registry.Publication(tuple(base), held=_holder(cfg, env.name), dropped=frozenset({key_id}))
        try:
            _publish(cfg, env, pub, written)
        except (SealerError, InterruptedInFlight) as err:  # Ctrl-C leaving the write under way too
            if not (written or isinstance(err, (WriteUnconfirmed, InterruptedInFlight))):
                raise  # no registry written: nothing changed
            raise PartlyDone(_drop_partly_done(env_name, key_id, written, err)) from None
    return found


def _drop_partly_done(
    env_name: str, key_id: str, written: list[str], err: SealerError | InterruptedInFlight
) -> str:
    """What landed of a compromised key's drop from the live registries, and how to finish."""
    landed = [f"the key registry of {env_name} on {', '.join(written)} no longer lists {key_id}"]
    if isinstance(err, (WriteUnconfirmed, InterruptedInFlight)):  # sent: the cluster may hold it
        landed.append("the registry whose write was not confirmed may already have been written without it")
    done = ", and ".join(landed[0 if written else 1 :])
    return f"{err}; but {done}: run `sealer keys compromised {env_name} {key_id}` again to finish"


def _direct(cfg: config.Config, env_names: list[str]) -> list[config.Environment]:
    envs = [cfg.environments.get(name) for name in env_names]
    return [
        e for e in envs if e is not None and e.registry is not None and e.registry.delivery == registry.DIRECT
    ]


def _publish(
    cfg: config.Config, env: config.Environment, pub: registry.Publication, written: list[str] | None = None
) -> list[tuple[str, registry.Entry]]:
    assert env.registry is not None
    return [(env.name, entry) for entry in publish_registry(env.registry, env.name, pub, written)]


def _holder(cfg: config.Config, env: str) -> Callable[[str], bool]:
    """Whether a branch (local or remote-tracking) still carries a key in `env`'s ledger: an
    accepted key none carries belongs to a rotation closed unmerged."""
    return lambda key_id: bool(git.refs_holding(cfg.root, key_id, layout.ledger_file(env)))


def _ledger_at(cfg: config.Config, env: str, commit: str) -> list[KeyRecord]:
    rel = layout.ledger_file(env)
    text = git.file_at(cfg.root, commit, rel)
    return ledger.parse(env, text, f"{commit[:12]}:{rel}") if text else []


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
        if context:  # the cluster asked for (one of several, or the one): its registry alone
            return [(context if context in settings.contexts else registry.CURRENT_CONTEXT, context)]
        return [(c or registry.CURRENT_CONTEXT, c) for c in settings.contexts or (None,)]
    named = clusters.cluster_of(env, context) if context else None
    if named is not None:  # #17: one cluster of clusterContexts, its registry alone
        return [(named, context)]
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
    elif context and settings.delivery == registry.DIRECT:
        # The cluster asked for: its registry through the kubeconfig its Secret was read through,
        # so a context that file lacks is bad input there (exit 2), never a drift row here.
        settings = registry.Settings(**{**settings.__dict__, "kubeconfig": kubeconfig})
    records = ledger.load(cfg.root, env.name)
    pub = registry.Publication(tuple(records), held=_holder(cfg, env.name))
    return [
        _compare_one(settings, env.name, cluster, pub, where)
        for cluster, where in _targets(env, settings, context)
    ]


def _compare_one(
    settings: registry.Settings, env: str, cluster: str, pub: registry.Publication, context: str | None
) -> dict[str, Any]:
    """Direct delivery: the live registry against what publishing the ledger would write (the
    accepted keys of rotations still open kept); GitOps: against the ledger's registry."""
    wanted = registry.build(env, cluster, pub.base)
    try:
        live = read_live_registry(settings, context)
    except SealerError as err:  # malformed, or that cluster's context unreadable: never in sync
        return _row(wanted, None, DRIFT, str(err))
    if live is None:
        state = PENDING if settings.delivery == registry.GITOPS else DRIFT
        return _row(wanted, None, state, f"no {settings.kind} {settings.namespace}/{settings.name}")
    if settings.delivery == registry.DIRECT:
        wanted = registry.compose(env, cluster, pub, live)
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
        data = strictjson.loads(text)  # a field given twice: not a serial
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
