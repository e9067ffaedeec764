"""`sealer backend set`: move an environment's key records to another store, then switch.

The old store stays in charge until the very end: the records (hashes and metadata only) are
copied into the new store through the KeyStore protocol, read back and compared with the old
store and the committed ledger, and only then does one commit change sealer.yaml (with the
ledger and its GitOps key registries, when the new store is the ledger itself).

Before that commit nothing is in charge but the old store: a failure removes the copies this
run made (a copy that cannot be removed is an exact copy of a record of the store in charge,
reported, and found as "there already" by the next run), and leaves every file as it was.
Records the new store holds already must be the very same; anything else is refused naming
the key, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealer import config, faults, git, journal, layout, ledger, lock, registry, repofiles, yamlio
from sealer.backends import DEFAULT_BACKEND, KeyStore, check_ready, open_store
from sealer.errors import BadInput, InterruptedInFlight, PartlyDone, SealerError, WriteUnconfirmed
from sealer.records import ACCEPTED, ACTIVE, GRACE, PENDING, REVOKED, KeyRecord, utcnow

# (ledger, store) statuses of one key while a committed change waits for its deployed phase
# (`rotate --finish`) or for the store's side of `keys revoke`: not a disagreement.
IN_FLIGHT = {(ACTIVE, ACCEPTED), (REVOKED, ACTIVE), (GRACE, ACTIVE), (REVOKED, GRACE), (GRACE, GRACE)}


@dataclass(frozen=True)
class MigrationRequest:
    env: str
    kind: str
    options: dict[str, str]
    credentials: dict[str, str] = field(default_factory=dict)  # where they come from (#17), never one
    branch: str | None = None
    no_branch: bool = False


@dataclass
class MigrationResult:
    env: str
    kind: str
    options: dict[str, str]
    credentials: dict[str, str]
    previous_kind: str
    copied: list[str] = field(default_factory=list)  # key ids written into the new store
    present: list[str] = field(default_factory=list)  # key ids it held already, the same
    files: list[str] = field(default_factory=list)
    branch: str | None = None
    commit: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def set_backend(root: Path, request: MigrationRequest) -> MigrationResult:
    """Copy ENV's records into the store of KIND, verify them, then commit the switch."""
    cfg = config.load(root)
    env = cfg.env(request.env)
    # The new store's options as sealer.yaml will give them (a direct delivery's registry
    # namespace, name and environment are filled in from the environment), checked with it.
    options = _switched(root, env.name, request).backend_options
    # Opening vets the options and the credential source (every variable it names is set) first;
    # then what this machine must give the store (its global variables, a region), named with
    # ENV as every command names it, before the store is asked anything.
    new = open_store(request.kind, options, root, request.credentials, env.name)
    check_ready(request.kind, options, request.credentials, env.name)
    result = MigrationResult(
        env.name, request.kind, dict(request.options), dict(request.credentials), env.backend_kind
    )
    git_dir = git.git_dir(root)
    with lock.hold(git_dir, "backend set") as common:
        if journal.load_here(git_dir, common) is not None:
            raise BadInput(
                "an interrupted sealer run waits to be finished: run `sealer rotate --resume` first"
            )
        if (env.backend_kind, env.backend_options, env.backend_credentials) == (
            request.kind,
            options,
            request.credentials,
        ):
            return result  # nothing to move, nothing to commit
        _refuse_dirty_config(root)
        old = open_store(env.backend_kind, env.backend_options, root, env.backend_credentials, env.name)
        committed = ledger.at_revision(root, "HEAD", env.name)
        source = old.list(env.name)
        _check_ledger(committed, source, env.backend_kind, "the old store")
        _refuse_dirty_ledger(root, env.name, committed, source, env.backend_kind)
        todo, result.present = _plan(source, new.list(env.name), request.kind)
        branch = _branch(root, request)
        copied: list[KeyRecord] = []
        try:
            for record in todo:
                try:
                    new.copy_in(record)
                except (WriteUnconfirmed, InterruptedInFlight):  # not read back, or left under way
                    copied.append(record)  # it may be there: named, or removed with the others
                    raise
                copied.append(record)
                faults.point("migrate-after-copy-one")
            faults.point("migrate-before-verify")
            _verify(old.list(env.name), new.list(env.name), committed, request.kind)
            files = _files(root, env.name, request)
            result.copied, result.files, result.branch = [r.key_id for r in copied], sorted(files), branch
            commit = _prepared(root, files)
            with lock.interrupts_held():  # SIGINT waits while the ref moves and until the run knows it did
                result.commit = commit.move(_message(result, source), branch, git.head(root))
        except BaseException as err:
            if result.commit is None:
                _undo(root, env.name, new, copied, err)
                raise
            if not isinstance(err, KeyboardInterrupt):
                raise
        _settle(root, commit, result.commit, files, branch)
    return result


