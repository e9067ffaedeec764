from __future__ import annotations

import pytest

from sealer import scope
from sealer.errors import BadInput
from sealer.scope import CLUSTER_WIDE, NAMESPACE_WIDE, Scope


@pytest.mark.parametrize(
    ("sc", "expected"),
    [(Scope.STRICT, b"prod/app"), (Scope.NAMESPACE_WIDE, b"prod"), (Scope.CLUSTER_WIDE, b"")],
)
def test_label_is_what_kubeseal_binds_each_scope_to(sc: Scope, expected: bytes) -> None:
    assert scope.label(sc, "prod", "app") == expected


def test_cluster_wide_needs_neither_namespace_nor_name() -> None:
    assert scope.label(Scope.CLUSTER_WIDE, "", "") == b""


@pytest.mark.parametrize("sc", [Scope.STRICT, Scope.NAMESPACE_WIDE])
def test_missing_namespace_is_refused(sc: Scope) -> None:
    with pytest.raises(BadInput, match="needs a namespace"):
        scope.label(sc, "", "app")


def test_strict_scope_needs_a_name() -> None:
    with pytest.raises(BadInput, match="needs a name"):
        scope.label(Scope.STRICT, "prod", "")


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, Scope.STRICT),
        ({}, Scope.STRICT),
        ({NAMESPACE_WIDE: "true"}, Scope.NAMESPACE_WIDE),
        ({CLUSTER_WIDE: "true"}, Scope.CLUSTER_WIDE),
        ({CLUSTER_WIDE: "true", NAMESPACE_WIDE: "true"}, Scope.CLUSTER_WIDE),  # cluster-wide wins
        ({NAMESPACE_WIDE: "false"}, Scope.STRICT),
        # The controller compares with the exact string "true"; anything else stays strict.
        ({CLUSTER_WIDE: "True"}, Scope.STRICT),
        ({CLUSTER_WIDE: True}, Scope.STRICT),
        ({NAMESPACE_WIDE: "yes"}, Scope.STRICT),
    ],
)
def test_scope_of_reads_annotations_like_the_controller(annotations: dict | None, expected: Scope) -> None:
    assert scope.scope_of(annotations) is expected


@pytest.mark.parametrize("sc", list(Scope))
def test_scope_annotations_round_trip(sc: Scope) -> None:
    assert scope.scope_of(scope.scope_annotations(sc)) is sc


def test_without_scope_drops_only_scope_annotations() -> None:
    given = {NAMESPACE_WIDE: "true", CLUSTER_WIDE: "true", "team": "a"}
    assert scope.without_scope(given) == {"team": "a"}


def test_annotation_names_are_kubeseals() -> None:
    """From sealed-secrets' pkg/apis/sealedsecrets/v1alpha1: annoNs = "sealedsecrets.bitnami.com/"."""
    assert NAMESPACE_WIDE == "sealedsecrets.bitnami.com/namespace-wide"
    assert CLUSTER_WIDE == "sealedsecrets.bitnami.com/cluster-wide"
    assert [s.value for s in Scope] == ["strict", "namespace-wide", "cluster-wide"]
