"""`sealer rotate`: new keys, sealed for every pinned cluster, delivered as one Git commit.

The order is what makes a rotation safe to interrupt anywhere:
  1. generate keys in memory; register them as pending in external key stores;
  2. seal and render every file as complete temp files; write the journal;
  3. rename the temps over their targets; commit them with plumbing (one update-ref);
  4. push if asked; activate the new keys and revoke (or grace) the old ones in the store.
An exception before the commit restores every file and removes the pending keys, so the old
key stays valid. A SIGKILL leaves the journal, and the next `sealer rotate` rolls it forward.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import (
    apikey,
    cert_pins,
    faults,
    forkpool,
    git,
    journal,
    layout,
    ledger,
    lock,
    registry,
    registry_delivery,
    render,
    repofiles,
    state,
    templating,
)
from sealer.backends import DEFAULT_BACKEND, open_store
from sealer.config import Config, Environment
from sealer.durations import format_duration
from sealer.errors import BackendError, BadInput, PartlyDone, SealerError
from sealer.records import ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, iso, utcnow
from sealer.sealing import CertSealer

TEMP_SUFFIX = ".sealer-tmp"
TEMPS_MARKER = "sealer-temps.json"  # in the git dir: the temps being written, until the journal names them


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


@dataclass
class EnvRotation:
    """One environment's share of a rotation: the entries it rotates and the files it writes."""

    env: Environment
    rotated: list[dict[str, Any]]  # name, key_id, fingerprint, previous_key_id, expires
    new_records: list[KeyRecord]
    files: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # path -> (new, old)


def sealers(cfg: Config, env: Environment) -> dict[str, CertSealer]:
    """A sealer per pinned cluster (see `cert_pins.pinned_certificates`)."""
    pinned = cert_pins.pinned_certificates(cfg.root, env)
    return {c.name: CertSealer.from_certificate(pinned[c.name], c.cert) for c in env.clusters}


def due_keys(env: Environment, records: list[KeyRecord], now: dt.datetime) -> list[str]:
    """Managed entries with no current key, or whose key is older than the rotation period."""
    current = ledger.current(env.keys, records)
    period = dt.timedelta(days=env.rotation_days)
    return [name for name in env.keys if name not in current or now - current[name].created >= period]


