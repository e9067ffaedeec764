from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from sealer import secret
from sealer.errors import BadInput


def manifest(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app", "namespace": "prod"},
        "type": "Opaque",
        "data": {"a": base64.b64encode(b"from data").decode()},
    }
    doc.update(overrides)
    return doc


def test_manifest_data_and_string_data_with_string_data_winning() -> None:
    spec = secret.from_manifest(manifest(stringData={"a": "from stringData", "b": "wörld"}), "s.yaml")
    assert spec.data == {"a": b"from stringData", "b": "wörld".encode()}
    assert (spec.name, spec.namespace, spec.type) == ("app", "prod", "Opaque")


def test_server_owned_and_leaky_metadata_is_dropped() -> None:
    meta = {
        "name": "app",
        "namespace": "prod",
        "uid": "1234",
        "resourceVersion": "9",
        "creationTimestamp": "2024-01-01T00:00:00Z",
        "ownerReferences": [{"kind": "Deployment", "name": "x"}],
        "labels": {"team": "a"},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data": {"a": "plaintext"}}',
            "kubecfg.ksonnet.io/last-applied-configuration": "{}",
            "keep": "me",
        },
    }
    spec = secret.from_manifest(manifest(metadata=meta, type="kubernetes.io/tls", immutable=True), "s")
    assert spec.annotations == {"keep": "me"}
    assert spec.labels == {"team": "a"}
    assert spec.type == "kubernetes.io/tls"
    assert spec.immutable is True
    out = secret.to_manifest(spec)
    assert out["metadata"] == {
        "name": "app",
        "namespace": "prod",
        "labels": {"team": "a"},
        "annotations": {"keep": "me"},
    }
    assert out["immutable"] is True


def test_line_broken_base64_is_read_like_the_api_server_does() -> None:
    wrapped = base64.b64encode(b"x" * 100).decode()
    wrapped = wrapped[:76] + "\n" + wrapped[76:] + "\n"
    assert secret.from_manifest(manifest(data={"a": wrapped}), "s").data == {"a": b"x" * 100}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "ConfigMap"}, "expected a v1 Secret, got ConfigMap"),
        ({"apiVersion": "v2"}, "expected a v1 Secret"),
        ({"metadata": {"namespace": "prod"}}, "no metadata.name"),
        ({"metadata": {"name": "App_1", "namespace": "prod"}}, "invalid Secret name"),
        ({"metadata": {"name": "a/b", "namespace": "prod"}}, "invalid Secret name"),
        ({"metadata": {"name": "app", "namespace": "Prod"}}, "invalid namespace"),
        ({"metadata": {"name": "app", "namespace": "a.b"}}, "invalid namespace"),
        ({"data": {"a": "not base64!"}}, "data.a is not valid base64"),
        ({"data": {"a": "YQ"}}, "data.a is not valid base64"),  # unpadded
        ({"data": {"a": "-_-_"}}, "data.a is not valid base64"),  # url-safe alphabet
        ({"data": {"a": 5}}, "must be a map of strings"),
        ({"data": ["a"]}, "must be a map of strings"),
        ({"stringData": {"a": True}}, "must be a map of strings"),
        ({"data": {"bad key": "YQ=="}}, "invalid entry name"),
        ({"data": {"..x": "YQ=="}}, "invalid entry name"),
        ({"immutable": "yes"}, "immutable must be true or false"),
    ],
)
def test_bad_manifests_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        secret.from_manifest(manifest(**overrides), "s.yaml")


@pytest.mark.parametrize("doc", [None, "text", ["a"], 5])
def test_documents_that_are_not_maps_are_refused(doc: Any) -> None:
    with pytest.raises(BadInput, match="expected a v1 Secret"):
        secret.from_manifest(doc, "s")


@pytest.mark.parametrize("name", ["a", "A-b", "a.b_c", "-x", "x" * 253])
def test_valid_entry_names(name: str) -> None:
    assert secret.check_entry_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "..a", "a b", "a/b", "x" * 254, "é"])
def test_invalid_entry_names(name: str) -> None:
    with pytest.raises(BadInput):
        secret.check_entry_name(name)


def test_entries_from_literals_and_files(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_bytes(b"\x00\x01binary")
    spec = secret.from_entries(
        "app",
        "prod",
        ("user=admin", "pass=a=b=c", "empty="),
        (f"k={tmp_path / 'cert.pem'}", str(tmp_path / "cert.pem")),
    )
    assert spec.data == {
        "user": b"admin",
        "pass": b"a=b=c",
        "empty": b"",
        "k": b"\x00\x01binary",
        "cert.pem": b"\x00\x01binary",
    }


@pytest.mark.parametrize(
    ("name", "literals", "files", "message"),
    [
        ("", ("a=b",), (), "--name is required"),
        ("app", ("novalue",), (), "KEY=VALUE"),
        ("app", ("=value",), (), "KEY=VALUE"),
        ("app", (), ("k=/nonexistent/file",), "--from-file /nonexistent/file"),
        ("Bad_Name", ("a=b",), (), "invalid Secret name"),
    ],
)
def test_bad_entries_are_refused(
    name: str, literals: tuple[str, ...], files: tuple[str, ...], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        secret.from_entries(name, "prod", literals, files)


def test_literal_values_never_appear_in_errors() -> None:
    with pytest.raises(BadInput) as err:
        secret.parse_literal("bad key=s3cr3t-value")
    assert "s3cr3t" not in str(err.value)


def test_documents_lists_and_namespace_defaults() -> None:
    no_ns = manifest(metadata={"name": "b"})
    docs = [manifest(), {"apiVersion": "v1", "kind": "List", "items": [no_ns]}]
    specs = secret.from_documents(docs, "s", namespace="prod")
    assert [(s.name, s.namespace) for s in specs] == [("app", "prod"), ("b", "prod")]


def test_documents_refuse_a_namespace_conflict_and_an_empty_stream() -> None:
    with pytest.raises(BadInput, match="is in namespace 'prod', not 'dev'"):
        secret.from_documents([manifest()], "s", namespace="dev")
    with pytest.raises(BadInput, match="no Secret found"):
        secret.from_documents([], "s")
    with pytest.raises(BadInput, match="invalid namespace"):
        secret.from_documents([manifest()], "s", namespace="Bad")
