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
MALFORMED = "malformed"
# By construction (#19): files must be what sealer writes from HEAD's ledger and configuration.
DERIVED = "derived-field"  # a values file's `sealer:` subtree differs from the rendering
MANIFEST = "manifest-mismatch"  # a sealed file differs from the SealedSecret sealer writes
EXTRA_DOCUMENT = "extra-document"  # a managed file holds more than one YAML document
FILE_MODE = "file-mode"  # a managed path committed as a symlink, executable or submodule
STRAY = "stray-sealed-data"  # another file delivering a managed Secret (an old ciphertext, say)
CERT_MISMATCH = "cert-mismatch"  # a certificate file that is not the one pinned
CASE_COLLISION = "case-collision"  # a managed path in another case: one file on macOS or Windows
# The ledger's history must be a run of its state machine.
LEDGER_INVALID = "ledger-invalid"  # unreadable, or not as sealer writes it
LEDGER_REMOVED = "ledger-removed"  # deleted or emptied while the environment has keys
LEDGER_REWRITE = "ledger-rewrite"  # a record removed, reordered or a fixed field changed
LEDGER_STATUS = "ledger-status"  # a status moved backwards (revoked never returns), two current keys
KEY_LIFETIME = "key-lifetime"  # created in the future, expiry beyond the environment's key lifetime
BRANCH_TRAILER = "branch-trailer"  # a `Sealer-Branch:` trailer naming a branch other than the one reviewed
UNSIGNED = "unsigned-commit"  # --require-signed: not signed by a key in BASE's .sealer/allowed_signers
# Sensitive: fail unless approved from outside the author's control (see sealer.review.approvals).
STORE_CHANGE = "store-change"
ENV_ADDED = "env-added"
ENV_REMOVED = "env-removed"
CERT_CHANGE = "cert-change"
PERIOD_CHANGE = "period-change"
VALUES_FILE_CHANGE = "values-file-change"
POLICY_OVERRIDE = "policy-override"
KEYS_CHANGE = "keys-change"
ALLOW_COMMENT = "allow-comment"
BASELINE_ENTRY = "baseline-entry"
TRUST_ANCHOR = "trust-anchor-change"  # .sealer/, CODEOWNERS, hooks, CI workflows, .gitattributes
CERT_ADDED = "cert-added"  # #15: a certificate added to a cluster's set (sealer.review.certset)
CONTEXT_CHANGE = "cluster-context-change"  # #17: which kubeconfig context stands for a cluster
DELIVERY_CHANGE = "delivery-change"  # a values file's chart settings read the key from elsewhere
SENSITIVE = frozenset(
    {
        SCOPE_CHANGE,
        NAMESPACE_CHANGE,
        NAME_CHANGE,
        PIN_CHANGE,
        STORE_CHANGE,
        ENV_ADDED,
        ENV_REMOVED,
        CERT_CHANGE,
        PERIOD_CHANGE,
        VALUES_FILE_CHANGE,
        POLICY_OVERRIDE,
        KEYS_CHANGE,
        ALLOW_COMMENT,
        BASELINE_ENTRY,
        TRUST_ANCHOR,
        CERT_ADDED,
        CONTEXT_CHANGE,
        DELIVERY_CHANGE,
    }
)
REGISTRY_MISMATCH = "registry-mismatch"  # #16: a key registry the ledger does not give
REGISTRY_TARGET_CHANGE = "registry-target-change"  # #16: a registry delivered somewhere else
REGISTRY_ROLLBACK = "registry-rollback"  # #16: a ledger (and so its registry serial) moved backwards
# A range holding no commit reviews nothing (Report.nothing_reviewed): the one line that says why.
SAME_COMMIT = (
    "BASE and HEAD are the same commit, so nothing was reviewed: check out the branch, "
    "or give `sealer review BASE BRANCH`"
)
HEAD_BEHIND = (
    "HEAD is an ancestor of BASE, so the range holds no commit and nothing was reviewed: "
    "give the older revision first (`sealer review BASE BRANCH`)"
)
MAIN_BRANCHES = ("refs/heads/main", "refs/heads/master", "refs/remotes/origin/HEAD")
SCAN_CHUNK = 16 << 20  # plaintext scan: a bigger blob is streamed in chunks of this size (never skipped)
# #13 bounds each file sealer reads (repofiles.MAX_BYTES); a pull request adding thousands of
# environments' ledgers, each below that, would still have review hold them all: what review
# holds of one revision's files, and of the blobs a range of commits changes, is bounded too.
MAX_TOTAL_BYTES = 256 << 20


@dataclass(frozen=True)
class Finding:
    rule: str  # what kind of finding (`hand-edit`, …): JSON `rule`, as in `sealer check` and `scan`
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
    new_fingerprint: str | None  # the new key's SHA-256 (text and markdown show 12 hex digits)
    sealed_with: str | None  # certificate fingerprint from the provenance annotation
    pinned: bool
    old_key_created: str | None
    old_key_age_days: int | None  # at the HEAD commit
    old_key_status: str | None  # the old key's ledger status at HEAD
    # How long the old key stays valid beside the new one, as granted (what the reviewer
    # approves): the Git ledger counts it from the rotation and ends it at the old key's
    # revoke_at; an external store counts it from `rotate --finish`. None: no grace window.
    old_key_grace_seconds: int | None
    grace_counted_from: str | None  # "rotation" | "rotate --finish"
    old_key_revoke_at: str | None  # the old key's revoke_at in HEAD's ledger
    new_key_expires: str | None
    files: tuple[str, ...]


@dataclass
class Report:
    base: str
    head: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Sensitive findings the chosen approval channel covers: not failing, but listed.
    needs_approval: list[Finding] = field(default_factory=list)  # --approvals-from codeowners
    approved: list[Finding] = field(default_factory=list)  # --approvals-from signed-tags
    approvals: list[str] = field(default_factory=list)  # who approved (signed tags)
    # Why the range held no commit to review (one line); None when it held some. An empty range
    # is no approval: it fails as a finding does.
    nothing_reviewed: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and self.nothing_reviewed is None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "ok": self.ok,
            "nothing_reviewed": self.nothing_reviewed,
            "changes": [asdict(c) for c in self.changes],
            "findings": [asdict(f) for f in self.findings],
            "needs_owner_approval": [asdict(f) for f in self.needs_approval],
            "approved": [asdict(f) for f in self.approved],
            "approvals": list(self.approvals),
            "notes": list(self.notes),
        }
