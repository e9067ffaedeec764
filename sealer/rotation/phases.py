"""The phases of a key change, as the commands run them.

  rotate      (pull-request time) new keys registered, files written and committed, then the
              new keys accepted by an external store; nothing revoked.
  finish      (deployed: the main-branch pipeline after the merge) the new keys active, the old
              ones revoked or in their grace window, counted from now.
  abandon     (the pull request closed unmerged) the never-deployed keys revoked; a plain
              rotate or finish also notices them once no branch holds them.
  revoke      (`keys revoke`) a commit like a rotation; an external store follows at once.
A directly delivered key registry (#16) follows the same phases: the new keys accepted beside
the ledger the rotation started from, then the merged ledger, or the abandoned keys dropped.
Each is a transaction (`transaction.run`) whose point of no return is the ref move; past it
the change is only rolled forward (`roll_forward`), by the same run or the next.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sealer import (
    branches,
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
    terminal,
)
from sealer.config import Config, Environment
from sealer.errors import (
    BackendError,
    BadInput,
    ConfigError,
    InterruptedInFlight,
    PartlyDone,
    SealerError,
    WriteUnconfirmed,
)
from sealer.journal import Journal
from sealer.records import (
    ACCEPTED,
    ACTIVE,
    GRACE,
    PENDING,
    REVOKED,
    VALID,
    KeyRecord,
    effective_status,
    iso,
    plan_revoke,
    utcnow,
)
from sealer.rotation import plan as planning
from sealer.rotation import stores as sync
from sealer.rotation import transaction
from sealer.rotation.plan import EnvRotation, KeyChange, Request
from sealer.rotation.stores import Activation, Stores


@dataclass
class EnvSummary:
    env: str
    namespace: str
    values_file: str
    values_files: list[str]
    keys: list[KeyChange]

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "keys": [k.as_dict() for k in self.keys]}


@dataclass
class RotationResult:
    """What a rotation (or revocation) did; `left` names the steps past the commit that are
    still to do (the next run, or `--resume`, finishes them): empty when complete."""

    branch: str | None
    commit: str | None
    dry_run: bool
    envs: list[EnvSummary]
    files: list[str]
    grace_seconds: int = 0
    resumed: bool = False
    pr_body_file: str | None = None
    accepted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    landed: str = ""  # what is committed where, in words (for a "partly done" message)
    started_on: str | None = None  # the user's branch: a rotation's own branch leaves it as it was
    rerun: str | None = None  # the command that finishes what is left, when no journal was left for it
    # What this run asked for that an earlier interrupted run, finished instead, did not do.
    not_applied: list[str] = field(default_factory=list)
    # `--due` over every environment: env -> the branch its unmerged rotation waits on (not rotated)
    skipped: dict[str, str] = field(default_factory=dict)
    # A dry run: why the run itself would be refused (a rotation waiting unmerged); None: it would not.
    refused: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "envs": [e.as_dict() for e in self.envs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RotationResult:
        envs = [
            EnvSummary(**{**e, "keys": [KeyChange(**k) for k in e["keys"]]}) for e in data.get("envs", [])
        ]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "envs"}
        return cls(**{**known, "envs": envs})


@dataclass
class FinishResult:
    activated: list[Activation]
    abandoned: list[Activation]
    left: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "activated": [a.as_dict() for a in self.activated],
            "abandoned": [a.as_dict() for a in self.abandoned],
            "left": self.left,
        }


# -- rotate ----------------------------------------------------------------------------------


def rotate(cfg: Config, request: Request, now: dt.datetime | None = None) -> RotationResult:
    """Run a rotation; with a journal left by an interrupted run, finish that one instead."""
    faults.arm()
    root, git_dir = cfg.root, git.git_dir(cfg.root)
    now = now or utcnow()
    with lock.hold(git_dir, reading=request.dry_run) as common:  # a dry run works on a read-only checkout
        git.check_push_target(root, request.push)
        left = journal.load_here(git_dir, common)
        if left is not None and request.dry_run:  # finishing it would write, push, change stores
            raise BadInput(
                f"an interrupted run of {', '.join(left.envs)} is left to finish and --dry-run writes "
                "nothing: run `sealer rotate --resume` first"
            )
        if left is not None:
            left.push = request.push or left.push  # a corrected --push replaces the one journaled
            finished = _recover(cfg, git_dir, left)
            if finished is not None:
                finished.not_applied = _not_applied(request, finished)
                return finished
        actor = git.identity(root)  # one `git var`, not one per environment
        # A commit on its own branch changes nothing the user sees until its branch is made: git
        # compresses its files while the rest is planned and the last checks run (aborted if one
        # refuses).
        sending = None
        if planning.on_own_branch(request) and not request.dry_run:
            sending = transaction.Sending(root)
        try:
            with forkpool.collector_paused():
                return _rotate_planned(cfg, git_dir, request, now, actor, sending)
        finally:
            if sending is not None:
                sending.abort()  # nothing when its ref moved (or `run` aborted it already)


def _rotate_planned(
    cfg: Config,
    git_dir: Path,
    request: Request,
    now: dt.datetime,
    actor: str,
    sending: transaction.Sending | None,
) -> RotationResult:
    root = cfg.root
    planned = sending.send if sending is not None else None
    targets, skipped = planning.without_waiting(root, request, planning.targets(cfg, request, now))
    if skipped and not targets and not request.dry_run:  # nothing would land: refused, exit 2
        raise planning.refusal(root, *min(skipped.items()))  # as found: git is not asked again
    plans = planning.plan_all(targets, cfg, now, request.grace, actor, planned)
    if not plans:
        return RotationResult(None, None, request.dry_run, [], [], skipped=skipped)
    branch = planning.branch_name(root, request, [p.env.name for p in plans], now)
    result = _result(plans, request, branch)
    result.skipped = skipped
    if request.dry_run:
        refused = _dry_run_refusal(root, request, result)
        result.refused = str(refused) if refused is not None else None
        return result
    assert (branch is not None) == (sending is not None), "a commit on its own branch is sent early"
    started = sending.started(planning.files_of(plans)) if sending is not None else None
    try:
        if not request.replace:
            planning.refuse_unmerged(root, [p.env.name for p in plans], request.push)
        _ready(root, git_dir, result)
        return _apply(cfg, git_dir, plans, request, branch, result, started=started)
    except KeyboardInterrupt:
        _interrupted_past_the_commit(root, git_dir)
        raise


def _dry_run_refusal(root: Path, request: Request, result: RotationResult) -> BadInput | None:
    """The first refusal the run itself would meet, in its order: a rotation waiting unmerged
    (not with --replace), then uncommitted changes (`_ready`)."""
    envs = [e.env for e in result.envs]
    unmerged = None if request.replace else planning.unmerged_refusal(root, envs, request.push)
    return unmerged or git.uncommitted_refusal(root, _written(result))


def _written(result: RotationResult) -> list[str]:
    # sealer.yaml too: the stores and targets come from it, the commit from HEAD's (#17).
    return [layout.CONFIG_FILE, *result.files]


def _ready(root: Path, git_dir: Path, result: RotationResult) -> None:
    """Before a rotation's files are written: note the user's branch, refuse uncommitted changes
    to any file it writes, and sweep a killed run's temps."""
    result.started_on = git.current_branch(root)
    git.refuse_uncommitted(root, _written(result))
    transaction.sweep_temps(root, git_dir)