# -- before anything is written ----------------------------------------------------------------


def _refuse_dirty_config(root: Path) -> None:
    git.refuse_uncommitted(root, [layout.CONFIG_FILE])


def _refuse_dirty_ledger(
    root: Path, env_name: str, committed: list[KeyRecord], source: list[KeyRecord], old_kind: str
) -> None:
    """The ledger file may differ from HEAD only by exact copies of an external old store's
    records (what a run killed after copying into the ledger leaves): the next run finishes it."""
    rel = layout.ledger_file(env_name)
    changes = git.path_changes(root, [rel])
    if not changes:
        refused = git.unwatched_refusal(root, [rel])  # a ledger git does not look at may hold any
        if refused is not None:
            raise refused
        return
    here = ledger.load(root, env_name)
    left = [r for r in here if r not in committed]
    if (
        old_kind == DEFAULT_BACKEND
        or any(r not in here for r in committed)
        or any(r not in source for r in left)
    ):
        raise BadInput(git.uncommitted_line(changes))


def _effectively_revoked(record: KeyRecord) -> bool:
    return record.status == REVOKED or (
        record.status == GRACE and record.revoke_at is not None and record.revoke_at <= utcnow()
    )


def _identity(record: KeyRecord) -> tuple[object, ...]:
    return (record.name, record.fingerprint, record.created, record.expires)


def same(a: KeyRecord, b: KeyRecord) -> bool:
    """One key in the same state: equal, or the same key revoked in both (a grace window that
    ended counts as revoked, whenever each store ended it)."""
    return a == b or (_identity(a) == _identity(b) and _effectively_revoked(a) and _effectively_revoked(b))


def holds(target: KeyRecord, source: KeyRecord) -> bool:
    """The new store's record may stand for the old store's: the same, or the same key in a grace
    window that ends no later (the ledger's, counted from the reviewed commit, where a store
    counts from the deployment after it): a switch never makes a key valid for longer."""
    if same(target, source):
        return True
    shorter = (
        target.revoke_at is not None and source.revoke_at is not None and target.revoke_at <= source.revoke_at
    )
    return _identity(target) == _identity(source) and target.status == source.status == GRACE and shorter


def _check_ledger(committed: list[KeyRecord], records: list[KeyRecord], kind: str, which: str) -> None:
    """The committed ledger and a store name the same keys: each key the ledger holds valid is
    in the store with the same fingerprint and metadata, in the same state or one a committed
    change leaves it in until its next phase. A store may hold keys the ledger does not."""
    held = {r.key_id: r for r in records}
    for mine in committed:
        theirs = held.get(mine.key_id)
        if theirs is None:
            if not _effectively_revoked(mine):
                raise BadInput(
                    f"{mine.env}: the ledger holds key {mine.key_id} ({mine.status}) but {which} ({kind}) "
                    "does not: reconcile them before moving the keys"
                )
            continue
        if _identity(mine) != _identity(theirs):
            raise BadInput(
                f"{mine.env}: key {mine.key_id} differs between the ledger and {which} ({kind}): "
                "fingerprint or metadata"
            )
        if not (same(mine, theirs) or (mine.status, theirs.status) in IN_FLIGHT):
            raise BadInput(
                f"{mine.env}: key {mine.key_id} is {mine.status} in the ledger but {theirs.status} in "
                f"{which} ({kind}): finish that change first (`sealer rotate --finish`)"
            )


