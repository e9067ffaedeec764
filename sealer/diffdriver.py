"""`sealer diff-driver FILE`: the Git textconv that makes `git diff` of sealed data readable.

Every sealed base64 value becomes a short, stable summary,

    <sealed 4096-bit, sha256:1a2b3c4d5e6f…, key kid_0a1b2c3d4e5f>

(the digest is of the ciphertext). The key id is only shown when it is known for that exact
ciphertext: from the file itself (a values file lists the key id of each entry), or from the
working tree's values file of the environment that carries the same ciphertext. RSA-OAEP hides
which key a ciphertext holds, so a ciphertext no values file names gets the digest alone.

Git runs this for every file of every diff: it imports little, reads only YAML, and never
fails. Anything it cannot read as YAML is printed unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealer import hybrid, layout, repofiles, yamlio
from sealer.errors import SealerError

# A base64 run long enough to hold a sealed value (2048-bit: 2 + 256 + 16 bytes = 368 chars).
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{300,}={0,2}(?![A-Za-z0-9+/=])")
MAX_FLOW_DEPTH = 1000


def summary(value: str, key_id: str | None = None) -> str | None:
    """The summary of one base64 value, or None when it is not a sealed value."""
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not hybrid.looks_sealed(blob):
        return None
    bits = int.from_bytes(blob[:2], "big") * 8
    digest = hashlib.sha256(blob).hexdigest()[:12]
    return f"<sealed {bits}-bit, sha256:{digest}…" + (f", key {key_id}>" if key_id else ">")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def key_ids_in_values(doc: Any) -> dict[str, str]:
    """ciphertext -> key id, from a values file's `sealer:` subtree."""
    sub = _mapping(_mapping(doc).get("sealer"))
    keys = _mapping(sub.get("keys"))
    result = {}
    for entry, value in _mapping(sub.get("encryptedData")).items():
        key_id = _mapping(keys.get(entry)).get("keyId")
        if isinstance(value, str) and isinstance(key_id, str):
            result[value] = key_id
    return result


def _load(path: Path) -> Any:
    try:
        docs = repofiles.load_yaml(path)
    except (OSError, ValueError, SealerError):
        return None
    return docs[0] if docs else None


def _env_of(doc: Any, environments: Mapping[str, Any]) -> str | None:
    """The environment a SealedSecret or values file belongs to, by its namespace and name."""
    meta = _mapping(_mapping(doc).get("metadata"))
    sub = _mapping(_mapping(doc).get("sealer"))
    wanted = (
        (meta.get("namespace"), meta.get("name")) if meta else (sub.get("namespace"), sub.get("secretName"))
    )
    for name, env in environments.items():
        if (_mapping(env).get("namespace"), _mapping(env).get("secretName")) == wanted:
            return str(name)
    return None


def _values_files(env: Mapping[str, Any]) -> list[str]:
    clusters = env.get("clusters")
    listed = clusters if isinstance(clusters, list) else []
    files = [env.get("valuesFile")] + [_mapping(c).get("valuesFile") for c in listed]
    return list(dict.fromkeys(f for f in files if isinstance(f, str)))


def _statuses(root: Path, env: str) -> dict[str, str]:
    """key id -> status in the working tree's ledger of `env`."""
    keys = _mapping(_load(layout.ledger_path(root, env))).get("keys")
    records = [_mapping(k) for k in keys] if isinstance(keys, list) else []
    return {str(k.get("key_id")): str(k.get("status")) for k in records}


def known_key_ids(doc: Any, root: Path) -> dict[str, str]:
    """ciphertext -> key id (with its ledger status) from the file itself and its environment's
    values files in the working tree."""
    result = key_ids_in_values(doc)
    environments = _mapping(_mapping(_load(layout.config_path(root))).get("environments"))
    env = _env_of(doc, environments)
    if env is None:
        return result
    for rel in _values_files(_mapping(environments.get(env))):
        if not rel.startswith(("/", "..")) and (root / rel).is_file():
            result.update(key_ids_in_values(_load(root / rel)))
    statuses = _statuses(root, env)
    return {
        value: f"{key_id} ({statuses[key_id]})" if key_id in statuses else key_id
        for value, key_id in result.items()
    }


def convert(text: str, key_ids: Mapping[str, str]) -> str:
    """`text` with every sealed base64 value replaced by its summary; everything else as is."""

    def replace(match: re.Match[str]) -> str:
        found = summary(match.group(0), key_ids.get(match.group(0)))
        return found or match.group(0)

    return _BASE64.sub(replace, text)


def too_deep(text: str, limit: int = MAX_FLOW_DEPTH) -> bool:
    """True when flow collections nest deeper than `limit` (libyaml's C loader crashes on
    ~100,000 levels; a textconv must never take `git diff` down with it)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for char in text:
        depth += 1 if char in "[{" else -1 if char in "]}" else 0
        if depth > limit:
            return True
    return False


def convert_file(path: str, root: Path | None = None) -> bytes:
    """What `git diff` shows for `path`: the converted text, or the bytes unchanged."""
    try:
        data = repofiles.read_bytes(path)
    except (OSError, ValueError, SealerError):  # a symlink, FIFO or huge file: shown as empty
        return b""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    if not _BASE64.search(text) or too_deep(text):
        return data  # nothing to replace (whether YAML or not), or unsafe to parse
    try:
        docs = yamlio.load_documents(text, path)
    except SealerError:
        return data
    key_ids = known_key_ids(docs[0] if docs else None, root or Path.cwd())
    return convert(text, key_ids).encode("utf-8")
