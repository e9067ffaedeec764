"""`sealer check`: what sealer wrote for an environment or a cluster sealer.yaml no longer lists.

Over every environment, an environment's SealedSecrets and key registries stay in Git once the
environment is removed, a GitOps tool keeps applying them, and the cluster keeps accepting its
keys, which no rule of an environment's own ever looks at again (`leftover-environment`). Per
environment checked, a cluster taken out of its `clusters:` leaves its sealed file the same way
(`leftover-cluster`): no rotation reseals it, so it keeps delivering whatever it holds (an older
ciphertext put back, say). Its key registry file is key-registry's, which flags anything in
registry/<env>/ that is not rendered. Over every environment too, a file right in sealed/ or
registry/ (`sealed/extra.yaml`), no environment's, which a GitOps tool applying the folder
recursively applies all the same (`leftover-file`). What Git's index holds counts, on disk or
not: one deleted without `git rm` stays in Git through a plain `git commit`, and so does an
environment's own file, or a leftover in its registry folder (`deleted-file`)."""

from __future__ import annotations

import bisect
import functools
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sealer import git, layout, safeopen
from sealer.config import Config, Environment
from sealer.policy.model import ERROR, Problem

RULE = "leftover-environment"
CLUSTER_RULE = "leftover-cluster"
FILE_RULE = "leftover-file"
DELETED_RULE = "deleted-file"
SUBMODULE_RULE = "file-mode"  # as review names a managed path committed as no plain file
INDEX_RULE = "git-index-unreadable"  # Git cannot say what its index holds (`read_index`)
_OWN_GIT = "sealer ignores GIT_DIR and GIT_WORK_TREE: use a .git file or folder in the work tree"
_DELIVERED = (layout.SEALED_DIR, layout.REGISTRY_DIR)
_BELOW_DELIVERED = tuple(f"{top}/" for top in _DELIVERED)
# What review says of such a file (construct.foreign_sealed_findings, registry_check), per folder.
_NOT_WRITTEN = {
    layout.SEALED_DIR: "sealer writes no such file (only sealed/<env>/<cluster>.yaml)",
    layout.REGISTRY_DIR: "no environment's key registry is rendered there (nothing revokes what it lists)",
}
# Said of an entry Git's index holds that is gone from disk: `check` run by hand sees the index.
_GONE = " (deleted on disk without `git rm`: Git's index still holds it, and a plain `git commit` keeps it)"
# Said of an environment's own file, or of its registry folder's, gone the same way (`deleted-file`).
_HELD = (
    "is deleted on disk without `git rm`: Git's index still holds it, so a plain `git commit` keeps it in Git"
)
# Said of one marked skip-worktree instead: no deletion (a commit keeps it as it is), but unread.
_SPARSE = "is outside the sparse checkout (skip-worktree): Git holds it, but no rule can read it on disk"
# Said of one marked skip-worktree by hand (`git update-index --skip-worktree`), no sparse checkout on.
_SKIPPED = (
    "is marked skip-worktree by hand (no sparse checkout is on): Git holds it, "
    "but no rule can read it on disk"
)
_GITLINK = "160000"  # a submodule's mode in Git's index
_LINK = "120000"
# The empty blob (SHA-1, SHA-256): what an intent-to-add entry (`git add -N`) holds, as an empty file does.
_EMPTY_BLOBS = frozenset(
    {
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
        "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813",
    }
)


