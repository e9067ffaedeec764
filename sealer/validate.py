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


def problems(
    doc: Any, sealers: CertSealer | Sequence[CertSealer], keys: Sequence[RSAPrivateKey], source: str
) -> list[str]:
    """One line per problem; an empty list means the SealedSecret is sound. Entries may be
    sealed with any of `sealers` (the certificates a controller holds)."""
    by_fp = {s.fingerprint: s for s in ([sealers] if isinstance(sealers, CertSealer) else sealers)}
    check_sealed_secret(doc, source)
    meta = doc["metadata"]
    template_meta = (doc["spec"].get("template") or {}).get("metadata") or {}
    found = [*_metadata_problems(meta, template_meta), *_scope_problems(meta)]
    claims = provenance.read(meta.get("annotations"))
    unreadable = claims.unreadable
    found.extend([unreadable] if unreadable else [])  # every entry's certificate is unknown then
    entries = doc["spec"].get("encryptedData") or {}
    sealed_with = claims.sealed_with(entries)
    for entry, value in entries.items():
        found.extend(_claim_problems(entry, value, sealed_with[entry], by_fp))
    if keys and not found:
        found.extend(_decrypt_problems(meta, entries, keys))
    elif not keys and not unreadable and provenance.UNKNOWN in sealed_with.values():
        # Without sealer's annotation nothing offline links the ciphertext to a certificate.
        found.append(CANNOT_TELL)
    return found


def _claim_problems(entry: str, value: Any, fp: str, by_fp: Mapping[str, CertSealer]) -> Iterator[str]:
    """The annotation only claims a certificate: it must be one given, and the ciphertext's RSA
    part must have that certificate's size (an unannotated entry: the size of one given)."""
    if fp != provenance.UNKNOWN and fp not in by_fp:
        given = ", ".join(f"{f[:16]}…" for f in by_fp)
        yield f"entry {entry}: sealed with certificate {fp[:16]}…, not {given}"
        return
    sizes = [by_fp[fp]] if fp in by_fp else list(by_fp.values())
    options = [list(_entry_problems(entry, value, s.public_key.key_size // 8)) for s in sizes]
    yield from min(options, key=len)


def _decrypt_problems(
    meta: Mapping[str, Any], entries: Mapping[str, Any], keys: Sequence[RSAPrivateKey]
) -> Iterator[str]:
    lbl = label(scope_of(meta.get("annotations")), str(meta.get("namespace") or ""), str(meta["name"]))
    for entry, value in entries.items():
        try:
            open_value(keys, lbl, base64.b64decode(str(value)))
        except DecryptError:
            yield f"entry {entry}: does not decrypt with the given key(s)"
