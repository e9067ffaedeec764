"""Planning a rotation: which keys, the new key records, every file it writes. Reads only."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import (
    apikey,
    branches,
    cert_pins,
    forkpool,
    git,
    layout,
    ledger,
    registry,
    render,
    repofiles,
    state,
    templating,
)
from sealer.config import Config, Environment
from sealer.durations import format_duration
from sealer.errors import BadInput, GitError
from sealer.records import ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, ciphertext_digest, iso
from sealer.sealing import CertSealer


@dataclass(frozen=True)
class Request:
    envs: tuple[str, ...]
    keys: tuple[str, ...] = ()
    due: bool = False
    grace: dt.timedelta | None = None
    branch: str | None = None
    no_branch: bool = False
    commit: bool = True
    push: str | None = None
    dry_run: bool = False
    replace: bool = False  # rotate although an earlier rotation's branch is not merged yet


@dataclass(frozen=True)
class KeyChange:
    """One rotated entry: its new key (id and fingerprint only) and the key it replaces."""

    name: str
    key_id: str
    fingerprint: str
    previous_key_id: str | None
    expires: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


FileChange = tuple[str, str | None]  # (new text, old text or None when new)
Sealed = tuple[dict[str, Any] | None, str | None]  # a sealed file as state.load_with_text reads it


@dataclass
class EnvRotation:
    """One environment's share of a rotation: the entries it rotates and the files it writes."""

    env: Environment
    rotated: list[KeyChange]
    new_records: list[KeyRecord]
    files: dict[str, FileChange] = field(default_factory=dict)  # repo-relative path -> change


@dataclass(frozen=True)
class Target:
    env: Environment
    names: list[str]  # the entries to rotate
    records: list[KeyRecord]  # the ledger as it is
    # cluster -> its sealed file, when `targets` read it already (rotate --due); plan_env merges
    # into these documents, as into any it reads itself: a target is planned once
    sealed: Mapping[str, Sealed] = field(default_factory=dict)


def sealers(cfg: Config, env: Environment) -> dict[str, CertSealer]:
    """A sealer per pinned cluster (see `cert_pins.pinned_certificates`)."""
    pinned = cert_pins.pinned_certificates(cfg.root, env)
    return {c.name: CertSealer.from_certificate(pinned[c.name], c.cert) for c in env.clusters}


def due_keys(env: Environment, records: list[KeyRecord], now: dt.datetime) -> list[str]:
    """Managed entries with no current key, or whose key is older than the rotation period or
    expires within the roll-out margin (keyLifetimeDays - rotationDays, at most one period) from
    now: a key made under a shorter lifetime (rotationDays raised since) would otherwise expire
    before it is due. At most one period: a key made under a shorter lifetime than today's, yet
    with a period's life left, is rotated by its period (raising keyLifetimeDays rotates nothing)."""
    current = ledger.current(env.keys, records)
    period = dt.timedelta(days=env.rotation_days)
    margin = min(dt.timedelta(days=env.key_lifetime_days - env.rotation_days), period)

    def due(record: KeyRecord) -> bool:
        return now - record.created >= period or record.expires is not None and record.expires - now <= margin

    return [name for name in env.keys if name not in current or due(current[name])]


def retire(
    records: list[KeyRecord], names: set[str], now: dt.datetime, grace: dt.timedelta | None
) -> list[KeyRecord]:
    """Old keys of rotated entries: revoked now, or in grace until now + grace; lapsed graces end."""
    out = []
    for record in records:
        if record.name in names and record.status in (ACTIVE, PENDING):
            record = record.with_status(GRACE, now + grace) if grace else record.with_status(REVOKED)
        elif record.status == GRACE and record.revoke_at and record.revoke_at <= now:
            record = record.with_status(REVOKED, record.revoke_at)
        out.append(record)
    return out