def _retire(
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


@dataclass(frozen=True)
class Target:
    env: Environment
    names: list[str]  # the entries to rotate
    records: list[KeyRecord]  # the ledger as it is


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
    for name in names:
        key = apikey.generate(env.name)
        values[name] = key.encode()
        fp = apikey.fingerprint(key)
        record = KeyRecord(
            env.name,
            name,
            apikey.key_id(fp),
            fp,
            now,
            now + dt.timedelta(days=env.key_lifetime_days),
            ACTIVE,
            actor,
            sealed_with=tuple(s.fingerprint for s in by_cluster.values()),
        )
        plan.new_records.append(record)
        prev = previous.get(name)
        plan.rotated.append(
            {
                "name": name,
                "key_id": record.key_id,
                "fingerprint": fp,
                "previous_key_id": prev.key_id if prev else None,
                "expires": iso(record.expires),
            }
        )
    records = _retire(old_records, set(names), now, grace) + plan.new_records
    for cluster in env.clusters:
        sealed = state.seal_entries(env, by_cluster[cluster.name], values)
        rel = layout.sealed_file(env.name, cluster.name)
        old_doc = state.load(cfg.root, env.name, cluster.name)
        old_text = repofiles.read_text(cfg.root / rel) if old_doc is not None else None
        doc = state.merged(old_doc, env, by_cluster[cluster.name], sealed, rel)
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
    targets: list[Target], cfg: Config, now: dt.datetime, grace: dt.timedelta | None, actor: str
) -> list[EnvRotation]:
    """Every target's plan, on every core for many environments. The plaintext keys stay in
    the process that seals them: only ciphertext and metadata come back."""

    def work(share: Sequence[Target]) -> list[EnvRotation]:
        return [plan_env(target, cfg, now, grace, actor) for target in share]

    workers = min(forkpool.cores(), len(targets) // MIN_ENVS_PER_WORKER)
    return forkpool.run_shares(work, forkpool.split(targets, workers))


def _targets(cfg: Config, request: Request, now: dt.datetime) -> list[Target]:
    envs = request.envs or (tuple(cfg.environments) if request.due else ())
    if not envs:
        raise BadInput("name an environment, or give --due to rotate every key that is due")
    targets = []
    for name in envs:
        env = cfg.env(name)
        if request.due and not request.envs and not env.clusters:
            continue  # a scheduled --due over everything skips what cannot be sealed yet; check flags it
        names = list(request.keys) or list(env.keys)
        records = ledger.load(cfg.root, env.name)
        if request.due:
            due = set(due_keys(env, records, now))
            due |= set(cert_pins.reseal_due(cfg.root, env, now))  # #15: sealed with an older cert
            names = [n for n in names if n in due]
        if names:
            targets.append(Target(env, names, records))
    return targets


def _branch(root: Path, request: Request, envs: list[str], now: dt.datetime) -> str | None:
    if request.no_branch or not request.commit:
        return None
    if request.branch:
        return git.check_branch_name(root, request.branch)
    label = envs[0] if len(envs) == 1 else "due"
    base = f"sealer/rotate-{label}-{now:%Y%m%dT%H%M%SZ}"
    taken = 1
    while git.branch_exists(root, base if taken == 1 else f"{base}-{taken}"):
        taken += 1  # two rotations within one second
    return git.check_branch_name(root, base if taken == 1 else f"{base}-{taken}")


def _texts(plans: list[EnvRotation], grace: dt.timedelta | None) -> dict[str, Any]:
    """What the commit message and the PR description say about the keys they replace."""
    return {
        "plans": plans,
        "grace": format_duration(grace) if grace else None,
        "first_keys": not any(k["previous_key_id"] for p in plans for k in p.rotated),
    }


def _refuse_unmerged(root: Path, envs: list[str]) -> None:
    """A rotation on top of one not merged yet would stack on a stale ledger: say so instead."""
    waiting = unmerged_rotations(root, envs)
    if waiting:
        env, branch = waiting[0]
        here = git.current_branch(root) or "HEAD"
        raise BadInput(
            f"{env} has a rotation on branch {branch} that {here} does not hold yet: merge it first "
            f"(or delete the branch), or give --replace to rotate again from {here} "
            "and close its pull request"
        )


_KEY_ID = re.compile(r"kid_[0-9a-f]{12}")


def unmerged_rotations(root: Path, envs: list[str]) -> list[tuple[str, str]]:
    """(env, branch) for each local branch whose ledger of env names keys HEAD's ledger does not:
    a rotation not merged yet (by content, so squash and rebase merges count as merged)."""
    if git.head(root) is None:
        return []  # nothing committed yet: nothing to merge
    branches = git.run(root, "for-each-ref", "--no-merged=HEAD", "--format=%(refname)", "refs/heads/").split()
    if not branches:
        return []
    ledgers = {env: layout.ledger_file(env) for env in envs}
    asks = [f"HEAD:{rel}" for rel in ledgers.values()] + [
        f"{branch}:{rel}" for branch in branches for rel in ledgers.values()
    ]
    texts = git.read_blobs(root, asks)
    found = []
    for env, rel in ledgers.items():
        held = set(_KEY_ID.findall(texts.get(f"HEAD:{rel}", "")))
        for branch in branches:
            if set(_KEY_ID.findall(texts.get(f"{branch}:{rel}", ""))) - held:
                found.append((env, branch.removeprefix("refs/heads/")))
    return found


def _message(plans: list[EnvRotation], grace: dt.timedelta | None) -> str:
    return templating.render("commit-message.txt.j2", **_texts(plans, grace)).strip() + "\n"


def _external(plan: EnvRotation) -> bool:
    # The GitOps store is the committed ledger itself: the commit is its registration and activation.
    return plan.env.backend_kind != DEFAULT_BACKEND


def _register(cfg: Config, plans: list[EnvRotation]) -> list[tuple[Any, KeyRecord]]:
    """Register every new key as pending; on failure remove those already registered."""
    done: list[tuple[Any, KeyRecord]] = []
    try:
        for plan in plans:
            store = open_store(plan.env.backend_kind, plan.env.backend_options, cfg.root)  # checks options
            if not _external(plan):
                continue
            _drop_stale_pending(store, plan.env.name, cfg.root)
            for record in plan.new_records:
                store.register(record.with_status(PENDING))
                done.append((store, record))
                faults.point("after-register")
    except BaseException:
        _compensate(done)
        raise
    return done


def _drop_stale_pending(store: Any, env_name: str, root: Path) -> None:
    """Pending keys left by a rotation killed before its journal: never delivered, never valid."""
    known = {r.key_id for r in ledger.load(root, env_name)}
    for record in store.list(env_name):
        if record.status == PENDING and record.key_id not in known:
            store.remove_pending(env_name, record.key_id)


def _compensate(registered: list[tuple[Any, KeyRecord]]) -> None:
    for store, record in registered:
        try:
            store.remove_pending(record.env, record.key_id)
        except BackendError:
            pass  # a leftover pending key is never valid; the next rotation removes it


def _activations(
    plans: list[EnvRotation], grace: dt.timedelta | None, now: dt.datetime
) -> list[dict[str, Any]]:
    return [
        {
            "env": p.env.name,
            "name": r.name,
            "key_id": r.key_id,
            "backend": p.env.backend_kind,
            "options": p.env.backend_options,
            "revoke_at": iso(now + grace) if grace else None,
        }
        for p in filter(_external, plans)
        for r in p.new_records
    ]


def _write_temps(
    root: Path, git_dir: Path, plans: list[EnvRotation], commit: git.Commit | None
) -> list[dict[str, str]]:
    """Complete temps beside their targets, durable before the journal names them; until then
    the marker names them. Each also goes to the commit being built."""
    rels = [rel for plan in plans for rel in plan.files]
    files = [{"path": rel, "tmp": str(_tmp_of(root / rel).relative_to(root))} for rel in rels]
    repofiles.write(git_dir / TEMPS_MARKER, json.dumps([f["tmp"] for f in files]))
    try:
        for plan in plans:
            for rel, (new, _old) in plan.files.items():
                target = root / rel
                # #13: the target's line endings and mode kept; folders made, no symlink followed
                data = repofiles.encode_like(target, new)
                repofiles.write_unsynced(_tmp_of(target), data, like=target)
                if commit is not None:
                    commit.add(rel, data, repofiles.is_executable(target))
        repofiles.sync(root)
    except BaseException:  # #13: the journal names no temp yet, so none may stay behind
        for item in files:
            repofiles.remove(root / item["tmp"])
        raise
    return files


def _tmp_of(target: Path) -> Path:
    return target.with_name(f".{target.name}{TEMP_SUFFIX}")


def _sweep_temps(root: Path, git_dir: Path) -> None:
    """Remove the temps of a rotation killed before its journal (never renamed, never needed)."""
    marker = git_dir / TEMPS_MARKER
    try:
        listed = json.loads(repofiles.read_text(marker))
    except FileNotFoundError:
        return
    except ValueError:
        listed = []
    for rel in listed if isinstance(listed, list) else []:
        if isinstance(rel, str) and rel.endswith(TEMP_SUFFIX) and ".." not in Path(rel).parts:
            (root / rel).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)