def _interrupted_past_the_commit(root: Path, git_dir: Path) -> None:
    """SIGINT once the ref moved: nothing is undone, and the exit code (4) says so."""
    try:
        entry = journal.load(git_dir)
    except SealerError:
        return
    if entry is not None and (entry.phase == journal.COMMITTED or transaction.landed(root, entry)):
        where = f"branch {entry.branch}" if entry.branch else "the current branch"
        raise PartlyDone(
            f"the rotation of {', '.join(entry.envs)} is committed on {where}, but it was interrupted; "
            "run `sealer rotate --resume` (or plain `sealer rotate`) to finish (the old keys stay valid "
            "until then)"
        ) from None


def _not_applied(request: Request, done: RotationResult) -> list[str]:
    """The environments and options of this run that the earlier run it finished instead (it is
    rolled forward as it was begun: its branch, keys and grace) did not take; `--push` did."""
    rotated = {e.env for e in done.envs}
    names = {k.name for e in done.envs for k in e.keys}
    grace = int(request.grace.total_seconds()) if request.grace else None
    asked = {
        "--key": bool(request.keys) and set(request.keys) != names,
        "--grace": grace is not None and grace != done.grace_seconds,
        "--branch": bool(request.branch) and request.branch != done.branch,
        "--no-branch": request.no_branch and done.branch is not None,
        "--no-commit": not request.commit,
        "--due": request.due and not request.envs,  # every environment: what is due now was not looked at
    }
    return [e for e in request.envs if e not in rotated] + [option for option, left in asked.items() if left]


def earlier_run_note(result: RotationResult) -> str | None:
    """One line for the operator whose options an earlier interrupted run, finished first, did not take."""
    if not result.not_applied:
        return None
    where = f"on its own branch {result.branch}" if result.branch else "on the current branch"
    commit = f" ({result.commit[:12]})" if result.commit else ""
    return (
        f"an earlier interrupted run was finished first, {where}{commit}, and nothing new was started: "
        f"{', '.join(result.not_applied)} not applied; run the command again for them"
    )


def resume(cfg: Config, push: str | None = None) -> RotationResult | None:
    """`sealer rotate --resume`: finish an interrupted run's journal, if any; start nothing.
    `push`: the remote to push to instead of the one journaled (a corrected `--push`)."""
    git_dir = git.git_dir(cfg.root)
    with lock.hold(git_dir) as common:
        git.check_push_target(cfg.root, push)  # as `rotate` does: refused before anything rolls forward
        left = journal.load_here(git_dir, common)
        if left is None:
            return None
        left.push = push or left.push
        return _recover(cfg, git_dir, left)


def _result(plans: list[EnvRotation], request: Request, branch: str | None) -> RotationResult:
    envs = [
        EnvSummary(
            p.env.name,
            p.env.namespace,
            p.env.clusters[0].values_file,
            [c.values_file for c in p.env.clusters],
            p.rotated,
        )
        for p in plans
    ]
    grace = int(request.grace.total_seconds()) if request.grace else 0
    return RotationResult(branch, None, request.dry_run, envs, sorted(planning.files_of(plans)), grace)


def _apply(
    cfg: Config,
    git_dir: Path,
    plans: list[EnvRotation],
    request: Request,
    branch: str | None,
    result: RotationResult,
    incident: Incident | None = None,
    started: transaction.Started | None = None,
) -> RotationResult:
    root = cfg.root
    entry = Journal(
        journal.ROTATE,
        journal.PREPARED,
        [p.env.name for p in plans],
        [],
        branch,
        git.head(root),
        "",  # `describe`, while git compresses the files
        request.push,
        revocations=[[incident.env, incident.key_id]] if incident else [],
    )

    envs_json: list[str] = []

    def describe(entry: Journal) -> str:
        message = planning.commit_message(plans, request.grace)
        message += branches.trailer(branch) if request.branch and branch else ""
        pr_body = templating.render("pr-body.md.j2", summary=result, **planning.texts(plans, request.grace))
        entry.message = f"{incident.subject}\n\n{message}" if incident else message
        entry.pr_body = f"{incident.pr_text}\n\n{pr_body}" if incident else pr_body
        entry.result = result.as_dict()
        envs_json.append(journal.envs_text(entry.result))  # for the journal and the outputs
        return envs_json[-1]

    stores = Stores(cfg)
    tidied: list[str] = []  # earlier runs' leftovers cleaned up: they stay done if the run stops
    new = {p.env.name: p.new_records for p in plans}
    registered = sync.register(stores, [p.env for p in plans], new, tidied)
    files = planning.files_of(plans)
    undo = partial(sync.compensate, registered, tidied)
    entry = transaction.run(root, git_dir, entry, files, undo, request.commit, describe, started)
    if entry.phase == journal.WRITTEN:  # --no-commit: the keys wait (pending) for the user's commit
        return _report(root, entry, resumed=False)
    return roll_forward(
        cfg, git_dir, entry, resumed=False, stores=stores, envs_json=next(iter(envs_json), None)
    )


# -- past the point of no return -----------------------------------------------------------------


Step = tuple[str, Callable[[], object]]


def roll_forward(
    cfg: Config,
    git_dir: Path,
    entry: Journal,
    resumed: bool,
    stores: Stores | None = None,
    envs_json: str | None = None,
) -> RotationResult:
    """Finish a committed change: index, outputs, store, push. Each step is idempotent and
    tried even when another failed; what failed stays in the journal for the next run.
    `envs_json`: the journal's `result["envs"]` as JSON, when the caller has it already."""
    root, stores = cfg.root, stores or Stores(cfg)
    assert entry.commit is not None
    commit = entry.commit
    if entry.revocations:  # what a rerun of keys revoke / keys compromised looks for (`_earlier`)
        with contextlib.suppress(SealerError, OSError):  # unrecorded, a rerun only commits again
            journal.record_made(git_dir, commit)
    envs = [cfg.env(name) for name in entry.envs]
    accepted: list[str] = []
    steps: list[Step] = []
    if not entry.result.get("index_synced", False):
        steps.append(("syncing your checkout", lambda: _sync_index(root, entry)))
    if entry.revocations:  # `keys revoke`, and the compromised key of `keys compromised` (#17)
        steps.append(("revoking the key in the key store", lambda: _revoke(stores, commit, entry, cfg)))
    if entry.kind == journal.ROTATE:
        accepting = "accepting the new keys in the key store"
        steps.append((accepting, lambda: accepted.extend(_accept(stores, commit, envs))))
    # #16: direct delivery of the key registries: a rotation's new keys accepted beside the ledger
    # it started from (nothing revoked before the deployed phase); a revocation's commit (and a
    # compromised key's, revoked at once) from the commit's own ledger.
    accept_phase = entry.kind == journal.ROTATE and not entry.revocations
    publish = registry_delivery.publish_accepted if accept_phase else registry_delivery.publish
    steps.append(("publishing the key registry", lambda: publish(cfg, entry.envs, commit)))
    if entry.push:
        steps.append((f"the push to {entry.push}", lambda: _push(root, entry)))
    result = RotationResult.from_dict({**entry.result, "commit": commit, "resumed": resumed})
    result.landed = _landed(entry, commit)
    steps.append(
        ("writing the pull-request description", lambda: _outputs(root, result, entry.pr_body, envs_json))
    )
    left = _run_steps(steps)
    result.accepted, result.left = accepted, left
    if entry.push and not any(item.startswith(f"the push to {entry.push}") for item in left):
        result.landed += f" and pushed to {entry.push}"
    entry.result.update(index_synced=not any(item.startswith("syncing your checkout") for item in left))
    if left:  # the next run (or --resume) redoes every step: each is idempotent
        journal.save(git_dir, entry, envs_json)
    else:
        journal.clear(git_dir)
    return result


