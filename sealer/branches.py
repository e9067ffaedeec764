"""sealer's own branches: a rotation or revocation committed on a branch of its own, which no
merge took into the main line yet. Drift and `rotate --finish` must not read such a branch as
the main line. A default name says so by its prefix; a name given with --branch, by the
trailer sealer writes into the branch's commit (the name alone could be any branch's)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from sealer import git, layout, ledger, repofiles
from sealer.errors import GitError, SealerError

TRAILER = "Sealer-Branch"
_LOOK_BACK = 50  # commits a user may add on top of sealer's own on its branch


def trailer(branch: str) -> str:
    """The line a commit on a --branch of the user's choice ends its trailers with."""
    return f"{TRAILER}: {branch}\n"


def is_own(root: Path, name: str, ref: str | None = None) -> bool:
    """Whether branch `name` (at `ref`, by default the local branch) is one of sealer's own: a
    merge keeps the trailer off the main line's first parents, and a rebase merge moves it onto
    a branch of another name. Only a commit that changes a ledger counts (sealer's always does):
    anyone's pull request may carry `Sealer-Branch: main` on a commit of its own, and squashed
    or rebased onto main it would have `rotate --finish` refuse there and drift read main's keys
    as never landed; a ledger change is what `sealer review` holds to its signature rule."""
    if name.startswith(layout.OWN_BRANCH_PREFIXES):
        return True
    ref = ref or f"refs/heads/{name}"
    try:
        found = claims(root, "--first-parent", f"-n{_LOOK_BACK}", ref)
    except GitError:
        if git.ref_is_there(root, ref):
            raise  # its history git cannot read (a corrupt object) may hold sealer's commit
        return False  # no such branch (an unborn one): none of sealer's
    return any(name in claim.branches and _sealers_kind(root, claim.commit, claim.parents) for claim in found)


class Claim(NamedTuple):
    commit: str
    parents: list[str]
    branches: list[str]  # the values of its `Sealer-Branch:` trailers


def claims(root: Path, *log_args: str) -> list[Claim]:
    """Each commit `git log LOG_ARGS` lists, with the branches its `Sealer-Branch:` trailers name,
    as git parses trailers (`is_own` reads them, `sealer review` checks them). GitError when git
    cannot list them (a corrupt object, an unknown revision): no list is not "no claim". One
    commit per NUL-separated record (-z): a message may hold any other byte."""
    log = git.run(
        root,
        git.NO_REPLACE,
        "log",
        "-z",
        f"--format=%H %P%n%(trailers:key={TRAILER},valueonly,unfold)",
        *log_args,
        "--",
    )
    found = []
    for entry in filter(None, log.split("\0")):
        header, _, values = entry.partition("\n")
        commit, *parents = header.split()
        found.append(Claim(commit, parents, [v.strip() for v in values.split("\n") if v.strip()]))
    return found


def _sealers_kind(root: Path, commit: str, parents: list[str]) -> bool:
    """A commit as sealer makes them: one parent (a merge's message is the forge's, its body a
    pull request's title), a ledger changed."""
    return len(parents) == 1 and git.changes_path(root, commit, f"{layout.LEDGER_DIR}/")


def own_branch_at(root: Path, commit: str) -> str | None:
    """A checkout detached at an unmerged rotation (as `git checkout --detach BRANCH` leaves it):
    the name of a branch of sealer's own holding `commit` when only such branches hold it. None
    when another branch does too (a merge took it in: the main line holds it, even when it moved
    on since, as it may before a CI job fetches) or none does (a CI checkout of the main line's
    commit, its branch not fetched)."""
    holding = git.branches_containing(root, commit)
    if not holding or not all(is_own_ref(root, ref) for ref in holding):
        return None
    at = set(git.branches_at(root, commit))
    return min(short_name(root, ref) for ref in (at or holding))


def is_own_ref(root: Path, ref: str) -> bool:
    """`is_own` for a full ref name, local (`refs/heads/…`) or remote-tracking (`refs/remotes/…`)."""
    return is_own(root, short_name(root, ref), ref)


def short_name(root: Path, ref: str) -> str:
    """A branch's name without refs/heads/, or refs/remotes/<remote>/ (a remote's name may hold
    a slash: team/origin)."""
    if not ref.startswith("refs/remotes/"):
        return ref.removeprefix("refs/heads/")
    tracked = ref.removeprefix("refs/remotes/")
    for remote in sorted(git.remotes(root), key=len, reverse=True):
        if tracked.startswith(f"{remote}/"):
            return tracked.removeprefix(f"{remote}/")
    return tracked.split("/", 1)[-1]


