"""Which certificate sealed which entry, kept in annotations the controller ignores.

RSA-OAEP ciphertext does not reveal its public key, so an offline reviewer can only know
what sealer wrote down: the certificate that sealed the entries, plus, when a merge mixed
certificates, the entries sealed with another one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from sealer import strictjson

CERT_ANNOTATION = "sealer.dev/cert-sha256"
OTHER_CERTS_ANNOTATION = "sealer.dev/cert-sha256-entries"
UNKNOWN = "unknown"


class Unreadable(ValueError):
    """The entries annotation is there, but not a JSON object of entry -> certificate."""


def _mapping(annotations: Any) -> Mapping[str, Any]:
    return annotations if isinstance(annotations, Mapping) else {}


def other_certs(annotations: Mapping[str, Any]) -> dict[str, str]:
    """The entries the entries annotation says another certificate sealed ({} when absent);
    Unreadable when it is present but broken: nothing then says which certificate sealed any
    entry (taking them all for the main one's would pass what nobody can vouch for)."""
    if OTHER_CERTS_ANNOTATION not in annotations:
        return {}
    text = annotations[OTHER_CERTS_ANNOTATION]
    if not isinstance(text, str):
        raise Unreadable("not a string")
    try:
        others = strictjson.loads(text)
    except strictjson.DuplicateKey:
        raise Unreadable("it gives an entry twice") from None
    except ValueError:
        raise Unreadable("not JSON") from None
    if not isinstance(others, dict):
        raise Unreadable("not a JSON object")
    if not all(isinstance(fp, str) for fp in others.values()):
        raise Unreadable("a certificate in it is not a string")
    return others


def unreadable(annotations: Any) -> str | None:
    """Why the entries annotation cannot be read, or None (absent, or readable)."""
    try:
        other_certs(_mapping(annotations))
    except Unreadable as err:
        return f"the {OTHER_CERTS_ANNOTATION} annotation is unreadable ({err})"
    return None


def sealed_with(annotations: Any, entries: Iterable[str]) -> dict[str, str]:
    """entry -> certificate fingerprint (or `unknown`) for every entry; every entry is
    `unknown` when the entries annotation is unreadable."""
    annotations = _mapping(annotations)
    main = str(annotations.get(CERT_ANNOTATION) or UNKNOWN)
    try:
        others = other_certs(annotations)
    except Unreadable:
        return dict.fromkeys(entries, UNKNOWN)
    return {entry: others.get(entry, main) for entry in entries}


def record(
    annotations: MutableMapping[str, Any], resealed: Iterable[str], all_entries: Iterable[str], cert_fp: str
) -> None:
    """Note that `resealed` entries are now sealed with `cert_fp`; keep what others were sealed with."""
    current = sealed_with(annotations, all_entries)
    current.update(dict.fromkeys(resealed, cert_fp))
    annotations[CERT_ANNOTATION] = cert_fp
    others = {entry: fp for entry, fp in sorted(current.items()) if fp != cert_fp}
    if others:
        annotations[OTHER_CERTS_ANNOTATION] = json.dumps(others, sort_keys=True)
    elif OTHER_CERTS_ANNOTATION in annotations:
        del annotations[OTHER_CERTS_ANNOTATION]