def plan_env(
    target: Target, cfg: Config, now: dt.datetime, grace: dt.timedelta | None, actor: str
) -> EnvRotation:
    env, names, old_records = target.env, target.names, target.records
    unknown = [n for n in names if n not in env.keys]
    if unknown:
        raise BadInput(f"{env.name} manages no key named {', '.join(unknown)} (it has {', '.join(env.keys)})")
    by_cluster = sealers(cfg, env)
    previous = ledger.current(env.keys, old_records)
    plan = EnvRotation(env, [], [])
    values: dict[str, bytes] = {}  # the plaintext keys: in memory only, sealed below, then dropped
    expires = now + dt.timedelta(days=env.key_lifetime_days)
    sealed_with = tuple(s.fingerprint for s in by_cluster.values())
    fingerprints: dict[str, str] = {}
    for name in names:
        key = apikey.generate(env.name)
        values[name] = key.encode()
        fingerprints[name] = apikey.fingerprint(key)
    sealed = {c.name: state.seal_entries(env, by_cluster[c.name], values) for c in env.clusters}
    for name, fp in fingerprints.items():
        digests = tuple((c, ciphertext_digest(by_name[name])) for c, by_name in sealed.items())
        record = KeyRecord(
            env.name, name, apikey.key_id(fp), fp, now, expires, ACTIVE, actor, None, sealed_with, digests
        )
        plan.new_records.append(record)
        prev = previous.get(name)
        plan.rotated.append(KeyChange(name, record.key_id, fp, prev.key_id if prev else None, iso(expires)))
    records = retire(old_records, set(names), now, grace) + plan.new_records
    for cluster in env.clusters:
        rel = layout.sealed_file(env.name, cluster.name)
        old_doc, old_text = _sealed_file(cfg, target, cluster.name)
        doc = state.merged(old_doc, env, by_cluster[cluster.name], sealed[cluster.name], rel)
        plan.files[rel] = (state.dump(doc), old_text)
        plan.files[cluster.values_file] = render.values_text(cfg.root, env, cluster, doc, records)
    rel = layout.ledger_file(env.name)
    plan.files[rel] = (ledger.dump(env.name, records), repofiles.read_text_if_exists(cfg.root / rel))
    # #16: the key registries the new ledger gives, committed with it (GitOps delivery).
    for rel, data in registry.files(env.name, [c.name for c in env.clusters], env.registry, records).items():
        plan.files[rel] = (data.decode(), repofiles.read_text_if_exists(cfg.root / rel))
    return plan


# Below this many environments a fork costs more than planning them here (~5 ms each).
MIN_ENVS_PER_WORKER = 4


