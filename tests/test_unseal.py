"""Recovery with the controller's keys, read in every form the controller keeps them."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import reference as ref
import yaml

from sealer import unseal
from sealer.errors import BadInput, DecryptError


def key_secret(key_pem: bytes, name: str = "k") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/tls",
        "data": {"tls.key": base64.b64encode(key_pem).decode()},
    }


def test_keys_from_pem_pkcs1_and_pkcs8(keypair_2048_dir: Path, tmp_path: Path) -> None:
    expected = ref.load_key(keypair_2048_dir / "tls.key").private_numbers()
    pkcs8 = ref.write_key(tmp_path / "k8.pem", ref.load_key(keypair_2048_dir / "tls.key"))
    for path in (keypair_2048_dir / "tls.key", pkcs8):
        assert [k.private_numbers() for k in unseal.load_private_keys(path)] == [expected]


def test_keys_from_a_list_of_key_secrets(
    keypair_2048_dir: Path, keypair_3072_dir: Path, tmp_path: Path
) -> None:
    """What `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml` gives."""
    items = [key_secret((d / "tls.key").read_bytes(), d.name) for d in (keypair_2048_dir, keypair_3072_dir)]
    path = tmp_path / "backup.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    assert sorted(k.key_size for k in unseal.load_private_keys(path)) == [2048, 3072]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "not an unencrypted PEM"),
        (b"kind: ConfigMap\n", "expected a PEM key, a key Secret or a List"),
        (b"kind: Secret\nmetadata: {name: x}\ndata: {}\n", "has no tls.key"),
        (b"kind: Secret\nmetadata: {name: x}\ndata: {tls.key: '!!'}\n", "tls.key is not valid base64"),
        (b"apiVersion: v1\nkind: List\nitems: []\n", "holds no private key"),
        (b"", "holds no private key"),
        (b"a: [\n", "not valid YAML"),
        # a DER key, as `openssl pkey -outform DER` writes one: said so, not "not valid UTF-8 text"
        (b"0\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00\xc3", r"not a PEM private key, .*: binary, DER\?"),
    ],
)
def test_bad_key_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        unseal.load_private_keys(path)


def test_a_non_rsa_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    with pytest.raises(BadInput, match="not RSA"):
        unseal.load_private_keys(tmp_path / "ec.pem")


def test_a_missing_key_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot read key file"):
        unseal.load_private_keys(tmp_path / "nope.pem")


def test_every_key_is_tried_like_the_controller_does(keypair_2048_dir: Path, keypair_3072_dir: Path) -> None:
    right = ref.load_key(keypair_3072_dir / "tls.key")
    doc = ref.sealed_secret(right.public_key(), "strict", "prod", "app", {"a": b"1"})
    keys = [ref.load_key(keypair_2048_dir / "tls.key"), ref.rsa_key(3072), right]
    spec = unseal.unseal(doc, keys, "s")
    assert (spec.name, spec.namespace, spec.type, spec.data) == ("app", "prod", "Opaque", {"a": b"1"})


def test_wrong_key_names_the_entry_and_not_the_value(keypair_2048_dir: Path) -> None:
    doc = ref.sealed_secret(ref.rsa_key(2048).public_key(), "strict", "prod", "app", {"a": b"s3cr3t"})
    with pytest.raises(DecryptError) as err:
        unseal.unseal(doc, [ref.load_key(keypair_2048_dir / "tls.key")], "s.yaml")
    assert str(err.value).startswith("s.yaml: app entry a: no key opens this value")
    assert "s3cr3t" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [("AQ-_", "not valid base64"), ("AQA", "not valid base64"), ("AQAB", "no key opens")],
)
def test_broken_values_are_reported_per_entry(keypair_2048_dir: Path, value: str, message: str) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    doc = ref.sealed_secret(key.public_key(), "strict", "prod", "app", {"a": b"1"})
    doc["spec"]["encryptedData"]["a"] = value  # type: ignore[index]
    with pytest.raises((BadInput, DecryptError), match=f"entry a: {message}"):
        unseal.unseal(doc, [key], "s")


def test_template_data_is_rendered_or_refused_never_dropped(keypair_2048_dir: Path) -> None:
    key = ref.load_key(keypair_2048_dir / "tls.key")
    doc = ref.sealed_secret(key.public_key(), "strict", "prod", "app", {"a": b"1"})
    doc["spec"]["template"]["data"] = {"url": "https://{{ .a }}@host"}  # type: ignore[index]
    assert unseal.unseal(doc, [key], "s").data == {"a": b"1", "url": b"https://1@host"}
    doc["spec"]["template"]["data"] = {"url": "{{ .a | upper }}"}  # type: ignore[index]
    with pytest.raises(BadInput, match="template data url: function 'upper'"):
        unseal.unseal(doc, [key], "s")
