"""#16: the committed key registries must be exactly what the ledger and sealer.yaml give.

A registry is what a verifier in the cluster accepts keys by, so a pull request that edits one
(a fingerprint added, an old serial brought back, a namespace changed) would change which keys
a cluster accepts without a key rotation anyone reviewed. Recomputing it from HEAD's ledger and
configuration and comparing bytes catches every such edit.
"""

from __future__ import annotations

from collections.abc import Mapping

from sealer import layout, registry
from sealer.review.construct import applied
from sealer.review.model import REGISTRY_MISMATCH, REGISTRY_ROLLBACK, REGISTRY_TARGET_CHANGE, Finding
from sealer.review.revisions import Side


def registry_findings(
    base: Side, head: Side, names: list[str], changed: list[str], present: Mapping[str, str]
) -> list[Finding]:
    """A finding per registry file at HEAD that differs from (or is missing against) what HEAD's
    ledger gives, per file under registry/ (of `present`: HEAD's files, path -> mode) that no
    environment gives and a GitOps tool may apply (`construct.applied`: not a `.gitkeep` or a
    README, as `sealer check` passes them) while the range changed it or its environment, and
    per change of where an environment's registry goes (another namespace may be another team's
    verifier). A cluster or environment taken out
    of sealer.yaml leaves a registry no rotation updates again: its cluster would accept the
    keys it lists for good."""
    findings, expected = [], set()
    for name in names:
        env = head.env(name)
        if env is None:
            continue
        findings += _target_change(name, base, head) + _rollback(name, base, head)
        made = registry.files(name, [c.name for c in env.clusters], env.registry, head.records(name))
        expected |= set(made)
        for rel, data in sorted(made.items()):
            have = head.files.get(rel)
            if have is None and not head.records(name):
                continue  # never rotated: no key to list yet (`sealer check` agrees)
            if have != data.decode():
                serial = registry.serial_of(head.records(name))
                what = "is missing" if have is None else "differs from what the ledger and sealer.yaml give"
                fix = f"re-create it with `sealer render {name}`"
                findings.append(
                    Finding(REGISTRY_MISMATCH, name, rel, None, f"{what} (serial {serial}): {fix}")
                )
    left = [rel for rel in present if _dropped(head, names, rel)]
    for rel in dict.fromkeys([*changed, *left]):
        if (
            rel.startswith(f"{layout.REGISTRY_DIR}/")
            and rel not in expected
            and applied(rel, present)
            and (rel in left or head.files.get(rel) is not None)
        ):
            why = "no environment's key registry is rendered there (nothing revokes what it lists): remove it"
            findings.append(Finding(REGISTRY_MISMATCH, layout.registry_env(rel) or "", rel, None, why))
    return findings


def _dropped(head: Side, names: list[str], rel: str) -> bool:
    """Is `rel` a registry file of an environment the range touched that sealer.yaml no longer
    has, or of a cluster its environment no longer lists? (An environment whose registry is no
    longer delivered through Git, moved to another store, is a store-change of its own.)"""
    env_name = layout.registry_env(rel)
    if env_name is None or env_name not in names:
        return False
    env = head.env(env_name)
    if env is None:
        return True
    settings = env.registry
    gitops = settings is not None and settings.delivery == registry.GITOPS
    return gitops and rel not in {layout.registry_file(env_name, c.name) for c in env.clusters}


def _target_change(name: str, base: Side, head: Side) -> list[Finding]:
    old_env, new_env = base.env(name), head.env(name)
    old, new = (e.registry if e else None for e in (old_env, new_env))
    if old_env is None or old is None or new is None:
        return []
    fields = ("delivery", "kind", "namespace", "name")
    was, now = ([getattr(s, f) for f in fields] for s in (old, new))
    if was == now:
        return []
    what = ", ".join(f"{f} {a} -> {b}" for f, a, b in zip(fields, was, now, strict=True) if a != b)
    message = f"the key registry now goes elsewhere ({what}): make sure {new.namespace} is this environment's"
    return [Finding(REGISTRY_TARGET_CHANGE, name, "sealer.yaml", None, message)]


def _rollback(name: str, base: Side, head: Side) -> list[Finding]:
    """A ledger whose serial goes down: records removed or statuses moved back — a revert that
    would make revoked keys valid again (verifiers that saw the newer registry refuse it)."""
    before, after = (registry.serial_of(side.records(name)) for side in (base, head))
    if after >= before or base.env(name) is None:
        return []
    message = (
        f"the key registry's serial goes down from {before} to {after}: the ledger was rolled back "
        "(revoked keys valid again?); rotate forward instead of reverting"
    )
    return [Finding(REGISTRY_ROLLBACK, name, layout.ledger_file(name), None, message)]