@dataclass(frozen=True)
class Index:
    """What Git's index holds (`tracked`): each path, those of them it holds as a submodule or
    a symlink (read from Git, not the disk: a checkout, CI's too, makes a folder or a link there
    whatever the disk shows now), those marked skip-worktree (outside a sparse checkout:
    absent from disk, yet no deletion), those marked assume-unchanged (`-v`'s lower-case tag),
    and those holding the empty blob, as an intent-to-add entry (`git add -N`) does, which no
    commit carries (`git.staged_deletions` tells them)."""

    paths: frozenset[str]
    gitlinks: frozenset[str] = frozenset()
    links: frozenset[str] = frozenset()
    sparse: frozenset[str] = frozenset()
    empty: frozenset[str] = frozenset()
    assumed: frozenset[str] = frozenset()

    def unwatched(self, path: str) -> bool:
        """Whether Git is told not to look at `path` on disk (skip-worktree, assume-unchanged):
        `git status`, `git commit -a` and pre-commit's stash of unstaged changes miss a change
        there, so a commit carries what the index holds, not what the disk does."""
        return path in self.sparse or path in self.assumed

    def plain(self, path: str) -> bool:
        """Whether Git holds `path`, if at all, as no submodule and no symlink."""
        return path not in self.gitlinks and path not in self.links

    def below(self, top: str) -> list[str]:
        """The paths below `top` (sealed/ or registry/), sorted for `_names_below`."""
        return self._delivered[top]

    @functools.cached_property
    def _delivered(self) -> dict[str, list[str]]:
        """The paths below each of sealed/ and registry/, sorted: one look at each path the
        index holds (100,000 of them in a big repository), however many rules ask."""
        found: dict[str, list[str]] = {top: [] for top in _DELIVERED}
        for path in [p for p in self.paths if p.startswith(_BELOW_DELIVERED)]:
            found[path.partition("/")[0]].append(path)
        return {top: sorted(paths) for top, paths in found.items()}


def problems(cfg: Config, held: Index | None) -> list[Problem]:
    """`held`: what Git's index holds (`tracked`, of "." or of both folders), None when Git
    cannot say. Not run by `check ENV`: what lies in sealed/ or registry/ outside every
    environment's folder is no named environment's, and its GitOps application (pointed at its
    own folder) does not apply it; the pre-commit hook and CI run `check` over them all."""
    found = []
    for top in _DELIVERED:
        ordered = _ordered(held, top)
        try:
            names = _entries(cfg, top, _names_below(ordered, top))
        except OSError as err:  # a symlink, a file: never "nothing left over"
            found.append(_unlisted(cfg, RULE, "", top, err))
            continue
        for name, folder in names:
            if name not in cfg.environments:
                found += _left_in(cfg, held, ordered, top, name, folder)
    return found


def _left_in(
    cfg: Config, index: Index | None, held: list[str] | None, top: str, name: str, folder: bool
) -> list[Problem]:
    """The leftover `top/name` is: an environment's folder (or a link, or a submodule), or a file
    beside them. `held`: the paths Git's index holds below `top`, sorted (`_ordered`)."""
    rel = f"{top}/{name}"
    gone = _GONE if not os.path.lexists(cfg.root / rel) else ""
    if _delivers(cfg, index, held, rel, folder):
        message = (
            f"{rel} belongs to no environment in sealer.yaml: a GitOps tool keeps "
            f"applying what it holds, and the cluster keeps accepting its keys{gone}"
        )
        return [Problem(RULE, name, ERROR, message, f"git rm -r {shlex.quote(rel)}")]
    if folder or (held is not None and not _holds(held, rel)) or not layout.may_be_applied(name, True):
        return []  # a `.gitkeep` or a README beside the folders, or a file Git does not hold
    message = f"{rel}: {_NOT_WRITTEN[top]}, yet a GitOps tool applying {top}/ applies it{gone}"
    return [Problem(FILE_RULE, "", ERROR, message, f"git rm {shlex.quote(rel)}")]


def _entries(cfg: Config, folder: str, below: dict[str, bool] | None) -> list[tuple[str, bool]]:
    """The names in `folder` on disk and those Git's index holds there (`below`) that are not,
    each with whether it is a folder; OSError when the folder cannot be listed (a symlink)."""
    try:
        names = dict(safeopen.list_dir(cfg.root / folder))
    except FileNotFoundError:
        names = {}  # deleted, or never made: what the index still holds there is all there is
    # a folder in either: a folder the index holds files in is one, whatever took its place on disk
    below = below or {}
    return sorted((name, names.get(name, False) or below.get(name, False)) for name in {*names, *below})


