"""Sealing scopes and the OAEP label each one binds a value to."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from sealer.errors import BadInput

NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"


class Scope(str, enum.Enum):
    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"


def scope_of(annotations: Mapping[str, str] | None) -> Scope:
    """The scope the controller reads from a SealedSecret's top-level annotations.

    Like the controller, only the exact string "true" counts: "True" or a YAML boolean
    leaves the value strict, and sealing it any other way would make it unopenable.
    """
    annotations = annotations or {}
    if annotations.get(CLUSTER_WIDE) == "true":
        return Scope.CLUSTER_WIDE
    if annotations.get(NAMESPACE_WIDE) == "true":
        return Scope.NAMESPACE_WIDE
    return Scope.STRICT


def without_scope(annotations: Mapping[str, str]) -> dict[str, str]:
    """`annotations` minus both scope annotations (what kubeseal does before setting one)."""
    return {k: v for k, v in annotations.items() if k not in (NAMESPACE_WIDE, CLUSTER_WIDE)}


def scope_annotations(scope: Scope) -> dict[str, str]:
    """The annotations that tell the controller `scope` (none for strict)."""
    if scope is Scope.CLUSTER_WIDE:
        return {CLUSTER_WIDE: "true"}
    if scope is Scope.NAMESPACE_WIDE:
        return {NAMESPACE_WIDE: "true"}
    return {}


def label(scope: Scope, namespace: str, name: str) -> bytes:
    """The OAEP label: `namespace/name`, `namespace`, or empty. The entry name is not in it."""
    if scope is Scope.CLUSTER_WIDE:
        return b""
    if not namespace:
        raise BadInput(f"{scope.value} scope needs a namespace (give --namespace or metadata.namespace)")
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    if not name:
        raise BadInput("strict scope needs a name (give --name or metadata.name)")
    return f"{namespace}/{name}".encode()
