"""Offline validation of a SealedSecret against a certificate (and optionally its keys)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from sealer import hybrid, provenance
from sealer.errors import BadInput, DecryptError
from sealer.scope import CLUSTER_WIDE, NAMESPACE_WIDE, label, scope_of
from sealer.sealing import CertSealer, check_sealed_secret
from sealer.unseal import open_value

CANNOT_TELL = "cannot tell which certificate sealed it (sealer did not record it): pass --key to check"


def _metadata_problems(meta: Mapping[str, Any], template_meta: Mapping[str, Any]) -> Iterator[str]:
    for field in ("name", "namespace"):
        if template_meta.get(field) and template_meta.get(field) != meta.get(field):
            yield (
                f"template metadata.{field} {template_meta.get(field)!r} differs from "
                f"the SealedSecret's {meta.get(field)!r}"
            )
    top, inner = meta.get("annotations") or {}, template_meta.get("annotations") or {}
    for annotation in (NAMESPACE_WIDE, CLUSTER_WIDE):
        if annotation in inner and str(inner.get(annotation)) != str(top.get(annotation)):
            yield f"template annotation {annotation} differs from the SealedSecret's"


def _scope_problems(meta: Mapping[str, Any]) -> Iterator[str]:
    annotations = meta.get("annotations") or {}
    for annotation in (NAMESPACE_WIDE, CLUSTER_WIDE):
        value = annotations.get(annotation)
        if value is not None and value != "true" and str(value).lower() == "true":
            yield f"annotation {annotation} is {value!r}: the controller only honours the string 'true'"
    scope = scope_of(annotations)
    try:
        label(scope, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
    except BadInput as err:
        yield str(err)


def _entry_problems(entry: str, value: Any, modulus_bytes: int) -> Iterator[str]:
    text = str(value)
    try:
        blob = base64.b64decode(text, validate=True)
    except binascii.Error:
        yield f"entry {entry}: not valid standard base64"
        return
    if base64.b64encode(blob).decode() != text:
        yield f"entry {entry}: base64 is not in standard padded form"
    problem = hybrid.layout_problem(blob, modulus_bytes)
    if problem:
        yield f"entry {entry}: {problem}"


def problems(doc: Any, sealer: CertSealer, keys: Sequence[RSAPrivateKey], source: str) -> list[str]:
    """One line per problem; an empty list means the SealedSecret is sound."""
    check_sealed_secret(doc, source)
    meta = doc["metadata"]
    template_meta = (doc["spec"].get("template") or {}).get("metadata") or {}
    found = [*_metadata_problems(meta, template_meta), *_scope_problems(meta)]
    entries = doc["spec"].get("encryptedData") or {}
    modulus_bytes = sealer.public_key.key_size // 8
    for entry, fp in provenance.sealed_with(meta.get("annotations"), entries).items():
        if fp not in (provenance.UNKNOWN, sealer.fingerprint):
            found.append(f"entry {entry}: sealed with certificate {fp[:16]}…, not {sealer.fingerprint[:16]}…")
    for entry, value in entries.items():
        found.extend(_entry_problems(entry, value, modulus_bytes))
    if keys and not found:
        found.extend(_decrypt_problems(meta, entries, keys))
    elif not keys and provenance.UNKNOWN in provenance.sealed_with(meta.get("annotations"), entries).values():
        # Without sealer's annotation nothing offline links the ciphertext to a certificate.
        found.append(
            "cannot tell which certificate sealed it (sealer did not record it): pass --key to check"
        )
    return found


def _decrypt_problems(
    meta: Mapping[str, Any], entries: Mapping[str, Any], keys: Sequence[RSAPrivateKey]
) -> Iterator[str]:
    lbl = label(scope_of(meta.get("annotations")), str(meta.get("namespace") or ""), str(meta["name"]))
    for entry, value in entries.items():
        try:
            open_value(keys, lbl, base64.b64decode(str(value)))
        except DecryptError:
            yield f"entry {entry}: does not decrypt with the given key(s)"