def _plan(source: list[KeyRecord], target: list[KeyRecord], kind: str) -> tuple[list[KeyRecord], list[str]]:
    """The records to copy, and those the new store holds already (the same). Refused, naming
    the key, when it holds another version of one, or a valid key the old store does not know
    (it would become valid by the switch); pending leftovers and revoked keys there are harmless."""
    there = {r.key_id: r for r in target}
    mine = {r.key_id for r in source}
    for extra in target:
        if extra.key_id not in mine and extra.status not in (PENDING, REVOKED):
            raise BadInput(
                f"{extra.env}: the new store ({kind}) holds key {extra.key_id} ({extra.status}), which the "
                "old store does not: remove it there, or choose another place"
            )
    todo, present = [], []
    for record in source:
        found = there.get(record.key_id)
        if found is None:
            todo.append(record)
        elif holds(found, record):
            present.append(record.key_id)
        else:
            hint = "finish that change first (`sealer rotate --finish`)"
            if (found.status, record.status) not in IN_FLIGHT:
                hint = "not copied"
            raise BadInput(
                f"{record.env}: key {record.key_id} is in the new store ({kind}) already, but as "
                f"{found.status} where the old store has it {record.status} (or with other "
                f"metadata): {hint}"
            )
    return _in_copy_order(todo), present


def _in_copy_order(records: list[KeyRecord]) -> list[KeyRecord]:
    """Revoked and grace first, active last: a copy that stops midway never leaves the new store
    with fewer revocations than keys it calls valid."""
    rank = {REVOKED: 0, GRACE: 1, PENDING: 2, ACCEPTED: 3, ACTIVE: 4}
    return sorted(records, key=lambda r: rank.get(r.status, 0))


# -- after the copy ----------------------------------------------------------------------------


def _verify(source: list[KeyRecord], copied: list[KeyRecord], committed: list[KeyRecord], kind: str) -> None:
    """Read back: every record of the old store (read again) is in the new one, the same, and
    the new store agrees with the committed ledger."""
    there = {r.key_id: r for r in copied}
    for record in source:
        found = there.get(record.key_id)
        if found is None or not holds(found, record):
            what = "missing" if found is None else f"{found.status}, not {record.status} (or other metadata)"
            raise BadInput(f"{record.env}: key {record.key_id} read back from the new store ({kind}): {what}")
    _check_ledger(committed, copied, kind, "the new store")


def _files(root: Path, env_name: str, request: MigrationRequest) -> dict[str, bytes | None]:
    """What the commit holds: sealer.yaml naming the new store; the ledger and its GitOps key
    registries when they changed (the new store is the ledger itself); None for a registry file
    no longer delivered through Git (a store that is not the ledger): left behind, GitOps would
    keep applying it, and no rotation would update it again, so the keys it lists, revoked
    later in the new store, would stay valid for its verifiers."""
    path = layout.config_path(root)
    text = _switched_text(root, env_name, request)
    new_cfg = config.from_text(text, str(path), root)  # never commit an invalid file
    files: dict[str, bytes | None] = {layout.CONFIG_FILE: repofiles.encode_like(path, text)}
    rel = layout.ledger_file(env_name)
    records = ledger.load(root, env_name)
    if git.changed_paths(root, [rel]):
        files[rel] = repofiles.encode_like(root / rel, ledger.dump(env_name, records))
    env = new_cfg.env(env_name)
    wanted = registry.files(env_name, [c.name for c in env.clusters], env.registry, records)
    for name, data in wanted.items():
        if git.file_at(root, "HEAD", name) != data.decode():
            files[name] = data
    for name in git.files_under(root, "HEAD", f"{layout.REGISTRY_DIR}/{env_name}"):
        if name not in wanted and layout.registry_env(name) == env_name:
            files[name] = None
    return files


def _switched_text(root: Path, env_name: str, request: MigrationRequest) -> str:
    """sealer.yaml's text once it names the new store."""
    doc = config.round_trip_load(root)
    _set_backend(doc, env_name, request)
    return yamlio.round_trip_dump(doc)


def _switched(root: Path, env_name: str, request: MigrationRequest) -> config.Environment:
    """The environment as sealer.yaml naming the new store gives it (ConfigError when invalid)."""
    path = layout.config_path(root)
    text = _switched_text(root, env_name, request)
    return config.from_text(text, str(path), root).env(env_name)


