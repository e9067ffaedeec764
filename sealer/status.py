"""`sealer status`: does the cluster serve the key the ledger says is current, and does its key
registry list what the ledger gives (#16)?"""

from __future__ import annotations

from typing import Any

from sealer import clusters, config, ledger, registry_delivery
from sealer.backends import DEFAULT_BACKEND, open_store
from sealer.errors import BackendError, SealerError
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
    from sealer import kube

    env = cfg.env(env_name)
    if clusters.several(env) and context is None:  # #17: each cluster through its own context
        return _compare_clusters(cfg, env, kubeconfig)
    records = ledger.load(cfg.root, env.name)
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
                "phase": _phase(cfg, env, want.key_id if want else None, state == "in sync"),
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


def _compare_clusters(cfg: config.Config, env: config.Environment, kubeconfig: str | None) -> dict[str, Any]:
    """Every cluster of `clusterContexts` compared on its own, then merged: in sync only when
    each is; a cluster left out of the map or unreachable is reported and is never in sync."""
    current = ledger.current(env.keys, ledger.load(cfg.root, env.name))  # a bad ledger: exit 2
    reports = [_one_cluster(cfg, env, kubeconfig, c.name) for c in env.clusters]
    entries = clusters.merged_entries(
        {n: r.key_id if (r := current.get(n)) else None for n in env.keys}, reports
    )
    for row in entries:
        row["phase"] = _phase(cfg, env, row["ledger_key_id"], row["state"] == clusters.IN_SYNC)
    views = [r.as_dict() for r in reports]
    return {
        "env": env.name,
        "namespace": env.namespace,
        "secret": env.secret_name,
        "in_sync": all(v["in_sync"] for v in views),
        "entries": entries,
        "registries": [row for r in reports for row in r.registries],
        "clusters": views,
    }


def _one_cluster(
    cfg: config.Config, env: config.Environment, kubeconfig: str | None, name: str
) -> clusters.ClusterReport:
    context = env.cluster_contexts.get(name)
    if context is None:
        return clusters.ClusterReport(name, None, [], [], clusters.NO_CONTEXT)
    try:
        one = compare(cfg, env.name, kubeconfig, context)
    except SealerError as err:  # refused, unreachable, no Secret: reported, and not in sync
        return clusters.ClusterReport(name, context, [], [], str(err))
    # Its own key registry only: a GitOps registry is named after the cluster, a direct one the context.
    mine = [row for row in one["registries"] if row["cluster"] in (name, context)]
    return clusters.ClusterReport(name, context, one["entries"], mine)


def _phase(cfg: config.Config, env: config.Environment, key_id: str | None, served: bool) -> str:
    """The rotation phase of the ledger's current key: with the Git ledger the merge deploys it;
    with an external store, the store says (accepted until `sealer rotate --finish`)."""
    if key_id is None:
        return "none"
    if env.backend_kind == DEFAULT_BACKEND:
        return "deployed" if served else "committed: deployed when merged and synced"
    try:
        stored = {
            r.key_id: r.status
            for r in open_store(env.backend_kind, env.backend_options, cfg.root).list(env.name)
        }
    except BackendError as err:
        return f"unknown ({err})"
    return PHASES.get(stored.get(key_id, ""), "not in the store")
