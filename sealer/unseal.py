"""Recovery: open SealedSecrets offline with the controller's private keys."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sealer import hybrid, keypair, repofiles, yamlio
from sealer.errors import BadInput, DecryptError
from sealer.scope import label, scope_of
from sealer.sealing import check_sealed_secret
from sealer.secret import SecretSpec


def _keys_from_document(doc: Any, source: str) -> list[RSAPrivateKey]:
    if isinstance(doc, Mapping) and doc.get("kind") == "List":
        return [key for item in doc.get("items") or [] for key in _keys_from_document(item, source)]
    if isinstance(doc, Mapping) and doc.get("kind") == "Secret":
        encoded = (doc.get("data") or {}).get("tls.key")
        if not encoded:
            raise BadInput(f"{source}: Secret {doc.get('metadata', {}).get('name')} has no tls.key")
        try:
            return [keypair.load_private_key(base64.b64decode(encoded, validate=True), source)]
        except binascii.Error:
            raise BadInput(f"{source}: tls.key is not valid base64") from None
    raise BadInput(f"{source}: expected a PEM key, a key Secret or a List of them")


def load_private_keys(path: str | Path) -> list[RSAPrivateKey]:
    """Keys from a PEM file, a `kubernetes.io/tls` key Secret, or a v1 List of them."""
    data = repofiles.read_input(path, "key file", user_path=True)
    if b"-----BEGIN" in data:
        return [keypair.load_private_key(data, str(path))]
    if _binary(data):  # a DER key (`openssl … -outform DER`) is no text at all
        raise BadInput(
            f"{path}: not a PEM private key, a key Secret or a List of them: binary, DER? "
            f"(`openssl pkey -inform DER -in {path} -out key.pem` writes it as PEM)"
        )
    docs = yamlio.load_documents(data, str(path))
    keys = [key for doc in docs for key in _keys_from_document(doc, str(path))]
    if not keys:
        raise BadInput(f"{path}: holds no private key")
    return keys


def _binary(data: bytes) -> bool:
    """Whether `data` is no UTF-8 text (a NUL byte, or bytes UTF-8 cannot decode)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return b"\0" in data


def decode_entry(entry: str, value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise BadInput(f"entry {entry}: not valid base64") from None


def open_value(keys: Sequence[RSAPrivateKey], lbl: bytes, blob: bytes) -> bytes:
    """Try every key, as the controller does with all its sealing keys."""
    for key in keys:
        try:
            return hybrid.decrypt(key, lbl, blob)
        except DecryptError:
            continue
    raise DecryptError("no key opens this value (wrong key, name, namespace or scope)")


def unseal(doc: Any, keys: Sequence[RSAPrivateKey], source: str) -> SecretSpec:
    """The Secret the controller would make of `doc`: name and namespace from the SealedSecret,
    type, labels and annotations from its template."""
    check_sealed_secret(doc, source)
    meta = doc["metadata"]
    name, namespace = str(meta["name"]), str(meta.get("namespace") or "")
    lbl = label(scope_of(meta.get("annotations")), namespace, name)
    template = doc["spec"].get("template") or {}
    data = {}
    for entry, value in (doc["spec"].get("encryptedData") or {}).items():
        try:
            blob = decode_entry(entry, value)
        except BadInput as err:
            raise BadInput(f"{source}: {name} {err}") from None
        try:
            data[entry] = open_value(keys, lbl, blob)
        except DecryptError as err:
            raise DecryptError(f"{source}: {name} entry {entry}: {err}") from None
    data.update(_rendered(template.get("data"), data, f"{source}: {name}"))
    template_meta = template.get("metadata") or {}
    immutable = template.get("immutable")
    return SecretSpec(
        name=name,
        namespace=namespace,
        type=str(template.get("type") or "Opaque"),
        labels=_string_map(template_meta.get("labels"), f"{source}: {name} template labels"),
        annotations=_string_map(template_meta.get("annotations"), f"{source}: {name} template annotations"),
        data=data,
        immutable=immutable if isinstance(immutable, bool) else None,
    )


def _rendered(templates: Any, values: dict[str, bytes], where: str) -> dict[str, bytes]:
    """spec.template.data, rendered with the decrypted values as the controller does; an entry
    here replaces an encryptedData entry of the same name."""
    from sealer.gotemplate import render

    if templates is None:
        return {}
    if not isinstance(templates, Mapping) or not all(isinstance(v, str) for v in templates.values()):
        raise BadInput(f"{where}: spec.template.data must be a map of strings")
    named = {str(key): value for key, value in values.items()}  # YAML may have made a key an int
    return {str(key): render(text, named, f"{where} template data {key}") for key, text in templates.items()}


def _string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadInput(f"{where} must be a map")
    return {str(k): str(v) for k, v in value.items()}
