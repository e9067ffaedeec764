"""Several clusters per environment (#17): what each cluster of `clusterContexts` serves.

Each cluster's live Secret is read through its own kubeconfig context (fingerprints only, as
`sealer.kube` reads them). A cluster that cannot be read is never taken to agree: `status`
reports it and `rotate --finish` activates nothing until every cluster serves the new key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sealer import kube, ledger, registry
from sealer.config import Config, Environment
from sealer.errors import BadInput, NotDeployed, SealerError
from sealer.records import KeyRecord

NO_CONTEXT = "no context in clusterContexts"
UNMAPPED = "read through the context named after it: sealer.yaml has no clusterContexts"


@dataclass(frozen=True)
class LiveCluster:
    """One cluster as read: entry -> SHA-256 of the value it serves, or why it could not be read."""

    cluster: str
    context: str | None
    served: dict[str, str] | None  # None: unreachable
    error: str = ""


def several(env: Environment) -> bool:
    """Does `rotate --finish` read each cluster through its own context (sealer.yaml maps them)?"""
    return bool(env.cluster_contexts)


def contexts(env: Environment) -> dict[str, str]:
    """cluster -> the kubeconfig context `status` reads it through: clusterContexts', else, for
    several clusters, the one named after each (as `--context` and the key registries take it).
    Read through the current context alone, one cluster would answer for all of them."""
    if env.cluster_contexts or len(env.clusters) < 2:
        return dict(env.cluster_contexts)
    return {c.name: c.name for c in env.clusters}


def cluster_of(env: Environment, context: str) -> str | None:
    """The cluster a `--context` names; None for an environment of one cluster (or a context
    a direct registry delivery lists: its registries are the contexts'). A context that names
    no cluster of several is bad input: read alone it would pass for each of them, every
    cluster's key registry compared with the one it serves. With clusterContexts the cluster
    is the one mapped to it; without, the one it is named after (as `status` reads each
    cluster's registry when no `--context` is given)."""
    for name, known in env.cluster_contexts.items():
        if known == context:
            return name
    if env.cluster_contexts:
        raise BadInput(
            f"{env.name}: --context {context} is none of its clusterContexts "
            f"({', '.join(env.cluster_contexts.values())}): name one, or none to read every cluster"
        )
    settings, names = env.registry, [c.name for c in env.clusters]
    if settings is not None and settings.delivery == registry.DIRECT and context in settings.contexts:
        return None  # a direct delivery's registries are its contexts': that one's alone
    if context in names:
        return context
    if len(names) < 2:
        return None
    raise BadInput(
        f"{env.name}: --context {context} is none of its clusters ({', '.join(names)}) and sealer.yaml "
        "maps no context to them: set clusterContexts, or name a context called after the cluster"
    )


def read_all(env: Environment, kubeconfig: str | None) -> list[LiveCluster]:
    """Every cluster of the environment, in sealer.yaml's order; one left out of the map, one
    whose context reaches another's API server, or one that refuses or cannot be reached, is
    unreachable with the reason."""
    shared = shared_servers(env, kubeconfig)
    return [
        LiveCluster(c.name, context, None, shared[c.name])
        if c.name in shared
        else _read(env, c.name, context, kubeconfig)
        for c in env.clusters
        for context in [env.cluster_contexts.get(c.name)]
    ]


def shared_servers(env: Environment, kubeconfig: str | None) -> dict[str, str]:
    """cluster -> why it is not read: its context reaches the API server another cluster's
    context reaches too (two names for one cluster in a kubeconfig), so one cluster would answer
    for both. A context that cannot be loaded is left to the read, which reports why."""
    by_server: dict[str, list[tuple[str, str]]] = {}
    for cluster, context in contexts(env).items():
        try:
            by_server.setdefault(kube.server_of(kubeconfig, context), []).append((cluster, context))
        except SealerError:
            continue
    why = {}
    for server, named in by_server.items():
        for cluster, context in named if len(named) > 1 else ():
            others = ", ".join(f"{c}'s context {x}" for c, x in named if c != cluster)
            why[cluster] = (
                f"context {context} and {others} reach one API server ({server}): "
                "one cluster cannot answer for another"
            )
    return why


def _read(env: Environment, cluster: str, context: str | None, kubeconfig: str | None) -> LiveCluster:
    if context is None:
        return LiveCluster(cluster, None, None, NO_CONTEXT)
    try:
        served = kube.read_secret_fingerprints(kubeconfig, context, env.namespace, env.secret_name)
    except SealerError as err:  # wrong context, 401/403, unreachable, no Secret: fail closed
        return LiveCluster(cluster, context, None, str(err))
    return LiveCluster(cluster, context, served)


def not_serving(live: Iterable[LiveCluster], wanted: Iterable[KeyRecord]) -> list[str]:
    """Why the `wanted` keys are not deployed everywhere, one reason per cluster; [] when every
    cluster serves every one of them."""
    reasons = []
    for cluster in live:
        if cluster.served is None:
            reasons.append(f"cluster {cluster.cluster} cannot be read ({cluster.error})")
            continue
        behind = [r.name for r in wanted if cluster.served.get(r.name) != r.fingerprint]
        if behind:
            reasons.append(f"cluster {cluster.cluster} does not serve the new {', '.join(behind)} yet")
    return reasons


def require_deployed(env: Environment, wanted: list[KeyRecord], kubeconfig: str | None = None) -> None:
    """`rotate --finish` with several clusters: refuse until each of them serves `wanted`."""
    reasons = not_serving(read_all(env, kubeconfig), wanted)
    if reasons:
        raise NotDeployed(f"not deployed to every cluster: {'; '.join(reasons)}")


# -- sealer status: one report per cluster, merged -------------------------------------------------

IN_SYNC = "in sync"
# status's own single-cluster comparison (cfg, env, kubeconfig, context) and phase of a key id
CompareOne = Callable[[Config, str, str | None, str | None], dict[str, Any]]
PhaseOf = Callable[[Config, Environment, str | None, bool], str]


def compare_all(
    cfg: Config, env: Environment, kubeconfig: str | None, compare_one: CompareOne, phase: PhaseOf
) -> dict[str, Any]:
    """`sealer status` over every cluster: each compared on its own through its context, then
    merged; in sync only when each is. A cluster left out of the map or unreadable is reported
    and is never in sync."""
    current = ledger.current(env.keys, ledger.load_expected(cfg.root, env.name))  # bad or gone: exit 2
    shared, mapped = shared_servers(env, kubeconfig), contexts(env)
    reports = [
        ClusterReport(c.name, mapped[c.name], [], [], shared[c.name])
        if c.name in shared
        else _one_cluster(cfg, env, kubeconfig, c.name, mapped.get(c.name), compare_one)
        for c in env.clusters
    ]
    entries = merged_entries({n: r.key_id if (r := current.get(n)) else None for n in env.keys}, reports)
    for row in entries:
        row["phase"] = phase(cfg, env, row["ledger_key_id"], row["state"] == IN_SYNC)
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
    cfg: Config,
    env: Environment,
    kubeconfig: str | None,
    name: str,
    context: str | None,
    compare_one: CompareOne,
) -> ClusterReport:
    if context is None:
        return ClusterReport(name, None, [], [], NO_CONTEXT)
    try:
        one = compare_one(cfg, env.name, kubeconfig, context)
    except SealerError as err:  # refused, unreachable, no Secret: reported, and not in sync
        unmapped = "" if env.cluster_contexts else f" ({UNMAPPED})"
        return ClusterReport(name, context, [], [], f"{err}{unmapped}")
    # Its own key registry only: a GitOps registry is named after the cluster, a direct one the context.
    mine = [row for row in one["registries"] if row["cluster"] in (name, context)]
    return ClusterReport(name, context, one["entries"], mine)


@dataclass(frozen=True)
class ClusterReport:
    """`sealer status` of one cluster: its per-entry rows and registries, or why it cannot be read."""

    cluster: str
    context: str | None
    entries: list[dict[str, Any]]
    registries: list[dict[str, Any]]
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        in_sync = not self.error and all(r["state"] == IN_SYNC for r in self.entries + self.registries)
        return {**asdict(self), "reachable": not self.error, "in_sync": in_sync}


def merged_entries(wanted: dict[str, str | None], reports: list[ClusterReport]) -> list[dict[str, Any]]:
    """One row per entry (-> the ledger's key id) over every cluster: in sync only where every
    cluster is; clusters that serve different keys (or cannot be read) disagree, and the row
    names what each serves."""
    return [_merged(name, key_id, reports) for name, key_id in wanted.items()]


def _merged(name: str, ledger_key_id: str | None, reports: list[ClusterReport]) -> dict[str, Any]:
    rows = {r.cluster: next((e for e in r.entries if e["entry"] == name), None) for r in reports}
    served = {c: (row["live_key_id"] or "-") if row else "unreachable" for c, row in rows.items()}
    known = [row for row in rows.values() if row]
    if known and len(known) == len(rows) and all(row["state"] == IN_SYNC for row in known):
        state = IN_SYNC
    elif len(set(served.values())) > 1:
        state = "clusters disagree (" + ", ".join(f"{c}: {k}" for c, k in served.items()) + ")"
    elif known:
        state = f"{known[0]['state']} on every cluster"
    else:
        state = "no cluster could be read"
    live = {row["live_key_id"] for row in known}
    return {
        "entry": name,
        "state": state,
        "live_key_id": live.pop() if len(live) == 1 and len(known) == len(rows) else None,
        "ledger_key_id": ledger_key_id,
        "served_by": served,
    }
