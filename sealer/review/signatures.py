"""`sealer review --require-signed`: every commit of the range that touches sealer's files must
be signed by a key on BASE's list of rotation signers (`.sealer/allowed_signers`, git's
allowed-signers format, and `.sealer/allowed_signers.asc` for OpenPGP keys), checked by git's
own `verify-commit`. An entry the pull request adds grants nothing: the list is read at BASE.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sealer import git, layout
from sealer.review.approvals import anchors_at
from sealer.review.model import UNSIGNED, Finding


def unsigned_findings(
    root: Path, base: str, found: list[git.CommitChanges], touches: Callable[[str], bool]
) -> list[Finding]:
    commits = [c for c in found if any(touches(f.path) for f in c.changes)]
    if not commits:
        return []
    with anchors_at(root, base, layout.SIGNERS_FILE) as anchors:
        if anchors.empty:
            return [
                Finding(
                    UNSIGNED,
                    "",
                    layout.SIGNERS_FILE,
                    None,
                    f"no {layout.SIGNERS_FILE} at BASE: no commit can be trusted",
                )
            ]
        return [
            Finding(
                UNSIGNED,
                "",
                next(f.path for f in c.changes if touches(f.path)),
                None,
                f"commit {c.commit[:12]} touches sealer's files and is not signed by a key in "
                f"BASE's {layout.SIGNERS_FILE}",
            )
            for c in commits
            if not git.verify_commit(root, c.commit, anchors.ssh, anchors.gnupg_home)
        ]
