"""Which certificate sealed which entry, kept in annotations the controller ignores.

RSA-OAEP ciphertext does not reveal its public key, so an offline reviewer can only know
what sealer wrote down: the certificate that sealed the entries, plus, when a merge mixed
certificates, the entries sealed with another one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, MutableMapping
from typing import Any

from sealer import strictjson

CERT_ANNOTATION = "sealer.dev/cert-sha256"
OTHER_CERTS_ANNOTATION = "sealer.dev/cert-sha256-entries"
UNKNOWN = "unknown"


def sealed_with(annotations: Any, entries: Iterable[str]) -> dict[str, str]:
    """entry -> certificate fingerprint (or `unknown`) for every entry."""
    annotations = annotations or {}
    main = str(annotations.get(CERT_ANNOTATION) or UNKNOWN)
    try:
        others = strictjson.loads(annotations.get(OTHER_CERTS_ANNOTATION) or "{}")
    except ValueError:
        others = {}
    if not isinstance(others, dict):
        others = {}
    return {entry: str(others.get(entry, main)) for entry in entries}


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
