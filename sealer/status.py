"""`sealer status`: does the cluster serve the key the ledger says is current, and does its key
registry list what the ledger gives (#16)?"""

from __future__ import annotations

from typing import Any

from sealer import config, ledger, registry_delivery


def compare(cfg: config.Config, env_name: str, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
    from sealer import kube

    env = cfg.env(env_name)
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
