"""What a finding carries: where, which rule, a masked preview and a fingerprint, never the secret.

The fingerprint hashes the rule, the path and a hash of the secret (and, for a secret in the
path itself, that it was found there), so it stays the same when lines move and a baseline never
holds the secret itself.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sealer.scan.rules import Rule


class Located(NamedTuple):
    """A hit with its position, still holding the secret; it never leaves the scanner."""

    rule: Rule
    line: int
    column: int
    secret: bytes
    note: str = ""


class Finding(NamedTuple):
    path: str
    line: int
    column: int
    rule: str
    severity: str
    description: str
    preview: str
    fingerprint: str
    note: str = ""
    commit: str = ""  # under --history: the commit that introduced it
    secret_id: str = ""  # the secret's hash: tells duplicates apart in one scan, never reported

    def as_dict(self) -> dict[str, Any]:
        data = self._asdict()
        del data["secret_id"]
        for optional in ("note", "commit"):
            if not data[optional]:
                del data[optional]
        return data


def mask(secret: bytes) -> str:
    """`slr_…[49 chars]`: up to 4 leading characters (fewer for short values) and the length."""
    text = secret.decode("utf-8", "replace")
    return f"{text[: min(4, len(text) // 4)]}…[{len(text)} chars]"


IN_NAME = "name"  # where a finding was: in the file's path, not its content


def fingerprint(rule: str, path: str, secret: bytes, where: str = "") -> str:
    """A finding in the file's content hashes as it always has (baselines stay valid); one in its
    path (`where`: IN_NAME) apart from it, so accepting one never accepts the other."""
    import hashlib

    suffix = f"\0{where}" if where else ""
    return hashlib.sha256(f"{rule}\0{path}\0{secret_id(secret)}{suffix}".encode()).hexdigest()


def secret_id(secret: bytes) -> str:
    import hashlib

    return hashlib.sha256(secret).hexdigest()


def make(path: str, found: Located, where: str = "") -> Finding:
    return Finding(
        path=path,
        line=found.line,
        column=found.column,
        rule=found.rule.id,
        severity=found.rule.severity,
        description=found.rule.description,
        preview=mask(found.secret),
        fingerprint=fingerprint(found.rule.id, path, found.secret, where),
        note=found.note,
        secret_id=secret_id(found.secret),
    )