def cluster_problems(cfg: Config, envs: Iterable[Environment], held: Index | None) -> list[Problem]:
    """Each entry of `sealed/<env>/` of the environments checked that Git holds and that is no
    sealed file of a cluster sealer.yaml lists for it and that a GitOps tool may apply
    (`layout.may_be_applied`): a cluster's file left after the cluster was taken out, or one
    sealer never writes there (a `.yml`, a subfolder), which a GitOps tool applying the folder
    applies too. One spelt like a listed cluster's in another case is
    case-collision's (its fix keeps the real file). `held`: as `problems`'s, of sealed/ at least."""
    ordered = _ordered(held, layout.SEALED_DIR)
    found = []
    for env in envs:
        found += _env_leftovers(cfg, env, ordered, held or Index(frozenset()))
    return found


def _env_leftovers(cfg: Config, env: Environment, held: list[str] | None, index: Index) -> list[Problem]:
    folder = layout.sealed_dir(env.name).rstrip("/")
    below = _names_below(held, folder)
    try:
        names = _entries(cfg, folder, below)
    except OSError as err:  # a symlink, a file: never "nothing left over"
        return [_unlisted(cfg, CLUSTER_RULE, env.name, folder, err)]
    sealed = {layout.folded(layout.sealed_file(env.name, c.name)) for c in env.clusters}
    found = []
    for name, is_folder in names:
        rel = f"{folder}/{name}"
        if layout.folded(rel) in sealed or (below is not None and name not in below):
            continue
        plain_file = not is_folder and not (cfg.root / rel).is_symlink() and index.plain(rel)
        if not layout.may_be_applied(name, plain_file):
            continue  # a `.gitkeep` or a README no GitOps tool applies: the hook must not refuse it
        gone = _GONE if not os.path.lexists(cfg.root / rel) else ""
        message = (
            f"{rel} is no sealed file of a cluster sealer.yaml lists for {env.name}: a GitOps tool "
            f"keeps applying it, and no rotation reseals it{gone}"
        )
        fix = f"git rm {'-r ' if is_folder else ''}{shlex.quote(rel)}"
        found.append(Problem(CLUSTER_RULE, env.name, ERROR, message, fix))
    return found


def deleted_problems(cfg: Config, envs: Iterable[Environment], held: Index | None) -> list[Problem]:
    """Each path the environments checked have sealer manage (`Environment.managed_paths`: values,
    sealed, registry, ledger and certificate files) that Git's index holds and the disk does not:
    deleted without `git rm`. A rule reading the disk finds no file there (a values file not
    made yet passes), while a plain `git commit` keeps the old one in Git for the cluster. One
    outside a sparse checkout (skip-worktree) is no deletion, but no rule reads it either. A
    submodule where sealer writes files is file-mode's (`submodule_problems`). An intent-to-add
    entry (`git add -N`) is none a commit carries: of a file HEAD holds, the next commit deletes
    it (`_intent_gone`); of one HEAD lacks, nothing is delivered, as the disk says."""
    if held is None:
        return []  # Git cannot say (git-index-unreadable): the disk is all there is
    envs = list(envs)
    registries = _ordered(held, layout.REGISTRY_DIR)
    own = {env.name: _own_files_gone(cfg, held, env) for env in envs}
    left = {env.name: _registry_gone(cfg, env, registries, held) for env in envs}
    # only an entry holding the empty blob may be intent-to-add: git is asked of those alone
    empty = {rel for gone in (*own.values(), *left.values()) for rel in gone if rel in held.empty}
    intents = git.intent_to_add(cfg.root, sorted(empty))
    by_hand: bool | None = None  # skip-worktree with no sparse checkout on: asked once, if need be
    found = []
    for env in envs:
        for rel in own[env.name]:
            if rel in intents:
                found += [_intent_gone(env, rel)] if intents[rel] else []
                continue
            if rel in held.sparse and by_hand is None:
                by_hand = not git.sparse_checkout(cfg.root)
            found.append(_own_gone(env, rel, rel in held.sparse, bool(by_hand)))
        # a leftover's intent-to-add entry: the next commit deletes it, or carries nothing
        found += [problem for rel, problem in left[env.name].items() if rel not in intents]
    return found