def _run_steps(steps: list[Step]) -> list[str]:
    left = []
    for index, (name, step) in enumerate(steps):
        try:
            step()
        except (SealerError, faults.InjectedFault) as err:
            left.append(f"{name} failed: {err}")
        except OSError as err:
            where = f" ({err.filename})" if err.filename else ""
            left.append(f"{name} failed: {err.strerror or err}{where}")
        except KeyboardInterrupt as err:  # past the point of no return: stop, say what is left
            # A write left under way (InterruptedInFlight) may land yet: its message says so.
            left.append(f"{name} was {err if isinstance(err, InterruptedInFlight) else 'interrupted'}")
            left += [f"{later} was interrupted" for later, _ in steps[index + 1 :]]
            break
    return left


def _landed(entry: Journal, commit: str) -> str:
    what = "revocation" if entry.kind == journal.REVOKE else "rotation"
    where = f"on branch {entry.branch}" if entry.branch else "on the current branch"
    return f"the {what} of {', '.join(entry.envs)} is committed {where} ({commit[:12]})"


def skipped_line(result: RotationResult) -> str | None:
    """What `--due` left out, its rotation waiting unmerged, and how to go on; None: nothing."""
    if not result.skipped:
        return None
    waits = "; ".join(f"{env}, whose rotation waits on branch {b}" for env, b in result.skipped.items())
    rotated = ", ".join(e.env for e in result.envs)
    merge = "merge it" if len(result.skipped) == 1 else "merge each"
    if result.dry_run:
        return f"would skip {waits}: {merge} first"
    return f"rotated {rotated}, but skipped {waits}: {merge}, then run `sealer rotate --due` again"


def partly_done(result: RotationResult) -> str:
    """The "partly done" message: what landed, what did not, how to finish."""
    push = any(item.startswith("the push to ") for item in result.left)
    how = f"`{result.rerun}` again" if result.rerun else "`sealer rotate --resume` (or plain `sealer rotate`)"
    return (
        f"{result.landed}, but {'; '.join(result.left)}; run {how} to finish"
        f"{', with --push REMOTE to push elsewhere' if push else ''} (the old keys stay valid until then)"
    )


def _sync_index(root: Path, entry: Journal) -> None:
    faults.point("before-index")
    transaction.sync_index(root, entry)


def _accept(stores: Stores, commit: str, envs: list[Environment]) -> list[str]:
    faults.point("before-accept")
    return sync.accept_committed(stores, commit, envs)


def _revoke(stores: Stores, commit: str, entry: Journal, cfg: Config) -> list[str]:
    faults.point("before-accept")
    return sync.revoke_committed(stores, commit, entry.revocations, cfg)


def _push(root: Path, entry: Journal) -> None:
    faults.point("before-push")
    if entry.branch:  # a branch of sealer's own making: created on the remote, never moved there
        git.push_new_branch(root, entry.push or "", entry.branch)
        return
    branch = git.current_branch(root)
    if branch:
        git.push(root, entry.push or "", branch)


def _report(root: Path, entry: Journal, resumed: bool) -> RotationResult:
    result = RotationResult.from_dict({**entry.result, "resumed": resumed, "commit": None})
    result.pr_body_file = _write_outputs(root, result, entry.pr_body)
    return result


def _outputs(root: Path, result: RotationResult, body: str, envs_json: str | None) -> None:
    faults.point("before-outputs")
    result.pr_body_file = _write_outputs(root, result, body, envs_json)


def _sweep_stale_temps(out: Path) -> None:
    """Remove the temps of an atomic write killed midway in sealer's own output folder; a
    folder reached through a symlink is not sealer's, and is left alone."""
    from sealer import safeopen

    try:
        fd = safeopen.open_dir(out)
    except OSError:
        return
    try:
        for name in os.listdir(fd):
            if name.startswith(".") and name.endswith(".tmp"):
                repofiles.remove(out / name)
    finally:
        os.close(fd)


def _write_outputs(root: Path, result: RotationResult, body: str, envs_json: str | None = None) -> str:
    """The PR description and the JSON beside it, for the pipeline that opens the pull request."""
    out = layout.out_path(root)  # #13: repofiles.write makes it, never through a symlink
    _sweep_stale_temps(out)
    stem = (result.branch or f"rotate-{result.commit[:12] if result.commit else 'uncommitted'}").replace(
        "/", "-"
    )
    path = str(out / f"{stem}.md")
    repofiles.write(out / f"{stem}.md", body)
    data = {**vars(result), "pr_body_file": path}
    envs = data.pop("envs")  # serialized while git compressed the commit, when the caller has it
    envs_json = envs_json or json.dumps([e.as_dict() for e in envs], sort_keys=True)
    # One line: json's C encoder only runs without an indent. The environments come last.
    text = json.dumps(data, sort_keys=True)[:-1] + f', "envs": {envs_json}}}\n'
    repofiles.write(out / f"{stem}.json", text)
    return path


# -- recovery: a journal left by an interrupted run --------------------------------------------


def _recover(cfg: Config, git_dir: Path, entry: Journal) -> RotationResult | None:
    """Roll the journal forward; None when it was a discarded --no-commit rotation (dropped:
    the caller starts afresh)."""
    root = cfg.root
    for name in entry.envs:
        cfg.env(name)  # an environment sealer.yaml no longer has: refuse the journal
    _check_report(git_dir, entry)
    transaction.checked_moves(root, entry, planning.allowed_paths(cfg, entry.envs))
    if entry.phase == journal.PREPARED:
        journal.apply_renames(root, entry)
        if transaction.landed(root, entry):
            entry.commit = transaction.landed_commit(root, entry)
        else:
            if entry.in_place:  # its files are in the checkout now, for the current branch
                entry.parent = git.head(root)
            entry.commit = _commit_files(root, entry)
        entry.phase, entry.result["index_synced"] = journal.COMMITTED, False
        journal.save(git_dir, entry)
    transaction.forget_marker(git_dir)  # a kill between the journal and the marker's removal
    if entry.phase == journal.WRITTEN:
        if not _written_committed(cfg, git_dir, entry):
            return None
    elif entry.phase == journal.COMMITTED and not _is_landed_commit(root, entry):
        raise BadInput(
            f"the journal of the interrupted sealer run names commit {entry.commit or '(none)'}, which "
            f"is not where its change landed: remove {journal.path(git_dir)} after checking `git log`"
        )
    return roll_forward(cfg, git_dir, entry, resumed=True)


def _check_report(git_dir: Path, entry: Journal) -> None:
    """The report a roll-forward rebuilds from the journal (`result`), checked before anything is
    renamed, committed or sent: one not shaped as sealer writes it refuses the journal."""
    try:
        RotationResult.from_dict({**entry.result, "commit": None, "resumed": True})
    except (TypeError, KeyError, AttributeError) as err:
        raise journal.unreadable(git_dir, f"its report: {type(err).__name__}") from None


