"""Values an Argo CD application or a Flux HelmRelease hands Helm from outside its own manifest
(sealer.review.helm_refs reads the references), resolved in one commit's tree and judged as
charts' inline-values rule judges values: naming a Secret sealer manages, a key registry or
`registry.json`, or holding a template action, they may make a chart render one (review does
not render charts). What review cannot resolve fails closed: a file of another source, a URL,
a chart package's file, a file missing or no regular file, a `valuesFrom` object no kustomize
generator of this repository makes (nor one of several a generator makes with other files).
Bounded: blobs are read through review's walk (MAX_TOTAL_BYTES), candidates found by git grep.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sealer import git
from sealer.review import charts, helm_refs, stray
from sealer.review.model import TRUST_ANCHOR, Finding

_REGULAR, _LINK = git.FILE_MODES, "120000"
_MAX_LINKS = 8  # symlinks followed in a row
MANIFESTS = ("*.yaml", "*.yml", "*.json")  # what Argo CD and Flux read as manifests
_KUSTOMIZATIONS = ("*kustomization.yaml", "*kustomization.yml", "*Kustomization")
_ESCAPES = ("\\",)  # a YAML escape may spell any word otherwise
Entries = dict[str, tuple[str, str]]  # path -> (mode, blob)


@dataclass
class Sources:
    """`data` reads a blob, `read_entries` paths' tree entries at a commit (review's walk)."""

    root: Path
    data: Callable[[str], bytes | None]
    read_entries: Callable[[str, list[str]], Entries]
    names: set[str]  # managed Secrets' and registries' names, and registry.json
    _generators: dict[str, Entries] = field(default_factory=dict)  # commit -> its generating kustomizations
    _referenced: dict[str, str] | None = None  # HEAD's: path -> the manifest referencing it
    _objects: dict[tuple[str, str], str] = field(default_factory=dict)  # HEAD's valuesFrom -> referrer
    _templated: dict[str, str] = field(
        default_factory=dict
    )  # HEAD's Refs.templated (globs, paths) -> referrer
    _substituted: dict[tuple[str, str], str] = field(default_factory=dict)  # HEAD's Refs.substituted

    def problems(self, commit: str, refs: helm_refs.Refs, before: helm_refs.Refs) -> list[str]:
        """Why the references in `refs` (a manifest at `commit`; `before`: its parent's version)
        could pass values naming a managed object: every file judged, what cannot be resolved
        only when it is new (the parent's was approved or passed)."""
        found = sorted(f"{entry} (unread)" for entry in refs.unread - before.unread)
        above = {f for path in refs.files for f in charts.folders_on_the_way(path)}
        entries = self.read_entries(commit, sorted({*refs.files, *above}))
        for path in sorted(refs.files):
            linked = any(entries.get(f, ("", ""))[0] == _LINK for f in charts.folders_on_the_way(path))
            entry = (_LINK, "") if linked else entries.get(path)  # a folder's link: followed all the same
            why = self._file_problem(path, entry, path in before.files)
            found += [why] if why else []
        for wanted in sorted(refs.config):
            made = self._made(commit, wanted)
            kind, name = wanted
            if made is None:
                if wanted not in before.config:
                    found.append(f"{kind} {name} (no kustomize generator of this repository makes it)")
                continue
            files, literals, _ = made
            file_entries = self.read_entries(commit, files)
            for path in files:
                why = self._file_problem(path, file_entries.get(path), False)
                found += [f"{why}, through {kind} {name}"] if why else []
            if any(name_ in literal or "{{" in literal for literal in literals for name_ in self.names):
                found.append(f"{kind} {name}'s literals name one")
        return [stray.escaped(why) for why in found]

    def _file_problem(self, path: str, entry: tuple[str, str] | None, known: bool) -> str | None:
        if entry is None:  # Argo CD's ignoreMissingValueFiles, or another repository's file
            return None if known else f"{path} (not in this revision)"
        mode, blob = entry
        if mode not in _REGULAR:
            return f"{path} (no regular file: Argo CD follows a symlink, wherever it leads)"
        return f"{path} names one" if helm_refs.names_any(path, self.data(blob), self.names) else None

    def _made(self, commit: str, wanted: tuple[str, str]) -> tuple[list[str], list[str], list[str]] | None:
        """The files and literals of the generators at `commit` making `wanted`, and the
        kustomizations holding them; None when none makes it."""
        if commit not in self._generators:
            paths = self.holding(commit, ("generator", *_ESCAPES), _KUSTOMIZATIONS)
            self._generators[commit] = self.read_entries(commit, paths)
        found: tuple[list[str], list[str], list[str]] | None = None
        for path, (mode, blob) in sorted(self._generators[commit].items()):
            made = (
                helm_refs.generated_sources(path, self.data(blob) or b"", wanted)
                if mode in _REGULAR
                else None
            )
            if made is not None:
                before = found or ([], [], [])
                found = (before[0] + made[0], before[1] + made[1], [*before[2], path])
        return found

    def referenced(self, head: str) -> dict[str, str]:
        """Every file an Argo CD application or Flux HelmRelease at `head` has Helm read values
        from (through a generator too: its files and the kustomization itself), and the manifest
        referencing it; read once."""
        if self._referenced is None:
            found: dict[str, str] = {}
            candidates = self.holding(head, helm_refs.REFERENCE_WORDS, MANIFESTS)
            for path, (mode, blob) in sorted(self.read_entries(head, candidates).items()):
                refs = helm_refs.references(path, self.data(blob)) if mode in _REGULAR else helm_refs.Refs()
                for file in sorted(refs.files | refs.maybe_files):
                    found.setdefault(file, path)
                for wanted in sorted(refs.config):
                    self._objects.setdefault(wanted, path)
                    made = self._made(head, wanted)
                    for file in [*made[0], *made[2]] if made else []:
                        found.setdefault(file, path)
                for glob in sorted(refs.templated):
                    self._templated.setdefault(glob, path)
                for wanted in sorted(refs.substituted):
                    self._substituted.setdefault(wanted, path)
                    made = self._made(head, wanted)
                    for file in [*made[0], *made[2]] if made else []:
                        self._templated.setdefault(glob_escaped(file), path)
            self._referenced = self._links_followed(head, found)
        return self._referenced

    def holding(self, commit: str, words: tuple[str, ...], pathspecs: tuple[str, ...]) -> list[str]:
        """The files that may hold one of `words` as a YAML reader reads them: those whose bytes
        do (any case), and those git reads as binary (UTF-16 text, which stray's reader decodes)."""
        found = git.files_holding(self.root, commit, words, pathspecs)
        return sorted({*found, *git.binary_files(self.root, commit, pathspecs)})

    def referrer(self, head: str, path: str, data: bytes | None) -> str | None:
        """The manifest at `head` passing Helm values from the file at `path` (`data`: its bytes,
        None when unread): a file it references, or a ConfigMap or Secret its `valuesFrom` names
        (in any namespace: the file may be applied anywhere)."""
        referenced = self.referenced(head)
        found = referenced.get(path)
        if found is None:  # a folder above a referenced file (made a symlink, say)
            found = next((r for p, r in sorted(referenced.items()) if p.startswith(f"{path}/")), None)
        if found is not None or data is None:
            return found
        return self._object_referrer(path, data, sealed=False)

    def templating_referrer(self, head: str, path: str, data: bytes | None) -> str | None:
        """The manifest at `head` building names from the file at `path` whatever it holds: an
        ApplicationSet whose git files generator reads it, or a Flux Kustomization substituting
        from a ConfigMap or Secret (sealed too) it holds or a generator makes of it."""
        self.referenced(head)
        found = next(
            (r for glob, r in sorted(self._templated.items()) if fnmatch.fnmatchcase(path, glob)), None
        )
        if found is not None or data is None:
            return found
        return self.substituted_referrer(head, path, data)

    def substituted_referrer(self, head: str, path: str, data: bytes) -> str | None:
        """The Flux Kustomization at `head` substituting from a ConfigMap or Secret (sealed too)
        the file at `path` (`data`: its bytes) holds, named within the wanted name (a
        kustomization's namePrefix or nameSuffix may add to it)."""
        self.referenced(head)
        for kind, _, name in stray.placed(path, data):
            kind = "Secret" if kind == "SealedSecret" else kind
            for (wanted, wanted_name), referrer in sorted(self._substituted.items()):
                if kind == wanted and name and name in wanted_name:
                    return referrer
        return None

    def sealed_referrer(self, head: str, path: str, data: bytes) -> str | None:
        """The manifest at `head` whose `valuesFrom` names a Secret the file at `path` seals
        (a SealedSecret of that name: review cannot read the values it decrypts to)."""
        self.referenced(head)
        return self._object_referrer(path, data, sealed=True)

    def _object_referrer(self, path: str, data: bytes, sealed: bool) -> str | None:
        """A `valuesFrom` object at HEAD the file's ConfigMaps and Secrets (or SealedSecrets) may
        be once built: of its kind, its name within the wanted one (a kustomization's namePrefix
        or nameSuffix may add to it)."""
        if not self._objects:
            return None
        for kind, _, name in stray.placed(path, data):
            if (kind == "SealedSecret") != sealed:
                continue
            kind = "Secret" if sealed else kind
            for (wanted, wanted_name), referrer in sorted(self._objects.items()):
                if kind == wanted and name and name in wanted_name:
                    return referrer
        return None

    def _links_followed(self, head: str, found: dict[str, str]) -> dict[str, str]:
        """`found` with what each referenced path leads to inside the repository through a
        symlink, the file's own or a folder's on the way (Argo CD and Flux follow them), link
        after link."""
        wanted = dict(found)
        for _ in range(_MAX_LINKS):
            above = {f for path in wanted for f in charts.folders_on_the_way(path)}
            entries = self.read_entries(head, sorted({*wanted, *above}))
            led = {}
            for path in wanted:
                link = next(
                    (
                        f
                        for f in (*charts.folders_on_the_way(path), path)
                        if entries.get(f, ("",))[0] == _LINK
                    ),
                    None,
                )
                if link is None:
                    continue
                text = (self.data(entries[link][1]) or b"").decode("utf-8", "replace")
                target = posixpath.normpath(posixpath.join(posixpath.dirname(link), text) + path[len(link) :])
                if not target.startswith(("../", "/")) and target not in found:
                    led[target] = found[target] = found[path]
            wanted = led
            if not wanted:
                break
        return found


def glob_escaped(path: str) -> str:
    """A glob matching `path` alone."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def finding(path: str, problems: list[str]) -> Finding:
    message = (
        f"passes Helm values review cannot clear: {'; '.join(problems)}: values naming a Secret "
        "sealer manages or a key registry may make a chart render one, and review does not render "
        "charts, so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def referenced_finding(path: str, referrer: str) -> Finding:
    message = (
        f"Helm values that {stray.escaped(referrer)} passes a chart name a Secret sealer manages, a key "
        "registry or registry.json (or hold a template action): a chart may render one, and review "
        "does not render charts, so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def templating_finding(path: str, referrer: str) -> Finding:
    message = (
        f"{stray.escaped(referrer)} builds what it makes from this file (an ApplicationSet's git files "
        "generator, or Flux's postBuild substitution), names or namespaces from parts, which review "
        "does not redo: a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def substitution_finding(path: str) -> Finding:
    message = (
        "a Flux Kustomization's postBuild substitution is new or changed: what it builds takes names, "
        "namespaces and kinds from variables, which review does not redo, so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def sealed_finding(path: str, referrer: str) -> Finding:
    message = (
        f"seals a Secret named like one whose Helm values {stray.escaped(referrer)} passes a chart, "
        "values review cannot clear (it cannot read what they decrypt to): a chart may render a Secret "
        "sealer manages or a key registry from them, so a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)


def post_renderers_finding(path: str) -> Finding:
    message = (
        "a Flux HelmRelease's postRenderers patch what Helm renders and may rename or move a Secret or "
        "ConfigMap into one sealer delivers, which review does not redo: a code owner must approve"
    )
    return Finding(TRUST_ANCHOR, "", path, None, message)