def _own_files_gone(cfg: Config, held: Index, env: Environment) -> list[str]:
    """The environment's own paths Git's index holds (no submodule) and the disk lacks, sorted."""
    return [
        rel
        for rel in sorted(env.managed_paths())
        if rel in held.paths and rel not in held.gitlinks and not os.path.lexists(cfg.root / rel)
    ]


def _intent_gone(env: Environment, rel: str) -> Problem:
    """deleted-file of a file HEAD holds that the index holds as intent-to-add alone (`git rm
    --cached`, then `git add -N`), gone from disk: `git checkout --` would write the entry's
    empty file; HEAD's copy goes back into the index first."""
    message = (
        f"{rel} is deleted on disk, and Git's index holds it only as intent-to-add (`git add -N`, "
        "which no commit carries): the next commit deletes it from Git, and what Git stops holding "
        "no GitOps tool delivers"
    )
    quoted = shlex.quote(rel)
    fix = f"git reset -q -- {quoted} && git checkout -- {quoted}"
    return Problem(DELETED_RULE, env.name, ERROR, message, fix)


def _own_gone(env: Environment, rel: str, sparse: bool, by_hand: bool) -> Problem:
    """deleted-file of an environment's own file Git holds and the disk lacks: checked out
    again, or brought into the sparse checkout (where `git checkout --` restores nothing), or,
    marked skip-worktree by hand (`by_hand`: no sparse checkout to add it to), unmarked first."""
    if sparse and by_hand:
        message = f"{rel} {_SKIPPED}, and what it holds is delivered"
    elif sparse:
        unsparse = f"(or `{git.UNSPARSE}`, which brings all back)"
        message = f"{rel} {_SPARSE}, and what it holds is delivered {unsparse}"
    else:
        message = f"{rel} {_HELD}, and what it holds keeps being delivered"
    fix = git.restore_line(rel, shlex.quote(rel), sparse, not by_hand)
    return Problem(DELETED_RULE, env.name, ERROR, message, fix)


def submodule_problems(cfg: Config, envs: Iterable[Environment], held: Index | None) -> list[Problem]:
    """Each folder at or above a path the environments checked have sealer manage that Git's
    index holds as a submodule (mode 160000: a checkout makes a folder there, though a hand may
    have removed it), or as one entry while the disk shows a folder. What is on disk there is
    another repository's checkout (Argo CD checks it out as well), which check would read as the
    environment's own files and pass, though no commit here holds them and review fails it."""
    found: dict[str, Problem] = {}
    for env in envs:
        for folder in _submodules(cfg, held, env.managed_paths()):
            message = (
                f"{folder} is a submodule (Git holds it as one entry) where sealer writes plain files for "
                f"{env.name}: what is checked out there is another repository's, not this commit's"
            )
            fix = f"git rm --cached {shlex.quote(folder)}, and commit sealer's files there"
            found.setdefault(folder, Problem(SUBMODULE_RULE, env.name, ERROR, message, fix))
    return list(found.values())


def _submodules(cfg: Config, held: Index | None, managed: set[str]) -> list[str]:
    """The paths of `managed`, and the folders above them, Git holds as a submodule, or as one
    entry the disk shows as a folder."""
    if held is None:
        return []
    paths = {str(p) for rel in managed for p in (PurePosixPath(rel), *PurePosixPath(rel).parents)}
    return sorted(
        p for p in paths - {"."} if p in held.gitlinks or (p in held.paths and _is_folder(cfg.root / p))
    )


def _is_folder(entry: Path) -> bool:
    return entry.is_dir() and not entry.is_symlink()


