"""Sealing Secrets into SealedSecrets: round trips, kubeseal's object shape, merging."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer import certs, sealing, unseal, yamlio
from sealer.errors import BadInput, DecryptError
from sealer.provenance import CERT_ANNOTATION, OTHER_CERTS_ANNOTATION
from sealer.scope import CLUSTER_WIDE, NAMESPACE_WIDE, Scope
from sealer.secret import SecretSpec


def sealer_for(keypair: Path) -> sealing.CertSealer:
    path = keypair / "tls.crt"
    return sealing.CertSealer.from_certificate(certs.load_certificate(path), str(path))


def keys_of(keypair: Path) -> list[ref.rsa.RSAPrivateKey]:
    return [ref.load_key(keypair / "tls.key")]


VALUES = {"empty": b"", "binary": bytes(range(256)), "text": "wörld ✓".encode(), "big": b"z" * 20000}


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_round_trip_every_scope_and_key_size(any_keypair_dir: Path, scope: Scope) -> None:
    spec = SecretSpec(name="app", namespace="prod", data=dict(VALUES))
    doc = sealing.sealed_secret(spec, sealer_for(any_keypair_dir), scope)
    assert unseal.unseal(doc, keys_of(any_keypair_dir), "t").data == VALUES
    label = ref.scope_label(scope.value, "prod", "app")
    key = keys_of(any_keypair_dir)[0]
    for entry, text in doc["spec"]["encryptedData"].items():
        assert ref.decrypt(key, label, text) == VALUES[entry]


def test_many_entries_use_the_parallel_path_and_keep_their_order(keypair_2048_dir: Path) -> None:
    values = {f"key-{i:04d}": f"value {i}".encode() for i in range(700)}
    doc = sealing.sealed_secret(
        SecretSpec("app", "prod", data=values), sealer_for(keypair_2048_dir), Scope.STRICT
    )
    assert list(doc["spec"]["encryptedData"]) == sorted(values)
    assert unseal.unseal(doc, keys_of(keypair_2048_dir), "t").data == values


def test_the_object_has_kubeseals_shape(keypair_2048_dir: Path) -> None:
    spec = SecretSpec(
        name="app",
        namespace="prod",
        type="kubernetes.io/basic-auth",
        labels={"team": "a"},
        annotations={"note": "x"},
        data={"username": b"u"},
        immutable=True,
    )
    sealer = sealer_for(keypair_2048_dir)
    doc = sealing.sealed_secret(spec, sealer, Scope.NAMESPACE_WIDE)
    assert doc["apiVersion"] == "bitnami.com/v1alpha1" and doc["kind"] == "SealedSecret"
    assert doc["metadata"] == {
        "name": "app",
        "namespace": "prod",
        "annotations": {NAMESPACE_WIDE: "true", CERT_ANNOTATION: sealer.fingerprint},
    }
    assert doc["spec"]["template"] == {
        "metadata": {
            "name": "app",
            "namespace": "prod",
            "labels": {"team": "a"},
            "annotations": {"note": "x", NAMESPACE_WIDE: "true"},
        },
        "type": "kubernetes.io/basic-auth",
        "immutable": True,
    }


def test_a_chosen_scope_replaces_the_secrets_scope_annotations(keypair_2048_dir: Path) -> None:
    spec = SecretSpec("app", "prod", annotations={NAMESPACE_WIDE: "true", "keep": "1"}, data={"a": b"1"})
    for scope, expected in [(Scope.CLUSTER_WIDE, {CLUSTER_WIDE: "true"}), (Scope.STRICT, {})]:
        doc = sealing.sealed_secret(spec, sealer_for(keypair_2048_dir), scope)
        assert doc["spec"]["template"]["metadata"]["annotations"] == {"keep": "1", **expected}
        assert unseal.unseal(doc, keys_of(keypair_2048_dir), "t").data == {"a": b"1"}


def test_cluster_wide_needs_no_namespace_but_strict_does(keypair_2048_dir: Path) -> None:
    spec = SecretSpec("app", "", data={"a": b"1"})
    doc = sealing.sealed_secret(spec, sealer_for(keypair_2048_dir), Scope.CLUSTER_WIDE)
    assert "namespace" not in doc["metadata"]
    with pytest.raises(BadInput, match="strict scope needs a namespace"):
        sealing.sealed_secret(spec, sealer_for(keypair_2048_dir), Scope.STRICT)


@pytest.mark.parametrize(("scope", "namespace", "name", "opens"), ref.MOVED_VALUES)
def test_moved_values_open_only_where_their_scope_allows(
    keypair_2048_dir: Path, scope: str, namespace: str, name: str, opens: bool
) -> None:
    doc = sealing.sealed_secret(
        SecretSpec("app", "prod", data={"a": b"1"}), sealer_for(keypair_2048_dir), Scope(scope)
    )
    doc["metadata"].update(name=name, namespace=namespace)
    if opens:
        assert unseal.unseal(doc, keys_of(keypair_2048_dir), "t").data == {"a": b"1"}
    else:
        with pytest.raises(DecryptError, match="entry a"):
            unseal.unseal(doc, keys_of(keypair_2048_dir), "t")


def test_an_expired_certificate_cannot_seal(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    cert = ref.certificate(ref.rsa_key(2048), now - dt.timedelta(days=9), now - dt.timedelta(days=1))
    with pytest.raises(BadInput, match="expired"):
        sealing.CertSealer.from_certificate(cert, "old.crt")


# --- merging -------------------------------------------------------------------------------


def _sealed_file(keypair: Path, scope: Scope = Scope.STRICT) -> str:
    spec = SecretSpec("app", "prod", data={"a": b"1", "b": b"2"})
    return yamlio.dump(sealing.sealed_secret(spec, sealer_for(keypair), scope))


def test_merge_adds_and_replaces_entries_and_keeps_the_rest(keypair_2048_dir: Path) -> None:
    text = _sealed_file(keypair_2048_dir)
    doc = yamlio.round_trip_load(text, "f")
    before_b = doc["spec"]["encryptedData"]["b"]
    sealing.merge_into(
        doc, SecretSpec("app", "prod", data={"a": b"new", "c": b"3"}), sealer_for(keypair_2048_dir), "f"
    )
    assert doc["spec"]["encryptedData"]["b"] == before_b
    assert list(doc["spec"]["encryptedData"]) == ["a", "b", "c"]
    opened = unseal.unseal(
        yamlio.load_documents(yamlio.round_trip_dump(doc), "f")[0], keys_of(keypair_2048_dir), "f"
    )
    assert opened.data == {"a": b"new", "b": b"2", "c": b"3"}


def test_merge_uses_the_existing_scope(keypair_2048_dir: Path) -> None:
    doc = yamlio.round_trip_load(_sealed_file(keypair_2048_dir, Scope.NAMESPACE_WIDE), "f")
    sealing.merge_into(doc, SecretSpec("app", "", data={"c": b"3"}), sealer_for(keypair_2048_dir), "f")
    text = doc["spec"]["encryptedData"]["c"]
    assert ref.decrypt(keys_of(keypair_2048_dir)[0], b"prod", text) == b"3"


def test_merge_records_which_certificate_sealed_what(keypair_2048_dir: Path, keypair_3072_dir: Path) -> None:
    doc = yamlio.round_trip_load(_sealed_file(keypair_2048_dir), "f")
    old_fp = sealer_for(keypair_2048_dir).fingerprint
    new = sealer_for(keypair_3072_dir)
    sealing.merge_into(doc, SecretSpec("app", "prod", data={"b": b"x"}), new, "f")
    annotations = doc["metadata"]["annotations"]
    assert annotations[CERT_ANNOTATION] == new.fingerprint
    assert annotations[OTHER_CERTS_ANNOTATION] == f'{{"a": "{old_fp}"}}'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SecretSpec("other", "prod", data={"a": b"1"}), "name is 'app', the input Secret says 'other'"),
        (SecretSpec("app", "dev", data={"a": b"1"}), "namespace is 'prod', the input Secret says 'dev'"),
    ],
)
def test_merge_refuses_another_secret(keypair_2048_dir: Path, spec: SecretSpec, message: str) -> None:
    doc = yamlio.round_trip_load(_sealed_file(keypair_2048_dir), "f")
    with pytest.raises(BadInput, match=message):
        sealing.merge_into(doc, spec, sealer_for(keypair_2048_dir), "f")


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}},
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {}},
        {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "a"}, "spec": 3},
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "a"},
            "spec": {"encryptedData": ["x"]},
        },
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "a"},
            "spec": {"encryptedData": {}, "template": ["x"]},
        },
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "a"},
            "spec": {"encryptedData": {}, "template": {"metadata": "x"}},
        },
        {
            "apiVersion": "bitnami.com/v1alpha1",
            "kind": "SealedSecret",
            "metadata": {"name": "a", "annotations": ["x"]},
            "spec": {"encryptedData": {}},
        },
        None,
    ],
)
def test_check_sealed_secret_refuses_other_objects(doc: Any) -> None:
    with pytest.raises(BadInput):
        sealing.check_sealed_secret(doc, "f")


# --- property ------------------------------------------------------------------------------

DNS_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True)
NAMES = st.lists(DNS_LABEL, min_size=1, max_size=3).map(".".join)
ENTRY = st.from_regex(r"[-._a-zA-Z0-9]{1,20}", fullmatch=True).filter(
    lambda e: e != "." and not e.startswith("..")
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=NAMES,
    namespace=DNS_LABEL,
    scope=st.sampled_from(list(Scope)),
    data=st.dictionaries(ENTRY, st.binary(max_size=300), max_size=4),
)
def test_round_trip_property(
    keypair_2048_dir: Path, name: str, namespace: str, scope: Scope, data: dict[str, bytes]
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }
    text = yamlio.dump(manifest)
    from sealer import secret

    spec = secret.from_documents(yamlio.load_documents(text, "p"), "p")[0]
    sealed = yamlio.dump(sealing.sealed_secret(spec, sealer_for(keypair_2048_dir), scope))
    opened = unseal.unseal(yamlio.load_documents(sealed, "p")[0], keys_of(keypair_2048_dir), "p")
    assert (opened.name, opened.namespace, opened.data) == (name, namespace, data)
