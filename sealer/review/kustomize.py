"""What a kustomization builds, read from one commit's tree: every SealedSecret, Secret and
ConfigMap it lists (files, folders, nested kustomizations, generators), as written and as its
`namespace:`, `namePrefix:` and `nameSuffix:` (and those of the kustomizations it nests) turn
them. sealer.review.stray judges the result.

Read as a GitOps tool may build it: a folder with no kustomization of its own counts with every
manifest below it (Flux generates one so), a symlink that stays inside the repository (a folder
on the way too) is followed (Argo CD follows it), anything outside the repository or remote is not
read here. Bounded:
a kustomization listing itself, or a chain of links, ends.
"""

from __future__ import annotations

import bisect
import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sealer import git
from sealer.errors import BadInput
from sealer.review import stray

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_MANIFESTS = (".yaml", ".yml", ".json")
_TREE, _LINK, _FILES = "040000", "120000", git.FILE_MODES
_MAX_LINKS = 8  # symlinks followed in a row
MAX_READS = 2000  # paths looked up for one kustomization: a build that big is not a review's to redo

Moved = tuple[str, stray.Placed, stray.Placed]  # (source file, as written, as built)
# Paths all the builds of one review read together (many GitOps objects may build one big
# folder each): more is refused, never a review that does not end.
MAX_REVIEW_READS = 1_000_000


@dataclass
class Budget:
    """The paths the builds sharing it may still read (MAX_REVIEW_READS)."""

    left: int = field(default_factory=lambda: MAX_REVIEW_READS)  # read when made: tests lower it

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BadInput(
                f"the builds under review (kustomizations, Flux Kustomizations, Argo CD applications) "
                f"read more than {MAX_REVIEW_READS} paths together: refused"
            )


@dataclass(frozen=True)
class Tree:
    """A commit's whole tree from one `git ls-tree`: the lookups of many builds at one commit
    (HEAD's, every GitOps object and kustomization there) without a git process each."""

    entries: dict[str, tuple[str, str]]  # path -> (mode, blob), folders too
    files: list[str]  # what is no folder, sorted

    @classmethod
    def read(cls, root: Path, commit: str) -> Tree:
        entries = git.ls_tree(root, commit, "-r", "-t", "--full-tree")
        return cls(entries, sorted(p for p, (mode, _) in entries.items() if mode != _TREE))

    @functools.cached_property
    def folders(self) -> list[str]:
        """Every folder of the commit, sorted (an ApplicationSet's directory generator matches them)."""
        return sorted(p for p, (mode, _) in self.entries.items() if mode == _TREE)

    def files_under(self, folder: str) -> list[str]:
        """As `git.files_under`: every file below `folder` ("0" sorts right after "/")."""
        if folder in ("", "."):
            return list(self.files)
        if self.entries.get(folder, (_TREE,))[0] != _TREE:
            return [folder]  # a file: git's pathspec names it alone
        return self.files[
            bisect.bisect_left(self.files, f"{folder}/") : bisect.bisect_left(self.files, f"{folder}0")
        ]