def _is_landed_commit(root: Path, entry: Journal) -> bool:
    """The journal's commit is recomputed, not trusted: its branch's tip, or in the current
    branch's history on top of where the change began."""
    if not entry.commit or git.resolve_commit(root, entry.commit) != entry.commit:
        return False
    if entry.branch is not None:
        return git.resolve_commit(root, f"refs/heads/{entry.branch}") == entry.commit
    holds = git.probe(root, "merge-base", "--is-ancestor", entry.commit, "HEAD") is not None
    return holds and git.parent_of(root, entry.commit) == entry.parent


def _commit_files(root: Path, entry: Journal) -> str:
    """The journal's files committed: as renamed over their targets, or from the bundle beside
    the journal (a commit on its own branch). The bundle's files are whole files written against
    the commit the change began on: its branch starts there, whatever HEAD is now (on top of a
    newer HEAD they would undo what came in between, a revocation included)."""
    git_dir = git.git_dir(root)
    if not entry.in_place and (
        entry.parent is None or git.resolve_commit(root, entry.parent) != entry.parent
    ):
        raise BadInput(
            f"the interrupted sealer run began on {entry.parent or '(no commit)'}, which this repository "
            f"lacks: remove {journal.path(git_dir)} after checking `git status`"
        )
    contents = None if entry.in_place else journal.load_contents(git_dir)
    lacking = [f["path"] for f in entry.files if contents is not None and f["path"] not in contents]
    if lacking:
        raise BadInput(
            f"the files of the interrupted sealer run lack {lacking[0]}: remove {journal.path(git_dir)}"
        )
    commit = git.Commit(root)
    try:
        for item in entry.files:
            rel = item["path"]
            commit.add(rel, contents[rel] if contents is not None else repofiles.read_bytes(root / rel))
    except BaseException:
        commit.abort()
        raise
    return commit.move(entry.message, entry.branch, None if entry.in_place else entry.parent)


def _written_committed(cfg: Config, git_dir: Path, entry: Journal) -> bool:
    """A --no-commit rotation: committed by the user since (True: roll it forward), still
    waiting (refused), or thrown away (its pending keys dropped, the journal cleared: False)."""
    root = cfg.root
    paths = [f["path"] for f in entry.files]
    changes = git.path_changes(root, paths)
    if changes:
        ignored = [path for path, is_ignored in changes.items() if is_ignored]
        forced = f" (`git add -f` {', '.join(ignored)}: git ignores it)" if ignored else ""
        raise BadInput(
            f"the rotation of {', '.join(entry.envs)} waits for its commit: commit "
            f"{', '.join(paths)}{forced}, then run `sealer rotate` again to accept the new keys"
        )
    key_ids = [k["key_id"] for e in entry.result.get("envs", []) for k in e.get("keys", [])]
    held = {r.key_id for name in entry.envs for r in ledger.at_revision(root, "HEAD", name)}
    if key_ids and all(k in held for k in key_ids):
        entry.commit, entry.phase, entry.result["index_synced"] = git.head(root), journal.COMMITTED, True
        journal.save(git_dir, entry)
        return True
    _drop_thrown_away(cfg, entry)
    journal.clear(git_dir)
    return False


def _drop_thrown_away(cfg: Config, entry: Journal) -> None:
    """Remove the pending keys of a --no-commit rotation whose files were thrown away (`tidy`).
    A store failing leaves the journal for the next run; as in a rotation's own clean-up,
    nothing done yet is exit 2 (nothing changed), some of it done (or sent) partly done."""
    stores, tidied = Stores(cfg), list[str]()
    try:
        for env in filter(sync.external, (cfg.env(name) for name in entry.envs)):
            sync.tidy_noted(cfg.root, stores.of(env), env.name, tidied)
    except SealerError as err:
        if not tidied:
            raise
        raise PartlyDone(
            f"{err}; the clean-up of the thrown-away --no-commit rotation of {', '.join(entry.envs)} "
            f"stays done in part: {', '.join(tidied)}; run `sealer rotate` again to finish it"
        ) from None


# -- deployed and abandoned ---------------------------------------------------------------------


def finish(cfg: Config, env_names: tuple[str, ...], now: dt.datetime | None = None) -> FinishResult:
    """`sealer rotate --finish` (the main-branch pipeline, after the merge): activate the keys
    HEAD's ledger delivers, revoke the abandoned ones. Idempotent; a store that fails is named
    in `left` while the others are still finished."""
    now = now or utcnow()
    here = git.current_branch(cfg.root) or ""
    if here and branches.is_own(cfg.root, here):
        raise BadInput(
            f"{here} is a rotation branch: run `sealer rotate --finish` on the main branch after the merge"
        )
    head = None if here else git.head(cfg.root)
    detached_on = branches.own_branch_at(cfg.root, head) if head else None
    if detached_on:
        raise BadInput(
            f"HEAD is detached at rotation branch {detached_on}, which no merge took in: run "
            "`sealer rotate --finish` on the main branch after the merge"
        )
    envs = [cfg.env(name) for name in env_names] if env_names else [cfg.env(n) for n in cfg.environments]
    result = FinishResult([], [])
    stores = Stores(cfg)
    sync.open_external(stores, envs)
    with lock.hold(git.git_dir(cfg.root)):
        for env in filter(sync.external, envs):
            abandoned: list[KeyRecord] = []
            try:
                sync.tidy(cfg.root, stores.of(env), env.name, abandoned)
                sync.activate_deployed(stores, env, now, result.activated)
            except (SealerError, faults.InjectedFault) as err:
                result.left.append(f"{env.name}: {err}")
            result.abandoned += [Activation(env.name, r.name, r.key_id, None, None) for r in abandoned]
        head = git.head(cfg.root)
        for env in envs:  # #16: direct delivery: the merged ledger's registry, the old keys revoked
            _publish_direct(result, env, partial(registry_delivery.publish, cfg, [env.name], head or "HEAD"))
    return result


def _publish_direct(
    result: FinishResult, env: Environment, publish: Callable[[], list[tuple[str, registry.Entry]]]
) -> None:
    """One environment's direct registry in a finish or abandon run; a failure is named in `left`."""
    try:
        dropped = publish()
    except (SealerError, faults.InjectedFault) as err:
        result.left.append(f"{env.name}: publishing the key registry failed: {err}")
        return
    result.abandoned += [Activation(name, e.name, e.key_id, None, None) for name, e in dropped]


def abandon(cfg: Config, branch: str) -> FinishResult:
    """`sealer rotate --abandon BRANCH`: revoke the keys of a rotation closed unmerged."""
    ref = git.resolve_commit(cfg.root, branch)
    if ref is None:
        raise BadInput(f"no branch or commit {branch!r}: give the rotation branch (fetch it first)")
    result = FinishResult([], [])
    stores = Stores(cfg)
    sync.open_external(stores, [cfg.env(name) for name in cfg.environments])
    with lock.hold(git.git_dir(cfg.root)):
        _refuse_merged(cfg, stores, branch, ref)
        for name in cfg.environments:
            env = cfg.env(name)
            try:
                result.abandoned += sync.abandon_branch(stores, env, ref)
            except SealerError as err:
                result.left.append(f"{env.name}: {err}")
            _publish_direct(result, env, partial(registry_delivery.publish_abandoned, cfg, [env.name], ref))
    return result


