"""Kubernetes Secrets as sealer reads them: from manifests or from command-line entries."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import repofiles
from sealer.errors import BadInput

# Tools that keep a full copy of the object here would leak the plaintext into the template.
DROPPED_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
)
_ENTRY_NAME = re.compile(r"[-._a-zA-Z0-9]+")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_NAMESPACE = re.compile(_DNS_LABEL)
_NEWLINES = re.compile(r"[\r\n]")


@dataclass
class SecretSpec:
    name: str
    namespace: str
    type: str = "Opaque"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    immutable: bool | None = None


def check_entry_name(name: str) -> str:
    """A Secret data key as the API server accepts it (letters, digits, -_. ; not `.`/`..*`)."""
    if not (_ENTRY_NAME.fullmatch(name) and len(name) <= 253) or name == "." or name.startswith(".."):
        raise BadInput(f"invalid entry name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def check_name(name: str) -> str:
    """A Secret name: a DNS subdomain (lowercase letters, digits, '-', '.'; at most 253)."""
    if not (_NAME.fullmatch(name) and len(name) <= 253):
        raise BadInput(f"invalid Secret name {name!r}: use lowercase letters, digits, '-' and '.'")
    return name


def check_namespace(namespace: str) -> str:
    """A namespace: a DNS label (lowercase letters, digits, inner '-'; at most 63), or empty."""
    if namespace and not (_NAMESPACE.fullmatch(namespace) and len(namespace) <= 63):
        raise BadInput(f"invalid namespace {namespace!r}: use lowercase letters, digits and '-'")
    return namespace


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadInput(f"{where} must be a map of strings")
    return {str(k): v for k, v in value.items()}


def _decode_data(data: dict[str, str], source: str) -> dict[str, bytes]:
    """Standard base64 values; line breaks are ignored, as the API server's decoder does."""
    decoded = {}
    for key, value in data.items():
        try:
            if "\n" in value or "\r" in value:
                value = _NEWLINES.sub("", value)
            decoded[check_entry_name(key)] = base64.b64decode(value, validate=True)
        except binascii.Error:
            raise BadInput(f"{source}: data.{key} is not valid base64") from None
    return decoded


def from_manifest(doc: Any, source: str) -> SecretSpec:
    """A Secret manifest, checked the way the API server would."""
    if not isinstance(doc, dict) or doc.get("kind") != "Secret" or doc.get("apiVersion") != "v1":
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        raise BadInput(f"{source}: expected a v1 Secret, got {kind or 'a document without kind'}")
    meta = doc.get("metadata") or {}
    if not isinstance(meta, dict) or not meta.get("name"):
        raise BadInput(f"{source}: Secret has no metadata.name")
    data = _decode_data(_string_map(doc.get("data"), f"{source}: data"), source)
    for key, value in _string_map(doc.get("stringData"), f"{source}: stringData").items():
        data[check_entry_name(key)] = value.encode("utf-8")  # stringData wins, as in the API
    annotations = _string_map(meta.get("annotations"), f"{source}: metadata.annotations")
    for dropped in DROPPED_ANNOTATIONS:
        annotations.pop(dropped, None)
    immutable = doc.get("immutable")
    if immutable is not None and not isinstance(immutable, bool):
        raise BadInput(f"{source}: immutable must be true or false")
    return SecretSpec(
        name=_checked(check_name, meta["name"], source),
        namespace=_checked(check_namespace, meta.get("namespace") or "", source),
        type=str(doc.get("type") or "Opaque"),
        labels=_string_map(meta.get("labels"), f"{source}: metadata.labels"),
        annotations=annotations,
        data=data,
        immutable=immutable,
    )


def _checked(check: Callable[[str], str], value: Any, source: str) -> str:
    try:
        return check(str(value))
    except BadInput as err:
        raise BadInput(f"{source}: {err}") from None


def parse_literal(item: str) -> tuple[str, bytes]:
    """`KEY=VALUE` from --from-literal; the value is never echoed back in errors."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise BadInput("--from-literal takes KEY=VALUE")
    return check_entry_name(key), value.encode("utf-8")


def parse_file_entry(item: str) -> tuple[str, bytes]:
    """`KEY=PATH` (or just PATH, keyed by its file name) from --from-file."""
    key, sep, path = item.partition("=")
    if not sep:
        key, path = Path(item).name, item
    return check_entry_name(key), repofiles.read_input(path, "--from-file", user_path=True)


def to_manifest(spec: SecretSpec) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": spec.name}
    if spec.namespace:
        meta["namespace"] = spec.namespace
    if spec.labels:
        meta["labels"] = dict(spec.labels)
    if spec.annotations:
        meta["annotations"] = dict(spec.annotations)
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": spec.type}
    if spec.immutable is not None:
        manifest["immutable"] = spec.immutable
    manifest["data"] = {k: base64.b64encode(v).decode() for k, v in sorted(spec.data.items())}
    return manifest


def from_entries(
    name: str, namespace: str, literals: tuple[str, ...], files: tuple[str, ...], type_: str = "Opaque"
) -> SecretSpec:
    """A Secret built from --from-literal and --from-file entries."""
    if not name:
        raise BadInput("--name is required with --from-literal/--from-file")
    data = dict(parse_literal(item) for item in literals)
    data.update(parse_file_entry(item) for item in files)
    return SecretSpec(name=check_name(name), namespace=check_namespace(namespace), type=type_, data=data)


def refuse_empty(specs: list[SecretSpec], source: str) -> None:
    """kubeseal refuses a Secret with no data (it would seal to nothing); so does sealer."""
    for spec in specs:
        if not spec.data:
            raise BadInput(
                f"{source}: Secret {spec.name} has no data to seal "
                "(pass --allow-empty-data to seal it anyway)"
            )


def from_documents(docs: list[Any], source: str, namespace: str = "") -> list[SecretSpec]:
    """Every Secret of a YAML stream (a v1 List counts as its items); `namespace` fills gaps."""
    check_namespace(namespace)
    specs = []
    for doc in docs:
        items = doc.get("items") or [] if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        for item in items:
            spec = from_manifest(item, source)
            if namespace and spec.namespace and spec.namespace != namespace:
                raise BadInput(
                    f"{source}: Secret {spec.name} is in namespace {spec.namespace!r}, not {namespace!r}"
                )
            spec.namespace = spec.namespace or namespace
            specs.append(spec)
    if not specs:
        raise BadInput(f"{source}: no Secret found")
    return specs