@dataclass
class Build:
    """One kustomization's build at one commit: `tree` is that commit's tree, read once for many
    builds; `data` reads a blob (review's cache)."""

    data: Callable[[str], bytes | None]
    tree: Tree
    # blob -> what stray.placed reads in it, shared by builds (many may list one file)
    placed_by_blob: dict[str, list[stray.Placed]] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)  # shared by a review's builds
    seen: set[str] = field(default_factory=set)  # files and folders read (each once)
    looked_up: set[str] = field(default_factory=set)  # every path looked for, each link on the way
    cut: bool = False  # more than MAX_READS paths: not read whole, so never judged clean
    # What a kustomization of the build does that review does not redo (stray.Kustomization)
    unmodelled: dict[str, str] = field(default_factory=dict)  # what -> the kustomization doing it
    makes_unseen: bool = False
    remote: dict[str, str] = field(default_factory=dict)  # remote resource -> the kustomization listing it
    reached_remote: set[str] = field(default_factory=set)  # remote resources and components, as written
    renames: bool = False  # a kustomization of the build sets namespace:, namePrefix: or nameSuffix:
    # Flux's postBuild substitution over the build (stray.Kustomization.substitutes): the files and
    # kustomizations (their generators) whose objects it may change, and where a kustomization or
    # patch of the build holds a variable, which may then be in any object (`substituted`).
    substitutes: bool = False
    substitutable: set[str] = field(default_factory=set)
    variables: set[str] = field(default_factory=set)

    def moved(self, path: str, kustomization: stray.Kustomization) -> list[Moved]:
        """Every object the kustomization at `path` builds, as written and as built."""
        self.seen.add(path)
        return list(self._built(posixpath.dirname(path), kustomization, path))

    def deployed(self, path: str, build: stray.Kustomization) -> list[Moved]:
        """`moved` for what a GitOps object at `path` deploys (its paths from the repository's top)."""
        self.seen.add(path)
        return list(self._built("", build, path))

    def _built(
        self, folder: str, kustomization: stray.Kustomization, path: str, below: Iterable[Moved] = ()
    ) -> Iterator[Moved]:
        """What the kustomization at `path` builds; a component's transforms apply to `below`,
        what the kustomization listing it built so far, too (kustomize builds a component, and
        the components it lists in turn, over its parent's objects)."""
        self._note(folder, kustomization, path)
        if kustomization.generated and self.substitutes and self._generator_variables(folder, kustomization):
            self.substitutable.add(path)
        self.reached_remote |= remote_references(kustomization)
        made = [*below, *((path, item, item) for item in kustomization.generated)]
        for entry in kustomization.resources:
            if _remote(entry):  # another repository's: unread, see `unread_remote`
                self.remote.setdefault(entry, path)
                continue
            made += self._resource(posixpath.join(folder, entry) if folder else entry)
        for entry in kustomization.components:  # in order: each transforms all listed before it
            if _remote(entry):  # another repository's, transforming what this one lists
                self.unmodelled.setdefault(f"the remote component {entry}", path)
                continue
            nested = self._component(posixpath.join(folder, entry) if folder else entry)
            if nested is not None:
                made = list(self._built(posixpath.dirname(nested[0]), nested[1], nested[0], made))
        for source, written, built in made:
            for result in sorted(kustomization.apply(built), key=str):
                yield source, written, result

    def _resource(self, wanted: str) -> list[Moved]:
        """A `resources:` entry: a file, a folder with a kustomization, or one without."""
        if _remote(wanted):
            return []  # a remote base: another repository's, not this one's tree
        if len(self.seen) > MAX_READS:
            self.cut = True
            return []
        found = self._entry(wanted)
        if found is None or found[0] in self.seen:
            return []
        path, mode, blob = found
        self.seen.add(path)
        self.budget.spend()
        if mode in _FILES:
            if blob not in self.placed_by_blob:
                self.placed_by_blob[blob] = stray.placed(path, self.data(blob) or b"")
            if self.substitutes and self.placed_by_blob[blob] and _may_substitute(self.data(blob)):
                self.substitutable.add(path)
            return [(path, item, item) for item in self.placed_by_blob[blob]]
        return self._folder(path) if mode == _TREE else []

    def unread_remote(self) -> dict[str, str]:
        """The remote resources of a build that moves or renames what it lists: another
        repository's manifests, which review cannot read, may be placed under a managed name or
        namespace by this repository's own kustomization (a remote base alone is not this
        repository's to review)."""
        return self.remote if self.renames else {}

    def substituted(self, moved: Iterable[Moved]) -> list[str]:
        """The files (kustomizations for what they generate) of the moved objects Flux's postBuild
        substitution may change: each whose text holds a variable, or every one when a
        kustomization or patch of the build holds one."""
        if not self.substitutes:
            return []
        return sorted({source for source, _, _ in moved if self.variables or source in self.substitutable})

    def _note(self, folder: str, kustomization: stray.Kustomization, path: str) -> None:
        """What the kustomization at `path` does that review does not redo, its patch files read."""
        self.makes_unseen |= kustomization.makes_unseen
        self.renames |= kustomization.moves
        self.substitutes |= kustomization.substitutes
        if kustomization.variables:
            self.variables.add(path)
        for what in kustomization.unmodelled:
            self.unmodelled.setdefault(what, path)
        for name in kustomization.patch_files:
            found = self._entry(posixpath.join(folder, name) if folder else name)
            data = self.data(found[2]) if found is not None and found[1] in _FILES else None
            text = stray.decoded(data) if data is not None else None
            if text is None or stray.renaming_patch(text):  # unread (outside, a folder) or renaming
                self.unmodelled.setdefault(f"the patch {name}", path)
            elif stray.may_substitute(text):
                self.variables.add(path)

    def _generator_variables(self, folder: str, kustomization: stray.Kustomization) -> bool:
        """Whether a file or env file the kustomization's generators read may hold a variable
        (one review cannot read may)."""
        for name in kustomization.generator_files:
            found = self._entry(posixpath.join(folder, name) if folder else name)
            if _may_substitute(self.data(found[2]) if found is not None and found[1] in _FILES else None):
                return True
        return False

    def _component(self, wanted: str) -> tuple[str, stray.Kustomization] | None:
        if len(self.seen) > MAX_READS:
            self.cut = True
            return None
        found = self._entry(wanted)
        if found is None or found[1] != _TREE or found[0] in self.seen:
            return None
        self.seen.add(found[0])
        nested = self._kustomization_in(found[0])
        if nested is not None:
            self.seen.add(nested[0])
        return nested

    def _folder(self, folder: str) -> list[Moved]:
        nested = self._kustomization_in(folder)
        if nested is not None:
            path, kustomization = nested
            self.seen.add(path)
            return list(self._built(folder, kustomization, path))
        files = self.tree.files_under(folder)
        inner = {posixpath.dirname(f) for f in files if posixpath.basename(f) in KUSTOMIZATION_FILES}
        outer = [f for f in files if not any(f.startswith(d + "/") for d in inner)]
        made: list[Moved] = []
        for path in sorted({*(f for f in outer if f.endswith(_MANIFESTS)), *_topmost(inner)}):
            made += self._resource(path)
        return made

    def _kustomization_in(self, folder: str) -> tuple[str, stray.Kustomization] | None:
        for name in KUSTOMIZATION_FILES:
            found = self._entry(posixpath.join(folder, name))
            if found is not None and found[1] in _FILES:
                read = stray.kustomization(found[0], self.data(found[2]) or b"")
                if read is not None:
                    return found[0], read
        return None

    def _entry(self, wanted: str) -> tuple[str, str, str] | None:
        """(path, mode, blob) of `wanted` at the commit, symlinks inside the repository followed:
        the path's own, and a folder's on the way to it (`apps/shared/x`, `apps/shared` a link:
        Git records nothing below a link, kustomize reads through it)."""
        path = posixpath.normpath(wanted)
        for _ in range(_MAX_LINKS):
            if path.startswith(("../", "/")) or path in ("..", "."):
                return None
            self.looked_up.add(path)
            entry = self.tree.entries.get(path)
            link = path if entry is not None else self._link_on_the_way(path)
            if link is None:
                return None
            mode, blob = self.tree.entries[link]
            if mode != _LINK:
                return path, mode, blob
            self.looked_up.add(link)
            target = (self.data(blob) or b"").decode("utf-8", "replace")
            path = posixpath.normpath(posixpath.join(posixpath.dirname(link), target) + path[len(link) :])
        return None

    def _link_on_the_way(self, path: str) -> str | None:
        """The outermost folder on the way to `path` that is a symlink at the commit, if any."""
        parts = path.split("/")[:-1]
        for folder in ("/".join(parts[: i + 1]) for i in range(len(parts))):
            mode = self.tree.entries.get(folder, (_TREE,))[0]
            if mode == _LINK:
                return folder
            if mode != _TREE:
                return None
        return None


# A URL kustomize clones (api/internal/git's spellings, read case-blind as it reads them): a
# scheme, go-getter's `git::`, the `gh:` shorthand, github.com without one, or an scp-style
# `user@host:path` of any user name.
_REMOTE = re.compile(r"git::|gh:|github\.com[/:]|gitlab\.com/|[a-z][a-z0-9-]*@[^/:]+[:/]", re.IGNORECASE)


def _may_substitute(data: bytes | None) -> bool:
    """stray.may_substitute for a file's data; one review cannot read as text may hold anything."""
    text = stray.decoded(data) if data is not None else None
    return text is None or stray.may_substitute(text)


def _remote(wanted: str) -> bool:
    return "://" in wanted or _REMOTE.match(wanted) is not None


def remote_references(kustomization: stray.Kustomization) -> set[str]:
    """The remote resources and components a kustomization lists, as written (a URL and its
    `?ref=`): content review cannot read."""
    return {entry for entry in (*kustomization.resources, *kustomization.components) if _remote(entry)}


def _topmost(folders: set[str]) -> list[str]:
    """The folders not inside another of them (a nested kustomization builds what lies below it)."""
    return [f for f in folders if not any(f != o and f.startswith(o + "/") for o in folders)]