def _set_backend(doc: Any, env_name: str, request: MigrationRequest) -> None:
    from ruamel.yaml.comments import CommentedMap

    backend = CommentedMap(kind=request.kind)
    if request.options:
        backend["options"] = CommentedMap(sorted(request.options.items()))
    if request.credentials:
        backend["credentials"] = CommentedMap(sorted(request.credentials.items()))
    environment = config.raw_environment(doc, env_name)
    yamlio.move_following_comment(yamlio.last_comment_slot(environment.get("backend")), backend)
    environment["backend"] = backend


def _branch(root: Path, request: MigrationRequest) -> str | None:
    if request.no_branch:
        return None
    if request.branch:
        return git.check_branch_name(root, request.branch)
    base, taken = f"sealer/backend-{request.env}-{request.kind}-{utcnow():%Y%m%dT%H%M%SZ}", 1
    while git.branch_exists(root, base if taken == 1 else f"{base}-{taken}"):
        taken += 1
    return git.check_branch_name(root, base if taken == 1 else f"{base}-{taken}")


def _message(result: MigrationResult, source: list[KeyRecord]) -> str:
    lines = [
        f"sealer: move the {result.env} keys from {result.previous_kind} to {result.kind}",
        "",
        f"{len(source)} key record(s) copied into {result.kind} and read back the same before this "
        "commit (hashes and metadata only):",
        *[f"  {r.key_id}  {r.name}  {r.status}  sha256 {r.fingerprint[:12]}" for r in source],
        "",
        f"Sealer-Env: {result.env}",
        f"Sealer-Backend: {result.kind}",
    ]
    return "\n".join(lines) + "\n"


def _prepared(root: Path, files: dict[str, bytes | None]) -> git.Commit:
    """The commit, built but not yet on any branch (its ref move is the point of no return)."""
    commit = git.Commit(root)
    try:
        for rel, data in files.items():
            commit.add(rel, data, repofiles.is_executable(root / rel))
        faults.point("migrate-before-commit")
    except BaseException:
        commit.abort()
        raise
    return commit


def _settle(
    root: Path, commit: git.Commit, made: str, files: dict[str, bytes | None], branch: str | None
) -> None:
    """The checkout after the commit: on a new branch the user's files stay as they were; on the
    current one they become the commit's."""
    try:
        commit.settle(made, branch)
        if branch is None:
            git.restore_from_head(root, list(files))
    except (SealerError, OSError) as err:
        where = f"branch {branch}" if branch else "the current branch"
        kept = " ".join(sorted(rel for rel, data in files.items() if data is not None))
        gone = " ".join(sorted(rel for rel, data in files.items() if data is None))
        raise PartlyDone(
            f"the switch is committed on {where} ({made[:12]}), but your checkout could not follow "
            f"({err}): run `git checkout HEAD -- {kept}`" + (f" and remove {gone}" if gone else "")
        ) from None


# -- a failure before the commit ---------------------------------------------------------------


def _undo(root: Path, env_name: str, new: KeyStore, copied: list[KeyRecord], err: BaseException) -> None:
    """Remove this run's copies and put the files back as HEAD has them; what cannot be removed
    is named (exit 4), and is an exact copy the next run finds there already."""
    left = []
    for record in reversed(copied):
        if isinstance(err, InterruptedInFlight) and record is copied[-1]:
            left.append(f"{record.key_id} (its write still under way)")  # may land after any removal
            continue
        try:
            new.drop_copy(record)
        except (SealerError, faults.InjectedFault):
            left.append(record.key_id)
    rel = layout.ledger_file(env_name)  # the copies into a store that is the ledger itself
    if git.changed_paths(root, [rel]):
        if git.head(root) and git.file_at(root, "HEAD", rel) is not None:
            git.restore_from_head(root, [rel])
        else:
            repofiles.remove(root / rel)
    if left:  # Ctrl-C too: copies are left, so "interrupted, nothing changed" (130) would not hold
        plain_ctrl_c = isinstance(err, KeyboardInterrupt) and not isinstance(err, InterruptedInFlight)
        why = "interrupted" if plain_ctrl_c else str(err)
        raise PartlyDone(
            f"{why}; the old store stays in charge and sealer.yaml is unchanged, but the new store keeps "
            f"copies of {', '.join(left)} (the old store's records, never in charge): run `sealer backend "
            "set` again to finish, or remove them there"
        ) from None