def _refuse_merged(cfg: Config, stores: Stores, branch: str, ref: str) -> None:
    """`--abandon` is for a rotation closed unmerged. Run from a branch that does not hold its keys
    yet, it would revoke keys another branch took in (the main line, by a merge, a squash or a
    rebase), which its deployment is about to serve: a key it would revoke that any branch but
    sealer's own holds stops it before anything changes."""
    for env in (cfg.env(name) for name in cfg.environments):
        rel = layout.ledger_file(env.name)
        for record in _abandoning(cfg, stores, env, ref):
            refs = git.refs_holding(cfg.root, record.key_id, rel)
            held = [h for h in refs if not branches.is_own_ref(cfg.root, h)]
            if held:
                raise BadInput(
                    f"{env.name} key {record.key_id} of {branch} is held by {held[0]} too: that rotation "
                    "was merged, not abandoned; nothing revoked"
                )


def _abandoning(cfg: Config, stores: Stores, env: Environment, ref: str) -> list[KeyRecord]:
    """The keys `ref`'s ledger adds to HEAD's that abandon takes away: revoked in an external store
    (pending or accepted there: what `abandon_branch` revokes), dropped from a directly delivered
    registry (any key it could list: what `publish_abandoned` drops)."""
    direct = env.registry is not None and env.registry.delivery == registry.DIRECT
    if not (direct or sync.external(env)):
        return []  # the Git ledger alone: abandon has nothing to take away
    on_head = {r.key_id for r in ledger.at_revision(cfg.root, "HEAD", env.name)}
    added = [r for r in ledger.at_revision(cfg.root, ref, env.name) if r.key_id not in on_head]
    in_store: dict[str, str] = {}
    if added and sync.external(env):
        try:
            in_store = {r.key_id: r.status for r in stores.of(env).list(env.name)}
        except SealerError:
            pass  # abandon_branch names the store it cannot read (exit 4, run it again)
    return [
        r for r in added if in_store.get(r.key_id) in (PENDING, ACCEPTED) or (direct and r.status != REVOKED)
    ]


# -- a rerun of keys revoke / keys compromised: the commit an earlier run made ----------------


@dataclass(frozen=True)
class Earlier:
    """A commit an earlier run of the same command made (`keys compromised`, `keys revoke`) that
    HEAD does not hold: its own branch, left for review, or a branch the user switched away from."""

    what: str  # "incident" or "revocation", for the messages
    command: str  # the command that made it, which finishes what is left
    subject: str  # the commit message's first line: this, or this and a colon and more
    trailer: str  # a line of the commit message
    done: tuple[str, ...]  # the key's status in that commit's ledger that satisfies this request
    by: dt.datetime | None = None  # a grace window there satisfies it when it ends by then

    def satisfied_by(self, record: KeyRecord) -> bool:
        """A longer grace window than the one asked for now leaves the key valid too long."""
        if record.status != GRACE:
            return record.status in self.done
        ends, by = record.revoke_at, self.by
        return GRACE in self.done and ends is not None and by is not None and ends <= by


def _incident_of(env_name: str, key_id: str) -> Earlier:
    subject = f"sealer: compromised {env_name} key {key_id}"
    trailer = f"Sealer-Compromised-Key-Id: {key_id}"
    return Earlier("incident", f"sealer keys compromised {env_name} {key_id}", subject, trailer, (REVOKED,))


def _revocation_of(env_name: str, key_id: str, at: dt.datetime | None) -> Earlier:
    """A revocation now is done by one that revoked the key; one with grace, by either, the
    grace window ending no later than `at`."""
    done = (REVOKED, GRACE) if at else (REVOKED,)
    command, subject = f"sealer keys revoke {env_name} {key_id}", f"sealer: revoke {env_name} key {key_id}"
    return Earlier("revocation", command, subject, f"Sealer-Key-Id: {key_id}", done, at)


def _earlier(
    root: Path, env_name: str, key_id: str, kind: Earlier, on_head: bool = False
) -> tuple[str, str] | None:
    """(branch, commit) of the newest such commit for this key, or None. Only a commit a run made
    in this repository (`journal.made`) on a local branch: anyone may push a branch that claims
    to be one, and check it out, and it must never stop the key's revocation or replacement.
    `on_head`: in the checked-out branch's history (a rerun from the earlier run's own branch)."""
    if git.head(root) is None or (on_head and git.current_branch(root) is None):
        return None
    spec = ("HEAD",) if on_head else ("--branches", "--not", "HEAD")
    log = git.run(root, "log", *spec, "--format=%H", "-F", f"--grep={kind.trailer}")
    ours = set(journal.made(git.git_dir(root))) if log else set()
    for commit in log.split():
        if commit not in ours:  # looks like a run's commit, made elsewhere (anyone's branch)
            continue
        lines = git.message_of(root, commit).splitlines()
        first = lines[0] if lines else ""
        if first != kind.subject and not first.startswith(f"{kind.subject}:"):
            continue
        if kind.trailer not in map(str.strip, lines):
            continue
        if not _holds_done(root, commit, env_name, key_id, kind):
            continue
        heads = [f"refs/heads/{git.current_branch(root)}"] if on_head else []
        heads = heads or [ref for ref in git.branches_at(root, commit) if ref.startswith("refs/heads/")]
        heads = heads or [r for r in git.branches_containing(root, commit) if r.startswith("refs/heads/")]
        # A branch that reverted the change since (the key valid again at its tip) did not do it.
        heads = [ref for ref in heads if _holds_done(root, ref, env_name, key_id, kind)]
        if heads:
            return heads[0].removeprefix("refs/heads/"), commit
    return None


def _holds_done(root: Path, rev: str, env_name: str, key_id: str, kind: Earlier) -> bool:
    try:
        records = ledger.at_revision(root, rev, env_name)
    except ConfigError:  # a ledger sealer never wrote (a branch checked out from anyone): not a run of it
        return False
    return any(r.key_id == key_id and kind.satisfied_by(r) for r in records)


# The pull-request description of an earlier run's commit, rebuilt from the key as committed.
Describe = Callable[[KeyRecord, RotationResult], str]


def _finish_earlier(
    cfg: Config,
    env: Environment,
    key_id: str,
    found: tuple[Earlier, str, str],
    push: str | None,
    describe: Describe,
) -> tuple[KeyRecord, RotationResult, bool]:
    """An earlier run committed this change: say what it did, and finish what may be left (the
    store's revocation, its description, a push it was not asked for or could not do); nothing
    new is committed. The key as committed, the result, and whether the store changed."""
    root, (kind, branch, commit) = cfg.root, found
    parent = git.parent_of(root, commit) or commit
    files = [change.path for change in git.tree_changes(root, parent, commit)]
    result = RotationResult(branch, commit, False, [], files, resumed=True)
    result.landed = (
        f"the {kind.what} of {env.name} key {key_id} is committed on branch {branch} ({commit[:12]})"
    )
    result.rerun = kind.command
    record = next(r for r in ledger.at_revision(root, commit, env.name) if r.key_id == key_id)
    changed: list[bool] = []
    steps: list[Step] = []
    if sync.external(env):  # a store set back since follows the commit again
        follow = partial(
            _store_follows_earlier, Stores(cfg), env, (commit, branch), record, kind.what == "incident"
        )
        steps.append(("revoking the key in the key store", lambda: changed.append(follow(result))))
    if push:
        steps.append((f"the push to {push}", partial(git.push_new_branch, root, push, branch)))
    # Last, as a run's own: the urgent steps never wait on it.
    described = partial(_earlier_description, root, result, describe, record)
    steps.append(("writing the pull-request description", described))
    result.left = _run_steps(steps)
    return record, result, any(changed)


