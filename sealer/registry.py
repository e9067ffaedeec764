"""The key registry: what a verifying service needs to accept or refuse a key, and no more.

Per environment and cluster, the `k8s-secrets` store publishes the keys that are valid now —
active (or accepted) keys, and keys in grace with their `revoke_at` — as SHA-256 fingerprints
with key ids and expiry; never a key. The document (format `FORMAT`, documented in the README)
is a pure function of the ledger: the same ledger gives the same bytes, so `render` re-creates
it and `review` recomputes it. It carries a serial derived from the ledger (`serial_of`) that
every legitimate ledger change raises and a rollback lowers, so a verifier that remembers the
highest serial it has seen refuses an old registry brought back by a Git revert.

GitOps delivery (the default) commits it as a ConfigMap (or Secret) manifest beside the ledger
change; direct delivery writes it through the Kubernetes API (`sealer.backends.k8s_registry`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import layout, repofiles, strictjson, yamlio
from sealer.errors import BadInput, ConfigError
from sealer.records import ACTIVE, EXPIRED, GRACE, PENDING, REVOKED, UNKNOWN, VALID, KeyRecord, iso, parse_iso

FORMAT = "sealer.dev/key-registry/v1"
DATA_KEY = "registry.json"  # the ConfigMap / Secret entry a verifier mounts and reads
SERIAL_ANNOTATION = "sealer.dev/registry-serial"
# Direct delivery only (never in a GitOps manifest): which listed keys are only accepted (a rotation
# not deployed yet), and the part of the serial no ledger gives (raised when an abandoned rotation's
# accepted keys are dropped, so the serial still grows).
ACCEPTED_ANNOTATION = "sealer.dev/registry-accepted"
OFFSET_ANNOTATION = "sealer.dev/registry-serial-offset"
ENV_LABEL = "sealer.dev/env"
CLUSTER_LABEL = "sealer.dev/cluster"
MANAGED_BY = ("app.kubernetes.io/managed-by", "sealer")
STALE = "stale-serial"  # a verdict: the registry is older than one the verifier has seen

GITOPS, DIRECT = "gitops", "direct"
CURRENT_CONTEXT = "current-context"  # a direct registry's cluster name when no context is named
KINDS = ("ConfigMap", "Secret")
ACCEPTED = "accepted"  # a key valid before it is delivered (two-phase rotations)
LISTED = (ACCEPTED, ACTIVE, GRACE)  # the statuses a registry lists: the keys a verifier accepts

# The serial: a sum of per-record weights that only grow along a record's life (pending ->
# accepted -> active -> grace -> revoked; a grace window only ever shortens, see
# `records.plan_revoke`). Every change sealer makes to a ledger raises it; a rollback lowers it.
_WEIGHT = {PENDING: 0, ACCEPTED: 1, ACTIVE: 2}
_EPOCH_LIMIT = 2**32  # seconds since 1970: year 2106
_REVOKED_WEIGHT = 2**33  # above any grace weight (3 + 2**32 - 1 at most)

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_CONTEXT = re.compile(r"[^,\s]{1,253}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class RegistryError(BadInput):
    """A registry that is missing, unreadable or malformed: a verifier refuses every key."""


@dataclass(frozen=True)
class Settings:
    """How the `k8s-secrets` store delivers an environment's registry (backend options)."""

    delivery: str  # gitops | direct
    kind: str  # ConfigMap | Secret
    namespace: str  # the verifier's namespace
    name: str
    kubeconfig: str | None = None  # direct: a kubeconfig file [default: $KUBECONFIG, ~/.kube/config]
    contexts: tuple[str, ...] = ()  # direct: the kubeconfig contexts to write to [default: current]


OPTIONS = (
    "delivery",
    "registry_kind",
    "registry_namespace",
    "registry_name",
    "registry_env",  # direct: the environment whose registry this store writes (sealer.yaml sets it)
    "kubeconfig",
    "contexts",
)
# The options sealer fills from the environment (config), never given in sealer.yaml or by
# `backend set --option`: one written there would be silently replaced, or unused.
FILLED = ("registry_env",)


def default_name(secret_name: str) -> str:
    return f"{secret_name}-registry"[:253]


