"""What a review finds: changes, findings, and the report that holds them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

HAND_EDIT = "hand-edit"
UNPINNED = "unpinned-cert"
DUPLICATE = "duplicate-key"
PLAINTEXT = "plaintext"
SCOPE_CHANGE = "scope-change"
NAMESPACE_CHANGE = "namespace-change"
NAME_CHANGE = "name-change"
PIN_CHANGE = "pin-change"
MISMATCH = "values-mismatch"
LEDGER_ONLY = "ledger-only"
BACKEND_CHANGE = "backend-change"  # another key store, or its options (hosts, kubeconfig)
TEMPLATE_CHANGE = "template-change"  # the Secret the controller makes (spec.template) changed
LEDGER_EDIT = "ledger-edit"  # a key record changed in a way no rotation changes it
MALFORMED = "malformed"
REGISTRY_MISMATCH = "registry-mismatch"  # #16: a key registry the ledger does not give
REGISTRY_TARGET_CHANGE = "registry-target-change"  # #16: a registry delivered somewhere else
REGISTRY_ROLLBACK = "registry-rollback"  # #16: a ledger (and so its registry serial) moved backwards
MAIN_BRANCHES = ("refs/heads/main", "refs/heads/master", "refs/remotes/origin/HEAD")
MAX_SCAN_BYTES = 4 << 20  # plaintext scan of changed files: bigger files are not configuration


@dataclass(frozen=True)
class Finding:
    code: str
    env: str
    path: str
    entry: str | None
    message: str


@dataclass(frozen=True)
class Change:
    env: str
    cluster: str
    secret: str
    namespace: str
    scope: str
    entry: str
    action: str  # rotated | added | removed | changed
    old_key_id: str | None
    new_key_id: str | None
    new_fingerprint: str | None  # first 12 hex digits of the new key's SHA-256
    sealed_with: str | None  # certificate fingerprint from the provenance annotation
    pinned: bool
    old_key_created: str | None
    old_key_age_days: int | None  # at the HEAD commit
    old_key_status: str | None  # the old key's ledger status at HEAD
    new_key_expires: str | None
    files: tuple[str, ...]


@dataclass
class Report:
    base: str
    head: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "ok": not self.findings,
            "changes": [asdict(c) for c in self.changes],
            "findings": [asdict(f) for f in self.findings],
            "notes": list(self.notes),
        }
