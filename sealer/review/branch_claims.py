"""A commit that says it is one of sealer's rotation branches (`Sealer-Branch: NAME`, the trailer
`sealer rotate --branch NAME` writes) where it is not.

Once merged, such a commit makes the branch it lands on read as a rotation branch
(sealer.branches.is_own): `rotate --finish` refuses there and drift reads its keys as under
review. A rotation's own commit names the branch it was made on, which is the branch under
review; any other name, and always the branch the change is to be merged into, is forged. When
review cannot tell the branch under review (HEAD given as a commit id, outside CI), a name no
branch holding the commit has is forged too. Trailers are read as sealer.branches reads them.
"""

from __future__ import annotations

from pathlib import Path

from sealer import branches, git, layout
from sealer.review.model import BRANCH_TRAILER, MAIN_BRANCHES, Finding


def claim_findings(
    root: Path, base: str, head: str, under_review: str | None, target: str | None
) -> list[Finding]:
    """A finding per `Sealer-Branch:` name in BASE..HEAD's commits that is not the branch under
    review (`under_review`, None when unknown) or that names the target branch (`target`)."""
    found = []
    for claim in branches.claims(root, f"{base}..{head}"):
        for name in dict.fromkeys(claim.branches):
            why = _forged(root, claim.commit, name, under_review, target)
            if why:
                message = (
                    f"commit {claim.commit[:12]} says `{branches.TRAILER}: {_shown(name)}` but {why}: "
                    "merged, it would have that branch taken for a rotation branch of sealer's"
                )
                found.append(Finding(BRANCH_TRAILER, "", _path(root, claim.commit), None, message))
    return found


def _forged(root: Path, commit: str, name: str, under_review: str | None, target: str | None) -> str | None:
    if target is not None and name == target:
        return f"{_shown(name)} is the branch it is to be merged into"
    if under_review is not None:
        return None if name == under_review else f"the branch under review is {_shown(under_review)}"
    holding = {branches.short_name(root, ref) for ref in git.branches_containing(root, commit)}
    return None if name in holding else f"no branch {_shown(name)} holds it"


def _shown(name: str) -> str:
    """A branch name the author chose, as a reviewer must read it: a lookalike letter or a control
    character escaped (`mаin` with a Cyrillic `а` is not main)."""
    return name.encode("unicode_escape").decode("ascii")


def _path(root: Path, commit: str) -> str:
    """The ledger the commit changes (what makes a trailer count), else nothing to point at."""
    return layout.LEDGER_DIR + "/" if git.changes_path(root, commit, f"{layout.LEDGER_DIR}/") else ""


def under_review(root: Path, head: str | None, ci_branch: str | None) -> str | None:
    """The branch under review: the one HEAD names on the command line, else CI's source branch
    (its checkouts are detached), else the branch checked out when HEAD is."""
    if head not in (None, "HEAD"):
        return branch_named(root, head) or ci_branch
    return ci_branch or git.current_branch(root)


def target(root: Path, base: str | None, ci_branch: str | None) -> str | None:
    """The branch the change is to be merged into: the one BASE names, else CI's target branch,
    else, with no BASE, the main branch review compares with (main, master, origin/HEAD)."""
    if base is not None:
        return branch_named(root, base) or ci_branch
    if ci_branch:
        return ci_branch
    for ref in MAIN_BRANCHES:
        if git.ref_exists(root, ref):
            return branches.short_name(root, git.probe(root, "symbolic-ref", "-q", ref) or ref)
    return None


def branch_named(root: Path, rev: str) -> str | None:
    """The branch a revision names: a local or remote-tracking one (origin/NAME: NAME); None for
    a commit id, a tag, `HEAD~1`."""
    for ref in (rev, f"refs/heads/{rev}", f"refs/remotes/{rev}"):
        if ref.startswith(("refs/heads/", "refs/remotes/")) and git.ref_exists(root, ref):
            return branches.short_name(root, ref)
    return None