def _earlier_description(root: Path, result: RotationResult, describe: Describe, record: KeyRecord) -> None:
    """The first run's pull-request description, if kept: a plain file in sealer's output folder,
    which Git ignores. One Git holds there came with a commit, anyone's text, not that run's; then,
    or when none is kept, it is rebuilt from the commit beside it (`<branch>.rebuilt.md`), where
    Git holds nothing. None when Git cannot say, or holds that name too (README)."""
    assert result.branch is not None
    out, stem = layout.out_path(root), result.branch.replace("/", "-")
    for name in (f"{stem}.md", f"{stem}.rebuilt.md"):
        try:
            if git.indexed(root, f"{layout.OUT_DIR}/{name}"):
                continue
        except git.GitError:
            return  # Git cannot say: no file there is taken as sealer's
        if name != f"{stem}.md" or not _plain_file(out / name):
            repofiles.write(out / name, describe(record, result))  # never through a symlink
        result.pr_body_file = str(out / name)
        return


def _plain_file(path: Path) -> bool:
    """Whether a regular file is at `path`, reached through no symlink (safeopen): Git holds no
    file below a symlinked folder, so one found through it is wherever a commit pointed it."""
    from sealer import safeopen

    try:
        fd, _ = safeopen.open_file(path)
    except OSError:
        return False
    os.close(fd)
    return True


def _revocation_end(record: KeyRecord, tip: list[KeyRecord]) -> dt.datetime | None:
    """When the key stops being valid: the earlier of what the commit and its branch's tip hold
    (a later commit there may have revoked it at once); None for now."""
    held = [record, *(r for r in tip if r.key_id == record.key_id)]
    ends = [r.revoke_at for r in held if r.status == GRACE and r.revoke_at is not None]
    return min(ends) if len(ends) == len(held) else None


def _store_follows_earlier(
    stores: Stores,
    env: Environment,
    made: tuple[str, str],
    record: KeyRecord,
    incident: bool,
    result: RotationResult,
) -> bool:
    """The store as the earlier run's commit (on its branch) left it: the key revoked, or in grace
    until that window's end (never longer, nor past what the branch holds now); an incident's
    replacement accepted again (into `result`) while the branch still holds it active (a later
    commit may have revoked it too). True when the key's revocation had to be made again."""
    commit, branch = made
    store = stores.of(env)  # opened here, inside the step: a failure is left for the rerun, not lost
    at = _revocation_end(record, ledger.at_revision(stores.cfg.root, f"refs/heads/{branch}", env.name))
    held = next((r for r in store.list(env.name) if r.key_id == record.key_id), None)
    behind = held is not None and plan_revoke(held, at, utcnow()) is not None
    if behind:
        store.revoke(env.name, record.key_id, at)
    if incident:
        result.accepted = sync.accept_committed(stores, commit, [env], still=f"refs/heads/{branch}")
    return behind


# -- keys revoke --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokeRequest:
    env: str
    key_id: str
    at: dt.datetime | None = None  # end of a grace window; None: revoke now
    branch: str | None = None
    no_branch: bool = False
    push: str | None = None


def revoke(cfg: Config, request: RevokeRequest) -> tuple[KeyRecord, RotationResult]:
    """`sealer keys revoke`: the ledger change lands as a commit (new branch by default) under
    the rotation's lock and journal; an external store is revoked right after the commit."""
    root, git_dir = cfg.root, git.git_dir(cfg.root)
    env = cfg.env(request.env)
    with lock.hold(git_dir) as common:
        git.check_push_target(root, request.push)
        left = journal.load_here(git_dir, common)
        if left is not None and (
            left.kind != journal.REVOKE or [env.name, request.key_id] not in left.revocations
        ):
            raise BadInput(
                "an interrupted sealer run waits to be finished: run `sealer rotate --resume` first"
            )
        if left is not None:  # this revocation again, after exit 4: it finishes what is left
            return _finish_revocation(cfg, git_dir, left, env.name, request.key_id)
        stores = Stores(cfg)
        sync.open_external(stores, [env])  # the store is revoked after the commit: it must open here
        records = ledger.load(root, env.name)
        if sync.external(env) and not any(r.key_id == request.key_id for r in records):
            records = stores.of(env).list(env.name)  # an external key the ledger never held
        found = next((r for r in records if r.key_id == request.key_id), None)
        if found is None:
            raise _no_key(cfg, env, request.key_id)
        changed = plan_revoke(found, request.at, utcnow())
        if changed is None:  # revoked already: nothing to commit; a store that drifted follows (#17)
            if sync.external(env):
                with sync.outside_git(request.key_id):
                    sync.follow_ledger_revocation(stores.of(env), env.name, request.key_id)
            return found, RotationResult(None, None, False, [], [])
        if not any(r.key_id == request.key_id for r in ledger.load(root, env.name)):
            with sync.outside_git(request.key_id):  # nothing to record in Git
                stores.of(env).revoke(env.name, request.key_id, request.at)
            return changed, RotationResult(None, None, False, [], [])
        # Its own branch leaves the checkout's ledger holding the key valid: a rerun finds that commit.
        kind = _revocation_of(env.name, request.key_id, request.at)
        earlier = _earlier(root, env.name, request.key_id, kind)
        if earlier is not None:
            described = partial(_revocation_described, env)
            record, done, _ = _finish_earlier(
                cfg, env, request.key_id, (kind, *earlier), request.push, described
            )
            return record, done
        rel = layout.ledger_file(env.name)
        new_records = [changed if r.key_id == request.key_id else r for r in ledger.load(root, env.name)]
        old_text = repofiles.read_text_if_exists(root / rel)
        files = {rel: (ledger.dump(env.name, new_records), old_text)}
        clusters = [c.name for c in env.clusters]  # #16: the GitOps key registries follow the ledger
        for path, data in registry.files(env.name, clusters, env.registry, new_records).items():
            files[path] = (data.decode(), repofiles.read_text_if_exists(root / path))
        files.update(_values_after_revocation(cfg, env, new_records))
        git.refuse_uncommitted(root, [layout.CONFIG_FILE, *files])
        now = utcnow()
        branch = None
        if not request.no_branch:
            branch = (
                request.branch
                and planning.given_branch(root, request.branch, request.push)
                or planning.fresh_branch(
                    root, f"sealer/revoke-{env.name}-{request.key_id}-{now:%Y%m%dT%H%M%SZ}", request.push
                )
            )
        message = (
            f"sealer: revoke {env.name} key {request.key_id}\n\n"
            f"Sealer-Env: {env.name}\nSealer-Key-Id: {request.key_id}\n"
        ) + (branches.trailer(branch) if request.branch and branch else "")
        result = RotationResult(branch, None, False, [], sorted(files))
        entry = Journal(
            journal.REVOKE,
            journal.PREPARED,
            [env.name],
            [],
            branch,
            git.head(root),
            message,
            request.push,
            revocations=[[env.name, request.key_id]],
            pr_body=_revocation_text(env, changed),
            result=result.as_dict(),
        )
        transaction.sweep_temps(root, git_dir)
        entry = transaction.run(root, git_dir, entry, files, lambda: None)
        return changed, roll_forward(cfg, git_dir, entry, resumed=False)


