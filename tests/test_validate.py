"""Offline validation: one finding per problem, nothing for a sound SealedSecret."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import reference as ref

from sealer import certs, sealing, validate
from sealer.errors import BadInput
from sealer.scope import CLUSTER_WIDE, NAMESPACE_WIDE, Scope
from sealer.secret import SecretSpec


@pytest.fixture(scope="module")
def sound(keypair_2048_dir: Path) -> dict[str, Any]:
    spec = SecretSpec("app", "prod", data={"a": b"1", "b": b"two"})
    return sealing.sealed_secret(spec, sealer_of(keypair_2048_dir), Scope.STRICT)


def sealer_of(keypair: Path) -> sealing.CertSealer:
    return sealing.CertSealer.from_certificate(certs.load_certificate(keypair / "tls.crt"), "c")


def problems(doc: dict[str, Any], keypair: Path, with_key: bool = False) -> list[str]:
    keys = [ref.load_key(keypair / "tls.key")] if with_key else []
    return validate.problems(doc, sealer_of(keypair), keys, "s")


def test_a_sound_sealed_secret_has_no_problems(sound: dict[str, Any], keypair_2048_dir: Path) -> None:
    assert problems(sound, keypair_2048_dir, with_key=True) == []


def test_reference_sealed_objects_are_sound_too(keypair_2048_dir: Path) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    for scope in ("strict", "namespace-wide", "cluster-wide"):
        doc = ref.sealed_secret(key.public_key(), scope, "prod", "app", {"a": b"1"})
        assert problems(doc, keypair_2048_dir, with_key=True) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def _recode(transform: Callable[[bytes], str]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        data = doc["spec"]["encryptedData"]
        data["a"] = transform(base64.b64decode(data["a"]))

    return change


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "url-safe": (
        _recode(lambda b: base64.urlsafe_b64encode(b"\xfb\xff" + b[2:]).decode()),
        "entry a: not valid standard base64",
    ),
    "unpadded": (
        _recode(lambda b: base64.b64encode(b).decode().rstrip("=")),  # 275 bytes: one "="
        "entry a: not valid standard base64",
    ),
    "wrapped": (
        _recode(lambda b: base64.b64encode(b).decode()[:60] + "\n" + base64.b64encode(b).decode()[60:]),
        "entry a: not valid standard base64",
    ),
    "truncated": (_recode(lambda b: base64.b64encode(b[:100]).decode()), "entry a: truncated"),
    "other key size": (
        _recode(lambda b: base64.b64encode(b"\x02\x00" + b[2:]).decode()),
        "entry a: length prefix 512 does not match the 2048-bit key",
    ),
    "not a string": (_set("spec.encryptedData.a", 12), "entry a: "),
    "template name": (
        _set("spec.template.metadata.name", "other"),
        "template metadata.name 'other' differs from the SealedSecret's 'app'",
    ),
    "template namespace": (
        _set("spec.template.metadata.namespace", "dev"),
        "template metadata.namespace 'dev'",
    ),
    "template scope": (
        _set("spec.template.metadata.annotations", {CLUSTER_WIDE: "true"}),
        f"template annotation {CLUSTER_WIDE} differs",
    ),
    "capitalised scope": (
        _set("metadata.annotations", {NAMESPACE_WIDE: "True"}),
        f"annotation {NAMESPACE_WIDE} is 'True': the controller only honours the string 'true'",
    ),
    "no namespace": (_set("metadata.namespace", ""), "strict scope needs a namespace"),
    "other certificate": (
        _set("metadata.annotations", {"sealer.dev/cert-sha256": "ab" * 32}),
        "entry a: sealed with certificate abababababababab…",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_problem_is_found(sound: dict[str, Any], keypair_2048_dir: Path, case: str) -> None:
    change, message = CASES[case]
    doc = copy.deepcopy(sound)
    change(doc)
    found = problems(doc, keypair_2048_dir)
    assert any(message in p for p in found), found
    assert all("\n" not in p for p in found)


@pytest.mark.parametrize(
    ("name", "namespace", "scope"),
    [("other", "prod", "strict"), ("app", "dev", "namespace-wide")],
)
def test_with_keys_a_moved_value_is_found(
    keypair_2048_dir: Path, name: str, namespace: str, scope: str
) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    doc = ref.sealed_secret(key.public_key(), scope, "prod", "app", {"a": b"1"})
    doc["metadata"].update(name=name, namespace=namespace)  # type: ignore[attr-defined]
    doc["spec"]["template"]["metadata"].update(name=name, namespace=namespace)  # type: ignore[index]
    # The layout alone looks fine, but nothing says which certificate sealed it.
    assert problems(doc, keypair_2048_dir) == [validate.CANNOT_TELL]
    assert problems(doc, keypair_2048_dir, with_key=True) == [
        "entry a: does not decrypt with the given key(s)"
    ]


def test_with_the_wrong_key_every_entry_is_found(
    sound: dict[str, Any], keypair_2048_dir: Path, tmp_path: Path
) -> None:
    other = ref.rsa_key(2048)
    found = validate.problems(sound, sealer_of(keypair_2048_dir), [other], "s")
    assert found == [
        "entry a: does not decrypt with the given key(s)",
        "entry b: does not decrypt with the given key(s)",
    ]


def test_a_document_that_is_not_a_sealed_secret_is_bad_input(keypair_2048_dir: Path) -> None:
    with pytest.raises(BadInput, match="not a bitnami.com/v1alpha1 SealedSecret"):
        validate.problems({"apiVersion": "v1", "kind": "Secret"}, sealer_of(keypair_2048_dir), [], "s")
