"""Direct delivery of the key registry (#16): the `k8s-secrets` store writes it as a Secret (or
ConfigMap) through the Kubernetes API, for clusters the pipeline can reach.

Writes are conditional on the `resourceVersion` read just before: a 409 means someone wrote in
between, so the fresh object is read and the decision taken again — never overwritten blind.
A live registry is replaced only when it is this environment's (sealer's labels) and built on
a ledger no newer than ours (its serial); a newer one is left alone, so a pipeline running on an
old checkout cannot bring revoked keys back. What each phase publishes (a ledger, and a
rotation's keys accepted beside it) is `registry.compose`'s, decided on the live object read.
A write is read back: an answer alone (a proxy's) never counts as published.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Sequence
from typing import Any

from sealer import kube_objects, registry
from sealer.backends.base import reading_back
from sealer.errors import BackendError, WriteUnconfirmed
from sealer.records import KeyRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def publish(
    settings: registry.Settings,
    env: str,
    what: registry.Publication | Sequence[KeyRecord],
    written: list[str] | None = None,
) -> list[registry.Entry]:
    """Bring the registry of `env` to every configured context (the current one by default);
    a plain ledger keeps the live accepted keys. Returns the accepted keys it dropped. Each
    cluster whose registry it wrote (and read back) joins `written`: one failing later leaves
    those before it reported."""
    pub = what if isinstance(what, registry.Publication) else registry.Publication(tuple(what))
    dropped: dict[str, registry.Entry] = {}
    for context in settings.contexts or (None,):
        api = kube_objects.client(settings.kubeconfig, context)
        cluster = context or registry.CURRENT_CONTEXT
        for entry in _publish_one(api, settings, env, cluster, pub, written):
            dropped[entry.key_id] = entry
    return list(dropped.values())


def _publish_one(
    api: Any,
    settings: registry.Settings,
    env: str,
    cluster: str,
    pub: registry.Publication,
    written: list[str] | None = None,
) -> list[registry.Entry]:
    where = f"{settings.kind} {settings.namespace}/{settings.name}"
    for _attempt in range(MAX_ATTEMPTS):
        live = kube_objects.read(api, settings.kind, settings.namespace, settings.name)
        current = _current(live, env, where)
        if current is not None and pub.done_at is not None and current.ledger_serial() >= pub.done_at:
            return []  # a later phase was published already
        wanted = registry.compose(env, cluster, pub, current)
        if current is not None and _settled(current, wanted, pub, where):
            return []
        if current is None and live is not None:
            _not_newer(live, wanted, where)
        body = _body(settings, wanted, live)
        try:
            if live is None:
                kube_objects.create(api, settings.kind, settings.namespace, body)
            else:
                kube_objects.replace(api, settings.kind, settings.namespace, body)
        except kube_objects.Conflict:
            log.debug("k8s-secrets: %s changed while we wrote it: reading it again", where)
            continue
        _confirm(api, settings, env, wanted, where)
        if written is not None:
            written.append(cluster)
        log.debug("k8s-secrets: %s now has serial %d", where, wanted.serial)
        return _dropped(current, wanted)
    raise BackendError(
        f"k8s-secrets: {where} changed under every one of {MAX_ATTEMPTS} writes: not written; run again"
    )


def _confirm(api: Any, settings: registry.Settings, env: str, wanted: registry.Registry, where: str) -> None:
    """Read the registry back: an API server or a proxy may answer a write with the object and
    store nothing, and a registry not written must never count as published. A newer registry
    (a later publisher's) holds what ours would have."""
    with reading_back():
        seen = _current(kube_objects.read(api, settings.kind, settings.namespace, settings.name), env, where)
    if seen is None or (seen != wanted and seen.serial <= wanted.serial):
        raise WriteUnconfirmed(
            f"k8s-secrets: {where} does not hold what was written: not counted as published; run again"
        )


def _dropped(current: registry.Registry | None, wanted: registry.Registry) -> list[registry.Entry]:
    """The accepted keys the live registry listed and the new one does not."""
    if current is None:
        return []
    gone = set(current.accepted) - set(wanted.accepted) - {e.key_id for e in wanted.keys}
    return [e for e in current.keys if e.key_id in gone]


def _current(live: dict[str, Any] | None, env: str, where: str) -> registry.Registry | None:
    """The live registry; None when there is none, or it is ours but unreadable (the ledger's
    version replaces it); BackendError when the object is not this environment's registry."""
    if live is None:
        return None
    labels = (live.get("metadata") or {}).get("labels") or {}
    key, value = registry.MANAGED_BY
    if labels.get(key) != value or labels.get(registry.ENV_LABEL) != env:
        raise BackendError(
            f"k8s-secrets: {where} is not the key registry of {env} (its labels say otherwise): "
            "not overwritten"
        )
    try:
        return registry.from_object(live, where)
    except registry.RegistryError:
        return None


def _not_newer(live: dict[str, Any], wanted: registry.Registry, where: str) -> None:
    """Ours but unreadable (bad annotations, another version's format): replaced only when its
    serial annotation, where there is one, is below ours; an old checkout never rolls it back."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    serial = str(annotations.get(registry.SERIAL_ANNOTATION, "") if isinstance(annotations, dict) else "")
    if serial.isdigit() and int(serial) >= wanted.serial:
        raise BackendError(
            f"k8s-secrets: {where} is unreadable but has serial {serial}, not below the ledger's "
            f"{wanted.serial}: not overwritten (publish from an up-to-date ledger, or delete it)"
        )


def _settled(
    current: registry.Registry, wanted: registry.Registry, pub: registry.Publication, where: str
) -> bool:
    """True when the live registry is the wanted one; BackendError when it must not be replaced:
    built on a newer ledger than ours, or newer (or different at the same serial) than ours."""
    base = registry.serial_of(pub.base)
    if (
        current.ledger_serial() > base
        or current.serial > wanted.serial
        or (current.serial == wanted.serial and current != wanted)
    ):
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
