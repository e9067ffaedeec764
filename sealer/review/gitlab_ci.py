"""The files BASE's `.gitlab-ci.yml` includes from the repository (sealer.forge.gitlab_includes):
GitLab merges each into the merge request's pipeline, where a job `sealer-review` in any of them
replaces the gate's image or script, so a change to one is a gate change wherever it lives.
Read at BASE, the pipeline the target branch runs (and at --trust-at, the target's tip, whose
includes a merged-results pipeline merges too): a change to the chain of includes itself is a
gate change already. What cannot be read (a symlink, a path naming a variable) is told, never
taken as including nothing."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sealer import git
from sealer.errors import BadInput
from sealer.forge import gitlab_includes
from sealer.forge.gitlab_includes import CI_FILE
from sealer.review import globmatch
from sealer.review.model import TRUST_ANCHOR, Finding
from sealer.review.revisions import read_files, tree_modes

# GitLab's wildcard grammar (Repository#search_files_by_wildcard_path): `**/` any folders or
# none, `**` any characters, `*` any but `/`; every other character is itself.
_WILDCARD = re.compile(r"(?P<folders>\*\*/)|(?P<any>\*\*)|(?P<star>\*)|(?P<other>.)", re.DOTALL)


@dataclass(frozen=True)
class Included:
    files: frozenset[str] = frozenset()
    globs: tuple[globmatch.Glob, ...] = ()
    unread: tuple[str, ...] = ()  # why some include could not be known (gitlab_includes)

    def __call__(self, path: str) -> bool:
        """Whether GitLab merges `path` into BASE's pipeline."""
        return path in self.files or any(glob.fullmatch(path) for glob in self.globs)

    def unread_findings(self, changed: Iterable[str]) -> list[Finding]:
        """Fail closed: with an include unknown, a changed YAML file (GitLab includes no other
        kind, its extension in any case: `.YML` too) may be one, so a code owner must approve."""
        if not self.unread or not any(path.lower().endswith((".yml", ".yaml")) for path in changed):
            return []
        message = (
            f"BASE's {CI_FILE}: cannot tell every file its pipeline includes ({'; '.join(self.unread)}), "
            "so a changed YAML file may steer the review gate: a code owner must approve"
        )
        return [Finding(TRUST_ANCHOR, "", CI_FILE, None, message)]


def glob(pattern: str) -> globmatch.Glob:
    atoms: list[globmatch.Atom] = []
    for match in _WILDCARD.finditer(pattern):
        if match["folders"]:
            atoms.append(globmatch.Atom(globmatch.FOLDERS))
        elif match["any"]:
            atoms.append(globmatch.Atom(globmatch.STAR))
        elif match["star"]:
            atoms.append(globmatch.Atom(globmatch.STAR, globmatch.not_slash))
        else:
            atoms.append(globmatch.literal(match["other"]))
    return globmatch.Glob(atoms)


def included_at(root: Path, *revs: str) -> Included:
    """What `.gitlab-ci.yml` includes at any of `revs` (nothing without one)."""
    found = [_included_at(root, rev) for rev in dict.fromkeys(revs)]
    return Included(
        frozenset().union(*(one.files for one in found)),
        tuple(glob for one in found for glob in one.globs),
        tuple(why for one in found for why in one.unread),
    )


def _included_at(root: Path, rev: str) -> Included:

    def read(path: str) -> str | None:
        mode = git.tree_entries(root, rev, [path]).get(path, ("", ""))[0]
        if not mode:
            return None
        if mode not in git.FILE_MODES:  # a symlink's text is a path: never followed
            raise BadInput(f"{rev[:12]}:{path} is not a plain file (mode {mode})")
        return read_files(root, rev, [path])[path]

    def expand(pattern: str) -> list[str]:
        folder = posixpath.dirname(pattern.split("*", 1)[0])
        matcher = glob(pattern)
        listed = tree_modes(root, rev, folder) if folder else tree_modes(root, rev)
        return sorted(p for p, mode in listed.items() if mode in git.FILE_MODES and matcher.fullmatch(p))

    found = gitlab_includes.local_includes(read, expand)
    return Included(frozenset(found.files), tuple(map(glob, found.patterns)), found.unread)
