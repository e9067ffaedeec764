"""Commit by commit: what BASE..HEAD as a whole would hide (an edit undone later)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealer import git, layout
from sealer.config import Config
from sealer.review.checks import scan_plaintext
from sealer.review.model import (
    HAND_EDIT,
    Finding,
)
from sealer.review.revisions import Side, changed_paths, encrypted, read_files, values_encrypted

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def ciphertexts(doc: Mapping[str, Any] | None) -> dict[str, str]:
    """entry -> value of a SealedSecret (spec.encryptedData) or a values file (sealer.encryptedData)."""
    doc = doc or {}
    if "spec" in doc:
        return encrypted(doc)
    sub = doc.get("sealer")
    return values_encrypted(sub) if isinstance(sub, dict) else {}


def data_owner(path: str, configs: list[Config]) -> str | None:
    """The environment whose sealed data `path` holds (a sealed or values file), if any."""
    for cfg in configs:
        for name, env in cfg.environments.items():
            if path.startswith(layout.sealed_dir(name)) or path in (
                env.values_file,
                *(c.values_file for c in env.clusters),
            ):
                return name
    return None


def commits(root: Path, base: str, head: str) -> list[tuple[str, list[str]]]:
    """(commit, parents) of every commit in base..head, oldest first."""
    lines = git.run(
        root, "rev-list", "--reverse", "--topo-order", "--parents", f"{base}..{head}"
    ).splitlines()
    return [(parts[0], parts[1:]) for parts in (line.split() for line in lines) if parts]


def commit_findings(
    root: Path, commit: str, parents: list[str], configs: list[Config], seen: set[tuple[str, str]]
) -> list[Finding]:
    """Hand edits (a value changed with no new ledger key in the same commit; in a merge, a value
    no parent had) and plaintext keys added by one commit."""
    first = parents[0] if parents else EMPTY_TREE
    changed = changed_paths(root, first, commit)
    findings = scan_plaintext(read_files(root, commit, changed), seen, commit)
    owned = {p: env for p in changed if (env := data_owner(p, configs))}
    wanted = [*owned, *{layout.ledger_file(env) for env in owned.values()}]
    now, before = (Side(rev, None, read_files(root, rev, wanted)) for rev in (commit, first))
    others = [Side(p, None, read_files(root, p, owned)) for p in parents[1:]]
    for path, env in sorted(owned.items()):
        known = {r.key_id for r in before.records(env)}
        fresh = {r.name for r in now.records(env) if r.key_id not in known}
        old, new = ciphertexts(before.doc(path)), ciphertexts(now.doc(path))
        merged = [ciphertexts(other.doc(path)) for other in others]
        for entry, value in sorted(new.items()):
            from_parent = any(values.get(entry) == value for values in merged)
            if old.get(entry) != value and not from_parent and (others or entry not in fresh):
                message = (
                    f"{entry}: commit {commit[:12]} changed the ciphertext with no new key in the ledger"
                )
                findings.append(Finding(HAND_EDIT, env, path, entry, message + " (edited by hand?)"))
    return findings


def history_findings(root: Path, base: str, head: str, configs: list[Config]) -> list[Finding]:
    """Every commit of the range on its own (skipped when the range is one plain commit on BASE,
    which the whole-range comparison already is)."""
    found = commits(root, base, head)
    if len(found) == 1 and found[0][1] == [base]:
        return []
    seen: set[tuple[str, str]] = set()
    return [f for commit, parents in found for f in commit_findings(root, commit, parents, configs, seen)]
