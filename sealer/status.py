"""`sealer status`: does the cluster serve the key the ledger says is current, and does its key
registry list what the ledger gives (#16)?"""

from __future__ import annotations

from typing import Any

from sealer import clusters, config, drift, kube, ledger, registry_delivery
from sealer.backends import DEFAULT_BACKEND
from sealer.errors import BackendError, MissingCredential, SealerError
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED

# What each store status means for the rotation it belongs to (`keys list`, `status`).
PHASES = {
    PENDING: "registered: not valid until its rotation is committed",
    ACCEPTED: "accepted: valid beside the old key; `sealer rotate --finish` once deployed",
    ACTIVE: "deployed",
    GRACE: "old key in its grace window",
    REVOKED: "revoked",
}


def compare(cfg: config.Config, env_name: str, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
    env = cfg.env(env_name)
    listings = _Listings()
    phase = _Phases(listings)

    def one(cfg: config.Config, env_name: str, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
        return _compare_cluster(cfg, env_name, kubeconfig, context, phase)

    if context is not None:
        clusters.cluster_of(env, context)  # with clusterContexts, one of theirs (exit 2 otherwise)
    if clusters.contexts(env) and context is None:  # #17: each cluster through its own context
        kube.require_kubeconfig(kubeconfig)  # none at all: exit 2, as with one cluster
        report = clusters.compare_all(cfg, env, kubeconfig, one, phase)
    else:
        report = one(cfg, env_name, kubeconfig, context)
    # #17: the store against the ledger, once per environment however many clusters serve it,
    # from the listing the phases read (one login).
    report["drift"] = [d.as_dict() for d in drift.compare(cfg, env.name, listing=listings(cfg, env))]
    report["in_sync"] = report["in_sync"] and not report["drift"]
    return report


def _compare_cluster(
    cfg: config.Config, env_name: str, kubeconfig: str | None, context: str | None, phase: _Phases
) -> dict[str, Any]:
    env = cfg.env(env_name)
    records = ledger.load_expected(cfg.root, env.name)
    current = ledger.current(env.keys, records)
    by_fp = {r.fingerprint: r for r in records}
    live = kube.read_secret_fingerprints(kubeconfig, context, env.namespace, env.secret_name)
    entries = []
    for name in env.keys:
        live_record = by_fp.get(live.get(name, ""))
        want = current.get(name)
        if name not in live:
            state = "missing in cluster"
        elif live_record is None:
            state = "cluster serves a key the ledger does not know"
        elif want and live_record.key_id == want.key_id:
            state = "in sync"
        else:
            state = f"cluster serves {live_record.status} key (sync pending)"
        entries.append(
            {
                "entry": name,
                "state": state,
                "live_key_id": live_record.key_id if live_record else None,
                "ledger_key_id": want.key_id if want else None,
                "phase": phase(cfg, env, want.key_id if want else None, state == "in sync"),
            }
        )
    registries = registry_delivery.compare_live(cfg, env.name, kubeconfig, context)  # #16
    return {
        "env": env.name,
        "namespace": env.namespace,
        "secret": env.secret_name,
        "in_sync": all(e["state"] == "in sync" for e in entries + registries),
        "entries": entries,
        "registries": registries,
    }


class _Listings:
    """Each environment's store opened and listed once per `status` run, for the phases and for
    drift alike: a Vault JWT or AppRole login each time would be one per key. A store that
    cannot be read is kept as its error (drift reports it: never clean)."""

    def __init__(self) -> None:
        self._read: dict[str, drift.Listing] = {}

    def __call__(self, cfg: config.Config, env: config.Environment) -> drift.Listing:
        if env.name not in self._read:
            self._read[env.name] = drift.read_store(cfg, env.name)
        return self._read[env.name]


class _Phases:
    """The rotation phase of the ledger's current key: with the Git ledger the merge deploys it;
    with an external store, the store says (accepted until `sealer rotate --finish`)."""

    def __init__(self, listings: _Listings | None = None) -> None:
        self.listings = listings or _Listings()
        self._statuses: dict[str, dict[str, str]] = {}  # env -> key id -> store status

    def __call__(self, cfg: config.Config, env: config.Environment, key_id: str | None, served: bool) -> str:
        if key_id is None:
            return "none"
        if env.backend_kind == DEFAULT_BACKEND:
            return "deployed" if served else "committed: deployed when merged and synced"
        stored = self.listings(cfg, env)
        if isinstance(stored, (BackendError, MissingCredential)):
            return f"unknown ({stored})"
        if isinstance(stored, SealerError):
            raise stored  # bad options or a missing extra: one clear line, as before any listing
        if env.name not in self._statuses:
            self._statuses[env.name] = {r.key_id: r.status for r in stored}
        return PHASES.get(self._statuses[env.name].get(key_id, ""), "not in the store")
