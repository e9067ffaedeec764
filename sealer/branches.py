"""sealer's own branches: a rotation or revocation committed on a branch of its own, which no
merge took into the main line yet. Drift and `rotate --finish` must not read such a branch as
the main line. A default name says so by its prefix; a name given with --branch, by the
trailer sealer writes into the branch's commit (the name alone could be any branch's)."""

from __future__ import annotations

from pathlib import Path

from sealer import git, layout

TRAILER = "Sealer-Branch"
_LOOK_BACK = 50  # commits a user may add on top of sealer's own on its branch


def trailer(branch: str) -> str:
    """The line a commit on a --branch of the user's choice ends its trailers with."""
    return f"{TRAILER}: {branch}\n"


def is_own(root: Path, name: str, ref: str | None = None) -> bool:
    """Whether branch `name` (at `ref`, by default the local branch) is one of sealer's own: a
    merge keeps the trailer off the main line's first parents, and a rebase merge moves it onto
    a branch of another name."""
    if name.startswith(layout.OWN_BRANCH_PREFIXES):
        return True
    found = git.probe(
        root,
        "log",
        "--first-parent",
        f"-n{_LOOK_BACK}",
        f"--format=%(trailers:key={TRAILER},valueonly)",
        ref or f"refs/heads/{name}",
        "--",
    )
    return found is not None and name in found.split()


def own_branch_at(root: Path, commit: str) -> str | None:
    """A checkout detached at an unmerged rotation (as `git checkout --detach BRANCH` leaves it):
    the name of a branch of sealer's own at `commit` when only such branches point there. None
    when another branch does too (a fast-forward merge: the main line is there as well) or none
    does (a CI checkout of the main line's commit, its branch not fetched)."""
    refs = git.branches_at(root, commit)
    if refs and all(is_own_ref(root, ref) for ref in refs):
        return min(_short_name(ref) for ref in refs)
    return None


def is_own_ref(root: Path, ref: str) -> bool:
    """`is_own` for a full ref name, local (`refs/heads/…`) or remote-tracking (`refs/remotes/…`)."""
    return is_own(root, _short_name(ref), ref)


def _short_name(ref: str) -> str:
    if ref.startswith("refs/remotes/"):
        return ref.split("/", 3)[-1]  # refs/remotes/<remote>/<branch>
    return ref.removeprefix("refs/heads/")