def settings(
    options: Mapping[str, str], namespace: str, name: str, where: str = "backend.options"
) -> Settings:
    """The delivery settings in a `k8s-secrets` store's options; ConfigError for a bad value."""
    delivery = _choice(options, "delivery", (GITOPS, DIRECT), GITOPS, where)
    kind = _choice(options, "registry_kind", KINDS, "Secret" if delivery == DIRECT else "ConfigMap", where)
    if delivery == GITOPS and kind == "Secret":  # a plain Secret in Git: `sealer scan` blocks the commit
        raise ConfigError(
            f"{where}.registry_kind", "a registry committed to Git is a ConfigMap (Secret: delivery direct)"
        )
    contexts = tuple(c for c in options.get("contexts", "").split(",") if c)
    for context in contexts:
        _pattern(context, _CONTEXT, f"{where}.contexts", "kubeconfig context names, comma-separated")
    return Settings(
        delivery=delivery,
        kind=kind,
        namespace=_pattern(
            options.get("registry_namespace", namespace), _LABEL, f"{where}.registry_namespace"
        ),
        name=_pattern(options.get("registry_name", name), _NAME, f"{where}.registry_name"),
        kubeconfig=options.get("kubeconfig") or None,
        contexts=contexts,
    )


def _choice(options: Mapping[str, str], key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    value = options.get(key, default)
    if value not in allowed:
        raise ConfigError(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _pattern(value: str, pattern: re.Pattern[str], where: str, what: str = "a DNS name") -> str:
    if not pattern.fullmatch(value):
        raise ConfigError(where, f"must be {what}, got {value!r}")
    return value


# -- the document --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    name: str  # the entry the key is sealed under
    key_id: str
    sha256: str
    expires: str | None
    revoke_at: str | None  # set for a key in grace: valid until then


@dataclass(frozen=True)
class Registry:
    env: str
    cluster: str
    serial: int
    keys: tuple[Entry, ...]
    accepted: tuple[str, ...] = ()  # direct delivery: key ids listed as accepted only (sorted)
    offset: int = 0  # direct delivery: the part of the serial the ledger does not give

    def ledger_serial(self) -> int:
        """The serial of the ledger this registry was built on."""
        return self.serial - self.offset - len(self.accepted)

    def payload(self) -> str:
        """The canonical JSON text: sorted keys, no spaces, one line."""
        data = {
            "format": FORMAT,
            "env": self.env,
            "cluster": self.cluster,
            "serial": self.serial,
            "keys": [entry.__dict__ for entry in self.keys],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"

    def digest(self) -> str:
        return hashlib.sha256(self.payload().encode()).hexdigest()


def _weight(record: KeyRecord) -> int:
    if record.status == REVOKED:
        return _REVOKED_WEIGHT
    if record.status == GRACE:
        until = int(record.revoke_at.timestamp()) if record.revoke_at else _EPOCH_LIMIT - 1
        return 3 + _EPOCH_LIMIT - 1 - min(max(until, 0), _EPOCH_LIMIT - 1)
    return _WEIGHT.get(record.status, 0)


def serial_of(records: Iterable[KeyRecord]) -> int:
    """Raised by every change sealer makes to a ledger (a new key, a status moving on, a grace
    window shortened); lowered by a rollback, or by deleting records (never do that)."""
    return sum(_weight(record) for record in records)


def build(env: str, cluster: str, records: Sequence[KeyRecord]) -> Registry:
    """The registry of `env` for `cluster`: a function of the ledger alone (not of the clock:
    the verifier applies `revoke_at` and `expires`), so it is reproducible byte for byte."""
    listed = sorted((r for r in records if r.status in LISTED), key=lambda r: (r.name, r.key_id))
    return Registry(env, cluster, serial_of(records), tuple(_entry_of(r) for r in listed))


def _entry_of(r: KeyRecord) -> Entry:
    return Entry(
        r.name, r.key_id, r.fingerprint, iso(r.expires), iso(r.revoke_at) if r.status == GRACE else None
    )


# -- direct delivery: a phase's registry -----------------------------------------------------------


def _always(_key_id: str) -> bool:
    return True


@dataclass(frozen=True)
class Publication:
    """What one phase of direct delivery publishes: a ledger (`base`) and, beside it as accepted,
    the new keys of a rotation not deployed yet. Keys the live registry lists as accepted stay
    accepted while `held` says a branch still carries them (unless named in `dropped`: an
    abandoned rotation); otherwise they are dropped and the serial is raised past the live one."""

    base: tuple[KeyRecord, ...]
    accepted: tuple[KeyRecord, ...] = ()
    held: Callable[[str], bool] = field(default=_always, compare=False)
    dropped: frozenset[str] = frozenset()
    done_at: int | None = None  # a live registry whose ledger serial reaches this is past this phase


def compose(env: str, cluster: str, pub: Publication, live: Registry | None) -> Registry:
    """The registry `pub` gives for `cluster`, the live one (if any) taken into account."""
    base = build(env, cluster, pub.base)
    in_base = {r.key_id for r in pub.base}
    accepted = {r.key_id: _entry_of(r) for r in pub.accepted if r.key_id not in in_base}
    dropping = False
    for entry in live.keys if live else ():
        if entry.key_id not in (live.accepted if live else ()) or entry.key_id in in_base:
            continue  # a ledger key, or an accepted key the ledger now records
        if entry.key_id in accepted:
            continue
        if entry.key_id not in pub.dropped and pub.held(entry.key_id):
            accepted[entry.key_id] = entry
        else:
            dropping = True
    offset = live.offset if live else 0
    serial = base.serial + len(accepted) + offset
    if dropping and live is not None and serial <= live.serial:
        offset += live.serial + 1 - serial  # fewer keys, yet a newer registry
        serial = live.serial + 1
    keys = tuple(sorted((*base.keys, *accepted.values()), key=lambda e: (e.name, e.key_id)))
    return Registry(env, cluster, serial, keys, tuple(sorted(accepted)), offset)


def manifest(cfg: Settings, registry: Registry) -> str:
    """The ConfigMap a GitOps tool applies: deterministic text."""
    header = (
        f"# Managed by sealer: the key registry of {registry.env}/{registry.cluster} (fingerprints, "
        "never a key).\n# Do not edit: `sealer render` re-creates it from the ledger and `sealer "
        "review` fails a copy that differs.\n"
    )
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(cfg, registry),
        "data": {DATA_KEY: registry.payload()},
    }
    return header + yamlio.dump(doc)


def object_metadata(cfg: Settings, registry: Registry) -> dict[str, Any]:
    annotations = {SERIAL_ANNOTATION: str(registry.serial)}
    if registry.accepted:
        annotations[ACCEPTED_ANNOTATION] = ",".join(registry.accepted)
    if registry.offset:
        annotations[OFFSET_ANNOTATION] = str(registry.offset)
    return {
        "name": cfg.name,
        "namespace": cfg.namespace,
        "labels": {MANAGED_BY[0]: MANAGED_BY[1], ENV_LABEL: registry.env, CLUSTER_LABEL: registry.cluster},
        "annotations": annotations,
    }


def files(
    env: str, clusters: Sequence[str], cfg: Settings | None, records: Sequence[KeyRecord]
) -> dict[str, bytes]:
    """{repo-relative path: bytes} of the GitOps registry manifests of `env` (one per cluster);
    empty when the environment's store delivers no registry through Git."""
    if cfg is None or cfg.delivery != GITOPS:
        return {}
    return {
        layout.registry_file(env, cluster): manifest(cfg, build(env, cluster, records)).encode()
        for cluster in clusters
    }


# -- reading one back ----------------------------------------------------------------------------


def parse_payload(text: str | bytes, source: str) -> Registry:
    """A registry document, checked strictly; RegistryError naming `source` otherwise."""
    try:
        data = strictjson.loads(text)  # a key given twice would mean two things: refused
        if data.get("format") != FORMAT:
            raise RegistryError(f"{source}: not a key registry of format {FORMAT}")
        serial = data["serial"]
        if type(serial) is not int or serial < 0:
            raise ValueError("serial")
        keys = tuple(_entry(item) for item in data["keys"])
        return Registry(_text(data["env"]), _text(data["cluster"]), serial, keys)
    except RegistryError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        raise RegistryError(f"{source}: not a readable key registry") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("text")
    return value


def _entry(item: Mapping[str, Any]) -> Entry:
    sha = _text(item["sha256"])
    if not _HEX64.fullmatch(sha):
        raise ValueError("sha256")
    times = [item.get(k) for k in ("expires", "revoke_at")]
    for moment in times:
        if moment is not None:
            parse_iso(_text(moment))  # ValueError when it is not a time
    return Entry(_text(item["name"]), _text(item["key_id"]), sha, times[0], times[1])


def from_object(doc: Any, source: str) -> Registry:
    """The registry inside a ConfigMap or Secret (a manifest, or an object read from the API),
    with direct delivery's annotations."""
    found = _document(doc, source)
    metadata = doc.get("metadata") or {}
    annotations = (metadata.get("annotations") if isinstance(metadata, Mapping) else None) or {}
    if not isinstance(annotations, Mapping):
        raise RegistryError(f"{source}: its annotations are not a map")
    accepted = tuple(k for k in str(annotations.get(ACCEPTED_ANNOTATION, "")).split(",") if k)
    offset = str(annotations.get(OFFSET_ANNOTATION, "0"))
    listed = {entry.key_id for entry in found.keys}
    if not offset.isdigit() or not set(accepted) <= listed or tuple(sorted(set(accepted))) != accepted:
        raise RegistryError(f"{source}: its annotations {ACCEPTED_ANNOTATION} / {OFFSET_ANNOTATION} are bad")
    whole = Registry(found.env, found.cluster, found.serial, found.keys, accepted, int(offset))
    if whole.ledger_serial() < 0:
        raise RegistryError(f"{source}: its serial is below its annotations' share")
    return whole


def _document(doc: Any, source: str) -> Registry:
    if not isinstance(doc, Mapping) or doc.get("kind") not in KINDS:
        raise RegistryError(f"{source}: not a ConfigMap or Secret")
    if doc["kind"] == "Secret" and isinstance(doc.get("data"), Mapping) and DATA_KEY in doc["data"]:
        import base64
        import binascii

        try:
            return parse_payload(base64.b64decode(str(doc["data"][DATA_KEY]), validate=True), source)
        except binascii.Error:
            raise RegistryError(f"{source}: {DATA_KEY} is not base64") from None
    data = doc.get("stringData" if doc["kind"] == "Secret" else "data")
    if not isinstance(data, Mapping) or not isinstance(data.get(DATA_KEY), str):
        raise RegistryError(f"{source}: no {DATA_KEY} entry")
    return parse_payload(data[DATA_KEY], source)


def load(path: Path) -> Registry:
    """A registry file: the manifest sealer renders, or the mounted `registry.json` itself (in
    a Pod's ConfigMap or Secret volume too). Missing or unreadable is a RegistryError: fail closed."""
    try:
        # #13: no FIFO, no symlink but a ConfigMap or Secret volume's (a verifier's mounted registry)
        raw = repofiles.read_input(path, "key registry", user_path=True, projected=True)
    except BadInput as err:
        raise RegistryError(str(err)) from None
    if raw.lstrip().startswith(b"{"):
        return parse_payload(raw, str(path))
    try:
        docs = yamlio.load_documents(raw, str(path))
    except BadInput as err:
        raise RegistryError(str(err)) from None
    if len(docs) != 1:
        raise RegistryError(f"{path}: expected one ConfigMap or Secret")
    return from_object(docs[0], str(path))


# -- the reference verifier ----------------------------------------------------------------------


def check(registry: Registry, fingerprint: str, now: dt.datetime) -> str:
    """valid / revoked / expired / unknown for a key with this SHA-256, by the registry alone.
    Every entry is compared in constant time, with no early exit."""
    found: Entry | None = None
    for entry in registry.keys:
        if hmac.compare_digest(entry.sha256.encode(), fingerprint.encode()):
            found = entry
    if found is None:
        return UNKNOWN
    revoke_at, expires = parse_iso(found.revoke_at), parse_iso(found.expires)
    if revoke_at is not None and revoke_at <= now:
        return REVOKED
    if expires is not None and expires <= now:
        return EXPIRED
    return VALID


def verify(registry: Registry, env: str, fingerprint: str, seen_serial: int, now: dt.datetime) -> str:
    """The verdict of a verifier that has seen `seen_serial`: `stale-serial` for an older
    registry (a rollback), whatever the key; RegistryError for another environment's."""
    if registry.env != env:
        raise RegistryError(f"the key registry is {registry.env}'s, not {env}'s")
    if registry.serial < seen_serial:
        return STALE
    return check(registry, fingerprint, now)