def _restore(root: Path, plans: list[EnvRotation]) -> None:
    """Put every file back as it was before the rotation (an exception before the commit)."""
    for plan in plans:
        for rel, (_new, old) in plan.files.items():
            if old is None:
                (root / rel).unlink(missing_ok=True)
            else:
                repofiles.write(root / rel, old)


def _summary(plans: list[EnvRotation], request: Request, branch: str | None) -> dict[str, Any]:
    envs = [
        {
            "env": p.env.name,
            "namespace": p.env.namespace,
            "values_file": p.env.clusters[0].values_file,
            "values_files": [c.values_file for c in p.env.clusters],
            "keys": p.rotated,
        }
        for p in plans
    ]
    return {
        "branch": branch,
        "commit": None,
        "dry_run": request.dry_run,
        "envs": envs,
        "files": sorted(rel for p in plans for rel in p.files),
        "grace_seconds": int(request.grace.total_seconds()) if request.grace else 0,
    }


def rotate(cfg: Config, request: Request, now: dt.datetime | None = None) -> dict[str, Any]:
    """Run (or, with a journal left by an interrupted run, finish) a rotation."""
    root, git_dir = cfg.root, git.git_dir(cfg.root)
    now = now or utcnow()
    with lock.hold(git_dir):
        left = journal.load(git_dir)
        if left is not None:
            return finish(cfg, git_dir, left, resumed=True)
        actor = git.identity(root)  # one `git var`, not one per environment
        targets = _targets(cfg, request, now)
        plans = plan_all(targets, cfg, now, request.grace, actor)
        if not plans:
            return {"branch": None, "commit": None, "dry_run": request.dry_run, "envs": [], "files": []}
        branch = _branch(root, request, [p.env.name for p in plans], now)
        summary = _summary(plans, request, branch)
        if request.dry_run:
            return summary
        if not request.replace:
            _refuse_unmerged(root, [p.env.name for p in plans])
        summary["started_on"] = git.current_branch(root)
        dirty = git.changed_paths(root, summary["files"])
        if dirty:
            raise BadInput(f"uncommitted changes in {', '.join(dirty)}: commit or stash them first")
        _sweep_temps(root, git_dir)
        return _apply(cfg, git_dir, plans, request, branch, summary, now)