def no_active_key_left(cfg: Config, env_name: str, revoked: KeyRecord) -> str | None:
    """What to say when revoking `revoked` leaves its entry, still one sealer.yaml manages, no other
    active key in the checkout's ledger (None: one is left): the cluster then accepts no key for
    it until a rotation lands. Allowed (an incident may need it), but `keys revoke` says so, and
    what to do: a rotation waiting unmerged is merged (`sealer rotate` is refused until then),
    where its new key (accepted by an external store already) is deployed nowhere yet."""
    if revoked.name not in cfg.env(env_name).keys:  # taken out: no rotation of it to run
        return None
    records = ledger.load(cfg.root, env_name)
    if _active_key_of((r for r in records if r.key_id != revoked.key_id), revoked.name) is not None:
        return None
    alone = f"{env_name}/{revoked.name} has no active key left"
    rotate = f"sealer rotate {env_name} --key {revoked.name}"
    waiting = branches.waiting_rotations(cfg.root, [env_name], None)  # origin's too, as `rotate` sees them
    if not waiting:
        return f"{alone}: run `{rotate}`"
    branch = terminal.one_line(waiting[0][1])  # a branch's name: anyone's text
    new = _new_key_on(cfg, env_name, waiting[0][1], revoked.name, {r.key_id for r in records})
    if new is None:
        return f"{alone}: merge branch {branch}, whose rotation of {env_name} waits unmerged, then `{rotate}`"
    env = cfg.env(env_name)
    accepted = f", accepted by the {env.backend_kind} store already," if sync.external(env) else ""
    return f"{alone} deployed: its next key {new}{accepted} waits unmerged on branch {branch}: merge it"


def _new_key_on(cfg: Config, env_name: str, branch: str, name: str, held: set[str]) -> str | None:
    """The key id `branch`'s ledger gives the entry `name` that the checkout's does not."""
    rel = layout.ledger_file(env_name)
    try:
        text = git.file_at(cfg.root, branch, rel)  # bounded: anyone may push a branch's ledger
        records = ledger.parse(env_name, text, f"{branch}:{rel}") if text else []
    except SealerError:  # a broken or oversized ledger there names no key
        return None
    return next((r.key_id for r in records if r.name == name and r.key_id not in held), None)


def _values_after_revocation(
    cfg: Config, env: Environment, records: list[KeyRecord]
) -> dict[str, tuple[str, str | None]]:
    """The values files as `sealer render` writes them from the new ledger: revoking an entry's
    active key takes it out of `sealer.keys` and changes the checksum, which review requires."""
    files = {}
    for cluster in env.clusters:
        sealed = state.load(cfg.root, env.name, cluster.name)
        if sealed is None:
            continue  # nothing rendered yet: nothing the ledger change could make stale
        new, old = render.values_text(cfg.root, env, cluster, sealed, records)
        if new != old:
            files[cluster.values_file] = (new, old)
    return files


def _revocation_text(env: Environment, record: KeyRecord) -> str:
    """The pull-request description of `keys revoke` (README: "the pull request says so"): when
    verifiers refuse the key, by where they read it."""
    until = f"valid until {iso(record.revoke_at)} (its grace window), then " if record.status == GRACE else ""
    when = (
        "in this change and in the key store right after its commit: verifiers refuse it from then on"
        if _refused_at_once(env)
        else "in this change's ledger and key registry: verifiers accept it until this change is merged "
        "and synced"
    )
    title = f"## Revoke `{record.key_id}` ({env.name} / `{record.name}`)"
    return f"{title}\n\n`{record.key_id}` is {until}revoked {when}.\n"


def _revocation_described(env: Environment, record: KeyRecord, result: RotationResult) -> str:
    return _revocation_text(env, record)


def _refused_at_once(env: Environment) -> bool:
    """Verifiers of an external store or a directly delivered registry refuse a revoked key right
    after the commit; a GitOps-delivered registry is the change itself, read once merged and synced."""
    return sync.external(env) or (env.registry is not None and env.registry.delivery == registry.DIRECT)


def _finish_revocation(
    cfg: Config, git_dir: Path, entry: Journal, env_name: str, key_id: str
) -> tuple[KeyRecord, RotationResult]:
    """README (exit 4): "running the same command again finishes it"; the key as committed."""
    done = _recover(cfg, git_dir, entry)
    assert done is not None and done.commit, "a revocation is never left uncommitted (--no-commit)"
    committed = ledger.at_revision(cfg.root, done.commit, env_name)
    return next(r for r in committed if r.key_id == key_id), done


# -- keys compromised (#17) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """A compromised key: revoked in the commit that rotates its entry, and in the store right
    after that commit (not after the deployment: zero grace)."""

    env: str
    key_id: str
    subject: str  # the commit message's first lines
    pr_text: str  # the pull-request description's first paragraph


@dataclass(frozen=True)
class CompromisedRequest:
    env: str
    key_id: str
    branch: str | None = None
    no_branch: bool = False
    push: str | None = None


@dataclass
class CompromisedResult:
    record: KeyRecord  # the compromised key as it is now
    rotation: RotationResult  # the commit (none when the ledger held the key revoked already)
    store_revoked: bool  # the store was revoked outside a commit (it had drifted, or no ledger held it)
    already: bool = False  # an earlier run committed this incident: nothing new was minted


def replace_compromised(
    cfg: Config, request: CompromisedRequest, now: dt.datetime | None = None
) -> CompromisedResult:
    """`sealer keys compromised ENV KEY_ID`: one commit revokes the key in the ledger (and the
    key registries that follow it) and rotates its entry with no grace; right after the commit
    the store revokes it and accepts the new key. A key the ledger holds revoked already, or
    never held, is revoked in the store alone. A rerun after an interruption finishes the
    interrupted run first (its journal), then finds nothing left to do."""
    faults.arm()
    root, git_dir = cfg.root, git.git_dir(cfg.root)
    env, now = cfg.env(request.env), now or utcnow()
    with lock.hold(git_dir) as common:
        git.check_push_target(root, request.push)
        left = journal.load_here(git_dir, common)
        recovered = _recover(cfg, git_dir, left) if left is not None else None
        if recovered is not None and recovered.left:  # finish that run first: its journal stays
            raise PartlyDone(partly_done(recovered))
        found = next((r for r in ledger.load(root, env.name) if r.key_id == request.key_id), None)
        incident = _incident_of(env.name, request.key_id)
        if found is not None and found.status == REVOKED and recovered is None:  # rerun on its branch?
            if (ours := _earlier(root, env.name, request.key_id, incident, on_head=True)) is not None:
                return _handled_already(cfg, env, request.key_id, ours, request.push)
        if found is None or effective_status(found, now) != VALID:
            return _revoke_outside_git(cfg, env, request.key_id, found, recovered)
        # Its own branch leaves the checkout's ledger holding the key valid: a rerun (after a
        # network blip, or once it succeeded) must find that commit, never mint a second key.
        earlier = _earlier(root, env.name, request.key_id, incident)
        if earlier is not None:
            return _handled_already(cfg, env, request.key_id, earlier, request.push)
        if found.name not in env.keys:
            raise BadInput(
                f"{env.name} no longer manages {found.name!r}: revoke {request.key_id} with "
                f"`sealer keys revoke {env.name} {request.key_id}`"
            )
        plans, branch, keys_request = _incident_plan(cfg, env, found, request, now)
        result = _result(plans, keys_request, branch)
        _ready(root, git_dir, result)
        try:
            rotation = _apply(cfg, git_dir, plans, keys_request, branch, result, _incident(env, found))
        except KeyboardInterrupt:
            _interrupted_past_the_commit(root, git_dir)
            raise
        return CompromisedResult(found.with_status(REVOKED, now), rotation, False)


def _handled_already(
    cfg: Config, env: Environment, key_id: str, earlier: tuple[str, str], push: str | None
) -> CompromisedResult:
    """An earlier run committed this incident: its commit, what it rotated; nothing new is minted."""
    described = partial(_incident_described, cfg.root, env)
    record, result, changed = _finish_earlier(
        cfg, env, key_id, (_incident_of(env.name, key_id), *earlier), push, described
    )
    assert result.commit is not None
    values = [c.values_file for c in env.clusters]
    result.envs = [
        EnvSummary(env.name, env.namespace, values[0], values, _rotated_by(cfg.root, env, result.commit))
    ]
    return CompromisedResult(record, result, changed, already=True)


def _rotated_by(root: Path, env: Environment, commit: str) -> list[KeyChange]:
    """The keys an incident's commit made active, each with the one it replaced."""
    parent = git.parent_of(root, commit) or commit
    before = ledger.at_revision(root, parent, env.name)
    known = {r.key_id for r in before}
    return [
        KeyChange(r.name, r.key_id, r.fingerprint, _active_key_of(before, r.name), iso(r.expires))
        for r in ledger.at_revision(root, commit, env.name)
        if r.key_id not in known and r.status == ACTIVE
    ]