_KEY_ID = re.compile(r"kid_[0-9a-f]{12}")


def unmerged_rotations(root: Path, envs: list[str], remote: str | None = None) -> list[tuple[str, str]]:
    """(env, branch) for each local branch whose ledger of env names keys HEAD's ledger does not:
    a rotation not merged yet (by content, so squash and rebase merges count as merged), nor
    replaced by one merged since (`_replaced`). With
    `remote`, each of sealer's own branches that remote has too (as its last fetch saw it, named
    REMOTE/BRANCH): a CI job's fresh clone holds its waiting rotations only so. Local ones first."""
    if git.head(root) is None:
        return []  # nothing committed yet: nothing to merge
    heads = _unmerged(root, "refs/heads/") + _remote_copies(root, remote)
    if not heads:
        return []  # git asked nothing more (a checkout of main alone)
    adding = _adding_keys(root, heads, envs)
    found = [(env, branch) for env in envs for branch in heads if (env, branch) in adding]
    # A remote's other branches (a feature branch that took a rotation in) hold no rotation
    # waiting for review; asked last, of the few holding new keys (each is a `git log`).
    own = {ref: is_own_ref(root, ref) for ref in {b for _, b in found if b.startswith("refs/remotes/")}}
    return [(env, shown(branch)) for env, branch in found if own.get(branch, True)]


def _adding_keys(root: Path, refs: list[str], envs: list[str]) -> set[tuple[str, str]]:
    """(env, ref) for each of `refs` whose ledger of env names a key HEAD's does not, unless that
    ref's ledgers were replaced (`_replaced`). Each distinct ledger is read once: per ref, git is
    asked only for its ledger folder's id, and a ref holding HEAD's folder (most do) or another
    ref's is read no further. The cost grows with the refs plus the ledger versions among them,
    not refs x environments (a monorepo's thousands of remote branches, in the pre-commit hook's
    `check`)."""
    at_head, holders = _ledger_folders(root, refs)
    if not holders:
        return set()
    names = {env: _file_name(env) for env in envs}
    texts = _texts(root, [at_head, *holders], list(names.values()))
    adding = {
        (env, folder)
        for env, name in names.items()
        for folder in holders
        if _adds(texts.get((folder, name), ""), texts.get((at_head, name), ""))
    }
    replaced = _replaced(root, at_head, {folder for _, folder in adding}, texts)
    return {(env, ref) for env, folder in adding if folder not in replaced for ref in holders[folder]}


def _adds(theirs: str | None, ours: str | None) -> bool:
    """Whether a ledger (a branch's) names a key another (HEAD's) does not: one too large to
    read may (fail closed), and one HEAD's too large to read holds none sealer can tell."""
    return theirs is None or bool(set(_KEY_ID.findall(theirs)) - set(_KEY_ID.findall(ours or "")))


def _file_name(env: str) -> str:
    return layout.ledger_file(env).removeprefix(f"{layout.LEDGER_DIR}/")


def _texts(
    root: Path, folders: list[str | None], names: Sequence[str]
) -> dict[tuple[str | None, str], str | None]:
    """(ledger folder id, file name) -> the text that folder holds there, None when it is too
    large to read (any branch's, a remote one anyone pushed: bounded like a file on disk, and it
    proves nothing); each distinct file read once, in one `git cat-file --batch-check` for ids
    and sizes and one `--batch` (a folder at that path reads as none)."""
    revs = {f"{folder}:{name}": (folder, name) for folder in folders if folder is not None for name in names}
    info = git.object_info(root, list(revs))
    if not info:
        return {}
    large = {blob for blob, size in info.values() if size > repofiles.MAX_BYTES}
    blobs: dict[str, str | None] = dict.fromkeys(large)
    small = sorted({blob for blob, _ in info.values()} - large)
    blobs.update(git.read_blobs(root, small) if small else {})
    return {revs[rev]: blobs[blob] for rev, (blob, _) in info.items() if blob in blobs}