def _apply(
    cfg: Config,
    git_dir: Path,
    plans: list[EnvRotation],
    request: Request,
    branch: str | None,
    summary: dict[str, Any],
    now: dt.datetime,
) -> dict[str, Any]:
    root = cfg.root
    entry = journal.Journal(
        journal.PREPARED,
        [p.env.name for p in plans],
        [],
        _activations(plans, request.grace, now),
        branch,
        _message(plans, request.grace),
        request.push,
        result=summary,
    )
    registered: list[tuple[Any, KeyRecord]] = []
    commit = None
    try:  # from the registration on: whatever fails before the commit is undone
        registered = _register(cfg, plans)
        summary["pr_body"] = templating.render(
            "pr-body.md.j2", summary=summary, **_texts(plans, request.grace)
        )
        commit = git.Commit(root) if request.commit else None
        faults.point("before-temps")
        entry.files = _write_temps(root, git_dir, plans, commit)
        faults.point("before-journal")
        journal.save(git_dir, entry)
        (git_dir / TEMPS_MARKER).unlink(missing_ok=True)
        faults.point("before-rename")
        journal.apply_renames(root, entry)
        repofiles.sync(root)  # the renames too, before the commit that records them
        faults.point("before-commit")
        if commit is not None:
            entry.commit = commit.finish(entry.message, branch)
            entry.phase = journal.COMMITTED
        else:
            entry.phase = journal.WRITTEN
    except BaseException:
        if commit is not None:
            commit.abort()
        journal.discard_temps(root, entry)
        (git_dir / TEMPS_MARKER).unlink(missing_ok=True)
        _restore(root, plans)
        journal.clear(git_dir)
        _compensate(registered)
        raise
    # Past the commit nothing is undone: should this save fail, the journal saved before the
    # renames still rolls the rotation forward (its commit found at HEAD or on its branch).
    journal.save(git_dir, entry)
    return finish(cfg, git_dir, entry, resumed=False)


def finish(cfg: Config, git_dir: Path, entry: journal.Journal, resumed: bool) -> dict[str, Any]:
    """Roll a journal forward: renames, commit, push, activation. Idempotent."""
    root = cfg.root
    paths = [f["path"] for f in entry.files]
    if entry.phase == journal.PREPARED:
        journal.apply_renames(root, entry)
        entry.commit = _commit_once(root, paths, entry)
        entry.phase = journal.COMMITTED
        journal.save(git_dir, entry)
    elif entry.phase == journal.WRITTEN:
        if git.changed_paths(root, paths) and not resumed:
            return _awaiting_commit(root, entry)  # --no-commit: activation waits for the commit
        if git.changed_paths(root, paths):
            raise BadInput(
                f"the rotation of {', '.join(entry.envs)} waits for its commit: commit "
                f"{', '.join(paths)}, then run `sealer rotate` again to activate the new keys"
            )
        if not _delivered(root, entry):
            _abandon(root, git_dir, entry)
        entry.commit = git.head(root)
        entry.phase = journal.COMMITTED
        journal.save(git_dir, entry)
    faults.point("before-push")
    landed = _landed(entry)
    pushed = entry.branch or git.current_branch(root)
    if entry.push and pushed:
        try:
            git.push(root, entry.push, pushed)
        except SealerError as err:
            raise PartlyDone(
                f"{landed}, but the push to {entry.push} failed: {err}; "
                "fix that and run `sealer rotate` again to push and activate the new keys"
            ) from None
        landed += f" and pushed to {entry.push}"
    faults.point("before-activate")
    try:
        _activate(root, entry)
        registry_delivery.publish(cfg, entry.envs, entry.commit)  # #16: direct delivery of the key registries
    except SealerError as err:
        raise PartlyDone(
            f"{landed}, but activating the new keys in the key store failed: {err}; "
            "run `sealer rotate` again to finish (the old keys stay valid until then)"
        ) from None
    journal.clear(git_dir)
    result = dict(entry.result)
    result.update(commit=entry.commit, resumed=resumed)
    _write_outputs(root, result)
    return result