def _incident_described(root: Path, env: Environment, record: KeyRecord, result: RotationResult) -> str:
    """The incident's description as its run wrote it: what it revokes, then the rotation (no grace)."""
    assert result.commit is not None
    committed = ledger.at_revision(root, result.commit, env.name)
    plans = [EnvRotation(env, _rotated_by(root, env, result.commit), committed)]
    body = templating.render("pr-body.md.j2", summary=result, **planning.texts(plans, None))
    return f"{_incident(env, record).pr_text}\n\n{body}"


def _active_key_of(records: Iterable[KeyRecord], name: str) -> str | None:
    return next((r.key_id for r in records if r.name == name and r.status == ACTIVE), None)


def _incident_plan(
    cfg: Config, env: Environment, found: KeyRecord, request: CompromisedRequest, now: dt.datetime
) -> tuple[list[EnvRotation], str | None, Request]:
    """The rotation of the compromised key's entry with no grace: the key itself revoked (an
    active one by the rotation, an older one in its grace window here)."""
    records = ledger.load(cfg.root, env.name)
    if found.status != ACTIVE:
        records = [r.with_status(REVOKED, now) if r.key_id == found.key_id else r for r in records]
    target = planning.Target(env, [found.name], records)
    plans = planning.plan_all([target], cfg, now, None, git.identity(cfg.root))
    branch = None
    if not request.no_branch:
        branch = request.branch and git.check_branch_name(cfg.root, request.branch)
        branch = branch or planning.fresh_branch(
            cfg.root, f"sealer/revoke-{env.name}-{found.key_id}-compromised-{now:%Y%m%dT%H%M%SZ}"
        )
    return plans, branch, Request((env.name,), (found.name,), branch=branch, push=request.push)


def _incident(env: Environment, found: KeyRecord) -> Incident:
    at_once = _refused_at_once(env)
    subject = (
        f"sealer: compromised {env.name} key {found.key_id}: revoked, {found.name} rotated with no grace\n\n"
        + (
            f"The key store revokes {found.key_id} right after this commit; the cluster keeps serving it\n"
            "until this change is deployed, and verifiers refuse it from the revocation on.\n\n"
            if at_once
            else f"The key registry in this change drops {found.key_id}: verifiers refuse it once this\n"
            "change is merged and synced; the cluster keeps serving it until then.\n\n"
        )
        + f"Sealer-Compromised-Key-Id: {found.key_id}"
    )
    refused = (
        f"`{found.key_id}` is revoked in this change and in the key store right after its commit, "
        "with no grace window: verifiers refuse it now, although the cluster keeps serving it until "
        "this change is merged and deployed."
        if at_once
        else f"`{found.key_id}` is revoked in this change's ledger and key registry, with no grace "
        "window: verifiers accept it, and the cluster serves it, until this change is merged and "
        "synced."
    )
    pr_text = (
        f"## Compromised key `{found.key_id}` ({env.name} / `{found.name}`)\n\n"
        f"{refused} Merge and deploy this change at once."
    )
    return Incident(env.name, found.key_id, subject, pr_text)


def _no_key(cfg: Config, env: Environment, key_id: str) -> BackendError:
    """An unknown key id, naming the environment whose ledger holds it when another's does (the
    wrong ENV typed: nothing changed)."""
    owner = next((name for name in cfg.environments if name != env.name and _held(cfg, name, key_id)), None)
    also = f"; it is a key of {owner}" if owner else f": `sealer keys list {env.name}` lists its keys"
    return BackendError(f"{env.backend_kind}: {env.name}: no key {key_id}{also}")


def _held(cfg: Config, env_name: str, key_id: str) -> bool:
    try:
        return any(r.key_id == key_id for r in ledger.load(cfg.root, env_name))
    except SealerError:  # an unreadable ledger names no owner
        return False


def _revoke_outside_git(
    cfg: Config, env: Environment, key_id: str, found: KeyRecord | None, recovered: RotationResult | None
) -> CompromisedResult:
    """The ledger holds the key revoked (a rerun, or a store that drifted) or never held it (a
    key accepted on a rotation branch, or added behind sealer's back): only the store changes."""
    done = RotationResult(None, None, False, [], []) if recovered is None else recovered
    if not sync.external(env):
        on_branch = registry_delivery.drop_compromised(cfg, env.name, key_id) if found is None else None
        if on_branch is not None:  # accepted in a direct registry by a rotation under review
            return CompromisedResult(on_branch.with_status(REVOKED, utcnow()), done, True)
        if found is None:
            raise _no_key(cfg, env, key_id)
        return CompromisedResult(found, done, False)
    store = Stores(cfg).of(env)
    stored = next((r for r in store.list(env.name) if r.key_id == key_id), None)
    if found is None and stored is None:
        raise _no_key(cfg, env, key_id)
    with sync.outside_git(key_id):
        changed = sync.follow_ledger_revocation(store, env.name, key_id)
        try:
            after = next(r for r in store.list(env.name) if r.key_id == key_id) if stored else found
        except BackendError as err:  # the store changed already: never "nothing changed"
            if not changed:
                raise
            raise WriteUnconfirmed(str(err)) from None
    assert after is not None
    return CompromisedResult(after, done, changed)