def _registry_gone(cfg: Config, env: Environment, held: list[str] | None, index: Index) -> dict[str, Problem]:
    """What Git's index holds in registry/<env>/ that the disk lacks, sealer does not write
    (the environment's paths, `layout.folded`) and a GitOps tool may apply, by path: key-registry,
    which fails such a file, reads the disk alone, while a plain `git commit` keeps delivering it."""
    folder = f"{layout.REGISTRY_DIR}/{env.name}"
    managed = {layout.folded(p) for p in env.managed_paths()}
    found = {}
    for name, is_folder in sorted((_names_below(held, folder) or {}).items()):
        rel = f"{folder}/{name}"
        if layout.folded(rel) in managed or os.path.lexists(cfg.root / rel):
            continue  # sealer's own (deleted-file's, or case-collision's), or on disk (key-registry's)
        if layout.may_be_applied(name, not is_folder and index.plain(rel)):
            said = _SPARSE if rel in index.sparse else _HELD
            message = f"{rel} {said}, and a GitOps tool keeps applying what no ledger renders"
            fix = f"git rm {'-r ' if is_folder else ''}{shlex.quote(rel)}"
            found[rel] = Problem(DELETED_RULE, env.name, ERROR, message, fix)
    return found


def _delivers(cfg: Config, index: Index | None, held: list[str] | None, rel: str, folder: bool) -> bool:
    """Whether `rel`, right below sealed/ or registry/, delivers anything: a link or a submodule
    Git holds (a GitOps tool may follow it anywhere; Argo CD checks submodules out, and a
    checkout leaves an empty folder where it did not), or a folder Git holds something in that a
    GitOps tool may apply (`layout.may_be_applied`, as for a listed environment's folder: a
    subfolder counts whole). A `.gitkeep`, a README or a `.DS_Store` beside the folders, or alone
    in one, never was an environment's delivery, and the pre-commit hook must not refuse commits
    over it. `held`: as `_left_in`'s; `index`, what Git holds it as (a submodule or a link
    removed from disk by hand is back at the next checkout)."""
    entry = cfg.root / rel
    if held is None or index is None:
        return folder or entry.is_symlink()  # Git cannot say: every folder counts
    if _holds(held, rel):  # one entry, no file below it: on disk, a link or a folder is no file
        return not index.plain(rel) or entry.is_symlink() or entry.is_dir()
    start, end = (bisect.bisect_left(held, f"{rel}{after}") for after in "/0")
    return any(_applied(cfg, path, rel) for path in held[start:end])


def _holds(held: list[str], rel: str) -> bool:
    """Whether the sorted `held` holds `rel` itself."""
    at = bisect.bisect_left(held, rel)
    return at < len(held) and held[at] == rel


def _applied(cfg: Config, path: str, folder: str) -> bool:
    rest = path.removeprefix(f"{folder}/")
    entry = cfg.root / path
    return "/" in rest or layout.may_be_applied(rest, entry.is_file() and not entry.is_symlink())


def _unlisted(cfg: Config, rule: str, env: str, folder: str, err: OSError) -> Problem:
    why = err.explain(cfg.root / folder) if isinstance(err, safeopen.Refused) else str(err)
    return Problem(rule, env, ERROR, f"{folder}/ cannot be listed: {why}", f"make {folder}/ a plain folder")


def _ordered(held: Index | None, top: str) -> list[str] | None:
    """The paths of `held` below `top`, sorted for `_names_below` (None stays None)."""
    return None if held is None else held.below(top)


def _names_below(held: list[str] | None, folder: str) -> dict[str, bool] | None:
    """The names right below `folder` that Git's index holds a file under (`held`: the paths it
    holds there, sorted), each with whether it is a folder there: what a commit carries, so what
    GitOps applies. A folder left on disk
    with no file in Git (a `.DS_Store` kept after a branch switch removed the rest) delivers
    nothing, and `git rm -r` could not remove it. None when Git cannot say (no work tree): then
    every name counts. Found by bisection ("0" sorts right after "/"), so each environment's
    look costs what its own folder holds, not the repository's every sealed file again."""
    if held is None:
        return None
    start, end = (bisect.bisect_left(held, f"{folder}{after}") for after in "/0")
    found: dict[str, bool] = {}
    for path in held[start:end]:
        name, slash, _ = path[len(folder) + 1 :].partition("/")
        found[name] = found.get(name, False) or bool(slash)
    return found