def _landed(entry: journal.Journal) -> str:
    """What a failure after the commit leaves behind, in words (PartlyDone messages)."""
    where = f"on branch {entry.branch}" if entry.branch else "on the current branch"
    commit = f" ({entry.commit[:12]})" if entry.commit else ""
    return f"the rotation of {', '.join(entry.envs)} is committed {where}{commit}"


def _delivered(root: Path, entry: journal.Journal) -> bool:
    """Does HEAD's ledger hold every key to activate? Not when the user threw the files of a
    --no-commit rotation away: activating then would revoke the keys the cluster runs on."""
    ledgers: dict[str, str] = {}
    for item in entry.activations:
        if item["env"] not in ledgers:
            rel = layout.ledger_file(item["env"])
            ledgers[item["env"]] = git.file_at(root, "HEAD", rel) or ""
    return all(item["key_id"] in ledgers[item["env"]] for item in entry.activations)


def _abandon(root: Path, git_dir: Path, entry: journal.Journal) -> None:
    """Drop a --no-commit rotation whose files are gone: its pending keys, its journal."""
    for item in entry.activations:
        try:
            open_store(item["backend"], item["options"], root).remove_pending(item["env"], item["key_id"])
        except BackendError:
            pass  # a leftover pending key is never valid; the next rotation removes it
    journal.clear(git_dir)
    raise BadInput(
        f"the uncommitted rotation of {', '.join(entry.envs)} was discarded (HEAD does not hold its "
        "keys): its pending keys are removed; run `sealer rotate` again"
    )


def _awaiting_commit(root: Path, entry: journal.Journal) -> dict[str, Any]:
    """--no-commit: files written, journal kept; a re-run after the user's commit activates."""
    result = dict(entry.result)
    result.update(commit=None, resumed=False)
    _write_outputs(root, result)
    return result


def _commit_once(root: Path, paths: list[str], entry: journal.Journal) -> str | None:
    """Commit unless an earlier, interrupted run already did (its branch exists)."""
    if entry.branch and git.branch_exists(root, entry.branch):
        git.restore_from_head(root, paths)  # committed before the interruption; the user stays put
        return git.run(root, "rev-parse", f"refs/heads/{entry.branch}").strip()
    if git.changed_paths(root, paths):
        return git.commit_paths(root, paths, entry.message, entry.branch)
    return git.head(root)


def _activate(root: Path, entry: journal.Journal) -> None:
    from sealer.records import parse_iso

    stores: dict[str, Any] = {}  # one client per store: each costs a connection (and Auth0 a token)
    for item in entry.activations:
        where = json.dumps([item["backend"], item["options"]], sort_keys=True)
        if where not in stores:
            stores[where] = open_store(item["backend"], item["options"], root)
        store = stores[where]
        current = {r.key_id: r.status for r in store.list(item["env"])}
        if current.get(item["key_id"]) in (ACTIVE,):
            continue  # finished by an earlier run
        store.activate(item["env"], item["name"], item["key_id"], parse_iso(item["revoke_at"]))
        faults.point("after-activate-one")


def _write_outputs(root: Path, result: dict[str, Any]) -> None:
    """The PR description and the JSON beside it, for the pipeline that opens the pull request."""
    out = layout.out_path(root)  # #13: repofiles.write makes it, never through a symlink
    stem = (
        result.get("branch") or f"rotate-{result['commit'][:12] if result.get('commit') else 'uncommitted'}"
    ).replace("/", "-")
    body = result.pop("pr_body", "")
    result["pr_body_file"] = str(out / f"{stem}.md")
    repofiles.write(out / f"{stem}.md", body)
    repofiles.write(out / f"{stem}.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