def _replaced(
    root: Path, at_head: str | None, folders: set[str], texts: dict[tuple[str | None, str], str | None]
) -> set[str]:
    """The ledger folders among `folders` a rotation merged since replaced (`--replace`, after
    which the old pull request is closed and its branch, which a Git host keeps, can no longer be
    merged): in one of the environments HEAD holds a ledger of (not only those asked: a branch
    rotating three environments is replaced whole), HEAD's ledger holds a key of an entry that
    folder's lacks, and that folder's a key of the same entry HEAD's lacks. Key ids, no dates: a
    `created` time is a clock's (another machine's, or a second both rotations share). A ledger
    sealer cannot read proves nothing: its rotation waits."""
    if at_head is None or not folders:
        return set()
    every = [name for name in git.ls_tree(root, at_head) if name.endswith(".yaml")]
    texts = {**_texts(root, [at_head, *folders], [n for n in every if (at_head, n) not in texts]), **texts}
    return {
        folder
        for folder in folders
        for name in every
        if (folder, name) in texts and _diverged(name, texts[(folder, name)], texts.get((at_head, name), ""))
    }


def _diverged(name: str, theirs: str | None, ours: str | None) -> bool:
    """Whether two ledgers (a branch's, HEAD's) each hold a key of one entry the other lacks."""
    if theirs is None or ours is None or theirs == ours:
        return False
    env = name.removesuffix(".yaml")
    try:
        branch, head = (
            ledger.parse(env, theirs, "a branch's ledger"),
            ledger.parse(env, ours, "HEAD's ledger"),
        )
    except SealerError:
        return False
    on_branch, at_head = {r.key_id for r in branch}, {r.key_id for r in head}
    moved_on = {r.name for r in head if r.key_id not in on_branch}
    return any(r.name in moved_on for r in branch if r.key_id not in at_head)


def _ledger_folders(root: Path, refs: list[str]) -> tuple[str | None, dict[str, list[str]]]:
    """HEAD's ledger folder's id, and each other ledger folder among `refs`' -> the refs holding it."""
    ids = git.object_ids(root, [f"{rev}:{layout.LEDGER_DIR}" for rev in ("HEAD", *refs)])
    at_head = ids.get(f"HEAD:{layout.LEDGER_DIR}")
    holders: dict[str, list[str]] = {}
    for ref in refs:
        folder = ids.get(f"{ref}:{layout.LEDGER_DIR}")
        if folder is not None and folder != at_head:
            holders.setdefault(folder, []).append(ref)
    return at_head, holders


def _unmerged(root: Path, prefix: str) -> list[str]:
    """The branches (full ref names) under `prefix` whose tip HEAD does not hold. One naming an
    object git lacks is GitError: --no-merged leaves it out unsaid, and it may hold a rotation."""
    git.run(root, "for-each-ref", "--format=%(objecttype)", prefix)  # git fails on such a branch
    return git.lines(git.run(root, "for-each-ref", "--no-merged=HEAD", "--format=%(refname)", prefix))


def _remote_copies(root: Path, remote: str | None) -> list[str]:
    """`remote`'s branches as its last fetch saw them that HEAD does not hold; not its HEAD (a
    pointer to its default branch), nor a branch of a remote whose name extends it (team/origin's
    for team). Git refuses a glob character in a remote's name: its folder is a plain prefix."""
    if remote is None:
        return []
    prefix = f"refs/remotes/{remote}/"
    others = tuple(f"refs/remotes/{name}/" for name in git.remotes(root) if name.startswith(f"{remote}/"))
    return [ref for ref in _unmerged(root, prefix) if not ref.startswith(others) and ref != f"{prefix}HEAD"]


def shown(ref: str) -> str:
    """A branch as a user finds it: sealer/rotate-…, or a remote's copy as origin/sealer/rotate-…."""
    return ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


def is_remote_copy(root: Path, branch: str) -> bool:
    """Whether `branch`, as `unmerged_rotations` names it, is a remote's copy (REMOTE/NAME) and
    no local branch."""
    local = git.ref_is_there(root, f"refs/heads/{branch}")
    return not local and git.ref_is_there(root, f"refs/remotes/{branch}")


def waiting_rotations(root: Path, envs: list[str], push: str | None) -> list[tuple[str, str]]:
    """The rotations of `envs` no merge took in yet: on a local branch, or on one of sealer's own
    branches of the remote a --push names (else origin), where a CI job's clone holds them."""
    return unmerged_rotations(root, envs, watched_remote(root, push))


def watched_remote(root: Path, push: str | None) -> str | None:
    """The remote whose copies of sealer's branches hold rotations waiting for review: the one
    `--push` names (where sealer opens their pull requests), else origin, also for a --push URL
    or path (git keeps no copies of its branches; a CI job may push to a URL holding its token);
    never every remote (another's, a contributor's fork, could hold off a due rotation forever).
    None when there is no such remote."""
    remotes = git.remotes(root)
    name = push if push in remotes else "origin"
    return name if name in remotes else None
