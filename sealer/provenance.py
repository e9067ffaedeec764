"""Which certificate sealed which entry, kept in annotations the controller ignores.

RSA-OAEP ciphertext does not reveal its public key, so an offline reviewer can only know
what sealer wrote down: the certificate that sealed the entries, plus, when a merge mixed
certificates, the entries sealed with another one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Claims:
    """What a SealedSecret's annotations claim sealed its entries, read once (`read`)."""

    main: str  # the certificate that sealed every entry not in `others` (or `unknown`)
    others: Mapping[str, str]  # entry -> the other certificate that sealed it
    unreadable: str | None  # why the entries annotation cannot be read: then every entry is unknown

    def sealed_with(self, entries: Iterable[str]) -> dict[str, str]:
        """entry -> certificate fingerprint (or `unknown`) for every entry."""
        if self.unreadable:
            return dict.fromkeys(entries, UNKNOWN)
        return {entry: self.others.get(entry, self.main) for entry in entries}


def read(annotations: Any) -> Claims:
    """The claims of `annotations` (whatever the YAML gave), the entries annotation parsed once."""
    annotations = _mapping(annotations)
    main = str(annotations.get(CERT_ANNOTATION) or UNKNOWN)
    try:
        return Claims(main, other_certs(annotations), None)
    except Unreadable as err:
        return Claims(main, {}, f"the {OTHER_CERTS_ANNOTATION} annotation is unreadable ({err})")


def unreadable(annotations: Any) -> str | None:
    """Why the entries annotation cannot be read, or None (absent, or readable)."""
    return read(annotations).unreadable


def sealed_with(annotations: Any, entries: Iterable[str]) -> dict[str, str]:
    """entry -> certificate fingerprint (or `unknown`) for every entry; every entry is
    `unknown` when the entries annotation is unreadable."""
    return read(annotations).sealed_with(entries)


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
