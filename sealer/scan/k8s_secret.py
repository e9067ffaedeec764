"""Detector: a plain Kubernetes Secret with non-empty data or stringData.

Each entry is a finding; `data` values are base64-decoded and scanned as well, so the report
names what is inside (a sealer key, a private key) and not only that a Secret is there.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator, Sequence

from sealer import apikey
from sealer.scan import manifests
from sealer.scan.engine import Hit
from sealer.scan.findings import Located
from sealer.scan.manifests import Node
from sealer.scan.rules import Policy, Rule

_MENTION = re.compile(rb"""kind["']?\s*:\s*["']?Secret\b""")


def wanted(data: bytes) -> bool:
    return b"Secret" in data and _MENTION.search(data) is not None


def find(
    docs: Sequence[Node], rule: Rule, policy: Policy, rescan: Callable[[bytes], list[Hit]]
) -> Iterator[Located]:
    for doc in docs:
        for mapping in manifests.mappings(doc):
            if manifests.scalar(manifests.get(mapping, "kind")) != "Secret":
                continue
            if manifests.scalar(manifests.get(mapping, "apiVersion")) not in (None, "v1"):
                continue
            advice = CONTROLLER_KEY_ADVICE if _controller_key(mapping) else ""
            sops = _sops_written(mapping)
            for field in ("data", "stringData"):
                for key, value in manifests.items(manifests.get(mapping, field)):
                    sealed = _SOPS_VALUE.fullmatch(manifests.scalar(value) or "") if sops else None
                    if sealed and not _key_inside(sealed[1]):
                        continue  # ciphertext: Flux (or sops -d) decrypts it in the cluster
                    yield from _entry(f"{field}.{key.value}{advice}", key, value, rule, policy, rescan)


# A value SOPS encrypted, in a Secret SOPS wrote (its `sops` block with the file's MAC): no
# plaintext. A key written out as such a value's `data` is still found by the text rules.
_B64 = "[A-Za-z0-9+/]*={0,2}"
_SOPS_VALUE = re.compile(
    rf"ENC\[AES256_GCM,data:({_B64}),iv:{_B64},tag:{_B64},type:(str|int|float|bool|bytes)\]"
)


def _key_inside(payload: str) -> bool:
    """Whether a SOPS value's `data` decodes to a sealer key, or to a `data` entry's base64 of
    one (which the text rules do not decode twice): plaintext in SOPS's dress, no ciphertext."""
    layer = _decoded(payload)
    for _ in range(2):
        text = layer.decode("latin-1")
        if apikey.holds_key(text):
            return True
        layer = _decoded(text)
    return False


def _sops_written(mapping: Node) -> bool:
    return manifests.scalar(manifests.get(manifests.get(mapping, "sops"), "mac")) is not None


CONTROLLER_KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
CONTROLLER_KEY_ADVICE = "; a controller's private key: keep it out of the repository, never seal it"


def _controller_key(mapping: Node) -> bool:
    """A Sealed Secrets controller key Secret: sealing it with its own certificate is no answer."""
    labels = manifests.get(manifests.get(mapping, "metadata"), "labels")
    return any(key.value == CONTROLLER_KEY_LABEL for key, _ in manifests.items(labels))


def _entry(
    where: str, key: Node, value: Node, rule: Rule, policy: Policy, rescan: Callable[[bytes], list[Hit]]
) -> Iterator[Located]:
    text = manifests.scalar(value)
    if not text or policy.ignored_value(text):
        return
    line, column = manifests.position(key)
    yield Located(rule, line, column, text.encode("utf-8"), where)
    if where.startswith("data."):  # stringData is plain text, scanned where it stands
        for hit in rescan(_decoded(text)):
            yield Located(hit.rule, line, column, hit.secret, f"{where} (base64-decoded)")


def _decoded(text: str) -> bytes:
    import base64

    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""
