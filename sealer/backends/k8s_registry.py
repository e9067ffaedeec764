"""Direct delivery of the key registry (#16): the `k8s-secrets` store writes it as a Secret (or
ConfigMap) through the Kubernetes API, for clusters the pipeline can reach.

Writes are conditional on the `resourceVersion` read just before: a 409 means someone wrote in
between, so the fresh object is read and the decision taken again — never overwritten blind.
A live registry is replaced only when it is this environment's (sealer's labels) and older
than the ledger's (its serial); a newer one is left alone, so a pipeline running on an old
checkout cannot bring revoked keys back.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

from sealer import kube_objects, registry
from sealer.errors import BackendError
from sealer.records import KeyRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def publish(settings: registry.Settings, env: str, records: Sequence[KeyRecord]) -> None:
    """Bring the registry of `env` to every configured context (the current one by default)."""
    for context in settings.contexts or (None,):
        wanted = registry.build(env, context or registry.CURRENT_CONTEXT, records)
        api = kube_objects.client(settings.kubeconfig, context)
        _publish_one(api, settings, wanted)


def _publish_one(api: Any, settings: registry.Settings, wanted: registry.Registry) -> None:
    where = f"{settings.kind} {settings.namespace}/{settings.name}"
    for _attempt in range(MAX_ATTEMPTS):
        live = kube_objects.read(api, settings.kind, settings.namespace, settings.name)
        if live is not None and _settled(live, wanted, where):
            return
        body = _body(settings, wanted, live)
        try:
            if live is None:
                kube_objects.create(api, settings.kind, settings.namespace, body)
            else:
                kube_objects.replace(api, settings.kind, settings.namespace, body)
        except kube_objects.Conflict:
            log.debug("k8s-secrets: %s changed while we wrote it: reading it again", where)
            continue
        log.debug("k8s-secrets: %s now has serial %d", where, wanted.serial)
        return
    raise BackendError(
        f"k8s-secrets: {where} changed under every one of {MAX_ATTEMPTS} writes: not written; run again"
    )


def _settled(live: dict[str, Any], wanted: registry.Registry, where: str) -> bool:
    """True when the live registry holds what the ledger gives; BackendError when it must not
    be replaced (not this environment's, or newer than the ledger)."""
    labels = (live.get("metadata") or {}).get("labels") or {}
    key, value = registry.MANAGED_BY
    if labels.get(key) != value or labels.get(registry.ENV_LABEL) != wanted.env:
        raise BackendError(
            f"k8s-secrets: {where} is not the key registry of {wanted.env} (its labels say otherwise): "
            "not overwritten"
        )
    try:
        current = registry.from_object(live, where)
    except registry.RegistryError:
        return False  # ours but unreadable: the ledger's version replaces it
    if current.serial > wanted.serial or (current.serial == wanted.serial and current.keys != wanted.keys):
        raise BackendError(
            f"k8s-secrets: {where} has serial {current.serial}, newer than (or different from) the "
            f"ledger's {wanted.serial}: not overwritten (publish from an up-to-date ledger)"
        )
    return current == wanted


def _body(
    settings: registry.Settings, wanted: registry.Registry, live: dict[str, Any] | None
) -> dict[str, Any]:
    metadata = registry.object_metadata(settings, wanted)
    if live is not None:
        metadata["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
    body: dict[str, Any] = {"apiVersion": "v1", "kind": settings.kind, "metadata": metadata}
    if settings.kind == "Secret":
        body["type"] = "Opaque"
        body["data"] = {registry.DATA_KEY: base64.b64encode(wanted.payload().encode()).decode()}
    else:
        body["data"] = {registry.DATA_KEY: wanted.payload()}
    return body


def read_live(settings: registry.Settings, context: str | None) -> registry.Registry | None:
    """The registry the cluster holds now, or None when there is none; RegistryError when unreadable."""
    api = kube_objects.client(settings.kubeconfig, context)
    live = kube_objects.read(api, settings.kind, settings.namespace, settings.name)
    where = f"{settings.kind} {settings.namespace}/{settings.name}"
    return None if live is None else registry.from_object(live, where)
