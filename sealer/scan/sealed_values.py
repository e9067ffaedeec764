"""Detector: a value where ciphertext belongs that is not well-formed ciphertext.

Looked at: `spec.encryptedData` of a SealedSecret, and `sealer.encryptedData` of a values file
sealer renders (at any depth, for umbrella charts). A value that is not base64 of
`uint16 len || RSA ciphertext || GCM ciphertext+tag` is most likely plaintext pasted in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from sealer.scan import ciphertext, manifests
from sealer.scan.engine import Hit
from sealer.scan.findings import Located
from sealer.scan.manifests import Node
from sealer.scan.rules import Policy, Rule


def wanted(data: bytes) -> bool:
    return b"encryptedData" in data


def find(
    docs: Sequence[Node], rule: Rule, policy: Policy, rescan: Callable[[bytes], list[Hit]]
) -> Iterator[Located]:
    for doc in docs:
        for mapping in manifests.mappings(doc):
            for where, entries in _encrypted_data(mapping):
                for key, value in manifests.items(entries):
                    yield from _entry(f"{where}.{key.value}", value, rule, policy)


def _encrypted_data(mapping: Node) -> Iterator[tuple[str, Node]]:
    if manifests.scalar(manifests.get(mapping, "kind")) == "SealedSecret":
        yield "spec.encryptedData", manifests.get(manifests.get(mapping, "spec"), "encryptedData")
    values = manifests.get(mapping, "sealer")
    if manifests.is_mapping(values):
        yield "sealer.encryptedData", manifests.get(values, "encryptedData")


def _entry(where: str, value: Node, rule: Rule, policy: Policy) -> Iterator[Located]:
    line, column = manifests.position(value)
    if value.id != "scalar":
        yield Located(rule, line, column, b"", f"{where}: not a string")
        return
    text = manifests.scalar(value)
    problem = ciphertext.value_problem(text) if text else None
    if text and problem is not None and not policy.ignored_value(text):
        yield Located(rule, line, column, text.encode("utf-8"), f"{where}: {problem}")