def plan_all(
    targets: list[Target],
    cfg: Config,
    now: dt.datetime,
    grace: dt.timedelta | None,
    actor: str,
    planned: Callable[[dict[str, FileChange]], None] | None = None,
) -> list[EnvRotation]:
    """Every target's plan, on every core for many environments. The plaintext keys stay in
    the process that seals them: only ciphertext and metadata come back. `planned` gets the
    files of each share this process plans while the workers plan theirs (never in a worker)."""
    workers = min(forkpool.cores(), len(targets) // MIN_ENVS_PER_WORKER)
    home = os.getpid()

    def work(share: Sequence[Target]) -> list[EnvRotation]:
        plans = [plan_env(target, cfg, now, grace, actor) for target in share]
        if planned is not None and workers > 1 and os.getpid() == home:
            planned(files_of(plans))
        return plans

    if workers > 1:
        _warm_up()
    return forkpool.run_queued(work, targets, workers)


def _warm_up() -> None:
    """What every share loads, loaded once before the fork (the workers inherit it) instead of
    once in each worker: the certificate parser (and the encoder the pins' fingerprints use) and
    the compiled values template."""
    import cryptography.x509  # noqa: F401
    from cryptography.hazmat.primitives import serialization  # noqa: F401

    templating.environment().get_template("values.sealer.yaml.j2")


def targets(cfg: Config, request: Request, now: dt.datetime) -> list[Target]:
    envs = request.envs or (tuple(cfg.environments) if request.due else ())
    if not envs:
        raise BadInput("name an environment, or give --due to rotate every key that is due")
    found = []
    for name in envs:
        env = cfg.env(name)
        if request.due and not request.envs and not env.clusters:
            continue  # a scheduled --due over everything skips what cannot be sealed yet; check flags it
        names = list(request.keys) or list(env.keys)
        records = ledger.load(cfg.root, env.name)
        sealed: dict[str, Sealed] = {}
        if request.due:
            due = set(due_keys(env, records, now))
            if not due.issuperset(names):  # #15: sealed with an older cert (reads the sealed files, once)
                sealed = _read_sealed(cfg, env)
                due |= set(cert_pins.reseal_due(cfg.root, env, now, {c: d for c, (d, _) in sealed.items()}))
            names = [n for n in names if n in due]
        if names:
            found.append(Target(env, names, records, sealed))
    return found


def _read_sealed(cfg: Config, env: Environment) -> dict[str, Sealed]:
    return {c.name: state.load_with_text(cfg.root, env.name, c.name) for c in env.clusters}


def _sealed_file(cfg: Config, target: Target, cluster: str) -> Sealed:
    """The cluster's sealed file as `targets` read it (rotate --due), else read now."""
    return target.sealed.get(cluster) or state.load_with_text(cfg.root, target.env.name, cluster)


def on_own_branch(request: Request) -> bool:
    """Whether the rotation commits on a branch of its own (`branch_name` names it)."""
    return request.commit and not request.no_branch


def branch_name(root: Path, request: Request, envs: list[str], now: dt.datetime) -> str | None:
    if not on_own_branch(request):
        return None
    on_remote = request.push if request.push and not request.dry_run else None
    if request.branch:
        return given_branch(root, request.branch, on_remote)
    label = envs[0] if len(envs) == 1 else "due"
    return fresh_branch(root, f"sealer/rotate-{label}-{now:%Y%m%dT%H%M%SZ}", on_remote)


def given_branch(root: Path, branch: str, remote: str | None) -> str:
    """`--branch`: a new branch, here and on the remote sealer will push it to."""
    git.check_branch_name(root, branch)
    if branch in remote_branches(root, remote, branch):
        raise BadInput(f"branch {branch} exists on {remote} already: give another --branch")
    return branch


def remote_branches(root: Path, remote: str | None, pattern: str) -> set[str]:
    """Names of `remote`'s branches matching `pattern`; none when the remote cannot be asked now:
    then the push says why, and its lease still refuses a branch that exists (git.push_new_branch)."""
    if not remote:
        return set()
    try:
        return set(git.remote_heads(root, remote, pattern))
    except GitError:
        return set()


def fresh_branch(root: Path, base: str, remote: str | None = None) -> str:
    """`base`, or `base-2`, `base-3`… : the first name no local branch has, nor a branch on
    `remote` (the name is predictable, so someone may have pushed a branch of theirs under it)."""
    elsewhere = remote_branches(root, remote, f"{base}*")
    taken = 1
    while (name := base if taken == 1 else f"{base}-{taken}") in elsewhere or git.branch_exists(root, name):
        taken += 1  # two rotations within one second
    return git.valid_branch_name(root, name)  # no branch of that name: git was just asked


def texts(plans: list[EnvRotation], grace: dt.timedelta | None) -> dict[str, Any]:
    """What the commit message and the PR description say about the keys they replace."""
    return {
        "plans": plans,
        "grace": format_duration(grace) if grace else None,
        "first_keys": not any(k.previous_key_id for p in plans for k in p.rotated),
    }


def commit_message(plans: list[EnvRotation], grace: dt.timedelta | None) -> str:
    return templating.render("commit-message.txt.j2", **texts(plans, grace)).strip() + "\n"


def without_waiting(root: Path, request: Request, found: list[Target]) -> tuple[list[Target], dict[str, str]]:
    """`rotate --due` over every environment leaves out each one whose rotation waits unmerged
    on a branch, here or on the remote it pushes to (`refuse_unmerged` would stop them all for
    it): the others, and env -> branch."""
    if not request.due or request.envs or request.replace:
        return found, {}
    waiting: dict[str, str] = {}
    for env, branch in branches.waiting_rotations(root, [t.env.name for t in found], request.push):
        waiting.setdefault(env, branch)
    return [t for t in found if t.env.name not in waiting], waiting


def refuse_unmerged(root: Path, envs: list[str], push: str | None) -> None:
    """A rotation on top of one not merged yet would stack on a stale ledger: say so instead."""
    refused = unmerged_refusal(root, envs, push)
    if refused is not None:
        raise refused


def unmerged_refusal(root: Path, envs: list[str], push: str | None) -> BadInput | None:
    """The refusal `refuse_unmerged` raises, for a dry run to tell: None when nothing waits."""
    waiting = branches.waiting_rotations(root, envs, push)
    return refusal(root, *waiting[0]) if waiting else None


def refusal(root: Path, env: str, branch: str) -> BadInput:
    """Why a rotation of `env` is refused while `branch` holds one this checkout lacks."""
    here = git.current_branch(root) or "HEAD"
    if branches.is_remote_copy(root, branch):  # only sealer's own are named: its pull request waits
        return BadInput(
            f"{env} has a rotation on branch {branch} that {here} does not hold yet: merge it first "
            f"(or, when it is deleted there, `git fetch --prune`), or give --replace to rotate again "
            f"from {here} and close its pull request"
        )
    if not branches.is_own(root, branch):  # main (or a branch off it) took a rotation in since
        return BadInput(
            f"branch {branch} holds a newer rotation of {env} than {here} does: merge {branch} into "
            f"{here} first (a rotation from {here} would stack on a stale ledger)"
        )
    return BadInput(
        f"{env} has a rotation on branch {branch} that {here} does not hold yet: merge it first "
        f"(or delete the branch), or give --replace to rotate again from {here} "
        "and close its pull request"
    )


def files_of(plans: list[EnvRotation]) -> dict[str, FileChange]:
    return {rel: change for plan in plans for rel, change in plan.files.items()}


def allowed_paths(cfg: Config, env_names: list[str]) -> set[str]:
    """Every file a rotation (or revocation) of these environments may write: what a journal
    names is checked against this, never trusted."""
    paths = set()
    for name in env_names:
        env = cfg.env(name)
        paths.add(layout.ledger_file(env.name))
        for cluster in env.clusters:
            paths.add(layout.sealed_file(env.name, cluster.name))
            paths.add(cluster.values_file)
        paths.update(registry.files(env.name, [c.name for c in env.clusters], env.registry, []))  # #16
    return paths