def read_index(cfg: Config) -> tuple[Index | None, list[Problem]]:
    """What Git's index holds (`tracked` of "."), or, when Git cannot say, None and the problem
    saying so: every rule reading the index (the leftovers, deleted-file, untracked-file,
    ignored-file, unwatched-file, file-mode, case-collision, cert-file-content) then reads the
    disk alone, or nothing, and check must not pass what it never examined."""
    try:
        return tracked(cfg, "."), []
    except git.GitError as err:
        return None, [_unreadable(cfg, err)]


def _unreadable(cfg: Config, err: git.GitError) -> Problem:
    """git-index-unreadable: why Git cannot say what its index holds, when known. A repository
    only GIT_DIR or GIT_WORK_TREE names is none to sealer, which drops both from git's
    environment (`git.environment`: they made a folder below the top pass as the top)."""
    try:
        top = git.top_level(cfg.root)
    except git.GitError as missing:  # no git to run
        why, fix = str(missing), "install git, then run check again"
    else:
        theirs = git.top_level(cfg.root, any_owner=True) if top is None else None
        if theirs is not None and theirs.resolve() == cfg.root.resolve():  # "dubious ownership"
            why = f"Git cannot say what its index holds ({err})"
            trust = shlex.quote(str(theirs))
            fix = f"if you trust the account owning it: git config --global --add safe.directory {trust}"
        elif top is None:  # none, or another account's above (a /tmp/.git anyone can make): not to trust
            above = "" if theirs is None else f": the one above it, at {theirs}, is another account's"
            why = f"no Git repository at {cfg.root}{above} ({_OWN_GIT})"
            fix = "run check in the repository's work tree, its .git folder (or .git file) at the top"
        else:  # a broken index...: git's own first line
            why = f"Git cannot say what its index holds ({err})"
            fix = "fix what git says, then run check again"
    message = (
        f"{why}: check reads the disk alone, and what a commit delivers (leftovers, files deleted, "
        "untracked, ignored or unwatched, submodules and links) goes unexamined"
    )
    return Problem(INDEX_RULE, "", ERROR, message, fix)


def tracked(cfg: Config, top: str) -> Index:
    """What Git's index holds at or below `top` (GitError when Git cannot say): one `git
    ls-files`, whose `-s` gives each entry's mode and stage and `-v` its skip-worktree bit (`S`,
    or `s` when assume-unchanged too). An unmerged path (a conflict: stages 1 to 3, tagged `M`)
    is held as a submodule or a link if any of its stages is one: its resolution may take any
    of them (`git checkout --ours`, `--theirs`, `git checkout-index --stage=1`), so fail closed."""
    out = git.run_bytes(cfg.root, "--literal-pathspecs", "ls-files", "-s", "-v", "-z", "--", top)
    paths: dict[str, tuple[str, str, str]] = {}  # path -> (tag, mode, blob) of its entry (last stage)
    unmerged: dict[str, set[str]] = {}  # an unmerged path -> the modes of its stages
    for entry in os.fsdecode(out).split("\0"):  # decoded whole: the repository's every path
        meta, tab, path = entry.partition("\t")
        if tab:  # `TAG MODE OBJECT STAGE`
            tag, mode, blob, stage = meta.split(" ", 3)
            if stage != "0":  # its empty blob is no intent-to-add entry (a stage 0 one alone is)
                unmerged.setdefault(path, set()).add(mode)
                blob = ""
            paths[path] = (tag, mode, blob)
    return Index(
        frozenset(paths),
        _held_as(_GITLINK, paths, unmerged),
        _held_as(_LINK, paths, unmerged),
        frozenset(p for p, (tag, _, _) in paths.items() if tag in ("S", "s")),
        frozenset(p for p, (_, _, blob) in paths.items() if blob in _EMPTY_BLOBS),
        frozenset(p for p, (tag, _, _) in paths.items() if tag.islower()),
    )


def _held_as(
    mode: str, paths: dict[str, tuple[str, str, str]], unmerged: dict[str, set[str]]
) -> frozenset[str]:
    """The paths whose entry, or any stage of an unmerged one, has `mode`."""
    return frozenset(p for p, (_, held, _) in paths.items() if held == mode) | {
        p for p, modes in unmerged.items() if mode in modes
    }
